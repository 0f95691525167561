//! Header names, header slots and the low-level value scanners shared by the typed views
//! (RFC 3261 §7.3, §25.1).

use std::ops::Range;

macro_rules! header_names {
    ($($variant:ident => $canon:literal $(, $compact:literal)?;)*) => {
        /// A header field name, compared case-insensitively, with the compact forms of
        /// RFC 3261 §7.3.3 and the IANA registry folded into their long names.
        ///
        /// Obtained from [`HeaderName::from_bytes`] without allocating; unknown names are
        /// [`HeaderName::Other`] (the slot's `name_range` keeps the spelling).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum HeaderName {
            $(
                #[doc = $canon]
                $variant,
            )*
            /// Any other header name.
            Other,
        }

        /// Number of [`HeaderName`] variants (including `Other`).
        pub(crate) const HEADER_NAME_COUNT: usize = [$(HeaderName::$variant,)* HeaderName::Other].len();

        const LONG_NAMES: &[(&str, HeaderName)] = &[$(($canon, HeaderName::$variant),)*];

        impl HeaderName {
            /// The canonical long spelling, used when the editor writes a new header line.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(HeaderName::$variant => $canon,)*
                    HeaderName::Other => "",
                }
            }

            fn from_compact(b: u8) -> HeaderName {
                match b.to_ascii_lowercase() {
                    $($(x if x == $compact => HeaderName::$variant,)?)*
                    _ => HeaderName::Other,
                }
            }
        }
    };
}

header_names! {
    Via => "Via", b'v';
    CallId => "Call-ID", b'i';
    CSeq => "CSeq";
    From => "From", b'f';
    To => "To", b't';
    MaxForwards => "Max-Forwards";
    ContentLength => "Content-Length", b'l';
    ContentType => "Content-Type", b'c';
    ContentEncoding => "Content-Encoding", b'e';
    Contact => "Contact", b'm';
    Route => "Route";
    RecordRoute => "Record-Route";
    UserAgent => "User-Agent";
    Subject => "Subject", b's';
    Supported => "Supported", b'k';
    Event => "Event", b'o';
    ReferTo => "Refer-To", b'r';
    AllowEvents => "Allow-Events", b'u';
    SessionExpires => "Session-Expires", b'x';
    Identity => "Identity", b'y';
    AcceptContact => "Accept-Contact", b'a';
    ReferredBy => "Referred-By", b'b';
    RejectContact => "Reject-Contact", b'j';
    Expires => "Expires";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    Server => "Server";
}

impl HeaderName {
    /// Classifies a field name as written on the wire (case-insensitive, compact forms
    /// per RFC 3261 §7.3.3). Never allocates.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if let [b] = name {
            return HeaderName::from_compact(*b);
        }
        for (canon, h) in LONG_NAMES {
            if canon.len() == name.len() && canon.as_bytes().eq_ignore_ascii_case(name) {
                return *h;
            }
        }
        HeaderName::Other
    }

    /// Whether the header may carry several comma-separated values that the codec splits
    /// (RFC 3261 §7.3.1): Via, Route, Record-Route, Contact.
    pub fn is_multi_value(self) -> bool {
        matches!(
            self,
            HeaderName::Via | HeaderName::Route | HeaderName::RecordRoute | HeaderName::Contact
        )
    }
}

/// One header line of a parsed message: byte ranges into [`super::SipMessage::raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSlot {
    /// The classified name.
    pub name: HeaderName,
    /// The name as written (without the colon and surrounding whitespace).
    pub name_range: Range<usize>,
    /// The value, trimmed of leading and trailing LWS; may contain folded line ends.
    pub value_range: Range<usize>,
    /// The whole line including continuation lines and the final line end; what a
    /// removal deletes.
    pub line_range: Range<usize>,
}

/// SP, HT, CR or LF: linear white space once folded lines are taken as one value.
#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 3261 §25.1 `token` character.
#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Trims LWS on both sides.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !is_ws(*b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ws(*b)).map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// Offset (relative to `s`) of the closing quote of a quoted string whose opening quote is at
/// `open`; backslash escapes one octet (RFC 3261 §25.1 `quoted-pair`).
pub(crate) fn closing_quote(s: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    while let Some(&b) = s.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Splits a header value on commas outside quoted strings and `<...>`, yielding trimmed
/// ranges relative to the value (RFC 3261 §7.3.1). Empty elements are yielded as empty
/// ranges so that callers can reject them.
#[derive(Debug, Clone)]
pub(crate) struct CommaSplit<'a> {
    s: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> CommaSplit<'a> {
    pub(crate) fn new(s: &'a [u8]) -> Self {
        CommaSplit {
            s,
            pos: 0,
            done: s.is_empty(),
        }
    }
}

impl Iterator for CommaSplit<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.done {
            return None;
        }
        let start = self.pos;
        let mut i = start;
        let mut angle = false;
        let end = loop {
            match self.s.get(i) {
                None => {
                    self.done = true;
                    break i;
                }
                Some(b'"') if !angle => {
                    i = closing_quote(self.s, i).map_or(self.s.len(), |q| q + 1);
                }
                Some(b'<') => {
                    angle = true;
                    i += 1;
                }
                Some(b'>') => {
                    angle = false;
                    i += 1;
                }
                Some(b',') if !angle => {
                    self.pos = i + 1;
                    break i;
                }
                Some(_) => i += 1,
            }
        };
        let piece = self.s.get(start..end).unwrap_or_default();
        let lead = piece.iter().position(|b| !is_ws(*b)).unwrap_or(piece.len());
        let trail = piece
            .iter()
            .rposition(|b| !is_ws(*b))
            .map_or(lead, |e| e + 1);
        Some(start + lead..start + trail)
    }
}

/// One `;name[=value]` parameter of a URI, Via or name-addr (RFC 3261 §19.1.1, §20.42).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The name, trimmed.
    pub name: &'a [u8],
    /// The value, trimmed (quotes kept), or `None` for a flag parameter such as `lr`.
    pub value: Option<&'a [u8]>,
    /// The whole parameter from its `;` to the end of its value: what a removal deletes.
    pub segment: &'a [u8],
}

/// Iterator over `;name[=value]` parameters, tolerant of LWS around `;` and `=` and of
/// quoted values. Create it with [`Params::new`] on a params slice of a typed view.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Params<'a> {
    /// Iterates the parameters in `s`, which starts at the first `;` (or is empty).
    pub fn new(s: &'a [u8]) -> Self {
        Params { s, pos: 0 }
    }

    /// The first parameter named `name` (case-insensitive).
    pub fn named(self, name: &str) -> Option<Param<'a>> {
        let mut it = self;
        it.find(|p| p.name.eq_ignore_ascii_case(name.as_bytes()))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        loop {
            let s = self.s;
            let semi = self.pos + s.get(self.pos..)?.iter().position(|b| *b == b';')?;
            let mut i = semi + 1;
            let mut eq = None;
            while let Some(&b) = s.get(i) {
                match b {
                    b';' => break,
                    b'"' => i = closing_quote(s, i).map_or(s.len(), |q| q + 1),
                    b'=' if eq.is_none() => {
                        eq = Some(i);
                        i += 1;
                    }
                    _ => i += 1,
                }
            }
            self.pos = i;
            let body_end = i;
            let (name, value) = match eq {
                Some(e) => (
                    trim(s.get(semi + 1..e).unwrap_or_default()),
                    Some(trim(s.get(e + 1..body_end).unwrap_or_default())),
                ),
                None => (trim(s.get(semi + 1..body_end).unwrap_or_default()), None),
            };
            if name.is_empty() {
                continue;
            }
            let raw = s.get(semi..body_end).unwrap_or_default();
            let seg_len = raw.iter().rposition(|b| !is_ws(*b)).map_or(0, |e| e + 1);
            return Some(Param {
                name,
                value,
                segment: raw.get(..seg_len).unwrap_or_default(),
            });
        }
    }
}

/// Checks a parameter list strictly enough to reject RFC 4475 `badinv01` (empty parameters,
/// unterminated quotes, non-token names) while accepting the LWS of `wsinv`.
pub(crate) fn params_well_formed(s: &[u8]) -> bool {
    let s = trim(s);
    if s.is_empty() {
        return true;
    }
    if s.first() != Some(&b';') {
        return false;
    }
    let mut i = 0;
    while i < s.len() {
        // at a ';'
        let mut j = i + 1;
        let mut eq = None;
        while let Some(&b) = s.get(j) {
            match b {
                b';' => break,
                b'"' => match closing_quote(s, j) {
                    Some(q) => j = q + 1,
                    None => return false,
                },
                b'=' if eq.is_none() => {
                    eq = Some(j);
                    j += 1;
                }
                b if b < 0x20 && !is_ws(b) => return false,
                _ => j += 1,
            }
        }
        let name_end = eq.unwrap_or(j);
        let name = trim(s.get(i + 1..name_end).unwrap_or_default());
        if name.is_empty() || !name.iter().all(|b| is_token(*b)) {
            return false;
        }
        if let Some(e) = eq {
            let v = trim(s.get(e + 1..j).unwrap_or_default());
            if v.is_empty() {
                return false;
            }
        }
        i = j;
    }
    true
}

/// Parses an unsigned decimal of at most `max_digits` digits (leading zeros allowed, as in
/// RFC 4475 `wsinv`); `None` on anything else or overflow.
pub(crate) fn parse_decimal(s: &[u8], max_digits: usize) -> Option<u64> {
    let digits = s.iter().skip_while(|b| **b == b'0').count();
    if s.is_empty() || digits > max_digits || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"J"), HeaderName::RejectContact);
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
    }

    #[test]
    fn comma_split() {
        let v = b"\"a,b\" <sip:x;p=1,2>;q=1 , <sip:y>";
        let parts: Vec<_> = CommaSplit::new(v).map(|r| &v[r]).collect();
        assert_eq!(
            parts,
            vec![&b"\"a,b\" <sip:x;p=1,2>;q=1"[..], &b"<sip:y>"[..]]
        );
    }

    #[test]
    fn params() {
        let p: Vec<_> = Params::new(b" ;   tag    = 19n ; lr").collect();
        assert_eq!(p[0].name, b"tag");
        assert_eq!(p[0].value, Some(&b"19n"[..]));
        assert_eq!(p[0].segment, b";   tag    = 19n");
        assert_eq!(p[1].name, b"lr");
        assert!(!params_well_formed(b";;"));
        assert!(params_well_formed(b";  branch  =   z9hG4bK9ikj8"));
    }
}
