//! `Uri::parse` on arbitrary bytes and every parameter accessor on what parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::sip::{parse_ip, Uri};

fuzz_target!(|data: &[u8]| {
    let _ = parse_ip(data);
    let Ok(uri) = Uri::parse(data) else {
        return;
    };
    assert_eq!(uri.raw, data);
    for p in uri.params() {
        let _ = (p.name, p.value, p.segment);
    }
    let _ = uri.param("maddr");
    let _ = uri.node_host();
    let _ = uri.node_port();
    let _ = uri.version();
    let _ = uri.transport();
    let _ = uri.lr();
    let _ = uri.host_ip();
    // Every view borrows from the input.
    for part in [uri.host, uri.host_port, uri.params, uri.opaque, uri.scheme_raw] {
        assert!(within(data, part), "part outside the input");
    }
    for part in [uri.user, uri.password, uri.headers].into_iter().flatten() {
        assert!(within(data, part), "part outside the input");
    }
});

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    inner.is_empty() || (i >= o && i + inner.len() <= o + outer.len())
}
