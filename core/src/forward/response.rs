//! Responses (behaviour reference §1.17, §1.19, §1.20, §1.15 NAT/Nexmo).
//!
//! 1. The balancer's Vias are stripped (the top one must be ours; the next one too if ours),
//!    and the response goes statelessly to the new top Via's `received`/`rport`.
//! 2. Direction comes from the removed top Via: an internal-leg Via (branch containing
//!    `zsd_`) means the request came from a client, so the response travels from a node
//!    toward the client. This replaces the reference's inverted single-entry rule.
//! 3. Toward the client: the sending node is refreshed as alive, its health-check counter
//!    reset (§1.20) and error statuses counted (§1.19); `publicIp` patch (§1.15).
//! 4. Toward a node: `X-Sip-Balancer-InitialRemote*` headers, `isUseWithNexmo` patch, and
//!    failover of the response to a live node when the node in the Via is gone
//!    (`Algorithm::response_target`), except for `responsesStatusCodeNodeRemoval` statuses.

use super::probe::PROBE_BRANCH_PREFIX;
use super::request::{INITIAL_REMOTE_ADDR, INITIAL_REMOTE_PORT};
use super::settings::{uri_host, ForwardSettings};
use super::transactions::{Answer, TxKey};
use super::via::{self, via_transport};
use super::{nat, Destination, Inbound, Tracking, Transmit};
use crate::algorithm::ResponseDirection;
use crate::cluster::Cluster;
use crate::forward::Leg;
use crate::node::{NodeId, Version};
use crate::sip::{Editor, HeaderName, Method, SipMessage, Via};
use crate::time::Timestamp;
use std::net::SocketAddr;

fn drop(cluster: &mut Cluster, inb: &Inbound, why: &str) {
    tracing::debug!(source = %inb.source, why, "response dropped");
    cluster.stats_mut().rejected += 1;
}

/// Entry point for one parsed response.
pub(super) fn handle(
    s: &ForwardSettings,
    cluster: &mut Cluster,
    msg: &SipMessage,
    inb: &Inbound,
    now: Timestamp,
    out: &mut Vec<Transmit>,
    trk: &mut Tracking<'_>,
) {
    let Tracking {
        transactions,
        prober,
        ..
    } = trk;
    if !msg.is_sip_2_0() || msg.check_mandatory().is_err() {
        return drop(cluster, inb, "malformed response");
    }
    let status = msg.status_code().unwrap_or(0);
    cluster.stats_mut().count_response(status, msg.body().len());
    let ipv6 = inb.listener.ipv6;
    let vias: Vec<(crate::sip::ValueRef, Via<'_>)> = msg
        .values(HeaderName::Via)
        .filter_map(|v| Via::parse(msg.slice(v.range.clone())).ok().map(|p| (v, p)))
        .collect();
    let Some((_, top)) = vias.first() else {
        return drop(cluster, inb, "no Via");
    };
    if let Some(branch) = top
        .branch
        .filter(|b| b.starts_with(PROBE_BRANCH_PREFIX.as_bytes()))
    {
        // The answer to a probe of the balancer's own: it goes nowhere.
        if let Some(id) = sending_node(cluster, inb.source, now) {
            transactions.heard_from(id, now);
        }
        if !prober.reply(s, cluster, branch, status, now) {
            drop(cluster, inb, "answer to an unknown probe");
        }
        return;
    }
    if !via::is_lb_via(s, top, ipv6) {
        return drop(cluster, inb, "top Via is not the balancer's");
    }
    let toward_client = top.branch.is_some_and(via::is_internal_branch);
    let version: Option<Version> = top.branch.and_then(via::version_from_branch);
    let ours = 1 + usize::from(vias.get(1).is_some_and(|(_, v)| via::is_lb_via(s, v, ipv6)));
    let Some((_, next)) = vias.get(ours) else {
        return drop(cluster, inb, "no Via after the balancer's");
    };
    let version = version
        .or_else(|| cluster.registry().latest_version().cloned())
        .unwrap_or_default();
    let mut ed = Editor::new(msg);
    let refs: Vec<crate::sip::ValueRef> = vias.iter().map(|(at, _)| at.clone()).collect();
    if super::remove_prefix(&mut ed, &refs, ours).is_err() {
        return drop(cluster, inb, "could not strip the balancer's Via");
    }
    let error_status = s.error_status_codes.contains(&status);
    let sender = toward_client
        .then(|| sending_node(cluster, inb.source, now))
        .flatten();
    if let Some(id) = sender {
        transactions.heard_from(id, now);
    }
    if let Some(branch) = top.branch.filter(|_| !transactions.is_idle()) {
        let key = TxKey {
            branch: String::from_utf8_lossy(branch).into_owned(),
            cancel: msg.cseq().is_ok_and(|c| c.method == Method::Cancel),
        };
        match transactions.answered(&key, sender, now) {
            Answer::FromAbandoned => {
                // The INVITE went to another node after this one stayed silent; the caller
                // must not see two answers.
                if let Some(id) = sender {
                    cluster.update_registry(now, |r| r.record_response(id, now));
                }
                return drop(
                    cluster,
                    inb,
                    "response of a node the INVITE was moved away from",
                );
            }
            Answer::First {
                node: Some(id),
                elapsed,
            } => cluster.stats_mut().observe_response_time(id, elapsed),
            Answer::First { node: None, .. } | Answer::Untracked => {}
        }
    }
    if toward_client {
        if let Some(id) = sender {
            cluster.update_registry(now, |r| {
                r.record_response(id, now);
                r.record_error_response(id, status, now);
            });
            cluster.stats_mut().count_relayed_from(id);
        }
        let transport = via_transport(next);
        nat::patch_for_nat(&mut ed, msg, s, ipv6, transport);
        if !error_status {
            let _ = cluster.response_target(
                &version,
                ipv6,
                msg,
                ResponseDirection::TowardClient,
                sender,
                now,
            );
        }
        let Ok(payload) = ed.finish() else {
            return drop(cluster, inb, "rewrite failed");
        };
        out.push(Transmit {
            leg: s.out_leg(Leg::External),
            transport,
            ipv6,
            to: via::response_destination(next),
            payload,
        });
        return;
    }
    // Toward a node.
    ed.append_header(INITIAL_REMOTE_ADDR, &inb.source.ip().to_string());
    ed.append_header(INITIAL_REMOTE_PORT, &inb.source.port().to_string());
    let transport = via_transport(next);
    let via_node: Option<NodeId> = via::via_addr(next)
        .and_then(|(ip, port)| cluster.registry().find_by_addr(ip, port))
        .map(|n| n.id);
    let target = if error_status {
        None
    } else {
        cluster.response_target(
            &version,
            ipv6,
            msg,
            ResponseDirection::TowardNode,
            via_node,
            now,
        )
    };
    let mut to = via::response_destination(next);
    match target.filter(|t| Some(*t) != via_node) {
        Some(t) => {
            let Some(node) = cluster.node(t).cloned() else {
                return drop(cluster, inb, "failover node vanished");
            };
            let port = node.key.ports.sip(transport).or_else(|| {
                crate::node::Transport::ALL
                    .into_iter()
                    .find_map(|x| node.key.ports.sip(x))
            });
            let Some(port) = port else {
                return drop(cluster, inb, "failover node has no SIP port");
            };
            tracing::debug!(node = t.0, "response redirected to a live node");
            // Rewrite the Via's sent-by to the live node, without received/rport.
            let rewritten = rewrite_via(next, &uri_host(&node.key.ip.to_string()), port);
            if let Some((at, _)) = vias.get(ours) {
                if ed.replace_range(at.range.clone(), &rewritten).is_err() {
                    return drop(cluster, inb, "could not redirect the response");
                }
            }
            to = Destination::Addr(SocketAddr::new(node.key.ip, port));
        }
        None if s.use_with_nexmo => {
            let _ = ed.remove_param(next.params, "received");
            let _ = ed.remove_param(next.params, "rport");
            to = sent_by_destination(next);
        }
        None => {}
    }
    let Ok(payload) = ed.finish() else {
        return drop(cluster, inb, "rewrite failed");
    };
    out.push(Transmit {
        leg: s.out_leg(Leg::Internal),
        transport,
        ipv6,
        to,
        payload,
    });
}

/// The node a response came from (source ip:port; else the only live node with that IP,
/// since stream connections from nodes use ephemeral ports), refreshed as alive.
fn sending_node(cluster: &mut Cluster, source: SocketAddr, now: Timestamp) -> Option<NodeId> {
    let by_addr =
        cluster.update_registry(now, |r| r.touch_by_addr(source.ip(), source.port(), now));
    if by_addr.is_some() {
        return by_addr;
    }
    let same_ip: Vec<NodeId> = cluster
        .registry()
        .all_nodes()
        .filter(|n| n.key.ip == source.ip())
        .map(|n| n.id)
        .collect();
    let [first] = same_ip[..] else {
        return None;
    };
    cluster.update_registry(now, |r| r.touch(first, now));
    Some(first)
}

/// The Via value with its sent-by replaced and `received`/`rport` dropped.
fn rewrite_via(via: &Via<'_>, host: &str, port: u16) -> String {
    let params: String = via
        .params()
        .filter(|p| {
            !p.name.eq_ignore_ascii_case(b"received") && !p.name.eq_ignore_ascii_case(b"rport")
        })
        .map(|p| match p.value {
            Some(v) => format!(
                ";{}={}",
                String::from_utf8_lossy(p.name),
                String::from_utf8_lossy(v)
            ),
            None => format!(";{}", String::from_utf8_lossy(p.name)),
        })
        .collect();
    format!(
        "{}/{}/{} {host}:{port}{params}",
        String::from_utf8_lossy(via.protocol),
        String::from_utf8_lossy(via.version),
        via_transport(via).as_str()
    )
}

/// The Via's sent-by as a destination (used once `received`/`rport` are removed).
fn sent_by_destination(via: &Via<'_>) -> Destination {
    let port = via
        .port
        .unwrap_or_else(|| via::default_port(via_transport(via)));
    match crate::sip::parse_ip(via.host) {
        Some(ip) => Destination::Addr(SocketAddr::new(ip, port)),
        None => Destination::Name {
            host: String::from_utf8_lossy(via.host).into_owned(),
            port,
        },
    }
}
