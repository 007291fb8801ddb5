//! The hand-out's HTTP endpoints, served on the metrics listener (see
//! [`crate::metrics::exporter::Routes`]): one port for operators and wallets, with the
//! listener's connection cap and slow-client timeouts already in place.
//!
//! Rapid Gossip Sync, laid out like `rapid-gossip-sync-server`'s published files, so a client
//! is given a base URL and appends the time of its last sync (0 for the first):
//! - `GET /snapshot/<timestamp>`: a v1 snapshot;
//! - `GET /snapshot/v2/<timestamp>`: a v2 snapshot (node addresses and features);
//! - `POST /snapshot/trigger`: build a new generation now; answers with its `latest_seen`.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use super::rgs::RgsVersion;
use super::service::Handout;
use crate::metrics::exporter::{full_body, Body, RouteFuture, Routes};

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

impl Routes for HandoutRoutes {
    fn route(&self, request: &Request<Incoming>) -> Option<RouteFuture> {
        let path = request.uri().path();
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
