//! `esme`: binds C transceiver sessions, keeps W `submit_sm` outstanding on each (pipelined:
//! every response received lets one more request leave, all those of one read in one write),
//! and measures each request's latency from the moment its octets were queued for writing to
//! the moment its response was read.
//!
//! It stops sending after `--count` requests in total or `--duration` seconds, waits for the
//! outstanding responses (at most [`DRAIN`]), unbinds, and reports. Everything is bounded by
//! `--timeout`: a session still running then is abandoned and its outstanding requests count
//! as missing.

use crate::pdu::{self, Frame};
use crate::stats::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, timeout_at};

/// Time allowed to connect and bind every session.
const BIND_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed for outstanding responses after sending stopped.
pub const DRAIN: Duration = Duration::from_secs(5);
/// Time allowed for the `unbind_resp` at the end.
const UNBIND_TIMEOUT: Duration = Duration::from_secs(1);
/// Receive buffer per session.
const READ_BUFFER: usize = 256 * 1024;

/// How much load to offer.
#[derive(Debug, Clone, Copy)]
pub enum Amount {
    /// This many `submit_sm` over all sessions.
    Count(u64),
    /// Send for this long.
    Duration(Duration),
}

/// What `esme` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port` of the SMSC or balancer.
    pub target: String,
    /// Bind `system_id`.
    pub system_id: String,
    /// Bind `password`.
    pub password: String,
    /// Bind `system_type`.
    pub system_type: String,
    /// Sessions.
    pub connections: usize,
    /// Outstanding `submit_sm` per session.
    pub window: usize,
    /// When to stop sending.
    pub amount: Amount,
    /// Everything, binds included, ends by then.
    pub timeout: Duration,
    /// Octets of each short message.
    pub message_len: usize,
}

/// The figures of one run.
#[derive(Debug, Default)]
pub struct Report {
    /// `submit_sm` sent.
    pub sent: u64,
    /// `submit_sm_resp` with ESME_ROK.
    pub ok: u64,
    /// Responses with another status, `generic_nack`s, responses matching no request.
    pub bad: u64,
    /// Requests without a response at the end.
    pub missing: u64,
    /// From the first request to the last response.
    pub elapsed: Duration,
    /// Latencies of the ESME_ROK responses.
    pub latency: Histogram,
}

impl Report {
    /// The report as one JSON object.
    pub fn json(&self, options: &Options) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        };
        format!(
            "{{\"pdus\":{},\"errors\":{},\"sent\":{},\"bad_responses\":{},\"missing\":{},\
             \"elapsed_s\":{:.3},\"rate\":{:.0},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\
             \"connections\":{},\"window\":{}}}",
            self.ok,
            self.bad + self.missing,
            self.sent,
            self.bad,
            self.missing,
            secs,
            rate,
            self.latency.quantile_ms(0.50),
            self.latency.quantile_ms(0.99),
            options.connections,
            options.window,
        )
    }
}

/// Binds the sessions, offers the load, reports. An error means no load was offered.
pub async fn run(options: Options) -> Result<Report, String> {
    let hard_deadline = tokio::time::Instant::now() + options.timeout;
    let bind_deadline = hard_deadline.min(tokio::time::Instant::now() + BIND_TIMEOUT);
    let mut binds = Vec::with_capacity(options.connections);
    for n in 0..options.connections {
        let options = options.clone();
        binds.push(tokio::spawn(async move {
            timeout_at(bind_deadline, bind(&options))
                .await
                .unwrap_or_else(|_| Err("no bind_resp in time".to_owned()))
                .map_err(|e| format!("session {n}: {e}"))
        }));
    }
    let mut streams = Vec::with_capacity(options.connections);
    for b in binds {
        streams.push(b.await.map_err(|e| e.to_string())??);
    }

    let start = Instant::now();
    let stop_sending = match options.amount {
        Amount::Duration(d) => tokio::time::Instant::from_std(start + d).min(hard_deadline),
        Amount::Count(_) => hard_deadline,
    };
    let budget = Arc::new(Budget {
        limit: match options.amount {
            Amount::Count(n) => n,
            Amount::Duration(_) => u64::MAX,
        },
        claimed: AtomicU64::new(0),
    });
    let template = Arc::new(pdu::submit_sm_template(
        "12025550100",
        "12025550199",
        &vec![b'x'; options.message_len.min(254)],
    ));
    let mut sessions = Vec::with_capacity(streams.len());
    for stream in streams {
        let session = Session {
            window: options.window.max(1),
            template: Arc::clone(&template),
            budget: Arc::clone(&budget),
            stop_sending,
            hard_deadline,
        };
        sessions.push(tokio::spawn(session.run(stream)));
    }
    let mut report = Report::default();
    let mut last = None;
    for s in sessions {
        let r = s.await.map_err(|e| e.to_string())?;
        report.sent += r.sent;
        report.ok += r.ok;
        report.bad += r.bad;
        report.missing += r.missing;
        report.latency.merge(&r.latency);
        last = last.max(r.last_response);
    }
    report.elapsed = last.unwrap_or_else(Instant::now).duration_since(start);
    Ok(report)
}

/// The requests all sessions may still send together (`--count`).
#[derive(Debug)]
struct Budget {
    limit: u64,
    claimed: AtomicU64,
}

impl Budget {
    fn claim(&self) -> bool {
        self.limit == u64::MAX || self.claimed.fetch_add(1, Ordering::Relaxed) < self.limit
    }
}

/// Connects and binds one transceiver session (sequence number 1).
async fn bind(options: &Options) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(&options.target)
        .await
        .map_err(|e| format!("connect {}: {e}", options.target))?;
    let _ = stream.set_nodelay(true);
    let mut out = vec![];
    pdu::bind_transceiver(
        &mut out,
        1,
        &options.system_id,
        &options.password,
        &options.system_type,
    );
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    let mut input = vec![0u8; 4096];
    let mut filled = 0;
    loop {
        let n = stream
            .read(&mut input[filled..])
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before bind_resp".to_owned());
        }
        filled += n;
        loop {
            let header = match pdu::frame(&input[..filled]) {
                Frame::Incomplete if filled == input.len() => return Err("PDU too long".into()),
                Frame::Incomplete => break,
                Frame::Invalid => return Err("bad command_length".to_owned()),
                Frame::Pdu(h) => h,
            };
            if header.command_id == pdu::BIND_TRANSCEIVER | pdu::RESPONSE && header.sequence == 1 {
                if header.status != pdu::ESME_ROK {
                    return Err(format!("bind_transceiver_resp status {:#x}", header.status));
                }
                if filled > header.length {
                    return Err("PDU after bind_resp before any request".to_owned());
                }
                return Ok(stream);
            }
            let mut answer = vec![];
            if header.command_id == pdu::ENQUIRE_LINK {
                pdu::empty(
                    &mut answer,
                    pdu::ENQUIRE_LINK | pdu::RESPONSE,
                    0,
                    header.sequence,
                );
            } else if header.command_id == pdu::GENERIC_NACK {
                return Err(format!("generic_nack {:#x} to the bind", header.status));
            }
            stream.write_all(&answer).await.map_err(|e| e.to_string())?;
            input.copy_within(header.length..filled, 0);
            filled -= header.length;
        }
    }
}

/// One bound session's load loop.
#[derive(Debug)]
struct Session {
    window: usize,
    template: Arc<Vec<u8>>,
    budget: Arc<Budget>,
    stop_sending: tokio::time::Instant,
    hard_deadline: tokio::time::Instant,
}

/// One session's figures.
#[derive(Debug, Default)]
struct SessionReport {
    sent: u64,
    ok: u64,
    bad: u64,
    missing: u64,
    last_response: Option<Instant>,
    latency: Histogram,
}

/// Requests awaiting their response: a ring indexed by sequence number, each slot holding the
/// sequence number it is for (a slot reused while still taken loses that request: counted as
/// missing).
#[derive(Debug)]
struct Outstanding {
    slots: Vec<(u32, Option<Instant>)>,
    mask: usize,
    count: usize,
}

impl Outstanding {
    fn new(window: usize) -> Self {
        let size = (window * 4).next_power_of_two();
        Self {
            slots: vec![(0, None); size],
            mask: size - 1,
            count: 0,
        }
    }

    /// Remembers `seq`; true if that dropped an older request.
    fn insert(&mut self, seq: u32, at: Instant) -> bool {
        let slot = &mut self.slots[seq as usize & self.mask];
        let dropped = slot.1.is_some();
        *slot = (seq, Some(at));
        if !dropped {
            self.count += 1;
        }
        dropped
    }

    fn take(&mut self, seq: u32) -> Option<Instant> {
        let slot = &mut self.slots[seq as usize & self.mask];
        if slot.0 != seq {
            return None;
        }
        let at = slot.1.take()?;
        self.count -= 1;
        Some(at)
    }
}

impl Session {
    async fn run(self, mut stream: TcpStream) -> SessionReport {
        let mut r = SessionReport::default();
        let mut outstanding = Outstanding::new(self.window);
        let mut next_seq: u32 = 2;
        let mut sending = true;
        let mut input = vec![0u8; READ_BUFFER];
        let mut filled = 0;
        let mut out: Vec<u8> = Vec::with_capacity(self.template.len() * self.window * 2);
        let mut written = 0;
        let mut drain_deadline = self.hard_deadline;
        let mut peer_closed = false;

        let mut refill = |out: &mut Vec<u8>,
                          outstanding: &mut Outstanding,
                          sending: &mut bool,
                          r: &mut SessionReport| {
            let now = Instant::now();
            while *sending && outstanding.count < self.window {
                if !self.budget.claim() {
                    *sending = false;
                    break;
                }
                let at = out.len();
                out.extend_from_slice(&self.template);
                pdu::set_sequence(&mut out[at..], next_seq);
                if outstanding.insert(next_seq, now) {
                    r.missing += 1;
                }
                next_seq = if next_seq >= 0x7FFF_FFFF {
                    1
                } else {
                    next_seq + 1
                };
                r.sent += 1;
            }
        };
        refill(&mut out, &mut outstanding, &mut sending, &mut r);
        if !sending {
            drain_deadline = self.hard_deadline.min(tokio::time::Instant::now() + DRAIN);
        }

        let (mut rd, mut wr) = stream.split();
        loop {
            if !sending && outstanding.count == 0 && written == out.len() {
                break;
            }
            tokio::select! {
                read = rd.read(&mut input[filled..]) => {
                    let n = match read {
                        Ok(0) | Err(_) => { peer_closed = true; break; }
                        Ok(n) => n,
                    };
                    filled += n;
                    let now = Instant::now();
                    let mut used = 0;
                    loop {
                        let h = match pdu::frame(&input[used..filled]) {
                            Frame::Incomplete => break,
                            Frame::Invalid => { peer_closed = true; break; }
                            Frame::Pdu(h) => h,
                        };
                        used += h.length;
                        match h.command_id {
                            pdu::GENERIC_NACK => {
                                r.bad += 1;
                                let _ = outstanding.take(h.sequence);
                            }
                            id if id == pdu::SUBMIT_SM | pdu::RESPONSE => match outstanding.take(h.sequence) {
                                Some(at) if h.status == pdu::ESME_ROK => {
                                    r.ok += 1;
                                    r.latency.record(now.duration_since(at));
                                    r.last_response = Some(now);
                                }
                                _ => r.bad += 1,
                            },
                            pdu::ENQUIRE_LINK => pdu::empty(&mut out, pdu::ENQUIRE_LINK | pdu::RESPONSE, 0, h.sequence),
                            pdu::DELIVER_SM | pdu::DATA_SM => pdu::sm_resp(&mut out, h.command_id, h.sequence, 0),
                            pdu::UNBIND => {
                                pdu::empty(&mut out, pdu::UNBIND | pdu::RESPONSE, 0, h.sequence);
                                sending = false;
                            }
                            id if id & pdu::RESPONSE != 0 => r.bad += 1,
                            _ => pdu::empty(&mut out, pdu::GENERIC_NACK, pdu::ESME_RINVCMDID, h.sequence),
                        }
                    }
                    if peer_closed {
                        break;
                    }
                    input.copy_within(used..filled, 0);
                    filled -= used;
                    let was_sending = sending;
                    refill(&mut out, &mut outstanding, &mut sending, &mut r);
                    if was_sending && !sending {
                        drain_deadline = self.hard_deadline.min(tokio::time::Instant::now() + DRAIN);
                    }
                }
                wrote = wr.write(&out[written..]), if written < out.len() => {
                    match wrote {
                        Ok(0) | Err(_) => { peer_closed = true; break; }
                        Ok(n) => written += n,
                    }
                    if written == out.len() {
                        out.clear();
                        written = 0;
                    }
                }
                () = sleep_until(self.stop_sending), if sending => {
                    sending = false;
                    drain_deadline = self.hard_deadline.min(tokio::time::Instant::now() + DRAIN);
                }
                () = sleep_until(drain_deadline) => break,
            }
        }
        r.missing += outstanding.count as u64;
        if !peer_closed {
            // Unbind and wait briefly for the answer; the figures are taken already.
            let mut bye = out.split_off(written);
            pdu::empty(&mut bye, pdu::UNBIND, 0, next_seq);
            let _ = timeout(UNBIND_TIMEOUT, async {
                stream.write_all(&bye).await?;
                loop {
                    if stream.read(&mut input).await? == 0 {
                        return Ok::<_, std::io::Error>(());
                    }
                }
            })
            .await;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outstanding_ring() {
        let t = Instant::now();
        let mut o = Outstanding::new(2); // 8 slots
        assert!(!o.insert(2, t));
        assert!(!o.insert(3, t));
        assert_eq!(o.count, 2);
        assert_eq!(o.take(3), Some(t));
        assert_eq!(o.take(3), None);
        assert_eq!(o.take(11), None); // same slot as 3, other number
        assert!(o.insert(10, t)); // slot of 2, still taken: 2 is lost
        assert_eq!(o.take(2), None);
        assert_eq!(o.take(10), Some(t));
        assert_eq!(o.count, 0);
    }

    #[test]
    fn budget_claims() {
        let b = Budget {
            limit: 2,
            claimed: AtomicU64::new(0),
        };
        assert!(b.claim() && b.claim());
        assert!(!b.claim());
    }
}
