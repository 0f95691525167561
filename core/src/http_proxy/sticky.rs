//! The keys that pin an HTTP request to a node, read from its target and `Cookie` headers
//! (behaviour reference §4.2 and §5):
//!
//! 1. a Restcomm instance id: a path segment or query value in the `CallSid` form
//!    `ID<32 hex>-CA<32 hex>`, whose first 34 characters (`ID<32 hex>`) name the node whose
//!    `Restcomm-Instance-Id` matches (the reference's `InstanceIdAlgorithmTest`);
//! 2. a Tomcat session id `<id>.<jvmRoute>`: the `;jsessionid=` path parameter, else the
//!    `jsessionid` query parameter, else the `JSESSIONID` cookie (names case-insensitive);
//!    the text after its last `.` names the node whose `jvmRoute` matches (mod_jk semantics).
//!
//! Nothing is decoded or allocated: the keys borrow from the request. Call once per request
//! head, before routing.

/// A Tomcat session id and the route it carries, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionId<'a> {
    /// The whole value (`<id>.<jvmRoute>` or `<id>`).
    pub value: &'a str,
    /// The text after the last `.`, when not empty.
    pub jvm_route: Option<&'a str>,
}

impl<'a> SessionId<'a> {
    fn new(value: &'a str) -> Option<SessionId<'a>> {
        if value.is_empty() {
            return None;
        }
        let jvm_route = value
            .rsplit_once('.')
            .map(|(_, route)| route)
            .filter(|r| !r.is_empty());
        Some(SessionId { value, jvm_route })
    }
}

/// The sticky keys of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StickyKeys<'a> {
    /// The Restcomm instance id (`ID<32 hex>`), step 1.
    pub instance_id: Option<&'a str>,
    /// The Tomcat session id, step 2.
    pub session: Option<SessionId<'a>>,
}

/// Reads the sticky keys of a request with request-target `target` (origin form, as in the
/// request line) and the values of its `Cookie` headers.
pub fn keys<'a>(target: &'a str, cookies: impl IntoIterator<Item = &'a [u8]>) -> StickyKeys<'a> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query.split('#').next().unwrap_or("");
    StickyKeys {
        instance_id: instance_id(path, query),
        session: path_session(path)
            .or_else(|| query_value(query, "jsessionid").and_then(SessionId::new))
            .or_else(|| cookie_session(cookies)),
    }
}

/// The instance id of the first path segment or query value in `CallSid` form.
fn instance_id<'a>(path: &'a str, query: &'a str) -> Option<&'a str> {
    let segments = path.split('/').map(|s| s.split(';').next().unwrap_or(s));
    let values = query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v));
    segments.chain(values).find_map(call_sid_instance)
}

/// `ID<32 hex>` when `token` starts with `ID<32 hex>-CA<32 hex>`.
fn call_sid_instance(token: &str) -> Option<&str> {
    let bytes = token.as_bytes();
    let hex = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|b| b.iter().all(u8::is_ascii_hexdigit))
    };
    let ok = bytes.len() >= 69
        && bytes.starts_with(b"ID")
        && hex(2..34)
        && bytes.get(34..37) == Some(b"-CA")
        && hex(37..69);
    ok.then(|| &token[..34])
}

/// The `;jsessionid=` parameter of the path's last segment that has one.
fn path_session(path: &str) -> Option<SessionId<'_>> {
    path.split('/')
        .flat_map(|segment| segment.split(';').skip(1))
        .filter_map(|param| param.split_once('='))
        .filter(|(name, _)| name.eq_ignore_ascii_case("jsessionid"))
        .filter_map(|(_, value)| SessionId::new(value))
        .last()
}

/// The value of query parameter `name` (case-insensitive), the last one if repeated.
fn query_value<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .next_back()
}

/// The `JSESSIONID` cookie (RFC 6265 §5.4 `name=value` pairs separated by `;`).
fn cookie_session<'a>(cookies: impl IntoIterator<Item = &'a [u8]>) -> Option<SessionId<'a>> {
    cookies
        .into_iter()
        .filter_map(|header| std::str::from_utf8(header).ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("jsessionid"))
        .find_map(|(_, value)| SessionId::new(value.trim().trim_matches('"')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "ID1f2a2222772f4195948d4e8c7eda648c-CA00af667a2e5d4e1c8a1a4f1f1bc794cd";

    fn no_cookies() -> Vec<&'static [u8]> {
        Vec::new()
    }

    #[test]
    fn a_call_sid_in_the_path_names_the_instance() {
        let target = format!("/restcomm/2012-04-24/Accounts/AC123/Calls.json/{SID}");
        let k = keys(&target, no_cookies());
        assert_eq!(k.instance_id, Some("ID1f2a2222772f4195948d4e8c7eda648c"));
        assert_eq!(k.session, None);
    }

    #[test]
    fn a_call_sid_as_a_query_value_names_the_instance_too() {
        let target = format!("/restcomm/status?CallSid={SID}&x=1");
        assert_eq!(
            keys(&target, no_cookies()).instance_id,
            Some("ID1f2a2222772f4195948d4e8c7eda648c")
        );
    }

    #[test]
    fn tokens_that_are_not_call_sids_are_ignored() {
        for target in [
            "/restcomm/2012-04-24/Accounts/AC123/Calls.json",
            "/x/ID1f2a2222772f4195948d4e8c7eda648c",
            "/x/ID1f2a2222772f4195948d4e8c7eda648c-CA00af",
            "/x/IDzz2a2222772f4195948d4e8c7eda648c-CA00af667a2e5d4e1c8a1a4f1f1bc794cd",
            "/x/ID1f2a2222772f4195948d4e8c7eda648c-XX00af667a2e5d4e1c8a1a4f1f1bc794cd",
        ] {
            assert_eq!(keys(target, no_cookies()).instance_id, None, "{target}");
        }
    }

    #[test]
    fn the_session_route_comes_from_the_path_parameter_then_the_query_then_the_cookie() {
        let cookie: &[u8] = b"theme=dark; JSESSIONID=CK123.node-c";
        let k = keys(
            "/app/page;jsessionid=PA123.node-a?jsessionid=QU123.node-b",
            [cookie],
        );
        assert_eq!(k.session.and_then(|s| s.jvm_route), Some("node-a"));
        let k = keys("/app/page?x=1&jsessionid=QU123.node-b", [cookie]);
        assert_eq!(k.session.and_then(|s| s.jvm_route), Some("node-b"));
        let k = keys("/app/page", [cookie]);
        assert_eq!(
            k.session,
            Some(SessionId {
                value: "CK123.node-c",
                jvm_route: Some("node-c")
            })
        );
    }

    #[test]
    fn a_session_id_without_a_route_is_kept_for_hashing() {
        let cookie: &[u8] = b"jsessionid=\"ABCDEF0123\"";
        let k = keys("/app", [cookie]);
        assert_eq!(
            k.session,
            Some(SessionId {
                value: "ABCDEF0123",
                jvm_route: None
            })
        );
        let k = keys("/app;jsessionid=ABC.", no_cookies());
        assert_eq!(
            k.session.map(|s| (s.value, s.jvm_route)),
            Some(("ABC.", None))
        );
    }

    #[test]
    fn garbage_targets_and_cookies_yield_no_keys_and_never_panic() {
        let cookies: [&[u8]; 3] = [b"\xff\xfe", b";;==;", b"JSESSIONID="];
        for target in [
            "",
            "?",
            "/;",
            "/;=",
            "/?&&=&",
            "ID",
            "/ID-CA",
            "\u{e9}\u{e9}/;jsessionid=",
        ] {
            assert_eq!(keys(target, cookies), StickyKeys::default(), "{target:?}");
        }
    }
}
