//! The HTTP balancer's pure building blocks (behaviour reference §5). So far: the sticky keys
//! a request carries ([`sticky`]), the choice of its node ([`choose`]), and the head it is
//! forwarded with ([`forward_head`]).

pub mod choose;
pub mod forward_head;
pub mod sticky;
