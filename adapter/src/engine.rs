//! The runtime-neutral half of a driver: owns the [`Balancer`], turns wall-clock time into the
//! core's timestamps, feeds inputs, and carries out every output through the runtime's
//! [`Io`]. A runtime only accepts, reads, writes, connects, resolves and sleeps; it never
//! looks at what runs on a socket.

use crate::flow::{Drains, Queued};
use crate::logging::LogControl;
use crate::net::{self, Listening, NetError};
use crate::tls::{self, server_name_for, Tls, TlsError};
use crate::watch::{reload_on_signal, ConfigWatch};
use bytes::Bytes;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use switchboard_core::algorithm::AlgorithmError;
use switchboard_core::balancer::Balancer;
use switchboard_core::config::Config;
use switchboard_core::io::{
    ClientTls, CloseReason, ConnId, Input, ListenerId, ListenerSpec, Output,
};
use switchboard_core::time::Timestamp;

/// Queued events a core task handles per wake-up before it polls signals and timers again.
pub const BURST: usize = 64;
/// Inputs waiting for the core task before I/O tasks have to wait.
pub const EVENT_QUEUE: usize = 8192;
/// How long a stop may take once begun (SIGTERM, SIGINT), whatever the core still waits for;
/// the core itself exits within its notification limit.
pub const STOP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The TLS client side of one outbound connection, ready for the runtime's connector.
#[derive(Debug, Clone)]
pub struct TlsClientSetup {
    /// The rustls configuration (trust store or none, client certificate).
    pub config: Arc<ClientConfig>,
    /// SNI and certificate name.
    pub server_name: ServerName<'static>,
}

/// What a runtime's I/O tasks send its core task, with `W` the runtime's writer handle.
#[derive(Debug)]
pub enum Event<W> {
    /// An input for the core.
    Input(Input),
    /// A connection was accepted: register its writer, then feed `input` (`Accepted`).
    Opened {
        /// The driver-minted id.
        conn: ConnId,
        /// Its writer.
        writer: W,
        /// `Accepted`.
        input: Input,
    },
}

/// What a runtime does for the engine. Every method returns at once: work that waits (a
/// connect, a lookup, a full socket) runs in the runtime's tasks, which report back with
/// [`Engine::feed`].
pub trait Io {
    /// The runtime's handle on a connection's task (a channel of writes).
    type Writer;
    /// Remembers the writer of a connection the runtime accepted.
    fn register(&mut self, conn: ConnId, writer: Self::Writer);
    /// An outbound connection is established: it is no longer cancelled, but closed after its
    /// writes, when the core closes it.
    fn established(&mut self, conn: ConnId);
    /// A connection ended or could not be opened: forget its writer.
    fn forget(&mut self, conn: ConnId);
    /// Sends a datagram from a UDP listener without waiting: a full socket buffer queues a
    /// bounded amount, then drops and counts.
    fn send_datagram(&mut self, listener: ListenerId, to: SocketAddr, payload: Bytes);
    /// Starts an outbound TCP connection (from `local` when set, with TLS when asked). Its
    /// task reports `Connected` or `ConnectFailed`, then `Data` and `Closed`.
    fn connect(
        &mut self,
        conn: ConnId,
        to: SocketAddr,
        local: Option<IpAddr>,
        tls: Option<TlsClientSetup>,
    );
    /// Writes bytes on a connection: on the socket at once when nothing is queued on a plain
    /// TCP connection that is up ([`Queued::Done`], see [`crate::conn`]), else (or for what
    /// the socket did not take) queued ([`crate::flow::WriteCmd::Data`]). On
    /// [`Queued::Full`] (a peer that does not read) the engine closes the connection and
    /// reports it closed.
    fn write(&mut self, conn: ConnId, payload: Bytes) -> Queued;
    /// Queues a drain notice behind the connection's pending writes
    /// ([`crate::flow::WriteCmd::Notify`]): once they are written to the socket, the
    /// connection's task reports `Input::Drained`; if the connection ends first, nothing.
    /// [`Queued::Done`] when nothing is pending (every byte is in the socket already): the
    /// engine feeds `Drained` itself. Called on `Output::NotifyDrained`; [`Queued::Full`] is
    /// handled as for a write.
    fn notify_drained(&mut self, conn: ConnId) -> Queued;
    /// Pauses (`true`) or resumes (`false`) reading from a connection through its
    /// [`crate::flow::ReadGate`]: while paused its task does not read the socket, so the
    /// sender feels TCP backpressure. Called on `Output::PauseReading` and
    /// `Output::ResumeReading`; an unknown connection is ignored, and a pause before the
    /// connection (or its TLS handshake) is up holds once reading starts.
    fn pause_reading(&mut self, conn: ConnId, paused: bool);
    /// Closes a connection after its queued writes.
    fn close(&mut self, conn: ConnId);
    /// Takes over a listening socket the engine opened (at start, or when a reload adds one):
    /// registers it with the runtime's reactor and starts receiving or accepting on it, with
    /// TLS on every accepted connection when `tls` is set. Fails only if the reactor refuses
    /// the socket.
    fn adopt(
        &mut self,
        spec: &ListenerSpec,
        socket: Listening,
        tls: Option<Arc<ServerConfig>>,
    ) -> std::io::Result<()>;
    /// Stops accepting on a listener.
    fn close_listener(&mut self, id: ListenerId);
    /// Resolves a host name in a task that reports `Input::Resolved` with `token`.
    fn resolve(&mut self, token: u64, host: String, port: u16, ipv6: bool);
}

/// Why an engine cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The configured algorithm cannot be built.
    #[error(transparent)]
    Algorithm(#[from] AlgorithmError),
    /// The TLS configuration of TLS or WSS listeners cannot be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Why a runtime's driver stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The balancer cannot be built from the configuration.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A socket of the configuration could not be opened.
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    /// Signal handlers could not be installed.
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

/// The balancer and everything a driver keeps about it.
#[derive(Debug)]
pub struct Engine {
    balancer: Balancer,
    epoch: Instant,
    log: LogControl,
    watch: Option<ConfigWatch>,
    tls: Tls,
    local_ips: HashMap<ListenerId, IpAddr>,
    /// Drain notices queued on connections and not yet reported.
    drains: Drains,
    /// Inputs produced while carrying out outputs (a write queue that overflowed), fed next.
    later: VecDeque<Input>,
    exited: bool,
}

impl Engine {
    /// An engine for `config` (read from `path`, watched for changes, when set).
    pub fn new(
        config: Config,
        path: Option<PathBuf>,
        log: LogControl,
    ) -> Result<Engine, EngineError> {
        let epoch = Instant::now();
        let balancer = Balancer::new(config, Timestamp::ZERO)?;
        let needs_tls = balancer.listeners().iter().any(|l| l.tls.is_some());
        let config = balancer.config();
        if tls::https_unverified(config) {
            tracing::warn!("HTTPS requests are re-encrypted toward nodes without verifying their certificates: set ssl/trustStore to verify them");
        }
        // Built only when a TLS or WSS listener is configured (outbound TLS toward nodes
        // uses the same `<ssl>` material).
        let tls = if needs_tls {
            Tls::load(&config.ssl, config.sip_stack.tls_client_auth)?
        } else {
            Tls::default()
        };
        Ok(Engine {
            balancer,
            epoch,
            log,
            watch: path.map(ConfigWatch::new),
            tls,
            local_ips: HashMap::new(),
            drains: Drains::default(),
            later: VecDeque::new(),
            exited: false,
        })
    }

    /// Opens every listener the core declares and hands each to the runtime; fails on the
    /// first socket that cannot be opened (start-up stops with that message).
    pub fn open_listeners(&mut self, io: &mut impl Io) -> Result<(), NetError> {
        for spec in self.balancer.listeners() {
            self.listen(&spec, io)?;
        }
        Ok(())
    }

    /// Opens one listener (resolving its host, blocking) and hands it to the runtime.
    fn listen(&mut self, spec: &ListenerSpec, io: &mut impl Io) -> Result<(), NetError> {
        let (socket, local) = net::open(spec)?;
        if spec.tls.is_some() && self.tls.server.is_none() {
            // A TLS listener added by a reload, when none was configured at start.
            let config = self.balancer.config();
            match Tls::load(&config.ssl, config.sip_stack.tls_client_auth) {
                Ok(tls) => self.tls = tls,
                Err(error) => tracing::error!(listener = %spec.name, %error, "no TLS"),
            }
        }
        let tls = spec.tls.and(self.tls.server.clone());
        if spec.tls.is_some() && tls.is_none() {
            tracing::error!(listener = %spec.name, "not opened: its TLS configuration cannot be built");
            return Ok(());
        }
        io.adopt(spec, socket, tls)
            .map_err(|source| NetError::Bind {
                what: spec.name.clone(),
                addr: local,
                source,
            })?;
        self.local_ips.insert(spec.id, local.ip());
        tracing::info!(%local, "listening: {}", spec.name);
        Ok(())
    }

    /// The core's time for the current instant.
    pub fn now(&self) -> Timestamp {
        self.timestamp(Instant::now())
    }

    fn timestamp(&self, at: Instant) -> Timestamp {
        let micros = at.saturating_duration_since(self.epoch).as_micros();
        Timestamp::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// When the runtime must wake the engine with [`Engine::timer`] (`None`: no deadline).
    pub fn deadline(&self) -> Option<Instant> {
        self.balancer
            .poll_timeout()
            .map(|t| self.epoch + std::time::Duration::from_micros(t.as_micros()))
    }

    /// True once the core asked to exit: the runtime returns.
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// Feeds one input from the runtime, then carries out every output it caused, and feeds
    /// the inputs those produced (a notice drained at once, a write queue that overflowed).
    pub fn feed(&mut self, input: Input, io: &mut impl Io) {
        self.later.push_back(input);
        while let Some(input) = self.later.pop_front() {
            if !self.admit(&input, io) {
                continue;
            }
            let now = self.now();
            self.balancer.handle(now, input);
            self.drain(io);
        }
    }

    /// Keeps the runtime's table of writers and the book of drain notices in step with an
    /// input about to be fed; false for a `Drained` no longer owed (the connection ended, or
    /// the core closed it, since the notice was queued), which is dropped.
    fn admit(&mut self, input: &Input, io: &mut impl Io) -> bool {
        match input {
            Input::Connected { conn } => io.established(*conn),
            Input::Closed { conn, .. } | Input::ConnectFailed { conn } => {
                io.forget(*conn);
                self.drains.ended(*conn);
            }
            Input::Drained { conn } => return self.drains.paid(*conn),
            _ => {}
        }
        true
    }

    /// Handles one event from the runtime's I/O tasks: registers the writer of a connection
    /// it opened, then feeds the input.
    pub fn event<I: Io>(&mut self, event: Event<I::Writer>, io: &mut I) {
        let input = match event {
            Event::Input(input) => input,
            Event::Opened {
                conn,
                writer,
                input,
            } => {
                io.register(conn, writer);
                input
            }
        };
        self.feed(input, io);
    }

    /// The deadline passed: feeds `Timeout`.
    pub fn timer(&mut self, io: &mut impl Io) {
        self.feed(Input::Timeout, io);
    }

    /// SIGTERM or SIGINT: starts the core's stop; keep running until [`Engine::exited`].
    pub fn shutdown(&mut self, why: &str, io: &mut impl Io) {
        tracing::info!(signal = why, "shutting down");
        let now = self.now();
        self.balancer.shutdown(now);
        self.drain(io);
    }

    /// SIGHUP: re-reads the configuration file.
    pub fn reload_on_signal(&mut self) {
        let now = self.now();
        let _ = reload_on_signal(self.watch.as_mut(), &mut self.balancer, now);
    }

    /// Every [`ConfigWatch::INTERVAL`]: reloads the configuration file if it changed on disk.
    pub fn poll_config_file(&mut self) {
        let now = self.now();
        if let Some(watch) = self.watch.as_mut() {
            if let Some(change) = watch.poll() {
                let _ = watch.reload(&mut self.balancer, now, change.why());
            }
        }
    }

    /// True when the configuration came from a file that is watched.
    pub fn watches_config_file(&self) -> bool {
        self.watch.is_some()
    }

    fn drain(&mut self, io: &mut impl Io) {
        while let Some(output) = self.balancer.poll_output() {
            self.execute(output, io);
        }
    }

    fn execute(&mut self, output: Output, io: &mut impl Io) {
        match output {
            Output::SendDatagram {
                listener,
                to,
                payload,
            } => io.send_datagram(listener, to, payload),
            Output::Connect {
                conn,
                to,
                from,
                bind_ip,
                tls,
            } => {
                let local =
                    bind_ip.or_else(|| from.and_then(|id| self.local_ips.get(&id).copied()));
                match tls {
                    None => io.connect(conn, to, local, None),
                    Some(tls) => match self.client_tls(&tls) {
                        Some(setup) => io.connect(conn, to, local, Some(setup)),
                        None => {
                            tracing::warn!(%to, "cannot open an outbound TLS connection without ssl/trustStore");
                            self.later.push_back(Input::ConnectFailed { conn });
                        }
                    },
                }
            }
            Output::Write { conn, payload } => {
                let queued = io.write(conn, payload);
                self.queued(conn, queued, io);
            }
            Output::NotifyDrained { conn } => {
                let queued = io.notify_drained(conn);
                if matches!(queued, Queued::Yes | Queued::Done) {
                    self.drains.owed(conn);
                }
                if queued == Queued::Done {
                    // Fed after this input's other outputs, unless one of them closes `conn`.
                    self.later.push_back(Input::Drained { conn });
                }
                self.queued(conn, queued, io);
            }
            Output::PauseReading { conn } => io.pause_reading(conn, true),
            Output::ResumeReading { conn } => io.pause_reading(conn, false),
            Output::Close { conn } => {
                self.drains.ended(conn);
                io.close(conn);
            }
            Output::Listen { spec } => {
                if let Err(error) = self.listen(&spec, io) {
                    tracing::error!("configuration reloaded, but {error}");
                }
            }
            Output::CloseListener { id } => {
                tracing::info!(?id, "listener closed");
                self.local_ips.remove(&id);
                io.close_listener(id);
            }
            Output::Resolve {
                token,
                host,
                port,
                ipv6,
            } => io.resolve(token, host, port, ipv6),
            Output::SetLogLevel { level } => self.log.set_level(&level),
            Output::Cluster { kind, node } => tracing::debug!(?kind, %node, "cluster event"),
            Output::Exit => self.exited = true,
        }
    }

    /// What a write or a drain notice on `conn` became: a full queue closes the connection.
    fn queued(&mut self, conn: ConnId, queued: Queued, io: &mut impl Io) {
        match queued {
            Queued::Yes | Queued::Done => {}
            Queued::Gone => tracing::debug!(?conn, "output for a connection that is gone"),
            Queued::Full => {
                tracing::warn!(
                    ?conn,
                    "peer does not read: write queue full, closing the connection"
                );
                self.drains.ended(conn);
                io.close(conn);
                self.later.push_back(Input::Closed {
                    conn,
                    reason: CloseReason::IoError,
                });
            }
        }
    }

    /// The TLS client side the core asked for: verified against the trust store, or not
    /// verified when there is none and the core allows it; `None` if neither is possible.
    fn client_tls(&self, tls: &ClientTls) -> Option<TlsClientSetup> {
        let config = match &self.tls.client {
            Some(verified) => verified.clone(),
            None if tls.unverified_without_trust_store => self.tls.unverified.clone()?,
            None => return None,
        };
        Some(TlsClientSetup {
            config,
            server_name: server_name_for(&tls.server_name)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the engine asked of the runtime.
    #[derive(Debug, PartialEq)]
    enum Call {
        Connect(ConnId, bool),
        Write(ConnId),
        Notify(ConnId),
        Pause(ConnId, bool),
        Close(ConnId),
        Forget(ConnId),
    }

    /// Records calls; queues answer `queued`.
    struct FakeIo {
        calls: Vec<Call>,
        queued: Queued,
    }

    impl Io for FakeIo {
        type Writer = ();
        fn register(&mut self, _: ConnId, _: ()) {}
        fn established(&mut self, _: ConnId) {}
        fn forget(&mut self, conn: ConnId) {
            self.calls.push(Call::Forget(conn));
        }
        fn send_datagram(&mut self, _: ListenerId, _: SocketAddr, _: Bytes) {}
        fn connect(
            &mut self,
            conn: ConnId,
            _: SocketAddr,
            _: Option<IpAddr>,
            tls: Option<TlsClientSetup>,
        ) {
            self.calls.push(Call::Connect(conn, tls.is_some()));
        }
        fn write(&mut self, conn: ConnId, _: Bytes) -> Queued {
            self.calls.push(Call::Write(conn));
            self.queued
        }
        fn notify_drained(&mut self, conn: ConnId) -> Queued {
            self.calls.push(Call::Notify(conn));
            self.queued
        }
        fn pause_reading(&mut self, conn: ConnId, paused: bool) {
            self.calls.push(Call::Pause(conn, paused));
        }
        fn close(&mut self, conn: ConnId) {
            self.calls.push(Call::Close(conn));
        }
        fn adopt(
            &mut self,
            _: &ListenerSpec,
            _: Listening,
            _: Option<Arc<ServerConfig>>,
        ) -> std::io::Result<()> {
            Ok(())
        }
        fn close_listener(&mut self, _: ListenerId) {}
        fn resolve(&mut self, _: u64, _: String, _: u16, _: bool) {}
    }

    fn engine() -> (Engine, FakeIo) {
        let config = Config::embedded_default();
        let engine = Engine::new(config, None, LogControl::detached()).expect("engine");
        let io = FakeIo {
            calls: Vec::new(),
            queued: Queued::Yes,
        };
        (engine, io)
    }

    const CONN: ConnId = ConnId(7);

    #[test]
    fn flow_control_outputs_reach_the_runtime() {
        let (mut engine, mut io) = engine();
        engine.execute(Output::PauseReading { conn: CONN }, &mut io);
        engine.execute(Output::ResumeReading { conn: CONN }, &mut io);
        let payload = Bytes::from_static(b"x");
        engine.execute(
            Output::Write {
                conn: CONN,
                payload,
            },
            &mut io,
        );
        engine.execute(Output::NotifyDrained { conn: CONN }, &mut io);
        let calls = [
            Call::Pause(CONN, true),
            Call::Pause(CONN, false),
            Call::Write(CONN),
            Call::Notify(CONN),
        ];
        assert_eq!(io.calls, calls);
        assert!(engine.later.is_empty(), "Drained waits for the runtime");
    }

    #[test]
    fn drained_is_fed_once_per_notice_and_not_after_the_end() {
        let (mut engine, mut io) = engine();
        engine.execute(Output::NotifyDrained { conn: CONN }, &mut io);
        let drained = || Event::Input(Input::Drained { conn: CONN });
        engine.event(drained(), &mut io);
        assert!(!engine.drains.paid(CONN), "paid by the first Drained");
        // The connection ends before its notice is reported.
        engine.execute(Output::NotifyDrained { conn: CONN }, &mut io);
        let closed = Input::Closed {
            conn: CONN,
            reason: CloseReason::PeerClosed,
        };
        engine.event(Event::Input(closed), &mut io);
        engine.drains.owed(ConnId(8));
        engine.event(drained(), &mut io);
        assert_eq!(io.calls.last(), Some(&Call::Forget(CONN)));
        // The core closes a connection with a notice pending.
        engine.execute(Output::NotifyDrained { conn: CONN }, &mut io);
        engine.execute(Output::Close { conn: CONN }, &mut io);
        assert!(!engine.drains.paid(CONN));
        assert!(
            engine.drains.paid(ConnId(8)),
            "other connections keep theirs"
        );
    }

    #[test]
    fn a_notice_drained_at_once_is_fed_unless_the_core_closes_the_connection_first() {
        let (mut engine, mut io) = engine();
        io.queued = Queued::Done;
        engine.execute(Output::NotifyDrained { conn: CONN }, &mut io);
        let drained = engine.later.pop_front().expect("fed next");
        assert_eq!(drained, Input::Drained { conn: CONN });
        assert!(engine.admit(&drained, &mut io));
        assert!(!engine.admit(&drained, &mut io), "once");
        engine.execute(Output::NotifyDrained { conn: CONN }, &mut io);
        engine.execute(Output::Close { conn: CONN }, &mut io);
        let drained = engine.later.pop_front().expect("queued");
        assert!(!engine.admit(&drained, &mut io), "closed before it was fed");
    }

    #[test]
    fn a_full_queue_closes_the_connection() {
        let (mut engine, mut io) = engine();
        io.queued = Queued::Full;
        engine.execute(Output::NotifyDrained { conn: CONN }, &mut io);
        assert_eq!(io.calls, [Call::Notify(CONN), Call::Close(CONN)]);
        let closed = Input::Closed {
            conn: CONN,
            reason: CloseReason::IoError,
        };
        assert_eq!(engine.later.pop_front(), Some(closed));
        assert!(!engine.drains.paid(CONN));
        // An unknown connection: nothing to do.
        io.queued = Queued::Gone;
        engine.execute(Output::NotifyDrained { conn: CONN }, &mut io);
        assert!(engine.later.is_empty());
        assert!(!engine.drains.paid(CONN));
    }

    /// Any client configuration: the engine only picks one.
    fn client_config() -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        Arc::new(config)
    }

    #[test]
    fn outbound_tls_goes_unverified_only_without_a_trust_store_and_when_asked() {
        let (mut engine, mut io) = engine();
        let connect = |n: u64, unverified: bool| Output::Connect {
            conn: ConnId(ConnId::OUTBOUND_BIT | n),
            to: "192.0.2.1:8443".parse().unwrap(),
            from: None,
            bind_ip: None,
            tls: Some(ClientTls {
                server_name: "node-1.example.com".to_owned(),
                unverified_without_trust_store: unverified,
            }),
        };
        let unverified = client_config();
        engine.tls.unverified = Some(unverified.clone());
        engine.execute(connect(1, false), &mut io);
        let failed = Input::ConnectFailed {
            conn: ConnId(ConnId::OUTBOUND_BIT | 1),
        };
        assert_eq!(
            engine.later.pop_front(),
            Some(failed),
            "SIP TLS needs roots"
        );
        let setup = engine.client_tls(&ClientTls {
            server_name: "node-1.example.com".to_owned(),
            unverified_without_trust_store: true,
        });
        assert!(Arc::ptr_eq(&setup.expect("unverified").config, &unverified));
        engine.execute(connect(2, true), &mut io);
        assert_eq!(
            io.calls,
            [Call::Connect(ConnId(ConnId::OUTBOUND_BIT | 2), true)]
        );
        // With a trust store, the verified configuration serves every connection.
        let verified = client_config();
        engine.tls = Tls {
            client: Some(verified.clone()),
            ..Tls::default()
        };
        for asked in [false, true] {
            let setup = engine.client_tls(&ClientTls {
                server_name: "192.0.2.1".to_owned(),
                unverified_without_trust_store: asked,
            });
            assert!(Arc::ptr_eq(&setup.expect("verified").config, &verified));
        }
    }
}
