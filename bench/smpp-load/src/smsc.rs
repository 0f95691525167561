//! `smsc`: accepts any number of connections and answers every bind with ESME_ROK,
//! `enquire_link`, `unbind`, and every `submit_sm`/`data_sm` with ESME_ROK and a message_id
//! unique to this process. One task per connection; all the answers to one read leave in one
//! write.
//!
//! With a delay (`--delay-ms`), each `submit_sm_resp`/`data_sm_resp` leaves that long after the
//! read that brought its request, as a provider's own latency would have it: the responses of
//! one read wait together on one timer while the connection goes on reading and answering
//! everything else at once, and all the batches due at one timer tick leave in one write.
//! Tokio's timer has a 1 ms granularity, so a response leaves between D and about D + 1 ms after
//! its request arrived.

use crate::pdu::{self, Frame};
use std::collections::VecDeque;
use std::io::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep_until, Instant};

/// The `system_id` in this SMSC's bind responses.
const SYSTEM_ID: &str = "smsc";
/// Receive buffer per connection (a PDU is at most [`pdu::MAX_PDU`]).
const READ_BUFFER: usize = 256 * 1024;

/// Listens on `bind_addr:port` (0: any free port), prints the port on stdout, serves forever,
/// answering message submissions `delay` after they arrive.
pub async fn run(bind_addr: IpAddr, port: u16, delay: Duration) -> io::Result<()> {
    let listener = TcpListener::bind(SocketAddr::new(bind_addr, port)).await?;
    let port = listener.local_addr()?.port();
    {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "{port}")?;
        stdout.flush()?;
    }
    let message_ids = Arc::new(AtomicU64::new(1));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let ids = Arc::clone(&message_ids);
        tokio::spawn(async move {
            // A connection's end, orderly or not, concerns only that connection.
            let _ = serve(stream, &ids, delay).await;
        });
    }
}

/// What to do after answering a batch of PDUs.
#[derive(Debug, PartialEq, Eq)]
enum After {
    Continue,
    Close,
}

/// The answers to one read: those leaving at once, and the message submissions' responses
/// when they are to be delayed.
#[derive(Debug, Default)]
struct Answers {
    now: Vec<u8>,
    later: Vec<u8>,
}

/// Answers every whole PDU at the front of `input` into `out` (`submit_sm_resp` and
/// `data_sm_resp` into `out.later` when `delayed`, all else into `out.now`); returns the
/// octets used.
fn answer(input: &[u8], out: &mut Answers, delayed: bool, ids: &AtomicU64) -> (usize, After) {
    let mut used = 0;
    loop {
        let header = match pdu::frame(&input[used..]) {
            Frame::Incomplete => return (used, After::Continue),
            Frame::Invalid => {
                pdu::empty(&mut out.now, pdu::GENERIC_NACK, pdu::ESME_RINVCMDLEN, 0);
                return (input.len(), After::Close);
            }
            Frame::Pdu(header) => header,
        };
        used += header.length;
        let (id, seq) = (header.command_id, header.sequence);
        match id {
            pdu::SUBMIT_SM | pdu::DATA_SM => {
                let to = if delayed {
                    &mut out.later
                } else {
                    &mut out.now
                };
                pdu::sm_resp(to, id, seq, ids.fetch_add(1, Ordering::Relaxed));
            }
            pdu::BIND_TRANSCEIVER | pdu::BIND_TRANSMITTER | pdu::BIND_RECEIVER => {
                pdu::bind_resp(&mut out.now, id, pdu::ESME_ROK, seq, SYSTEM_ID);
            }
            pdu::ENQUIRE_LINK => pdu::empty(&mut out.now, id | pdu::RESPONSE, pdu::ESME_ROK, seq),
            pdu::UNBIND => {
                pdu::empty(&mut out.now, id | pdu::RESPONSE, pdu::ESME_ROK, seq);
                return (used, After::Close);
            }
            // Responses (to nothing this SMSC sent) are ignored.
            _ if id & pdu::RESPONSE != 0 => {}
            _ => pdu::empty(&mut out.now, pdu::GENERIC_NACK, pdu::ESME_RINVCMDID, seq),
        }
    }
}

/// Delayed responses of one connection, in the order they are due (one delay for all, so the
/// order of arrival).
#[derive(Debug, Default)]
struct Pending {
    batches: VecDeque<(Instant, Vec<u8>)>,
    /// Emptied batches, reused for later reads.
    spare: Vec<Vec<u8>>,
}

impl Pending {
    /// When the first batch is due.
    fn next_due(&self) -> Option<Instant> {
        self.batches.front().map(|(due, _)| *due)
    }

    /// Queues `batch` (taken, leaving an empty buffer) to leave at `due`.
    fn push(&mut self, due: Instant, batch: &mut Vec<u8>) {
        let fresh = self.spare.pop().unwrap_or_default();
        self.batches
            .push_back((due, std::mem::replace(batch, fresh)));
    }

    /// Appends to `out` every batch due at `now`.
    fn take_due(&mut self, now: Instant, out: &mut Vec<u8>) {
        while let Some((due, _)) = self.batches.front() {
            if *due > now {
                break;
            }
            if let Some((_, mut batch)) = self.batches.pop_front() {
                out.extend_from_slice(&batch);
                batch.clear();
                self.spare.push(batch);
            }
        }
    }
}

async fn serve(mut stream: TcpStream, ids: &AtomicU64, delay: Duration) -> io::Result<()> {
    let delayed = !delay.is_zero();
    let mut input = vec![0u8; READ_BUFFER];
    let mut filled = 0;
    let mut out = Answers {
        now: Vec::with_capacity(64 * 1024),
        later: Vec::new(),
    };
    let mut pending = Pending::default();
    let mut due_out = Vec::new();
    loop {
        let next_due = pending.next_due();
        tokio::select! {
            read = stream.read(&mut input[filled..]) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                let arrived = Instant::now();
                filled += n;
                let (used, after) = answer(&input[..filled], &mut out, delayed, ids);
                input.copy_within(used..filled, 0);
                filled -= used;
                if !out.later.is_empty() {
                    pending.push(arrived + delay, &mut out.later);
                }
                if after == After::Close {
                    // The responses still owed leave at their time, before the last answer.
                    while let Some(due) = pending.next_due() {
                        sleep_until(due).await;
                        due_out.clear();
                        pending.take_due(due, &mut due_out);
                        stream.write_all(&due_out).await?;
                    }
                    stream.write_all(&out.now).await?;
                    return stream.shutdown().await;
                }
                if !out.now.is_empty() {
                    stream.write_all(&out.now).await?;
                    out.now.clear();
                }
            }
            () = sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => {
                due_out.clear();
                pending.take_due(Instant::now(), &mut due_out);
                stream.write_all(&due_out).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdus(mut b: &[u8]) -> Vec<pdu::Header> {
        let mut v = vec![];
        while let Frame::Pdu(h) = pdu::frame(b) {
            v.push(h);
            b = &b[h.length..];
        }
        assert!(b.is_empty());
        v
    }

    #[test]
    fn answers_a_batch_and_keeps_a_partial_pdu() {
        let ids = AtomicU64::new(5);
        let mut input = vec![];
        pdu::bind_transceiver(&mut input, 1, "a", "b", "");
        let mut sm = pdu::submit_sm_template("1", "2", b"x");
        pdu::set_sequence(&mut sm, 2);
        input.extend_from_slice(&sm);
        pdu::set_sequence(&mut sm, 3);
        input.extend_from_slice(&sm);
        pdu::empty(&mut input, pdu::ENQUIRE_LINK, 0, 4);
        input.extend_from_slice(&sm[..10]);
        let mut out = Answers::default();
        let (used, after) = answer(&input, &mut out, false, &ids);
        assert!(out.later.is_empty());
        let out = out.now;
        assert_eq!((used, after), (input.len() - 10, After::Continue));
        let answers = pdus(&out);
        let ids_seqs: Vec<_> = answers
            .iter()
            .map(|h| (h.command_id, h.status, h.sequence))
            .collect();
        assert_eq!(
            ids_seqs,
            [
                (pdu::BIND_TRANSCEIVER | pdu::RESPONSE, 0, 1),
                (pdu::SUBMIT_SM | pdu::RESPONSE, 0, 2),
                (pdu::SUBMIT_SM | pdu::RESPONSE, 0, 3),
                (pdu::ENQUIRE_LINK | pdu::RESPONSE, 0, 4),
            ]
        );
        // Distinct message ids: "5" then "6".
        let second = &out[answers[0].length..];
        assert_eq!(&second[16..18], b"5\0");
        assert_eq!(
            &second[answers[1].length + 16..answers[1].length + 18],
            b"6\0"
        );
    }

    #[test]
    fn unbind_closes_and_unknown_commands_are_nacked() {
        let ids = AtomicU64::new(1);
        let mut input = vec![];
        pdu::empty(&mut input, pdu::DELIVER_SM | pdu::RESPONSE, 0, 8);
        pdu::empty(&mut input, 0x21, 0, 9);
        pdu::empty(&mut input, pdu::UNBIND, 0, 10);
        let mut out = Answers::default();
        assert_eq!(
            answer(&input, &mut out, false, &ids),
            (input.len(), After::Close)
        );
        let answers: Vec<_> = pdus(&out.now)
            .iter()
            .map(|h| (h.command_id, h.status, h.sequence))
            .collect();
        assert_eq!(
            answers,
            [
                (pdu::GENERIC_NACK, pdu::ESME_RINVCMDID, 9),
                (pdu::UNBIND | pdu::RESPONSE, 0, 10)
            ]
        );
        let mut out = Answers::default();
        assert_eq!(
            answer(&[0, 0, 0, 1], &mut out, false, &ids),
            (4, After::Close)
        );
        assert_eq!(pdus(&out.now)[0].status, pdu::ESME_RINVCMDLEN);
    }

    #[test]
    fn delayed_submissions_are_answered_apart() {
        let ids = AtomicU64::new(1);
        let mut input = vec![];
        let mut sm = pdu::submit_sm_template("1", "2", b"x");
        pdu::set_sequence(&mut sm, 2);
        input.extend_from_slice(&sm);
        pdu::empty(&mut input, pdu::ENQUIRE_LINK, 0, 3);
        pdu::set_sequence(&mut sm, 4);
        input.extend_from_slice(&sm);
        let mut out = Answers::default();
        assert_eq!(
            answer(&input, &mut out, true, &ids),
            (input.len(), After::Continue)
        );
        let seqs = |b: &[u8]| pdus(b).iter().map(|h| h.sequence).collect::<Vec<_>>();
        assert_eq!(seqs(&out.now), [3]);
        assert_eq!(seqs(&out.later), [2, 4]);
    }

    #[test]
    fn pending_batches_leave_when_due_in_order() {
        let t = Instant::now();
        let mut p = Pending::default();
        let mut batch = b"ab".to_vec();
        p.push(t + Duration::from_millis(5), &mut batch);
        assert!(batch.is_empty());
        batch.extend_from_slice(b"cd");
        p.push(t + Duration::from_millis(7), &mut batch);
        let mut out = vec![];
        p.take_due(t + Duration::from_millis(4), &mut out);
        assert!(out.is_empty());
        p.take_due(t + Duration::from_millis(6), &mut out);
        assert_eq!(out, b"ab");
        assert_eq!(p.next_due(), Some(t + Duration::from_millis(7)));
        p.take_due(t + Duration::from_millis(9), &mut out);
        assert_eq!(out, b"abcd");
        assert_eq!(p.next_due(), None);
    }

    /// Reads whole PDUs until `n` have arrived; each with the time it was read.
    async fn read_pdus(stream: &mut TcpStream, n: usize) -> Vec<(pdu::Header, Instant)> {
        let mut got = vec![];
        let mut buf = vec![];
        let mut chunk = [0u8; 4096];
        while got.len() < n {
            let k = stream.read(&mut chunk).await.expect("read");
            assert!(k > 0, "closed after {} PDUs", got.len());
            buf.extend_from_slice(&chunk[..k]);
            while let Frame::Pdu(h) = pdu::frame(&buf) {
                got.push((h, Instant::now()));
                buf.drain(..h.length);
            }
        }
        got
    }

    #[tokio::test]
    async fn a_delayed_smsc_answers_submissions_late_and_the_rest_at_once() {
        const DELAY: Duration = Duration::from_millis(200);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            serve(stream, &AtomicU64::new(1), DELAY).await
        });
        tokio::time::timeout(Duration::from_secs(5), async {
            let mut c = TcpStream::connect(addr).await.expect("connect");
            let mut out = vec![];
            pdu::bind_transceiver(&mut out, 1, "a", "b", "");
            let mut sm = pdu::submit_sm_template("1", "2", b"x");
            pdu::set_sequence(&mut sm, 2);
            out.extend_from_slice(&sm);
            pdu::empty(&mut out, pdu::ENQUIRE_LINK, 0, 3);
            let sent = Instant::now();
            c.write_all(&out).await.expect("write");
            let got = read_pdus(&mut c, 3).await;
            let order: Vec<_> = got.iter().map(|(h, _)| h.sequence).collect();
            assert_eq!(order, [1, 3, 2]);
            assert!(got[1].1 - sent < DELAY, "enquire_link_resp held back");
            assert!(got[2].1 - sent >= DELAY, "submit_sm_resp too early");
            // An unbind right after a submission: the owed response first, then unbind_resp.
            out.clear();
            pdu::set_sequence(&mut sm, 4);
            out.extend_from_slice(&sm);
            pdu::empty(&mut out, pdu::UNBIND, 0, 5);
            c.write_all(&out).await.expect("write");
            let got = read_pdus(&mut c, 2).await;
            let order: Vec<_> = got
                .iter()
                .map(|(h, _)| (h.command_id, h.sequence))
                .collect();
            assert_eq!(
                order,
                [
                    (pdu::SUBMIT_SM | pdu::RESPONSE, 4),
                    (pdu::UNBIND | pdu::RESPONSE, 5)
                ]
            );
            assert_eq!(c.read(&mut [0u8; 16]).await.expect("read"), 0);
        })
        .await
        .expect("in time");
        server.await.expect("join").expect("serve");
    }
}
