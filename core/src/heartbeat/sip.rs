//! The SIP OPTIONS/INFO heartbeat of third-party servers (behaviour reference §3.5).
//!
//! The SIP forwarder recognises the request (OPTIONS or INFO on the internal leg with a
//! [`HEARTBEAT_HEADERS`] header), answers `200 OK`, and hands the body and the packet's source
//! address to [`handle_sip_heartbeat`].

use crate::registry::{AnnouncementError, NodeAnnouncement, PingOutcome, Registry};
use crate::time::Timestamp;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use thiserror::Error;

/// Header names that mark a SIP heartbeat; the reference code knows the first, its guide
/// documents the second, and both are accepted (docs/decisions.md §9.1).
pub const HEARTBEAT_HEADERS: [&str; 2] = ["Mobicents-Heartbeat", "Restcomm-Heartbeat"];

/// Largest heartbeat body accepted.
pub const MAX_SIP_HEARTBEAT_BODY: usize = 64 * 1024;

/// A SIP heartbeat that registers nothing (the request is still answered `200 OK`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SipHeartbeatError {
    /// The body exceeds [`MAX_SIP_HEARTBEAT_BODY`].
    #[error("heartbeat body too large")]
    TooLarge,
    /// The properties describe no valid node.
    #[error(transparent)]
    Announcement(#[from] AnnouncementError),
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Splits a logical line at the first unescaped `=`, `:` or whitespace (Java
/// `Properties.load` rules), returning the unescaped key and value.
fn split_line(line: &str) -> (String, String) {
    let mut escaped = false;
    let mut key_end = line.len();
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' || c.is_whitespace() {
            key_end = i;
            break;
        }
    }
    let key = &line[..key_end];
    let mut rest = line[key_end..].trim_start();
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start();
    }
    (unescape(key), unescape(rest.trim_end()))
}

/// Parses a Java `.properties` body (§3.5): `key=value` or `key: value` lines, `#`/`!`
/// comments, surrounding whitespace trimmed, backslash line continuations and escapes; the
/// bytes are read as ISO-8859-1 like `Properties.load(InputStream)`. A later duplicate key
/// wins. Never fails: unparseable lines become odd keys and are ignored by the registry.
pub fn parse_properties(body: &[u8]) -> BTreeMap<String, String> {
    let text: String = body.iter().map(|&b| char::from(b)).collect();
    let mut props = BTreeMap::new();
    let mut logical = String::new();
    for line in text.split(['\n', '\r']) {
        let piece = line.trim_start();
        if logical.is_empty() && (piece.is_empty() || piece.starts_with(['#', '!'])) {
            continue;
        }
        let trailing = piece.chars().rev().take_while(|&c| c == '\\').count();
        if trailing % 2 == 1 {
            logical.push_str(&piece[..piece.len() - 1]);
            continue;
        }
        logical.push_str(piece);
        let (key, value) = split_line(&logical);
        if !key.is_empty() {
            props.insert(key, value);
        }
        logical.clear();
    }
    if !logical.is_empty() {
        let (key, value) = split_line(&logical);
        if !key.is_empty() {
            props.insert(key, value);
        }
    }
    props
}

/// Registers or refreshes the node described by a SIP heartbeat body (§3.5) through
/// [`Registry::handle_ping`]: keyed by (ip, ports); `GRACEFUL_SHUTDOWN=true` marks a known
/// node graceful; a bad node with the same `sessionId` stays bad, a new `sessionId` replaces
/// it. `hostname` and `ip` name the node; without an `ip` property the packet's source IP is
/// used. Call for every heartbeat, after answering it `200 OK`.
pub fn handle_sip_heartbeat(
    registry: &mut Registry,
    body: &[u8],
    source: SocketAddr,
    now: Timestamp,
) -> Result<PingOutcome, SipHeartbeatError> {
    if body.len() > MAX_SIP_HEARTBEAT_BODY {
        tracing::debug!(target: "heartbeat", %source, len = body.len(), "sip heartbeat body too large");
        return Err(SipHeartbeatError::TooLarge);
    }
    let props = parse_properties(body);
    let announcement =
        NodeAnnouncement::from_properties(props, Some(source.ip())).map_err(|e| {
            tracing::debug!(target: "heartbeat", %source, error = %e, "sip heartbeat rejected");
            e
        })?;
    Ok(registry.handle_ping(announcement, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties_syntax() {
        let p = parse_properties(
            b"# comment\n! other\n  tcpPort = 5070\r\nudpPort:5071\nhostname sipHeartbeat\nlong=a\\\n   b\nesc=x\\=y\\u0041\nempty=\n",
        );
        assert_eq!(p["tcpPort"], "5070");
        assert_eq!(p["udpPort"], "5071");
        assert_eq!(p["hostname"], "sipHeartbeat");
        assert_eq!(p["long"], "ab");
        assert_eq!(p["esc"], "x=yA");
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 6);
    }

    #[test]
    fn garbage_does_not_panic() {
        let _ = parse_properties(b"\\\\\\\n\\u12\n=\n:\n\xff\xfe=\\u\n");
    }
}
