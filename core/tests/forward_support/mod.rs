//! Shared fixtures of the forwarder tests: a two-leg balancer (external 10.0.0.1:5060,
//! internal 192.168.0.1:5065, UDP and TCP), nodes registered through `Registry::start`, and
//! message helpers.
#![allow(dead_code)]

use bytes::Bytes;
use std::net::SocketAddr;
use switchboard_core::cluster::Cluster;
use switchboard_core::config::Config;
use switchboard_core::forward::{Destination, ForwardSettings, Forwarder, Inbound, Transmit};
use switchboard_core::forward::{Leg, ListeningPoint};
use switchboard_core::node::{NodeId, Transport};
use switchboard_core::registry::{NodeAnnouncement, StartOutcome};
use switchboard_core::sip::{HeaderName, SipMessage};
use switchboard_core::time::Timestamp;

pub const UA: &str = "1.2.3.4:5070";

pub fn config() -> Config {
    let mut c = Config::embedded_default();
    c.sip.external.host = "10.0.0.1".into();
    c.sip.internal.host = "192.168.0.1".into();
    // Most rules are about a running balancer; the start-up grace has its own tests.
    c.sip.startup_grace_period = std::time::Duration::ZERO;
    c
}

pub struct Lb {
    pub fwd: Forwarder,
    pub cluster: Cluster,
    pub now: Timestamp,
}

impl Lb {
    pub fn new(config: &Config) -> Lb {
        let now = Timestamp::from_millis(1000);
        Lb {
            fwd: Forwarder::new(ForwardSettings::from_config(config), now),
            cluster: Cluster::from_config(config, now).unwrap(),
            now,
        }
    }

    pub fn default() -> Lb {
        Lb::new(&config())
    }

    pub fn add_node(&mut self, ip: &str, port: u16, version: &str) -> NodeId {
        self.add_node_props(ip, port, version, &[])
    }

    pub fn add_node_props(
        &mut self,
        ip: &str,
        port: u16,
        version: &str,
        extra: &[(&str, &str)],
    ) -> NodeId {
        let mut props: std::collections::BTreeMap<String, String> = [
            ("ip", ip.to_owned()),
            ("udpPort", port.to_string()),
            ("tcpPort", port.to_string()),
            ("sessionId", format!("s-{ip}-{port}")),
            ("version", version.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in extra {
            props.insert((*k).to_owned(), (*v).to_owned());
        }
        let ann = NodeAnnouncement::from_properties(props, None).unwrap();
        let now = self.now;
        match self.cluster.update_registry(now, |r| r.start(ann, now)) {
            StartOutcome::Added(id) | StartOutcome::Refreshed(id) | StartOutcome::Recovered(id) => {
                id
            }
            StartOutcome::Replaced { new, .. } => new,
            _ => panic!("unexpected start outcome"),
        }
    }

    pub fn send(
        &mut self,
        leg: Leg,
        transport: Transport,
        source: &str,
        text: &str,
    ) -> Vec<Transmit> {
        let mut out = Vec::new();
        let inbound = Inbound {
            listener: ListeningPoint {
                leg,
                transport,
                ipv6: false,
            },
            source: source.parse().unwrap(),
            payload: Bytes::from(crlf(text)),
        };
        let now = self.now;
        self.fwd.handle(&mut self.cluster, inbound, now, &mut out);
        out
    }

    pub fn client_sends(&mut self, text: &str) -> Vec<Transmit> {
        self.send(Leg::External, Transport::Udp, UA, text)
    }

    pub fn node_sends(&mut self, node: &str, text: &str) -> Vec<Transmit> {
        self.send(Leg::Internal, Transport::Udp, node, text)
    }
}

/// Turns `\n` line ends into CRLF (the fixtures are written with `\n`).
pub fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

pub fn parse(t: &Transmit) -> SipMessage {
    SipMessage::parse(t.payload.clone()).unwrap()
}

pub fn addr(s: &str) -> Destination {
    Destination::Addr(s.parse::<SocketAddr>().unwrap())
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every value of header `name`, in order.
pub fn values(m: &SipMessage, name: HeaderName) -> Vec<String> {
    m.values(name).map(|v| text(m.slice(v.range))).collect()
}

pub fn header(m: &SipMessage, name: &str) -> Option<String> {
    m.get_by_name(name).map(text)
}

pub fn status(t: &Transmit) -> Option<u16> {
    parse(t).status_code()
}

/// The single transmission that is not a 100 Trying.
pub fn forwarded(out: &[Transmit]) -> &Transmit {
    let v: Vec<&Transmit> = out.iter().filter(|t| status(t) != Some(100)).collect();
    assert_eq!(
        v.len(),
        1,
        "expected exactly one forwarded message, got {out:#?}"
    );
    v[0]
}

pub const SDP: &str =
    "v=0\no=- 1 1 IN IP4 1.2.3.4\ns=-\nc=IN IP4 1.2.3.4\nt=0 0\nm=audio 8000 RTP/AVP 0\n";

pub fn invite(call_id: &str, branch: &str, ruri: &str) -> String {
    let body = crlf(SDP);
    format!(
        "INVITE {ruri} SIP/2.0\nVia: SIP/2.0/UDP 1.2.3.4:5070;branch={branch}\nMax-Forwards: 70\n\
         From: <sip:alice@1.2.3.4>;tag=a1\nTo: <sip:bob@10.0.0.1>\nCall-ID: {call_id}\nCSeq: 1 INVITE\n\
         Contact: <sip:alice@1.2.3.4:5070>\nContent-Type: application/sdp\nContent-Length: {}\n\n{body}",
        body.len()
    )
}

/// Replaces the first `SIP/2.0 ...` line's request into a response of the forwarded request:
/// same Via, From, To (+tag), Call-ID, CSeq and the given Record-Routes.
pub fn response_to(
    req: &SipMessage,
    status: u16,
    reason: &str,
    to_tag: &str,
    extra: &str,
) -> String {
    let mut s = format!("SIP/2.0 {status} {reason}\n");
    for v in values(req, HeaderName::Via) {
        s.push_str(&format!("Via: {v}\n"));
    }
    for rr in values(req, HeaderName::RecordRoute) {
        s.push_str(&format!("Record-Route: {rr}\n"));
    }
    s.push_str(&format!(
        "From: {}\n",
        text(req.get(HeaderName::From).unwrap())
    ));
    let to = text(req.get(HeaderName::To).unwrap());
    if to.contains("tag=") {
        s.push_str(&format!("To: {to}\n"));
    } else {
        s.push_str(&format!("To: {to};tag={to_tag}\n"));
    }
    s.push_str(&format!(
        "Call-ID: {}\n",
        text(req.get(HeaderName::CallId).unwrap())
    ));
    s.push_str(&format!(
        "CSeq: {}\n",
        text(req.get(HeaderName::CSeq).unwrap())
    ));
    s.push_str(extra);
    s.push_str("Content-Length: 0\n\n");
    s
}
