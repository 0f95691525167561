//! Typed, lazily parsed views of the headers a balancer reads (RFC 3261 §20).

use super::error::ParseError;
use super::header::{is_token, is_ws, parse_decimal, CommaSplit, HeaderName};
use super::name_addr::NameAddr;
use super::parse::{Method, SipMessage};
use super::uri::Uri;
use super::via::Via;
use std::ops::Range;

/// One comma-separated value of a multi-value header, located in the message: which header
/// line, and the value's range in [`SipMessage::raw`]. Pass it to
/// [`super::Editor::remove_value`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueRef {
    /// Index of the header line in [`SipMessage::headers`].
    pub header: usize,
    /// Range of this value.
    pub range: Range<usize>,
}

/// The CSeq header (RFC 3261 §20.16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// Sequence number (must fit 32 bits).
    pub seq: u32,
    /// Classified method.
    pub method: Method,
    /// Method as written.
    pub method_raw: &'a [u8],
}

impl SipMessage {
    /// Iterates the comma-separated values of every header line named `name`, in order
    /// (RFC 3261 §7.3.1). Empty elements are yielded as empty ranges.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = ValueRef> + '_ {
        self.get_all(name).flat_map(move |(i, _)| {
            let r = self
                .headers
                .get(i)
                .map(|h| h.value_range.clone())
                .unwrap_or(0..0);
            let base = r.start;
            CommaSplit::new(self.slice(r)).map(move |v| ValueRef {
                header: i,
                range: base + v.start..base + v.end,
            })
        })
    }

    fn single(&self, name: HeaderName) -> Result<&[u8], ParseError> {
        match self.count(name) {
            0 => Err(ParseError::MissingHeader(name)),
            1 => self.get(name).ok_or(ParseError::MissingHeader(name)),
            _ => Err(ParseError::DuplicateHeader(name)),
        }
    }

    /// The topmost Via value (RFC 3261 §18.2.2: responses go there; §16.6 the proxy adds one
    /// above it). Errors if there is no Via or it is malformed.
    pub fn top_via(&self) -> Result<Via<'_>, ParseError> {
        let v = self
            .values(HeaderName::Via)
            .next()
            .ok_or(ParseError::MissingHeader(HeaderName::Via))?;
        Via::parse(self.slice(v.range))
    }

    /// The Via values in order, each parsed lazily.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> + '_ {
        self.values(HeaderName::Via)
            .map(move |v| Via::parse(self.slice(v.range)))
    }

    /// Number of Via values across all Via lines.
    pub fn via_count(&self) -> usize {
        self.values(HeaderName::Via).count()
    }

    /// The Call-ID (RFC 3261 §20.8); missing or repeated (RFC 4475 `multi01`) is an error, so
    /// affinity never picks one of two Call-IDs.
    pub fn call_id(&self) -> Result<&[u8], ParseError> {
        let v = self.single(HeaderName::CallId)?;
        if v.is_empty() || v.iter().any(|b| is_ws(*b)) {
            return Err(ParseError::BadHeaderValue(HeaderName::CallId));
        }
        Ok(v)
    }

    /// The CSeq (RFC 3261 §20.16); a number above 2^32-1 is an error (RFC 4475 `scalar02`).
    pub fn cseq(&self) -> Result<CSeq<'_>, ParseError> {
        let bad = ParseError::BadHeaderValue(HeaderName::CSeq);
        let v = self.single(HeaderName::CSeq)?;
        let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
        let seq = parse_decimal(v.get(..digits).unwrap_or_default(), 10)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(bad.clone())?;
        let rest = v.get(digits..).unwrap_or_default();
        let ws = rest.iter().take_while(|b| is_ws(**b)).count();
        let m = rest.get(ws..).unwrap_or_default();
        if ws == 0 || m.is_empty() || !m.iter().all(|b| is_token(*b)) {
            return Err(bad);
        }
        Ok(CSeq {
            seq,
            method: Method::from_bytes(m),
            method_raw: m,
        })
    }

    /// The From header (RFC 3261 §20.20).
    pub fn from(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(self.single(HeaderName::From)?, HeaderName::From)
    }

    /// The To header (RFC 3261 §20.39).
    pub fn to(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(self.single(HeaderName::To)?, HeaderName::To)
    }

    /// The Route values in order (RFC 3261 §20.34), each parsed lazily.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.values(HeaderName::Route)
            .map(move |v| NameAddr::parse(self.slice(v.range), HeaderName::Route))
    }

    /// The Record-Route values in order (RFC 3261 §20.30), each parsed lazily.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.values(HeaderName::RecordRoute)
            .map(move |v| NameAddr::parse(self.slice(v.range), HeaderName::RecordRoute))
    }

    /// The Contact values (RFC 3261 §20.10); the wildcard `*` of a REGISTER is skipped (see
    /// [`SipMessage::contact_is_wildcard`]).
    pub fn contacts(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.values(HeaderName::Contact)
            .filter(move |v| self.slice(v.range.clone()) != b"*")
            .map(move |v| NameAddr::parse(self.slice(v.range), HeaderName::Contact))
    }

    /// Whether the Contact is the REGISTER wildcard `*` (RFC 3261 §10.2.2).
    pub fn contact_is_wildcard(&self) -> bool {
        self.get(HeaderName::Contact) == Some(b"*")
    }

    /// The parsed Request-URI (RFC 3261 §19.1); [`ParseError::NotARequest`] on a response.
    pub fn request_uri(&self) -> Result<Uri<'_>, ParseError> {
        Uri::parse(self.request_uri_bytes().ok_or(ParseError::NotARequest)?)
    }

    /// Max-Forwards (RFC 3261 §20.22): `None` if absent; above 255 or not a number is an
    /// error (RFC 4475 `scalar02`); leading zeros are fine (`wsinv` 0068 = 68).
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        match self.count(HeaderName::MaxForwards) {
            0 => Ok(None),
            1 => {
                let v = self.get(HeaderName::MaxForwards).unwrap_or_default();
                parse_decimal(v, 3)
                    .and_then(|n| u8::try_from(n).ok())
                    .map(Some)
                    .ok_or(ParseError::BadHeaderValue(HeaderName::MaxForwards))
            }
            _ => Err(ParseError::DuplicateHeader(HeaderName::MaxForwards)),
        }
    }

    /// The User-Agent value, if present.
    pub fn user_agent(&self) -> Option<&[u8]> {
        self.get(HeaderName::UserAgent)
    }

    /// Checks what a request must carry before the balancer routes it (RFC 3261 §8.1.1):
    /// a parseable top Via, exactly one Call-ID, CSeq, From and To, and a CSeq method equal to
    /// the request method (RFC 4475 `mismatch01`). Max-Forwards may be absent. Responses are
    /// checked for Via, Call-ID and CSeq only. Call it after [`SipMessage::parse`] and answer
    /// 400 on error (RFC 4475 `insuf`, `multi01`).
    pub fn check_mandatory(&self) -> Result<(), ParseError> {
        self.top_via()?;
        self.call_id()?;
        let cseq = self.cseq()?;
        if self.is_request() {
            self.from()?;
            self.to()?;
            if cseq.method_raw != self.method_bytes() {
                return Err(ParseError::BadHeaderValue(HeaderName::CSeq));
            }
        }
        Ok(())
    }
}
