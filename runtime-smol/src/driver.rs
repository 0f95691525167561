//! The core task on smol: the one place the [`Engine`] (and so the balancer) lives. I/O tasks
//! send it [`Event`]s over one channel; it feeds them in arrival order, carries out the
//! outputs through [`SmolIo`], and keeps one timer armed at the core's deadline. No protocol
//! decision is made here.

use crate::conn::{self, Handle};
use crate::spawn;
use crate::udp::{self, UdpOut};
use async_signal::{Signal, Signals};
use bytes::Bytes;
use futures_rustls::rustls::ServerConfig;
use futures_rustls::TlsAcceptor;
use smol::channel::{self, Sender};
use smol::stream::StreamExt;
use smol::{future, Async, Task, Timer};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;
use switchboard_adapter::engine::{self, Engine, Io, RunError, TlsClientSetup};
use switchboard_adapter::engine::{BURST, EVENT_QUEUE, STOP_LIMIT};
use switchboard_adapter::flow::Queued;
use switchboard_adapter::ids::ConnIds;
use switchboard_adapter::net::{self, Listening};
use switchboard_adapter::startup::Start;
use switchboard_adapter::watch::ConfigWatch;
use switchboard_core::io::{ConnId, Input, ListenerId, ListenerSpec};

/// What I/O tasks send the core task.
pub type Event = engine::Event<Handle>;

/// A connection's handle, and its task while it is still connecting (dropped = cancelled).
#[derive(Debug)]
struct Writer {
    handle: Handle,
    connecting: Option<Task<()>>,
}

/// The smol side of the engine's I/O requests.
#[derive(Debug)]
pub struct SmolIo {
    udp: HashMap<ListenerId, Arc<UdpOut>>,
    conns: HashMap<ConnId, Writer>,
    /// Accept loops, cancelled when dropped.
    accepting: HashMap<ListenerId, Task<()>>,
    ids: Arc<ConnIds>,
    events: Sender<Event>,
}

/// What woke the core task.
enum Wake {
    Stop(&'static str),
    Reload,
    StopLimit,
    Timer,
    Event(Event),
    Watch,
}

/// Opens every socket of the configuration and runs the balancer until it exits (SIGINT,
/// SIGTERM or `/lbstop`).
pub async fn run(start: Start) -> Result<(), RunError> {
    let mut engine = Engine::new(start.config, start.path, start.log)?;
    let (events, inbox) = channel::bounded(EVENT_QUEUE);
    let mut inbox = std::pin::pin!(inbox);
    let mut signals =
        Signals::new([Signal::Term, Signal::Int, Signal::Hup]).map_err(RunError::Signals)?;
    let mut io = SmolIo::new(events);
    engine.open_listeners(&mut io)?;
    tracing::info!("ready: every listener is open");

    let mut watch = Timer::interval(ConfigWatch::INTERVAL);
    // One timer, moved only when the core's deadline changes.
    let mut timer = Timer::never();
    let mut armed: Option<Instant> = None;
    let mut stop_by: Option<Timer> = None;
    while !engine.exited() {
        let deadline = engine.deadline();
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // Checked against the clock, not only through the timer.
            engine.timer(&mut io);
            continue;
        }
        if deadline != armed {
            timer = deadline.map_or_else(Timer::never, Timer::at);
            armed = deadline;
        }
        let watching = engine.watches_config_file();
        // In this order, as a biased select: signals first, the inbox before the file watch.
        let wake = future::poll_fn(|cx| {
            if let Poll::Ready(Some(Ok(signal))) = signals.poll_next(cx) {
                return Poll::Ready(match signal {
                    Signal::Hup => Wake::Reload,
                    Signal::Int => Wake::Stop("SIGINT"),
                    _ => Wake::Stop("SIGTERM"),
                });
            }
            if stop_by
                .as_mut()
                .is_some_and(|t| Pin::new(t).poll(cx).is_ready())
            {
                return Poll::Ready(Wake::StopLimit);
            }
            if armed.is_some() && Pin::new(&mut timer).poll(cx).is_ready() {
                return Poll::Ready(Wake::Timer);
            }
            // Never ends while `io.events` is alive.
            if let Poll::Ready(Some(event)) = inbox.poll_next(cx) {
                return Poll::Ready(Wake::Event(event));
            }
            if watching && watch.poll_next(cx).is_ready() {
                return Poll::Ready(Wake::Watch);
            }
            Poll::Pending
        })
        .await;
        match wake {
            Wake::Reload => engine.reload_on_signal(),
            Wake::Stop(why) => {
                engine.shutdown(why, &mut io);
                stop_by.get_or_insert_with(|| Timer::after(STOP_LIMIT));
            }
            Wake::StopLimit => return Ok(()),
            Wake::Timer => {
                armed = None;
                engine.timer(&mut io);
            }
            Wake::Event(event) => {
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
            Wake::Watch => engine.poll_config_file(),
        }
    }
    Ok(())
}

impl SmolIo {
    /// No socket yet; I/O tasks will report to `events`.
    pub fn new(events: Sender<Event>) -> SmolIo {
        SmolIo {
            udp: HashMap::new(),
            conns: HashMap::new(),
            accepting: HashMap::new(),
            ids: Arc::new(ConnIds::default()),
            events,
        }
    }
}

impl Io for SmolIo {
    type Writer = Handle;

    fn register(&mut self, conn: ConnId, handle: Handle) {
        let connecting = None;
        self.conns.insert(conn, Writer { handle, connecting });
    }

    fn established(&mut self, conn: ConnId) {
        if let Some(task) = self.conns.get_mut(&conn).and_then(|w| w.connecting.take()) {
            task.detach();
        }
    }

    fn forget(&mut self, conn: ConnId) {
        if let Some(task) = self.conns.remove(&conn).and_then(|w| w.connecting) {
            // Reporting its end: let it finish rather than cancel it.
            task.detach();
        }
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
        let task = spawn(conn::connect(
            conn,
            to,
            local,
            tls,
            queue,
            self.events.clone(),
        ));
        let writer = Writer {
            handle,
            connecting: Some(task),
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
            // Given up by the core while connecting: dropping the task cancels it, with
            // nothing to flush. Else the task flushes what is queued and closes.
            if w.connecting.is_none() {
                w.handle.close();
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
                let socket = Arc::new(Async::new(socket)?);
                spawn(udp::recv(socket.clone(), spec.id, events)).detach();
                self.udp.insert(spec.id, UdpOut::new(socket));
            }
            Listening::Tcp(socket) => {
                let socket = Async::new(socket)?;
                let tls = tls.map(TlsAcceptor::from);
                let ids = self.ids.clone();
                let task = spawn(conn::accept(socket, spec.id, tls, ids, events));
                self.accepting.insert(spec.id, task);
            }
        }
        Ok(())
    }

    fn close_listener(&mut self, id: ListenerId) {
        // Dropping the accept loop's task cancels it.
        self.accepting.remove(&id);
        self.udp.remove(&id);
    }

    fn resolve(&mut self, token: u64, host: String, port: u16, ipv6: bool) {
        let events = self.events.clone();
        spawn(async move {
            let addr = smol::unblock(move || match net::resolve_blocking(&host, port, ipv6) {
                Ok(addr) => Some(addr),
                Err(error) => {
                    tracing::debug!(%host, %error, "cannot resolve");
                    None
                }
            })
            .await;
            let _ = events
                .send(Event::Input(Input::Resolved { token, addr }))
                .await;
        })
        .detach();
    }
}
