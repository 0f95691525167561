//! The message fields the algorithms read (behaviour reference §1.8, §4.4, §4.6), taken from
//! the zero-copy codec. Values that are not UTF-8 or not parseable count as absent.

use crate::algorithm::KeySource;
use crate::sip::{Scheme, SipMessage};

fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

impl KeySource for SipMessage {
    fn call_id(&self) -> Option<&str> {
        SipMessage::call_id(self).ok().and_then(text)
    }

    fn method(&self) -> Option<&str> {
        if self.is_request() {
            text(self.method_bytes())
        } else {
            self.cseq().ok().and_then(|c| text(c.method_raw))
        }
    }

    fn cseq(&self) -> Option<u32> {
        SipMessage::cseq(self).ok().map(|c| c.seq)
    }

    fn status(&self) -> Option<u16> {
        self.status_code()
    }

    fn from_uri(&self) -> Option<&str> {
        SipMessage::from(self).ok().and_then(|f| text(f.uri.raw))
    }

    fn from_user(&self) -> Option<&str> {
        SipMessage::from(self).ok().and_then(|f| user_of(&f.uri))
    }

    fn to_user(&self) -> Option<&str> {
        SipMessage::to(self).ok().and_then(|t| user_of(&t.uri))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.get_by_name(name).and_then(text)
    }
}

fn user_of<'a>(uri: &crate::sip::Uri<'a>) -> Option<&'a str> {
    match uri.scheme {
        Scheme::Sip | Scheme::Sips | Scheme::Tel => uri.user.and_then(text),
        Scheme::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn fields_come_from_the_parsed_message() {
        let m = SipMessage::parse(Bytes::from_static(
            b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
              Call-ID: abc\r\nCSeq: 7 INVITE\r\nFrom: \"A\" <sip:alice@x;p=1>;tag=1\r\n\
              To: <tel:+123>\r\nX-Key: v\r\nContent-Length: 0\r\n\r\n",
        ))
        .unwrap();
        let k: &dyn KeySource = &m;
        assert_eq!(k.call_id(), Some("abc"));
        assert_eq!(k.method(), Some("INVITE"));
        assert_eq!(k.cseq(), Some(7));
        assert_eq!(k.from_uri(), Some("sip:alice@x;p=1"));
        assert_eq!(k.from_user(), Some("alice"));
        assert_eq!(k.to_user(), Some("+123"));
        assert_eq!(k.header("x-key"), Some("v"));
        assert_eq!(k.header("i"), Some("abc"));
    }
}
