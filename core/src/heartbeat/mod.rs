//! The heartbeat protocols as pure request handlers (behaviour reference §3.2, §3.5).
//!
//! - [`http`]: the HTTP/JSON heartbeat server (port 2610 by default): bytes of one request in,
//!   a complete HTTP/1.1 response out, registry updated ([`handle_http_request`]).
//! - [`json`]: decoding of the JSON body, dispatched on its first key.
//! - [`stop`]: the balancer→node `stop` sent on balancer shutdown ([`stop_requests`]).
//! - [`sip`]: the SIP OPTIONS/INFO heartbeat body (`key=value` lines) ([`handle_sip_heartbeat`]).
//!
//! Nothing here does I/O: the driver owns the sockets and passes bytes and `now`.

pub mod http;
pub mod json;
pub mod sip;
pub mod stop;

pub use http::{
    apply, handle_http_request, json_response, Handled, HeartbeatError, HeartbeatReply,
    HttpOutcome, MAX_BODY, MAX_HEAD, UNKNOWN_SESSION,
};
pub use json::{parse_command, Command, CommandError};
pub use sip::{
    handle_sip_heartbeat, parse_properties, SipHeartbeatError, HEARTBEAT_HEADERS,
    MAX_SIP_HEARTBEAT_BODY,
};
pub use stop::{stop_request, stop_requests, StopRequest};
