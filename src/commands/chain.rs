//! The chain parts of a running node, built from `[chain]`: the chain stage the pipeline runs
//! channel_announcements through, the validator on its own small runtime (lookups never run on
//! a shard's thread, nor on the thread serving peers), the tip follower, and the loops that
//! turn the follower's reports and the clock into forgotten channels and `/readyz` answers.
//!
//! With `--chain none` only the caps of [`ChainMode::Unvalidated`] apply, and the node says so
//! at start and in `/readyz`'s body.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::chain::{
    BackendKind, ChainBackend, ChainConfig, ChainMetrics, ChainSource, ChainValidator, TipFollower,
    TipReport,
};
use crate::clock::unix_now;
use crate::config::{ChainSettings, ChainSourceKind};
use crate::metrics::{Health, Metrics};
use crate::pipeline::chain_stage::{ChainMode, ChainStage, UnvalidatedCaps};
use crate::pipeline::forget::{ForgetCause, Forgetter};
use crate::pipeline::revalidate::{LoadedStore, Revalidation, RevalidationConfig};

/// The `Health` part name of the chain.
const HEALTH_PART: &str = "chain";

/// What `--chain none` exposes, for the start-up warning and `/readyz`.
pub const UNVALIDATED_WARNING: &str = "--chain none: channel_announcements are NOT checked on \
     chain; any peer can add fabricated channels (capped by chain.unvalidated_channels_cap and \
     chain.unvalidated_channels_per_peer_per_hour)";

/// `[chain]` as the chain layer takes it. Credentials come from the environment only.
pub fn chain_config(settings: &ChainSettings) -> ChainConfig {
    let mut config = ChainConfig {
        backend: match settings.source {
            ChainSourceKind::None => ChainBackend::None,
            ChainSourceKind::BitcoindRpc => ChainBackend::BitcoindRpc,
            ChainSourceKind::BitcoindRest => ChainBackend::BitcoindRest,
            ChainSourceKind::Esplora => ChainBackend::Esplora,
        },
        url: settings.url.clone(),
        cookie_file: settings.cookie_file.clone(),
        request_timeout: settings.request_timeout,
        poll_interval: settings.poll_interval,
        ..ChainConfig::default()
    };
    config.connect_timeout = config.connect_timeout.min(settings.request_timeout);
    config.credentials_from_env(|name| std::env::var(name).ok());
    let v = &mut config.validator;
    v.min_depth = settings.min_depth;
    v.lookup_queue = settings.lookup_queue;
    v.parked = settings.parked_cap;
    v.block_cache_blocks = settings.block_cache_blocks;
    v.block_cache_bytes = settings.block_cache_bytes_cap;
    v.park_max_blocks = v.park_max_blocks.max(settings.min_depth);
    let f = &mut config.follower;
    f.forget_delay = settings.forget_delay_blocks;
    // The history must outlast the delay, so a reorg can still undo a close.
    f.history = f
        .history
        .max(settings.forget_delay_blocks.saturating_mul(2));
    config
}

/// The chain parts of one node process.
pub struct ChainRuntime {
    pub stage: Arc<ChainStage>,
    validating: Option<Validating>,
    stale_age: Option<Duration>,
}

struct Validating {
    validator: ChainValidator,
    follower: Option<TipFollower>,
    metrics: ChainMetrics,
    poll_interval: Duration,
    forget_delay: u32,
    /// Runs lookups and the follower; shut down in the background at stop (dropping a runtime
    /// inside another one's task would panic).
    runtime: tokio::runtime::Runtime,
}

impl ChainRuntime {
    /// Builds the chain parts for `settings`; `source` overrides the configured backend (the
    /// demo's in-process chain).
    pub fn start(
        settings: &ChainSettings,
        source: Option<Arc<dyn ChainSource>>,
        metrics: &Metrics,
        health: &Health,
    ) -> anyhow::Result<Self> {
        let config = chain_config(settings);
        let stale_age = settings.stale_channel_age;
        let source = match source {
            Some(source) => Some(source),
            None => {
                config.validate()?;
                config.connect()?
            }
        };
        let Some(source) = source else {
            tracing::warn!("{UNVALIDATED_WARNING}");
            eprintln!("WARNING: {UNVALIDATED_WARNING}");
            health.set_warning(HEALTH_PART, Some(UNVALIDATED_WARNING.to_string()));
            let caps = UnvalidatedCaps {
                global_cap: settings.unvalidated_channels_cap,
                per_peer_per_hour: settings.unvalidated_channels_per_peer_per_hour,
            };
            metrics.set_limit("unvalidated_channels", caps.global_cap);
            return Ok(ChainRuntime {
                stage: Arc::new(ChainStage::new(
                    ChainMode::Unvalidated(caps),
                    settings.stage_bytes_cap,
                )),
                validating: None,
                stale_age,
            });
        };
        let chain_metrics = ChainMetrics::register(&metrics.registry, source.kind())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("chain")
            .enable_all()
            .build()?;
        let validator = ChainValidator::new(
            Arc::clone(&source),
            config.validator.clone(),
            chain_metrics.clone(),
            runtime.handle().clone(),
        );
        // DESIGN §3: the block cache's caps, exported as the cache holds them.
        let (cache_blocks, cache_bytes) = validator.block_cache_caps();
        metrics.set_limit("chain_block_cache_blocks", cache_blocks);
        metrics.set_limit("chain_block_cache_bytes", cache_bytes);
        let follower = TipFollower::new(source, config.follower);
        let stage = Arc::new(ChainStage::new(
            ChainMode::Validate {
                validator: validator.clone(),
                watch: follower.watch_handle(),
            },
            settings.stage_bytes_cap,
        ));
        // Not ready until the source has answered once.
        health.set_blocker(HEALTH_PART, validator.health().not_ready_reason());
        Ok(ChainRuntime {
            stage,
            validating: Some(Validating {
                validator,
                follower: Some(follower),
                metrics: chain_metrics,
                poll_interval: config.poll_interval,
                forget_delay: config.follower.forget_delay,
                runtime,
            }),
            stale_age,
        })
    }

    /// The backend checking funding outputs, `None` with `--chain none`.
    pub fn backend(&self) -> Option<BackendKind> {
        self.validating
            .as_ref()
            .map(|v| v.validator.source().kind())
    }

    /// Starts, on the current arbiter, the loops that keep `/readyz` honest about the chain,
    /// forget channels the follower reports closed, and prune stale ones, and the one pass
    /// that re-checks the channels `loaded` from the store (see [`crate::pipeline::revalidate`];
    /// with `--chain none` there is none). They end when `shutdown` turns true.
    pub fn spawn_watchers(
        &mut self,
        forgetter: Forgetter,
        health: Arc<Health>,
        loaded: Option<LoadedStore>,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some(stale_age) = self.stale_age {
            tasks.push(actix::spawn(prune_loop(
                forgetter.clone(),
                self.stage.clone(),
                stale_age,
                shutdown.clone(),
            )));
        }
        let Some(validating) = &mut self.validating else {
            return tasks;
        };
        if let (Some(loaded), ChainMode::Validate { watch, .. }) = (loaded, self.stage.mode()) {
            let pass = Revalidation {
                validator: validating.validator.clone(),
                watch: watch.clone(),
                forgetter: forgetter.clone(),
                graph: forgetter.graph(),
                config: RevalidationConfig {
                    forget_delay: validating.forget_delay,
                    ..RevalidationConfig::default()
                },
            };
            tasks.push(actix::spawn(pass.run(loaded, shutdown.clone())));
        }
        if let Some(follower) = validating.follower.take() {
            let (reports, incoming) = mpsc::channel::<TipReport>(16);
            validating.runtime.spawn(follower.run(
                Some(validating.validator.clone()),
                validating.metrics.clone(),
                validating.poll_interval,
                reports,
                shutdown.clone(),
            ));
            tasks.push(actix::spawn(forget_closed(forgetter, incoming)));
        }
        tasks.push(actix::spawn(health_loop(
            validating.validator.clone(),
            health,
            shutdown,
        )));
        tasks
    }

    /// Answers every parked announcement now (dropped as `chain_unavailable`), so the
    /// pipeline can drain at shutdown.
    pub fn release_waiting(&self) {
        if let Some(validating) = &self.validating {
            validating.validator.abandon_parked();
        }
    }

    /// Stops the chain runtime (after the pipeline has drained).
    pub fn stop(self) {
        if let Some(validating) = self.validating {
            validating.runtime.shutdown_background();
        }
    }
}

/// Forgets what the follower reports, as it reports it.
async fn forget_closed(forgetter: Forgetter, mut incoming: mpsc::Receiver<TipReport>) {
    while let Some(report) = incoming.recv().await {
        for (scid, cause) in &report.closed {
            tracing::info!(short_channel_id = %scid, ?cause, "funding output closed");
        }
        for scid in report.forget {
            forgetter.forget(scid.to_u64(), ForgetCause::Closed).await;
        }
    }
}

/// `/readyz` follows the chain source: not ready, with the reason, while it fails.
async fn health_loop(
    validator: ChainValidator,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        health.set_blocker(HEALTH_PART, validator.health().not_ready_reason());
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Forgets stale channels every quarter of their age (at most every ten minutes), the first
/// time one period after start, so that a node restarted after a long pause has re-synced
/// before it prunes.
async fn prune_loop(
    forgetter: Forgetter,
    stage: Arc<ChainStage>,
    stale_age: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let period = (stale_age / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
        let age = u32::try_from(stale_age.as_secs()).unwrap_or(u32::MAX);
        for short_channel_id in forgetter.prune_stale(unix_now().saturating_sub(age)).await {
            stage.unwatch(short_channel_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::MemoryChain;

    #[test]
    fn the_block_cache_options_reach_the_validator_and_are_exported() {
        let settings = ChainSettings {
            block_cache_blocks: 9,
            block_cache_bytes_cap: 3 << 20,
            ..ChainSettings::default()
        };
        let metrics = Metrics::new(1).expect("metrics");
        let health = Health::default();
        let source: Arc<dyn ChainSource> = Arc::new(MemoryChain::new(0));
        let runtime =
            ChainRuntime::start(&settings, Some(source), &metrics, &health).expect("chain");
        let text = metrics.render();
        for series in [
            "gossip_sieve_limit{name=\"chain_block_cache_blocks\"} 9",
            "gossip_sieve_limit{name=\"chain_block_cache_bytes\"} 3145728",
        ] {
            assert!(text.contains(series), "missing {series}");
        }
        runtime.stop();
    }
}
