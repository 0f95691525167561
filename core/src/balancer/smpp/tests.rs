//! The SMPP balancer's connection policy, driven through the whole `Balancer`: customers on
//! the SMPP listener, providers answering on the connections the balancer asks for.

use crate::balancer::listeners::Role;
use crate::balancer::Balancer;
use crate::config::{Config, HostPort};
use crate::io::{CloseReason, ConnId, Input, Output};
use crate::smpp::{
    self, Address, Bind, Body, CommandId, CommandStatus, Framer, Pdu, SmBody, SmResp,
};
use crate::time::Timestamp;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

mod mux;
mod regular;

pub(super) struct Harness {
    pub b: Balancer,
    pub now: Timestamp,
    next: u64,
}

/// What one feed produced, split by connection.
#[derive(Debug, Default)]
pub(super) struct Out {
    pub all: Vec<Output>,
}

impl Out {
    /// The PDUs written to `conn`, in order.
    pub fn pdus(&self, conn: ConnId) -> Vec<Pdu> {
        let mut framer = Framer::new(1 << 20);
        for o in &self.all {
            if let Output::Write { conn: c, payload } = o {
                if *c == conn {
                    framer.feed(payload.clone());
                }
            }
        }
        std::iter::from_fn(|| framer.poll().ok().flatten())
            .map(|raw| Pdu::decode(&raw).expect("the balancer writes valid PDUs"))
            .collect()
    }

    /// The one PDU written to `conn`.
    pub fn pdu(&self, conn: ConnId) -> Pdu {
        let pdus = self.pdus(conn);
        assert_eq!(pdus.len(), 1, "{pdus:?}");
        pdus.into_iter().next().unwrap()
    }

    /// Connections asked for, with their destination.
    pub fn connects(&self) -> Vec<(ConnId, SocketAddr)> {
        self.all
            .iter()
            .filter_map(|o| match o {
                Output::Connect { conn, to, .. } => Some((*conn, *to)),
                _ => None,
            })
            .collect()
    }

    /// True if `conn` was closed.
    pub fn closed(&self, conn: ConnId) -> bool {
        self.all
            .iter()
            .any(|o| matches!(o, Output::Close { conn: c } if *c == conn))
    }

    /// Connections PDUs were written to.
    pub fn written_to(&self) -> Vec<ConnId> {
        let mut out: Vec<ConnId> = self
            .all
            .iter()
            .filter_map(|o| match o {
                Output::Write { conn, .. } => Some(*conn),
                _ => None,
            })
            .collect();
        out.dedup();
        out
    }
}

pub(super) fn server(port: u16) -> HostPort {
    HostPort {
        host: "127.0.0.1".to_owned(),
        port,
    }
}

pub(super) fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Harness {
    /// A balancer with SMPP on port 2775 toward `servers`, in mux or regular mode.
    pub fn new(mux: bool, servers: &[u16], tune: impl FnOnce(&mut Config)) -> Harness {
        let mut config = Config::embedded_default();
        config.common.node_timeout = Duration::from_secs(3600);
        config.smpp.smpp_port = Some(2775);
        config.smpp.smpp_host = Some("127.0.0.1".to_owned());
        config.smpp.mux_mode = mux;
        config.smpp.remote_servers = servers.iter().map(|p| server(*p)).collect();
        tune(&mut config);
        Harness {
            b: Balancer::new(config, Timestamp::ZERO).unwrap(),
            now: Timestamp::from_millis(1),
            next: 100,
        }
    }

    pub fn feed(&mut self, input: Input) -> Out {
        self.b.handle(self.now, input);
        Out {
            all: std::iter::from_fn(|| self.b.poll_output()).collect(),
        }
    }

    pub fn advance(&mut self, by: Duration) -> Out {
        self.now = self.now.saturating_add(by);
        self.feed(Input::Timeout)
    }

    /// A customer connected on the plain SMPP listener.
    pub fn customer(&mut self) -> ConnId {
        self.next += 1;
        let conn = ConnId(self.next);
        let listener = self
            .b
            .declared
            .iter()
            .find(|d| d.role == Role::Smpp { secure: false })
            .map(|d| d.spec.id)
            .expect("an SMPP listener");
        let out = self.feed(Input::Accepted {
            conn,
            listener,
            peer: "127.0.0.1:40000".parse().unwrap(),
        });
        assert!(out.all.is_empty(), "{:?}", out.all);
        conn
    }

    pub fn send(&mut self, conn: ConnId, pdu: Bytes) -> Out {
        self.feed(Input::Data { conn, bytes: pdu })
    }

    pub fn close(&mut self, conn: ConnId) -> Out {
        self.feed(Input::Closed {
            conn,
            reason: CloseReason::PeerClosed,
        })
    }

    /// A provider connection comes up and answers its bind with `status`.
    pub fn provider_binds(&mut self, conn: ConnId, bind: &Pdu, status: CommandStatus) -> Out {
        let mut out = self.feed(Input::Connected { conn });
        let resp = smpp::bind_resp(
            bind.command_id,
            status,
            bind.sequence_number,
            b"smsc",
            Some(0x34),
        )
        .unwrap();
        out.all.extend(self.send(conn, resp).all);
        out
    }
}

pub(super) fn bind_pdu(command: CommandId, seq: u32, system_id: &str, password: &str) -> Bytes {
    smpp::bind(
        command,
        seq,
        &Bind {
            system_id: Bytes::copy_from_slice(system_id.as_bytes()),
            password: Bytes::copy_from_slice(password.as_bytes()),
            system_type: Bytes::from_static(b"sms"),
            interface_version: 0x34,
            address_range: Address::default(),
        },
    )
    .unwrap()
}

pub(super) fn sm(command: CommandId, seq: u32, text: &[u8], esm_class: u8) -> Bytes {
    let body = SmBody {
        source: Address {
            ton: 1,
            npi: 1,
            addr: Bytes::from_static(b"15551230000"),
        },
        destination: Address {
            ton: 1,
            npi: 1,
            addr: Bytes::from_static(b"15559870000"),
        },
        esm_class,
        short_message: Bytes::copy_from_slice(text),
        ..SmBody::default()
    };
    let body = if command == CommandId::DELIVER_SM {
        Body::DeliverSm(body)
    } else {
        Body::SubmitSm(body)
    };
    Pdu::new(command, CommandStatus::ROK, seq, body)
        .encode()
        .unwrap()
}

pub(super) fn submit(seq: u32) -> Bytes {
    sm(CommandId::SUBMIT_SM, seq, b"hello", 0)
}

pub(super) fn submit_resp(seq: u32, status: CommandStatus, message_id: &str) -> Bytes {
    Pdu::new(
        CommandId::SUBMIT_SM_RESP,
        status,
        seq,
        Body::SmResp(SmResp::with_message_id(Bytes::copy_from_slice(
            message_id.as_bytes(),
        ))),
    )
    .encode()
    .unwrap()
}

pub(super) fn deliver_resp(seq: u32) -> Bytes {
    Pdu::new(
        CommandId::DELIVER_SM_RESP,
        CommandStatus::ROK,
        seq,
        Body::SmResp(SmResp::default()),
    )
    .encode()
    .unwrap()
}

/// `(command, status, sequence)` of a PDU.
pub(super) fn id(p: &Pdu) -> (CommandId, CommandStatus, u32) {
    (p.command_id, p.command_status, p.sequence_number)
}
