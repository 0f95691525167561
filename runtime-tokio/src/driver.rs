//! The core owner task: the one place the [`Balancer`] lives. I/O tasks send it [`Event`]s over
//! one channel; it feeds them to the core in arrival order, carries out every output in order
//! (datagrams sent from here, stream writes handed to per-connection writers), and keeps one
//! timer armed at `poll_timeout`. No protocol decisions are made here.

use crate::conn::{self, Ids, WriteCmd, Writer};
use crate::errqueue;
use crate::logging::LogControl;
use crate::net::{self, NetError};
use crate::tls::{Tls, TlsError};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::balancer::Balancer;
use switchboard_core::config::Config;
use switchboard_core::io::{CloseReason, ConnId, Input, ListenerId, Output, Service};
use switchboard_core::node::Transport;
use switchboard_core::time::Timestamp;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

/// Queued events handled per wake-up of the core task before signals and timers are polled.
const BURST: usize = 64;
/// Inputs waiting for the core task before I/O tasks have to wait.
const EVENT_QUEUE: usize = 8192;
/// How long the LB→node notifications of a shutdown may take.
const NOTIFY_LIMIT: Duration = Duration::from_secs(2);

/// What I/O tasks send the core task.
#[derive(Debug)]
pub enum Event {
    /// An input for the core.
    Input(Input),
    /// A connection was accepted: remember its writer, then feed `input` if any.
    Opened {
        /// The driver-minted id.
        conn: ConnId,
        /// Its writer.
        writer: Writer,
        /// `Accepted` for SIP connections; nothing for service connections.
        input: Option<Input>,
    },
}

impl From<Input> for Event {
    fn from(input: Input) -> Self {
        Event::Input(input)
    }
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A socket of the configuration could not be opened.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The configured algorithm cannot be built.
    #[error(transparent)]
    Algorithm(#[from] switchboard_core::algorithm::AlgorithmError),
    /// The TLS configuration of TLS or WSS listeners cannot be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Signal handlers could not be installed.
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

struct Driver {
    balancer: Balancer,
    epoch: Instant,
    udp: HashMap<ListenerId, Arc<UdpSocket>>,
    local_ip: HashMap<ListenerId, IpAddr>,
    tls: Tls,
    conns: HashMap<ConnId, Writer>,
    services: HashMap<Service, AbortHandle>,
    events: mpsc::Sender<Event>,
    /// Inputs produced while carrying out outputs (a writer that gave up), fed next.
    pending: VecDeque<Input>,
    notifies: JoinSet<()>,
    stop_at: Option<Instant>,
    log: LogControl,
    /// The file SIGHUP re-reads; `None` when running on the embedded default.
    config_path: Option<PathBuf>,
}

/// Opens every socket of `config` and runs the balancer until SIGINT/SIGTERM or `/lbstop`.
pub async fn run(
    config: Config,
    config_path: Option<PathBuf>,
    log: LogControl,
) -> Result<(), DriverError> {
    let epoch = Instant::now();
    let balancer = Balancer::new(config, Timestamp::ZERO)?;
    let (events, mut inbox) = mpsc::channel(EVENT_QUEUE);
    let mut driver = Driver {
        balancer,
        epoch,
        udp: HashMap::new(),
        local_ip: HashMap::new(),
        tls: Tls::default(),
        conns: HashMap::new(),
        services: HashMap::new(),
        events,
        pending: VecDeque::new(),
        notifies: JoinSet::new(),
        stop_at: None,
        log,
        config_path,
    };
    driver.open().await?;
    tracing::info!("ready: every listener is open");
    driver.serve(&mut inbox).await
}

impl Driver {
    fn now(&self) -> Timestamp {
        timestamp(self.epoch, Instant::now())
    }

    fn instant(&self, at: Timestamp) -> Instant {
        instant(self.epoch, at)
    }

    /// SIGHUP: re-reads the configuration file and hands it to the core, which applies what
    /// can change at run time and reports what needs a restart (DECISIONS.md §2).
    fn reload(&mut self) {
        let Some(path) = self.config_path.clone() else {
            tracing::warn!(
                "SIGHUP: running on the embedded default configuration, nothing to reload"
            );
            return;
        };
        let loaded = match crate::config_file::load(&path) {
            Ok(loaded) => loaded,
            Err(errors) => {
                for line in errors.lines() {
                    tracing::error!("SIGHUP: configuration not reloaded: {line}");
                }
                return;
            }
        };
        for w in &loaded.warnings {
            tracing::warn!("{w}");
        }
        let now = self.now();
        match self.balancer.reconfigure(loaded.config, now) {
            Ok(report) => {
                tracing::info!(
                    file = %path.display(),
                    algorithms_rebuilt = report.algorithms_rebuilt,
                    "configuration reloaded"
                );
                for what in &report.needs_restart {
                    tracing::warn!("changed but needs a restart to apply: {what}");
                }
            }
            Err(e) => tracing::error!("SIGHUP: configuration not reloaded: {e}"),
        }
    }

    async fn open(&mut self) -> Result<(), DriverError> {
        let ids = Arc::new(Ids::default());
        let stack = &self.balancer.config().sip_stack;
        let (rcvbuf, sndbuf) = (stack.receive_udp_buffer_size, stack.send_udp_buffer_size);
        let listeners = self.balancer.listeners();
        if listeners
            .iter()
            .any(|l| matches!(l.id.transport, Transport::Tls | Transport::Wss))
        {
            self.tls = Tls::load(&self.balancer.config().ssl, stack.tls_client_auth)?;
        }
        for spec in listeners {
            let id = spec.id;
            let what = format!("{:?} {}", id.leg, id.transport.as_str());
            let addr = net::resolve(&spec.host, spec.port, id.ipv6).await?;
            self.local_ip.insert(id, addr.ip());
            match id.transport {
                Transport::Udp => {
                    let socket = Arc::new(net::udp(&what, addr, rcvbuf, sndbuf)?);
                    tokio::spawn(udp_recv(socket.clone(), id, self.events.clone()));
                    self.udp.insert(id, socket);
                }
                Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                    let listener = net::tcp_listener(&what, addr)?;
                    let events = self.events.clone();
                    let accepting = self.tls.accepting(id.transport);
                    tokio::spawn(conn::accept_sip(
                        listener,
                        id,
                        accepting,
                        ids.clone(),
                        events,
                    ));
                }
            }
            tracing::info!(%addr, "listening for SIP: {what}");
        }
        for spec in self.balancer.services() {
            let addr = net::resolve(&spec.host, spec.port, false).await?;
            let listener = net::tcp_listener(&format!("{:?} port", spec.service), addr)?;
            let events = self.events.clone();
            let task = tokio::spawn(conn::accept_service(
                listener,
                spec.service,
                ids.clone(),
                events,
            ));
            self.services.insert(spec.service, task.abort_handle());
            tracing::info!(%addr, service = ?spec.service, "listening");
        }
        Ok(())
    }

    async fn serve(&mut self, inbox: &mut mpsc::Receiver<Event>) -> Result<(), DriverError> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(DriverError::Signals)?;
        let mut int = signal(SignalKind::interrupt()).map_err(DriverError::Signals)?;
        let mut hup = signal(SignalKind::hangup()).map_err(DriverError::Signals)?;
        // One timer, moved only when the core's deadline changes.
        let far = || Instant::now() + Duration::from_secs(3600);
        let timer = tokio::time::sleep_until(far());
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            while let Some(input) = self.pending.pop_front() {
                self.feed(input).await;
            }
            let deadline = self.balancer.poll_timeout().map(|t| self.instant(t));
            if deadline.is_some_and(|d| d <= Instant::now()) {
                // Checked against the clock, not only through the sleep future.
                self.feed(Input::Timeout).await;
                continue;
            }
            if deadline != armed {
                timer.as_mut().reset(deadline.unwrap_or_else(far));
                armed = deadline;
            }
            let stop_at = self.stop_at.unwrap_or_else(far);
            tokio::select! {
                biased;
                _ = term.recv() => return self.stop("SIGTERM").await,
                _ = int.recv() => return self.stop("SIGINT").await,
                _ = hup.recv() => self.reload(),
                () = tokio::time::sleep_until(stop_at), if self.stop_at.is_some() => {
                    return self.stop("/lbstop").await;
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.feed(Input::Timeout).await;
                }
                event = inbox.recv() => match event {
                    Some(event) => {
                        self.event(event).await;
                        // One wake-up serves a burst: take what is already queued before
                        // polling signals and timers again (bounded, so they are not starved).
                        for _ in 0..BURST {
                            match inbox.try_recv() {
                                Ok(event) => self.event(event).await,
                                Err(_) => break,
                            }
                        }
                    }
                    // Unreachable while `self.events` is alive.
                    None => return Ok(()),
                },
                Some(_) = self.notifies.join_next(), if !self.notifies.is_empty() => {}
            }
        }
    }

    /// Handles one event from an I/O task.
    async fn event(&mut self, event: Event) {
        match event {
            Event::Input(input) => self.feed(input).await,
            Event::Opened {
                conn,
                writer,
                input,
            } => {
                self.conns.insert(conn, writer);
                if let Some(input) = input {
                    self.feed(input).await;
                }
            }
        }
    }

    /// Feeds one input, then carries out every output it caused, in order.
    async fn feed(&mut self, input: Input) {
        if let Input::Closed { conn, .. } | Input::ConnectFailed { conn } = &input {
            self.conns.remove(conn);
        }
        let now = self.now();
        self.balancer.handle(now, input);
        self.drain().await;
    }

    async fn drain(&mut self) {
        while let Some(output) = self.balancer.poll_output() {
            self.execute(output).await;
        }
    }

    async fn execute(&mut self, output: Output) {
        match output {
            Output::SendDatagram {
                listener,
                to,
                payload,
            } => match self.udp.get(&listener) {
                Some(socket) => {
                    if let Err(error) = socket.send_to(&payload, to).await {
                        tracing::debug!(%to, %error, "send failed");
                    }
                }
                None => tracing::debug!(?listener, %to, "no UDP socket for this listener"),
            },
            Output::Write { conn, payload } => self.write(conn, WriteCmd::Data(payload)),
            Output::Close { conn } => {
                self.write(conn, WriteCmd::Close);
                self.conns.remove(&conn);
            }
            Output::Connect { conn, listener, to } => {
                let Some(connecting) = self.tls.connecting(listener.transport) else {
                    tracing::warn!(%to, "cannot open an outbound {} connection without ssl/trustStore", listener.transport.as_str());
                    self.pending.push_back(Input::ConnectFailed { conn });
                    return;
                };
                let (tx, rx) = conn::writer();
                self.conns.insert(conn, tx);
                let local = self.local_ip.get(&listener).copied();
                let events = self.events.clone();
                tokio::spawn(conn::connect(conn, local, to, connecting, rx, events));
            }
            Output::HttpNotify { to, request } => {
                self.notifies
                    .spawn(conn::http_notify(to, request, NOTIFY_LIMIT));
            }
            Output::SendToHost {
                listener,
                host,
                port,
                payload,
            } => {
                tokio::spawn(resolve(listener, host, port, payload, self.events.clone()));
            }
            Output::Stop { after } => {
                if let Some(task) = self.services.remove(&Service::Management) {
                    task.abort();
                }
                self.stop_at = Some(Instant::now() + after);
            }
            Output::SetLogLevel { level } => self.log.set_level(&level),
        }
    }

    fn write(&mut self, conn: ConnId, cmd: WriteCmd) {
        let Some(writer) = self.conns.get(&conn) else {
            tracing::debug!(?conn, "write for a connection that is gone");
            return;
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = writer.try_send(cmd) {
            tracing::warn!(
                ?conn,
                "peer does not read: write queue full, closing the connection"
            );
            self.conns.remove(&conn);
            self.pending.push_back(Input::Closed {
                conn,
                reason: CloseReason::IoError,
            });
        }
    }

    async fn stop(&mut self, why: &str) -> Result<(), DriverError> {
        tracing::info!(signal = why, "shutting down");
        let now = self.now();
        self.balancer.shutdown(now);
        self.drain().await;
        let notifies = std::mem::take(&mut self.notifies);
        let _ = tokio::time::timeout(
            NOTIFY_LIMIT + Duration::from_millis(500),
            notifies.join_all(),
        )
        .await;
        Ok(())
    }
}

/// The core's time for `now`: microseconds since the driver's `epoch`.
fn timestamp(epoch: Instant, now: Instant) -> Timestamp {
    let micros = now.saturating_duration_since(epoch).as_micros();
    Timestamp::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
}

/// The clock instant of a core deadline.
fn instant(epoch: Instant, at: Timestamp) -> Instant {
    epoch + Duration::from_micros(at.as_micros())
}

/// Receives datagrams on one UDP listener, in arrival order, until the core task is gone.
///
/// The socket's error queue ([`errqueue`]) is read whenever the reactor reports an error on
/// the socket or a receive fails (with the queue enabled, an ICMP error also fails the next
/// receive, with `ECONNREFUSED` or the like, without naming the destination); every
/// destination found there is fed to the core as [`Input::SendFailed`]. No such error ends
/// the loop.
async fn udp_recv(socket: Arc<UdpSocket>, listener: ListenerId, events: mpsc::Sender<Event>) {
    let mut buf = bytes::BytesMut::with_capacity(256 * 1024);
    let mut refused = Vec::new();
    loop {
        let ready = match socket.ready(Interest::READABLE | Interest::ERROR).await {
            Ok(ready) => ready,
            // Only when the runtime shuts down.
            Err(error) => {
                tracing::debug!(?listener, %error, "UDP socket gone from the reactor");
                return;
            }
        };
        if ready.is_error() {
            let drained =
                socket.try_io(Interest::ERROR, || errqueue::drain(&*socket, &mut refused));
            if let Err(error) = drained.as_ref().map_err(|e| e.kind()) {
                if error != std::io::ErrorKind::WouldBlock {
                    tracing::debug!(?listener, ?error, "UDP error queue read failed");
                    // Wait for the next report instead of retrying at once.
                    let _ = socket.try_io(Interest::ERROR, || {
                        Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                    });
                }
            }
            if !report_refused(listener, &mut refused, &events).await {
                return;
            }
        }
        if !ready.is_readable() {
            continue;
        }
        if buf.capacity() < 65536 {
            buf.reserve(256 * 1024);
        }
        match socket.try_recv_buf_from(&mut buf) {
            Ok((_, from)) => {
                let payload = buf.split().freeze();
                let input = Input::Datagram {
                    listener,
                    from,
                    payload,
                };
                if events.send(input.into()).await.is_err() {
                    return;
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => {
                tracing::debug!(?listener, %error, "UDP receive error");
                // Read whatever the queue holds now, whether or not the reactor has seen it.
                if let Err(error) = errqueue::drain(&*socket, &mut refused) {
                    if error.kind() != std::io::ErrorKind::WouldBlock {
                        tracing::debug!(?listener, %error, "UDP error queue read failed");
                    }
                }
                if !report_refused(listener, &mut refused, &events).await {
                    return;
                }
            }
        }
    }
}

/// Feeds the core one [`Input::SendFailed`] per destination in `refused`, emptying it. False
/// once the core task is gone.
async fn report_refused(
    listener: ListenerId,
    refused: &mut Vec<SocketAddr>,
    events: &mpsc::Sender<Event>,
) -> bool {
    for to in refused.drain(..) {
        tracing::debug!(?listener, %to, "datagram refused (ICMP unreachable)");
        if events
            .send(Input::SendFailed { listener, to }.into())
            .await
            .is_err()
        {
            return false;
        }
    }
    true
}

/// Resolves `host` in the listener's address family and hands the answer back to the core
/// ([`Input::Resolved`]), which sends the message like any other.
async fn resolve(
    listener: ListenerId,
    host: String,
    port: u16,
    payload: bytes::Bytes,
    events: mpsc::Sender<Event>,
) {
    let addr = match tokio::net::lookup_host((host.as_str(), port)).await {
        Ok(mut addrs) => addrs.find(|a| a.is_ipv6() == listener.ipv6),
        Err(error) => {
            tracing::debug!(%host, %error, "cannot resolve");
            None
        }
    };
    let resolved = Input::Resolved {
        listener,
        host,
        port,
        addr,
        payload,
    };
    let _ = events.send(resolved.into()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_convert_both_ways() {
        let epoch = Instant::now();
        let later = epoch + Duration::from_millis(1500);
        assert_eq!(timestamp(epoch, later), Timestamp::from_millis(1500));
        assert_eq!(instant(epoch, Timestamp::from_millis(1500)), later);
        // A clock reading before the epoch is the epoch, never a wrap.
        assert_eq!(timestamp(later, epoch), Timestamp::ZERO);
    }

    /// The next input a task sent, within a second.
    async fn next_input(inbox: &mut mpsc::Receiver<Event>) -> Input {
        match tokio::time::timeout(Duration::from_secs(1), inbox.recv()).await {
            Ok(Some(Event::Input(input))) => input,
            other => panic!("no input within 1 s: {other:?}"),
        }
    }

    /// The receive loop turns an ICMP port unreachable into `SendFailed` and keeps receiving.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn refused_datagrams_are_reported_and_receiving_goes_on() {
        let listener = ListenerId {
            leg: switchboard_core::io::Leg::Internal,
            transport: Transport::Udp,
            ipv6: false,
        };
        let socket = Arc::new(
            net::udp("test UDP", "127.0.0.1:0".parse().unwrap(), None, None).expect("bind"),
        );
        let local = socket.local_addr().unwrap();
        let (events, mut inbox) = mpsc::channel(16);
        let task = tokio::spawn(udp_recv(socket.clone(), listener, events));
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|probe| probe.local_addr())
            .unwrap();

        socket.send_to(b"OPTIONS", closed).await.unwrap();
        assert_eq!(
            next_input(&mut inbox).await,
            Input::SendFailed {
                listener,
                to: closed
            }
        );
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        peer.send_to(b"SIP/2.0 200 OK", local).await.unwrap();
        assert_eq!(
            next_input(&mut inbox).await,
            Input::Datagram {
                listener,
                from: peer.local_addr().unwrap(),
                payload: bytes::Bytes::from_static(b"SIP/2.0 200 OK"),
            }
        );
        socket.send_to(b"OPTIONS", closed).await.unwrap();
        assert_eq!(
            next_input(&mut inbox).await,
            Input::SendFailed {
                listener,
                to: closed
            }
        );
        task.abort();
    }
}
