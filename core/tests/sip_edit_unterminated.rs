//! Edits of datagrams whose header section lacks the closing empty line (RFC 4475 `baddn`
//! ends right after `l: 0`; a datagram may even end without a final CRLF). Headers the
//! editor appends must land in the header section, never after the message.

use bytes::Bytes;
use switchboard_core::sip::{Editor, HeaderName, SipMessage};

fn edit(raw: &'static [u8], f: impl FnOnce(&mut Editor<'_>)) -> Bytes {
    let msg = SipMessage::parse(Bytes::from_static(raw)).expect("the datagram parses");
    let mut ed = Editor::new(&msg);
    f(&mut ed);
    let expected_len = ed.output_len();
    let out = ed.finish().expect("the edit applies");
    assert_eq!(
        out.len(),
        expected_len,
        "output_len must predict the output size"
    );
    out
}

const NO_BLANK_LINE: &[u8] = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nContent-Length: 0\r\n";

#[test]
fn max_forwards_added_to_a_message_without_blank_line_stays_in_the_headers() {
    let out = edit(NO_BLANK_LINE, |ed| {
        assert_eq!(ed.decrement_max_forwards().unwrap(), 70)
    });
    assert!(
        out.ends_with(b"Content-Length: 0\r\nMax-Forwards: 70\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    let again = SipMessage::parse(out).unwrap();
    assert_eq!(again.max_forwards().unwrap(), Some(70));
    assert!(again.body().is_empty());
}

#[test]
fn a_message_ending_without_any_line_end_gets_one_before_the_new_header() {
    let raw: &'static [u8] = b"SIP/2.0 100";
    let out = edit(raw, |ed| ed.ensure_content_length());
    assert_eq!(&out[..], b"SIP/2.0 100\r\nContent-Length: 0\r\n\r\n");
    let raw: &'static [u8] = b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nCall-ID: c1\r\nContent-Length: 0";
    let out = edit(raw, |ed| {
        ed.push_header(HeaderName::Via, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK2");
        ed.decrement_max_forwards().unwrap();
    });
    let again = SipMessage::parse(out.clone()).unwrap();
    assert_eq!(
        again.max_forwards().unwrap(),
        Some(70),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(out.ends_with(b"Content-Length: 0\r\nMax-Forwards: 70\r\n\r\n"));
}

#[test]
fn a_body_set_on_such_a_message_follows_the_blank_line() {
    let out = edit(NO_BLANK_LINE, |ed| {
        ed.decrement_max_forwards().unwrap();
        ed.set_body(b"hello").unwrap();
    });
    let again = SipMessage::parse(out.clone()).unwrap();
    assert_eq!(
        again.body(),
        b"hello",
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(again.max_forwards().unwrap(), Some(70));
    assert_eq!(again.content_length(), Some(5));
}

#[test]
fn removing_the_unterminated_last_line_does_not_leave_an_extra_empty_line() {
    // Found by fuzzing: the top Via is the last, unterminated line of a response; the
    // proxy removes it and adds Content-Length.
    let raw: &'static [u8] =
        b"SIP/2.0 200 OK\r\nCall-ID: c1\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1";
    let out = edit(raw, |ed| {
        ed.remove_top_via().unwrap();
        ed.ensure_content_length();
    });
    assert_eq!(
        &out[..],
        b"SIP/2.0 200 OK\r\nCall-ID: c1\r\nContent-Length: 0\r\n\r\n"
    );
    assert!(SipMessage::parse(out).unwrap().body().is_empty());
}
