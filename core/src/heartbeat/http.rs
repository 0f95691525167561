//! The HTTP/JSON heartbeat server side as a pure request handler (behaviour reference §3.2).
//!
//! One request per connection: the driver accumulates the connection's bytes and calls
//! [`handle_http_request`] after every read until it returns [`HttpOutcome::Respond`], then
//! writes the response and closes the connection.

use super::json::{parse_command, Command, CommandError};
use crate::registry::{AnnouncementError, NodeAnnouncement, Registry, StartOutcome};
use crate::time::Timestamp;
use bytes::Bytes;
use serde_json::json;
use thiserror::Error;

/// Largest accepted body; a bigger `Content-Length` is answered with `413`.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest accepted request head; a bigger head is answered with `431`.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most header lines accepted in a request head.
const MAX_HEADERS: usize = 32;

/// The answer body for a command whose `sessionId` no live node has. Sent with status 200 as
/// `{"<command>":"UNKNOWN_SESSION"}`: the reference node client parses 200 bodies only and,
/// not seeing `OK` for its heartbeats, goes back to sending `start` after three of them
/// (docs/decisions.md §8.6).
pub const UNKNOWN_SESSION: &str = "UNKNOWN_SESSION";

/// Why a heartbeat request was refused (peer garbage; logged at debug).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HeartbeatError {
    /// Not an HTTP/1.x request head.
    #[error("malformed http request")]
    MalformedHttp,
    /// The head exceeds [`MAX_HEAD`].
    #[error("request head too large")]
    HeadTooLarge,
    /// Missing, repeated-and-different or non-numeric `Content-Length`, or chunked encoding.
    #[error("bad content-length")]
    BadContentLength,
    /// The body exceeds [`MAX_BODY`].
    #[error("body too large")]
    BodyTooLarge,
    /// The JSON body cannot be understood.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The `start` describes no valid node.
    #[error("start: {0}")]
    Announcement(#[from] AnnouncementError),
}

impl HeartbeatError {
    /// The HTTP status answering this error.
    pub fn status(&self) -> u16 {
        match self {
            HeartbeatError::HeadTooLarge => 431,
            HeartbeatError::BodyTooLarge => 413,
            HeartbeatError::MalformedHttp
            | HeartbeatError::BadContentLength
            | HeartbeatError::Command(_)
            | HeartbeatError::Announcement(_) => 400,
        }
    }
}

/// What a complete request did to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled {
    /// `start` processed.
    Start(StartOutcome),
    /// `heartbeat` refreshed this many nodes.
    Heartbeat(usize),
    /// `shutdown` marked this many nodes graceful.
    Shutdown(usize),
    /// `stop` removed this many nodes.
    Stop(usize),
    /// `switchover` queued as a registry event.
    Switchover,
    /// `heartbeat`/`shutdown`/`stop` for an unknown session (the command name is given).
    UnknownSession(&'static str),
    /// The request was refused.
    Rejected(HeartbeatError),
}

/// A complete answer to write before closing the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// The complete HTTP/1.1 response.
    pub response: Bytes,
    /// Its status code.
    pub status: u16,
    /// How many request bytes were used (head plus body).
    pub consumed: usize,
    /// What happened.
    pub handled: Handled,
}

/// Result of feeding the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    /// The head or the body is incomplete: read more and call again with all bytes so far.
    NeedMore,
    /// Write `response`, then close the connection.
    Respond(HeartbeatReply),
}

/// A complete `HTTP/1.1` response with a JSON body and `Connection: close`.
pub fn json_response(status: u16, body: &serde_json::Value) -> Bytes {
    crate::http::json_response(status, body)
}

fn reject(error: HeartbeatError, consumed: usize) -> HttpOutcome {
    tracing::debug!(target: "heartbeat", %error, "heartbeat request rejected");
    let status = error.status();
    HttpOutcome::Respond(HeartbeatReply {
        response: json_response(status, &json!({ "error": error.to_string() })),
        status,
        consumed,
        handled: Handled::Rejected(error),
    })
}

fn content_length(headers: &[httparse::Header<'_>]) -> Result<usize, HeartbeatError> {
    let mut length = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HeartbeatError::BadContentLength);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or(HeartbeatError::BadContentLength)?;
            if length.is_some_and(|l| l != v) {
                return Err(HeartbeatError::BadContentLength);
            }
            length = Some(v);
        }
    }
    Ok(length.unwrap_or(0))
}

/// Handles one heartbeat request (§3.2) given all bytes received on the connection so far.
/// Method and path are ignored; the body is dispatched on its first JSON key. Returns
/// [`HttpOutcome::NeedMore`] until the head and `Content-Length` body are complete. Answers:
/// `{"start":"OK"}`, `{"heartbeat":"OK"}`, `{"shutdown":"OK"}`, `{"stop":"OK"}`,
/// `{"switchover":"OK"}` (200); `{"<command>":"UNKNOWN_SESSION"}` (200, see
/// [`UNKNOWN_SESSION`]); `400` with `{"error":…}` for garbage, `413` for a body over
/// [`MAX_BODY`], `431` for a head over [`MAX_HEAD`]. Never panics on any input.
/// Registry changes are queued as events in `registry`.
pub fn handle_http_request(registry: &mut Registry, buf: &[u8], now: Timestamp) -> HttpOutcome {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return reject(HeartbeatError::HeadTooLarge, buf.len())
        }
        Ok(httparse::Status::Partial) => return HttpOutcome::NeedMore,
        Err(httparse::Error::TooManyHeaders) => {
            return reject(HeartbeatError::HeadTooLarge, buf.len())
        }
        Err(_) => return reject(HeartbeatError::MalformedHttp, buf.len()),
    };
    if head_len > MAX_HEAD {
        return reject(HeartbeatError::HeadTooLarge, head_len);
    }
    let length = match content_length(request.headers) {
        Ok(l) => l,
        Err(e) => return reject(e, head_len),
    };
    if length > MAX_BODY {
        return reject(HeartbeatError::BodyTooLarge, head_len);
    }
    let end = head_len + length;
    let Some(body) = buf.get(head_len..end) else {
        return HttpOutcome::NeedMore;
    };
    let command = match parse_command(body) {
        Ok(c) => c,
        Err(e) => return reject(e.into(), end),
    };
    let name = command.name();
    let handled = match apply(registry, command, now) {
        Ok(h) => h,
        Err(e) => return reject(e, end),
    };
    let answer = match handled {
        Handled::UnknownSession(_) => UNKNOWN_SESSION,
        _ => "OK",
    };
    HttpOutcome::Respond(HeartbeatReply {
        response: json_response(200, &json!({ name: answer })),
        status: 200,
        consumed: end,
        handled,
    })
}

/// Applies a decoded command to the registry.
pub fn apply(
    registry: &mut Registry,
    command: Command,
    now: Timestamp,
) -> Result<Handled, HeartbeatError> {
    let name = command.name();
    let unknown = |_| Handled::UnknownSession(name);
    Ok(match command {
        Command::Start(props) => {
            let announcement = NodeAnnouncement::from_properties(props, None)?;
            Handled::Start(registry.start(announcement, now))
        }
        Command::Heartbeat { session_id } => registry
            .heartbeat(&session_id, now)
            .map_or_else(unknown, Handled::Heartbeat),
        Command::Shutdown { session_id } => registry
            .shutdown(&session_id, now)
            .map_or_else(unknown, Handled::Shutdown),
        Command::Stop { session_id } => registry
            .stop(&session_id, now)
            .map_or_else(unknown, Handled::Stop),
        Command::Switchover {
            from_jvm_route,
            to_jvm_route,
        } => {
            registry.switchover(&from_jvm_route, &to_jvm_route);
            Handled::Switchover
        }
    })
}
