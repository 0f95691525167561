//! name-addr / addr-spec values: From, To, Contact, Route, Record-Route (RFC 3261 §20.10,
//! §20.20, §20.30, §20.34, §20.39, §25.1).

use super::error::ParseError;
use super::header::{
    closing_quote, is_token, is_ws, params_well_formed, trim, HeaderName, Param, Params,
};
use super::uri::Uri;

/// A `[display-name] <URI> *(;param)` or `addr-spec *(;param)` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The whole value.
    pub raw: &'a [u8],
    /// Display name: the content of the quotes (escapes not processed), or the unquoted
    /// tokens; `None` if absent.
    pub display_name: Option<&'a [u8]>,
    /// The URI.
    pub uri: Uri<'a>,
    /// Whether the URI was enclosed in `<...>`.
    pub bracketed: bool,
    /// Header parameters after the URI (from the first `;`, or empty).
    pub params: &'a [u8],
}

impl<'a> NameAddr<'a> {
    /// Parses one value (not a comma list). `header` names the header in errors.
    ///
    /// Strictness follows RFC 4475: unterminated quotes (`quotbal`), unquoted display names
    /// with non-token characters (`baddn`) and an addr-spec holding `?` or `,` (`regbadct`)
    /// are rejected; spaces inside `< >` (`badaspec`) and no space before `<` (`lwsdisp`)
    /// are tolerated.
    pub fn parse(raw: &'a [u8], header: HeaderName) -> Result<NameAddr<'a>, ParseError> {
        let bad = ParseError::BadHeaderValue(header);
        let s = trim(raw);
        if s.is_empty() {
            return Err(bad);
        }
        let (display_name, lt) = if s.first() == Some(&b'"') {
            let q = closing_quote(s, 0).ok_or(bad.clone())?;
            let after = q
                + 1
                + s.get(q + 1..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|b| is_ws(**b))
                    .count();
            if s.get(after) != Some(&b'<') {
                return Err(bad);
            }
            (s.get(1..q), Some(after))
        } else {
            match memchr::memchr(b'<', s) {
                Some(lt) => {
                    let dn = trim(s.get(..lt).unwrap_or_default());
                    if !dn.iter().all(|b| is_token(*b) || is_ws(*b)) {
                        return Err(bad);
                    }
                    ((!dn.is_empty()).then_some(dn), Some(lt))
                }
                None => (None, None),
            }
        };
        let (uri_bytes, params, bracketed) = match lt {
            Some(lt) => {
                let rest = s.get(lt + 1..).unwrap_or_default();
                let gt = memchr::memchr(b'>', rest).ok_or(bad.clone())?;
                let params = rest.get(gt + 1..).unwrap_or_default();
                (trim(rest.get(..gt).unwrap_or_default()), params, true)
            }
            None => {
                let end = memchr::memchr(b';', s).unwrap_or(s.len());
                let spec = trim(s.get(..end).unwrap_or_default());
                if spec.iter().any(|b| matches!(b, b'?' | b',')) {
                    return Err(bad);
                }
                (spec, s.get(end..).unwrap_or_default(), false)
            }
        };
        let uri = Uri::parse(uri_bytes)?;
        let params = match params.iter().position(|b| !is_ws(*b)) {
            Some(k) => params.get(k..).unwrap_or_default(),
            None => params.get(params.len()..).unwrap_or_default(),
        };
        if !params_well_formed(params) {
            return Err(bad);
        }
        Ok(NameAddr {
            raw: s,
            display_name,
            uri,
            bracketed,
            params,
        })
    }

    /// Iterates the header parameters.
    pub fn params(&self) -> Params<'a> {
        Params::new(self.params)
    }

    /// The first header parameter named `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Param<'a>> {
        self.params().named(name)
    }

    /// The `tag` parameter of From/To (RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.param("tag").and_then(|p| p.value)
    }

    /// The URI's user part.
    pub fn user(&self) -> Option<&'a [u8]> {
        self.uri.user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = NameAddr::parse(
            b"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
            HeaderName::From,
        )
        .unwrap();
        assert_eq!(n.tag(), Some(&b"98asjd8"[..]));
        assert_eq!(n.uri.user, Some(&b"jdrosen"[..]));
        let n = NameAddr::parse(
            b"sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n",
            HeaderName::To,
        )
        .unwrap();
        assert_eq!(n.tag(), Some(&b"1918181833n"[..]));
        assert!(!n.bracketed);
        let n =
            NameAddr::parse(b"caller<sip:caller@example.com>;tag=323", HeaderName::From).unwrap();
        assert_eq!(n.display_name, Some(&b"caller"[..]));
        assert!(NameAddr::parse(b"Bell, Alexander <sip:a@b>", HeaderName::From).is_err());
        assert!(
            NameAddr::parse(b"\"Mr. J. User <sip:j.user@example.com>", HeaderName::To).is_err()
        );
        assert!(NameAddr::parse(
            b"sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            HeaderName::Contact
        )
        .is_err());
        assert!(NameAddr::parse(b"< sip:t.watson@example.org >", HeaderName::To).is_ok());
    }
}
