//! Inbound peers: the accept loop on `--listen`. Before any handshake work a connection must
//! pass its source address's limits ([`super::admission`]: connections per address and a
//! handshake rate, refused as `too_many_from_ip` / `handshake_rate_limited`) and then find one
//! of `max_peers` slots (handshakes included, so stalled handshakes cannot exhaust more than
//! their share; refused as `too_many_peers`). A refused connection is closed at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use super::admission::{Admission, AdmissionConfig};
use super::session::{run_session, PeerContext};
use crate::logging::{ThrottledLog, ThrottledReport};
use crate::transport::handshake_responder;

#[derive(Clone, Debug)]
pub struct ListenerConfig {
    pub max_peers: usize,
    pub handshake_timeout: Duration,
    /// How long shutdown waits for sessions to close.
    pub drain_timeout: Duration,
    /// Per source address limits.
    pub admission: AdmissionConfig,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            max_peers: 256,
            handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(15),
            admission: AdmissionConfig::default(),
        }
    }
}

/// How often refused connections are summarised in the log: a connection storm is counted in
/// the metrics, and one line per connection would flood the log with it.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Labels of the refusal log, in [`ThrottledLog`] index order.
const REFUSALS: [&str; 4] = [
    "too_many_peers",
    "handshake_failed",
    "too_many_from_ip",
    "handshake_rate_limited",
];
const TOO_MANY_PEERS: usize = 0;
const HANDSHAKE_FAILED: usize = 1;

fn log_refusals(report: &ThrottledReport) {
    tracing::warn!(
        total = report.total,
        window_secs = report.window.as_secs(),
        counts = %report.summary(),
        "refused inbound connections"
    );
}

/// Accepts until shutdown, then waits (up to `drain_timeout`) for its sessions to end.
pub async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<PeerContext>,
    config: ListenerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let max_peers = config.max_peers.max(1);
    let slots = Arc::new(Semaphore::new(max_peers));
    let refusals = Arc::new(ThrottledLog::new(REFUSALS.to_vec(), REFUSAL_LOG_INTERVAL));
    let admission = Admission::new(config.admission.clone());
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote_addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and similar: back off instead of spinning.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let permit = match admission.admit(remote_addr.ip(), std::time::Instant::now()) {
            Ok(permit) => permit,
            Err(refusal) => {
                tracing::debug!(%remote_addr, reason = refusal.label(), "refused by address limits");
                ctx.metrics.peer_disconnected(refusal.label());
                let index = REFUSALS.iter().position(|l| *l == refusal.label());
                if let Some(report) = index.and_then(|i| refusals.record(i)) {
                    log_refusals(&report);
                }
                drop(stream);
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%remote_addr, "too many peers, closing");
            ctx.metrics.peer_disconnected("too_many_peers");
            if let Some(report) = refusals.record(TOO_MANY_PEERS) {
                log_refusals(&report);
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let mut shutdown = shutdown.clone();
        let handshake_timeout = config.handshake_timeout;
        let refusals = refusals.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _permit = permit;
            let handshake = tokio::select! {
                _ = shutdown.changed() => {
                    ctx.metrics.peer_disconnected("shutdown");
                    return;
                }
                handshake = handshake_responder(stream, ctx.identity.secret(), handshake_timeout) => handshake,
            };
            match handshake {
                Ok((remote, reader, writer)) => {
                    run_session(reader, writer, remote, ctx, shutdown).await;
                }
                Err(err) => {
                    tracing::debug!(%remote_addr, %err, "inbound handshake failed");
                    ctx.metrics.peer_disconnected(err.reason());
                    if let Some(report) = refusals.record(HANDSHAKE_FAILED) {
                        log_refusals(&report);
                    }
                }
            }
        });
    }
    drop(listener);
    let all = u32::try_from(max_peers).unwrap_or(u32::MAX);
    if tokio::time::timeout(config.drain_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("inbound sessions still open after the drain timeout");
    }
}
