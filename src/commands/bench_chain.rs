//! `bench-chain`: what chain validation costs, as ratios measured in one run.
//!
//! 1. **Throughput.** The demo (synthetic BOLT 8 peers flooding the generated graph) runs
//!    alternately without and with funding validation through the in-process chain source,
//!    `runs` times each; unique (accepted) messages per second, best of the runs, with ÷
//!    without. Target ≥ 0.95: lookups overlap verification.
//! 2. **Fabricated flood.** `fabricated` validly signed announcements with fresh keys, funding
//!    missing, wrong script or spent, are fed straight into a pipeline validating against the
//!    in-process chain: channels added (target: zero) and resident memory after the first tenth
//!    and at the end (target: flat, as the caches and queues are bounded).

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
use crate::sim::chain::{build_chain, fabricated_announcements};
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
    pub fabricated: usize,
    pub fabricated_channels_added: i64,
    /// Drops of the fabricated announcements by reason.
    pub fabricated_dropped: std::collections::BTreeMap<&'static str, u64>,
    /// Resident memory after the first tenth of the flood and at its end.
    pub rss_after_first_tenth_bytes: u64,
    pub rss_at_end_bytes: u64,
}

fn unique_per_second(summary: &RunSummary) -> f64 {
    let accepted: u64 = summary.accepted.values().sum();
    accepted as f64 / summary.wall_seconds.max(1e-9)
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
    for _ in 0..options.runs.max(1) {
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
    let flood = actix::System::new().block_on(fabricated_flood(&options))?;
    actix::System::current().stop();
    Ok(BenchChainReport {
        runs: options.runs.max(1),
        unique_per_second_without: without,
        unique_per_second_with: with,
        throughput_ratio,
        fabricated: options.fabricated,
        fabricated_channels_added: flood.0,
        fabricated_dropped: flood.1,
        rss_after_first_tenth_bytes: flood.2,
        rss_at_end_bytes: flood.3,
    })
}

type Flood = (i64, std::collections::BTreeMap<&'static str, u64>, u64, u64);

async fn fabricated_flood(options: &BenchChainOptions) -> anyhow::Result<Flood> {
    const FIRST_BLOCK: u32 = 700_000;
    const BLOCKS: u32 = 1_000;
    eprintln!(
        "signing {} fabricated announcements ...",
        options.fabricated
    );
    let fabricated = fabricated_announcements(
        options.spec.seed,
        options.pipeline.network.chain_hash(),
        FIRST_BLOCK,
        BLOCKS,
        options.fabricated,
    );
    let spoiled: Vec<_> = fabricated.iter().map(|f| (f.funding, f.how)).collect();
    let source: Arc<dyn ChainSource> = Arc::new(build_chain(&[], &spoiled, 6).into_memory());
    let messages: Vec<Vec<u8>> = fabricated.into_iter().map(|f| f.msg).collect();
    drop(spoiled);
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
    let tenth = (messages.len() / 10).max(1);
    let started = Instant::now();
    let mut rss_first_tenth = 0;
    for (i, chunk) in messages.chunks(tenth).enumerate() {
        let frames = chunk.iter().cloned().map(Ok);
        feed(pipeline.sieve.clone(), frames).await;
        pipeline.drained().await;
        if i == 0 {
            rss_first_tenth = rss_bytes();
        }
    }
    let rss_end = rss_bytes();
    eprintln!(
        "flood of {} fabricated announcements in {:.1} s",
        messages.len(),
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
    Ok((
        i64::try_from(graph.channel_count()).unwrap_or(i64::MAX),
        dropped,
        rss_first_tenth,
        rss_end,
    ))
}
