//! The core task on tokio: the one place the [`Engine`] (and so the balancer) lives. I/O tasks
//! send it [`Event`]s over one channel; it feeds them in arrival order, carries out the
//! outputs through [`TokioIo`], and keeps one timer armed at the core's deadline. No protocol
//! decision is made here.

use crate::conn::{self, Handle};
use crate::udp::{self, UdpOut};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use switchboard_adapter::engine::{self, Engine, Io, RunError, TlsClientSetup};
use switchboard_adapter::engine::{BURST, EVENT_QUEUE, STOP_LIMIT};
use switchboard_adapter::flow::Queued;
use switchboard_adapter::ids::ConnIds;
use switchboard_adapter::net::Listening;
use switchboard_adapter::startup::Start;
use switchboard_adapter::watch::ConfigWatch;
use switchboard_core::io::{ConnId, Input, ListenerId, ListenerSpec};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// What I/O tasks send the core task.
pub type Event = engine::Event<Handle>;

/// A connection's handle, and the task to abort while it is still connecting.
#[derive(Debug)]
struct Writer {
    handle: Handle,
    connecting: Option<AbortHandle>,
}

/// The tokio side of the engine's I/O requests.
#[derive(Debug)]
pub struct TokioIo {
    udp: HashMap<ListenerId, Arc<UdpOut>>,
    conns: HashMap<ConnId, Writer>,
    accepting: HashMap<ListenerId, AbortHandle>,
    ids: Arc<ConnIds>,
    events: mpsc::Sender<Event>,
}

/// Opens every socket of the configuration and runs the balancer until it exits (SIGINT,
/// SIGTERM or `/lbstop`).
pub async fn run(start: Start) -> Result<(), RunError> {
    let mut engine = Engine::new(start.config, start.path, start.log)?;
    let (events, mut inbox) = mpsc::channel(EVENT_QUEUE);
    let mut io = TokioIo::new(events);
    engine.open_listeners(&mut io)?;
    tracing::info!("ready: every listener is open");

    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(RunError::Signals)?;
    let mut watch = tokio::time::interval(ConfigWatch::INTERVAL);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // One timer, moved only when the core's deadline changes.
    let far = || Instant::now() + Duration::from_secs(3600);
    let timer = tokio::time::sleep_until(far());
    tokio::pin!(timer);
    let mut armed: Option<Instant> = None;
    let mut stop_by: Option<Instant> = None;
    while !engine.exited() {
        let deadline = engine.deadline().map(Instant::from_std);
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Checked against the clock, not only through the sleep future.
            engine.timer(&mut io);
            continue;
        }
        if deadline != armed {
            timer.as_mut().reset(deadline.unwrap_or_else(far));
            armed = deadline;
        }
        tokio::select! {
            biased;
            _ = term.recv() => {
                engine.shutdown("SIGTERM", &mut io);
                stop_by.get_or_insert_with(|| Instant::now() + STOP_LIMIT);
            }
            _ = int.recv() => {
                engine.shutdown("SIGINT", &mut io);
                stop_by.get_or_insert_with(|| Instant::now() + STOP_LIMIT);
            }
            _ = hup.recv() => engine.reload_on_signal(),
            () = tokio::time::sleep_until(stop_by.unwrap_or_else(far)), if stop_by.is_some() => {
                return Ok(());
            }
            () = &mut timer, if armed.is_some() => {
                armed = None;
                engine.timer(&mut io);
            }
            event = inbox.recv() => {
                // Unreachable while `io.events` is alive.
                let Some(event) = event else { return Ok(()) };
                engine.event(event, &mut io);
                // One wake-up serves a burst: take what is already queued before polling
                // signals and timers again (bounded, so they are not starved).
                for _ in 0..BURST {
                    match inbox.try_recv() {
                        Ok(event) => engine.event(event, &mut io),
                        Err(_) => break,
                    }
                }
            }
            _ = watch.tick(), if engine.watches_config_file() => engine.poll_config_file(),
        }
    }
    Ok(())
}

impl TokioIo {
    /// No socket yet; I/O tasks will report to `events`.
    pub fn new(events: mpsc::Sender<Event>) -> TokioIo {
        TokioIo {
            udp: HashMap::new(),
            conns: HashMap::new(),
            accepting: HashMap::new(),
            ids: Arc::new(ConnIds::default()),
            events,
        }
    }
}

impl Io for TokioIo {
    type Writer = Handle;

    fn register(&mut self, conn: ConnId, handle: Handle) {
        let connecting = None;
        self.conns.insert(conn, Writer { handle, connecting });
    }

    fn established(&mut self, conn: ConnId) {
        if let Some(w) = self.conns.get_mut(&conn) {
            w.connecting = None;
        }
    }

    fn forget(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    fn send_datagram(&mut self, listener: ListenerId, to: SocketAddr, payload: Bytes) {
        match self.udp.get(&listener) {
            Some(out) => out.send(to, payload),
            None => tracing::debug!(?listener, %to, "no UDP socket for this listener"),
        }
    }

    fn connect(
        &mut self,
        conn: ConnId,
        to: SocketAddr,
        local: Option<IpAddr>,
        tls: Option<TlsClientSetup>,
    ) {
        let (handle, queue) = conn::writer();
        let events = self.events.clone();
        let task = tokio::spawn(conn::connect(conn, to, local, tls, queue, events));
        let writer = Writer {
            handle,
            connecting: Some(task.abort_handle()),
        };
        self.conns.insert(conn, writer);
    }

    fn write(&mut self, conn: ConnId, payload: Bytes) -> Queued {
        self.conns
            .get(&conn)
            .map_or(Queued::Gone, |w| w.handle.write(payload))
    }

    fn notify_drained(&mut self, conn: ConnId) -> Queued {
        self.conns
            .get(&conn)
            .map_or(Queued::Gone, |w| w.handle.notify_drained())
    }

    fn pause_reading(&mut self, conn: ConnId, paused: bool) {
        if let Some(w) = self.conns.get(&conn) {
            w.handle.pause_reading(paused);
        }
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(w) = self.conns.remove(&conn) {
            match w.connecting {
                // Given up by the core while connecting: nothing to flush.
                Some(task) => task.abort(),
                None => w.handle.close(),
            }
        }
    }

    fn adopt(
        &mut self,
        spec: &ListenerSpec,
        socket: Listening,
        tls: Option<Arc<ServerConfig>>,
    ) -> std::io::Result<()> {
        let events = self.events.clone();
        match socket {
            Listening::Udp(socket) => {
                let socket = Arc::new(UdpSocket::from_std(socket)?);
                tokio::spawn(udp::recv(socket.clone(), spec.id, events));
                self.udp.insert(spec.id, UdpOut::new(socket));
            }
            Listening::Tcp(socket) => {
                let socket = TcpListener::from_std(socket)?;
                let tls = tls.map(TlsAcceptor::from);
                let ids = self.ids.clone();
                let task = tokio::spawn(conn::accept(socket, spec.id, tls, ids, events));
                self.accepting.insert(spec.id, task.abort_handle());
            }
        }
        Ok(())
    }

    fn close_listener(&mut self, id: ListenerId) {
        if let Some(task) = self.accepting.remove(&id) {
            task.abort();
        }
        self.udp.remove(&id);
    }

    fn resolve(&mut self, token: u64, host: String, port: u16, ipv6: bool) {
        let events = self.events.clone();
        tokio::spawn(async move {
            let addr = match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(mut addrs) => addrs.find(|a| a.is_ipv6() == ipv6),
                Err(error) => {
                    tracing::debug!(%host, %error, "cannot resolve");
                    None
                }
            };
            let _ = events
                .send(Event::Input(Input::Resolved { token, addr }))
                .await;
        });
    }
}
