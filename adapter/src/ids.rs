//! The driver's connection ids for accepted connections: from 1, never with
//! [`ConnId::OUTBOUND_BIT`] (the core mints outbound ids with it).

use std::sync::atomic::{AtomicU64, Ordering};
use switchboard_core::io::ConnId;

/// Mints ids for accepted connections; shared by every accept loop.
#[derive(Debug, Default)]
pub struct ConnIds(AtomicU64);

impl ConnIds {
    /// The next id.
    pub fn next(&self) -> ConnId {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        ConnId(n & !ConnId::OUTBOUND_BIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_start_at_one_and_never_look_outbound() {
        let ids = ConnIds::default();
        assert_eq!(ids.next(), ConnId(1));
        assert_eq!(ids.next(), ConnId(2));
        let wrapped = ConnIds(AtomicU64::new(ConnId::OUTBOUND_BIT - 1));
        assert!(!wrapped.next().is_outbound());
        assert!(!wrapped.next().is_outbound());
    }
}
