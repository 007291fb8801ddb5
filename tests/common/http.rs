//! Plain HTTP/1.0 against a local server (our exporter, a test Prometheus): HTTP/1.0 so the
//! reply is never chunked, and the connection's error is returned, not panicked on, so callers
//! can poll a server that is not up yet.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// `method path` with an empty body: (status, body), or the connection error.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let (status, body) = request_bytes(addr, method, path)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// [`request`] with the body as raw bytes (binary responses such as RGS snapshots).
pub fn request_bytes(
    addr: SocketAddr,
    method: &str,
    path: &str,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.get(split + 4..).unwrap_or(&[]).to_vec();
    Ok((status, body))
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
