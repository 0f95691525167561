//! Helpers of the SMPP balancer's end-to-end tests: a balancer configured for SMPP (mux or
//! regular mode, plain and TLS listeners), third-party SMPP peers on loopback and a raw SMPP
//! client for malformed input.
//!
//! - [`Smsc`]: a message centre (provider) built on npm's `smpp` server
//!   (`tests/peers/smsc.js`): it checks bind credentials, answers `submit_sm` (or not, or
//!   `ESME_RTHROTTLED`), sends delivery receipts and mobile-originated messages, and reports
//!   every PDU it sees as one JSON object per line.
//! - [`Esme`]: a customer built on PyPI's `smpplib` (`tests/peers/esme.py`), plain or TLS,
//!   driven by JSON commands on its stdin; it reports every PDU it sends and receives.
//! - [`RawSmpp`]: octets on a `TcpStream`, for what no library sends.
//!
//! Every process is started here and killed by its PID when its guard is dropped; each peer
//! also exits by itself when its stdin closes or after its maximum lifetime.

#![allow(dead_code, reason = "each test file uses a different subset")]

use crate::common::{free_port, tail, Lb, LbExtra, LbPorts, Proc, LOCALHOST};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long one SMPP exchange (a bind, a response, a PDU pushed by a peer) may take.
pub const STEP: Duration = Duration::from_secs(5);

/// SMPP 3.4 command ids (§5.1.2.1).
pub mod cmd {
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    pub const BIND_RECEIVER: u32 = 0x0000_0001;
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    pub const DELIVER_SM: u32 = 0x0000_0005;
    pub const UNBIND: u32 = 0x0000_0006;
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
}

/// SMPP 3.4 command_status values (§5.1.3).
pub mod status {
    pub const ROK: u64 = 0x00;
    pub const RINVCMDLEN: u64 = 0x02;
    pub const RINVCMDID: u64 = 0x03;
    pub const RSYSERR: u64 = 0x08;
    pub const RINVPASWD: u64 = 0x0E;
    pub const RTHROTTLED: u64 = 0x58;
}

/// A test peer script of `tests/peers/`.
pub fn peer(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("peers")
        .join(name)
}

/// A loopback address.
pub fn at(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------------------------------------
// The JSON events a peer writes

/// The JSON lines a peer wrote on stdout so far (also copied into `<dir>/<name>.jsonl`), with a
/// way to wait for one.
#[derive(Debug, Default)]
pub struct Events {
    lines: Mutex<Vec<Value>>,
    grown: Condvar,
}

impl Events {
    /// Reads `from` line by line on a thread until it ends.
    fn follow(from: impl Read + Send + 'static, copy: PathBuf) -> Arc<Events> {
        let events = Arc::new(Events::default());
        let sink = events.clone();
        thread::spawn(move || {
            let mut file = std::fs::File::create(copy).ok();
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { break };
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| json!({"event": "text", "line": line}));
                sink.lines.lock().expect("events").push(value);
                sink.grown.notify_all();
            }
            sink.lines
                .lock()
                .expect("events")
                .push(json!({"event": "stdout_closed"}));
            sink.grown.notify_all();
        });
        events
    }

    /// How many events there are so far (a mark for [`Events::wait_from`]).
    pub fn len(&self) -> usize {
        self.lines.lock().expect("events").len()
    }

    /// Every event so far.
    pub fn all(&self) -> Vec<Value> {
        self.lines.lock().expect("events").clone()
    }

    /// The events so far that `pred` accepts.
    pub fn matching(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.all().into_iter().filter(|e| pred(e)).collect()
    }

    /// The first event at index `from` or later that `pred` accepts, waiting at most `limit`.
    pub fn wait_from(
        &self,
        from: usize,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        self.wait_n_from(from, 1, limit, pred).pop()
    }

    /// The first event (from the start) that `pred` accepts, waiting at most `limit`.
    pub fn wait(&self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        self.wait_from(0, limit, pred)
    }

    /// Waits at most `limit` until `n` events at index `from` or later are accepted by `pred`;
    /// returns those found (fewer than `n` on timeout).
    pub fn wait_n_from(
        &self,
        from: usize,
        n: usize,
        limit: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut lines = self.lines.lock().expect("events");
        loop {
            let found: Vec<Value> = lines
                .iter()
                .skip(from)
                .filter(|e| pred(e))
                .take(n)
                .cloned()
                .collect();
            let now = Instant::now();
            if found.len() >= n || now >= deadline {
                return found;
            }
            lines = self
                .grown
                .wait_timeout(lines, deadline - now)
                .expect("events")
                .0;
        }
    }

    /// The last `n` events as text, for assertion messages.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines.lock().expect("events");
        let start = lines.len().saturating_sub(n);
        lines[start..]
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// `event["event"] == name`.
pub fn is(event: &Value, name: &str) -> bool {
    event["event"] == name
}

/// A field of an event as text (`""` when absent).
pub fn text(event: &Value, field: &str) -> String {
    match &event[field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A field of an event as a number (`u64::MAX` when absent).
pub fn num(event: &Value, field: &str) -> u64 {
    event[field].as_u64().unwrap_or(u64::MAX)
}

/// A peer process with its stdin (commands) and its stdout (events).
#[derive(Debug)]
struct Peer {
    proc: Proc,
    stdin: Option<ChildStdin>,
    events: Arc<Events>,
}

impl Peer {
    fn spawn(dir: &Path, name: &str, cmd: &mut Command) -> Peer {
        let stderr = std::fs::File::create(dir.join(format!("{name}.stderr"))).expect("stderr");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let events = Events::follow(stdout, dir.join(format!("{name}.jsonl")));
        Peer {
            proc: Proc {
                name: name.to_owned(),
                child,
            },
            stdin,
            events,
        }
    }

    fn send(&mut self, command: &Value) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{command}");
            let _ = stdin.flush();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The message centre (provider)

/// How a [`Smsc`] behaves.
#[derive(Debug, Clone)]
pub struct SmscOptions {
    /// The port to listen on (0: a free one).
    pub port: u16,
    /// The (system_id, password) pairs it accepts; empty: every bind.
    pub accounts: Vec<(String, String)>,
    /// `ok` (answer every request) or `silent` (never answer submit_sm / data_sm).
    pub reply: &'static str,
    /// Answer every Nth submit_sm ESME_RTHROTTLED (0: never).
    pub throttle_every: u32,
    /// Answer each request this long after it arrived.
    pub reply_delay_ms: u64,
    /// Message ids are `id_base + 1`, `id_base + 2`, ...
    pub id_base: u64,
    /// Send a delivery receipt this long after accepting each submit_sm.
    pub receipts_ms: Option<u64>,
    /// Listen with TLS, the certificate chain and key in this PEM file.
    pub tls_pem: Option<PathBuf>,
}

impl Default for SmscOptions {
    fn default() -> Self {
        SmscOptions {
            port: 0,
            accounts: Vec::new(),
            reply: "ok",
            throttle_every: 0,
            reply_delay_ms: 0,
            id_base: 100_000,
            receipts_ms: None,
            tls_pem: None,
        }
    }
}

impl SmscOptions {
    /// Accepting only `system_id`/`password`.
    pub fn account(system_id: &str, password: &str) -> SmscOptions {
        SmscOptions {
            accounts: vec![(system_id.to_owned(), password.to_owned())],
            ..SmscOptions::default()
        }
    }
}

/// An SMSC (`tests/peers/smsc.js`) on loopback; killed when dropped.
#[derive(Debug)]
pub struct Smsc {
    pub name: String,
    pub port: u16,
    peer: Peer,
    dir: PathBuf,
    options: SmscOptions,
}

impl Smsc {
    /// Starts it and waits (at most 10 s) until it listens.
    pub fn start(dir: &Path, name: &str, options: &SmscOptions) -> Smsc {
        let mut cmd = Command::new("node");
        cmd.arg(peer("smsc.js"))
            .args(["--port", &options.port.to_string()])
            .args(["--reply", options.reply])
            .args(["--throttle-every", &options.throttle_every.to_string()])
            .args(["--reply-delay-ms", &options.reply_delay_ms.to_string()])
            .args(["--id-base", &options.id_base.to_string()])
            .args(["--max-lifetime-s", "120"]);
        for (id, password) in &options.accounts {
            cmd.args(["--account", &format!("{id}:{password}")]);
        }
        if let Some(ms) = options.receipts_ms {
            cmd.args(["--receipts-ms", &ms.to_string()]);
        }
        if let Some(pem) = &options.tls_pem {
            cmd.arg("--tls-pem").arg(pem);
        }
        let peer = Peer::spawn(dir, name, &mut cmd);
        let ready = peer
            .events
            .wait(Duration::from_secs(10), |e| {
                is(e, "ready") || is(e, "fatal") || is(e, "stdout_closed")
            })
            .filter(|e| is(e, "ready"))
            .unwrap_or_else(|| {
                panic!(
                    "{name} did not start: {}\n{}",
                    peer.events.tail(5),
                    std::fs::read_to_string(dir.join(format!("{name}.stderr"))).unwrap_or_default()
                )
            });
        let port = u16::try_from(num(&ready, "port")).expect("port");
        Smsc {
            name: name.to_owned(),
            port,
            peer,
            dir: dir.to_owned(),
            options: options.clone(),
        }
    }

    /// Its events.
    pub fn events(&self) -> &Events {
        &self.peer.events
    }

    /// `host:port` for `remoteServers`.
    pub fn remote(&self) -> String {
        format!("{LOCALHOST}:{}", self.port)
    }

    /// Sends a command (see `tests/peers/smsc.js`).
    pub fn command(&mut self, command: Value) {
        self.peer.send(&command);
    }

    /// The binds it accepted so far.
    pub fn binds(&self) -> Vec<Value> {
        self.events()
            .matching(|e| is(e, "bind") && num(e, "status") == status::ROK)
    }

    /// Every bind attempt so far (accepted or not).
    pub fn bind_attempts(&self) -> Vec<Value> {
        self.events().matching(|e| is(e, "bind"))
    }

    /// Its accepted binds once `n` were seen (waiting at most [`STEP`]) and its event log had
    /// a moment to show any further one: for asserting an exact count.
    pub fn binds_settled(&self, n: usize) -> Vec<Value> {
        self.wait_binds(n, STEP);
        thread::sleep(Duration::from_millis(200));
        self.binds()
    }

    /// Every bind attempt once `n` were seen (waiting at most [`STEP`]) and the log settled.
    pub fn bind_attempts_settled(&self, n: usize) -> Vec<Value> {
        self.events().wait_n_from(0, n, STEP, |e| is(e, "bind"));
        thread::sleep(Duration::from_millis(200));
        self.bind_attempts()
    }

    /// Waits at most `limit` until it accepted `n` binds in all.
    pub fn wait_binds(&self, n: usize, limit: Duration) -> Vec<Value> {
        self.events().wait_n_from(0, n, limit, |e| {
            is(e, "bind") && num(e, "status") == status::ROK
        })
    }

    /// The submit_sm it received so far.
    pub fn submits(&self) -> Vec<Value> {
        self.events().matching(|e| is(e, "submit_sm"))
    }

    /// Waits at most `limit` until it received `n` submit_sm in all; returns those seen.
    /// (Its events come through its own pipe: after a customer got its responses, the SMSC's
    /// lines may still be on their way.)
    pub fn wait_submits(&self, n: usize, limit: Duration) -> Vec<Value> {
        self.events()
            .wait_n_from(0, n, limit, |e| is(e, "submit_sm"))
    }

    /// Kills it (SIGKILL: its connections are reset) and waits for the exit.
    pub fn kill(&mut self) {
        self.peer.proc.kill();
    }

    /// A new SMSC on the same port with the same options, its events in `<name>-<suffix>`.
    pub fn restart(&self, suffix: &str) -> Smsc {
        let options = SmscOptions {
            port: self.port,
            ..self.options.clone()
        };
        let name = format!("{}-{suffix}", self.name);
        // The port may take a moment to be free again after the kill.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if std::net::TcpListener::bind((LOCALHOST, self.port)).is_ok()
                || Instant::now() >= deadline
            {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        Smsc::start(&self.dir, &name, &options)
    }

    /// The last events, for assertion messages.
    pub fn report(&self) -> String {
        format!("--- {} events\n{}", self.name, self.events().tail(40))
    }
}

/// Waits at most `limit` until `smscs` received `n` submit_sm between them, then a moment more
/// for any extra one; returns how many they received.
pub fn wait_submits_total(smscs: &[&Smsc], n: usize, limit: Duration) -> usize {
    let total = || smscs.iter().map(|s| s.submits().len()).sum::<usize>();
    crate::common::wait_until(limit, || total() >= n);
    thread::sleep(Duration::from_millis(100));
    total()
}

// ---------------------------------------------------------------------------------------------
// The customer (ESME)

/// An ESME (`tests/peers/esme.py`) connected to the balancer; killed when dropped.
#[derive(Debug)]
pub struct Esme {
    pub name: String,
    peer: Peer,
}

/// The kind of bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindType {
    Transceiver,
    Transmitter,
    Receiver,
}

impl BindType {
    fn name(self) -> &'static str {
        match self {
            BindType::Transceiver => "transceiver",
            BindType::Transmitter => "transmitter",
            BindType::Receiver => "receiver",
        }
    }
}

impl Esme {
    /// Starts it connected to `to` (over TLS when `tls`), waiting at most 10 s for the
    /// connection.
    pub fn connect(dir: &Path, name: &str, to: SocketAddr, tls: bool) -> Esme {
        let mut cmd = Command::new("python3");
        cmd.arg(peer("esme.py"))
            .args(["--host", &to.ip().to_string()])
            .args(["--port", &to.port().to_string()])
            .args(["--max-lifetime-s", "120"]);
        if tls {
            cmd.arg("--tls");
        }
        let peer = Peer::spawn(dir, name, &mut cmd);
        let connected = peer.events.wait(Duration::from_secs(10), |e| {
            is(e, "connected") || is(e, "connect_failed") || is(e, "stdout_closed")
        });
        assert!(
            connected.as_ref().is_some_and(|e| is(e, "connected")),
            "{name} could not connect to {to}: {}\n{}",
            peer.events.tail(5),
            std::fs::read_to_string(dir.join(format!("{name}.stderr"))).unwrap_or_default()
        );
        Esme {
            name: name.to_owned(),
            peer,
        }
    }

    /// Its events.
    pub fn events(&self) -> &Events {
        &self.peer.events
    }

    /// Sends a command (see `tests/peers/esme.py`); returns the event mark before it.
    pub fn command(&mut self, command: Value) -> usize {
        let mark = self.events().len();
        self.peer.send(&command);
        mark
    }

    /// Sends a bind and returns its response (a `recv` event with the bind's sequence number:
    /// the bind_*_resp or a generic_nack), or `None` if none came within [`STEP`].
    pub fn try_bind(&mut self, kind: BindType, system_id: &str, password: &str) -> Option<Value> {
        let mark = self.send_bind(kind, system_id, password);
        self.bind_response(mark)
    }

    /// Sends a bind without waiting; returns the mark for [`Esme::bind_response`].
    pub fn send_bind(&mut self, kind: BindType, system_id: &str, password: &str) -> usize {
        self.command(json!({
            "op": "bind", "type": kind.name(), "system_id": system_id, "password": password,
        }))
    }

    /// The response to the bind sent at `mark` (see [`Esme::try_bind`]).
    pub fn bind_response(&self, mark: usize) -> Option<Value> {
        let sent = self.events().wait_from(mark, STEP, |e| {
            (is(e, "sent") && text(e, "command").starts_with("bind_"))
                || is(e, "not_connected")
                || is(e, "send_failed")
        })?;
        if !is(&sent, "sent") {
            return None;
        }
        let seq = num(&sent, "seq");
        self.events()
            .wait_from(mark, STEP, |e| is(e, "recv") && num(e, "seq") == seq)
    }

    /// A transceiver bind that must be answered; returns the response.
    pub fn bind(&mut self, system_id: &str, password: &str) -> Value {
        self.try_bind(BindType::Transceiver, system_id, password)
            .unwrap_or_else(|| panic!("{}: no bind response\n{}", self.name, self.report()))
    }

    /// A transceiver bind that must succeed.
    pub fn bind_ok(&mut self, system_id: &str, password: &str) -> Value {
        let resp = self.bind(system_id, password);
        assert_eq!(
            num(&resp, "status"),
            status::ROK,
            "{}: bind refused: {resp}\n{}",
            self.name,
            self.report()
        );
        resp
    }

    /// Sends `count` submit_sm with the texts `<text>-0`, `<text>-1`, ... (`extra` adds fields
    /// of the command: `registered_delivery`, `source`, `dest`); returns their sequence numbers.
    pub fn submit_with(&mut self, count: usize, text_prefix: &str, extra: Value) -> Vec<u64> {
        let mut command = json!({"op": "submit", "count": count, "text": text_prefix});
        if let (Some(c), Value::Object(e)) = (command.as_object_mut(), extra) {
            c.extend(e);
        }
        let mark = self.command(command);
        let prefix = format!("{text_prefix}-");
        let sent = self.events().wait_n_from(mark, count, STEP, |e| {
            is(e, "sent")
                && text(e, "command") == "submit_sm"
                && text(e, "text").starts_with(&prefix)
        });
        assert_eq!(
            sent.len(),
            count,
            "{}: sent {} of {count} submit_sm\n{}",
            self.name,
            sent.len(),
            self.report()
        );
        sent.iter().map(|e| num(e, "seq")).collect()
    }

    /// [`Esme::submit_with`] without extra fields.
    pub fn submit(&mut self, count: usize, text_prefix: &str) -> Vec<u64> {
        self.submit_with(count, text_prefix, json!({}))
    }

    /// One long text split into parts with a concatenation UDH; returns the parts' sequence
    /// numbers.
    pub fn submit_long(&mut self, long_text: &str) -> Vec<u64> {
        let mark = self.command(json!({"op": "submit_long", "text": long_text}));
        let first = self
            .events()
            .wait_from(mark, STEP, |e| is(e, "sent") && e["parts"].is_u64())
            .unwrap_or_else(|| panic!("{}: long message not sent\n{}", self.name, self.report()));
        let parts = usize::try_from(num(&first, "parts")).expect("parts");
        let sent = self
            .events()
            .wait_n_from(mark, parts, STEP, |e| is(e, "sent") && e["parts"].is_u64());
        sent.iter().map(|e| num(e, "seq")).collect()
    }

    /// The responses (`recv` events that are responses) to the requests `seqs`, waiting at most
    /// `limit` until each has one; the result has one entry per sequence number that got an
    /// answer, in the order of `seqs`.
    pub fn responses(&self, seqs: &[u64], limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        for &seq in seqs {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(resp) = self.events().wait(left, |e| {
                is(e, "recv") && num(e, "seq") == seq && num(e, "command_id") & 0x8000_0000 != 0
            }) {
                out.push(resp);
            }
        }
        out
    }

    /// Every response received for sequence number `seq` (to check "exactly one").
    pub fn responses_to(&self, seq: u64) -> Vec<Value> {
        self.events().matching(|e| {
            is(e, "recv") && num(e, "seq") == seq && num(e, "command_id") & 0x8000_0000 != 0
        })
    }

    /// The requests of `command` (e.g. `deliver_sm`) received so far.
    pub fn received(&self, command: &str) -> Vec<Value> {
        self.events()
            .matching(|e| is(e, "recv") && text(e, "command") == command)
    }

    /// Waits at most `limit` until `n` requests of `command` have been received.
    pub fn wait_received(&self, command: &str, n: usize, limit: Duration) -> Vec<Value> {
        self.events().wait_n_from(0, n, limit, |e| {
            is(e, "recv") && text(e, "command") == command
        })
    }

    /// Whether the balancer closed the connection within `limit` (after event `from`).
    pub fn closed_within(&self, from: usize, limit: Duration) -> bool {
        self.events()
            .wait_from(from, limit, |e| {
                is(e, "closed") || is(e, "recv_failed") || is(e, "send_failed")
            })
            .is_some()
    }

    /// The last events, for assertion messages.
    pub fn report(&self) -> String {
        format!("--- {} events\n{}", self.name, self.events().tail(40))
    }
}

// ---------------------------------------------------------------------------------------------
// The balancer

/// What an SMPP test balancer differs in from the default test configuration.
#[derive(Debug, Clone)]
pub struct SmppLbConfig {
    /// `muxMode`.
    pub mux: bool,
    /// `remoteServers`: these loopback ports.
    pub providers: Vec<u16>,
    /// `<smpp>` elements by name, on top of the test defaults (see [`SmppLbConfig::new`]).
    pub keys: BTreeMap<String, String>,
    /// `<ssl><keyStore>` (a PEM chain and key): adds `smppSslPort` on a free port.
    pub key_store: Option<PathBuf>,
}

impl SmppLbConfig {
    /// Mux or regular mode toward `providers`, with test timers: `timeoutResponse` 3000 ms,
    /// `reconnectPeriod` 200 ms, `timeoutConnection` 5000 ms (peers started one after the
    /// other on a loaded machine may take more than the default second to bind), everything
    /// else the defaults.
    pub fn new(mux: bool, providers: &[u16]) -> SmppLbConfig {
        let mut keys = BTreeMap::new();
        keys.insert("timeoutResponse".to_owned(), "3000".to_owned());
        keys.insert("reconnectPeriod".to_owned(), "200".to_owned());
        keys.insert("timeoutConnection".to_owned(), "5000".to_owned());
        SmppLbConfig {
            mux,
            providers: providers.to_vec(),
            keys,
            key_store: None,
        }
    }

    /// Sets the `<smpp>` element `name` to `value`.
    pub fn key(mut self, name: &str, value: impl ToString) -> SmppLbConfig {
        self.keys.insert(name.to_owned(), value.to_string());
        self
    }

    /// The `remoteServers` value for `ports`.
    pub fn remote_servers(ports: &[u16]) -> String {
        ports
            .iter()
            .map(|p| format!("{LOCALHOST}:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A balancer started for SMPP tests: the common [`Lb`] plus its SMPP ports.
#[derive(Debug)]
pub struct SmppLb {
    pub lb: Lb,
    pub smpp_port: u16,
    pub ssl_port: Option<u16>,
}

impl Deref for SmppLb {
    type Target = Lb;
    fn deref(&self) -> &Lb {
        &self.lb
    }
}

impl SmppLb {
    /// Writes the configuration of `c` on free ports into `dir`, starts the binary and waits
    /// (at most 10 s) until every listener is open.
    pub fn start(dir: &Path, c: &SmppLbConfig) -> SmppLb {
        let ports = LbPorts::free();
        let smpp_port = free_port();
        let ssl_port = c.key_store.as_ref().map(|_| free_port());
        let mut smpp = format!(
            "<smppHost>{LOCALHOST}</smppHost>\n    <smppPort>{smpp_port}</smppPort>\n    \
             <remoteServers>{}</remoteServers>\n    <muxMode>{}</muxMode>",
            SmppLbConfig::remote_servers(&c.providers),
            c.mux
        );
        if let Some(p) = ssl_port {
            smpp.push_str(&format!("\n    <smppSslPort>{p}</smppSslPort>"));
        }
        for (k, v) in &c.keys {
            smpp.push_str(&format!("\n    <{k}>{v}</{k}>"));
        }
        let ssl = c
            .key_store
            .as_ref()
            .map(|k| {
                format!(
                    "<ssl>\n    <terminateTLSTraffic>true</terminateTLSTraffic>\n    \
                     <keyStore>{}</keyStore>\n  </ssl>",
                    k.display()
                )
            })
            .unwrap_or_default();
        let extra = LbExtra {
            startup_grace_period_ms: Some(0),
            sections: format!("<smpp>\n    {smpp}\n  </smpp>\n  {ssl}"),
            ..LbExtra::default()
        };
        SmppLb {
            lb: Lb::start_extra(dir, ports, &extra),
            smpp_port,
            ssl_port,
        }
    }

    /// The plain SMPP listener.
    pub fn smpp(&self) -> SocketAddr {
        at(self.smpp_port)
    }

    /// The TLS SMPP listener (panics when there is none).
    pub fn smpp_ssl(&self) -> SocketAddr {
        at(self.ssl_port.expect("the balancer has an smppSslPort"))
    }

    /// Rewrites `remoteServers` in the configuration file to `ports`, sends SIGHUP and waits
    /// (at most 5 s) for the reload to be logged.
    pub fn reload_remote_servers(&mut self, ports: &[u16]) {
        let path = self.dir.join("lb-configuration.xml");
        let current = std::fs::read_to_string(&path).expect("read configuration");
        let start = current.find("<remoteServers>").expect("remoteServers") + 15;
        let end = current.find("</remoteServers>").expect("/remoteServers");
        let edited = format!(
            "{}{}{}",
            &current[..start],
            SmppLbConfig::remote_servers(ports),
            &current[end..]
        );
        let before = self.log().matches("configuration reloaded").count();
        std::fs::write(&path, &edited).expect("write configuration");
        self.lb.config = edited;
        let status = Command::new("kill")
            .args(["-HUP", &self.proc.pid().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.log().matches("configuration reloaded").count() <= before {
            assert!(
                Instant::now() < deadline,
                "no reload logged:\n{}",
                tail(&self.log(), 30)
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The balancer's log tail and the peers' last events, for assertion messages.
    pub fn report(&self, smscs: &[&Smsc], esmes: &[&Esme]) -> String {
        let mut out = format!("files in {}\n", self.dir.display());
        for s in smscs {
            out.push_str(&s.report());
            out.push('\n');
        }
        for e in esmes {
            out.push_str(&e.report());
            out.push('\n');
        }
        out.push_str(&format!(
            "--- switchboard log (tail)\n{}",
            tail(&self.log(), 40)
        ));
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Raw octets

/// One PDU as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPdu {
    pub command_id: u32,
    pub status: u32,
    pub seq: u32,
    pub body: Vec<u8>,
}

/// The octets of a PDU: header (§3.2) then `body`.
pub fn pdu(command_id: u32, status: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(16 + body.len()).expect("PDU length");
    let mut out = Vec::with_capacity(16 + body.len());
    for v in [len, command_id, status, seq] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// The body of a bind (§4.1.1): system_id, password, system_type "", interface_version 0x34,
/// addr_ton 0, addr_npi 0, address_range "".
pub fn bind_body(system_id: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for s in [system_id, password, ""] {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    out.extend_from_slice(&[0x34, 0, 0, 0]);
    out
}

/// The body of a submit_sm (§4.4.1) from 447700900100 to 447700900200 carrying `message`.
pub fn submit_body(message: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.push(0); // service_type ""
    out.extend_from_slice(&[1, 1]);
    out.extend_from_slice(b"447700900100\0");
    out.extend_from_slice(&[1, 1]);
    out.extend_from_slice(b"447700900200\0");
    out.extend_from_slice(&[0, 0, 0]); // esm_class, protocol_id, priority_flag
    out.extend_from_slice(&[0, 0]); // schedule_delivery_time "", validity_period ""
    out.extend_from_slice(&[0, 0, 0, 0]); // registered_delivery .. sm_default_msg_id
    out.push(u8::try_from(message.len()).expect("short message"));
    out.extend_from_slice(message.as_bytes());
    out
}

/// A raw SMPP connection: octets out, whole PDUs in.
#[derive(Debug)]
pub struct RawSmpp {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawSmpp {
    pub fn connect(to: SocketAddr) -> RawSmpp {
        let stream = TcpStream::connect_timeout(&to, STEP).expect("connect to the balancer");
        stream.set_nodelay(true).expect("nodelay");
        RawSmpp {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Writes `bytes`; a write error (connection already closed) is ignored.
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// The next PDU, waiting at most `limit`; `None` on timeout or close.
    pub fn read_pdu(&mut self, limit: Duration) -> Option<RawPdu> {
        let deadline = Instant::now() + limit;
        loop {
            if self.buffer.len() >= 16 {
                let len = u32::from_be_bytes(self.buffer[0..4].try_into().expect("4 octets"));
                let len = usize::try_from(len).expect("length");
                if len >= 16 && self.buffer.len() >= len {
                    let word = |i: usize| {
                        u32::from_be_bytes(self.buffer[i..i + 4].try_into().expect("4 octets"))
                    };
                    let pdu = RawPdu {
                        command_id: word(4),
                        status: word(8),
                        seq: word(12),
                        body: self.buffer[16..len].to_vec(),
                    };
                    self.buffer.drain(..len);
                    return Some(pdu);
                }
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// Reads more octets before `deadline`; false on timeout, close or error.
    fn fill(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        self.stream
            .set_read_timeout(Some(left))
            .expect("read timeout");
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Whether the peer closed the connection within `limit` (PDUs read meanwhile are
    /// dropped).
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("read timeout");
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(_) => return true,
            }
        }
    }
}
