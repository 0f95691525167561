//! Helpers of the TLS and WebSocket end-to-end tests: a test PKI generated with rcgen, a
//! balancer configuration with `<ssl>` and TLS/WS/WSS ports, a heartbeat client for nodes with
//! any port properties, SIP links over TLS and WSS, and a minimal UAC that runs one call.

#![allow(dead_code, reason = "each test file uses a different subset")]

use crate::common::http::Registration;
use crate::common::{free_port, start_balancer, Proc, LOCALHOST};
use futures_util::{SinkExt, StreamExt};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How long one SIP exchange step may take.
pub const STEP: Duration = Duration::from_secs(5);

/// A test CA, a balancer certificate (for 127.0.0.1, ::1 and localhost) signed by it and a
/// client certificate signed by it, written as PEM files into a directory.
#[derive(Debug)]
pub struct Pki {
    /// The CA certificate (the balancer's `trustStore`, the clients' root).
    pub ca: PathBuf,
    /// The balancer's chain and key in one file (`keyStore`).
    pub key_store: PathBuf,
    ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: Vec<u8>,
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Switchboard test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");

        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let mut lb_params = CertificateParams::new(names).expect("server params");
        lb_params
            .distinguished_name
            .push(DnType::CommonName, "switchboard");
        lb_params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let lb_key = KeyPair::generate().expect("server key");
        let lb_cert = lb_params.signed_by(&lb_key, &ca).expect("server cert");

        let mut client_params =
            CertificateParams::new(vec!["client.invalid".to_owned()]).expect("client params");
        client_params
            .distinguished_name
            .push(DnType::CommonName, "test client");
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().expect("client key");
        let client_cert = client_params
            .signed_by(&client_key, &ca)
            .expect("client cert");

        let ca_path = dir.join("ca.pem");
        let key_store = dir.join("switchboard.pem");
        std::fs::write(&ca_path, ca.pem()).expect("write CA");
        std::fs::write(
            &key_store,
            format!("{}{}{}", lb_cert.pem(), ca.pem(), lb_key.serialize_pem()),
        )
        .expect("write key store");
        Pki {
            ca: ca_path,
            key_store,
            ca_der: ca.der().clone(),
            server_chain: vec![lb_cert.der().clone(), ca.der().clone()],
            server_key: lb_key.serialize_der(),
            client_chain: vec![client_cert.der().clone(), ca.der().clone()],
            client_key: client_key.serialize_der(),
        }
    }

    /// A TLS server with the balancer's certificate (valid for 127.0.0.1), for test nodes.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::try_from(self.server_key.clone()).expect("server key");
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .expect("server config");
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    /// A TLS client trusting the test CA, presenting the client certificate if `with_cert`.
    pub fn connector(&self, with_cert: bool) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("add root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = if with_cert {
            let key = PrivateKeyDer::try_from(self.client_key.clone()).expect("client key");
            builder
                .with_client_auth_cert(self.client_chain.clone(), key)
                .expect("client auth")
        } else {
            builder.with_no_client_auth()
        };
        TlsConnector::from(Arc::new(config))
    }
}

/// The ports of a balancer with secure transports. `None` = not configured.
#[derive(Debug, Clone, Copy)]
pub struct SecurePorts {
    pub external_tcp: u16,
    pub external_tls: u16,
    pub external_ws: u16,
    pub external_wss: u16,
    pub external_ipv6_wss: u16,
    pub internal_tcp: u16,
    pub internal_ws: u16,
    pub internal_tls: u16,
    pub internal_wss: u16,
    pub heartbeat: u16,
    pub management: u16,
}

impl SecurePorts {
    pub fn free() -> SecurePorts {
        SecurePorts {
            external_tcp: free_port(),
            external_tls: free_port(),
            external_ws: free_port(),
            external_wss: free_port(),
            external_ipv6_wss: free_port(),
            internal_tcp: free_port(),
            internal_ws: free_port(),
            internal_tls: free_port(),
            internal_wss: free_port(),
            heartbeat: free_port(),
            management: free_port(),
        }
    }
}

/// A balancer with TLS, WS and WSS external listeners, TCP, TLS, WS and WSS internal
/// listeners and the PEM files of `pki`; killed by PID when dropped.
#[derive(Debug)]
pub struct SecureLb {
    pub ports: SecurePorts,
    pub dir: PathBuf,
    pub proc: Proc,
}

impl SecureLb {
    /// Starts the balancer with `terminateTLSTraffic=true` and
    /// `TLS_CLIENT_AUTH_TYPE=client_auth` and waits (at most 10 s) until every listener is open.
    pub fn start(dir: &Path, pki: &Pki, client_auth: &str) -> SecureLb {
        SecureLb::start_with(dir, pki, client_auth, true)
    }

    /// [`SecureLb::start`] with `terminateTLSTraffic` as given.
    pub fn start_with(dir: &Path, pki: &Pki, client_auth: &str, terminate: bool) -> SecureLb {
        let p = SecurePorts::free();
        let config = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<load-balancer-properties>
  <common>
    <host>127.0.0.1</host>
    <ipv6Host>::1</ipv6Host>
    <nodeTimeout>8400</nodeTimeout>
    <heartbeatInterval>150</heartbeatInterval>
    <apiPort>{management}</apiPort>
  </common>
  <sip>
    <algorithm>
      <algorithmClass>org.mobicents.tools.sip.balancer.CallIDAffinityBalancerAlgorithm</algorithmClass>
    </algorithm>
    <external>
      <udpPort>{external_tcp}</udpPort>
      <tcpPort>{external_tcp}</tcpPort>
      <tlsPort>{external_tls}</tlsPort>
      <wsPort>{external_ws}</wsPort>
      <wssPort>{external_wss}</wssPort>
      <ipv6WssPort>{external_ipv6_wss}</ipv6WssPort>
    </external>
    <internal>
      <udpPort>{internal_tcp}</udpPort>
      <tcpPort>{internal_tcp}</tcpPort>
      <wsPort>{internal_ws}</wsPort>
      <tlsPort>{internal_tls}</tlsPort>
      <wssPort>{internal_wss}</wssPort>
    </internal>
  </sip>
  <ssl>
    <terminateTLSTraffic>{terminate}</terminateTLSTraffic>
    <keyStore>{key_store}</keyStore>
    <trustStore>{trust_store}</trustStore>
    <tlsClientProtocols>TLSv1.1,TLSv1.2,TLSv1.3</tlsClientProtocols>
  </ssl>
  <http>
    <httpPort>0</httpPort>
  </http>
  <sipStack>
    <property><key>gov.nist.javax.sip.TLS_CLIENT_AUTH_TYPE</key><value>{client_auth}</value></property>
  </sipStack>
  <heartbeat>
    <heartbeatConfig>
      <protocolClassName>org.mobicents.tools.heartbeat.impl.ServerController</protocolClassName>
      <heartbeatPort>{heartbeat}</heartbeatPort>
    </heartbeatConfig>
  </heartbeat>
</load-balancer-properties>
"#,
            management = p.management,
            external_tcp = p.external_tcp,
            external_tls = p.external_tls,
            external_ws = p.external_ws,
            external_wss = p.external_wss,
            external_ipv6_wss = p.external_ipv6_wss,
            internal_tcp = p.internal_tcp,
            internal_ws = p.internal_ws,
            internal_tls = p.internal_tls,
            internal_wss = p.internal_wss,
            heartbeat = p.heartbeat,
            key_store = pki.key_store.display(),
            trust_store = pki.ca.display(),
        );
        let proc = start_balancer(dir, &config, "info,switchboard=debug");
        SecureLb {
            ports: p,
            dir: dir.to_owned(),
            proc,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("switchboard.log")).unwrap_or_default()
    }

    pub fn at(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    pub fn heartbeat(&self) -> SocketAddr {
        Self::at(self.ports.heartbeat)
    }
}

impl Drop for SecureLb {
    /// Keeps the test's files only when the test failed.
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A node's heartbeat client with any SIP port properties (`wsPort`, `tcpPort`, …): `start`
/// until answered, then `heartbeat` every second until dropped. The node's own heartbeat port
/// stays bound for as long.
#[derive(Debug)]
pub struct Heartbeats {
    _registration: Registration,
    _own: TcpListener,
}

impl Heartbeats {
    pub fn start(lb: SocketAddr, name: &str, ports: &[(&str, u16)]) -> Heartbeats {
        let own = TcpListener::bind((LOCALHOST, 0)).expect("bind node heartbeat port");
        let mut properties = serde_json::json!({
            "hostName": name,
            "heartbeatPort": own.local_addr().expect("addr").port().to_string(),
        });
        for (key, port) in ports {
            properties[*key] = serde_json::Value::String(port.to_string());
        }
        Heartbeats {
            _registration: Registration::start(lb, properties),
            _own: own,
        }
    }
}

/// A multi-threaded runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Opens TCP to `to` and completes a TLS handshake with `connector`.
pub async fn tls_connect(
    connector: &TlsConnector,
    to: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = tokio::time::timeout(STEP, TcpStream::connect(to))
        .await
        .map_err(|_| std::io::Error::other("connect timed out"))??;
    let name = ServerName::from(to.ip());
    tokio::time::timeout(STEP, connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))?
}

/// The `Sec-WebSocket-Protocol` the test clients offer.
pub fn ws_request(
    url: &str,
    protocol: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = url.into_client_request().expect("request");
    if let Some(p) = protocol {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(p).expect("header"),
        );
    }
    request
}

/// One SIP message at a time over some connection.
#[allow(async_fn_in_trait, reason = "used only by these tests")]
pub trait Link {
    /// Sends one message.
    async fn send(&mut self, message: String);
    /// Receives one message within [`STEP`]; panics otherwise.
    async fn recv(&mut self) -> String;
    /// `TLS`, `WSS`, … as written in a Via.
    fn via_transport(&self) -> &'static str;
    /// The host:port the client writes in its Via and Contact.
    fn sent_by(&self) -> String;
}

/// SIP over a TLS byte stream, framed by Content-Length.
pub struct TlsLink {
    pub stream: TlsStream<TcpStream>,
    pub buf: Vec<u8>,
    pub local: SocketAddr,
}

impl TlsLink {
    pub fn new(stream: TlsStream<TcpStream>) -> TlsLink {
        let local = stream.get_ref().0.local_addr().expect("local addr");
        TlsLink {
            stream,
            buf: Vec::new(),
            local,
        }
    }

    fn take_message(&mut self) -> Option<String> {
        while self.buf.starts_with(b"\r\n") {
            self.buf.drain(..2);
        }
        let text = String::from_utf8_lossy(&self.buf).into_owned();
        let end = text.find("\r\n\r\n")?;
        let length = header_values(&text[..end], "Content-Length", Some("l"))
            .first()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let total = end + 4 + length;
        if self.buf.len() < total {
            return None;
        }
        let message: Vec<u8> = self.buf.drain(..total).collect();
        Some(String::from_utf8_lossy(&message).into_owned())
    }
}

impl Link for TlsLink {
    async fn send(&mut self, message: String) {
        self.stream
            .write_all(message.as_bytes())
            .await
            .expect("TLS write");
    }

    async fn recv(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            if let Some(message) = self.take_message() {
                return message;
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .expect("no SIP message within the step limit")
                .expect("TLS read");
            assert!(n > 0, "the balancer closed the TLS connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn via_transport(&self) -> &'static str {
        "TLS"
    }

    fn sent_by(&self) -> String {
        self.local.to_string()
    }
}

/// SIP over a WebSocket (one message per frame).
pub struct WsLink<S> {
    pub ws: WebSocketStream<S>,
    pub transport: &'static str,
    /// RFC 7118 §5: a browser's Via and Contact host is a random `.invalid` name.
    pub host: String,
}

impl<S> Link for WsLink<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    async fn send(&mut self, message: String) {
        self.ws
            .send(Message::text(message))
            .await
            .expect("WebSocket send");
    }

    async fn recv(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + STEP;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("no SIP message within the step limit");
            match next {
                Some(Ok(Message::Text(text))) => return text.to_string(),
                Some(Ok(Message::Binary(bytes))) => {
                    return String::from_utf8_lossy(&bytes).into_owned()
                }
                Some(Ok(_)) => continue,
                other => panic!("WebSocket closed or failed: {other:?}"),
            }
        }
    }

    fn via_transport(&self) -> &'static str {
        self.transport
    }

    fn sent_by(&self) -> String {
        self.host.clone()
    }
}

/// The values of header `name` (or its compact form), in order, one per line.
pub fn header_values(head: &str, name: &str, compact: Option<&str>) -> Vec<String> {
    head.lines()
        .skip(1)
        .filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case(name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c)))
                .then(|| v.trim().to_owned())
        })
        .collect()
}

/// Splits a header value list on commas outside `<…>` and quotes.
pub fn split_list(value: &str) -> Vec<String> {
    let (mut out, mut cur, mut angle, mut quote) = (Vec::new(), String::new(), false, false);
    for c in value.chars() {
        match c {
            '<' if !quote => angle = true,
            '>' if !quote => angle = false,
            '"' => quote = !quote,
            ',' if !angle && !quote => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// The status code of a response, `None` for a request.
pub fn status(message: &str) -> Option<u16> {
    let line = message.lines().next()?;
    let rest = line.strip_prefix("SIP/2.0 ")?;
    rest.get(..3)?.parse().ok()
}

/// The CSeq method of a message.
pub fn cseq_method(message: &str) -> String {
    header_values(message, "CSeq", None)
        .first()
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap_or_default()
        .to_owned()
}

/// What a UAC saw during one call.
#[derive(Debug, Default)]
pub struct CallReport {
    /// Every INVITE response status, in order.
    pub invite_statuses: Vec<u16>,
    /// The final BYE status.
    pub bye_status: Option<u16>,
    /// The route set used for ACK and BYE.
    pub route: Vec<String>,
    /// The Request-URI of ACK and BYE (the 200's Contact).
    pub target: String,
}

/// Runs one call as the UAC: INVITE, waits for the 200 (after 100/180), ACK and BYE with the
/// route set from the 200's Record-Route (reversed, RFC 3261 §12.1.2) toward its Contact.
pub async fn call<L: Link>(link: &mut L, request_uri: &str, call_id: &str) -> CallReport {
    let transport = link.via_transport();
    let sent_by = link.sent_by();
    let lower = transport.to_ascii_lowercase();
    let from = "<sip:alice@example.invalid>;tag=uac-1";
    let contact = format!("<sip:alice@{sent_by};transport={lower}>");
    let invite = format!(
        "INVITE {request_uri} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {sent_by};branch=z9hG4bK-{call_id}-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: {from}\r\n\
         To: <sip:service@example.com>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: {contact}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    link.send(invite).await;
    let mut report = CallReport::default();
    let ok = loop {
        let message = link.recv().await;
        let Some(code) = status(&message) else {
            continue;
        };
        if cseq_method(&message) != "INVITE" {
            continue;
        }
        report.invite_statuses.push(code);
        if code >= 200 {
            break message;
        }
    };
    if status(&ok) != Some(200) {
        return report;
    }
    let head = &ok[..ok.find("\r\n\r\n").unwrap_or(ok.len())];
    let to = header_values(head, "To", Some("t"))
        .pop()
        .expect("To in the 200");
    let mut route: Vec<String> = header_values(head, "Record-Route", None)
        .iter()
        .flat_map(|v| split_list(v))
        .collect();
    route.reverse();
    let contact_value = header_values(head, "Contact", Some("m"))
        .pop()
        .expect("Contact in the 200");
    let target = match (contact_value.find('<'), contact_value.find('>')) {
        (Some(a), Some(b)) if a < b => contact_value[a + 1..b].to_owned(),
        _ => contact_value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    let route_lines: String = route.iter().map(|r| format!("Route: {r}\r\n")).collect();
    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {sent_by};branch=z9hG4bK-{call_id}-{branch};rport\r\n\
             {route_lines}\
             Max-Forwards: 70\r\n\
             From: {from}\r\n\
             To: {to}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: {contact}\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    link.send(in_dialog("ACK", 1, "ack")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    link.send(in_dialog("BYE", 2, "bye")).await;
    loop {
        let message = link.recv().await;
        if cseq_method(&message) == "BYE" {
            if let Some(code) = status(&message).filter(|c| *c >= 200) {
                report.bye_status = Some(code);
                break;
            }
        }
    }
    report.route = route;
    report.target = target;
    report
}
