//! The balancer→node `stop` sent when the balancer shuts down (behaviour reference §3.2, §3.3).

use crate::node::{Node, NodeId};
use bytes::Bytes;
use serde_json::json;
use std::net::SocketAddr;

/// One `stop` to deliver: connect to `to`, write `request`, read the answer, close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    /// The node addressed.
    pub node: NodeId,
    /// The node's `ip` and advertised `heartbeatPort`.
    pub to: SocketAddr,
    /// The complete HTTP request (`POST / HTTP/1.1`, JSON body).
    pub request: Bytes,
}

/// The HTTP request telling one node that the balancer at `lb_host:lb_heartbeat_port` is
/// going away: `{"stop":{"ipAddress":"<lb host>","port":<lb heartbeat port>}}`.
pub fn stop_request(to: SocketAddr, lb_host: &str, lb_heartbeat_port: u16) -> Bytes {
    let body = json!({ "stop": { "ipAddress": lb_host, "port": lb_heartbeat_port } }).to_string();
    Bytes::from(format!(
        "POST / HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// Call once when the balancer shuts down (§3.3 "On LB stop"): one [`StopRequest`] for every
/// node in `nodes` that advertised a `heartbeatPort`, in the order given (pass
/// `registry.all_nodes()` for registration order). Nodes answer `{"stop":"OK"}` and go back
/// to sending `start`.
pub fn stop_requests<'a>(
    nodes: impl IntoIterator<Item = &'a Node>,
    lb_host: &str,
    lb_heartbeat_port: u16,
) -> Vec<StopRequest> {
    nodes
        .into_iter()
        .filter_map(|node| {
            let to = SocketAddr::new(node.key.ip, node.heartbeat_port?);
            Some(StopRequest {
                node: node.id,
                to,
                request: stop_request(to, lb_host, lb_heartbeat_port),
            })
        })
        .collect()
}
