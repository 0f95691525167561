//! The HTTP balancer's pure building blocks (behaviour reference §5). So far: the sticky keys
//! a request carries ([`sticky`]) and the choice of its node ([`choose`]).

pub mod choose;
pub mod sticky;
