//! `bench-chain`: what chain validation costs, as ratios measured in one run.
//!
//! 1. **Throughput.** The demo (synthetic BOLT 8 peers flooding the generated graph) runs
//!    alternately without and with funding validation through the in-process chain source,
//!    `runs` times each; unique (accepted) messages per second, best of the runs, with ÷
//!    without. Target ≥ 0.95: lookups overlap verification.
//! 2. **Fabricated flood.** `fabricated` validly signed announcements with fresh keys, funding
//!    missing, wrong script or spent, are fed straight into a pipeline validating against the
//!    in-process chain: channels added (target: zero) and resident memory sampled along the
//!    flood, signed a slice at a time so the messages themselves are not held (target: flat once
//!    the flood is past the largest cap of the caches it fills, as they are bounded).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::chain::ChainRuntime;
use super::demo::{self, DemoOptions};
use super::ingest::IngestOptions;
use super::summary::RunSummary;
use crate::chain::ChainSource;
use crate::config::{ChainSettings, PipelineConfig};
use crate::graph::Graph;
use crate::metrics::{Health, Metrics};
use crate::peer::feed;
use crate::pipeline::Pipeline;
use crate::sim::chain::{build_chain, fabricated_fundings, fabricated_range};
use crate::sim::corpus::CorpusSpec;

pub struct BenchChainOptions {
    pub spec: CorpusSpec,
    pub peers: usize,
    pub runs: usize,
    pub fabricated: usize,
    pub cache_dir: std::path::PathBuf,
    pub pipeline: PipelineConfig,
    pub chain: ChainSettings,
}

#[derive(Debug, Serialize)]
pub struct BenchChainReport {
    pub runs: usize,
    /// Accepted messages per second of each run without validation.
    pub unique_per_second_without: Vec<f64>,
    /// The same with validation through the in-process chain.
    pub unique_per_second_with: Vec<f64>,
    /// Best with ÷ best without (target ≥ 0.95).
    pub throughput_ratio: f64,
    /// With ÷ without of each interleaved pair (run i without, then run i with), and the best
    /// of them: on a shared machine a pair's two runs see the closest load.
    pub pair_ratios: Vec<f64>,
    pub best_pair_ratio: f64,
    /// Load average (1 minute) before and after the throughput runs, from /proc/loadavg.
    pub load_average: (f64, f64),
    pub fabricated: usize,
    pub fabricated_channels_added: i64,
    /// Drops of the fabricated announcements by reason.
    pub fabricated_dropped: std::collections::BTreeMap<&'static str, u64>,
    /// Resident memory sampled along the flood: (announcements fed so far, bytes). The flood
    /// is signed a slice at a time, so the baseline holds its chain but not its messages.
    pub rss_series: Vec<(usize, u64)>,
    /// Announcements fed when the last bounded cache filled (the largest cap).
    pub caps_full_after: usize,
    /// RSS growth from the first sample at or past `caps_full_after` to the end (plateau:
    /// ~0; a leak keeps growing).
    pub rss_growth_past_caps_bytes: i64,
}

fn unique_per_second(summary: &RunSummary) -> f64 {
    let accepted: u64 = summary.accepted.values().sum();
    accepted as f64 / summary.wall_seconds.max(1e-9)
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

pub fn run(options: BenchChainOptions) -> anyhow::Result<BenchChainReport> {
    let mut without = Vec::new();
    let mut with = Vec::new();
    let load_before = load_average();
    // `--runs 0`: the flood only.
    for _ in 0..options.runs {
        for validate in [false, true] {
            let summary = demo::run(DemoOptions {
                spec: options.spec,
                peers: options.peers,
                cache_dir: options.cache_dir.clone(),
                chain: validate.then(|| options.chain.clone()),
                ingest: IngestOptions {
                    config: options.pipeline.clone(),
                    metrics_addr: None,
                    progress_total: None,
                    data_dir: None,
                    warmup: Duration::ZERO,
                    linger: Duration::ZERO,
                },
            })?;
            let rate = unique_per_second(&summary);
            eprintln!(
                "run {}: {rate:.0} unique messages/s ({} s)",
                if validate {
                    "with chain"
                } else {
                    "without chain"
                },
                summary.wall_seconds
            );
            if validate {
                with.push(rate);
            } else {
                without.push(rate);
            }
        }
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let throughput_ratio = best(&with) / best(&without).max(1e-9);
    let pair_ratios: Vec<f64> = with
        .iter()
        .zip(&without)
        .map(|(w, wo)| w / wo.max(1e-9))
        .collect();
    let load_average = (load_before, load_average());
    eprintln!(
        "throughput ratio (best with / best without) {throughput_ratio:.3}; pairs {pair_ratios:.3?}; \
         load average {load_average:?}"
    );
    // `--fabricated 0`: the throughput runs only.
    let flood = if options.fabricated > 0 {
        let flood = actix::System::new().block_on(fabricated_flood(&options))?;
        actix::System::current().stop();
        flood
    } else {
        Flood {
            channels_added: 0,
            dropped: Default::default(),
            rss_series: Vec::new(),
            caps_full_after: 0,
        }
    };
    let rss_growth_past_caps_bytes = flood.growth_past(flood.caps_full_after);
    Ok(BenchChainReport {
        runs: options.runs,
        best_pair_ratio: best(&pair_ratios),
        pair_ratios,
        load_average,
        unique_per_second_without: without,
        unique_per_second_with: with,
        throughput_ratio,
        fabricated: options.fabricated,
        fabricated_channels_added: flood.channels_added,
        fabricated_dropped: flood.dropped,
        rss_growth_past_caps_bytes,
        caps_full_after: flood.caps_full_after,
        rss_series: flood.rss_series,
    })
}

struct Flood {
    channels_added: i64,
    dropped: std::collections::BTreeMap<&'static str, u64>,
    rss_series: Vec<(usize, u64)>,
    caps_full_after: usize,
}

impl Flood {
    fn growth_past(&self, fed: usize) -> i64 {
        let start = self.rss_series.iter().find(|(n, _)| *n >= fed);
        match (start, self.rss_series.last()) {
            (Some((_, first)), Some((_, last))) => *last as i64 - *first as i64,
            _ => 0,
        }
    }
}

/// Samples of RSS along the flood.
const RSS_SAMPLES: usize = 20;

async fn fabricated_flood(options: &BenchChainOptions) -> anyhow::Result<Flood> {
    const FIRST_BLOCK: u32 = 700_000;
    const BLOCKS: u32 = 1_000;
    let total = options.fabricated;
    eprintln!("deriving the chain of {total} fabricated announcements ...");
    let source: Arc<dyn ChainSource> = {
        let spoiled = fabricated_fundings(options.spec.seed, FIRST_BLOCK, BLOCKS, 0..total);
        Arc::new(build_chain(&[], &spoiled, 6).into_memory())
    };
    let metrics = Arc::new(Metrics::new(options.pipeline.shards.max(1))?);
    let health = Health::default();
    let chain = ChainRuntime::start(&options.chain, Some(source), &metrics, &health)?;
    let graph = Arc::new(Graph::new());
    let pipeline = Pipeline::start_with_chain(
        options.pipeline.clone(),
        graph.clone(),
        metrics.clone(),
        None,
        Some(chain.stage.clone()),
    );
    // The caches a fabricated announcement can leave an entry in; past the largest cap every
    // one is full, and RSS must stop growing.
    let caps_full_after = options
        .pipeline
        .rejected_cache_cap
        .max(options.pipeline.pubkey_cache_cap)
        .max(
            super::chain::chain_config(&options.chain)
                .validator
                .negative_cache,
        );
    let slice = total.div_ceil(RSS_SAMPLES).max(1);
    let started = Instant::now();
    let mut rss_series = vec![(0, rss_bytes())];
    let mut fed = 0;
    while fed < total {
        let end = (fed + slice).min(total);
        let chain_hash = options.pipeline.network.chain_hash();
        let messages: Vec<Vec<u8>> =
            fabricated_range(options.spec.seed, chain_hash, FIRST_BLOCK, BLOCKS, fed..end)
                .into_iter()
                .map(|f| f.msg)
                .collect();
        feed(pipeline.sieve.clone(), messages.into_iter().map(Ok)).await;
        pipeline.drained().await;
        fed = end;
        let rss = rss_bytes();
        eprintln!(
            "flood: {fed:>7} fabricated fed, RSS {:.1} MB",
            rss as f64 / 1e6
        );
        rss_series.push((fed, rss));
    }
    eprintln!(
        "flood of {total} fabricated announcements in {:.1} s (signing included)",
        started.elapsed().as_secs_f64()
    );
    let summary = RunSummary::from_metrics(&metrics, started.elapsed());
    let dropped = summary
        .dropped
        .get("channel_announcement")
        .cloned()
        .unwrap_or_default();
    chain.release_waiting();
    pipeline.stop();
    chain.stop();
    Ok(Flood {
        channels_added: i64::try_from(graph.channel_count()).unwrap_or(i64::MAX),
        dropped,
        rss_series,
        caps_full_after,
    })
}
