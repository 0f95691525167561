//! Property tests of the SIP codec: print/parse round trip, edits touch only what they name,
//! the stream framer is independent of chunking, and no input panics.

use bytes::Bytes;
use proptest::prelude::*;
use switchboard_core::sip::{Editor, Frame, Framer, HeaderName, SipMessage, Uri};

#[derive(Debug, Clone)]
struct Msg {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Msg {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} SIP/2.0\r\n", self.method, self.uri).into_bytes();
        for (n, v) in &self.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out
    }
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Via".to_string()),
        Just("v".to_string()),
        Just("Call-ID".to_string()),
        Just("i".to_string()),
        Just("From".to_string()),
        Just("To".to_string()),
        Just("CSeq".to_string()),
        Just("Max-Forwards".to_string()),
        Just("Record-Route".to_string()),
        Just("Route".to_string()),
        Just("User-Agent".to_string()),
        "X-[A-Za-z0-9-]{1,12}",
    ]
}

fn message() -> impl Strategy<Value = Msg> {
    (
        prop_oneof![
            Just("INVITE".to_string()),
            Just("ACK".to_string()),
            Just("BYE".to_string()),
            "[A-Z]{1,10}"
        ],
        "[a-z0-9]{1,8}",
        "[a-z0-9]{1,10}(\\.[a-z]{2,5}){0,2}",
        proptest::option::of(1u16..),
        "(;[a-z_]{1,8}(=[a-z0-9.]{1,8})?){0,3}",
        proptest::collection::vec((header_name(), "[!-~]([ -~]{0,30}[!-~])?"), 0..12),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(method, user, host, port, params, headers, body)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            Msg {
                method,
                uri: format!("sip:{user}@{host}{port}{params}"),
                headers,
                body,
            }
        })
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, String),
    InsertBefore(usize, String),
    InsertAfter(usize, String),
    Remove(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), "[a-z0-9 ;=]{1,20}").prop_map(|(i, v)| Edit::Replace(i, v)),
        (any::<usize>(), "[a-z0-9]{1,20}").prop_map(|(i, v)| Edit::InsertBefore(i, v)),
        (any::<usize>(), "[a-z0-9]{1,20}").prop_map(|(i, v)| Edit::InsertAfter(i, v)),
        any::<usize>().prop_map(Edit::Remove),
    ]
}

proptest! {
    #[test]
    fn print_parse_roundtrip(m in message()) {
        let wire = m.to_bytes();
        let parsed = SipMessage::parse(Bytes::from(wire.clone())).unwrap();
        prop_assert_eq!(parsed.method_bytes(), m.method.as_bytes());
        prop_assert_eq!(parsed.request_uri_bytes().unwrap(), m.uri.as_bytes());
        prop_assert!(parsed.request_uri().is_ok());
        prop_assert_eq!(parsed.headers().len(), m.headers.len() + 1);
        for (slot, (n, v)) in parsed.headers().iter().zip(&m.headers) {
            prop_assert_eq!(parsed.name_bytes(slot), n.as_bytes());
            prop_assert_eq!(parsed.value(slot), v.as_bytes());
            prop_assert_eq!(slot.name, HeaderName::from_bytes(n.as_bytes()));
        }
        prop_assert_eq!(parsed.body(), &m.body[..]);
        let out = Editor::new(&parsed).finish().unwrap();
        prop_assert_eq!(&out[..], &wire[..]);
    }

    #[test]
    fn an_edit_changes_only_what_it_names(m in message(), e in edit()) {
        let wire = m.to_bytes();
        let parsed = SipMessage::parse(Bytes::from(wire.clone())).unwrap();
        let n = parsed.headers().len();
        let target = match &e {
            Edit::Replace(i, _) | Edit::InsertBefore(i, _) | Edit::InsertAfter(i, _) | Edit::Remove(i) => i % n,
        };
        let touches_length = parsed.headers()[target].name == HeaderName::ContentLength
            && matches!(e, Edit::Replace(..));
        let mut ed = Editor::new(&parsed);
        let expected: Vec<u8> = match &e {
            Edit::Replace(i, v) => {
                let r = parsed.headers()[i % n].value_range.clone();
                ed.replace_value(i % n, v.as_str()).unwrap();
                [&wire[..r.start], v.as_bytes(), &wire[r.end..]].concat()
            }
            Edit::InsertBefore(i, v) => {
                let at = parsed.headers()[i % n].line_range.start;
                ed.insert_header_before(i % n, "X-New", v.as_str()).unwrap();
                [&wire[..at], format!("X-New: {v}\r\n").as_bytes(), &wire[at..]].concat()
            }
            Edit::InsertAfter(i, v) => {
                let at = parsed.headers()[i % n].line_range.end;
                ed.insert_header_after(i % n, "X-New", v.as_str()).unwrap();
                [&wire[..at], format!("X-New: {v}\r\n").as_bytes(), &wire[at..]].concat()
            }
            Edit::Remove(i) => {
                let r = parsed.headers()[i % n].line_range.clone();
                ed.remove_header(i % n).unwrap();
                [&wire[..r.start], &wire[r.end..]].concat()
            }
        };
        prop_assert_eq!(ed.output_len(), expected.len());
        let out = ed.finish().unwrap();
        prop_assert_eq!(&out[..], &expected[..]);
        if !touches_length {
            prop_assert!(SipMessage::parse(out).is_ok());
        }
    }

    #[test]
    fn framer_is_independent_of_chunking(
        msgs in proptest::collection::vec((message(), 0u8..3), 1..5),
        cuts in proptest::collection::vec(1usize..64, 0..40),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (m, sep) in &msgs {
            let wire = m.to_bytes();
            stream.extend_from_slice(&wire);
            expected.push(Frame::Message(Bytes::from(wire)));
            match sep {
                1 => {
                    stream.extend_from_slice(b"\r\n\r\n");
                    expected.push(Frame::KeepAlivePing);
                }
                2 => stream.extend_from_slice(b"\r\n"), // a pong: skipped
                _ => {}
            }
        }
        let mut f = Framer::default();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        let mut cuts = cuts.into_iter();
        while !rest.is_empty() {
            let k = cuts.next().unwrap_or(rest.len()).min(rest.len());
            f.feed(&rest[..k]);
            rest = &rest[k..];
            while let Some(frame) = f.next_message().unwrap() {
                got.push(frame);
            }
        }
        prop_assert_eq!(got, expected);
        prop_assert!(f.buffered() <= 2);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(m) = SipMessage::parse(Bytes::from(data.clone())) {
            let _ = m.top_via();
            let _ = m.call_id();
            let _ = m.cseq();
            let _ = m.from();
            let _ = m.to();
            let _ = m.request_uri();
            let _ = m.max_forwards();
            let _ = m.routes().count();
            let _ = m.contacts().count();
            let _ = m.check_mandatory();
            let mut ed = Editor::new(&m);
            let _ = ed.decrement_max_forwards();
            let _ = ed.remove_top_via();
            let _ = ed.finish();
        }
        let _ = Uri::parse(&data);
        let mut f = Framer::new(256, 16);
        f.feed(&data);
        while let Ok(Some(_)) = f.next_message() {}
    }

    #[test]
    fn sip_like_bytes_never_panic(
        lines in proptest::collection::vec("[ -~]{0,40}", 0..10),
        pre in prop_oneof![Just("INVITE sip:a@b SIP/2.0"), Just("SIP/2.0 200 OK"), Just("X y z")],
    ) {
        let text = format!("{pre}\r\n{}\r\n\r\n", lines.join("\r\n"));
        if let Ok(m) = SipMessage::parse(Bytes::from(text)) {
            let _ = m.vias().count();
            let _ = m.check_mandatory();
            let _ = m.record_routes().count();
            if let Ok(v) = m.top_via() {
                let mut ed = Editor::new(&m);
                let _ = ed.set_param(v.params, "received", Some("1.2.3.4"));
                let _ = ed.set_param(v.params, "rport", Some(&format_args!("{}", 5060)));
                let _ = ed.finish();
            }
        }
    }
}

#[test]
fn balancer_rewrite_example() {
    let raw = b"INVITE sip:bob@example.com;node_host=10.0.0.7;node_port=5080 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport\r\n\
Max-Forwards: 70\r\nRoute: <sip:lb.example.com;lr>, <sip:next.example.com;lr>\r\n\
Call-ID: c1\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>\r\n\
Content-Length: 0\r\n\r\n";
    let m = SipMessage::parse(Bytes::from_static(raw)).unwrap();
    let via = m.top_via().unwrap();
    let ruri = m.request_uri().unwrap();
    assert_eq!(ruri.node_host(), Some(&b"10.0.0.7"[..]));
    assert_eq!(ruri.node_port(), Some(5080));
    let mut ed = Editor::new(&m);
    ed.set_param(via.params, "received", Some("203.0.113.5"))
        .unwrap();
    ed.set_param(via.params, "rport", Some(&format_args!("{}", 40000)))
        .unwrap();
    ed.remove_param(ruri.params, "node_host").unwrap();
    ed.remove_param(ruri.params, "node_port").unwrap();
    let first_route = m.values(HeaderName::Route).next().unwrap();
    ed.remove_value(&first_route).unwrap();
    ed.push_header(
        HeaderName::Via,
        "SIP/2.0/UDP 10.0.0.1:5065;branch=z9hG4bKabcc1_0",
    );
    ed.push_header(
        HeaderName::Via,
        "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabcc1zsd_0",
    );
    ed.push_header(
        HeaderName::RecordRoute,
        "<sip:10.0.0.1:5060;transport=udp;lr;node_host=10.0.0.7;node_port=5080;version=0>",
    );
    ed.set_uri_host_port(&ruri, "[2001:db8::1]", Some(5070))
        .unwrap();
    assert_eq!(ed.decrement_max_forwards().unwrap(), 69);
    let out = ed.finish().unwrap();
    let o = SipMessage::parse(out.clone()).unwrap();
    assert_eq!(
        o.request_uri_bytes().unwrap(),
        b"sip:bob@[2001:db8::1]:5070"
    );
    assert_eq!(o.via_count(), 3);
    let vias: Vec<_> = o.vias().map(Result::unwrap).collect();
    assert_eq!(vias[1].branch, Some(&b"z9hG4bKabcc1zsd_0"[..]));
    assert_eq!(vias[2].received, Some(&b"203.0.113.5"[..]));
    assert_eq!(vias[2].rport, switchboard_core::sip::Rport::Value(40000));
    assert_eq!(o.max_forwards().unwrap(), Some(69));
    assert_eq!(
        o.get(HeaderName::Route),
        Some(&b"<sip:next.example.com;lr>"[..])
    );
    assert_eq!(
        o.record_routes().next().unwrap().unwrap().uri.node_port(),
        Some(5080)
    );
    // Response direction: pop our Via.
    let mut ed = Editor::new(&o);
    ed.remove_top_via().unwrap();
    let back = SipMessage::parse(ed.finish().unwrap()).unwrap();
    assert_eq!(back.via_count(), 2);
}
