//! Outbound peers: for each `<node_id>@host:port`, connect (under a timeout), run the BOLT 8
//! initiator handshake, run a session, and reconnect with exponential backoff (1 s doubling to
//! 60 s, jittered so many dialers do not retry in step; reset after a session that lasted).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::net::TcpStream;
use tokio::sync::watch;

use prometheus::IntGauge;

use tokio_socks::tcp::Socks5Stream;

use super::discovery::address::is_onion;
use super::session::{run_session_as, EndReason, PeerContext, SessionReport};
use crate::clock::unix_now;
use crate::config::PeerAddr;
use crate::transport::handshake_initiator;

#[derive(Clone, Debug)]
pub struct DialerConfig {
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    /// Dial again after a session or a failed attempt; `false` for one-shot peers (demo).
    pub reconnect: bool,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A session that lasted this long was healthy: the next retry starts from `backoff_min`.
    pub stable_after: Duration,
    /// SOCKS5 proxy (Tor's SocksPort): onion addresses always go through it, others when
    /// `all`.
    pub proxy: Option<ProxyConfig>,
}

/// Where the SOCKS5 proxy listens and what goes through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `host:port`.
    pub addr: String,
    /// Every outbound connection, not only onion ones.
    pub all: bool,
}

impl Default for DialerConfig {
    fn default() -> Self {
        DialerConfig {
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            reconnect: true,
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
            proxy: None,
        }
    }
}

/// What one dialer did, for logs and the demo.
#[derive(Debug, Default)]
pub struct DialStats {
    pub attempts: u64,
    pub sessions: u64,
    pub gossip_frames: u64,
    /// How the last session ended, if there was one.
    pub last_reason: Option<&'static str>,
}

/// How one dial of a peer ended.
#[derive(Debug)]
pub enum DialOutcome {
    /// We banned the node; no connection was made. Holds the ban's end (unix seconds).
    Banned {
        until: u64,
    },
    ConnectFailed,
    /// Already counted under its transport reason.
    HandshakeFailed,
    Session(SessionReport),
    /// Shutdown came first.
    Shutdown,
}

impl DialOutcome {
    /// The `result` label of `gossip_sieve_dial_attempts_total`.
    pub fn label(&self) -> &'static str {
        match self {
            DialOutcome::Banned { .. } => "banned",
            DialOutcome::ConnectFailed => "connect_failed",
            DialOutcome::HandshakeFailed => "handshake_failed",
            DialOutcome::Session(_) | DialOutcome::Shutdown => "connected",
        }
    }
}

/// Dials `peer` until shutdown (or once, without `reconnect`).
pub async fn dial(
    peer: PeerAddr,
    ctx: Arc<PeerContext>,
    config: DialerConfig,
    shutdown: watch::Receiver<bool>,
) -> DialStats {
    dial_counted(peer, ctx, config, shutdown, None).await
}

/// [`dial`], raising `connected` for the length of each session.
pub async fn dial_counted(
    peer: PeerAddr,
    ctx: Arc<PeerContext>,
    config: DialerConfig,
    mut shutdown: watch::Receiver<bool>,
    connected: Option<IntGauge>,
) -> DialStats {
    let mut stats = DialStats::default();
    let mut backoff = config.backoff_min;
    loop {
        if *shutdown.borrow() {
            return stats;
        }
        let outcome = dial_once(
            &peer,
            &ctx,
            &config,
            &mut shutdown,
            connected.clone(),
            || {},
        )
        .await;
        match outcome {
            DialOutcome::Shutdown => return stats,
            DialOutcome::Banned { until } => {
                // A ban we imposed holds for our own dialling too; try again once it ends.
                stats.last_reason = Some(EndReason::Banned.label());
                if !config.reconnect {
                    return stats;
                }
                let now = u64::from(unix_now());
                tracing::info!(peer = %peer, until, "not dialling a banned peer");
                tokio::select! {
                    _ = shutdown.changed() => return stats,
                    _ = tokio::time::sleep(Duration::from_secs(until.saturating_sub(now))) => continue,
                }
            }
            DialOutcome::Session(report) => {
                stats.attempts += 1;
                stats.sessions += 1;
                stats.gossip_frames += report.gossip_frames;
                stats.last_reason = Some(report.reason.label());
                if report.lasted >= config.stable_after {
                    backoff = config.backoff_min;
                }
            }
            DialOutcome::ConnectFailed | DialOutcome::HandshakeFailed => stats.attempts += 1,
        }
        if !config.reconnect {
            return stats;
        }
        backoff = wait(backoff, &config, &mut shutdown).await;
    }
}

/// One dial of `peer`: ban check, connect, BOLT 8 handshake, session. `established` runs once
/// the handshake is done (or is dropped unrun), and `connected` is raised for the session's
/// length.
pub async fn dial_once(
    peer: &PeerAddr,
    ctx: &Arc<PeerContext>,
    config: &DialerConfig,
    shutdown: &mut watch::Receiver<bool>,
    connected: Option<IntGauge>,
    established: impl FnOnce(),
) -> DialOutcome {
    let now = u64::from(unix_now());
    let banned_until = ctx
        .scores
        .lock()
        .banned_until(&peer.node_id.serialize(), now);
    if let Some(until) = banned_until {
        return DialOutcome::Banned { until };
    }
    let attempt = tokio::select! {
        _ = shutdown.changed() => return DialOutcome::Shutdown,
        attempt = connect(peer, config) => attempt,
    };
    let stream = match attempt {
        Ok(stream) => stream,
        Err(err) => {
            tracing::warn!(peer = %peer, %err, "connect failed");
            return DialOutcome::ConnectFailed;
        }
    };
    let (reader, writer) = match handshake_initiator(
        stream,
        ctx.identity.secret(),
        &peer.node_id,
        config.handshake_timeout,
    )
    .await
    {
        Ok(halves) => halves,
        Err(err) => {
            tracing::warn!(peer = %peer, %err, "handshake failed");
            ctx.metrics.peer_disconnected(err.reason());
            return DialOutcome::HandshakeFailed;
        }
    };
    established();
    let _session = connected.map(RaisedWhileAlive::new);
    let report = run_session_as(
        reader,
        writer,
        peer.node_id,
        ctx.clone(),
        shutdown.clone(),
        true,
    )
    .await;
    DialOutcome::Session(report)
}

/// Holds a gauge one higher while it lives.
struct RaisedWhileAlive(IntGauge);

impl RaisedWhileAlive {
    fn new(gauge: IntGauge) -> Self {
        gauge.inc();
        RaisedWhileAlive(gauge)
    }
}

impl Drop for RaisedWhileAlive {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn connect(peer: &PeerAddr, config: &DialerConfig) -> std::io::Result<TcpStream> {
    let onion = is_onion(&peer.host);
    let proxy = config.proxy.as_ref().filter(|p| p.all || onion);
    // An onion name must never reach a resolver: without a proxy it is not dialled at all.
    if onion && proxy.is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "an onion address needs --proxy",
        ));
    }
    let connecting = async {
        match proxy {
            // The target goes to the proxy as a name (SOCKS5 ATYP domain) unless it is an IP
            // literal, so the proxy, not us, resolves it.
            Some(proxy) => {
                Socks5Stream::connect(proxy.addr.as_str(), (peer.host.as_str(), peer.port))
                    .await
                    .map(Socks5Stream::into_inner)
                    .map_err(|e| std::io::Error::other(format!("SOCKS5 proxy {}: {e}", proxy.addr)))
            }
            None => TcpStream::connect(peer.socket_addr_string()).await,
        }
    };
    match tokio::time::timeout(config.connect_timeout, connecting).await {
        Ok(stream) => {
            let stream = stream?;
            // Gossip is many small frames; waiting to coalesce them only adds latency.
            stream.set_nodelay(true)?;
            Ok(stream)
        }
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        )),
    }
}

/// Sleeps a jittered `backoff` (or until shutdown) and returns the next backoff.
async fn wait(
    backoff: Duration,
    config: &DialerConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Duration {
    let delay = jittered(backoff);
    tokio::select! {
        _ = shutdown.changed() => {}
        _ = tokio::time::sleep(delay) => {}
    }
    next_backoff(backoff, config)
}

/// Between half and all of `backoff`, so dialers that failed together spread out.
fn jittered(backoff: Duration) -> Duration {
    let half = backoff / 2;
    half + half.mul_f64(rand::thread_rng().gen_range(0.0..=1.0))
}

fn next_backoff(backoff: Duration, config: &DialerConfig) -> Duration {
    (backoff * 2).clamp(config.backoff_min, config.backoff_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_below_it() {
        let config = DialerConfig::default();
        let mut b = config.backoff_min;
        let mut seen = vec![b];
        for _ in 0..8 {
            b = next_backoff(b, &config);
            seen.push(b);
        }
        assert_eq!(seen[1], Duration::from_secs(2));
        assert_eq!(seen[5], Duration::from_secs(32));
        assert_eq!(*seen.last().expect("last"), Duration::from_secs(60));
        for _ in 0..100 {
            let j = jittered(Duration::from_secs(8));
            assert!(j >= Duration::from_secs(4) && j <= Duration::from_secs(8));
        }
    }
}
