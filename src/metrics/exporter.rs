//! HTTP endpoints for operators: `/metrics` (Prometheus text format), `/healthz` (the process
//! serves requests) and `/readyz` (the graph is loaded and the pipeline accepts gossip; when
//! not, the body says why).
//!
//! The port may be reachable by more than Prometheus, so a client cannot hold the process's
//! file descriptors: at most [`ExporterConfig::max_connections`] at once (more are closed at
//! accept), a request head must arrive within `header_read_timeout` (a slowloris client that
//! trickles header bytes is cut off; hyper only enforces this with a timer set), and no
//! connection lives longer than `max_connection_age`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Metrics;

/// Readiness shared between the pipeline (which sets it) and the exporter (which reports it).
/// Ready means started and not stopping, and no part reports a blocker (e.g. the store when
/// its disk is full).
#[derive(Default)]
pub struct Health {
    ready: AtomicBool,
    /// Part name → why it cannot take gossip now.
    blockers: Mutex<BTreeMap<&'static str, String>>,
    /// Part name → what an operator must know while ready (e.g. `--chain none`): shown in
    /// `/readyz`'s body, without making the node unready.
    warnings: Mutex<BTreeMap<&'static str, String>>,
    /// Part name → a state worth showing that does not block readiness (e.g. `sync`).
    notes: Mutex<BTreeMap<&'static str, String>>,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire) && self.blockers.lock().is_empty()
    }

    /// `part` cannot take gossip because of `reason` (`None`: it can again).
    pub fn set_blocker(&self, part: &'static str, reason: Option<String>) {
        set_or_clear(&mut self.blockers.lock(), part, reason);
    }

    /// `part` runs in a mode the operator must be told about (`None`: no longer).
    pub fn set_warning(&self, part: &'static str, warning: Option<String>) {
        set_or_clear(&mut self.warnings.lock(), part, warning);
    }

    /// `warning: part: text` lines of the current warnings.
    pub fn warnings(&self) -> String {
        self.warnings
            .lock()
            .iter()
            .map(|(part, text)| format!("warning: {part}: {text}\n"))
            .collect()
    }

    /// `part` reports `note` in the `/readyz` body without changing readiness (`None`: removed).
    pub fn set_note(&self, part: &'static str, note: Option<String>) {
        let mut notes = self.notes.lock();
        match note {
            Some(note) => notes.insert(part, note),
            None => notes.remove(part),
        };
    }

    /// `part: note` lines of the current notes.
    pub fn notes(&self) -> String {
        self.notes
            .lock()
            .iter()
            .map(|(part, note)| format!("{part}: {note}\n"))
            .collect()
    }

    /// `part: reason` lines of the current blockers.
    pub fn blockers(&self) -> String {
        self.blockers
            .lock()
            .iter()
            .map(|(part, reason)| format!("{part}: {reason}\n"))
            .collect()
    }
}

fn set_or_clear(
    map: &mut BTreeMap<&'static str, String>,
    part: &'static str,
    text: Option<String>,
) {
    match text {
        Some(text) => {
            map.insert(part, text);
        }
        None => {
            map.remove(part);
        }
    }
}

/// Bounds of the HTTP server.
#[derive(Clone, Debug)]
pub struct ExporterConfig {
    /// Connections served at once; more are closed at accept. Prometheus needs one.
    pub max_connections: usize,
    /// Time to receive a whole request head.
    pub header_read_timeout: Duration,
    /// A connection is closed after this, keep-alive or not; Prometheus simply reconnects.
    pub max_connection_age: Duration,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            max_connections: 64,
            // Below Prometheus' default 10 s scrape timeout, so a slot held by a stalled client
            // is free again before a scrape waiting for it would have given up.
            header_read_timeout: Duration::from_secs(5),
            max_connection_age: Duration::from_secs(300),
        }
    }
}

/// A response body: whole, or streamed by a higher layer's route.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A response a [`Routes`] handler computes.
pub type RouteFuture = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// Endpoints a higher layer serves on this listener (the hand-out's snapshots and graph API):
/// the exporter cannot import them (metrics sit below the graph and store), so they are handed
/// in. Tried before the built-in routes; `None` lets the request through to them.
pub trait Routes: Send + Sync + 'static {
    fn route(&self, request: &Request<Incoming>) -> Option<RouteFuture>;
}

/// A whole body.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

fn route(request: &Request<Incoming>, metrics: &Metrics, health: &Health) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match request.uri().path() {
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        "/healthz" => respond(StatusCode::OK, "text/plain", "ok\n".into()),
        "/readyz" if health.is_ready() => respond(
            StatusCode::OK,
            "text/plain",
            format!("ready\n{}{}", health.warnings(), health.notes()),
        ),
        "/readyz" => respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            format!(
                "not ready\n{}{}{}",
                health.blockers(),
                health.warnings(),
                health.notes()
            ),
        ),
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

/// Binds `addr` and serves until the returned task is aborted. Returns the bound address so a
/// caller may pass port 0.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_with(addr, metrics, health, ExporterConfig::default()).await
}

/// [`serve`] with the given bounds.
pub async fn serve_with(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    config: ExporterConfig,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_routes(addr, metrics, health, config, None).await
}

/// [`serve_with`], with `routes` tried before the built-in endpoints.
pub async fn serve_routes(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    config: ExporterConfig,
    routes: Option<Arc<dyn Routes>>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    metrics.set_limit("metrics_max_connections", config.max_connections);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(%err, "metrics accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                metrics.metrics_connections_refused.inc();
                drop(stream);
                continue;
            };
            let metrics = metrics.clone();
            let health = health.clone();
            let config = config.clone();
            let routes = routes.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let service = service_fn(move |request: Request<Incoming>| {
                    let pending: RouteFuture = match routes.as_ref().and_then(|r| r.route(&request))
                    {
                        Some(extra) => extra,
                        None => {
                            let response = route(&request, &metrics, &health)
                                .map(|b| b.map_err(|never: Infallible| match never {}).boxed());
                            Box::pin(async move { response })
                        }
                    };
                    async move { Ok::<_, Infallible>(pending.await) }
                });
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(config.header_read_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                match tokio::time::timeout(config.max_connection_age, connection).await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => tracing::debug!(%err, "metrics connection ended with an error"),
                    Err(_) => tracing::debug!("metrics connection closed at its maximum age"),
                }
            });
        }
    });
    Ok((local, task))
}
