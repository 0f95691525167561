//! Helpers of the end-to-end tests: the real balancer binary on free loopback ports, test
//! nodes that register through the HTTP/JSON heartbeat (behaviour reference §3.2), and SIPp.
//! Every process is started here and stopped by its PID when its guard is dropped.
//!
//! The binary is chosen per run by `SWITCHBOARD_RUNTIME` (`tokio`, the default, or `smol`) or
//! `SWITCHBOARD_BIN` (see [`switchboard_tests::binary`]).

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod http;

pub use switchboard_tests::{binary, binary_name};
pub const SIPP: &str = "/usr/bin/sipp";
pub const LOCALHOST: &str = "127.0.0.1";

/// A child process killed (SIGKILL, by PID) and reaped when dropped.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `limit` for the process to exit on its own; kills it after that.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll child") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGKILL to the process (by its PID) and reaps it: a crash, not a shutdown.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Sends SIGTERM by PID and waits up to `limit` for the exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let pid = self.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.wait_for(limit)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A fresh directory for one test's files.
pub fn test_dir(test: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("switchboard-e2e-{}-{n}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// A loopback port free for both UDP and TCP right now, and not handed out before by this
/// process (the system may offer a port again once its probe socket is closed, so two ports
/// of one configuration could otherwise collide).
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let udp = UdpSocket::bind((LOCALHOST, 0)).expect("bind UDP");
        let port = udp.local_addr().expect("local addr").port();
        if handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind((LOCALHOST, port)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no free loopback port");
}

/// Writes `config` to `dir/lb-configuration.xml`, starts the binary on it with `RUST_LOG`
/// set to `rust_log` and its log in `dir/switchboard.log`, and waits (at most 10 s) until every
/// socket is open; panics with the log if the balancer exits first.
pub fn start_balancer(dir: &Path, config: &str, rust_log: &str) -> Proc {
    start_balancer_logged(dir, config, rust_log, "switchboard.log")
}

/// [`start_balancer`] with the log in `dir/log_name` (a restarted balancer keeps the first
/// one's log).
pub fn start_balancer_logged(dir: &Path, config: &str, rust_log: &str, log_name: &str) -> Proc {
    let path = dir.join("lb-configuration.xml");
    std::fs::write(&path, config).expect("write configuration");
    let log = std::fs::File::create(dir.join(log_name)).expect("create log");
    let mut proc = Proc::spawn(
        binary_name(),
        Command::new(binary())
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", rust_log)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log),
    );
    let log = || std::fs::read_to_string(dir.join(log_name)).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("{} exited early ({status}):\n{}", binary_name(), log());
        }
        // The log line is written once every socket is open.
        if log().contains("ready: every listener is open") {
            return proc;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not open its ports:\n{}",
            binary_name(),
            log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The ports of one balancer.
#[derive(Debug, Clone, Copy)]
pub struct LbPorts {
    pub external: u16,
    pub internal: u16,
    pub heartbeat: u16,
    pub management: u16,
    /// The HTTP balancer's plain port (`<http><httpPort>`).
    pub http: u16,
}

impl LbPorts {
    pub fn free() -> LbPorts {
        LbPorts {
            external: free_port(),
            internal: free_port(),
            heartbeat: free_port(),
            management: free_port(),
            http: free_port(),
        }
    }
}

/// Changes to the test configuration of [`Lb::start_extra`]: timers and extra elements.
#[derive(Debug, Clone, Default)]
pub struct LbExtra {
    /// `<nodeTimeout>` in ms (default 8400).
    pub node_timeout_ms: Option<u64>,
    /// `<heartbeatInterval>` in ms (default 150).
    pub heartbeat_interval_ms: Option<u64>,
    /// Extra elements in `<common>`.
    pub common: String,
    /// Extra elements in `<sip><external>`.
    pub external: String,
    /// Extra elements in `<sip><internal>`.
    pub internal: String,
    /// Extra `<property>` elements in `<sipStack>`.
    pub sip_stack: String,
    /// Extra elements in `<sip>`.
    pub sip: String,
    /// `<sip><isSendTrying>` (default true: the balancer answers `100 Trying` itself).
    pub send_trying: Option<bool>,
    /// `<sip><inviteFailoverTimeout>` in ms (default 1000).
    pub invite_failover_timeout_ms: Option<u64>,
    /// `<sip><startupGracePeriod>` in ms (default 5000).
    pub startup_grace_period_ms: Option<u64>,
    /// `<sip><staticNodes>`: nodes that send no heartbeat, kept alive by OPTIONS probing.
    pub static_nodes: Vec<StaticNode>,
    /// `<sip><probing>`.
    pub probing: Option<Probing>,
    /// Extra elements in `<http>` (after `<httpPort>`).
    pub http: String,
    /// Extra top-level sections (`<smpp>`, `<ssl>`), before `<heartbeat>`.
    pub sections: String,
}

/// One `<sip><staticNodes><node>` at 127.0.0.1 whose SIP UDP and TCP port is `port`.
#[derive(Debug, Clone)]
pub struct StaticNode {
    pub host_name: String,
    pub port: u16,
}

/// `<sip><probing>`: one OPTIONS per node every `interval_ms`; `failure_threshold`
/// unanswered probes take a node out of rotation, `success_threshold` answered ones bring it
/// back.
#[derive(Debug, Clone, Copy)]
pub struct Probing {
    pub interval_ms: u64,
    pub failure_threshold: u32,
    pub success_threshold: u32,
}

impl LbExtra {
    /// The elements of `<sip>` this adds (before `<algorithm>`).
    fn sip_elements(&self) -> String {
        let mut out = String::new();
        if let Some(v) = self.send_trying {
            out.push_str(&format!("<isSendTrying>{v}</isSendTrying>\n    "));
        }
        if let Some(v) = self.invite_failover_timeout_ms {
            out.push_str(&format!(
                "<inviteFailoverTimeout>{v}</inviteFailoverTimeout>\n    "
            ));
        }
        if let Some(v) = self.startup_grace_period_ms {
            out.push_str(&format!(
                "<startupGracePeriod>{v}</startupGracePeriod>\n    "
            ));
        }
        if !self.static_nodes.is_empty() {
            out.push_str("<staticNodes>\n");
            for n in &self.static_nodes {
                out.push_str(&format!(
                    "      <node><hostName>{}</hostName><ip>{LOCALHOST}</ip><udpPort>{port}</udpPort>\
                     <tcpPort>{port}</tcpPort><version>0</version></node>\n",
                    n.host_name,
                    port = n.port
                ));
            }
            out.push_str("    </staticNodes>\n    ");
        }
        if let Some(p) = self.probing {
            out.push_str(&format!(
                "<probing><interval>{}</interval><failureThreshold>{}</failureThreshold>\
                 <successThreshold>{}</successThreshold></probing>\n    ",
                p.interval_ms, p.failure_threshold, p.success_threshold
            ));
        }
        out.push_str(&self.sip);
        out
    }
}

/// A running balancer; killed by PID when dropped.
#[derive(Debug)]
pub struct Lb {
    pub ports: LbPorts,
    pub dir: PathBuf,
    pub proc: Proc,
    /// The configuration it runs on.
    pub config: String,
    /// How many times [`Lb::crash_and_restart`] started it again.
    pub restarts: u32,
}

impl Lb {
    /// Writes `lb-configuration.xml` for `ports` into `dir`, starts the binary and waits (at
    /// most 10 s) until its heartbeat port accepts connections.
    pub fn start(dir: &Path, ports: LbPorts) -> Lb {
        Lb::start_with(dir, ports, "", "")
    }

    /// [`Lb::start`] with extra elements in `<common>` (e.g. `<shutdownTimeout>`) and in
    /// `<sip><external>` (e.g. `<ipv6UdpPort>`).
    pub fn start_with(dir: &Path, ports: LbPorts, common_extra: &str, external_extra: &str) -> Lb {
        let extra = LbExtra {
            common: common_extra.to_owned(),
            external: external_extra.to_owned(),
            ..LbExtra::default()
        };
        Lb::start_extra(dir, ports, &extra)
    }

    /// [`Lb::start`] with the configuration changes of `extra`.
    pub fn start_extra(dir: &Path, ports: LbPorts, extra: &LbExtra) -> Lb {
        let node_timeout = extra.node_timeout_ms.unwrap_or(8400);
        let heartbeat_interval = extra.heartbeat_interval_ms.unwrap_or(150);
        let common_extra = &extra.common;
        let external_extra = &extra.external;
        let internal_extra = &extra.internal;
        let sip_stack_extra = &extra.sip_stack;
        let sip_extra = extra.sip_elements();
        let config = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<load-balancer-properties>
  <common>
    <host>127.0.0.1</host>
    <ipv6Host>::1</ipv6Host>
    <nodeTimeout>{node_timeout}</nodeTimeout>
    <heartbeatInterval>{heartbeat_interval}</heartbeatInterval>
    <apiPort>{management}</apiPort>
    {common_extra}
  </common>
  <sip>
    {sip_extra}
    <algorithm>
      <algorithmClass>org.mobicents.tools.sip.balancer.CallIDAffinityBalancerAlgorithm</algorithmClass>
    </algorithm>
    <external>
      <udpPort>{external}</udpPort>
      <tcpPort>{external}</tcpPort>
      {external_extra}
    </external>
    <internal>
      <udpPort>{internal}</udpPort>
      <tcpPort>{internal}</tcpPort>
      {internal_extra}
    </internal>
  </sip>
  <http>
    <httpPort>{http_port}</httpPort>
    {http_extra}
  </http>
  <sipStack>
    <property><key>RECEIVE_UDP_BUFFER_SIZE</key><value>2097152</value></property>
    <property><key>SEND_UDP_BUFFER_SIZE</key><value>2097152</value></property>
    {sip_stack_extra}
  </sipStack>
  {sections}
  <heartbeat>
    <heartbeatConfig>
      <protocolClassName>org.mobicents.tools.heartbeat.impl.ServerController</protocolClassName>
      <heartbeatPort>{heartbeat}</heartbeatPort>
    </heartbeatConfig>
  </heartbeat>
</load-balancer-properties>
"#,
            management = ports.management,
            external = ports.external,
            internal = ports.internal,
            heartbeat = ports.heartbeat,
            http_port = ports.http,
            http_extra = extra.http,
            sections = extra.sections,
        );
        let proc = start_balancer(dir, &config, "info");
        Lb {
            ports,
            dir: dir.to_owned(),
            proc,
            config,
            restarts: 0,
        }
    }

    /// Kills the balancer with SIGKILL (a crash: no `stop` to the nodes, no state kept) and
    /// starts it again at once on the same configuration and ports, its log in
    /// `switchboard-restart-N.log`; returns once every listener is open again (at most 10 s).
    pub fn crash_and_restart(&mut self) {
        self.proc.kill();
        self.restarts += 1;
        let log_name = format!("switchboard-restart-{}.log", self.restarts);
        self.proc = start_balancer_logged(&self.dir, &self.config, "info", &log_name);
    }

    /// The balancer's log so far (after a restart, every run's log, one after the other).
    pub fn log(&self) -> String {
        let mut text =
            std::fs::read_to_string(self.dir.join("switchboard.log")).unwrap_or_default();
        for n in 1..=self.restarts {
            let name = format!("switchboard-restart-{n}.log");
            text.push_str(&format!("--- {name}\n"));
            text.push_str(&read_or_note(&self.dir.join(name)));
        }
        text
    }

    pub fn external(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.external))
    }

    pub fn heartbeat(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.heartbeat))
    }

    pub fn internal(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.internal))
    }

    pub fn management(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.ports.management))
    }

    /// The body of `/lbinfo` parsed, or `None` if the management port does not answer.
    pub fn lbinfo(&self) -> Option<serde_json::Value> {
        http_json(self.management(), "/lbinfo")
    }

    /// The body of `/lbstat` parsed, or `None` if the management port does not answer.
    pub fn lbstat(&self) -> Option<serde_json::Value> {
        http_json(self.management(), "/lbstat")
    }

    /// The (hostName, udpPort, sessionId) of every IPv4 and IPv6 node `/lbinfo` lists.
    pub fn node_list(&self) -> Vec<(String, String, String)> {
        let Some(info) = self.lbinfo() else {
            return Vec::new();
        };
        let mut nodes = Vec::new();
        for family in ["nodesIPv4", "nodesIPv6"] {
            let list = info["Nodes info"][family]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for n in list {
                let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
                nodes.push((
                    text(&n["hostName"]),
                    text(&n["properties"]["udpPort"]),
                    text(&n["properties"]["sessionId"]),
                ));
            }
        }
        nodes
    }
}

/// The JSON body of a GET, parsed; `None` on any failure.
pub fn http_json(to: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let answer = http_get(to, path).ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// Polls `cond` every 50 ms for at most `limit`; returns whether it became true.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Lb {
    /// Keeps the test's files (configuration, logs, SIPp statistics) only when the test failed.
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One HTTP/1.1 POST of a JSON body; returns the whole answer (head and body). Bounded to 5 s.
pub fn http_post(to: SocketAddr, body: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// One HTTP/1.1 GET; returns the whole answer. Bounded to 5 s.
pub fn http_get(to: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// A cluster node's heartbeat client (§3.2): `start` until answered, then `heartbeat` every
/// second until dropped. The SIP side of the node is someone else (SIPp or a test socket).
#[derive(Debug)]
pub struct Node {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Requests the balancer sent to the node's own heartbeat port (the LB→node `stop`).
    pub received: Arc<std::sync::Mutex<Vec<String>>>,
    /// Accepted `start`s sent again after an `UNKNOWN_SESSION` answer
    /// ([`NodeOptions::restart_on_unknown_session`]).
    pub restarts: Arc<AtomicU32>,
    /// Heartbeats the balancer answered (with anything) so far: a test can act right after
    /// one, when the next is a whole interval away.
    pub heartbeats: Arc<AtomicU32>,
    /// The `sessionId` the node registered with.
    pub session: String,
    /// The balancer's heartbeat address.
    pub lb: SocketAddr,
    /// The node's own heartbeat port (where the balancer sends `stop`).
    pub heartbeat_port: u16,
}

impl Node {
    /// Registers a node whose SIP UDP and TCP port is `sip_port` and returns once the balancer
    /// answered `start` (at most 10 s).
    pub fn register(lb: SocketAddr, name: &str, sip_port: u16) -> Node {
        Node::register_as(lb, name, LOCALHOST, sip_port)
    }

    /// Sends `{"shutdown":{"sessionId":N}}` (graceful shutdown, §3.2); returns the answer.
    pub fn shutdown(&self) -> std::io::Result<String> {
        http_post(
            self.lb,
            &format!(r#"{{"shutdown":{{"sessionId":{}}}}}"#, self.session),
        )
    }

    /// Sends `{"stop":{"sessionId":N}}` (immediate removal, §3.2) and stops heartbeating.
    pub fn stop(mut self) -> std::io::Result<String> {
        self.halt();
        http_post(
            self.lb,
            &format!(r#"{{"stop":{{"sessionId":{}}}}}"#, self.session),
        )
    }

    /// Stops sending heartbeats (the node's SIP side is untouched) and waits for the thread.
    pub fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// [`Node::register`] announcing `ip` (e.g. `::1`) as the node's address.
    pub fn register_as(lb: SocketAddr, name: &str, ip: &str, sip_port: u16) -> Node {
        Node::register_with(lb, name, ip, sip_port, &NodeOptions::default())
    }

    /// [`Node::register_as`] with the heartbeat client's behaviour set by `options`.
    pub fn register_with(
        lb: SocketAddr,
        name: &str,
        ip: &str,
        sip_port: u16,
        options: &NodeOptions,
    ) -> Node {
        let session = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis()
            + u128::from(sip_port);
        let own = TcpListener::bind((LOCALHOST, 0)).expect("bind node heartbeat port");
        own.set_nonblocking(true).expect("nonblocking");
        let own_port = own.local_addr().expect("local addr").port();
        let start = serde_json::json!({"start": {
            "hostName": name,
            "ip": ip,
            "udpPort": sip_port.to_string(),
            "tcpPort": sip_port.to_string(),
            "version": "0",
            "sessionId": session.to_string(),
            "heartbeatPort": own_port.to_string(),
        }})
        .to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match http_post(lb, &start) {
                Ok(answer) if answer.contains(r#"{"start":"OK"}"#) => break,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "start of {name} not accepted: {other:?}"
                    );
                    thread::sleep(Duration::from_millis(200));
                }
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let restarts = Arc::new(AtomicU32::new(0));
        let heartbeats = Arc::new(AtomicU32::new(0));
        let (flag, log, restarted) = (stop.clone(), received.clone(), restarts.clone());
        let beats = heartbeats.clone();
        let heartbeat = format!(r#"{{"heartbeat":{{"sessionId":{session}}}}}"#);
        let (interval, restart) = (options.interval, options.restart_on_unknown_session);
        let thread = thread::spawn(move || {
            let step = Duration::from_millis(50).min(interval);
            let mut last = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                thread::sleep(step);
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                if let Ok((stream, _)) = own.accept() {
                    if let Some(request) = answer_stop(stream) {
                        log.lock().expect("log lock").push(request);
                    }
                }
                if last.elapsed() < interval {
                    continue;
                }
                last = Instant::now();
                let answer = http_post(lb, &heartbeat);
                if answer.is_ok() {
                    beats.fetch_add(1, Ordering::Relaxed);
                }
                // A balancer that does not know the session (it restarted, or expired the
                // node) answers UNKNOWN_SESSION: the reference node goes back to `start`.
                if restart && matches!(&answer, Ok(a) if a.contains("UNKNOWN_SESSION")) {
                    if let Ok(a) = http_post(lb, &start) {
                        if a.contains(r#"{"start":"OK"}"#) {
                            restarted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Node {
            stop,
            thread: Some(thread),
            received,
            restarts,
            heartbeats,
            session: session.to_string(),
            lb,
            heartbeat_port: own_port,
        }
    }
}

/// How a [`Node`]'s heartbeat client behaves after its `start`.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Time between two heartbeats (default 1 s).
    pub interval: Duration,
    /// Send `start` again (same session) when a heartbeat is answered `UNKNOWN_SESSION`, as
    /// the reference node does (default false: the node stays unregistered).
    pub restart_on_unknown_session: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            interval: Duration::from_secs(1),
            restart_on_unknown_session: false,
        }
    }
}

/// Reads one HTTP request (head and `Content-Length` body, at most 2 s) and answers
/// `{"stop":"OK"}` as a node does.
fn answer_stop(mut stream: TcpStream) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&request).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let body = r#"{"stop":"OK"}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes());
    Some(String::from_utf8_lossy(&request).into_owned())
}

impl Drop for Node {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A SIPp command with the options every test uses: loopback, no keyboard, output into `dir`.
pub fn sipp(dir: &Path, name: &str, args: &[&str]) -> Command {
    assert!(
        Path::new(SIPP).exists(),
        "SIPp is missing: apt-get install -y sip-tester"
    );
    let mut cmd = Command::new(SIPP);
    cmd.current_dir(dir)
        .args([
            "-i",
            LOCALHOST,
            "-nostdin",
            "-trace_err",
            "-trace_stat",
            "-trace_counts",
            "-fd",
            "1",
        ])
        .arg("-error_file")
        .arg(dir.join(format!("{name}-errors.log")))
        .arg("-stf")
        .arg(dir.join(format!("{name}-stats.csv")))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// The last value of a column of a SIPp `-stf` statistics file.
pub fn sipp_stat(dir: &Path, name: &str, column: &str) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join(format!("{name}-stats.csv"))).ok()?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let index = header.iter().position(|h| *h == column)?;
    let last = lines.next_back()?;
    last.split(';').nth(index)?.trim().parse().ok()
}

/// The last value of a column of a SIPp `-trace_counts` file (per-message counters, written
/// as `<scenario>_<pid>_counts.csv` in `dir`), e.g. `3_ACK_Recv`.
pub fn sipp_count(dir: &Path, scenario: &str, pid: u32, column: &str) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join(format!("{scenario}_{pid}_counts.csv"))).ok()?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let index = header.iter().position(|h| *h == column)?;
    lines
        .next_back()?
        .split(';')
        .nth(index)?
        .trim()
        .parse()
        .ok()
}

/// A file's text, or a note that it is missing.
pub fn read_or_note(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// The directory of the SIPp scenario files of these tests.
pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

/// Starts a SIPp UAC (`-sn uac` unless `args` has `-sf`) toward `target` placing `calls` calls
/// at `rate` per second over `transport`, with a 60 s global timeout; named `name` in `dir`.
pub fn start_uac(
    dir: &Path,
    name: &str,
    target: SocketAddr,
    transport: &str,
    calls: u64,
    rate: u32,
    args: &[&str],
) -> Proc {
    let port = free_port().to_string();
    let (calls, rate, target) = (calls.to_string(), rate.to_string(), target.to_string());
    let mut all: Vec<&str> = vec![
        "-t",
        transport,
        "-r",
        &rate,
        "-m",
        &calls,
        "-p",
        &port,
        "-timeout",
        "60s",
        "-timeout_error",
    ];
    if !args.contains(&"-sf") {
        all.extend(["-sn", "uac"]);
    }
    all.extend(args);
    all.push(&target);
    Proc::spawn(name, &mut sipp(dir, name, &all))
}

/// Starts a SIPp UAS (`-sn uas` unless `args` has `-sf`) on `port` over `transport`.
pub fn start_uas(dir: &Path, name: &str, port: u16, transport: &str, args: &[&str]) -> Proc {
    let port = port.to_string();
    let mut all: Vec<&str> = vec!["-t", transport, "-p", &port];
    if !args.contains(&"-sf") {
        all.extend(["-sn", "uas"]);
    }
    all.extend(args);
    Proc::spawn(name, &mut sipp(dir, name, &all))
}

/// The body of a SIP heartbeat (§3.5) for a node at 127.0.0.1 whose SIP UDP and TCP port is
/// `sip_port`.
pub fn sip_heartbeat_body(name: &str, sip_port: u16, session: &str) -> String {
    format!(
        "udpPort={sip_port}\ntcpPort={sip_port}\nhostname={name}\nip={LOCALHOST}\nsessionId={session}\n"
    )
}

/// One `OPTIONS` carrying `Mobicents-Heartbeat: 1` and `body`, sent from `local`.
pub fn sip_heartbeat_options(local: SocketAddr, to: SocketAddr, seq: u32, body: &str) -> String {
    format!(
        "OPTIONS sip:{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-hb-{}-{seq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:heartbeat@{local}>;tag=hb{seq}\r\n\
         To: <sip:{to}>\r\n\
         Call-ID: heartbeat-{}-{seq}@{local}\r\n\
         CSeq: {seq} OPTIONS\r\n\
         Mobicents-Heartbeat: 1\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        local.port(),
        local.port(),
        body.len()
    )
}

/// A third-party node's SIP heartbeat (§3.5): an `OPTIONS` with `Mobicents-Heartbeat` and a
/// `key=value` body sent over UDP to `to` every second until dropped. Counts the 200 OK
/// answers it gets.
#[derive(Debug)]
pub struct SipHeartbeat {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// 200 OK answers received so far.
    pub answered: Arc<AtomicU32>,
}

impl SipHeartbeat {
    pub fn start(to: SocketAddr, body: String) -> SipHeartbeat {
        let socket = UdpSocket::bind((LOCALHOST, 0)).expect("bind heartbeat socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let local = socket.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU32::new(0));
        let (flag, count) = (stop.clone(), answered.clone());
        let thread = thread::spawn(move || {
            let mut seq = 1;
            while !flag.load(Ordering::Relaxed) {
                let options = sip_heartbeat_options(local, to, seq, &body);
                let _ = socket.send_to(options.as_bytes(), to);
                seq += 1;
                for _ in 0..10 {
                    if flag.load(Ordering::Relaxed) {
                        return;
                    }
                    let mut buf = [0u8; 4096];
                    if let Ok((n, _)) = socket.recv_from(&mut buf) {
                        if buf[..n].starts_with(b"SIP/2.0 200 ") {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        SipHeartbeat {
            stop,
            thread: Some(thread),
            answered,
        }
    }
}

impl Drop for SipHeartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A node's SIP side that answers nothing and records every message it receives over UDP and
/// TCP on one port (loopback), until dropped.
#[derive(Debug)]
pub struct SipSink {
    pub port: u16,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Every UDP datagram and every TCP read, as text.
    pub received: Arc<std::sync::Mutex<Vec<String>>>,
}

impl SipSink {
    pub fn start() -> SipSink {
        SipSink::start_on(free_port())
    }

    /// A sink on `port` (e.g. the port of a node that just died).
    pub fn start_on(port: u16) -> SipSink {
        let udp = UdpSocket::bind((LOCALHOST, port)).expect("bind sink UDP");
        let tcp = TcpListener::bind((LOCALHOST, port)).expect("bind sink TCP");
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        tcp.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, log) = (stop.clone(), received.clone());
        let udp_thread = thread::spawn(move || {
            let mut buf = vec![0u8; 65535];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((n, _)) = udp.recv_from(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    log.lock().expect("sink log").push(text);
                }
            }
        });
        let (flag, log) = (stop.clone(), received.clone());
        let tcp_thread = thread::spawn(move || {
            let mut conns: Vec<TcpStream> = Vec::new();
            let mut buf = vec![0u8; 65535];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((c, _)) = tcp.accept() {
                    let _ = c.set_nonblocking(true);
                    conns.push(c);
                }
                let mut open = Vec::new();
                for mut c in conns.drain(..) {
                    match c.read(&mut buf) {
                        Ok(0) => {}
                        Ok(n) => {
                            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                            log.lock().expect("sink log").push(text);
                            open.push(c);
                        }
                        Err(_) => open.push(c),
                    }
                }
                conns = open;
                thread::sleep(Duration::from_millis(10));
            }
        });
        SipSink {
            port,
            stop,
            threads: vec![udp_thread, tcp_thread],
            received,
        }
    }

    /// How many received messages contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.received
            .lock()
            .expect("sink log")
            .iter()
            .filter(|m| m.contains(needle))
            .count()
    }

    /// Whether some received message contains `needle`.
    pub fn saw(&self, needle: &str) -> bool {
        self.received
            .lock()
            .expect("sink log")
            .iter()
            .any(|m| m.contains(needle))
    }
}

impl Drop for SipSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The SIPp files of `names` (errors, last statistics line) and the balancer's log tail, for
/// assertion messages.
pub fn sipp_report(dir: &Path, lb: &Lb, names: &[&str]) -> String {
    let mut out = format!("files in {}\n", dir.display());
    for name in names {
        out.push_str(&format!(
            "--- {name} errors\n{}\n--- {name} stats\n{}\n",
            tail(&read_or_note(&dir.join(format!("{name}-errors.log"))), 20),
            tail(&read_or_note(&dir.join(format!("{name}-stats.csv"))), 1),
        ));
    }
    out.push_str(&format!(
        "--- switchboard log (tail)\n{}",
        tail(&lb.log(), 30)
    ));
    out
}
