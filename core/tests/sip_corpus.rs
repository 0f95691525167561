//! Data-driven test over the RFC 4475 / RFC 5118 torture corpus (tests/corpus/sip, a copy of
//! the shared corpus with its MANIFEST.tsv). Every file is run once with datagram semantics
//! (`SipMessage::parse`) and once through the stream `Framer`; the expected outcome of every
//! file, including the leniency chosen for `invalid` ones, is written down in `check`.

use bytes::Bytes;
use std::path::PathBuf;
use switchboard_core::node::Transport;
use switchboard_core::sip::{
    EditError, Editor, Frame, FrameError, Framer, HeaderName, Method, ParseError, Rport, Scheme,
    SipMessage, ViaTransport,
};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/sip")
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(file))
        .unwrap_or_else(|e| panic!("cannot read corpus file {file}: {e}"))
}

fn manifest() -> Vec<(String, String)> {
    let path = corpus_dir().join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("SIP corpus missing at {}: {e} (copy /work/shared/corpus/sip into core/tests/corpus/sip)", path.display())
    });
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            assert!(c.len() >= 6, "bad manifest row: {l}");
            (c[0].to_string(), c[3].to_string())
        })
        .collect()
}

/// Common facts every accepted request/response must expose.
fn key_fields_ok(m: &SipMessage) {
    m.top_via().expect("top Via");
    m.call_id().expect("Call-ID");
    m.cseq().expect("CSeq");
    m.check_mandatory().expect("mandatory headers");
}

fn top_branch(m: &SipMessage) -> Vec<u8> {
    m.top_via().unwrap().branch.unwrap_or_default().to_vec()
}

fn top_host(m: &SipMessage) -> Vec<u8> {
    m.top_via().unwrap().host.to_vec()
}

/// Checks the datagram outcome of one file; returns the kind it was treated as.
fn check(file: &str, expected: &str, res: Result<SipMessage, ParseError>) {
    let name = file.rsplit('/').next().unwrap().trim_end_matches(".dat");
    match (expected, name) {
        // ---------------------------------------------------------------- valid
        ("valid", _) => {
            let m = res.unwrap_or_else(|e| panic!("{file} must parse: {e}"));
            assert!(m.is_sip_2_0(), "{file}");
            key_fields_ok(&m);
            m.from().unwrap_or_else(|e| panic!("{file} From: {e}"));
            m.to().unwrap_or_else(|e| panic!("{file} To: {e}"));
            if m.is_request() {
                m.request_uri()
                    .unwrap_or_else(|e| panic!("{file} R-URI: {e}"));
            }
            for c in m.contacts() {
                c.unwrap_or_else(|e| panic!("{file} Contact: {e}"));
            }
            for v in m.vias() {
                v.unwrap_or_else(|e| panic!("{file} Via: {e}"));
            }
            if let Some(cl) = m.content_length() {
                assert_eq!(m.body().len(), cl, "{file}");
            }
            valid_specifics(name, &m);
        }
        // ---------------------------------------------------------------- semantic
        ("semantic", _) => {
            let m = res.unwrap_or_else(|e| panic!("{file} must parse: {e}"));
            semantic_specifics(name, &m);
        }
        // ---------------------------------------------------------------- invalid
        ("invalid", _) => invalid_specifics(name, res),
        _ => panic!("{file}: unknown expectation {expected}"),
    }
}

fn valid_specifics(name: &str, m: &SipMessage) {
    match name {
        "wsinv" => {
            assert_eq!(m.method(), Some(Method::Invite));
            assert_eq!(m.max_forwards().unwrap(), Some(68));
            assert_eq!(m.call_id().unwrap(), b"wsinv.ndaksdj@192.0.2.1");
            assert_eq!(top_branch(m), b"390skdjuw");
            assert_eq!(top_host(m), b"192.0.2.2");
            assert_eq!(m.via_count(), 3);
            let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
            assert_eq!(vias[1].transport, ViaTransport::Known(Transport::Tcp));
            assert_eq!(vias[1].host, b"spindle.example.com");
            assert_eq!(vias[2].branch, Some(&b"z9hG4bK30239"[..]));
            assert_eq!(m.cseq().unwrap().seq, 9);
            assert_eq!(m.to().unwrap().tag(), Some(&b"1918181833n"[..]));
            assert_eq!(m.from().unwrap().tag(), Some(&b"98asjd8"[..]));
            assert_eq!(m.body().len(), 150);
            let r = m.routes().next().unwrap().unwrap();
            assert!(r.uri.lr());
            assert_eq!(r.uri.host, b"services.example.com");
            assert_eq!(m.get(HeaderName::Subject), Some(&b""[..]));
            assert_eq!(
                m.get_by_name("UnknownHeaderWithUnusualValue"),
                Some(&b";;,,;;,;"[..])
            );
            assert_eq!(
                m.request_uri()
                    .unwrap()
                    .param("unknownparam")
                    .map(|p| p.value),
                Some(None)
            );
        }
        "intmeth" => {
            assert_eq!(m.method(), Some(Method::Other));
            assert_eq!(
                m.method_bytes(),
                b"!interesting-Method0123456789_*+`.%indeed'~"
            );
            assert_eq!(m.max_forwards().unwrap(), Some(255));
            assert_eq!(m.request_uri().unwrap().host, b"example.com");
            assert_eq!(top_branch(m), b"z9hG4bK-.!%66*_+`'~");
        }
        "esc01" => {
            assert_eq!(m.call_id().unwrap(), b"esc01.239409asdfakjkn23onasd0-3234");
            assert_eq!(
                m.request_uri().unwrap().user,
                Some(&b"sips%3Auser%40example.com"[..])
            );
            assert_eq!(m.request_uri().unwrap().host, b"example.net");
        }
        "escnull" => {
            assert_eq!(m.method(), Some(Method::Register));
            assert_eq!(m.contacts().count(), 2);
        }
        "esc02" => {
            assert_eq!(m.method(), Some(Method::Other));
            assert_eq!(m.method_bytes(), b"RE%47IST%45R");
            assert_eq!(m.contacts().count(), 2, "C%6Fntact is not Contact");
            assert_eq!(m.from().unwrap().display_name, Some(&b"%Z%45"[..]));
        }
        "lwsdisp" => {
            assert_eq!(m.from().unwrap().display_name, Some(&b"caller"[..]));
            assert_eq!(m.method(), Some(Method::Options));
        }
        "longreq" => {
            assert_eq!(m.via_count(), 34);
            assert_eq!(top_host(m), b"sip33.example.com");
            assert!(m.call_id().unwrap().len() > 100);
        }
        "dblreq" => {
            assert_eq!(m.method(), Some(Method::Register));
            assert_eq!(m.content_length(), Some(0));
            assert!(m.body().is_empty());
            assert!(
                m.raw().len() > m.message_bytes().len() + 400,
                "trailing junk ignored"
            );
            assert!(!m.message_bytes().windows(6).any(|w| w == b"INVITE"));
        }
        "semiuri" => {
            let u = m.request_uri().unwrap();
            assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
            assert_eq!(u.host, b"example.com");
        }
        "transports" => {
            let t: Vec<_> = m.vias().map(|v| v.unwrap().transport).collect();
            assert_eq!(t.len(), 5);
            assert_eq!(t[0], ViaTransport::Known(Transport::Udp));
            assert!(t.contains(&ViaTransport::Sctp));
            assert!(t.contains(&ViaTransport::Other(b"UNKNOWN")));
        }
        "mpart01" => {
            assert_eq!(m.body().len(), 553);
            assert!(m.body().contains(&0));
            assert_eq!(m.top_via().unwrap().rport, Rport::Requested);
            assert_eq!(m.top_via().unwrap().port, Some(5070));
        }
        "unreason" => {
            assert_eq!(m.status_code(), Some(200));
            assert!(std::str::from_utf8(m.reason()).unwrap().contains("простое"));
        }
        "noreason" => {
            assert_eq!(m.status_code(), Some(100));
            assert!(m.reason().is_empty());
        }
        "ipv6-good" => {
            assert_eq!(m.request_uri().unwrap().host, b"[2001:db8::10]");
            assert_eq!(top_host(m), b"[2001:db8::9:1]");
            assert!(m.top_via().unwrap().port.is_none());
        }
        "port-unambiguous" => {
            let u = m.request_uri().unwrap();
            assert_eq!(u.host, b"[2001:db8::10]");
            assert_eq!(u.port, Some(5070));
        }
        "via-received-param-with-delim" => {
            let v = m.top_via().unwrap();
            assert_eq!(v.received, Some(&b"[2001:db8::9:255]"[..]));
            assert_eq!(v.received_ip(), Some("2001:db8::9:255".parse().unwrap()));
        }
        "via-received-param-no-delim" => {
            let v = m.top_via().unwrap();
            assert_eq!(v.received, Some(&b"2001:db8::9:255"[..]));
            assert_eq!(v.received_ip(), Some("2001:db8::9:255".parse().unwrap()));
        }
        "ipv6-in-sdp" | "mult-ip-in-sdp" => {
            assert_eq!(m.method(), Some(Method::Invite));
            assert!(m.body().starts_with(b"v=0"));
        }
        "mult-ip-in-header" => {
            let v: Vec<_> = m.vias().map(Result::unwrap).collect();
            assert_eq!(v.len(), 3);
            assert_eq!(v[0].host, b"[2001:db8::9:1]");
            assert_eq!(v[0].port, Some(6050));
            assert_eq!(v[2].received, Some(&b"192.0.2.200"[..]));
        }
        "ipv4-mapped-ipv6" => {
            assert_eq!(top_host(m), b"[::ffff:192.0.2.10]");
            assert_eq!(m.top_via().unwrap().port, Some(19823));
        }
        "ipv6-correct-abnf-2-colons" => {
            assert_eq!(m.request_uri().unwrap().host, b"[2001:db8::192.0.2.1]");
        }
        other => panic!("no specifics written for valid file {other}"),
    }
}

fn semantic_specifics(name: &str, m: &SipMessage) {
    match name {
        "badvers" => {
            assert!(!m.is_sip_2_0(), "505 must be possible");
            assert_eq!(m.version(), b"SIP/7.0");
            assert!(!m.top_via().unwrap().is_sip_2_0());
        }
        "mismatch01" => {
            assert_eq!(m.method(), Some(Method::Options));
            assert_eq!(m.cseq().unwrap().method, Method::Invite);
            assert_eq!(
                m.check_mandatory(),
                Err(ParseError::BadHeaderValue(HeaderName::CSeq))
            );
        }
        "mismatch02" => {
            assert_eq!(m.method_bytes(), b"NEWMETHOD");
            assert_eq!(
                m.check_mandatory(),
                Err(ParseError::BadHeaderValue(HeaderName::CSeq))
            );
        }
        "badbranch" => {
            assert_eq!(top_branch(m), b"z9hG4bK");
            assert!(!m.top_via().unwrap().has_rfc3261_branch());
        }
        "insuf" => {
            assert_eq!(
                m.call_id(),
                Err(ParseError::MissingHeader(HeaderName::CallId))
            );
            assert_eq!(
                m.check_mandatory(),
                Err(ParseError::MissingHeader(HeaderName::CallId))
            );
        }
        "unkscm" => {
            let u = m.request_uri().unwrap();
            assert_eq!(u.scheme, Scheme::Other);
            assert_eq!(u.opaque, b"totallyopaquecontent");
        }
        "novelsc" => {
            let u = m.request_uri().unwrap();
            assert_eq!(u.scheme, Scheme::Other);
            assert_eq!(u.scheme_raw, b"soap.beep");
        }
        "unksm2" => {
            key_fields_ok(m);
            assert_eq!(m.to().unwrap().uri.scheme, Scheme::Other);
            assert_eq!(m.from().unwrap().uri.scheme_raw, b"http");
            assert_eq!(
                m.contacts().next().unwrap().unwrap().uri.scheme_raw,
                b"name"
            );
        }
        "bext01" => {
            key_fields_ok(m);
            assert_eq!(m.count(HeaderName::ProxyRequire), 1);
            assert_eq!(m.count(HeaderName::Require), 1);
        }
        "invut" => {
            key_fields_ok(m);
            assert_eq!(m.body().len(), 40);
            assert_eq!(
                m.get(HeaderName::ContentType),
                Some(&b"application/unknownformat"[..])
            );
        }
        "regaut01" => {
            key_fields_ok(m);
            assert!(m.get(HeaderName::Authorization).is_some());
        }
        "multi01" => {
            assert_eq!(
                m.call_id(),
                Err(ParseError::DuplicateHeader(HeaderName::CallId))
            );
            assert_eq!(
                m.max_forwards(),
                Err(ParseError::DuplicateHeader(HeaderName::MaxForwards))
            );
            assert!(m.check_mandatory().is_err());
        }
        "bcast" => {
            key_fields_ok(m);
            assert_eq!(m.status_code(), Some(200));
            let v: Vec<_> = m.vias().map(Result::unwrap).collect();
            assert_eq!(v[1].host, b"255.255.255.255");
        }
        "zeromf" => {
            key_fields_ok(m);
            assert_eq!(m.max_forwards().unwrap(), Some(0));
            assert_eq!(
                Editor::new(m).decrement_max_forwards(),
                Err(EditError::MaxForwardsExhausted)
            );
        }
        "cparam01" => {
            let c = m.contacts().next().unwrap().unwrap();
            assert!(!c.bracketed);
            assert!(
                c.param("unknownparam").is_some(),
                "contact-param, not url-param"
            );
            assert!(c.uri.param("unknownparam").is_none());
        }
        "cparam02" => {
            let c = m.contacts().next().unwrap().unwrap();
            assert!(c.uri.param("unknownparam").is_some(), "url-param inside <>");
        }
        "regescrt" => {
            let c = m.contacts().next().unwrap().unwrap();
            assert_eq!(c.uri.headers, Some(&b"Route=%3Csip:sip.example.com%3E"[..]));
            assert_eq!(m.count(HeaderName::Route), 0);
        }
        "sdp01" => key_fields_ok(m),
        "inv2543" => {
            key_fields_ok(m);
            assert_eq!(m.content_length(), None);
            assert_eq!(m.body().len(), 105, "body = rest of the datagram");
            assert_eq!(m.top_via().unwrap().branch, None);
            assert_eq!(m.from().unwrap().tag(), None);
            assert_eq!(m.max_forwards().unwrap(), None);
            let mut ed = Editor::new(m);
            assert_eq!(ed.decrement_max_forwards().unwrap(), 70);
            ed.ensure_content_length();
            let out = SipMessage::parse(ed.finish().unwrap()).unwrap();
            assert_eq!(out.max_forwards().unwrap(), Some(70));
            assert_eq!(out.content_length(), Some(105));
        }
        "port-ambiguous" => {
            let u = m.request_uri().unwrap();
            assert_eq!(u.host, b"[2001:db8::10:5070]");
            assert_eq!(u.port, None);
        }
        other => panic!("no specifics written for semantic file {other}"),
    }
}

/// For each invalid file: the error the codec gives, at parse time or from the accessor the
/// balancer reads, or the documented lenient result.
fn invalid_specifics(name: &str, res: Result<SipMessage, ParseError>) {
    let parsed = |res: Result<SipMessage, ParseError>| {
        res.unwrap_or_else(|e| panic!("{name}: lenient parse expected, got {e}"))
    };
    match name {
        // Rejected by SipMessage::parse.
        "clerr" => assert!(matches!(
            res,
            Err(ParseError::BodyTooShort { declared: 9999, .. })
        )),
        "ncl" => assert_eq!(res.err(), Some(ParseError::InvalidContentLength)),
        "mcl01" => assert_eq!(res.err(), Some(ParseError::ConflictingContentLength)),
        "bigcode" | "ltgtruri" | "lwsruri" | "lwsstart" | "trws" | "test" => {
            assert_eq!(res.err(), Some(ParseError::BadStartLine))
        }
        // Parses; the accessor the balancer needs rejects the value (answer 400 / drop).
        "badinv01" => {
            let m = parsed(res);
            assert_eq!(
                m.top_via().err(),
                Some(ParseError::BadHeaderValue(HeaderName::Via))
            );
        }
        "scalar02" => {
            let m = parsed(res);
            assert_eq!(
                m.cseq().err(),
                Some(ParseError::BadHeaderValue(HeaderName::CSeq))
            );
            assert_eq!(
                m.max_forwards(),
                Err(ParseError::BadHeaderValue(HeaderName::MaxForwards))
            );
        }
        "scalarlg" => {
            let m = parsed(res);
            assert_eq!(m.status_code(), Some(503));
            assert_eq!(
                m.cseq().err(),
                Some(ParseError::BadHeaderValue(HeaderName::CSeq))
            );
        }
        "quotbal" => {
            let m = parsed(res);
            assert_eq!(
                m.to().err(),
                Some(ParseError::BadHeaderValue(HeaderName::To))
            );
            assert!(m.check_mandatory().is_err());
        }
        "regbadct" => {
            let m = parsed(res);
            let c: Vec<_> = m.contacts().collect();
            assert_eq!(
                c[0].clone().err(),
                Some(ParseError::BadHeaderValue(HeaderName::Contact))
            );
        }
        "baddn" => {
            // No blank line: with datagram semantics the end of the datagram ends the header.
            let m = parsed(res);
            assert_eq!(
                m.from().err(),
                Some(ParseError::BadHeaderValue(HeaderName::From))
            );
            assert_eq!(
                m.to().err(),
                Some(ParseError::BadHeaderValue(HeaderName::To))
            );
        }
        "ipv6-bad" => {
            let m = parsed(res);
            assert_eq!(m.request_uri().err(), Some(ParseError::BadUri));
        }
        "ipv6-bug-abnf-3-colons" => {
            // Strict reading: the three-colon reference is rejected, never re-serialized.
            let m = parsed(res);
            assert_eq!(m.request_uri().err(), Some(ParseError::BadUri));
        }
        // Lenient: parses; documented behaviour.
        "escruri" => {
            // The escaped headers are visible so the forwarder can reject (400) or strip them;
            // they never become real headers.
            let m = parsed(res);
            let u = m.request_uri().unwrap();
            assert_eq!(u.headers, Some(&b"Route=%3Csip:example.com%3E"[..]));
            assert_eq!(m.count(HeaderName::Route), 0);
        }
        "baddate" => {
            // Date is opaque to a balancer: forwarded unchanged.
            let m = parsed(res);
            m.check_mandatory().unwrap();
        }
        "badaspec" => {
            // Spaces inside < > are ignored.
            let m = parsed(res);
            let to = m.to().unwrap();
            assert_eq!(to.uri.raw, b"sip:t.watson@example.org");
            assert_eq!(to.display_name, Some(&b"Watson, Thomas"[..]));
        }
        other => panic!("no expectation written for invalid file {other}"),
    }
}

#[test]
fn corpus_datagram_semantics() {
    let rows = manifest();
    assert_eq!(rows.len(), 62, "manifest rows");
    for (file, expected) in &rows {
        let bytes = read(file);
        check(file, expected, SipMessage::parse(Bytes::from(bytes)));
    }
}

#[test]
fn corpus_untouched_roundtrip() {
    // An editor with no edits reproduces the message proper byte for byte.
    for (file, _) in manifest() {
        let Ok(m) = SipMessage::parse(Bytes::from(read(&file))) else {
            continue;
        };
        let out = Editor::new(&m).finish().unwrap();
        let proper = m.message_bytes();
        if file.ends_with("baddn.dat") {
            // The missing blank line is added so the output is a complete message.
            assert_eq!(&out[..proper.len()], &proper[..]);
            assert_eq!(&out[proper.len()..], b"\r\n");
        } else {
            assert_eq!(out, proper, "{file}");
        }
    }
}

#[test]
fn corpus_stream_semantics() {
    for (file, _) in manifest() {
        let bytes = read(&file);
        let name = file.rsplit('/').next().unwrap().trim_end_matches(".dat");
        let mut f = Framer::default();
        f.feed(&bytes);
        let first = f.next_message();
        match name {
            // Waits for the rest of the body / the end of the header section.
            "clerr" | "baddn" => assert_eq!(first, Ok(None), "{file}"),
            "ncl" => assert_eq!(first, Err(FrameError::InvalidContentLength)),
            "mcl01" => assert_eq!(first, Err(FrameError::ConflictingContentLength)),
            "inv2543" => assert_eq!(first, Err(FrameError::MissingContentLength), "{file}"),
            // Its request line has no SIP-Version: not a SIP stream at all.
            "test" => assert_eq!(first, Err(FrameError::NotSip), "{file}"),
            _ => {
                let Ok(Some(Frame::Message(msg))) = first else {
                    panic!("{file}: {first:?}")
                };
                let dgram = SipMessage::parse(Bytes::from(bytes.clone()));
                match dgram {
                    Ok(d) => {
                        assert_eq!(msg, d.message_bytes(), "{file}");
                        if name != "dblreq" {
                            assert_eq!(f.buffered(), 0, "{file}");
                        }
                    }
                    Err(_) => assert!(SipMessage::parse(msg).is_err(), "{file}"),
                }
            }
        }
    }
}
