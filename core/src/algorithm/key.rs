//! Affinity keys: what the algorithms read from a SIP message, and the §1.8 / §4.4 / §4.6
//! rules that turn `sipHeaderAffinityKey`, `sipHeaderAffinityExclusionPattern` and
//! `sipHeaderAffinityFallbackKey` into one key string.

use super::AlgorithmError;
use regex::Regex;

/// The few message fields the algorithms look at.
///
/// Implemented over the SIP codec's parsed message by the forwarder, and over [`KeyFields`] in
/// tests and the simulator. Every accessor returns `None` when the field is absent or
/// unparsable; the algorithms then fall back to the Call-ID.
pub trait KeySource {
    /// The `Call-ID` header value.
    fn call_id(&self) -> Option<&str>;
    /// The request method, or for a response the method of its `CSeq`.
    fn method(&self) -> Option<&str>;
    /// The `CSeq` sequence number.
    fn cseq(&self) -> Option<u32>;
    /// The status code for a response, `None` for a request.
    fn status(&self) -> Option<u16>;
    /// The full `From` URI as text (without display name and header parameters).
    #[allow(clippy::wrong_self_convention)] // named after the SIP `From` header
    fn from_uri(&self) -> Option<&str>;
    /// The user part of the `From` SIP URI, or the number of a `tel:` URI.
    #[allow(clippy::wrong_self_convention)] // named after the SIP `From` header
    fn from_user(&self) -> Option<&str>;
    /// The user part of the `To` SIP URI, or the number of a `tel:` URI.
    fn to_user(&self) -> Option<&str>;
    /// The value of the first header named `name` (case-insensitive, compact forms included).
    fn header(&self, name: &str) -> Option<&str>;
}

/// A plain-struct [`KeySource`] for tests, the simulator and callers that already extracted
/// the fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFields {
    /// `Call-ID`.
    pub call_id: Option<String>,
    /// Method (request) or CSeq method (response).
    pub method: Option<String>,
    /// CSeq number.
    pub cseq: Option<u32>,
    /// Status code of a response.
    pub status: Option<u16>,
    /// Full From URI.
    pub from_uri: Option<String>,
    /// From user.
    pub from_user: Option<String>,
    /// To user.
    pub to_user: Option<String>,
    /// Other headers, `(name, value)`, looked up case-insensitively.
    pub headers: Vec<(String, String)>,
}

impl KeyFields {
    /// A request `method` with Call-ID `call_id` and CSeq 1; the common test case.
    pub fn request(method: &str, call_id: &str) -> Self {
        KeyFields {
            call_id: Some(call_id.to_owned()),
            method: Some(method.to_owned()),
            cseq: Some(1),
            ..KeyFields::default()
        }
    }
}

impl KeySource for KeyFields {
    fn call_id(&self) -> Option<&str> {
        self.call_id.as_deref()
    }
    fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }
    fn cseq(&self) -> Option<u32> {
        self.cseq
    }
    fn status(&self) -> Option<u16> {
        self.status
    }
    fn from_uri(&self) -> Option<&str> {
        self.from_uri.as_deref()
    }
    fn from_user(&self) -> Option<&str> {
        self.from_user.as_deref()
    }
    fn to_user(&self) -> Option<&str> {
        self.to_user.as_deref()
    }
    fn header(&self, name: &str) -> Option<&str> {
        if name.eq_ignore_ascii_case("Call-ID") || name.eq_ignore_ascii_case("i") {
            if let Some(c) = self.call_id.as_deref() {
                return Some(c);
            }
        }
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Which header `sipHeaderAffinityKey` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderKey {
    /// `Call-ID` (the default).
    CallId,
    /// `To`: the To URI user or tel number.
    To,
    /// `From`: the From URI (UserBased) or From user (hash algorithms).
    From,
    /// Any other header: its raw value.
    Other(String),
}

impl HeaderKey {
    /// Maps the configured header name (case-insensitive; `t`, `f`, `i` compact forms too).
    pub fn parse(name: &str) -> HeaderKey {
        let n = name.trim();
        if n.is_empty() || n.eq_ignore_ascii_case("Call-ID") || n.eq_ignore_ascii_case("i") {
            HeaderKey::CallId
        } else if n.eq_ignore_ascii_case("To") || n.eq_ignore_ascii_case("t") {
            HeaderKey::To
        } else if n.eq_ignore_ascii_case("From") || n.eq_ignore_ascii_case("f") {
            HeaderKey::From
        } else {
            HeaderKey::Other(n.to_owned())
        }
    }
}

/// How a `From` key is read: the reference's UserBased and `assignToNode` use the whole URI
/// (§1.8, an asymmetry kept for compatibility of pins), the hash algorithms the user (§4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromKey {
    /// The full From URI.
    Uri,
    /// The From user part.
    User,
}

/// The compiled §1.8 key rule.
#[derive(Debug, Clone)]
pub struct KeyRule {
    header: HeaderKey,
    exclusion: Option<Regex>,
    fallback: Option<String>,
    from: FromKey,
}

impl KeyRule {
    /// Compiles the rule. `exclusion` is matched against the whole To/From key (full match).
    pub fn new(
        header: &str,
        exclusion: Option<&str>,
        fallback: Option<&str>,
        from: FromKey,
    ) -> Result<KeyRule, AlgorithmError> {
        let exclusion =
            match exclusion.map(str::trim).filter(|p| !p.is_empty()) {
                Some(p) => Some(Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                    AlgorithmError::BadRegex {
                        what: "sipHeaderAffinityExclusionPattern",
                        pattern: p.to_owned(),
                        reason: e.to_string(),
                    }
                })?),
                None => None,
            };
        Ok(KeyRule {
            header: HeaderKey::parse(header),
            exclusion,
            fallback: fallback
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned),
            from,
        })
    }

    /// The plain Call-ID rule used by CallIDAffinity and the test algorithm.
    pub fn call_id() -> KeyRule {
        KeyRule {
            header: HeaderKey::CallId,
            exclusion: None,
            fallback: None,
            from: FromKey::Uri,
        }
    }

    /// Extracts the affinity key (§1.8):
    /// - `To` → To user / tel number; `From` → From URI or user (see [`FromKey`]); if the
    ///   exclusion pattern fully matches, the value of the fallback header is used instead;
    /// - any other name → that header's raw value.
    ///
    /// When the selected value is missing (no To user, excluded without a usable fallback
    /// header, header absent) the Call-ID is used, so each such call still gets one node.
    pub fn extract<'a>(&self, msg: &'a dyn KeySource) -> Option<&'a str> {
        let primary = match &self.header {
            HeaderKey::CallId => return msg.call_id(),
            HeaderKey::To => msg.to_user(),
            HeaderKey::From => match self.from {
                FromKey::Uri => msg.from_uri(),
                FromKey::User => msg.from_user(),
            },
            HeaderKey::Other(name) => msg.header(name),
        };
        let chosen = match (primary, &self.exclusion) {
            (Some(v), Some(re)) if re.is_match(v) => {
                tracing::debug!(key = v, "affinity key excluded, using fallback header");
                self.fallback.as_deref().and_then(|f| msg.header(f))
            }
            (p, _) => p,
        };
        chosen.filter(|v| !v.is_empty()).or_else(|| msg.call_id())
    }
}

/// The value of query parameter `name` (the configured `httpAffinityKey`, §4.6) in an HTTP
/// request target, for [`super::Algorithm::select_for_http`]. The query starts after the
/// first `?`; parameters are `&`-separated; the name compares exactly; an empty value counts
/// as absent. Percent-decoding is not applied: the raw value is hashed, identically on every
/// balancer.
pub fn http_affinity_value<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let query = target.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> KeyFields {
        KeyFields {
            call_id: Some("cid-1".into()),
            from_uri: Some("sip:alice@example.com".into()),
            from_user: Some("alice".into()),
            to_user: Some("+15551234".into()),
            headers: vec![("X-Account".into(), "acct-9".into())],
            ..KeyFields::default()
        }
    }

    #[test]
    fn header_names_select_the_documented_fields() {
        let m = msg();
        let k = |h: &str, f| KeyRule::new(h, None, None, f).unwrap();
        assert_eq!(k("Call-ID", FromKey::Uri).extract(&m), Some("cid-1"));
        assert_eq!(k("To", FromKey::Uri).extract(&m), Some("+15551234"));
        assert_eq!(
            k("From", FromKey::Uri).extract(&m),
            Some("sip:alice@example.com")
        );
        assert_eq!(k("from", FromKey::User).extract(&m), Some("alice"));
        assert_eq!(k("x-account", FromKey::Uri).extract(&m), Some("acct-9"));
        assert_eq!(k("X-Missing", FromKey::Uri).extract(&m), Some("cid-1"));
    }

    #[test]
    fn exclusion_is_a_full_match_and_uses_the_fallback_header() {
        let mut m = msg();
        let rule =
            KeyRule::new("From", Some("anonymous"), Some("X-Account"), FromKey::User).unwrap();
        assert_eq!(rule.extract(&m), Some("alice"));
        m.from_user = Some("anonymous".into());
        assert_eq!(rule.extract(&m), Some("acct-9"));
        m.from_user = Some("anonymous2".into());
        assert_eq!(rule.extract(&m), Some("anonymous2"), "full match only");
        m.from_user = Some("anonymous".into());
        m.headers.clear();
        assert_eq!(rule.extract(&m), Some("cid-1"), "no fallback → Call-ID");
    }

    #[test]
    fn http_affinity_value_reads_the_query_parameter() {
        let t = "/app/x?foo=1&appsession=abc123&bar=2#frag";
        assert_eq!(http_affinity_value(t, "appsession"), Some("abc123"));
        assert_eq!(
            http_affinity_value("/a?appsession=z#f", "appsession"),
            Some("z")
        );
        assert_eq!(http_affinity_value("/a?appsession=", "appsession"), None);
        assert_eq!(http_affinity_value("/a?xappsession=1", "appsession"), None);
        assert_eq!(http_affinity_value("/a", "appsession"), None);
    }

    #[test]
    fn bad_exclusion_regex_is_a_clear_error() {
        let err = KeyRule::new("To", Some("(unclosed"), None, FromKey::Uri).unwrap_err();
        assert!(err
            .to_string()
            .contains("sipHeaderAffinityExclusionPattern"));
    }
}
