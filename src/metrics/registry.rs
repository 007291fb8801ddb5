//! Registration of every gossip-sieve series and the pre-resolved handles the pipeline uses.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

use super::flow::{FlowCounts, FlowFamilies};
use crate::vocab::{DropReason, Offense};
use crate::wire::GossipKind;

pub use crate::vocab::DISCONNECT_REASONS;

const PREFIX: &str = "gossip_sieve";

/// Why a message accepted into the graph did not reach the store; zero-initialised at start.
pub const STORE_FAILURE_REASONS: &[&str] = &[
    // Writing or flushing failed.
    "io",
    // The store actor's mailbox was closed (it stopped).
    "mailbox_closed",
    // A channel_update whose channel_announcement is not in the store.
    "no_channel",
    // A node_announcement none of whose channels reached the store by shutdown.
    "no_stored_channel",
    // The graph no longer knows the key (should not happen: nothing is removed).
    "unknown_key",
];

/// Handles of the store actor's series.
pub struct StoreMetrics {
    /// Records appended (a channel_announcement's amount record not counted).
    pub written: IntCounter,
    /// Records flagged DELETED because a newer one replaced them.
    pub deleted: IntCounter,
    /// Records dropped from the file by compaction.
    pub compacted: IntCounter,
    /// Messages not written because the graph already held a newer one for the key.
    pub superseded: IntCounter,
    failures: IntCounterVec,
    pub fsync_duration: Histogram,
    /// Bytes cut from a torn tail when the store was opened.
    pub recovery_truncated_bytes: IntCounter,
    /// Hand-offs from shards not yet handled by the store actor.
    pub queue_depth: IntGauge,
    /// 1 while appends fail for lack of disk space (intake is paused), else 0.
    pub out_of_space: IntGauge,
    /// Compactions that failed (each is retried later with backoff).
    pub compaction_failures: IntCounter,
}

impl StoreMetrics {
    pub fn failed(&self, reason: &str) {
        self.failures.with_label_values(&[reason]).inc();
    }

    pub fn failures(&self, reason: &str) -> u64 {
        self.failures.with_label_values(&[reason]).get()
    }
}

/// Handles of the Rapid Gossip Sync snapshot series (set by the handout service; registered
/// for every command so the dashboard's queries always find them, at 0 before a first build).
#[derive(Clone)]
pub struct RgsMetrics {
    pub snapshot_bytes: IntGaugeVec,
    pub latest_seen: IntGauge,
    pub build_seconds: Histogram,
    pub channels: IntGauge,
}

impl RgsMetrics {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let snapshot_bytes = IntGaugeVec::new(
            Opts::new(
                name("rgs_snapshot_bytes"),
                "Size of the cached full Rapid Gossip Sync snapshot",
            ),
            &["version"],
        )?;
        let latest_seen = IntGauge::with_opts(Opts::new(
            name("rgs_latest_seen_timestamp"),
            "latest_seen (unix seconds) of the newest snapshot generation",
        ))?;
        let build_seconds = Histogram::with_opts(
            HistogramOpts::new(
                name("rgs_build_duration_seconds"),
                "Time to build a snapshot generation (store read, model, v1 and v2)",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )?;
        let channels = IntGauge::with_opts(Opts::new(
            name("rgs_channels"),
            "Channels in the newest snapshot generation",
        ))?;
        for version in ["1", "2"] {
            snapshot_bytes.with_label_values(&[version]).set(0);
        }
        registry.register(Box::new(snapshot_bytes.clone()))?;
        registry.register(Box::new(latest_seen.clone()))?;
        registry.register(Box::new(build_seconds.clone()))?;
        registry.register(Box::new(channels.clone()))?;
        Ok(RgsMetrics {
            snapshot_bytes,
            latest_seen,
            build_seconds,
            channels,
        })
    }
}

/// Per-kind handles, indexed by [`GossipKind::index`].
pub struct KindCounters {
    pub received: IntCounter,
    pub accepted: IntCounter,
    pub dropped: Vec<IntCounter>,
    pub verify_duration: Histogram,
    pub pending: IntGauge,
}

pub struct Metrics {
    pub registry: Registry,
    kinds: Vec<KindCounters>,
    flow: FlowFamilies,
    /// Rapid Gossip Sync snapshot series (issue 13).
    pub rgs: RgsMetrics,
    pub signature_valid: IntCounter,
    pub signature_invalid: IntCounter,
    pub queue_wait: Histogram,
    queue_depth: IntGaugeVec,
    queue_capacity: IntGaugeVec,
    pub peers_connected: IntGauge,
    peer_disconnects: IntCounterVec,
    peer_bans: IntCounterVec,
    pub graph_channels: IntGauge,
    pub graph_nodes: IntGauge,
    pub store_bytes: IntGauge,
    pub store: StoreMetrics,
    /// Exported caps (DESIGN §3: "all in config, all exported as gauges").
    limits: IntGaugeVec,
    /// Connections to /metrics closed at accept because `max_connections` were open.
    pub metrics_connections_refused: IntCounter,
    pub propagation: super::propagation::Propagation,
}

fn name(short: &str) -> String {
    format!("{PREFIX}_{short}")
}

impl Metrics {
    /// Registers everything and zero-initialises every known label set for `shards` shards.
    pub fn new(shards: usize) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let flow = FlowFamilies::new(PREFIX)?;
        let signature_checks = IntCounterVec::new(
            Opts::new(
                name("signature_checks_total"),
                "secp256k1 signature verifications (a channel_announcement has four)",
            ),
            &["result"],
        )?;
        let verify_duration = HistogramVec::new(
            HistogramOpts::new(
                name("verify_duration_seconds"),
                "Time to verify all signatures of one message, by type",
            )
            .buckets(vec![
                10e-6, 25e-6, 50e-6, 75e-6, 100e-6, 150e-6, 200e-6, 300e-6, 500e-6, 1e-3, 5e-3,
            ]),
            &["type"],
        )?;
        let queue_wait = Histogram::with_opts(
            HistogramOpts::new(
                name("queue_wait_seconds"),
                "Time a message spent in a verifier shard's mailbox",
            )
            .buckets(prometheus::exponential_buckets(1e-5, 4.0, 10)?),
        )?;
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                name("queue_depth"),
                "Messages admitted to a shard and not yet finished",
            ),
            &["shard"],
        )?;
        let queue_capacity = IntGaugeVec::new(
            Opts::new(
                name("queue_capacity"),
                "Admission capacity of a shard's mailbox",
            ),
            &["shard"],
        )?;
        let peers_connected =
            IntGauge::with_opts(Opts::new(name("peers_connected"), "Connected peers"))?;
        let peer_disconnects = IntCounterVec::new(
            Opts::new(
                name("peer_disconnects_total"),
                "Peer connections that ended, by reason",
            ),
            &["reason"],
        )?;
        let peer_bans = IntCounterVec::new(
            Opts::new(
                name("peer_bans_total"),
                "Peers banned for misbehaviour, by the offense that crossed the threshold",
            ),
            &["reason"],
        )?;
        let graph_channels =
            IntGauge::with_opts(Opts::new(name("graph_channels"), "Channels in the graph"))?;
        let graph_nodes = IntGauge::with_opts(Opts::new(
            name("graph_nodes"),
            "Nodes with at least one channel in the graph",
        ))?;
        let store_bytes = IntGauge::with_opts(Opts::new(
            name("store_bytes"),
            "Size of the gossip_store file",
        ))?;
        let store_records = IntCounterVec::new(
            Opts::new(
                name("store_records_total"),
                "gossip_store records by event: written, deleted (superseded in place), \
                 compacted (dropped by compaction), superseded (not written: newer in graph)",
            ),
            &["event"],
        )?;
        let store_failures = IntCounterVec::new(
            Opts::new(
                name("store_failures_total"),
                "Accepted messages that did not reach the gossip_store, by reason",
            ),
            &["reason"],
        )?;
        let store_fsync = Histogram::with_opts(
            HistogramOpts::new(
                name("store_fsync_duration_seconds"),
                "Time to flush and fsync the gossip_store",
            )
            .buckets(prometheus::exponential_buckets(1e-4, 4.0, 9)?),
        )?;
        let store_truncated = IntCounter::with_opts(Opts::new(
            name("store_recovery_truncated_bytes_total"),
            "Bytes of torn tail cut from the gossip_store when it was opened",
        ))?;
        let store_queue = IntGauge::with_opts(Opts::new(
            name("store_queue_depth"),
            "Accepted messages handed to the store actor and not yet written",
        ))?;
        let store_out_of_space = IntGauge::with_opts(Opts::new(
            name("store_out_of_space"),
            "1 while gossip_store appends fail for lack of disk space and intake is paused",
        ))?;
        let store_compaction_failures = IntCounter::with_opts(Opts::new(
            name("store_compaction_failures_total"),
            "gossip_store compactions that failed (retried with backoff)",
        ))?;
        let limits = IntGaugeVec::new(
            Opts::new(
                name("limit"),
                "Configured caps of queues, caches and pending maps",
            ),
            &["name"],
        )?;

        registry.register(Box::new(flow.clone()))?;
        registry.register(Box::new(signature_checks.clone()))?;
        registry.register(Box::new(verify_duration.clone()))?;
        registry.register(Box::new(queue_wait.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(queue_capacity.clone()))?;
        registry.register(Box::new(peers_connected.clone()))?;
        registry.register(Box::new(peer_disconnects.clone()))?;
        registry.register(Box::new(peer_bans.clone()))?;
        registry.register(Box::new(graph_channels.clone()))?;
        registry.register(Box::new(graph_nodes.clone()))?;
        registry.register(Box::new(store_bytes.clone()))?;
        registry.register(Box::new(limits.clone()))?;
        let metrics_connections_refused = IntCounter::with_opts(Opts::new(
            name("metrics_connections_refused_total"),
            "Connections to the metrics server closed at once because it was at its cap",
        ))?;
        registry.register(Box::new(metrics_connections_refused.clone()))?;
        registry.register(Box::new(store_records.clone()))?;
        registry.register(Box::new(store_failures.clone()))?;
        registry.register(Box::new(store_fsync.clone()))?;
        registry.register(Box::new(store_truncated.clone()))?;
        registry.register(Box::new(store_queue.clone()))?;
        registry.register(Box::new(store_out_of_space.clone()))?;
        registry.register(Box::new(store_compaction_failures.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;

        let rgs = RgsMetrics::register(&registry)?;
        let kinds = GossipKind::ALL
            .iter()
            .map(|kind| {
                let label = kind.as_str();
                KindCounters {
                    received: flow.received(*kind),
                    accepted: flow.accepted(*kind),
                    dropped: DropReason::ALL
                        .iter()
                        .map(|reason| flow.dropped(*kind, *reason))
                        .collect(),
                    verify_duration: verify_duration.with_label_values(&[label]),
                    pending: flow.pending(*kind),
                }
            })
            .collect();
        for shard in 0..shards {
            queue_depth.with_label_values(&[&shard.to_string()]).set(0);
            queue_capacity
                .with_label_values(&[&shard.to_string()])
                .set(0);
        }
        for reason in DISCONNECT_REASONS {
            peer_disconnects.with_label_values(&[reason]);
        }
        for offense in Offense::ALL {
            peer_bans.with_label_values(&[offense.as_str()]);
        }
        for reason in STORE_FAILURE_REASONS {
            store_failures.with_label_values(&[reason]);
        }
        let store = StoreMetrics {
            written: store_records.with_label_values(&["written"]),
            deleted: store_records.with_label_values(&["deleted"]),
            compacted: store_records.with_label_values(&["compacted"]),
            superseded: store_records.with_label_values(&["superseded"]),
            failures: store_failures,
            fsync_duration: store_fsync,
            recovery_truncated_bytes: store_truncated,
            queue_depth: store_queue,
            out_of_space: store_out_of_space,
            compaction_failures: store_compaction_failures,
        };
        Ok(Metrics {
            kinds,
            flow,
            rgs,
            signature_valid: signature_checks.with_label_values(&["valid"]),
            signature_invalid: signature_checks.with_label_values(&["invalid"]),
            queue_wait,
            queue_depth,
            queue_capacity,
            peers_connected,
            peer_disconnects,
            peer_bans,
            graph_channels,
            graph_nodes,
            store_bytes,
            store,
            limits,
            metrics_connections_refused,
            propagation: super::propagation::Propagation::register(&registry)?,
            registry,
        })
    }

    pub fn kind(&self, kind: GossipKind) -> &KindCounters {
        &self.kinds[kind.index()]
    }

    /// Every type's received, accepted, dropped and pending counts read so that they balance
    /// with the derived in-flight count (see [`super::flow`]).
    pub fn flow(&self) -> Vec<(GossipKind, FlowCounts)> {
        self.flow.snapshot()
    }

    pub fn dropped(&self, kind: GossipKind, reason: DropReason) -> &IntCounter {
        &self.kinds[kind.index()].dropped[reason.index()]
    }

    pub fn queue_depth(&self, shard: usize) -> IntGauge {
        self.queue_depth.with_label_values(&[&shard.to_string()])
    }

    pub fn queue_capacity(&self, shard: usize) -> IntGauge {
        self.queue_capacity.with_label_values(&[&shard.to_string()])
    }

    pub fn peer_disconnected(&self, reason: &str) {
        self.peer_disconnects.with_label_values(&[reason]).inc();
    }

    /// Counts a ban; `reason` is an [`Offense`] label.
    pub fn peer_banned(&self, reason: &str) {
        self.peer_bans.with_label_values(&[reason]).inc();
    }

    pub fn set_limit(&self, name: &str, value: usize) {
        self.limits
            .with_label_values(&[name])
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }

    /// Text exposition format of every registered series.
    pub fn render(&self) -> String {
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|err| format!("# encoding failed: {err}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_combination_is_present_from_the_start() {
        let metrics = Metrics::new(2).expect("registry");
        let text = metrics.render();
        for kind in GossipKind::ALL {
            for reason in DropReason::ALL {
                let series = format!(
                    "gossip_sieve_messages_dropped_total{{reason=\"{}\",type=\"{}\"}} 0",
                    reason.as_str(),
                    kind.as_str()
                );
                assert!(text.contains(&series), "missing {series}");
            }
            let received = format!(
                "gossip_sieve_messages_received_total{{type=\"{}\"}} 0",
                kind.as_str()
            );
            assert!(text.contains(&received), "missing {received}");
        }
        assert!(text.contains("gossip_sieve_queue_depth{shard=\"1\"} 0"));
        assert!(text.contains("gossip_sieve_peer_disconnects_total{reason=\"bad_mac\"} 0"));
        assert!(text.contains("gossip_sieve_peer_bans_total{reason=\"invalid_signature\"} 0"));
        assert!(text.contains("gossip_sieve_signature_checks_total{result=\"invalid\"} 0"));
        assert!(text.contains("gossip_sieve_store_records_total{event=\"compacted\"} 0"));
        assert!(text.contains("gossip_sieve_store_failures_total{reason=\"io\"} 0"));
        assert!(text.contains("gossip_sieve_store_fsync_duration_seconds_count 0"));
        assert!(text.contains("gossip_sieve_store_recovery_truncated_bytes_total 0"));
    }
}
