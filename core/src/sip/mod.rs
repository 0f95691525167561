//! The zero-copy SIP codec: parse, read, edit, frame.
//!
//! - [`SipMessage::parse`] indexes a datagram (RFC 3261 §7, §18.3) into byte ranges over its
//!   `Bytes`; nothing is copied and no header allocates.
//! - Typed accessors ([`SipMessage::top_via`], [`SipMessage::call_id`], [`SipMessage::cseq`],
//!   [`SipMessage::from`], [`SipMessage::to`], [`SipMessage::routes`],
//!   [`SipMessage::record_routes`], [`SipMessage::request_uri`],
//!   [`SipMessage::max_forwards`], …) parse one value on demand and borrow from the message.
//! - [`Editor`] collects splices on the original ranges and serializes once into an exactly
//!   sized buffer; untouched bytes stay byte-identical.
//! - [`Framer`] cuts TCP/TLS byte streams into messages (RFC 3261 §18.3) and reports
//!   RFC 5626 keep-alive pings.
//!
//! ```
//! use bytes::Bytes;
//! use switchboard_core::sip::{Editor, HeaderName, SipMessage};
//! let msg = SipMessage::parse(Bytes::from_static(
//!     b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
//!       Max-Forwards: 70\r\nCall-ID: abc\r\nCSeq: 1 INVITE\r\nFrom: <sip:a@x>;tag=1\r\n\
//!       To: <sip:bob@example.com>\r\nContent-Length: 0\r\n\r\n",
//! )).unwrap();
//! assert_eq!(msg.top_via().unwrap().branch, Some(&b"z9hG4bK1"[..]));
//! assert_eq!(msg.call_id().unwrap(), b"abc");
//! let mut ed = Editor::new(&msg);
//! ed.push_header(HeaderName::Via, "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK1abcde");
//! ed.push_header(HeaderName::RecordRoute, "<sip:192.0.2.9:5060;transport=udp;lr>");
//! assert_eq!(ed.decrement_max_forwards().unwrap(), 69);
//! let out = ed.finish().unwrap();
//! assert!(out.starts_with(b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9"));
//! assert!(out.windows(16).any(|w| w == b"Max-Forwards: 69"));
//! ```

mod accessors;
mod edit;
mod error;
pub mod framing;
mod header;
mod name_addr;
mod parse;
mod uri;
mod via;

pub use accessors::{CSeq, ValueRef};
pub use edit::{EditError, EditValue, Editor};
pub use error::ParseError;
pub use framing::{Frame, FrameError, Framer};
pub use header::{HeaderName, HeaderSlot, Param, Params};
pub use name_addr::NameAddr;
pub use parse::{
    Method, ParseLimits, SipMessage, StartLine, DEFAULT_MAX_HEADERS, DEFAULT_MAX_MESSAGE_SIZE,
};
pub use uri::{parse_ip, Scheme, Uri};
pub use via::{Rport, Via, ViaTransport};
