//! Loopback peers for the runtimes' tests of flow control: blocking std sockets on ephemeral
//! ports, run on a thread of their own while the runtime under test serves the other end.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A listener on an ephemeral port of 127.0.0.1, and its address.
pub fn listener() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Writes until the connection has taken no byte for `quiet` (the other end does not read
/// and the socket buffers are full) or `cap` bytes are written; returns the bytes written.
pub fn write_until_stalled(
    stream: &TcpStream,
    cap: usize,
    quiet: Duration,
) -> std::io::Result<usize> {
    let chunk = [0x5a; 64 * 1024];
    stream.set_nonblocking(true)?;
    let (mut written, mut progress) = (0, Instant::now());
    while written < cap && progress.elapsed() < quiet {
        match (&*stream).write(&chunk[..chunk.len().min(cap - written)]) {
            Ok(n) => (written, progress) = (written + n, Instant::now()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
    stream.set_nonblocking(false)?;
    Ok(written)
}

/// Reads and drops `n` bytes, failing if the stream ends or `limit` passes first.
pub fn read_exactly(stream: &TcpStream, n: usize, limit: Duration) -> std::io::Result<()> {
    read_checked(stream, n, limit, |_| Ok(()))
}

/// The bytes `offset..offset + len` of an endless test stream in which each byte tells its
/// position (modulo 251, a prime, so no power-of-two write size lines up with it).
pub fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(|i| (i % 251) as u8).collect()
}

/// Reads `n` bytes, failing unless they are [`pattern`]`(offset, n)`: bytes lost, repeated or
/// out of order, the stream ending or `limit` passing first.
pub fn read_pattern(
    stream: &TcpStream,
    offset: usize,
    n: usize,
    limit: Duration,
) -> std::io::Result<()> {
    let mut at = offset;
    read_checked(stream, n, limit, |read| {
        if read != pattern(at, read.len()) {
            let error = format!("bytes out of order after {} bytes", at - offset);
            return Err(std::io::Error::new(ErrorKind::InvalidData, error));
        }
        at += read.len();
        Ok(())
    })
}

/// Reads `n` bytes, passing each read to `check`.
fn read_checked(
    stream: &TcpStream,
    n: usize,
    limit: Duration,
    mut check: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let deadline = Instant::now() + limit;
    let mut buf = vec![0; 256 * 1024];
    let mut left = n;
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match (&*stream).read(&mut buf[..left.min(256 * 1024)])? {
            0 => return Err(ErrorKind::UnexpectedEof.into()),
            read => {
                check(&buf[..read])?;
                left -= read;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_that_does_not_read_stalls_the_writer() {
        let (listener, addr) = listener().unwrap();
        let writer = TcpStream::connect(addr).unwrap();
        let (reader, _) = listener.accept().unwrap();
        let cap = 256 << 20;
        let written = write_until_stalled(&writer, cap, Duration::from_millis(200)).unwrap();
        assert!(written > 0 && written < cap, "{written}");
        read_exactly(&reader, written, Duration::from_secs(10)).unwrap();
        (&writer).write_all(&pattern(7, 1000)).unwrap();
        let wrong = read_pattern(&reader, 8, 1, Duration::from_secs(10));
        assert_eq!(wrong.unwrap_err().kind(), ErrorKind::InvalidData);
        read_pattern(&reader, 8, 999, Duration::from_secs(10)).unwrap();
        drop(writer);
        let more = read_exactly(&reader, 1, Duration::from_secs(10));
        assert_eq!(more.unwrap_err().kind(), ErrorKind::UnexpectedEof);
    }
}
