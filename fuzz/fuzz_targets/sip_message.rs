//! `SipMessage::parse` on arbitrary bytes, every typed accessor on what parses, and the
//! proxy's edit path (Max-Forwards, Via, Record-Route, Contact NAT patch / top Via removal)
//! whose output must parse again with the new Via on top and the same body.
//! Messages without the empty line that ends the header section (a datagram may end after
//! its last header) are included: headers appended to them must stay in the header section.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_core::sip::{Editor, HeaderName, ParseLimits, SipMessage};

const BRANCH: &[u8] = b"z9hG4bKfuzz0123456789";

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    touch_accessors(&msg);
    edit_round_trip(&msg);
});

fn touch_accessors(msg: &SipMessage) {
    let _ = msg.start_line();
    let _ = msg.is_request();
    let _ = msg.method();
    let _ = msg.method_bytes();
    let _ = msg.request_uri_bytes();
    let _ = msg.status_code();
    let _ = msg.reason();
    let _ = msg.version();
    let _ = msg.is_sip_2_0();
    for slot in msg.headers() {
        let _ = msg.name_bytes(slot);
        let _ = msg.value(slot);
    }
    if let Ok(v) = msg.top_via() {
        let _ = v.params().count();
        let _ = v.received_ip();
        let _ = v.has_rfc3261_branch();
        let _ = v.is_sip_2_0();
    }
    for v in msg.vias().flatten() {
        let _ = v.param("branch");
    }
    let _ = msg.via_count();
    let _ = msg.call_id();
    let _ = msg.cseq();
    for na in [msg.from(), msg.to()].into_iter().flatten() {
        let _ = na.tag();
        let _ = na.user();
        let _ = na.params().count();
        let _ = na.uri.host_ip();
    }
    for na in msg
        .routes()
        .chain(msg.record_routes())
        .chain(msg.contacts())
        .flatten()
    {
        let _ = na.uri.lr();
        let _ = na.uri.node_host();
        let _ = na.uri.node_port();
        let _ = na.uri.transport();
        let _ = na.param("expires");
    }
    let _ = msg.contact_is_wildcard();
    if let Ok(uri) = msg.request_uri() {
        let _ = uri.params().count();
        let _ = uri.host_ip();
    }
    let _ = msg.max_forwards();
    let _ = msg.user_agent();
    let _ = msg.check_mandatory();
    let body = msg.body();
    assert_eq!(body, msg.slice(msg.body_range()));
    let _ = msg.content_length();
    let _ = msg.get_by_name("X-Fuzz");
    let _ = msg.message_bytes();
}

fn edit_round_trip(msg: &SipMessage) {
    let mut ed = Editor::new(msg);
    let mut pushed_via = false;
    if msg.is_request() {
        let _ = ed.decrement_max_forwards();
        ed.push_header(
            HeaderName::Via,
            &format_args!("SIP/2.0/UDP 192.0.2.9:5060;branch={}", "z9hG4bKfuzz0123456789"),
        );
        pushed_via = true;
        ed.push_header(HeaderName::RecordRoute, "<sip:192.0.2.9:5060;transport=udp;lr>");
        if let Some(Ok(contact)) = msg.contacts().next() {
            if !contact.uri.host_port.is_empty() {
                let _ = ed.set_uri_host_port(&contact.uri, "203.0.113.7", Some(15060));
            }
        }
    } else {
        let _ = ed.remove_top_via();
    }
    ed.ensure_content_length();
    let expected_len = ed.output_len();
    let out = match ed.finish() {
        Ok(out) => out,
        // Two of the edits above may legitimately touch the same bytes only if the message
        // is odd (e.g. Contact inside the Via line); that is reported, not a bug.
        Err(switchboard_core::sip::EditError::Overlap) => return,
        Err(e) => panic!("finish failed: {e:?}"),
    };
    assert_eq!(out.len(), expected_len, "output_len disagrees with finish");
    let limits = ParseLimits {
        max_message_size: usize::MAX,
        max_headers: usize::MAX,
    };
    let again = match SipMessage::parse_with(out.clone(), &limits) {
        Ok(m) => m,
        Err(e) => panic!(
            "edited output does not parse: {e:?}\ninput: {:?}\noutput: {:?}",
            String::from_utf8_lossy(msg.raw()),
            String::from_utf8_lossy(&out)
        ),
    };
    assert_eq!(again.is_request(), msg.is_request());
    assert_eq!(again.body(), msg.body(), "body changed by header edits");
    if pushed_via {
        let top = again
            .top_via()
            .unwrap_or_else(|e| panic!("pushed Via unreadable: {e:?}\noutput: {:?}", String::from_utf8_lossy(&out)));
        assert_eq!(top.branch, Some(BRANCH));
    }
}
