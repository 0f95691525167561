//! The HTTP balancer's pure building blocks (behaviour reference §5). So far: the sticky keys
//! a request carries ([`sticky`]), which decide the node before the algorithm does.

pub mod sticky;
