//! Helpers of the HTTP balancer's end-to-end tests: a balancer configured for HTTP (plain,
//! HTTPS, an algorithm of choice), test nodes (`tests/peers/http_node.py`, nginx) and the
//! clients that drive it: a raw HTTP/1.1 client over `TcpStream` (keep-alive, pipelining,
//! malformed input), curl, wrk and a Python `websockets` client. Every process is started here
//! and stopped by its PID when its guard is dropped.

use super::{
    free_port, http_json, http_post, read_or_note, start_balancer, tail, wait_until, Lb, LbPorts,
    Proc, LOCALHOST,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const CURL: &str = "/usr/bin/curl";
pub const WRK: &str = "/usr/bin/wrk";
pub const NGINX: &str = "/usr/sbin/nginx";
/// How long one request of the raw client may take.
pub const IO_LIMIT: Duration = Duration::from_secs(5);

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

/// A Restcomm instance id (`ID` + 32 hex digits) made of `digit`.
pub fn instance_id(digit: char) -> String {
    format!("ID{}", digit.to_string().repeat(32))
}

/// A CallSid of instance `instance` (`<instance>-CA<32 hex>`).
pub fn call_sid(instance: &str) -> String {
    format!("{instance}-CA00af667a2e5d4e1c8a1a4f1f1bc794cd")
}

// ---------------------------------------------------------------------------------------------
// The balancer

/// `<ssl>` of an HTTPS balancer.
#[derive(Debug, Clone)]
pub struct Ssl {
    /// `keyStore`: chain and key in one PEM file (the test PKI's `key_store`).
    pub key_store: PathBuf,
    /// `trustStore`: the CA the nodes' certificates are checked against.
    pub trust_store: PathBuf,
    /// `terminateTLSTraffic`: true sends HTTPS to the node's httpPort, false re-encrypts to
    /// its sslPort.
    pub terminate: bool,
}

/// What an HTTP test balancer differs in from the default test configuration.
#[derive(Debug, Clone, Default)]
pub struct HttpLbConfig {
    /// Extra elements inside `<http>` (after `<httpPort>` and `<httpsPort>`).
    pub http: String,
    /// `<ssl>`, and an `<httpsPort>` on a free port.
    pub ssl: Option<Ssl>,
    /// The inner XML of `<sip><algorithm>` (default: Call-ID affinity).
    pub algorithm: Option<String>,
    /// `<nodeTimeout>` in ms (default 8400).
    pub node_timeout_ms: Option<u64>,
}

/// A balancer started for HTTP tests: the common [`Lb`] (ports, log, management API) plus
/// its HTTPS port.
#[derive(Debug)]
pub struct HttpLb {
    pub lb: Lb,
    pub https_port: Option<u16>,
}

impl Deref for HttpLb {
    type Target = Lb;
    fn deref(&self) -> &Lb {
        &self.lb
    }
}

impl HttpLb {
    /// An HTTP balancer with the default test configuration and `http` inside `<http>`.
    pub fn start(dir: &Path, http: &str) -> HttpLb {
        HttpLb::start_with(
            dir,
            &HttpLbConfig {
                http: http.to_owned(),
                ..HttpLbConfig::default()
            },
        )
    }

    /// Writes the configuration of `c` on free ports into `dir`, starts the binary and waits
    /// (at most 10 s) until every listener is open.
    pub fn start_with(dir: &Path, c: &HttpLbConfig) -> HttpLb {
        let ports = LbPorts::free();
        let https_port = c.ssl.as_ref().map(|_| free_port());
        let https = https_port
            .map(|p| format!("<httpsPort>{p}</httpsPort>"))
            .unwrap_or_default();
        let ssl = c
            .ssl
            .as_ref()
            .map(|s| {
                format!(
                    "<ssl>\n    <terminateTLSTraffic>{}</terminateTLSTraffic>\n    \
                     <keyStore>{}</keyStore>\n    <trustStore>{}</trustStore>\n  </ssl>",
                    s.terminate,
                    s.key_store.display(),
                    s.trust_store.display()
                )
            })
            .unwrap_or_default();
        let algorithm = c.algorithm.clone().unwrap_or_else(|| {
            "<algorithmClass>org.mobicents.tools.sip.balancer.CallIDAffinityBalancerAlgorithm\
             </algorithmClass>"
                .to_owned()
        });
        let config = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<load-balancer-properties>
  <common>
    <host>127.0.0.1</host>
    <ipv6Host>::1</ipv6Host>
    <nodeTimeout>{node_timeout}</nodeTimeout>
    <heartbeatInterval>150</heartbeatInterval>
    <apiPort>{management}</apiPort>
  </common>
  <sip>
    <startupGracePeriod>0</startupGracePeriod>
    <algorithm>
      {algorithm}
    </algorithm>
    <external>
      <udpPort>{external}</udpPort>
      <tcpPort>{external}</tcpPort>
    </external>
    <internal>
      <udpPort>{internal}</udpPort>
      <tcpPort>{internal}</tcpPort>
    </internal>
  </sip>
  {ssl}
  <http>
    <httpPort>{http_port}</httpPort>
    {https}
    {http_extra}
  </http>
  <heartbeat>
    <heartbeatConfig>
      <protocolClassName>org.mobicents.tools.heartbeat.impl.ServerController</protocolClassName>
      <heartbeatPort>{heartbeat}</heartbeatPort>
    </heartbeatConfig>
  </heartbeat>
</load-balancer-properties>
"#,
            node_timeout = c.node_timeout_ms.unwrap_or(8400),
            management = ports.management,
            external = ports.external,
            internal = ports.internal,
            http_port = ports.http,
            heartbeat = ports.heartbeat,
            http_extra = c.http,
        );
        let proc = start_balancer(dir, &config, "info");
        HttpLb {
            lb: Lb {
                ports,
                dir: dir.to_owned(),
                proc,
                config,
                restarts: 0,
            },
            https_port,
        }
    }

    /// The plain HTTP port's address.
    pub fn http(&self) -> SocketAddr {
        at(self.ports.http)
    }

    /// The HTTPS port's address (panics when the balancer has none).
    pub fn https(&self) -> SocketAddr {
        at(self.https_port.expect("the balancer has an httpsPort"))
    }

    /// `http://127.0.0.1:<httpPort><target>`.
    pub fn url(&self, target: &str) -> String {
        format!("http://{}{target}", self.http())
    }

    /// A numeric field of `/lbstat`'s `Metrics` (0 when absent).
    pub fn stat(&self, field: &str) -> u64 {
        self.lbstat()
            .and_then(|s| s["Metrics"][field].as_u64())
            .unwrap_or(0)
    }

    /// The text of `/metrics`.
    pub fn metrics(&self) -> String {
        super::http_get(self.management(), "/metrics")
            .ok()
            .and_then(|a| a.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()))
            .unwrap_or_default()
    }

    /// The `/lbinfo` entry of the node called `host`, if listed.
    pub fn node_info(&self, host: &str) -> Option<serde_json::Value> {
        let info = http_json(self.management(), "/lbinfo")?;
        info["Nodes info"]["nodesIPv4"]
            .as_array()?
            .iter()
            .find(|n| n["hostName"] == host)
            .cloned()
    }

    /// Waits (at most `limit`) until `/lbinfo` lists exactly the nodes `hosts`.
    pub fn wait_nodes(&self, hosts: &[&str], limit: Duration) -> bool {
        wait_until(limit, || {
            let Some(info) = http_json(self.management(), "/lbinfo") else {
                return false;
            };
            let mut listed: Vec<String> = info["Nodes info"]["nodesIPv4"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n["hostName"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            listed.sort();
            let mut want: Vec<&str> = hosts.to_vec();
            want.sort_unstable();
            listed == want
        })
    }

    /// The balancer's log tail and each node's, for assertion messages.
    pub fn report(&self, nodes: &[&HttpNode]) -> String {
        let mut out = format!("files in {}\n", self.dir.display());
        for n in nodes {
            out.push_str(&format!(
                "--- node {} (tail)\n{}\n",
                n.name,
                tail(&n.log(), 15)
            ));
        }
        out.push_str(&format!(
            "--- switchboard log (tail)\n{}",
            tail(&self.log(), 40)
        ));
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Test nodes

/// How to start a [`HttpNode`].
#[derive(Debug, Clone, Default)]
pub struct NodeSpec {
    pub name: String,
    pub jvm_route: String,
    /// `Restcomm-Instance-Id`.
    pub instance_id: Option<String>,
    /// A PEM file with the certificate chain and key: the node opens an sslPort.
    pub tls: Option<PathBuf>,
    /// Open a wsPort (a `websockets` echo server offering the sub-protocol `sip`).
    pub ws: bool,
    /// The `udpPort`/`tcpPort` it announces (default: a free one it holds).
    pub sip_port: Option<u16>,
}

impl NodeSpec {
    pub fn new(name: &str, jvm_route: &str) -> NodeSpec {
        NodeSpec {
            name: name.to_owned(),
            jvm_route: jvm_route.to_owned(),
            ..NodeSpec::default()
        }
    }
}

/// A running `tests/peers/http_node.py`, registered with a balancer; killed by PID when
/// dropped.
#[derive(Debug)]
pub struct HttpNode {
    pub name: String,
    pub jvm_route: String,
    pub http: u16,
    pub ssl: u16,
    pub ws: u16,
    pub proc: Proc,
    log: PathBuf,
}

impl HttpNode {
    /// A plain node `name` with jvmRoute `jvm_route`, registered with the balancer whose
    /// heartbeat port is `lb_heartbeat`.
    pub fn start(dir: &Path, lb_heartbeat: u16, name: &str, jvm_route: &str) -> HttpNode {
        HttpNode::spawn(dir, lb_heartbeat, &NodeSpec::new(name, jvm_route))
    }

    /// Starts the node of `spec` and waits (at most 10 s) for its `READY` line, printed once
    /// the balancer accepted its `start`. Its stderr goes to `dir/node-<name>.log`.
    pub fn spawn(dir: &Path, lb_heartbeat: u16, spec: &NodeSpec) -> HttpNode {
        let log = dir.join(format!("node-{}.log", spec.name));
        let mut cmd = Command::new("python3");
        cmd.arg(peer("http_node.py"))
            .args(["--lb-heartbeat", &lb_heartbeat.to_string()])
            .args(["--name", &spec.name, "--jvm-route", &spec.jvm_route]);
        if let Some(id) = &spec.instance_id {
            cmd.args(["--instance-id", id]);
        }
        if let Some(pem) = &spec.tls {
            cmd.arg("--ssl-cert").arg(pem).arg("--ssl-key").arg(pem);
        }
        if spec.ws {
            cmd.arg("--ws");
        }
        if let Some(p) = spec.sip_port {
            cmd.args(["--sip-port", &p.to_string()]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("create node log"));
        let mut proc = Proc::spawn(&format!("node {}", spec.name), &mut cmd);
        let stdout = proc.child.stdout.take().expect("node stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        let port = |key: &str| -> Option<u16> {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        };
        let (Some(http), Some(ssl), Some(ws)) = (port("http"), port("ssl"), port("ws")) else {
            proc.kill();
            panic!(
                "node {} did not get ready (line {line:?}):\n{}",
                spec.name,
                read_or_note(&log)
            );
        };
        HttpNode {
            name: spec.name.clone(),
            jvm_route: spec.jvm_route.clone(),
            http,
            ssl,
            ws,
            proc,
            log,
        }
    }

    /// A session cookie of this node (`JSESSIONID=<id>.<jvmRoute>`), as the node sets it.
    pub fn cookie(&self) -> String {
        format!(
            "JSESSIONID=0123456789ABCDEF{}.{}",
            self.http, self.jvm_route
        )
    }

    /// SIGUSR1: the node sends `shutdown` (graceful) and keeps serving.
    pub fn graceful(&self) {
        signal(self.proc.pid(), "USR1");
    }

    /// SIGKILL: the node dies at once (no `stop`, no more heartbeats).
    pub fn crash(&mut self) {
        self.proc.kill();
    }

    /// The node's stderr (one line per request served).
    pub fn log(&self) -> String {
        read_or_note(&self.log)
    }
}

/// Sends signal `name` (e.g. `USR1`) to `pid`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A heartbeat client for a node the test runs itself (nginx): `start` with `properties`
/// (plus `ip`, `version`, `sessionId`, and `heartbeatPort` unless given) until answered (at
/// most 10 s), then `heartbeat` every second until dropped.
#[derive(Debug)]
pub struct Registration {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub session: String,
}

impl Registration {
    pub fn start(lb_heartbeat: SocketAddr, properties: serde_json::Value) -> Registration {
        static N: AtomicU32 = AtomicU32::new(0);
        let session = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis()
            * 1000
            + u128::from(N.fetch_add(1, Ordering::Relaxed));
        let mut node = properties;
        node["ip"] = LOCALHOST.into();
        node["version"] = "0".into();
        node["sessionId"] = session.to_string().into();
        if node.get("heartbeatPort").is_none() {
            node["heartbeatPort"] = free_port().to_string().into();
        }
        let start = serde_json::json!({ "start": node }).to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match http_post(lb_heartbeat, &start) {
                Ok(answer) if answer.contains(r#"{"start":"OK"}"#) => break,
                other => {
                    assert!(Instant::now() < deadline, "start not accepted: {other:?}");
                    thread::sleep(Duration::from_millis(200));
                }
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let heartbeat = format!(r#"{{"heartbeat":{{"sessionId":{session}}}}}"#);
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                for _ in 0..10 {
                    thread::sleep(Duration::from_millis(100));
                    if flag.load(Ordering::Relaxed) {
                        return;
                    }
                }
                let _ = http_post(lb_heartbeat, &heartbeat);
            }
        });
        Registration {
            stop,
            thread: Some(thread),
            session: session.to_string(),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Debian's nginx in one process (`master_process off`, `daemon off`) on a free loopback port,
/// serving `index.html` with `X-Served-By: <name>`; killed by PID when dropped.
#[derive(Debug)]
pub struct Nginx {
    pub name: String,
    pub port: u16,
    pub proc: Proc,
    /// The static file's content.
    pub body: String,
}

impl Nginx {
    /// Writes the configuration and the static file into `dir/nginx-<name>` and starts nginx;
    /// returns once the port accepts connections (at most 10 s).
    pub fn start(dir: &Path, name: &str) -> Nginx {
        assert!(
            Path::new(NGINX).exists(),
            "nginx is missing: run scripts/install-test-deps.sh"
        );
        let root = dir.join(format!("nginx-{name}"));
        std::fs::create_dir_all(root.join("www")).expect("nginx dir");
        let body = format!("static page of {name}\n");
        std::fs::write(root.join("www/index.html"), &body).expect("static file");
        let port = free_port();
        let r = root.display();
        let conf = format!(
            "master_process off;\ndaemon off;\nworker_processes 1;\npid {r}/nginx.pid;\n\
             error_log {r}/error.log warn;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {r}/body;\n  \
             proxy_temp_path {r}/proxy;\n  fastcgi_temp_path {r}/fastcgi;\n  \
             uwsgi_temp_path {r}/uwsgi;\n  scgi_temp_path {r}/scgi;\n  \
             keepalive_requests 1000000;\n  \
             server {{\n    listen 127.0.0.1:{port};\n    root {r}/www;\n    \
             location / {{ add_header X-Served-By {name} always; }}\n  }}\n}}\n"
        );
        std::fs::write(root.join("nginx.conf"), conf).expect("nginx.conf");
        let mut proc = Proc::spawn(
            &format!("nginx {name}"),
            Command::new(NGINX)
                .arg("-p")
                .arg(&root)
                .arg("-e")
                .arg(root.join("error.log"))
                .arg("-c")
                .arg(root.join("nginx.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let up = wait_until(Duration::from_secs(10), || {
            TcpStream::connect(at(port)).is_ok()
        });
        if !up {
            proc.kill();
            panic!(
                "nginx did not open port {port}:\n{}",
                read_or_note(&root.join("error.log"))
            );
        }
        Nginx {
            name: name.to_owned(),
            port,
            proc,
            body,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client

/// One HTTP response as received.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    /// The head as text (status line and fields).
    pub head: String,
    pub headers: Vec<(String, String)>,
    /// The body, a chunked one decoded.
    pub body: Vec<u8>,
    /// Interim (1xx) heads received before this one.
    pub interim: Vec<u16>,
}

impl Response {
    /// The first value of field `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `X-Served-By` ("" when absent).
    pub fn served_by(&self) -> &str {
        self.header("x-served-by").unwrap_or("")
    }

    /// The `name=value` part of the `Set-Cookie` of the node's session, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| {
                let pair = v.split(';').next()?.trim();
                pair.starts_with("JSESSIONID=").then(|| pair.to_owned())
            })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (the test node's request report); panics with the response if not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not a JSON body ({e}):\n{}{}", self.head, self.text()))
    }

    /// A request field as the node received it (lower-case name), from [`Response::json`].
    pub fn seen_header(&self, name: &str) -> Option<String> {
        self.json()["headers"][name].as_str().map(str::to_owned)
    }
}

/// A client connection speaking HTTP/1.1 on a `TcpStream`, every read bounded by
/// [`IO_LIMIT`].
#[derive(Debug)]
pub struct Client {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    buf: Vec<u8>,
}

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(IO_LIMIT)).expect("timeout");
        stream.set_write_timeout(Some(IO_LIMIT)).expect("timeout");
        let _ = stream.set_nodelay(true);
        Client {
            stream,
            addr,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one request with a `Host` field, `headers` and `body` (with its
    /// `Content-Length` unless `headers` has a `Transfer-Encoding` or the body is empty) and
    /// reads its response.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        self.send(&request_bytes(self.addr, method, target, headers, body))?;
        self.read_response_to(method)
    }

    /// [`Client::request`] for a GET without body.
    pub fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
        self.request("GET", target, headers, b"")
    }

    /// Reads the next response to a GET (interim 1xx heads other than 101 are collected and
    /// skipped).
    pub fn read_response(&mut self) -> std::io::Result<Response> {
        self.read_response_to("GET")
    }

    /// Reads the next response to a request of `method` (no body after a HEAD).
    pub fn read_response_to(&mut self, method: &str) -> std::io::Result<Response> {
        let mut interim = Vec::new();
        loop {
            let end = loop {
                if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                    break i + 4;
                }
                if self.fill()? == 0 {
                    return Err(invalid(format!(
                        "connection closed before a whole head ({} bytes: {:?})",
                        self.buf.len(),
                        String::from_utf8_lossy(&self.buf)
                    )));
                }
            };
            let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
            self.buf.drain(..end);
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid(format!("bad status line: {head:?}")))?;
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    Some((n.trim().to_owned(), v.trim().to_owned()))
                })
                .collect();
            if (100..200).contains(&status) && status != 101 {
                interim.push(status);
                continue;
            }
            let mut response = Response {
                status,
                head,
                headers,
                body: Vec::new(),
                interim,
            };
            let chunked = response
                .header("transfer-encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
            if method == "HEAD" || status == 101 || status == 204 || status == 304 {
            } else if chunked {
                response.body = self.read_chunked()?;
            } else if let Some(n) = response.header("content-length") {
                let n: usize = n
                    .parse()
                    .map_err(|_| invalid(format!("bad Content-Length {n}")))?;
                response.body = self.take(n)?;
            } else {
                while self.fill()? > 0 {}
                response.body = std::mem::take(&mut self.buf);
            }
            return Ok(response);
        }
    }

    /// Reads until the peer closes (or resets) the connection, at most `limit`; returns what
    /// arrived meanwhile, or `None` if the connection was still open at the end.
    pub fn read_until_closed(&mut self, limit: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + limit;
        let mut chunk = [0u8; 8192];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let _ = self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(10))));
            match self.stream.read(&mut chunk) {
                Ok(0) => return Some(std::mem::take(&mut self.buf)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Some(std::mem::take(&mut self.buf)),
            }
        }
    }

    /// The next `n` bytes as they come (e.g. WebSocket frames after a 101).
    pub fn take_bytes(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        self.take(n)
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn take(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(invalid(format!(
                    "connection closed after {} of {n} body bytes",
                    self.buf.len()
                )));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(invalid("connection closed inside a chunked body".into()));
            }
        }
    }

    fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.take(size)?);
            self.line()?;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The bytes of one request (see [`Client::request`]).
pub fn request_bytes(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    let framed = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
    if !framed && !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One GET on a new connection.
pub fn get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    Client::connect(addr).get(target, headers)
}

// ---------------------------------------------------------------------------------------------
// curl, wrk and the Python WebSocket client

/// What one curl run gave.
#[derive(Debug, Clone)]
pub struct Curl {
    /// curl's exit code (0 = transfer done; 22 is not used: no `-f`).
    pub exit: i32,
    /// The final status (`%{http_code}`), 0 when none.
    pub status: u16,
    /// Every head received, interim ones included (`-D`).
    pub heads: String,
    pub body: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Curl {
    /// A field of the final head.
    pub fn header(&self, name: &str) -> Option<String> {
        let last = self
            .heads
            .trim_end()
            .rsplit("\r\n\r\n")
            .next()
            .unwrap_or("");
        last.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "curl: not a JSON body ({e}):\n{}{}",
                self.heads,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Runs `curl -sS --max-time 10 args…`, its heads and body written into `dir`.
pub fn curl(dir: &Path, args: &[&str]) -> Curl {
    assert!(
        Path::new(CURL).exists(),
        "curl is missing: run scripts/install-test-deps.sh"
    );
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let (heads, body) = (
        dir.join(format!("curl-{n}.head")),
        dir.join(format!("curl-{n}.body")),
    );
    let started = Instant::now();
    let out = Command::new(CURL)
        .args(["-sS", "--max-time", "10", "-w", "%{http_code}", "-D"])
        .arg(&heads)
        .arg("-o")
        .arg(&body)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    Curl {
        exit: out.status.code().unwrap_or(-1),
        status: String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0),
        heads: std::fs::read_to_string(&heads).unwrap_or_default(),
        body: std::fs::read(&body).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// The summary of one wrk run.
#[derive(Debug, Clone)]
pub struct Wrk {
    pub requests: u64,
    /// `Non-2xx or 3xx responses`.
    pub non_2xx: u64,
    /// `Socket errors` (connect + read + write + timeout).
    pub socket_errors: u64,
    pub output: String,
}

/// Whether wrk is installed.
pub fn have_wrk() -> bool {
    Path::new(WRK).exists()
}

/// Runs `wrk -t2 -c<connections> -d<seconds>s --timeout 5s <url>` (bounded by wrk itself).
pub fn wrk(url: &str, connections: u32, seconds: u32) -> Wrk {
    let out = Command::new(WRK)
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .args(["--timeout", "5s", url])
        .stdin(Stdio::null())
        .output()
        .expect("run wrk");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let number_before = |needle: &str| -> Option<u64> {
        let i = output.find(needle)?;
        output[..i].split_whitespace().last()?.parse().ok()
    };
    let number_after = |needle: &str| -> u64 {
        output
            .find(needle)
            .and_then(|i| {
                output[i + needle.len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|s| !s.is_empty())?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    let socket_errors = ["connect ", "read ", "write ", "timeout "]
        .iter()
        .map(|k| {
            output
                .find("Socket errors:")
                .map(|i| {
                    let rest = &output[i..];
                    rest.find(k)
                        .and_then(|j| {
                            rest[j + k.len()..]
                                .split(|c: char| !c.is_ascii_digit())
                                .next()?
                                .parse::<u64>()
                                .ok()
                        })
                        .unwrap_or(0)
                })
                .unwrap_or(0)
        })
        .sum();
    Wrk {
        requests: number_before(" requests in").unwrap_or(0),
        non_2xx: number_after("Non-2xx or 3xx responses:"),
        socket_errors,
        output,
    }
}

/// The Python WebSocket client of [`ws_echo`]: connects, sends a text and a 100 kB binary
/// message, checks each echo, closes, prints a JSON report.
const WS_CLIENT: &str = r#"
import json, ssl, sys
from websockets.sync.client import connect
url, proto, ca = sys.argv[1], sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=ca) if ca else None
with connect(url, subprotocols=[proto] if proto else None, ssl=context, open_timeout=5,
             close_timeout=2, max_size=None) as ws:
    ws.send("hello through the tunnel")
    text = ws.recv(timeout=5)
    blob = bytes(range(256)) * 400
    ws.send(blob)
    echoed = ws.recv(timeout=5)
    print(json.dumps({"subprotocol": ws.subprotocol, "text": text, "binary_ok": echoed == blob,
                      "served_by": ws.response.headers.get("X-Served-By"),
                      "listener": ws.response.headers.get("X-Listener")}))
"#;

/// Runs the Python `websockets` client against `url` (`ws://…` or `wss://…` trusting `ca`),
/// offering `subprotocol`; returns its report (`subprotocol`, `text`, `binary_ok`,
/// `served_by`, `listener`) or its error output. Bounded to 15 s.
pub fn ws_echo(
    url: &str,
    subprotocol: Option<&str>,
    ca: Option<&Path>,
) -> Result<serde_json::Value, String> {
    let mut proc = Proc::spawn(
        "websocket client",
        Command::new("python3")
            .args(["-c", WS_CLIENT, url, subprotocol.unwrap_or("")])
            .arg(ca.map(|p| p.as_os_str().to_owned()).unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let status = proc.wait_for(Duration::from_secs(15));
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = proc.child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = proc.child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    match status {
        Some(s) if s.success() => {
            serde_json::from_str(out.trim()).map_err(|e| format!("{e}: {out}"))
        }
        other => Err(format!("exit {other:?}\n{out}\n{err}")),
    }
}
