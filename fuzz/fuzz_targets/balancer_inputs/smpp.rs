//! The SMPP side of `balancer_inputs`: customers (ESMEs) on the SMPP listener sending PDU
//! templates or raw bytes, a simulated SMSC answering on the provider connections the core
//! opens, and the invariants on what the core writes to both (see the target's module
//! documentation).
//!
//! The driver frames every byte stream it sends with the core's own `Framer` (same
//! `maxPduSize`), so it knows exactly which requests the core read, whatever the chunking,
//! raw bytes or framing errors. Each request is recorded in a [`Ledger`] by sequence number;
//! each response the core writes is matched against it.

use super::{chunks, Cursor, Driver};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use switchboard_core::config::{Config, HostPort, SmppToNodeAlgorithm, SmppToProviderAlgorithm};
use switchboard_core::io::{CloseReason, ConnId, Input, ListenerId};
use switchboard_core::smpp::{
    self, tlv::tag, Address, AlertNotification, Bind, Body, CancelSm, CommandId, CommandStatus,
    DataSm, DestAddress, Framer, Header, Outbind, Pdu, QuerySm, QuerySmResp, ReplaceSm, SmBody,
    SmResp, SubmitMulti, SubmitMultiResp, Tlvs,
};
use switchboard_core::time::Timestamp;

/// The balancer's SMPP listener port.
pub const LISTENER_PORT: u16 = 2777;
/// The port every provider listens on: the remote servers and the heartbeat nodes'
/// `smppPort`. A `Connect` to it is a provider connection.
pub const PROVIDER_PORT: u16 = 2775;
/// The two remote servers.
const PROVIDERS: [&str; 2] = ["10.0.3.1", "10.0.3.2"];
/// The `system_id`s customers bind with: two ordinary ones, the empty one, two that are not
/// UTF-8 (distinct octets), and one of the maximum length (15).
const SYSTEM_IDS: [&[u8]; 6] = [b"acme", b"beta", b"", b"\xff", b"\xfe", b"fifteen_chars_x"];
const PASSWORDS: [&[u8]; 3] = [b"secret", b"wrong", b""];
/// `timeoutResponse`.
const RESPONSE: Duration = Duration::from_millis(500);

/// True when `BALANCER_INPUTS_TRACE` is set: the driver prints the inputs it feeds and the
/// SMPP PDUs both ways on stderr (to read a crash's input as steps).
pub fn trace() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BALANCER_INPUTS_TRACE").is_some())
}

/// A connection's name in the trace: `in N` (an id the driver chose) or `out N` (one the
/// core chose, without its outbound bit).
pub fn name(conn: ConnId) -> String {
    if conn.is_outbound() {
        format!("out {}", conn.0 & !ConnId::OUTBOUND_BIT)
    } else {
        format!("in {}", conn.0)
    }
}

/// True when `BALANCER_INPUTS_LEAVE_OUT_KNOWN` is set: the templates leave out the inputs
/// of findings already reported (the `system_id`s that are not UTF-8 become `gamma` and
/// `delta`; no provider response with a body that does not decode), so a run explores past
/// them. Every check stays.
fn leave_out_known() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("BALANCER_INPUTS_LEAVE_OUT_KNOWN").is_some())
}

/// One line naming a PDU.
fn describe(raw: &[u8]) -> String {
    let Some(h) = Header::parse(raw) else {
        return format!("{} octets", raw.len());
    };
    let mut line = format!(
        "{} seq {} status 0x{:X}",
        h.command_id, h.sequence_number, h.command_status.0
    );
    if let Ok(pdu) = Pdu::decode(&Bytes::copy_from_slice(raw)) {
        match &pdu.body {
            Body::Bind(b) => {
                line += &format!(" system_id {:?} password {:?}", b.system_id, b.password)
            }
            Body::SmResp(r) if !r.message_id.is_empty() => {
                line += &format!(" message_id {:?}", r.message_id)
            }
            Body::QuerySm(q) => line += &format!(" message_id {:?}", q.message_id),
            Body::CancelSm(q) => line += &format!(" message_id {:?}", q.message_id),
            Body::SubmitSm(b) | Body::DeliverSm(b) => {
                line += &format!(
                    " esm_class 0x{:02X} text {:?}",
                    b.esm_class, b.short_message
                );
                if let Some(c) = b.concatenation() {
                    line += &format!(" part {}/{} ref {}", c.seqnum, c.total, c.reference);
                }
                if !b.tlvs.is_empty() {
                    line += &format!(" tlvs {:?}", b.tlvs);
                }
            }
            Body::DataSm(b) => {
                line += &format!(" esm_class 0x{:02X} tlvs {:?}", b.esm_class, b.tlvs)
            }
            _ => {}
        }
    } else {
        line += " (does not decode)";
    }
    line
}

/// The SMPP configuration picked by the fuzzer.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    mux: bool,
    max_pdu: usize,
    queue_timeout: Duration,
}

/// Enables SMPP in `config` as byte `b` says: bit 0 regular mode (else mux), bit 1
/// `providerWindow` 1, bit 2 `throttleQueueSize` 1, bit 3 `providerRate` 2/s, bit 4
/// active-standby toward providers, bit 5 submit-to-all toward customers, bit 6
/// `throttleQueueTimeout` 300 ms (else the default 2 s), bit 7 `maxPduSize` 512.
pub fn configure(config: &mut Config, b: u8) -> Settings {
    let s = &mut config.smpp;
    s.smpp_port = Some(LISTENER_PORT);
    s.smpp_host = Some("127.0.0.1".to_owned());
    s.remote_servers = PROVIDERS
        .iter()
        .map(|h| HostPort {
            host: (*h).to_owned(),
            port: PROVIDER_PORT,
        })
        .collect();
    s.mux_mode = b & 1 == 0;
    s.timeout_response = RESPONSE;
    s.timeout_enquire = Duration::from_secs(1);
    s.reconnect_period = Duration::from_millis(200);
    if b & 2 != 0 {
        s.provider_window = 1;
    }
    if b & 4 != 0 {
        s.throttle_queue_size = 1;
    }
    if b & 8 != 0 {
        s.provider_rate = 2;
    }
    if b & 16 != 0 {
        s.to_provider_algorithm = SmppToProviderAlgorithm::ActiveStandby;
    }
    if b & 32 != 0 {
        s.to_node_algorithm = SmppToNodeAlgorithm::SubmitToAll;
    }
    if b & 64 != 0 {
        s.throttle_queue_timeout = Duration::from_millis(300);
    }
    if b & 128 != 0 {
        s.max_pdu_size = 512;
    }
    if trace() {
        eprintln!(
            "SMPP {} mode, window {}, queue {}, rate {}, queue timeout {:?}, {:?}, {:?}, maxPduSize {}",
            if s.mux_mode { "mux" } else { "regular" },
            s.provider_window,
            s.throttle_queue_size,
            s.provider_rate,
            s.throttle_queue_timeout,
            s.to_provider_algorithm,
            s.to_node_algorithm,
            s.max_pdu_size
        );
    }
    Settings {
        mux: s.mux_mode,
        max_pdu: s.max_pdu_size as usize,
        queue_timeout: s.throttle_queue_timeout,
    }
}

/// Requests sent on one connection, by sequence number, and the responses the core wrote
/// back for them.
#[derive(Debug, Default)]
struct Ledger {
    asked: BTreeMap<u32, Count>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Count {
    /// Requests that must be answered: every known request with a response, and any
    /// `command_id` SMPP 3.4 does not define (answered `generic_nack`).
    required: u32,
    /// Requests that may be answered: also `outbind` and `alert_notification` (which have
    /// no response, but get a `generic_nack` in some states).
    allowed: u32,
    answered: u32,
}

impl Ledger {
    /// A PDU the core read (whole, as its framer cut it).
    fn read(&mut self, raw: &[u8]) {
        let Some(h) = Header::parse(raw) else {
            return;
        };
        if h.command_id.is_response() {
            return;
        }
        let required = h.command_id.expects_response() || !h.command_id.is_known();
        self.request(h.sequence_number, required);
    }

    fn request(&mut self, seq: u32, required: bool) {
        let e = self.asked.entry(seq).or_default();
        e.allowed += 1;
        e.required += u32::from(required);
    }

    /// The core wrote a response with header `h` on connection `conn` (of a `who`).
    fn answered(&mut self, who: &str, conn: ConnId, h: Header) {
        let e = self.asked.entry(h.sequence_number).or_default();
        e.answered += 1;
        assert!(
            e.answered <= e.allowed,
            "SMPP {who} {conn:?}: {} (status 0x{:08X}) with sequence number {} answers no request or one already answered ({e:?})",
            h.command_id,
            h.command_status.0,
            h.sequence_number,
        );
    }

    /// A request that must be answered and was not.
    fn missing(&self) -> Option<(u32, Count)> {
        self.asked
            .iter()
            .find(|(_, e)| e.answered < e.required)
            .map(|(s, e)| (*s, *e))
    }
}

/// Feeds what the driver sends on a connection to the framer mirroring the core's, and
/// records the requests the core reads; a framing error is answered `generic_nack` with the
/// header's sequence number (once). Returns the PDUs framed.
fn mirror(framer: &mut Framer, lost: &mut bool, ledger: &mut Ledger, bytes: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    if *lost {
        return out;
    }
    framer.feed(bytes.clone());
    loop {
        match framer.poll() {
            Ok(Some(raw)) => {
                ledger.read(&raw);
                out.push(raw);
            }
            Ok(None) => return out,
            Err(e) => {
                if trace() {
                    eprintln!("    (framing lost: {e})");
                }
                *lost = true;
                ledger.request(e.header.sequence_number, true);
                return out;
            }
        }
    }
}

/// The PDUs the core wrote on a connection, which must frame.
fn frame_written(framer: &mut Framer, who: &str, conn: ConnId, payload: &Bytes) -> Vec<Bytes> {
    framer.feed(payload.clone());
    let mut out = Vec::new();
    loop {
        match framer.poll() {
            Ok(Some(raw)) => {
                if trace() {
                    eprintln!("    core -> {who} {}: {}", name(conn), describe(&raw));
                }
                out.push(raw);
            }
            Ok(None) => return out,
            Err(e) => panic!("the core wrote SMPP {who} {conn:?} octets that do not frame: {e}"),
        }
    }
}

/// `raw`, written by the core to `who` `conn`, decoded; it must decode.
fn must_decode(raw: &Bytes, who: &str, conn: ConnId) -> Pdu {
    Pdu::decode(raw).unwrap_or_else(|e| {
        panic!("the core wrote SMPP {who} {conn:?} a PDU that does not decode ({e}): {raw:02x?}")
    })
}

/// The marker the SMSC puts in message texts: `sys=<system_id>;`, the `system_id` the
/// provider connection is bound with.
fn marker(system_id: &[u8]) -> Vec<u8> {
    let mut m = SYS.to_vec();
    m.extend_from_slice(system_id);
    m.push(b';');
    m
}

/// The marker a customer puts in message texts: `from=<connection id>;`.
fn customer_marker(conn: ConnId) -> Vec<u8> {
    format!("from={};", conn.0).into_bytes()
}

const SYS: &[u8] = b"sys=";
const FROM: &[u8] = b"from=";

/// The value of marker `key` in a text.
fn find_marker<'a>(text: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &text[at..];
    let end = rest.iter().position(|&b| b == b';')?;
    Some(&rest[..end])
}

/// The value of marker `key` in a `submit_sm`, `deliver_sm`, `data_sm` or `submit_multi`
/// (its text or `message_payload`).
fn pdu_marker(body: &Body, key: &[u8]) -> Option<Vec<u8>> {
    let (text, tlvs): (&[u8], &Tlvs) = match body {
        Body::SubmitSm(b) | Body::DeliverSm(b) => (&b.short_message, &b.tlvs),
        Body::SubmitMulti(b) => (&b.short_message, &b.tlvs),
        Body::DataSm(b) => (&[], &b.tlvs),
        _ => return None,
    };
    let payload = tlvs.find(tag::MESSAGE_PAYLOAD).unwrap_or_default();
    find_marker(text, key)
        .or_else(|| find_marker(&payload, key))
        .map(<[u8]>::to_vec)
}

/// A customer connection on the SMPP listener.
#[derive(Debug)]
pub struct Customer {
    /// Mirrors the core's framer over what the driver sent.
    sent: Framer,
    lost: bool,
    /// Frames what the core wrote.
    written: Framer,
    ledger: Ledger,
    next_seq: u32,
    /// Binds the core read and did not answer, by sequence number, oldest first (a bind
    /// repeated while one is pending is refused at once, so an error answers the newest,
    /// `ESME_ROK` the oldest).
    binds: BTreeMap<u32, Vec<(CommandId, Bind)>>,
    /// Bound: the bind the core answered `ESME_ROK`.
    bound: Option<(CommandId, Bytes)>,
    /// Requests the core sent and the driver has not answered.
    to_answer: Vec<(u32, CommandId)>,
    /// Message ids it was given in `submit_sm_resp`s.
    ids: Vec<Bytes>,
}

impl Customer {
    fn new(max_pdu: usize) -> Customer {
        Customer {
            sent: Framer::new(max_pdu),
            lost: false,
            written: Framer::new(1 << 20),
            ledger: Ledger::default(),
            next_seq: 1,
            binds: BTreeMap::new(),
            bound: None,
            to_answer: Vec::new(),
            ids: Vec::new(),
        }
    }

    fn next(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= smpp::MAX_SEQUENCE_NUMBER {
            1
        } else {
            s + 1
        };
        s
    }

    /// The driver sent `bytes`; returns the binds the core read.
    fn sent(&mut self, conn: ConnId, bytes: &Bytes) -> Vec<(CommandId, Bind)> {
        let mut binds = Vec::new();
        for raw in mirror(&mut self.sent, &mut self.lost, &mut self.ledger, bytes) {
            if trace() {
                eprintln!("    customer {} -> core: {}", name(conn), describe(&raw));
            }
            if let Ok(Pdu {
                command_id,
                sequence_number,
                body: Body::Bind(b),
                ..
            }) = Pdu::decode(&raw)
            {
                self.binds
                    .entry(sequence_number)
                    .or_default()
                    .push((command_id, b.clone()));
                binds.push((command_id, b));
            }
        }
        binds
    }

    /// The core wrote `payload`; returns the message ids it was given (in successful
    /// `submit_sm_resp`/`data_sm_resp`) and the delivery receipts it was sent (the message
    /// id, as the balancer reads it, and the sequence number).
    fn written(
        &mut self,
        conn: ConnId,
        payload: &Bytes,
        mux: bool,
    ) -> (Vec<Bytes>, Vec<(Bytes, u32)>) {
        let (mut given, mut receipts) = (Vec::new(), Vec::new());
        for raw in frame_written(&mut self.written, "customer", conn, payload) {
            let pdu = must_decode(&raw, "customer", conn);
            let seq = pdu.sequence_number;
            if pdu.command_id.is_response() {
                self.ledger
                    .answered("customer", conn, Header::parse(&raw).expect("framed"));
                // Mux: the balancer answers binds itself, with bind responses. Regular: it
                // relays the provider's answer as sent, and any ESME_ROK answer binds (an
                // error that is not a bind response may answer another request numbered
                // the same, refused while the bind is pending).
                let pending_bind = self.binds.get(&seq).is_some_and(|b| !b.is_empty());
                let rok = pdu.command_status == CommandStatus::ROK;
                if pdu.command_id.is_bind_resp() || (!mux && pending_bind && rok) {
                    let binds = self.binds.entry(seq).or_default();
                    if pdu.command_status == CommandStatus::ROK && !binds.is_empty() {
                        let (command, bind) = binds.remove(0);
                        if mux {
                            // The balancer's own answer (docs/decisions.md §12.2).
                            let Body::BindResp(r) = &pdu.body else {
                                panic!(
                                    "SMPP customer {conn:?}: bind answered ESME_ROK without a body"
                                );
                            };
                            assert_eq!(
                                &r.system_id[..],
                                b"loadbalancer",
                                "SMPP customer {conn:?}: mux bind_resp system_id"
                            );
                            let version = r.tlvs.find_u8(tag::SC_INTERFACE_VERSION);
                            let announced = bind.interface_version >= smpp::SMPP_3_4;
                            assert_eq!(
                                version,
                                announced.then_some(smpp::SMPP_3_4),
                                "SMPP customer {conn:?}: sc_interface_version of the bind_resp to a bind with interface_version 0x{:02X}",
                                bind.interface_version
                            );
                        }
                        // Bound is final: later binds are refused in every state after it.
                        if self.bound.is_none() && (!mux || command.response() == pdu.command_id) {
                            self.bound = Some((command, bind.system_id));
                        }
                    } else {
                        binds.pop();
                    }
                }
                if let Body::SmResp(r) = &pdu.body {
                    if !r.message_id.is_empty() && self.ids.len() < 16 {
                        self.ids.push(r.message_id.clone());
                    }
                    if pdu.command_status == CommandStatus::ROK
                        && matches!(
                            pdu.command_id,
                            CommandId::SUBMIT_SM_RESP | CommandId::DATA_SM_RESP
                        )
                    {
                        given.push(r.message_id.clone());
                    }
                }
                continue;
            }
            if matches!(pdu.command_id, CommandId::DELIVER_SM | CommandId::DATA_SM) {
                let Some((command, system_id)) = &self.bound else {
                    panic!(
                        "SMPP customer {conn:?} was sent {} numbered {seq} but never got a bind_resp ESME_ROK",
                        pdu.command_id
                    );
                };
                if mux {
                    assert_ne!(
                        *command,
                        CommandId::BIND_TRANSMITTER,
                        "SMPP customer {conn:?} bound as a transmitter was sent {} numbered {seq}",
                        pdu.command_id
                    );
                }
                if let Some(m) = pdu_marker(&pdu.body, SYS) {
                    assert_eq!(
                        &m[..],
                        &system_id[..],
                        "SMPP customer {conn:?} bound with system_id {system_id:?} was sent {} numbered {seq} from a provider bound with system_id {:?}",
                        pdu.command_id,
                        Bytes::from(m.clone()),
                    );
                }
            }
            // What the balancer takes for a delivery receipt (docs/decisions.md §12.6).
            let receipt = match &pdu.body {
                Body::DeliverSm(b) => {
                    smpp::receipted_message_id(&b.tlvs, &b.short_message).filter(|_| {
                        smpp::is_delivery_receipt(b.esm_class)
                            || b.tlvs.find(tag::RECEIPTED_MESSAGE_ID).is_some()
                    })
                }
                Body::DataSm(b) => smpp::receipted_message_id(&b.tlvs, &Bytes::new()),
                _ => None,
            };
            if let Some(id) = receipt {
                receipts.push((id, seq));
            }
            if self.to_answer.len() < 32 {
                self.to_answer.push((seq, pdu.command_id));
            }
        }
        (given, receipts)
    }

    /// Bound to receive (receiver or transceiver).
    fn receives(&self) -> bool {
        self.bound
            .as_ref()
            .is_some_and(|(command, _)| *command != CommandId::BIND_TRANSMITTER)
    }
}

/// A provider connection the core opened, answered by the simulated SMSC.
#[derive(Debug)]
pub struct Provider {
    /// Mirrors the core's framer over what the SMSC sent.
    sent: Framer,
    lost: bool,
    /// Frames what the core wrote.
    written: Framer,
    ledger: Ledger,
    next_seq: u32,
    /// Where the core connected.
    to: SocketAddr,
    /// The core's bind: its sequence number and `system_id`.
    bind: Option<(u32, Bytes)>,
    /// The first response the core read to its bind: `ESME_ROK` or not.
    bind_ok: Option<bool>,
    /// The core sent `unbind`.
    unbinding: bool,
    /// Requests the core sent and the SMSC has not answered.
    pending: Vec<(u32, CommandId)>,
}

impl Provider {
    fn new(max_pdu: usize, to: SocketAddr) -> Provider {
        Provider {
            sent: Framer::new(max_pdu),
            lost: false,
            written: Framer::new(1 << 20),
            ledger: Ledger::default(),
            next_seq: 1,
            to,
            bind: None,
            bind_ok: None,
            unbinding: false,
            pending: Vec::new(),
        }
    }

    fn next(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = s % smpp::MAX_SEQUENCE_NUMBER + 1;
        s
    }

    fn system_id(&self) -> Bytes {
        self.bind.as_ref().map(|b| b.1.clone()).unwrap_or_default()
    }

    fn sent(&mut self, conn: ConnId, bytes: &Bytes) {
        for raw in mirror(&mut self.sent, &mut self.lost, &mut self.ledger, bytes) {
            if trace() {
                eprintln!("    provider {} -> core: {}", name(conn), describe(&raw));
            }
            let Some(h) = Header::parse(&raw) else {
                continue;
            };
            if self.bind_ok.is_none()
                && h.command_id.is_response()
                && self.bind.as_ref().is_some_and(|b| b.0 == h.sequence_number)
            {
                self.bind_ok = Some(h.command_status == CommandStatus::ROK);
            }
        }
    }

    /// The core wrote `payload`; `customers` names the customers by connection (the
    /// `system_id` a forwarded request's sender is bound with), `binds` lists the binds
    /// customers sent.
    fn written(
        &mut self,
        conn: ConnId,
        payload: &Bytes,
        customers: &BTreeMap<ConnId, Customer>,
        binds: &[(CommandId, Bind)],
        mux: bool,
    ) {
        for raw in frame_written(&mut self.written, "provider", conn, payload) {
            let h = Header::parse(&raw).expect("framed");
            let seq = h.sequence_number;
            if h.command_id.is_response() {
                // Relayed customer responses go on their header (their body is the
                // customer's).
                self.ledger.answered("provider", conn, h);
                continue;
            }
            let pdu = must_decode(&raw, "provider", conn);
            if let Body::Bind(b) = &pdu.body {
                assert!(
                    self.bind.is_none(),
                    "SMPP provider {conn:?}: a second bind on one connection"
                );
                // Mux: bind_transceiver, SMPP 3.4, a customer's credentials; regular: a
                // customer's bind as it was sent.
                let from_customer = if mux {
                    pdu.command_id == CommandId::BIND_TRANSCEIVER
                        && b.interface_version == smpp::SMPP_3_4
                        && b.address_range == Address::default()
                        && binds.iter().any(|(_, c)| {
                            (&c.system_id, &c.password, &c.system_type)
                                == (&b.system_id, &b.password, &b.system_type)
                        })
                } else {
                    binds
                        .iter()
                        .any(|(command, c)| (*command, c) == (pdu.command_id, b))
                };
                assert!(
                    from_customer,
                    "SMPP provider {conn:?}: {} {b:?} is not {} customer's bind",
                    pdu.command_id,
                    if mux {
                        "a bind_transceiver 3.4 with a"
                    } else {
                        "a"
                    }
                );
                self.bind = Some((seq, b.system_id.clone()));
            } else {
                if pdu.command_id == CommandId::UNBIND {
                    self.unbinding = true;
                }
                assert_eq!(
                    self.bind_ok,
                    Some(true),
                    "SMPP provider {conn:?} was sent {} numbered {seq} before its bind was answered ESME_ROK",
                    pdu.command_id
                );
                let from = pdu_marker(&pdu.body, FROM)
                    .and_then(|m| std::str::from_utf8(&m).ok()?.parse().ok())
                    .map(ConnId);
                if let Some(cust) = from.and_then(|c| Some((c, customers.get(&c)?))) {
                    let (from, cust) = cust;
                    let Some((_, customer_system_id)) = &cust.bound else {
                        panic!(
                            "SMPP provider {conn:?} was sent {} numbered {seq} from customer {from:?}, which never got a bind_resp ESME_ROK",
                            pdu.command_id
                        );
                    };
                    let system_id = self.system_id();
                    assert_eq!(
                        &customer_system_id[..],
                        &system_id[..],
                        "SMPP provider {conn:?} bound with system_id {system_id:?} was sent {} numbered {seq} from customer {from:?} bound with system_id {customer_system_id:?}",
                        pdu.command_id,
                    );
                }
            }
            if self.pending.len() < 64 {
                self.pending.push((seq, pdu.command_id));
            }
        }
    }
}

/// The driver's view of the SMPP connections.
#[derive(Debug)]
pub struct World {
    pub settings: Settings,
    pub listener: ListenerId,
    customers: BTreeMap<ConnId, Customer>,
    providers: BTreeMap<ConnId, Provider>,
    /// The distinct binds customers sent (at most 64).
    binds: Vec<(CommandId, Bind)>,
    /// Mux mode: which customer was given each message id, and when.
    owners: BTreeMap<Bytes, (ConnId, Timestamp)>,
    /// Message ids the SMSC assigned, newest last (at most 32).
    ids: Vec<Bytes>,
    next_id: u32,
}

impl World {
    pub fn new(settings: Settings, listener: ListenerId) -> World {
        World {
            settings,
            listener,
            customers: BTreeMap::new(),
            providers: BTreeMap::new(),
            binds: Vec::new(),
            owners: BTreeMap::new(),
            ids: Vec::new(),
            next_id: 0,
        }
    }

    /// The driver sends `bytes` on `conn`.
    pub fn sent(&mut self, conn: ConnId, bytes: &Bytes) {
        if let Some(c) = self.customers.get_mut(&conn) {
            for bind in c.sent(conn, bytes) {
                if !self.binds.contains(&bind) && self.binds.len() < 64 {
                    self.binds.push(bind);
                }
            }
        }
        if let Some(p) = self.providers.get_mut(&conn) {
            let was = p.bind_ok;
            p.sent(conn, bytes);
            if self.settings.mux && was.is_none() && p.bind_ok == Some(true) {
                self.one_session(conn);
            }
        }
    }

    /// Mux mode: provider connection `conn` was just bound; no other bound session of its
    /// `system_id` to the same server may be in use (one bind per provider per
    /// `system_id`; one being unbound does not count).
    fn one_session(&self, conn: ConnId) {
        let p = &self.providers[&conn];
        let twin = self.providers.iter().find(|(c, q)| {
            **c != conn
                && q.to == p.to
                && q.bind.as_ref().map(|b| &b.1) == p.bind.as_ref().map(|b| &b.1)
                && q.bind_ok == Some(true)
                && !q.unbinding
        });
        if let Some((other, _)) = twin {
            panic!(
                "SMPP provider {conn:?} bound with system_id {:?} to {} while {other:?} is bound with it to the same server",
                p.system_id(),
                p.to
            );
        }
    }

    /// The core asked for a connection to `to`.
    pub fn connect(&mut self, conn: ConnId, to: SocketAddr) {
        if to.port() == PROVIDER_PORT {
            if trace() {
                eprintln!("    core connects provider {} to {to}", name(conn));
            }
            self.providers
                .insert(conn, Provider::new(self.settings.max_pdu, to));
        }
    }

    /// The core wrote `payload` on `conn` at `now`.
    pub fn written(&mut self, conn: ConnId, payload: &Bytes, now: Timestamp) {
        if let Some(c) = self.customers.get_mut(&conn) {
            let (given, receipts) = c.written(conn, payload, self.settings.mux);
            if self.settings.mux {
                for id in given {
                    self.owners.insert(id, (conn, now));
                }
                for (id, seq) in receipts {
                    self.receipt_owner(conn, &id, seq, now);
                }
            }
        }
        if let Some(p) = self.providers.get_mut(&conn) {
            p.written(
                conn,
                payload,
                &self.customers,
                &self.binds,
                self.settings.mux,
            );
        }
    }

    /// Mux mode: a delivery receipt for message `id` reached customer `conn`. If the
    /// customer that was given `id` is still bound to receive, with the same `system_id`, it
    /// is that one (receipts go to the customer that submitted the message).
    fn receipt_owner(&self, conn: ConnId, id: &Bytes, seq: u32, now: Timestamp) {
        let Some(&(owner, at)) = self.owners.get(id) else {
            return;
        };
        if trace() {
            eprintln!(
                "    (receipt for {id:?}, given to customer {}, sent to customer {})",
                name(owner),
                name(conn)
            );
        }
        // Well within receiptTimeout (one day).
        if owner == conn || now.saturating_since(at) > Duration::from_secs(20 * 3600) {
            return;
        }
        let (Some(o), Some(c)) = (self.customers.get(&owner), self.customers.get(&conn)) else {
            return;
        };
        let same_system = o.bound.as_ref().map(|b| &b.1) == c.bound.as_ref().map(|b| &b.1);
        assert!(
            !(o.receives() && same_system),
            "SMPP delivery receipt for message id {id:?} sent to customer {conn:?} (numbered {seq}) while {owner:?}, which was given that id, is bound to receive"
        );
    }

    /// `conn` ended (closed by either side, or never connected).
    pub fn closed(&mut self, conn: ConnId) {
        self.customers.remove(&conn);
        self.providers.remove(&conn);
    }

    fn new_id(&mut self) -> Bytes {
        self.next_id += 1;
        let id = Bytes::from(format!("{:X}", 0xA000 + self.next_id));
        if self.ids.len() >= 32 {
            self.ids.remove(0);
        }
        self.ids.push(id.clone());
        id
    }

    /// A message id to name: one a customer was given, one the SMSC assigned, or unknown.
    fn pick_id(&self, k: u8, own: &[Bytes]) -> Bytes {
        match k % 4 {
            0 | 1 if !own.is_empty() => own[usize::from(k >> 2) % own.len()].clone(),
            0..=2 if !self.ids.is_empty() => self.ids[usize::from(k >> 2) % self.ids.len()].clone(),
            _ => Bytes::from_static(b"FFFF0"),
        }
    }
}

fn addr(a: &'static [u8]) -> Address {
    Address {
        ton: 1,
        npi: 1,
        addr: Bytes::from_static(a),
    }
}

fn source(k: u8) -> Address {
    addr(if k & 1 == 0 {
        b"447700900001"
    } else {
        b"447700900002"
    })
}

fn sm(source: Address, esm_class: u8, short_message: Vec<u8>, tlvs: Tlvs) -> SmBody {
    SmBody {
        service_type: Bytes::new(),
        source,
        destination: addr(b"447700900999"),
        esm_class,
        protocol_id: 0,
        priority_flag: 0,
        schedule_delivery_time: Bytes::new(),
        validity_period: Bytes::new(),
        registered_delivery: 1,
        replace_if_present_flag: 0,
        data_coding: 0,
        sm_default_msg_id: 0,
        short_message: Bytes::from(short_message),
        tlvs,
    }
}

fn tlvs(params: &[(u16, &[u8])]) -> Tlvs {
    Tlvs::from_params(params.iter().copied()).expect("small TLVs")
}

fn encode(command: CommandId, status: CommandStatus, seq: u32, body: Body) -> Vec<u8> {
    Pdu::new(command, status, seq, body)
        .encode()
        .expect("the template encodes")
        .to_vec()
}

/// A header with `command_length` 16 + `body.len()` (whatever the body is).
fn raw_pdu(command: u32, status: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&command.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A header whose `command_length` loses the framing (below 16 or above `maxPduSize`).
fn bad_length(k: u8, max_pdu: usize, seq: u32) -> Vec<u8> {
    let len = [0, 8, 15, max_pdu as u32 + 1, u32::MAX][usize::from(k) % 5];
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(&CommandId::SUBMIT_SM.0.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(b"trailing");
    out
}

/// Optional parameters to build: (tag, value).
type Params = Vec<(u16, Vec<u8>)>;

/// A long message's part marking: a UDH concatenation element (8- or 16-bit reference) at
/// the start of `text` with UDHI, or the `sar_*` TLVs.
fn part(k: u8, r: u8, text: Vec<u8>) -> (u8, Vec<u8>, Params) {
    let total = 1 + (r >> 5) % 4;
    let seqnum = 1 + (r >> 3) % total.max(1);
    // Part numbers out of range now and then (not a part, then).
    let seqnum = if r & 7 == 7 { total + 1 } else { seqnum };
    match k % 3 {
        0 => {
            let mut ud = vec![5, 0x00, 3, r, total, seqnum];
            ud.extend(text);
            (smpp::UDHI, ud, Vec::new())
        }
        1 => {
            let mut ud = vec![6, 0x08, 4, 0x12, r, total, seqnum];
            ud.extend(text);
            (smpp::UDHI, ud, Vec::new())
        }
        _ => (
            0,
            text,
            vec![
                (tag::SAR_MSG_REF_NUM, vec![0, r]),
                (tag::SAR_TOTAL_SEGMENTS, vec![total]),
                (tag::SAR_SEGMENT_SEQNUM, vec![seqnum]),
            ],
        ),
    }
}

/// One PDU a customer sends: a template (binds with fuzzed credentials, the requests it
/// forwards, enquire_link, unbind, PDUs invalid in the state, malformed bodies, framing
/// errors) with its next sequence number or a fuzzed one.
fn customer_pdu(c: &mut Cursor<'_>, w: &World, conn: ConnId, cust: &mut Customer) -> Vec<u8> {
    let t = c.byte().unwrap_or(0);
    let k = c.byte().unwrap_or(0);
    let seq = if t & 0xC0 == 0x80 {
        let s = c.byte().unwrap_or(0);
        [
            0,
            1,
            cust.next_seq.wrapping_sub(1),
            smpp::MAX_SEQUENCE_NUMBER,
            0x8000_0000,
            u32::MAX,
        ][usize::from(s) % 6]
    } else {
        cust.next()
    };
    let text = {
        let mut t = customer_marker(conn);
        t.extend_from_slice(b" hello");
        t
    };
    let rok = CommandStatus::ROK;
    match t % 16 {
        0 | 1 => bind_pdu(c, k, seq),
        2 | 3 | 15 => encode(
            CommandId::SUBMIT_SM,
            rok,
            seq,
            Body::SubmitSm(sm(source(k), 0, text, Tlvs::empty())),
        ),
        4 | 5 => {
            let r = c.byte().unwrap_or(0);
            let (esm, ud, params) = part(k >> 1, r, text);
            let params: Vec<(u16, &[u8])> = params.iter().map(|(t, v)| (*t, &v[..])).collect();
            // Sometimes the user data travels in message_payload.
            let (short, tl) = if k & 0x40 != 0 {
                let mut p = params.clone();
                p.push((tag::MESSAGE_PAYLOAD, &ud[..]));
                (Vec::new(), tlvs(&p))
            } else {
                (ud.clone(), tlvs(&params))
            };
            encode(
                CommandId::SUBMIT_SM,
                rok,
                seq,
                Body::SubmitSm(sm(source(k), esm, short, tl)),
            )
        }
        6 => {
            let r = c.byte().unwrap_or(0);
            let (esm, ud, mut params) = if k & 2 != 0 {
                part(k >> 2, r, text)
            } else {
                (0, text, Vec::new())
            };
            params.push((tag::MESSAGE_PAYLOAD, ud));
            let params: Vec<(u16, &[u8])> = params.iter().map(|(t, v)| (*t, &v[..])).collect();
            encode(
                CommandId::DATA_SM,
                rok,
                seq,
                Body::DataSm(DataSm {
                    service_type: Bytes::new(),
                    source: source(k),
                    destination: addr(b"447700900999"),
                    esm_class: esm,
                    registered_delivery: 1,
                    data_coding: 0,
                    tlvs: tlvs(&params),
                }),
            )
        }
        7 => encode(
            CommandId::QUERY_SM,
            rok,
            seq,
            Body::QuerySm(QuerySm {
                message_id: w.pick_id(k, &cust.ids),
                source: source(k),
            }),
        ),
        8 => encode(
            CommandId::CANCEL_SM,
            rok,
            seq,
            Body::CancelSm(CancelSm {
                service_type: Bytes::new(),
                message_id: w.pick_id(k, &cust.ids),
                source: source(k),
                destination: addr(b"447700900999"),
            }),
        ),
        9 => encode(
            CommandId::REPLACE_SM,
            rok,
            seq,
            Body::ReplaceSm(ReplaceSm {
                message_id: w.pick_id(k, &cust.ids),
                source: source(k),
                schedule_delivery_time: Bytes::new(),
                validity_period: Bytes::new(),
                registered_delivery: 1,
                sm_default_msg_id: 0,
                short_message: Bytes::from(text),
            }),
        ),
        10 => encode(
            CommandId::SUBMIT_MULTI,
            rok,
            seq,
            Body::SubmitMulti(SubmitMulti {
                service_type: Bytes::new(),
                source: source(k),
                destinations: vec![
                    DestAddress::Sme(addr(b"447700900998")),
                    DestAddress::DistributionList(Bytes::from_static(b"friends")),
                ],
                esm_class: 0,
                protocol_id: 0,
                priority_flag: 0,
                schedule_delivery_time: Bytes::new(),
                validity_period: Bytes::new(),
                registered_delivery: 0,
                replace_if_present_flag: 0,
                data_coding: 0,
                sm_default_msg_id: 0,
                short_message: Bytes::from(text),
                tlvs: Tlvs::empty(),
            }),
        ),
        11 => smpp::enquire_link(seq).to_vec(),
        12 => smpp::unbind(seq).to_vec(),
        13 => match k % 7 {
            // Not valid from a customer, or not in every state.
            0 => encode(
                CommandId::DELIVER_SM,
                rok,
                seq,
                Body::DeliverSm(sm(source(k), 0, text, Tlvs::empty())),
            ),
            1 => encode(
                CommandId::OUTBIND,
                rok,
                seq,
                Body::Outbind(Outbind {
                    system_id: Bytes::from_static(b"acme"),
                    password: Bytes::from_static(b"secret"),
                }),
            ),
            2 => encode(
                CommandId::ALERT_NOTIFICATION,
                rok,
                seq,
                Body::AlertNotification(AlertNotification {
                    source: source(k),
                    esme: addr(b"1234"),
                    tlvs: Tlvs::empty(),
                }),
            ),
            3 => raw_pdu(0x0000_0111, 0, seq, b""),
            4 => smpp::generic_nack(CommandStatus::RINVCMDID, seq).to_vec(),
            5 => smpp::response_with_status(CommandId::DELIVER_SM, rok, seq).to_vec(),
            _ => raw_pdu(u32::from(k) << 20 | 0x42, 0, seq, b"xyz"),
        },
        14 if k & 3 == 0 => bad_length(k >> 2, w.settings.max_pdu, seq),
        _ => {
            // A known command whose body does not decode.
            let command = [
                CommandId::SUBMIT_SM,
                CommandId::BIND_TRANSCEIVER,
                CommandId::QUERY_SM,
                CommandId::DATA_SM,
                CommandId::UNBIND,
                CommandId::DELIVER_SM_RESP,
            ][usize::from(k) % 6];
            raw_pdu(command.0, 0, seq, c.bytes(64))
        }
    }
}

/// A customer's bind: transceiver (mostly), transmitter or receiver, with a `system_id` and
/// password from the fuzzer's small sets.
fn bind_pdu(c: &mut Cursor<'_>, k: u8, seq: u32) -> Vec<u8> {
    let cred = c.byte().unwrap_or(0);
    let command = [
        CommandId::BIND_TRANSCEIVER,
        CommandId::BIND_TRANSMITTER,
        CommandId::BIND_RECEIVER,
        CommandId::BIND_TRANSCEIVER,
    ][usize::from(k & 3)];
    let system_id = match SYSTEM_IDS[usize::from(cred & 15) % SYSTEM_IDS.len()] {
        b"\xff" if leave_out_known() => b"gamma",
        b"\xfe" if leave_out_known() => b"delta",
        id => id,
    };
    let body = Bind {
        system_id: Bytes::from_static(system_id),
        password: Bytes::from_static(PASSWORDS[usize::from(cred >> 4) % 4 % PASSWORDS.len()]),
        system_type: Bytes::from_static(if k & 4 != 0 { b"SMPP" } else { b"" }),
        interface_version: if k & 8 != 0 { 0x33 } else { smpp::SMPP_3_4 },
        address_range: Address::default(),
    };
    smpp::bind(command, seq, &body)
        .expect("bind template")
        .to_vec()
}

/// The customer's answer to one request the core sent it (or several), or `None`.
fn customer_answer(c: &mut Cursor<'_>, cust: &mut Customer) -> Vec<u8> {
    let k = c.byte().unwrap_or(0);
    if cust.to_answer.is_empty() {
        return Vec::new();
    }
    let all = k & 0x20 != 0;
    let mut out = Vec::new();
    let picked: Vec<(u32, CommandId)> = if all {
        std::mem::take(&mut cust.to_answer)
    } else {
        let at = usize::from(k) % cust.to_answer.len();
        if k & 0x80 != 0 {
            // Answered again later.
            vec![cust.to_answer[at]]
        } else {
            vec![cust.to_answer.remove(at)]
        }
    };
    for (seq, command) in picked {
        let status = if all {
            CommandStatus::ROK
        } else {
            [
                CommandStatus::ROK,
                CommandStatus::ROK,
                CommandStatus::ROK,
                CommandStatus::RSYSERR,
                CommandStatus::RX_T_APPN,
                CommandStatus::RINVDSTADR,
            ][usize::from(k >> 2 & 7) % 6]
        };
        if k & 0x40 != 0 && !all {
            out.extend_from_slice(&smpp::generic_nack(CommandStatus::RINVCMDID, seq));
        } else {
            out.extend_from_slice(&smpp::response_with_status(command, status, seq));
        }
    }
    out
}

/// The SMSC's answer to one request the core sent on a provider connection (possibly none:
/// silence), or to a sequence number that names nothing.
fn provider_answer(c: &mut Cursor<'_>, w: &mut World, conn: ConnId) -> Vec<u8> {
    let k = c.byte().unwrap_or(0);
    let s = c.byte().unwrap_or(0);
    let Some(p) = w.providers.get_mut(&conn) else {
        return Vec::new();
    };
    if p.pending.is_empty() {
        return Vec::new();
    }
    let at = usize::from(k) % p.pending.len();
    let (seq, command) = p.pending.remove(at);
    let seq = if k & 0xC0 == 0x40 {
        seq.wrapping_add(1000)
    } else {
        seq
    };
    let rok = CommandStatus::ROK;
    if command.is_bind() {
        let status = match s % 8 {
            1 => CommandStatus::RINVPASWD,
            2 => CommandStatus::RINVSYSID,
            3 => [CommandStatus::RBINDFAIL, CommandStatus::RSYSERR][usize::from(s >> 7)],
            _ => rok,
        };
        return smpp::bind_resp(command, status, seq, b"smsc", Some(smpp::SMPP_3_4))
            .expect("bind_resp template")
            .to_vec();
    }
    if s % 8 == 1 {
        // Silence.
        return Vec::new();
    }
    if s % 16 == 6 && command.expects_response() && !leave_out_known() {
        // A response whose body does not decode (a message_id without its NUL).
        return raw_pdu(command.response().0, 0, seq, b"A1B2");
    }
    let error = [
        CommandStatus::RTHROTTLED,
        CommandStatus::RTHROTTLED,
        CommandStatus::RSYSERR,
        CommandStatus::RMSGQFUL,
    ][usize::from(s >> 6)];
    let ok = !matches!(s % 8, 2 | 3);
    match command {
        CommandId::SUBMIT_SM | CommandId::DATA_SM if ok => {
            let id = w.new_id();
            encode(
                command.response(),
                rok,
                seq,
                Body::SmResp(SmResp::with_message_id(id)),
            )
        }
        CommandId::SUBMIT_MULTI if ok => {
            let id = w.new_id();
            encode(
                command.response(),
                rok,
                seq,
                Body::SubmitMultiResp(SubmitMultiResp {
                    message_id: id,
                    unsuccess: Vec::new(),
                    tlvs: Tlvs::empty(),
                }),
            )
        }
        CommandId::QUERY_SM if ok => encode(
            command.response(),
            rok,
            seq,
            Body::QuerySmResp(QuerySmResp {
                message_id: Bytes::from_static(b"A001"),
                final_date: Bytes::new(),
                message_state: 2,
                error_code: 0,
            }),
        ),
        _ if !command.expects_response() => {
            smpp::generic_nack(CommandStatus::RINVCMDID, seq).to_vec()
        }
        _ if ok => smpp::response_with_status(command, rok, seq).to_vec(),
        _ => smpp::response_with_status(command, error, seq).to_vec(),
    }
}

/// A request (or raw bytes) from the SMSC on a provider connection: delivery receipts (the
/// message id in the text or the `receipted_message_id` TLV), mobile-originated messages,
/// `data_sm`, `enquire_link`, `unbind`, `alert_notification`, PDUs a provider may not send,
/// malformed ones, framing errors. Texts carry the connection's `system_id` marker.
fn provider_request(c: &mut Cursor<'_>, w: &mut World, conn: ConnId, b: u8) -> Vec<u8> {
    let k = c.byte().unwrap_or(0);
    let max_pdu = w.settings.max_pdu;
    let own_ids = Vec::new();
    let id = w.pick_id(k, &own_ids);
    let Some(p) = w.providers.get_mut(&conn) else {
        return Vec::new();
    };
    let mark = marker(&p.system_id());
    let rok = CommandStatus::ROK;
    let mut out = Vec::new();
    let copies = 1 + usize::from(k >> 6);
    for _ in 0..copies {
        let seq = if b & 1 != 0 && k & 0x10 != 0 {
            p.next_seq.wrapping_sub(1)
        } else {
            p.next()
        };
        let pdu = match (b >> 1) % 12 {
            0 | 1 => {
                // A delivery receipt.
                let mut text = b"id:".to_vec();
                text.extend_from_slice(&id);
                text.extend_from_slice(
                    b" sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:",
                );
                text.extend_from_slice(&mark);
                let mut tl_id = id.to_vec();
                tl_id.push(0);
                let tl = if k & 2 != 0 {
                    tlvs(&[(tag::RECEIPTED_MESSAGE_ID, &tl_id[..])])
                } else {
                    Tlvs::empty()
                };
                let esm = if k & 4 != 0 { 0x04 } else { 0x20 };
                encode(
                    CommandId::DELIVER_SM,
                    rok,
                    seq,
                    Body::DeliverSm(sm(source(k), esm, text, tl)),
                )
            }
            2 | 3 => {
                // Mobile originated, sometimes a long message's part.
                let mut text = mark.clone();
                text.extend_from_slice(b" mo");
                let (esm, ud, params) = if k & 8 != 0 {
                    part(k, k.rotate_left(3), text)
                } else {
                    (0, text, Vec::new())
                };
                let params: Vec<(u16, &[u8])> = params.iter().map(|(t, v)| (*t, &v[..])).collect();
                encode(
                    CommandId::DELIVER_SM,
                    rok,
                    seq,
                    Body::DeliverSm(sm(source(k), esm, ud, tlvs(&params))),
                )
            }
            4 => {
                let mut tl_id = id.to_vec();
                tl_id.push(0);
                let mut params: Vec<(u16, &[u8])> = vec![(tag::MESSAGE_PAYLOAD, &mark[..])];
                if k & 2 != 0 {
                    params.push((tag::RECEIPTED_MESSAGE_ID, &tl_id[..]));
                }
                encode(
                    CommandId::DATA_SM,
                    rok,
                    seq,
                    Body::DataSm(DataSm {
                        service_type: Bytes::new(),
                        source: source(k),
                        destination: addr(b"447700900999"),
                        esm_class: if k & 4 != 0 { 0x04 } else { 0 },
                        registered_delivery: 0,
                        data_coding: 0,
                        tlvs: tlvs(&params),
                    }),
                )
            }
            5 => smpp::enquire_link(seq).to_vec(),
            6 => smpp::unbind(seq).to_vec(),
            7 => encode(
                CommandId::ALERT_NOTIFICATION,
                rok,
                seq,
                Body::AlertNotification(AlertNotification {
                    source: source(k),
                    esme: addr(b"1234"),
                    tlvs: Tlvs::empty(),
                }),
            ),
            8 => match k % 4 {
                // Not valid from a provider.
                0 => encode(
                    CommandId::SUBMIT_SM,
                    rok,
                    seq,
                    Body::SubmitSm(sm(source(k), 0, mark.clone(), Tlvs::empty())),
                ),
                1 => raw_pdu(0x0000_0111, 0, seq, b""),
                2 => smpp::bind(
                    CommandId::BIND_TRANSCEIVER,
                    seq,
                    &Bind {
                        system_id: Bytes::from_static(b"smsc"),
                        ..Bind::default()
                    },
                )
                .expect("bind template")
                .to_vec(),
                _ => encode(
                    CommandId::OUTBIND,
                    rok,
                    seq,
                    Body::Outbind(Outbind {
                        system_id: Bytes::from_static(b"smsc"),
                        password: Bytes::new(),
                    }),
                ),
            },
            9 => raw_pdu(CommandId::DELIVER_SM.0, 0, seq, c.bytes(64)),
            10 => c.bytes(600).to_vec(),
            _ => bad_length(k, max_pdu, seq),
        };
        out.extend(pdu);
    }
    out
}

/// The inputs of one SMPP op (`op` is 0 to 7 here).
pub fn op(c: &mut Cursor<'_>, d: &mut Driver, op: u8, next_conn: &mut u64) -> Vec<Input> {
    let peer: SocketAddr = "10.0.4.1:40000".parse().unwrap();
    match op {
        0 => {
            // A new customer, with a bind (and more) at once, or nothing yet; sometimes the
            // peers catch up right after the bind (so the providers bind at once).
            let conn = ConnId(*next_conn);
            *next_conn += 1;
            let b = c.byte().unwrap_or(0);
            let mut cust = Customer::new(d.smpp.settings.max_pdu);
            let mut bytes = Vec::new();
            if b & 1 == 0 {
                let k = c.byte().unwrap_or(0);
                let seq = cust.next();
                bytes = bind_pdu(c, k, seq);
                for _ in 0..(b >> 1) % 3 {
                    bytes.extend(customer_pdu(c, &d.smpp, conn, &mut cust));
                }
            }
            d.smpp.customers.insert(conn, cust);
            let listener = d.smpp.listener;
            d.feed(Input::Accepted {
                conn,
                listener,
                peer,
            });
            for input in chunks(c, conn, Bytes::from(bytes)) {
                d.feed(input);
            }
            if b & 0x11 == 0 {
                catch_up(&mut d.smpp, &d.open)
            } else {
                Vec::new()
            }
        }
        1 | 2 => {
            // A customer sends one to three PDUs.
            let b = c.byte().unwrap_or(0);
            let Some(conn) = nth(&d.smpp.customers, b) else {
                return Vec::new();
            };
            let mut cust = d.smpp.customers.remove(&conn).expect("picked");
            let mut bytes = Vec::new();
            for _ in 0..1 + (b >> 5) % 3 {
                bytes.extend(customer_pdu(c, &d.smpp, conn, &mut cust));
            }
            d.smpp.customers.insert(conn, cust);
            chunks(c, conn, Bytes::from(bytes))
        }
        3 => {
            // A customer answers, sends raw bytes, or closes.
            let b = c.byte().unwrap_or(0);
            let Some(conn) = nth(&d.smpp.customers, b) else {
                return Vec::new();
            };
            match b >> 5 {
                0..=4 => {
                    let cust = d.smpp.customers.get_mut(&conn).expect("picked");
                    let bytes = customer_answer(c, cust);
                    chunks(c, conn, Bytes::from(bytes))
                }
                5 => {
                    let bytes = Bytes::copy_from_slice(c.bytes(300));
                    chunks(c, conn, bytes)
                }
                6 => vec![Input::Closed {
                    conn,
                    reason: CloseReason::PeerClosed,
                }],
                _ => vec![Input::Closed {
                    conn,
                    reason: CloseReason::IoError,
                }],
            }
        }
        4 | 5 => {
            // The SMSC on a provider connection: connected or refused, then answers.
            let b = c.byte().unwrap_or(0);
            let Some(conn) = nth(&d.smpp.providers, b) else {
                return Vec::new();
            };
            let mut inputs = Vec::new();
            if d.open.get(&conn) != Some(&true) {
                if b >> 5 == 7 {
                    return vec![Input::ConnectFailed { conn }];
                }
                inputs.push(Input::Connected { conn });
                if b & 0x10 == 0 {
                    return inputs;
                }
            }
            let mut bytes = Vec::new();
            for _ in 0..1 + (b >> 2) % 3 {
                bytes.extend(provider_answer(c, &mut d.smpp, conn));
            }
            inputs.extend(chunks(c, conn, Bytes::from(bytes)));
            inputs
        }
        6 => {
            // The SMSC sends requests or raw bytes, or closes.
            let b = c.byte().unwrap_or(0);
            let Some(conn) = nth(&d.smpp.providers, b) else {
                return Vec::new();
            };
            if d.open.get(&conn) != Some(&true) {
                return vec![Input::Connected { conn }];
            }
            match b >> 5 {
                6 if b & 0x10 != 0 => vec![Input::Closed {
                    conn,
                    reason: CloseReason::PeerClosed,
                }],
                7 if b & 0x10 != 0 => vec![Input::Closed {
                    conn,
                    reason: CloseReason::IoError,
                }],
                _ => {
                    let bytes = provider_request(c, &mut d.smpp, conn, b >> 1);
                    chunks(c, conn, Bytes::from(bytes))
                }
            }
        }
        _ => catch_up(&mut d.smpp, &d.open),
    }
}

/// Every peer catches up at once: provider connections not connected yet are connected,
/// the SMSC answers every request it has with success (binds `ESME_ROK`, message ids) and
/// every customer every request the core sent it (`ESME_ROK`).
fn catch_up(w: &mut World, open: &BTreeMap<ConnId, bool>) -> Vec<Input> {
    let mut inputs = Vec::new();
    let conns: Vec<ConnId> = w.providers.keys().copied().collect();
    for conn in conns {
        if open.get(&conn) != Some(&true) {
            inputs.push(Input::Connected { conn });
        }
        let pending = std::mem::take(&mut w.providers.get_mut(&conn).expect("listed").pending);
        let mut bytes = Vec::new();
        for (seq, command) in pending {
            let pdu = if command.is_bind() {
                smpp::bind_resp(command, CommandStatus::ROK, seq, b"smsc", None)
                    .expect("bind_resp template")
                    .to_vec()
            } else if matches!(command, CommandId::SUBMIT_SM | CommandId::DATA_SM) {
                let id = w.new_id();
                encode(
                    command.response(),
                    CommandStatus::ROK,
                    seq,
                    Body::SmResp(SmResp::with_message_id(id)),
                )
            } else if command.expects_response() {
                smpp::response_with_status(command, CommandStatus::ROK, seq).to_vec()
            } else {
                continue;
            };
            bytes.extend(pdu);
        }
        if !bytes.is_empty() {
            inputs.push(Input::Data {
                conn,
                bytes: Bytes::from(bytes),
            });
        }
    }
    for (conn, cust) in &mut w.customers {
        let mut bytes = Vec::new();
        for (seq, command) in std::mem::take(&mut cust.to_answer) {
            if command.expects_response() {
                bytes.extend_from_slice(&smpp::response_with_status(
                    command,
                    CommandStatus::ROK,
                    seq,
                ));
            }
        }
        if !bytes.is_empty() {
            inputs.push(Input::Data {
                conn: *conn,
                bytes: Bytes::from(bytes),
            });
        }
    }
    inputs
}

/// The `b`-th key of `map` (modulo its size).
fn nth<V>(map: &BTreeMap<ConnId, V>, b: u8) -> Option<ConnId> {
    if map.is_empty() {
        return None;
    }
    map.keys().nth(usize::from(b) % map.len()).copied()
}

/// Answers the `enquire_link`s the core sent to customers and connected providers (a
/// well-behaved peer does; the only input while settling).
fn answer_enquiries(d: &mut Driver) {
    let mut inputs = Vec::new();
    for (conn, cust) in &mut d.smpp.customers {
        let mut bytes = Vec::new();
        cust.to_answer.retain(|(seq, command)| {
            let enquiry = *command == CommandId::ENQUIRE_LINK;
            if enquiry {
                bytes.extend_from_slice(&smpp::enquire_link_resp(*seq));
            }
            !enquiry
        });
        if !bytes.is_empty() {
            inputs.push(Input::Data {
                conn: *conn,
                bytes: Bytes::from(bytes),
            });
        }
    }
    for (conn, p) in &mut d.smpp.providers {
        if d.open.get(conn) != Some(&true) {
            continue;
        }
        let mut bytes = Vec::new();
        p.pending.retain(|(seq, command)| {
            let enquiry = *command == CommandId::ENQUIRE_LINK;
            if enquiry {
                bytes.extend_from_slice(&smpp::enquire_link_resp(*seq));
            }
            !enquiry
        });
        if !bytes.is_empty() {
            inputs.push(Input::Data {
                conn: *conn,
                bytes: Bytes::from(bytes),
            });
        }
    }
    for input in inputs {
        d.feed(input);
    }
}

/// The end of a run: time advances, deadline after deadline, well past `timeoutResponse`
/// and `throttleQueueTimeout` (twice both, plus 2 s) with no input but the answers to the
/// core's `enquire_link`s; then every request a still-connected customer or provider sent
/// must have been answered.
pub fn settle(d: &mut Driver) {
    let s = d.smpp.settings;
    let end = d
        .now
        .saturating_add(2 * (RESPONSE + s.queue_timeout) + Duration::from_secs(2));
    answer_enquiries(d);
    let mut steps = 0;
    loop {
        let next = d.b.poll_timeout().filter(|t| *t <= end);
        let Some(t) = next else {
            break;
        };
        steps += 1;
        if steps > 20_000 {
            // Too many deadlines to step through (each step moves time on): the check
            // would not be sure every deadline was handled in order, so none is made.
            return;
        }
        d.now = d.now.max(t);
        d.feed(Input::Timeout);
        if let Some(t) = d.b.poll_timeout() {
            assert!(
                t > d.now,
                "deadline {t:?} still due at {:?} after its timeout",
                d.now
            );
        }
        answer_enquiries(d);
    }
    if d.now < end {
        d.now = end;
        d.feed(Input::Timeout);
    }
    check_answered(d, end);
}

fn check_answered(d: &Driver, at: Timestamp) {
    for (conn, cust) in &d.smpp.customers {
        if let Some((seq, e)) = cust.ledger.missing() {
            panic!(
                "SMPP customer {conn:?} still connected at {at:?}: request(s) numbered {seq} not answered ({e:?}), every deadline past"
            );
        }
    }
    for (conn, p) in &d.smpp.providers {
        if d.open.get(conn) != Some(&true) {
            continue;
        }
        if let Some((seq, e)) = p.ledger.missing() {
            panic!(
                "SMPP provider {conn:?} still connected at {at:?}: request(s) numbered {seq} not answered ({e:?}), every deadline past"
            );
        }
    }
}
