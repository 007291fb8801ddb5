//! Forgetting channels: a closed channel once its forget delay has passed (the chain watcher
//! reports it), or a stale one (no update in either direction for `stale_channel_age`). The
//! channel leaves the graph with its updates and any node left without a channel, and its
//! store records are marked deleted so that readers skip them and compaction reclaims them.

use std::sync::Arc;

use prometheus::{IntCounter, IntCounterVec, Opts};

use crate::graph::Graph;
use crate::metrics::Metrics;
use crate::store::StoreSender;

/// Why a channel is forgotten (the `cause` label of `gossip_sieve_channels_forgotten_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForgetCause {
    /// Its funding output was spent or reorganised out, `forget_delay_blocks` ago.
    Closed,
    /// No update in either direction for `stale_channel_age`.
    Stale,
    /// Loaded from the store, and re-checked at start: its funding output is not there.
    FundingNotFound,
    /// Loaded from the store, and re-checked at start: the output is not its 2-of-2 P2WSH.
    FundingScriptMismatch,
}

impl ForgetCause {
    pub const ALL: [ForgetCause; 4] = [
        ForgetCause::Closed,
        ForgetCause::Stale,
        ForgetCause::FundingNotFound,
        ForgetCause::FundingScriptMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ForgetCause::Closed => "closed",
            ForgetCause::Stale => "stale",
            ForgetCause::FundingNotFound => "funding_not_found",
            ForgetCause::FundingScriptMismatch => "funding_script_mismatch",
        }
    }
}

/// Removes channels from the graph and their records from the store.
#[derive(Clone)]
pub struct Forgetter {
    graph: Arc<Graph>,
    metrics: Arc<Metrics>,
    store: Option<StoreSender>,
    forgotten: IntCounterVec,
}

impl Forgetter {
    /// Registers `gossip_sieve_channels_forgotten_total{cause}` (every cause at 0).
    pub fn new(
        graph: Arc<Graph>,
        metrics: Arc<Metrics>,
        store: Option<StoreSender>,
    ) -> prometheus::Result<Self> {
        let forgotten = IntCounterVec::new(
            Opts::new(
                "gossip_sieve_channels_forgotten_total",
                "Channels removed from the graph and the store, by cause (closed, stale, and for \
                 channels loaded from the store: funding_not_found, funding_script_mismatch)",
            ),
            &["cause"],
        )?;
        metrics.registry.register(Box::new(forgotten.clone()))?;
        for cause in ForgetCause::ALL {
            forgotten.with_label_values(&[cause.as_str()]);
        }
        Ok(Forgetter {
            graph,
            metrics,
            store,
            forgotten,
        })
    }

    pub fn graph(&self) -> Arc<Graph> {
        self.graph.clone()
    }

    pub fn counter(&self, cause: ForgetCause) -> IntCounter {
        self.forgotten.with_label_values(&[cause.as_str()])
    }

    /// Forgets one channel; `false` if the graph did not have it.
    pub async fn forget(&self, short_channel_id: u64, cause: ForgetCause) -> bool {
        let Some(forgotten) = self.graph.remove_channel(short_channel_id) else {
            return false;
        };
        self.metrics.graph_channels.dec();
        self.metrics
            .graph_nodes
            .sub(i64::try_from(forgotten.nodes_removed).unwrap_or(0));
        self.counter(cause).inc();
        tracing::debug!(
            short_channel_id,
            cause = cause.as_str(),
            "channel forgotten"
        );
        if let Some(store) = &self.store {
            store.forget(forgotten.offsets).await;
        }
        true
    }

    /// Forgets every channel whose newest update in each direction is older than `cutoff`
    /// (unix seconds); returns their short channel ids.
    pub async fn prune_stale(&self, cutoff: u32) -> Vec<u64> {
        let mut pruned = Vec::new();
        for short_channel_id in self.graph.stale_channels(cutoff) {
            if self.forget(short_channel_id, ForgetCause::Stale).await {
                pruned.push(short_channel_id);
            }
        }
        if !pruned.is_empty() {
            tracing::info!(pruned = pruned.len(), "stale channels forgotten");
        }
        pruned
    }
}
