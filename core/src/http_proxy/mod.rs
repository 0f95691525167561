//! The HTTP balancer's pure building blocks (behaviour reference §5): the sticky keys a
//! request carries ([`sticky`]), the choice of its node ([`choose`]), the URL rewrite rules
//! ([`rewrite`]), the heads a request and a response are relayed with ([`forward_head`],
//! [`response_head`]), the balancer's own answers ([`replies`]) and the statistics
//! ([`stats`]). The connection policy that uses them is `balancer::http`.

pub mod choose;
pub mod forward_head;
pub mod replies;
pub mod response_head;
pub mod rewrite;
pub mod stats;
pub mod sticky;
