//! A small HTTP/1.1 client for the chain backends: one request per connection over a tokio
//! `TcpStream` with hyper's http1 client, a connect timeout, a whole-request timeout, a hard
//! cap on the answer's size, and bounded retries with exponential backoff.
//!
//! One connection per request keeps the failure model simple (a dead node costs one refused
//! connect, never a poisoned pool) and is cheap on the loopback or LAN where a node runs; the
//! block cache, not connection reuse, is what saves round trips. Plain `http://` only: bitcoind
//! speaks no TLS, and an Esplora behind TLS is reached through a local proxy.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::error::ChainError;

/// A credential that never reaches a log line: `Debug` and `Display` print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for building a header; never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Timeouts, retries and the answer size limit of one backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    pub connect_timeout: Duration,
    /// Whole request: connect, send, and read the full answer.
    pub request_timeout: Duration,
    /// Attempts after the first, for transient failures only.
    pub retries: u32,
    /// First backoff; doubled after each failed attempt, capped at 16 times this.
    pub retry_backoff: Duration,
    /// Largest answer body read; a larger one is cut off and reported as `TooLarge`.
    pub max_response_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retries: 3,
            retry_backoff: Duration::from_millis(200),
            // A 4 MB weight block serialises to at most 4 MB; hex (RPC) doubles it, JSON adds
            // a few bytes.
            max_response_bytes: 9 * 1024 * 1024,
        }
    }
}

/// How to authenticate, resolved per request so a cookie bitcoind rewrote on restart is
/// picked up without restarting us.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    /// `user:password` basic auth.
    UserPassword {
        user: String,
        password: Secret,
    },
    /// bitcoind's `.cookie` file, `__cookie__:<hex>`, read at each request.
    CookieFile(std::path::PathBuf),
}

impl Auth {
    fn header(&self) -> Result<Option<HeaderValue>, ChainError> {
        let pair = match self {
            Auth::None => return Ok(None),
            Auth::UserPassword { user, password } => format!("{user}:{}", password.expose()),
            Auth::CookieFile(path) => std::fs::read_to_string(path)
                .map_err(|e| {
                    ChainError::Config(format!("cannot read cookie file {}: {e}", path.display()))
                })?
                .trim()
                .to_owned(),
        };
        let mut value = HeaderValue::from_str(&format!("Basic {}", base64(pair.as_bytes())))
            .map_err(|_| ChainError::Config("credentials contain invalid characters".into()))?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// Standard base64 with padding (RFC 4648 §4), for the basic-auth header only.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An HTTP answer that was read whole within the limits.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: StatusCode,
    pub body: Bytes,
}

/// One HTTP endpoint (scheme, host, port and base path) with its limits and credentials.
#[derive(Clone, Debug)]
pub struct HttpClient {
    host: String,
    port: u16,
    authority: String,
    base_path: String,
    auth: Auth,
    limits: HttpLimits,
}

impl HttpClient {
    /// `url` is `http://host[:port][/base]`.
    pub fn new(url: &str, auth: Auth, limits: HttpLimits) -> Result<Self, ChainError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| ChainError::Config(format!("bad chain source URL: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(ChainError::Config(
                "chain source URL must start with http:// (no TLS: use a local proxy)".into(),
            ));
        }
        let host = uri
            .host()
            .ok_or_else(|| ChainError::Config("chain source URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| host.clone());
        if authority.contains('@') {
            return Err(ChainError::Config(
                "put chain source credentials in the cookie file or the environment, not the URL"
                    .into(),
            ));
        }
        let base_path = uri.path().trim_end_matches('/').to_owned();
        Ok(HttpClient {
            host,
            port,
            authority,
            base_path,
            auth,
            limits,
        })
    }

    pub fn limits(&self) -> HttpLimits {
        self.limits
    }

    /// GET `path` (appended to the base path), with retries.
    pub async fn get(&self, path: &str) -> Result<HttpAnswer, ChainError> {
        self.with_retries(|| self.once(Method::GET, path, None))
            .await
    }

    /// POST a JSON body to the base path, with retries.
    pub async fn post_json(&self, body: Bytes) -> Result<HttpAnswer, ChainError> {
        self.with_retries(|| self.once(Method::POST, "", Some(body.clone())))
            .await
    }

    async fn with_retries<F, Fut>(&self, mut attempt: F) -> Result<HttpAnswer, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<HttpAnswer, ChainError>>,
    {
        let mut backoff = self.limits.retry_backoff;
        let cap = self.limits.retry_backoff.saturating_mul(16);
        let mut tries_left = self.limits.retries;
        loop {
            let result = attempt().await.and_then(|answer| {
                if answer.status.is_server_error() {
                    // bitcoind's JSON-RPC reports method errors with HTTP 500 and a JSON body:
                    // those are answers, not outages; the RPC layer reads them.
                    let json = answer.body.first() == Some(&b'{');
                    if !json {
                        return Err(ChainError::HttpStatus(answer.status.as_u16()));
                    }
                }
                Ok(answer)
            });
            match result {
                Err(e) if e.is_transient() && tries_left > 0 => {
                    tries_left -= 1;
                    tracing::debug!(error = %e, ?backoff, "chain source request failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2).min(cap);
                }
                other => return other,
            }
        }
    }

    async fn once(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<HttpAnswer, ChainError> {
        let timeout = self.limits.request_timeout;
        tokio::time::timeout(timeout, self.exchange(method, path, body))
            .await
            .map_err(|_| ChainError::Timeout(timeout))?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<HttpAnswer, ChainError> {
        let connect = TcpStream::connect((self.host.as_str(), self.port));
        let stream = tokio::time::timeout(self.limits.connect_timeout, connect)
            .await
            .map_err(|_| ChainError::Timeout(self.limits.connect_timeout))?
            .map_err(|e| ChainError::Unreachable(format!("connect {}: {e}", self.authority)))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ChainError::Unreachable(format!("HTTP handshake: {e}")))?;
        // The connection task ends when the exchange does (the sender is dropped) or on error.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let _abort_driver = AbortOnDrop(driver);

        let full_path = format!("{}{}", self.base_path, path);
        let mut request = Request::builder()
            .method(method)
            .uri(if full_path.is_empty() {
                "/"
            } else {
                full_path.as_str()
            })
            .header(HOST, self.authority.as_str());
        if let Some(auth) = self.auth.header()? {
            request = request.header(AUTHORIZATION, auth);
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| ChainError::Config(format!("cannot build request: {e}")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ChainError::Unreachable(format!("HTTP exchange: {e}")))?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ChainError::Unauthorized(status.as_u16()));
        }
        let limit = self.limits.max_response_bytes;
        let announced = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|len| len > limit as u64) {
            return Err(ChainError::TooLarge(limit));
        }
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    ChainError::TooLarge(limit)
                } else {
                    ChainError::Unreachable(format!("reading the answer: {e}"))
                }
            })?
            .to_bytes();
        Ok(HttpAnswer { status, body })
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn secrets_never_print() {
        let auth = Auth::UserPassword {
            user: "alice".into(),
            password: Secret::new("hunter2"),
        };
        let shown = format!("{auth:?} {}", Secret::new("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn urls_with_credentials_or_tls_are_refused() {
        let limits = HttpLimits::default();
        assert!(HttpClient::new("https://node:8332", Auth::None, limits).is_err());
        assert!(HttpClient::new("http://u:p@node:8332", Auth::None, limits).is_err());
        let ok = HttpClient::new("http://127.0.0.1:3000/api/", Auth::None, limits).unwrap();
        assert_eq!(ok.base_path, "/api");
        assert_eq!(ok.port, 3000);
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_at_the_limit() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Test double: a server that streams a chunked body forever.
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = format!("{:x}\r\n{}\r\n", 4096, "a".repeat(4096));
            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
        });
        let limits = HttpLimits {
            max_response_bytes: 64 * 1024,
            retries: 0,
            ..HttpLimits::default()
        };
        let client =
            HttpClient::new(&format!("http://127.0.0.1:{port}"), Auth::None, limits).unwrap();
        assert_eq!(
            client.get("/").await.unwrap_err(),
            ChainError::TooLarge(64 * 1024)
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_then_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let limits = HttpLimits {
            retries: 2,
            retry_backoff: Duration::from_millis(1),
            ..HttpLimits::default()
        };
        let client =
            HttpClient::new(&format!("http://127.0.0.1:{port}"), Auth::None, limits).unwrap();
        assert!(matches!(
            client.get("/").await,
            Err(ChainError::Unreachable(_))
        ));
    }
}
