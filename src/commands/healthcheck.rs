//! `healthcheck`: one plain HTTP GET against the node's own `/healthz`, for the container's
//! `HEALTHCHECK`. The runtime image then needs no curl (and no TLS stack or package manager):
//! the binary it already ships asks the question. Only loopback-style `http://host:port/path`
//! URLs are supported, which is all a healthcheck inside the container ever needs.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context};

/// The status line is all we read; a longer answer is cut here.
const MAX_RESPONSE_BYTES: u64 = 4096;

/// Succeeds when `url` answers `200` within `timeout` (connect, write and read each bounded).
pub fn run(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("{url}: bad host:port {authority:?}"))?
        .next()
        .with_context(|| format!("{url}: {authority} resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .with_context(|| format!("sending the request to {addr}"))?;
    let mut response = Vec::new();
    let read = stream.take(MAX_RESPONSE_BYTES).read_to_end(&mut response);
    // A server that closes with our request partly unread resets the connection, which can
    // surface here after its whole answer arrived: the status line is what counts.
    if let Err(err) = read {
        if !response.contains(&b'\n') {
            return Err(err).with_context(|| format!("reading the answer from {addr}"));
        }
    }
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or("");
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => bail!("{url} answered {status_line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A one-shot server answering `reply` to the first request.
    fn serve_once(reply: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        thread::spawn(move || {
            if let Ok((mut conn, _)) = listener.accept() {
                // The whole request head, so closing does not reset the connection.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        format!("http://{addr}/healthz")
    }

    #[test]
    fn ok_on_200_and_error_otherwise() {
        let timeout = Duration::from_secs(5);
        run(&serve_once("HTTP/1.1 200 OK\r\n\r\nok\n"), timeout).expect("200 is healthy");
        let err = run(
            &serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            timeout,
        )
        .expect_err("503 is unhealthy");
        assert!(err.to_string().contains("503"), "{err}");
    }

    #[test]
    fn error_when_nothing_listens_or_url_is_not_http() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        assert!(run(&format!("http://{addr}/healthz"), Duration::from_secs(5)).is_err());
        assert!(run("https://127.0.0.1:1/healthz", Duration::from_secs(5)).is_err());
    }
}
