//! The outbound peer manager: keeps `outbound_peers` sessions open, the configured peers
//! always and the rest chosen from nodes the graph knows (their node_announcement addresses).
//!
//! What it follows, and from whom:
//! - a target number of outbound connections, topped up as sessions end (LND's connection
//!   manager with its `numTargetPeers`, Core Lightning's gossipd seeker, which connects to
//!   random gossmap nodes while it has too few gossip peers);
//! - candidates sampled at random from the graph (LND's `ChannelGraphBootstrapper`);
//! - spread across address types and /16 (IPv4) or /32 (IPv6) groups, as Bitcoin Core's and
//!   LND's address managers avoid many peers from one network;
//! - a node that fails or ends a session early waits 1 min, doubling to 1 h, before it is
//!   dialled again (LND's persistent-peer backoff, started higher since candidates are many);
//! - configured peers are dialled forever with the dialer's own backoff (LND's `--connect`
//!   persistent peers, Core Lightning's `connect` with `autoconnect`), and never banned;
//! - a banned node is never dialled; dials are rate-limited (a token bucket), so no
//!   announcement, however many addresses it lists, can make us dial in a storm.
//!
//! The candidate book and the dials in progress are capped in count and bytes and exported.

pub mod address;
pub mod candidates;
pub mod graph_source;
pub mod metrics;
pub mod seeds;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secp256k1::PublicKey;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::address::{dialable, is_public, AddressPolicy, DialTarget};
use self::candidates::{CandidateBook, Origin};
use self::metrics::DiscoveryMetrics;
use super::dialer::{dial_counted, dial_once, DialOutcome, DialerConfig};
use super::session::PeerContext;
use crate::clock::unix_now;
use crate::config::PeerAddr;
use crate::graph::{Graph, NodeId};
use crate::wire::address::Address;

/// What the outbound peer manager needs beyond the dialer's settings.
#[derive(Clone, Debug)]
pub struct DiscoveryConfig {
    /// Outbound sessions to keep, configured peers included; 0 dials only configured peers.
    pub outbound_peers: usize,
    /// New outbound dials per minute, at most (a token bucket holding up to
    /// `outbound_peers` tokens, so a start-up fills the slots at once).
    pub dials_per_minute: u32,
    /// Nodes in the candidate book, and the bytes they may hold.
    pub candidates_cap: usize,
    pub candidates_bytes_cap: usize,
    pub policy: AddressPolicy,
    /// How often the graph is sampled again for candidates when the slots are full.
    pub refresh_interval: Duration,
    /// How often while slots are empty and no candidate is ready.
    pub hungry_refresh_interval: Duration,
    /// The gossip_store the graph's offsets point into.
    pub store_path: PathBuf,
    /// BOLT 10 seeds, asked when the graph gives fewer candidates than there are slots.
    pub dns_seeds: Vec<String>,
    /// The DNS server for seed queries; `None` = the system's.
    pub dns_server: Option<SocketAddr>,
    /// Seeds are asked again at most this often.
    pub seed_interval: Duration,
}

impl DiscoveryConfig {
    pub fn new(store_path: PathBuf) -> Self {
        DiscoveryConfig {
            outbound_peers: 8,
            dials_per_minute: 12,
            candidates_cap: 2_000,
            candidates_bytes_cap: 1 << 20,
            policy: AddressPolicy::default(),
            refresh_interval: Duration::from_secs(600),
            hungry_refresh_interval: Duration::from_secs(5),
            store_path,
            dns_seeds: Vec::new(),
            dns_server: None,
            seed_interval: Duration::from_secs(600),
        }
    }
}

/// Publishes the manager's limits as `gossip_sieve_limit` rows.
pub fn publish_limits(config: &DiscoveryConfig, metrics: &crate::metrics::Metrics) {
    metrics.set_limit("outbound_peers", config.outbound_peers);
    metrics.set_limit("discovery_candidates", config.candidates_cap);
    metrics.set_limit("discovery_candidate_bytes", config.candidates_bytes_cap);
    metrics.set_limit("dial_queue", config.outbound_peers);
    metrics.set_limit(
        "dials_per_minute",
        usize::try_from(config.dials_per_minute).unwrap_or(usize::MAX),
    );
}

/// Starts a dialer per configured peer and the manager that fills the remaining slots.
/// The returned tasks end after `shutdown`.
pub fn spawn(
    configured: Vec<PeerAddr>,
    ctx: Arc<PeerContext>,
    graph: Arc<Graph>,
    dialer: DialerConfig,
    config: DiscoveryConfig,
    metrics: Arc<DiscoveryMetrics>,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    for peer in &configured {
        let gauge =
            metrics.connected_gauge(Origin::Configured, DialTarget::type_of_host(&peer.host));
        let (peer, ctx, dialer, shutdown) =
            (peer.clone(), ctx.clone(), dialer.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            let stats = dial_counted(peer.clone(), ctx, dialer, shutdown, Some(gauge)).await;
            tracing::info!(%peer, ?stats, "dialer stopped");
        }));
    }
    let auto = config.outbound_peers.saturating_sub(configured.len());
    if auto > 0 {
        let manager = Manager {
            skip: configured.iter().map(|p| p.node_id.serialize()).collect(),
            auto_target: auto,
            book: CandidateBook::new(config.candidates_cap, config.candidates_bytes_cap),
            tokens: DialTokens::new(config.dials_per_minute, auto),
            active: HashMap::new(),
            ctx,
            graph,
            dialer: DialerConfig {
                reconnect: false,
                ..dialer
            },
            config,
            metrics,
            seeds_due: Instant::now(),
        };
        tasks.push(tokio::spawn(manager.run(shutdown)));
    }
    tasks
}

/// A dial or session of the manager's, by node.
struct Active {
    address_type: &'static str,
    group: String,
}

struct Manager {
    /// Configured peers (dialled by their own tasks) and our own id.
    skip: HashSet<NodeId>,
    auto_target: usize,
    book: CandidateBook,
    tokens: DialTokens,
    active: HashMap<NodeId, Active>,
    ctx: Arc<PeerContext>,
    graph: Arc<Graph>,
    dialer: DialerConfig,
    config: DiscoveryConfig,
    metrics: Arc<DiscoveryMetrics>,
    /// When the DNS seeds may be asked again.
    seeds_due: Instant,
}

/// How a manager's dial ended: healthy if a session lasted `stable_after`.
struct Finished {
    node_id: NodeId,
    healthy: bool,
}

impl Manager {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        self.skip.insert(self.ctx.identity.node_id().serialize());
        // At most `auto_target` dials are in progress, each sending once.
        let (done_tx, mut done_rx) = mpsc::channel::<Finished>(self.auto_target.max(1));
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        let mut next_refresh = Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let now = Instant::now();
            if now >= next_refresh {
                self.refresh(now).await;
                next_refresh = now + self.config.refresh_interval;
            }
            let mut wake = next_refresh;
            while self.active.len() < self.auto_target {
                if let Err(at) = self.tokens.take(now) {
                    wake = wake.min(at);
                    break;
                }
                let Some((node_id, origin, target)) = self.pick(now) else {
                    self.tokens.refund();
                    // Nothing ready: sample the graph again soon rather than at the usual pace.
                    next_refresh = next_refresh.min(now + self.config.hungry_refresh_interval);
                    wake = wake.min(next_refresh);
                    break;
                };
                tasks.retain(|t| !t.is_finished());
                if let Some(task) = self
                    .start_dial(node_id, origin, target, done_tx.clone(), &shutdown)
                    .await
                {
                    tasks.push(task);
                }
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(done) = done_rx.recv() => {
                    self.active.remove(&done.node_id);
                    self.book.record(&done.node_id, done.healthy, Instant::now().into_std());
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
        for task in tasks {
            let _ = task.await;
        }
    }

    fn pick(&self, now: Instant) -> Option<(NodeId, Origin, DialTarget)> {
        let in_use: Vec<(&'static str, String)> = self
            .active
            .values()
            .map(|a| (a.address_type, a.group.clone()))
            .collect();
        let unix = u64::from(unix_now());
        let scores = &self.ctx.scores;
        let (candidate, target) = self.book.pick(
            now.into_std(),
            |n| self.active.contains_key(n) || self.skip.contains(n),
            |n| scores.lock().banned_until(n, unix).is_none(),
            &in_use,
        )?;
        Some((candidate.node_id, candidate.origin, target))
    }

    /// Samples the graph for candidates, keeping the failure records of nodes still waiting.
    async fn refresh(&mut self, now: Instant) {
        let graph = self.graph.clone();
        let path = self.config.store_path.clone();
        let skip = self.skip.clone();
        let limit = self.config.candidates_cap;
        let sampled = tokio::task::spawn_blocking(move || {
            graph_source::sample(&graph, &path, limit, |n| skip.contains(n))
        })
        .await;
        let sampled = match sampled {
            Ok(Ok(sampled)) => sampled,
            Ok(Err(err)) => {
                tracing::debug!(%err, "cannot read the store for candidates");
                return;
            }
            Err(err) => {
                tracing::warn!(%err, "candidate sampling task failed");
                return;
            }
        };
        let fresh: HashSet<NodeId> = sampled.iter().map(|a| a.node_id).collect();
        self.book.retain(|c| {
            c.origin == Origin::Seed || fresh.contains(&c.node_id) || c.waiting(now.into_std())
        });
        for announced in sampled {
            self.offer(announced.node_id, Origin::Graph, &announced.addresses);
        }
        if self.book.len() < self.auto_target && now >= self.seeds_due {
            self.seeds_due = now + self.config.seed_interval;
            self.ask_seeds().await;
        }
        self.metrics.candidates.set(gauge_value(self.book.len()));
        self.metrics
            .candidate_bytes
            .set(gauge_value(self.book.bytes()));
    }

    fn offer(&mut self, node_id: NodeId, origin: Origin, addresses: &[Address]) {
        if self.skip.contains(&node_id) {
            return;
        }
        let metrics = &self.metrics;
        let targets = dialable(addresses, self.config.policy, |skip| metrics.skipped(skip));
        if targets.is_empty() {
            return;
        }
        if self.book.offer(node_id, origin, targets) == candidates::Offered::Full {
            self.metrics
                .candidates_refused
                .with_label_values(&[origin.label()])
                .inc();
        }
    }

    /// BOLT 10 bootstrap: every configured seed, each answer capped (see [`seeds`]).
    async fn ask_seeds(&mut self) {
        if self.config.dns_seeds.is_empty() {
            return;
        }
        let resolver = match seeds::resolver(self.config.dns_server, self.dialer.connect_timeout) {
            Ok(resolver) => resolver,
            Err(err) => {
                tracing::warn!(%err, "no DNS resolver for the seeds");
                return;
            }
        };
        let with_onion = self.config.policy.have_proxy;
        for seed in self.config.dns_seeds.clone() {
            let result = seeds::query(&resolver, &seed, with_onion).await;
            let label = match &result {
                Ok(nodes) if nodes.is_empty() => "empty",
                Ok(_) => "ok",
                Err(_) => "error",
            };
            self.metrics.seed_queries.with_label_values(&[label]).inc();
            match result {
                Ok(nodes) => {
                    tracing::info!(%seed, nodes = nodes.len(), "DNS seed answered");
                    for node in nodes {
                        self.metrics.seed_nodes.inc();
                        self.offer(node.node_id, Origin::Seed, &node.addresses);
                    }
                }
                Err(err) => tracing::warn!(%seed, %err, "DNS seed query failed"),
            }
        }
    }

    /// Starts one dial; `None` when the target could not be turned into an address.
    async fn start_dial(
        &mut self,
        node_id: NodeId,
        origin: Origin,
        target: DialTarget,
        done: mpsc::Sender<Finished>,
        shutdown: &watch::Receiver<bool>,
    ) -> Option<JoinHandle<()>> {
        let target = match self.resolve(target).await {
            Some(target) => target,
            None => {
                self.book.record(&node_id, false, Instant::now().into_std());
                return None;
            }
        };
        let peer = PeerAddr {
            node_id: PublicKey::from_slice(&node_id).ok()?,
            host: target.host(),
            port: target.port(),
        };
        self.active.insert(
            node_id,
            Active {
                address_type: target.address_type(),
                group: target.group(),
            },
        );
        let queued = Queued::new(&self.metrics, peer.host.len());
        let connected = self.metrics.connected_gauge(origin, target.address_type());
        let (ctx, dialer, metrics) = (self.ctx.clone(), self.dialer.clone(), self.metrics.clone());
        let mut shutdown = shutdown.clone();
        tracing::info!(%peer, origin = origin.label(), "dialling a discovered peer");
        Some(tokio::spawn(async move {
            let on_session = metrics.clone();
            let established = move || {
                drop(queued);
                on_session.dialled(origin, "connected");
            };
            let outcome = dial_once(
                &peer,
                &ctx,
                &dialer,
                &mut shutdown,
                Some(connected),
                established,
            )
            .await;
            // A session was counted when it began.
            if !matches!(outcome, DialOutcome::Session(_) | DialOutcome::Shutdown) {
                metrics.dialled(origin, outcome.label());
            }
            let healthy =
                matches!(&outcome, DialOutcome::Session(r) if r.lasted >= dialer.stable_after);
            tracing::info!(%peer, result = outcome.label(), "discovered peer dial ended");
            let _ = done.send(Finished { node_id, healthy }).await;
        }))
    }

    /// A DNS name is resolved here when there is no proxy to resolve it, and its addresses
    /// pass the same private-range check as announced IPs (else a name could point us at our
    /// own LAN).
    async fn resolve(&self, target: DialTarget) -> Option<DialTarget> {
        let DialTarget::Dns { host, port } = &target else {
            return Some(target);
        };
        if self.config.policy.have_proxy {
            return Some(target);
        }
        let lookup = tokio::time::timeout(
            self.dialer.connect_timeout,
            tokio::net::lookup_host((host.as_str(), *port)),
        )
        .await
        .ok()?
        .ok()?;
        let allow_private = self.config.policy.allow_private;
        let found: Vec<SocketAddr> = lookup.collect();
        found
            .into_iter()
            .find(|a| allow_private || is_public(a.ip()))
            .map(DialTarget::Ip)
    }
}

/// Counts one dial in the dial queue until it reaches a session or ends.
struct Queued {
    count: prometheus::IntGauge,
    bytes: prometheus::IntGauge,
    size: i64,
}

impl Queued {
    fn new(metrics: &DiscoveryMetrics, host_len: usize) -> Self {
        let size = gauge_value(std::mem::size_of::<PeerAddr>() + host_len);
        metrics.dial_queue.inc();
        metrics.dial_queue_bytes.add(size);
        Queued {
            count: metrics.dial_queue.clone(),
            bytes: metrics.dial_queue_bytes.clone(),
            size,
        }
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.count.dec();
        self.bytes.sub(self.size);
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A token bucket for new dials: `per_minute` tokens a minute, holding at most `burst`.
struct DialTokens {
    every: Duration,
    burst: u32,
    tokens: u32,
    refilled: Instant,
}

impl DialTokens {
    fn new(per_minute: u32, burst: usize) -> Self {
        let per_minute = per_minute.max(1);
        let burst = u32::try_from(burst)
            .unwrap_or(u32::MAX)
            .clamp(1, per_minute);
        DialTokens {
            every: Duration::from_secs(60) / per_minute,
            burst,
            tokens: burst,
            refilled: Instant::now(),
        }
    }

    /// Takes a token, or says when the next one comes.
    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        while self.tokens < self.burst && now >= self.refilled + self.every {
            self.tokens += 1;
            self.refilled += self.every;
        }
        if self.tokens == self.burst {
            self.refilled = now;
        }
        if self.tokens == 0 {
            return Err(self.refilled + self.every);
        }
        self.tokens -= 1;
        Ok(())
    }

    fn refund(&mut self) {
        self.tokens = (self.tokens + 1).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_tokens_allow_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut tokens = DialTokens::new(6, 3);
        for _ in 0..3 {
            assert!(tokens.take(start).is_ok());
        }
        let next = tokens.take(start).expect_err("bucket empty");
        assert_eq!(next, start + Duration::from_secs(10));
        assert!(tokens.take(start + Duration::from_secs(9)).is_err());
        assert!(tokens.take(start + Duration::from_secs(10)).is_ok());
        assert!(tokens.take(start + Duration::from_secs(10)).is_err());
        // An hour idle refills only up to the burst.
        let later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(tokens.take(later).is_ok());
        }
        assert!(tokens.take(later).is_err());
    }
}
