//! `smsc`: accepts any number of connections and answers, as fast as it can, every bind with
//! ESME_ROK, `enquire_link`, `unbind`, and every `submit_sm`/`data_sm` with ESME_ROK and a
//! message_id unique to this process. One task per connection; all the answers to one read
//! leave in one write.

use crate::pdu::{self, Frame};
use std::io::{self, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The `system_id` in this SMSC's bind responses.
const SYSTEM_ID: &str = "smsc";
/// Receive buffer per connection (a PDU is at most [`pdu::MAX_PDU`]).
const READ_BUFFER: usize = 256 * 1024;

/// Listens on `bind_addr:port` (0: any free port), prints the port on stdout, serves forever.
pub async fn run(bind_addr: IpAddr, port: u16) -> io::Result<()> {
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
            let _ = serve(stream, &ids).await;
        });
    }
}

/// What to do after answering a batch of PDUs.
#[derive(Debug, PartialEq, Eq)]
enum After {
    Continue,
    Close,
}

/// Answers every whole PDU at the front of `input` into `out`; returns the octets used.
fn answer(input: &[u8], out: &mut Vec<u8>, ids: &AtomicU64) -> (usize, After) {
    let mut used = 0;
    loop {
        let header = match pdu::frame(&input[used..]) {
            Frame::Incomplete => return (used, After::Continue),
            Frame::Invalid => {
                pdu::empty(out, pdu::GENERIC_NACK, pdu::ESME_RINVCMDLEN, 0);
                return (input.len(), After::Close);
            }
            Frame::Pdu(header) => header,
        };
        used += header.length;
        let (id, seq) = (header.command_id, header.sequence);
        match id {
            pdu::SUBMIT_SM | pdu::DATA_SM => {
                pdu::sm_resp(out, id, seq, ids.fetch_add(1, Ordering::Relaxed));
            }
            pdu::BIND_TRANSCEIVER | pdu::BIND_TRANSMITTER | pdu::BIND_RECEIVER => {
                pdu::bind_resp(out, id, pdu::ESME_ROK, seq, SYSTEM_ID);
            }
            pdu::ENQUIRE_LINK => pdu::empty(out, id | pdu::RESPONSE, pdu::ESME_ROK, seq),
            pdu::UNBIND => {
                pdu::empty(out, id | pdu::RESPONSE, pdu::ESME_ROK, seq);
                return (used, After::Close);
            }
            // Responses (to nothing this SMSC sent) are ignored.
            _ if id & pdu::RESPONSE != 0 => {}
            _ => pdu::empty(out, pdu::GENERIC_NACK, pdu::ESME_RINVCMDID, seq),
        }
    }
}

async fn serve(mut stream: TcpStream, ids: &AtomicU64) -> io::Result<()> {
    let mut input = vec![0u8; READ_BUFFER];
    let mut filled = 0;
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let n = stream.read(&mut input[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let (used, after) = answer(&input[..filled], &mut out, ids);
        input.copy_within(used..filled, 0);
        filled -= used;
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if after == After::Close {
            return stream.shutdown().await;
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
        let mut out = vec![];
        let (used, after) = answer(&input, &mut out, &ids);
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
        let mut out = vec![];
        assert_eq!(answer(&input, &mut out, &ids), (input.len(), After::Close));
        let answers: Vec<_> = pdus(&out)
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
        let mut out = vec![];
        assert_eq!(answer(&[0, 0, 0, 1], &mut out, &ids), (4, After::Close));
        assert_eq!(pdus(&out)[0].status, pdu::ESME_RINVCMDLEN);
    }
}
