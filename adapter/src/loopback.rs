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
    let deadline = Instant::now() + limit;
    let mut buf = vec![0; 256 * 1024];
    let mut left = n;
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        match (&*stream).read(&mut buf[..left.min(256 * 1024)])? {
            0 => return Err(ErrorKind::UnexpectedEof.into()),
            read => left -= read,
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
        drop(writer);
        let more = read_exactly(&reader, 1, Duration::from_secs(10));
        assert_eq!(more.unwrap_err().kind(), ErrorKind::UnexpectedEof);
    }
}
