//! The hand-out's HTTP endpoints, served on the metrics listener (see
//! [`crate::metrics::exporter::Routes`]): one port for operators and wallets, with the
//! listener's connection cap and slow-client timeouts already in place.
//!
//! Rapid Gossip Sync, laid out like `rapid-gossip-sync-server`'s published files, so a client
//! is given a base URL and appends the time of its last sync (0 for the first):
//! - `GET /snapshot/<timestamp>`: a v1 snapshot;
//! - `GET /snapshot/v2/<timestamp>`: a v2 snapshot (node addresses and features);
//! - `POST /snapshot/trigger`: build a new generation now; answers with its `latest_seen`.
//!
//! The graph API (JSON; `?format=lnd` (default) or `?format=cln` picks the shape, see
//! [`super::shapes`]), answered from the newest snapshot generation, so it agrees with what
//! wallets were given and costs no store read per request:
//! - `GET /api/v1/node/<pubkey>`: LND `getnodeinfo` / CLN `listnodes id=`;
//! - `GET /api/v1/node/<pubkey>/channels`: LND `getnodeinfo --include_channels` / CLN
//!   `listchannels` of the node's channels, both directions;
//! - `GET /api/v1/channel/<scid>` (`BxTxO` or the decimal u64): LND `getchaninfo` / CLN
//!   `listchannels short_channel_id=`;
//! - `GET /api/v1/graph`: LND `describegraph` / CLN `{"nodes": .., "channels": ..}`, streamed in
//!   64 KiB chunks as it is serialized: the response is never held whole in memory.

use std::sync::Arc;

use std::io::{self, Write};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::model::GraphModel;
use super::rgs::RgsVersion;
use super::service::{Generation, Handout};
use super::shapes::{self, Shape};
use crate::metrics::exporter::{full_body, Body, RouteFuture, Routes};
use crate::wire::scid::ShortChannelId;

/// Bytes of the streamed graph sent per chunk.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks serialized ahead of a slow client: with [`CHUNK_BYTES`], what one graph download
/// holds in memory at most.
const CHUNKS_AHEAD: usize = 4;

/// Routes of the hand-out.
pub struct HandoutRoutes {
    handout: Arc<Handout>,
}

impl HandoutRoutes {
    pub fn new(handout: Arc<Handout>) -> Arc<Self> {
        Arc::new(HandoutRoutes { handout })
    }
}

pub(super) fn reply(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// `v2/<t>` or `<t>` after `/snapshot/`; extra slashes (a base URL ending in one) are allowed.
fn snapshot_target(rest: &str) -> Option<(RgsVersion, u32)> {
    let rest = rest.trim_matches('/');
    let (version, timestamp) = match rest.strip_prefix("v2/") {
        Some(t) => (RgsVersion::V2, t.trim_start_matches('/')),
        None => (RgsVersion::V1, rest),
    };
    Some((version, timestamp.parse().ok()?))
}

fn json_reply(value: &Value) -> Response<Body> {
    reply(StatusCode::OK, "application/json", value.to_string() + "\n")
}

fn not_found(what: &str) -> Response<Body> {
    reply(StatusCode::NOT_FOUND, "text/plain", format!("{what}\n"))
}

/// Hands serialized bytes to the response body in chunks, waiting while the client is behind.
struct ChunkWriter {
    buffer: Vec<u8>,
    chunks: tokio::sync::mpsc::Sender<Bytes>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.chunks
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.send()
    }
}

/// The whole graph, serialized on a blocking thread while the client reads it.
fn stream_graph(generation: std::sync::Arc<Generation>, shape: Shape) -> Response<Body> {
    let (chunks, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            buffer: Vec::with_capacity(CHUNK_BYTES),
            chunks,
        };
        if shapes::write_graph(&generation.model, shape, &mut out)
            .and_then(|()| out.flush())
            .is_err()
        {
            tracing::debug!("graph download ended early: the client went away");
        }
    });
    let frames = futures::stream::poll_fn(move |cx| {
        receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok::<_, io::Error>(Frame::data(c))))
    });
    let mut response = Response::new(StreamBody::new(frames).boxed());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn parse_node_id(text: &str) -> Option<[u8; 33]> {
    hex::decode(text).ok()?.try_into().ok()
}

fn parse_scid(text: &str) -> Option<u64> {
    text.parse::<u64>()
        .ok()
        .or_else(|| text.parse::<ShortChannelId>().ok().map(u64::from))
}

/// One API answer from `model`; `None` for an unknown path.
fn api_answer(model: &GraphModel, path: &str, shape: Shape) -> Option<Response<Body>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match parts.as_slice() {
        ["node", id] | ["node", id, "channels"] => {
            let Some(node) = parse_node_id(id).and_then(|id| model.node_by_id(&id)) else {
                return Some(not_found("no such node"));
            };
            let channels = parts.len() == 3;
            json_reply(&match (shape, channels) {
                (Shape::Lnd, _) => shapes::lnd_node_info(model, node, channels),
                (Shape::Cln, false) => json!({"nodes": [shapes::cln_node(node)]}),
                (Shape::Cln, true) => json!({"channels": node
                    .channels
                    .iter()
                    .filter_map(|scid| model.channels.get(scid))
                    .flat_map(|c| shapes::cln_channels(model, c))
                    .collect::<Vec<_>>()}),
            })
        }
        ["channel", scid] => {
            let Some(channel) = parse_scid(scid).and_then(|s| model.channels.get(&s)) else {
                return Some(not_found("no such channel"));
            };
            json_reply(&match shape {
                Shape::Lnd => shapes::lnd_edge(model, channel),
                Shape::Cln => json!({"channels": shapes::cln_channels(model, channel)}),
            })
        }
        _ => return None,
    })
}

impl HandoutRoutes {
    fn api(&self, request: &Request<Incoming>, path: &str) -> RouteFuture {
        let format = request
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|pair| pair.strip_prefix("format="))
            .unwrap_or("lnd");
        let Some(shape) = Shape::parse(format) else {
            return Box::pin(async {
                reply(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    "format is lnd or cln\n",
                )
            });
        };
        let Some(generation) = self.handout.current() else {
            return Box::pin(async {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "no graph built yet\n",
                )
            });
        };
        if path.trim_matches('/') == "graph" {
            return Box::pin(async move { stream_graph(generation, shape) });
        }
        let answer = api_answer(&generation.model, path, shape)
            .unwrap_or_else(|| not_found("unknown API path; see the README"));
        Box::pin(async move { answer })
    }
}

impl Routes for HandoutRoutes {
    fn route(&self, request: &Request<Incoming>) -> Option<RouteFuture> {
        let path = request.uri().path();
        if let Some(rest) = path.strip_prefix("/api/v1/") {
            if request.method() != Method::GET && request.method() != Method::HEAD {
                return Some(Box::pin(async {
                    reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n")
                }));
            }
            return Some(self.api(request, rest));
        }
        let rest = path.strip_prefix("/snapshot/")?;
        let handout = self.handout.clone();
        if rest.trim_matches('/') == "trigger" {
            if request.method() != Method::POST {
                return Some(Box::pin(async {
                    reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "POST only\n")
                }));
            }
            return Some(Box::pin(async move {
                match handout.rebuild().await {
                    Ok(generation) => reply(
                        StatusCode::OK,
                        "application/json",
                        serde_json::json!({
                            "latest_seen": generation.built_at,
                            "counts": generation.counts,
                            "build_ms": generation.build_time.as_millis() as u64,
                        })
                        .to_string()
                            + "\n",
                    ),
                    Err(err) => reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        format!("snapshot build failed: {err}\n"),
                    ),
                }
            }));
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Some(Box::pin(async {
                reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n")
            }));
        }
        let Some((version, since)) = snapshot_target(rest) else {
            return Some(Box::pin(async {
                reply(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "expected /snapshot/<unix timestamp> or /snapshot/v2/<unix timestamp>\n",
                )
            }));
        };
        Some(Box::pin(async move {
            match handout.snapshot(version, since).await {
                Some(bytes) => reply(StatusCode::OK, "application/octet-stream", bytes),
                None => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "no snapshot built yet\n",
                ),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_paths_match_the_rgs_server_layout() {
        assert_eq!(snapshot_target("0"), Some((RgsVersion::V1, 0)));
        assert_eq!(
            snapshot_target("v2/1700000000"),
            Some((RgsVersion::V2, 1_700_000_000))
        );
        assert_eq!(snapshot_target("/v2//17/"), Some((RgsVersion::V2, 17)));
        assert_eq!(snapshot_target("v3/17"), None);
        assert_eq!(snapshot_target("abc"), None);
    }
}
