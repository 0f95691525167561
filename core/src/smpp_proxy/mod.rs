//! The SMPP balancer's pure building blocks (behaviour reference §6): the statistics
//! ([`stats`]). The connection policy that uses them is `balancer::smpp`.

pub mod stats;
