//! Requests (behaviour reference §1.2–§1.16, §1.21, §1.22, §1.26; docs/decisions.md §8.1,
//! §8.2).

use super::local_response::{self, reason_phrase};
use super::record_route::{record_route, Stamp};
use super::route::{self, node_at, uri_points_to_lb, RouteAnalysis};
use super::settings::{uri_host, ForwardSettings};
use super::transactions::{Track, TxKey};
use super::via::{self, via_transport};
use super::{nat, Destination, Inbound, Tracking, Transmit};
use crate::cluster::Cluster;
use crate::forward::Leg;
use crate::heartbeat::{handle_sip_heartbeat, HEARTBEAT_HEADERS};
use crate::node::{Node, NodeId, Transport, Version};
use crate::sip::{parse_ip, EditError, Editor, HeaderName, Method, Scheme, SipMessage, Via};
use crate::time::Timestamp;
use std::net::SocketAddr;

/// `X-Sip-Balancer-InitialRemoteAddr` (§1.2).
pub const INITIAL_REMOTE_ADDR: &str = "X-Sip-Balancer-InitialRemoteAddr";
/// `X-Sip-Balancer-InitialRemotePort` (§1.2).
pub const INITIAL_REMOTE_PORT: &str = "X-Sip-Balancer-InitialRemotePort";

/// Methods answered with a stateless 100 Trying (§1.11).
const TRYING_METHODS: [Method; 7] = [
    Method::Invite,
    Method::Subscribe,
    Method::Notify,
    Method::Message,
    Method::Refer,
    Method::Publish,
    Method::Update,
];

/// A response to the request's sender, on the listening point it arrived on.
pub(super) fn reply(
    out: &mut Vec<Transmit>,
    inb: &Inbound,
    msg: &SipMessage,
    status: u16,
    extra: &[(&str, String)],
) {
    out.push(Transmit {
        leg: inb.listener.leg,
        transport: inb.listener.transport,
        ipv6: inb.listener.ipv6,
        to: Destination::Addr(inb.source),
        payload: local_response::build(msg, status, reason_phrase(status), extra),
    });
}

fn reject(
    cluster: &mut Cluster,
    out: &mut Vec<Transmit>,
    inb: &Inbound,
    msg: &SipMessage,
    status: u16,
    why: &str,
) {
    tracing::debug!(source = %inb.source, status, why, "request rejected");
    cluster.stats_mut().rejected += 1;
    if msg.method() != Some(Method::Ack) {
        reply(out, inb, msg, status, &[]);
    }
}

/// Within `startupGracePeriod`, leaves a request that arrived over UDP unanswered, counted,
/// for the caller to retransmit once the nodes have re-registered; true if it did. Streams are
/// answered at once, since their callers do not retransmit.
fn held_for_retransmission(cluster: &mut Cluster, inb: &Inbound) -> bool {
    if inb.listener.transport != Transport::Udp {
        return false;
    }
    tracing::debug!(source = %inb.source, "node not registered yet: left to the caller's retransmission");
    cluster.stats_mut().held_at_startup += 1;
    true
}

/// The answer when no node can take a request (docs/decisions.md §8.2): `503 Service Unavailable`
/// (status from `isSend5xxResponseSatusCode`) with `Retry-After`; ACK is never answered.
/// Within `startupGracePeriod`, a balancer that knows no live node at all leaves a request
/// that came over UDP unanswered: the caller retransmits it, and a restarted balancer's nodes
/// re-register within a heartbeat or two.
fn no_node(
    s: &ForwardSettings,
    cluster: &mut Cluster,
    out: &mut Vec<Transmit>,
    inb: &Inbound,
    msg: &SipMessage,
    in_grace: bool,
) {
    if in_grace && cluster.registry().is_empty() && held_for_retransmission(cluster, inb) {
        return;
    }
    tracing::debug!(source = %inb.source, "no node available");
    cluster.stats_mut().rejected += 1;
    if msg.method() != Some(Method::Ack) {
        let status = s.send_5xx_status_code;
        reply(
            out,
            inb,
            msg,
            status,
            &[("Retry-After", s.no_node_retry_after.to_string())],
        );
    }
}

/// Entry point for one parsed request.
pub(super) fn handle(
    s: &ForwardSettings,
    cluster: &mut Cluster,
    msg: &SipMessage,
    inb: &Inbound,
    now: Timestamp,
    out: &mut Vec<Transmit>,
    trk: &mut Tracking<'_>,
) {
    let Ok(top_via) = msg.top_via() else {
        tracing::debug!(source = %inb.source, "request without a readable Via dropped");
        cluster.stats_mut().rejected += 1;
        return;
    };
    if !msg.is_sip_2_0() {
        return reject(cluster, out, inb, msg, 505, "SIP version");
    }
    if let Err(e) = msg.check_mandatory() {
        tracing::debug!(error = %e, "missing or malformed mandatory header");
        return reject(cluster, out, inb, msg, 400, "mandatory headers");
    }
    let method = msg.method().unwrap_or(Method::Other);
    let from_server = is_from_server(s, cluster, &top_via, inb);

    // §1.2.1 / §3.5: SIP heartbeat, on the internal leg only.
    if s.two_entry_points
        && inb.listener.leg == Leg::Internal
        && matches!(method, Method::Options | Method::Info)
        && HEARTBEAT_HEADERS
            .iter()
            .any(|h| msg.get_by_name(h).is_some())
    {
        let outcome = cluster.update_registry(now, |r| {
            handle_sip_heartbeat(r, msg.body(), inb.source, now)
        });
        if let Err(e) = outcome {
            tracing::debug!(source = %inb.source, error = %e, "SIP heartbeat registered nothing");
        }
        reply(out, inb, msg, 200, &[]);
        return;
    }

    if !trk.replay {
        cluster.stats_mut().count_request(
            std::str::from_utf8(msg.method_bytes()).unwrap_or("OTHER"),
            msg.body().len(),
        );
    }

    let mut ed = Editor::new(msg);
    // §1.4 with the fix of docs/decisions.md §8.1: 0 → 483 and stop; CANCEL untouched.
    if method != Method::Cancel {
        match ed.decrement_max_forwards() {
            Ok(_) => {}
            Err(EditError::MaxForwardsExhausted) => {
                tracing::debug!(source = %inb.source, "Max-Forwards exhausted");
                if method != Method::Ack {
                    reply(out, inb, msg, 483, &[]);
                }
                return;
            }
            Err(_) => return reject(cluster, out, inb, msg, 400, "Max-Forwards"),
        }
    }

    // §1.2.2: the client's address for the node; never passed on from a node, and a
    // client's own copies are dropped so they cannot be forged.
    for (i, slot) in msg.headers().iter().enumerate() {
        let name = msg.name_bytes(slot);
        if name.eq_ignore_ascii_case(INITIAL_REMOTE_ADDR.as_bytes())
            || name.eq_ignore_ascii_case(INITIAL_REMOTE_PORT.as_bytes())
        {
            let _ = ed.remove_header(i);
        }
    }
    if !from_server && (!msg.body().is_empty() || method == Method::Register) {
        ed.append_header(INITIAL_REMOTE_ADDR, &inb.source.ip().to_string());
        ed.append_header(INITIAL_REMOTE_PORT, &inb.source.port().to_string());
    }

    let via_t = via_transport(&top_via);
    let ipv6 = inb.listener.ipv6;
    let Ok(ra) = route::analyse(s, cluster, msg, via_t, ipv6) else {
        return reject(cluster, out, inb, msg, 400, "malformed Route");
    };
    let subsequent = msg.to().ok().and_then(|t| t.tag()).is_some();
    if subsequent && method != Method::Ack && ra.popped_lb != 2 {
        tracing::debug!(
            popped = ra.popped_lb,
            "subsequent request without the two balancer Routes"
        );
    }
    let ctx = Ctx {
        s,
        inb,
        msg,
        method,
        subsequent,
        ipv6,
        via_t,
        now,
    };
    if from_server {
        node_request(&ctx, cluster, ed, &top_via, &ra, out, trk);
    } else {
        client_request(&ctx, cluster, ed, &ra, out, trk);
    }
}

struct Ctx<'a> {
    s: &'a ForwardSettings,
    inb: &'a Inbound,
    msg: &'a SipMessage,
    method: Method,
    subsequent: bool,
    ipv6: bool,
    via_t: Transport,
    now: Timestamp,
}

/// §1.3: two entry points → the internal leg; single entry point → the top Via names an
/// `extraServerNodes` entry or a live node (IP or host name, and its port for the Via
/// transport as mapped by `internalTransport`/TLS termination).
fn is_from_server(s: &ForwardSettings, cluster: &Cluster, via: &Via<'_>, inb: &Inbound) -> bool {
    if s.two_entry_points {
        return inb.listener.leg == Leg::Internal;
    }
    let t = s.inner_transport(via_transport(via));
    let port = via.port.unwrap_or_else(|| via::default_port(t));
    let ip = parse_ip(via.host);
    if ip.is_some_and(|ip| cluster.registry().is_extra_server(ip, port)) {
        return true;
    }
    let host = String::from_utf8_lossy(via.host);
    cluster.registry().all_nodes().any(|n| {
        (Some(n.key.ip) == ip || n.host_name.eq_ignore_ascii_case(&host))
            && n.key.ports.sip(t) == Some(port)
    })
}

/// The node that sent a request (top Via host:port, else the packet source), refreshed as
/// alive (§1.3: SIP traffic from a node counts like a heartbeat).
fn sending_node(
    cluster: &mut Cluster,
    via: &Via<'_>,
    source: SocketAddr,
    now: Timestamp,
) -> Option<NodeId> {
    let t = via_transport(via);
    let port = via.port.unwrap_or_else(|| via::default_port(t));
    let by_via = parse_ip(via.host).or_else(|| {
        let host = String::from_utf8_lossy(via.host);
        cluster
            .registry()
            .all_nodes()
            .find(|n| n.host_name.eq_ignore_ascii_case(&host))
            .map(|n| n.key.ip)
    });
    cluster.update_registry(now, |r| {
        by_via
            .and_then(|ip| r.touch_by_addr(ip, port, now))
            .or_else(|| r.touch_by_addr(source.ip(), source.port(), now))
    })
}

/// Removes the first `n` Route values (popped Routes are always a prefix).
fn pop_routes(ed: &mut Editor<'_>, ra: &RouteAnalysis, n: usize) {
    let refs: Vec<crate::sip::ValueRef> = ra.entries.iter().map(|e| e.at.clone()).collect();
    if super::remove_prefix(ed, &refs, n).is_err() {
        tracing::debug!("could not remove a Route value");
    }
}

/// True if the balancer answers this request with its own `100 Trying` (§1.11), and so owns
/// its delivery (docs/decisions.md, "Node failure").
fn trying_sent(ctx: &Ctx<'_>) -> bool {
    ctx.s.send_trying && TRYING_METHODS.contains(&ctx.method)
}

fn send_trying(ctx: &Ctx<'_>, out: &mut Vec<Transmit>, trk: &Tracking<'_>) {
    if trying_sent(ctx) && !trk.replay {
        reply(out, ctx.inb, ctx.msg, 100, &[]);
    }
}

fn finish(cluster: &mut Cluster, ed: Editor<'_>) -> Option<bytes::Bytes> {
    match ed.finish() {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::debug!(error = %e, "request could not be rewritten");
            cluster.stats_mut().rejected += 1;
            None
        }
    }
}

fn version_or_latest(cluster: &Cluster, hint: Option<&Version>) -> Version {
    hint.cloned()
        .or_else(|| cluster.registry().latest_version().cloned())
        .unwrap_or_default()
}

/// §1.9: a request from a node toward the client side.
fn node_request(
    ctx: &Ctx<'_>,
    cluster: &mut Cluster,
    mut ed: Editor<'_>,
    top_via: &Via<'_>,
    ra: &RouteAnalysis,
    out: &mut Vec<Transmit>,
    trk: &mut Tracking<'_>,
) {
    let (s, msg) = (ctx.s, ctx.msg);
    pop_routes(&mut ed, ra, ra.popped);
    let sender = sending_node(cluster, top_via, ctx.inb.source, ctx.now);
    if let Some(id) = sender {
        trk.transactions.heard_from(id, ctx.now);
    }
    // The dialog owner: the node named in the Route, else (an improvement over the
    // reference, which left the Record-Route unstamped) the node that sent the request.
    let owner: Option<Node> = ra.hint.or(sender).and_then(|id| cluster.node(id)).cloned();
    let version = owner
        .as_ref()
        .map(|n| n.version.clone())
        .unwrap_or_else(|| version_or_latest(cluster, ra.version_hint.as_ref()));
    let ruri = msg.request_uri().ok();
    let remaining = ra.remaining(msg);
    let param_t = |u: &crate::sip::Uri<'_>| {
        u.transport()
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(Transport::parse)
    };
    // §1.5 outer transport.
    let ruri_t = ruri.as_ref().and_then(param_t);
    let outer = ruri_t
        .or_else(|| remaining.as_ref().and_then(|r| param_t(&r.uri)))
        .unwrap_or(ctx.via_t);
    let sip_ruri = ruri.filter(|u| matches!(u.scheme, Scheme::Sip | Scheme::Sips));
    let Some(next_hop) = remaining.map(|r| r.uri).or(sip_ruri) else {
        return reject(cluster, out, ctx.inb, msg, 416, "no SIP next hop");
    };
    send_trying(ctx, out, trk);
    // §1.14 loop detection.
    if uri_points_to_lb(s, &next_hop, ctx.via_t, ctx.ipv6) {
        tracing::debug!(source = %ctx.inb.source, "cannot forward to the balancer itself: dropped");
        cluster.stats_mut().rejected += 1;
        return;
    }
    let dest_host = String::from_utf8_lossy(next_hop.host).into_owned();
    let private =
        s.use_private_addresses(Some(super::settings::strip_brackets(&dest_host)), ctx.ipv6);

    via::stamp_received(
        &mut ed,
        msg,
        ctx.inb.source,
        false,
        s.never_add_received_rport,
    );
    let dialog_creating = matches!(ctx.method, Method::Invite | Method::Subscribe);
    if dialog_creating && !ctx.subsequent {
        let stamp = owner.as_ref().and_then(|n| {
            n.key.ports.sip(ctx.via_t).map(|port| Stamp {
                ip: n.key.ip,
                port,
                version: &n.version,
            })
        });
        let ext_t = ruri_t.unwrap_or(ctx.via_t);
        let public = s.public_ip(ctx.ipv6);
        // Node → client: the external Record-Route on top, then the internal one.
        if let Some(rr) = record_route(s, Leg::External, ext_t, ctx.ipv6, private, stamp, public) {
            ed.push_header(HeaderName::RecordRoute, &rr);
        }
        if let Some(rr) = record_route(s, Leg::Internal, ctx.via_t, ctx.ipv6, private, stamp, None)
        {
            ed.push_header(HeaderName::RecordRoute, &rr);
        }
        nat::patch_for_nat(&mut ed, msg, s, ctx.ipv6, outer);
    }
    let base = via::branch_base(msg);
    // Node → client: the external Via on top, then the internal one.
    let ext_branch = via::branch(&base, Leg::External, &version);
    let ext_via = via::lb_via(s, Leg::External, outer, ctx.ipv6, private, &ext_branch);
    let int_via = via::lb_via(
        s,
        Leg::Internal,
        ctx.via_t,
        ctx.ipv6,
        private,
        &via::branch(&base, Leg::Internal, &version),
    );
    ed.push_header(HeaderName::Via, &ext_via);
    ed.push_header(HeaderName::Via, &int_via);
    let Some(payload) = finish(cluster, ed) else {
        return;
    };
    let port = next_hop.port.unwrap_or_else(|| via::default_port(outer));
    let to = match next_hop.host_ip() {
        Some(ip) => Destination::Addr(SocketAddr::new(ip, port)),
        None => Destination::Name {
            host: dest_host,
            port,
        },
    };
    let sent = Transmit {
        leg: s.out_leg(Leg::External),
        transport: outer,
        ipv6: ctx.ipv6,
        to,
        payload,
    };
    // A request the balancer acknowledged is its to deliver over UDP toward the client.
    if trying_sent(ctx) && outer == Transport::Udp {
        let key = TxKey {
            branch: ext_branch,
            cancel: false,
        };
        let track = Track {
            node: None,
            invite: ctx.method == Method::Invite,
            sent: sent.clone(),
            owned: true,
            replay: None,
        };
        trk.transactions
            .track(key, track, s.invite_failover_timeout, ctx.now);
    }
    out.push(sent);
}

/// True if the User-Agent, To or From contains a `blockedValues` entry (case-insensitive).
fn is_blocked(s: &ForwardSettings, msg: &SipMessage) -> bool {
    if s.blocked_values.is_empty() {
        return false;
    }
    [
        msg.user_agent(),
        msg.get(HeaderName::To),
        msg.get(HeaderName::From),
    ]
    .into_iter()
    .flatten()
    .any(|v| {
        let v = String::from_utf8_lossy(v).to_ascii_lowercase();
        s.blocked_values.iter().any(|b| v.contains(b.as_str()))
    })
}

/// §1.10: a request from a client toward a node.
fn client_request(
    ctx: &Ctx<'_>,
    cluster: &mut Cluster,
    mut ed: Editor<'_>,
    ra: &RouteAnalysis,
    out: &mut Vec<Transmit>,
    trk: &mut Tracking<'_>,
) {
    let (s, msg, now) = (ctx.s, ctx.msg, ctx.now);
    let is_ack = ctx.method == Method::Ack;
    let outer = ctx.inb.listener.transport;
    let inner = s.inner_transport(outer);
    let ruri = msg.request_uri().ok();
    if !ctx.subsequent && ruri.as_ref().is_none_or(|u| u.scheme == Scheme::Other) {
        return reject(cluster, out, ctx.inb, msg, 416, "Request-URI scheme");
    }
    // A restarted balancer does not know the dialog's node yet: within the start-up grace, a
    // UDP request is left to the caller's retransmission rather than failed over to a node
    // that has no such dialog (the owner re-registers within a heartbeat or two).
    if ra.owner_dead && trk.in_grace && held_for_retransmission(cluster, ctx.inb) {
        return;
    }
    let remaining = ra.remaining(msg);
    let mut version = version_or_latest(cluster, ra.version_hint.as_ref());
    // Routed again because the dialog owner refused the connection it needed (it is now
    // suspect): the dialog fails over like one whose owner is gone (behaviour reference
    // §1.22), instead of being sent to the same node once more.
    let refused_owner = trk.replay
        && ra
            .hint
            .and_then(|id| cluster.node(id))
            .is_some_and(|n| n.suspect);
    let usable = |n: &NodeId| !refused_owner || Some(*n) != ra.hint;
    // A.: live dialog owner; B.1–B.3: explicit addressing of a live node.
    let mut assigned: Option<NodeId> = ra.hint.filter(usable);
    let mut popped_assigned: Option<(Vec<u8>, Option<u16>)> = None;
    if assigned.is_none() {
        if let Some(n) = remaining
            .as_ref()
            .and_then(|r| node_at(cluster, &r.uri))
            .filter(usable)
        {
            assigned = Some(n);
        } else if ctx.subsequent {
            if let Some(r) = remaining.as_ref() {
                popped_assigned = Some((r.uri.host.to_vec(), r.uri.port));
            } else {
                assigned = ruri
                    .as_ref()
                    .and_then(|u| node_at(cluster, u))
                    .filter(usable);
            }
        } else {
            assigned = ruri
                .as_ref()
                .and_then(|u| node_at(cluster, u))
                .filter(usable);
        }
    }
    if let Some(v) = assigned
        .and_then(|id| cluster.node(id))
        .map(|n| n.version.clone())
    {
        version = v;
    }
    let (node_id, selected_new) = match assigned {
        Some(h) => {
            if ra.hint == Some(h) && !is_ack {
                cluster.assign(&version, msg, h, now);
            }
            (
                cluster.select_assigned(&version, ctx.ipv6, msg, h, now),
                false,
            )
        }
        None => {
            if is_blocked(s, msg) {
                // The reference fell through to "no node"; Switchboard answers 403.
                return reject(cluster, out, ctx.inb, msg, 403, "blocked scanner");
            }
            match cluster.select_new(&version, ctx.ipv6, msg, now) {
                Some(n) => (n, true),
                None => return no_node(s, cluster, out, ctx.inb, msg, trk.in_grace),
            }
        }
    };
    let base = via::branch_base(msg);
    // A CANCEL, or the ACK of a final error response, follows its INVITE where it was moved
    // after a silent node (RFC 3261 §9.1, §17.1.1.3).
    let node_id = match ctx.method {
        Method::Cancel | Method::Ack if ra.hint.is_none() => {
            let key = TxKey {
                branch: via::branch(&base, Leg::Internal, &version),
                cancel: false,
            };
            trk.transactions
                .moved_to(&key)
                .filter(|n| cluster.node(*n).is_some())
                .unwrap_or(node_id)
        }
        _ => node_id,
    };
    let Some(node) = cluster.node(node_id).cloned() else {
        return no_node(s, cluster, out, ctx.inb, msg, trk.in_grace);
    };
    let Some(node_port) = node.key.ports.sip(inner) else {
        tracing::debug!(
            node = node.id.0,
            transport = inner.as_str(),
            "node has no port for the transport"
        );
        return no_node(s, cluster, out, ctx.inb, msg, trk.in_grace);
    };
    pop_routes(
        &mut ed,
        ra,
        ra.popped + usize::from(popped_assigned.is_some()),
    );
    let node_host = uri_host(&node.key.ip.to_string());
    let route_value = format!(
        "<sip:{node_host}:{node_port};transport={};lr>",
        inner.as_str().to_ascii_lowercase()
    );
    let remaining_after = ra.remaining_count() - usize::from(popped_assigned.is_some());
    if let Some(u) = ruri.as_ref() {
        let ruri_is_lb = uri_points_to_lb(s, u, ctx.via_t, ctx.ipv6);
        let ruri_is_node = u.host_ip() == Some(node.key.ip) && u.port.unwrap_or(5060) == node_port;
        if !selected_new {
            if remaining_after == 0 && ruri_is_lb {
                let _ = ed.set_uri_host_port(u, &node_host, Some(node_port));
            }
            let top_is_node = remaining.as_ref().is_some_and(|r| {
                r.uri.host_ip() == Some(node.key.ip) && r.uri.port == Some(node_port)
            });
            if ctx.subsequent && !ruri_is_node && !top_is_node {
                ed.push_header(HeaderName::Route, &route_value);
            }
        } else if !ruri_is_lb || remaining_after > 0 {
            ed.push_header(HeaderName::Route, &route_value);
            if popped_assigned
                .as_ref()
                .is_some_and(|(h, p)| h.as_slice() == u.host && *p == u.port)
            {
                let _ = ed.set_uri_host_port(u, &node_host, Some(node_port));
            }
        } else {
            let _ = ed.set_uri_host_port(u, &node_host, Some(node_port));
        }
    }
    send_trying(ctx, out, trk);
    let private = s.use_private_addresses(Some(&ctx.inb.source.ip().to_string()), ctx.ipv6);
    via::stamp_received(
        &mut ed,
        msg,
        ctx.inb.source,
        outer.is_connection_oriented(),
        s.never_add_received_rport,
    );
    if matches!(ctx.method, Method::Invite | Method::Subscribe) && !ctx.subsequent {
        let stamp = Some(Stamp {
            ip: node.key.ip,
            port: node_port,
            version: &node.version,
        });
        // Client → node: the internal Record-Route on top, then the external one.
        if let Some(rr) = record_route(s, Leg::Internal, inner, ctx.ipv6, private, stamp, None) {
            ed.push_header(HeaderName::RecordRoute, &rr);
        }
        if let Some(rr) = record_route(s, Leg::External, outer, ctx.ipv6, private, stamp, None) {
            ed.push_header(HeaderName::RecordRoute, &rr);
        }
    }
    if s.terminate_tls || s.internal_transport.is_some() {
        nat::contact_transport(&mut ed, msg, outer);
    }
    // Client → node: the internal Via on top, then the external one.
    let int_branch = via::branch(&base, Leg::Internal, &node.version);
    let int_via = via::lb_via(s, Leg::Internal, inner, ctx.ipv6, private, &int_branch);
    let ext_via = via::lb_via(
        s,
        Leg::External,
        outer,
        ctx.ipv6,
        private,
        &via::branch(&base, Leg::External, &node.version),
    );
    ed.push_header(HeaderName::Via, &int_via);
    ed.push_header(HeaderName::Via, &ext_via);
    let Some(payload) = finish(cluster, ed) else {
        return;
    };
    if !is_ack {
        // §1.20: count the request for the active health check.
        cluster.update_registry(now, |r| r.record_request_sent(node.id, now));
    }
    cluster.stats_mut().count_forwarded_to(node.id);
    let sent = Transmit {
        leg: s.out_leg(Leg::Internal),
        transport: inner,
        ipv6: ctx.ipv6,
        to: Destination::Addr(SocketAddr::new(node.key.ip, node_port)),
        payload,
    };
    if !is_ack {
        let owned = trying_sent(ctx);
        let invite = ctx.method == Method::Invite;
        let key = TxKey {
            branch: int_branch,
            cancel: ctx.method == Method::Cancel,
        };
        let track = Track {
            node: Some(node.id),
            invite,
            sent: sent.clone(),
            owned,
            replay: (owned && invite && !ctx.subsequent).then(|| ctx.inb.clone()),
        };
        trk.transactions
            .track(key, track, s.invite_failover_timeout, now);
    }
    out.push(sent);
}

/// Timer B/F fired for a request the balancer acknowledged with `100 Trying` and nothing
/// answered (docs/decisions.md, "Node failure"): its sender gets `408 Request Timeout` (RFC
/// 3261 §16.7 step 6: a proxy's client transaction timing out is a 408), or the
/// `isSend5xxResponse` status when that is on.
pub(super) fn answer_timeout(
    s: &ForwardSettings,
    cluster: &mut Cluster,
    sent: &Transmit,
    out: &mut Vec<Transmit>,
) {
    let status = if s.send_5xx_response {
        s.send_5xx_status_code
    } else {
        408
    };
    answer_upstream(s, cluster, sent, status, out);
}

/// §1.16: a forwarded request could not be sent.
pub(super) fn send_failure(
    s: &ForwardSettings,
    cluster: &mut Cluster,
    failed: &Transmit,
    out: &mut Vec<Transmit>,
) {
    tracing::debug!(to = ?failed.to, transport = failed.transport.as_str(), "send failed");
    if !s.send_5xx_response {
        return;
    }
    answer_upstream(s, cluster, failed, s.send_5xx_status_code, out);
}

/// Answers a forwarded request (not ACK) toward its sender with `status`, from the copy that
/// was sent: the balancer's two Vias are left out of the answer, and with
/// `isSend5xxResponseReasonHeader` a `Reason` header is added.
fn answer_upstream(
    s: &ForwardSettings,
    cluster: &mut Cluster,
    failed: &Transmit,
    status: u16,
    out: &mut Vec<Transmit>,
) {
    let Ok(msg) = SipMessage::parse_with(failed.payload.clone(), &s.parse_limits) else {
        return;
    };
    if !msg.is_request() || msg.method() == Some(Method::Ack) {
        return;
    }
    let vias: Vec<_> = msg.vias().collect();
    let ipv6 = failed.ipv6;
    let ours = |v: Option<&Result<Via<'_>, _>>| {
        v.and_then(|r| r.as_ref().ok())
            .is_some_and(|v| via::is_lb_via(s, v, ipv6))
    };
    if !(ours(vias.first()) && ours(vias.get(1))) {
        return;
    }
    let Some(Ok(sender)) = vias.get(2) else {
        return;
    };
    let mut extra = Vec::new();
    if let Some(reason) = &s.send_5xx_reason {
        extra.push((
            "Reason",
            format!(
                "{};cause={};text=\"{}\"",
                failed.transport.as_str(),
                status,
                reason
            ),
        ));
    }
    let payload =
        local_response::build_skipping_vias(&msg, 2, status, reason_phrase(status), &extra);
    let toward = match failed.leg {
        Leg::Internal => Leg::External,
        Leg::External => Leg::Internal,
    };
    cluster.stats_mut().wire_bytes_out += payload.len() as u64;
    out.push(Transmit {
        leg: s.out_leg(toward),
        transport: via_transport(sender),
        ipv6,
        to: via::response_destination(sender),
        payload,
    });
}
