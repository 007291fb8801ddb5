//! The chain layer's Prometheus series, `gossip_sieve_chain_*`, registered into a registry the
//! caller passes in. Every label combination is initialised to zero at registration, as the
//! metric contract asks (DESIGN §4), so dashboards and `rate()` work from the first scrape.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

use super::error::ChainError;
use super::funding::FundingRejection;
use super::source::BackendKind;

/// `result` label values of `gossip_sieve_chain_lookups_total`: accepted, each rejection, and
/// `error` (the source failed and the claim could not be parked).
pub const LOOKUP_RESULTS: &[&str] = &[
    "accepted",
    "funding_not_found",
    "funding_script_mismatch",
    "funding_spent",
    "funding_unconfirmed",
    "error",
];

/// Handles of every chain series.
#[derive(Clone)]
pub struct ChainMetrics {
    backend: &'static str,
    /// Final lookup answers by backend and result.
    pub lookups: IntCounterVec,
    /// Time from admission to the final answer of lookups that did not park, by backend.
    pub lookup_seconds: HistogramVec,
    /// Requests to the source that failed, by backend and error kind.
    pub source_errors: IntCounterVec,
    /// Lookups admitted and not yet answered (parked ones excluded).
    pub queue_depth: IntGauge,
    pub queue_capacity: IntGauge,
    /// Claims waiting for depth or for the source to come back.
    pub parked: IntGauge,
    pub parked_capacity: IntGauge,
    /// Block cache and negative cache use, by cache and hit/miss.
    pub cache_lookups: IntCounterVec,
    pub block_cache_bytes: IntGauge,
    pub block_cache_entries: IntGauge,
    pub negative_cache_entries: IntGauge,
    /// Best block height seen, and seconds since it last changed.
    pub tip_height: IntGauge,
    pub tip_age_seconds: IntGauge,
    /// 1 while the last request to the source succeeded, 0 after one failed.
    pub source_up: IntGauge,
    /// Funding outputs seen spent (or reorganised out) by the tip follower.
    pub channels_closed: IntCounter,
    /// Channels whose forget delay passed: the pipeline removes them.
    pub channels_forgotten: IntCounter,
    /// Reorgs the tip follower handled.
    pub reorgs: IntCounter,
    /// Channels loaded from the store at start whose funding is still to be re-checked.
    pub revalidation_pending: IntGauge,
    /// Channels loaded from the store re-checked at start, by result (`REVALIDATION_RESULTS`).
    pub revalidated: IntCounterVec,
}

/// `result` label values of `gossip_sieve_chain_revalidated_total`: still open (now watched),
/// each reason a loaded channel is forgotten for, and `deferred` (the source could not answer
/// yet: asked again later, nothing forgotten).
pub const REVALIDATION_RESULTS: &[&str] = &[
    "open",
    "funding_not_found",
    "funding_script_mismatch",
    "funding_spent",
    "deferred",
];

impl ChainMetrics {
    /// Registers every series in `registry`, for one backend.
    pub fn register(registry: &Registry, backend: BackendKind) -> prometheus::Result<Self> {
        let metrics = ChainMetrics {
            backend: backend.as_str(),
            lookups: IntCounterVec::new(
                Opts::new(
                    "gossip_sieve_chain_lookups_total",
                    "Funding output lookups answered, by backend and result",
                ),
                &["backend", "result"],
            )?,
            lookup_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "gossip_sieve_chain_lookup_duration_seconds",
                    "Time from admission to answer of funding lookups that did not park",
                )
                .buckets(vec![
                    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
                ]),
                &["backend"],
            )?,
            source_errors: IntCounterVec::new(
                Opts::new(
                    "gossip_sieve_chain_source_errors_total",
                    "Chain source requests that failed, by backend and error kind",
                ),
                &["backend", "error"],
            )?,
            queue_depth: IntGauge::new(
                "gossip_sieve_chain_lookup_queue_depth",
                "Funding lookups admitted and not yet answered",
            )?,
            queue_capacity: IntGauge::new(
                "gossip_sieve_chain_lookup_queue_capacity",
                "Cap on funding lookups admitted at once",
            )?,
            parked: IntGauge::new(
                "gossip_sieve_chain_parked",
                "channel_announcements waiting for depth or for the chain source",
            )?,
            parked_capacity: IntGauge::new(
                "gossip_sieve_chain_parked_capacity",
                "Cap on parked channel_announcements",
            )?,
            cache_lookups: IntCounterVec::new(
                Opts::new(
                    "gossip_sieve_chain_cache_lookups_total",
                    "Chain cache lookups, by cache (block, negative) and result (hit, miss)",
                ),
                &["cache", "result"],
            )?,
            block_cache_bytes: IntGauge::new(
                "gossip_sieve_chain_block_cache_bytes",
                "Approximate bytes of cached block outputs",
            )?,
            block_cache_entries: IntGauge::new(
                "gossip_sieve_chain_block_cache_entries",
                "Blocks whose outputs are cached",
            )?,
            negative_cache_entries: IntGauge::new(
                "gossip_sieve_chain_negative_cache_entries",
                "Rejected funding claims remembered",
            )?,
            tip_height: IntGauge::new(
                "gossip_sieve_chain_tip_height",
                "Best block height of the chain source",
            )?,
            tip_age_seconds: IntGauge::new(
                "gossip_sieve_chain_tip_age_seconds",
                "Seconds since the best block last changed",
            )?,
            source_up: IntGauge::new(
                "gossip_sieve_chain_source_up",
                "1 while the chain source answers, 0 after a request failed",
            )?,
            channels_closed: IntCounter::new(
                "gossip_sieve_chain_channels_closed_total",
                "Funding outputs seen spent or reorganised out",
            )?,
            channels_forgotten: IntCounter::new(
                "gossip_sieve_chain_channels_forgotten_total",
                "Channels forgotten after the forget delay",
            )?,
            reorgs: IntCounter::new(
                "gossip_sieve_chain_reorgs_total",
                "Reorganisations of the best chain handled",
            )?,
            revalidation_pending: IntGauge::new(
                "gossip_sieve_chain_revalidation_pending",
                "Channels loaded from the store at start whose funding is not yet re-checked",
            )?,
            revalidated: IntCounterVec::new(
                Opts::new(
                    "gossip_sieve_chain_revalidated_total",
                    "Channels loaded from the store whose funding was re-checked at start, by \
                     result (open, funding_not_found, funding_script_mismatch, funding_spent, \
                     deferred)",
                ),
                &["result"],
            )?,
        };
        registry.register(Box::new(metrics.lookups.clone()))?;
        registry.register(Box::new(metrics.lookup_seconds.clone()))?;
        registry.register(Box::new(metrics.source_errors.clone()))?;
        registry.register(Box::new(metrics.queue_depth.clone()))?;
        registry.register(Box::new(metrics.queue_capacity.clone()))?;
        registry.register(Box::new(metrics.parked.clone()))?;
        registry.register(Box::new(metrics.parked_capacity.clone()))?;
        registry.register(Box::new(metrics.cache_lookups.clone()))?;
        registry.register(Box::new(metrics.block_cache_bytes.clone()))?;
        registry.register(Box::new(metrics.block_cache_entries.clone()))?;
        registry.register(Box::new(metrics.negative_cache_entries.clone()))?;
        registry.register(Box::new(metrics.tip_height.clone()))?;
        registry.register(Box::new(metrics.tip_age_seconds.clone()))?;
        registry.register(Box::new(metrics.source_up.clone()))?;
        registry.register(Box::new(metrics.channels_closed.clone()))?;
        registry.register(Box::new(metrics.channels_forgotten.clone()))?;
        registry.register(Box::new(metrics.reorgs.clone()))?;
        registry.register(Box::new(metrics.revalidation_pending.clone()))?;
        registry.register(Box::new(metrics.revalidated.clone()))?;
        for result in REVALIDATION_RESULTS {
            metrics.revalidated.with_label_values(&[result]);
        }
        let b = metrics.backend;
        for result in LOOKUP_RESULTS {
            metrics.lookups.with_label_values(&[b, result]);
        }
        metrics.lookup_seconds.with_label_values(&[b]);
        for error in ChainError::LABELS {
            metrics.source_errors.with_label_values(&[b, error]);
        }
        for cache in ["block", "negative"] {
            for result in ["hit", "miss"] {
                metrics.cache_lookups.with_label_values(&[cache, result]);
            }
        }
        Ok(metrics)
    }

    /// Series not registered anywhere, for tests and tools that do not export.
    pub fn unregistered(backend: BackendKind) -> Self {
        Self::register(&Registry::new(), backend).expect("fresh registry has no duplicates")
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    pub(crate) fn count_result(&self, result: Result<(), FundingRejection>) {
        let label = match result {
            Ok(()) => "accepted",
            Err(rejection) => rejection.as_str(),
        };
        self.lookups.with_label_values(&[self.backend, label]).inc();
    }

    pub(crate) fn count_error(&self, error: &ChainError) {
        self.source_errors
            .with_label_values(&[self.backend, error.label()])
            .inc();
        self.source_up.set(0);
    }

    pub(crate) fn cache(&self, cache: &'static str, hit: bool) {
        self.cache_lookups
            .with_label_values(&[cache, if hit { "hit" } else { "miss" }])
            .inc();
    }
}
