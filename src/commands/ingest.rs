//! The harness `replay` and `demo` share: start the metrics exporter and the pipeline inside an
//! actix system, run every peer's feed concurrently, wait until nothing is in flight, and
//! summarise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::summary::RunSummary;
use crate::config::PipelineConfig;
use crate::graph::Graph;
use crate::metrics::{self, Health, Metrics};
use crate::peer::{feed, FrameIter};
use crate::pipeline::Pipeline;
use crate::store::{StoreConfig, StoreHandle};
use crate::wire::GossipKind;

pub struct IngestOptions {
    pub config: PipelineConfig,
    pub metrics_addr: Option<SocketAddr>,
    /// Show a progress bar counting toward this many received messages.
    pub progress_total: Option<u64>,
    /// Persist accepted gossip to `<data_dir>/gossip_store` and load it at start.
    pub data_dir: Option<PathBuf>,
    /// Serve /metrics this long before the first message, so a scraper records the zero
    /// baseline and `rate()` over the run is non-zero.
    pub warmup: Duration,
    /// Keep serving /metrics this long after the summary, so a scraper sees the final values.
    pub linger: Duration,
}

/// What [`ready_to_feed`] reads of the options.
pub struct Feeding {
    metrics_addr: Option<SocketAddr>,
    warmup: Duration,
    progress_total: Option<u64>,
}

impl IngestOptions {
    pub fn feeding(&self) -> Feeding {
        Feeding {
            metrics_addr: self.metrics_addr,
            warmup: self.warmup,
            progress_total: self.progress_total,
        }
    }
}

pub fn run(options: IngestOptions, peers: Vec<FrameIter>) -> anyhow::Result<RunSummary> {
    let system = actix::System::new();
    let summary = system.block_on(run_inside(options, peers));
    actix::System::current().stop();
    summary
}

/// The metrics registry for `options`, and its exporter when an address is configured.
pub async fn start_metrics(
    options: &IngestOptions,
) -> anyhow::Result<(
    Arc<Metrics>,
    Arc<Health>,
    Option<tokio::task::JoinHandle<()>>,
)> {
    let metrics = Arc::new(Metrics::new(options.config.shards.max(1))?);
    let health = Arc::new(Health::default());
    let exporter = match options.metrics_addr {
        Some(addr) => {
            let (bound, task) = metrics::serve(addr, metrics.clone(), health.clone()).await?;
            eprintln!("metrics: http://{bound}/metrics");
            Some(task)
        }
        None => None,
    };
    Ok((metrics, health, exporter))
}

async fn run_inside(options: IngestOptions, peers: Vec<FrameIter>) -> anyhow::Result<RunSummary> {
    let (metrics, health, exporter) = start_metrics(&options).await?;
    let feeding = options.feeding();
    let graph = Arc::new(Graph::new());
    let store = match &options.data_dir {
        Some(dir) => {
            let (store, report) = StoreHandle::open(
                dir,
                graph.clone(),
                metrics.clone(),
                StoreConfig::for_pipeline(&options.config),
            )?;
            // One JSON line on stderr, so scripts and tests can read what the restart found.
            eprintln!("store: {}", serde_json::to_string(&report)?);
            Some(store)
        }
        None => None,
    };
    let pipeline = Pipeline::start_with_store(
        options.config,
        graph,
        metrics.clone(),
        store.as_ref().map(StoreHandle::sender),
    );
    let progress = ready_to_feed(&feeding, &health, &metrics).await;

    let started = Instant::now();
    let feeds: Vec<_> = peers
        .into_iter()
        .map(|frames| actix::spawn(feed(pipeline.sieve.clone(), frames)))
        .collect();
    for handle in feeds {
        let stats = handle.await?;
        if stats.source_errors > 0 {
            tracing::warn!(?stats, "a peer's source ended early");
        }
    }
    pipeline.drained().await;
    let wall = started.elapsed();
    close_progress(progress);
    if let Some(store) = store {
        store.shutdown().await?;
    }
    Ok(summarize_and_stop(&metrics, wall, exporter, options.linger, pipeline).await)
}

/// The start of every offline run's feeding: ready, the warm-up a scraper needs to record the
/// zero baseline (only when /metrics is served), then the progress bar if one was asked for.
pub async fn ready_to_feed(
    options: &Feeding,
    health: &Health,
    metrics: &Arc<Metrics>,
) -> Option<Progress> {
    health.set_ready(true);
    if options.metrics_addr.is_some() && !options.warmup.is_zero() {
        tokio::time::sleep(options.warmup).await;
    }
    options
        .progress_total
        .map(|total| progress_bar(total, metrics.clone()))
}

/// A progress bar from [`progress_bar`] and its ticker task.
pub type Progress = (ProgressBar, tokio::task::JoinHandle<()>);

pub fn close_progress(progress: Option<Progress>) {
    if let Some((bar, ticker)) = progress {
        ticker.abort();
        bar.finish_and_clear();
    }
}

/// The end of every offline run: the summary, metrics kept up for `linger` (so a scraper sees
/// the final values), then the exporter and the shards stopped.
pub async fn summarize_and_stop(
    metrics: &Metrics,
    wall: Duration,
    exporter: Option<tokio::task::JoinHandle<()>>,
    linger: Duration,
    pipeline: Pipeline,
) -> RunSummary {
    let summary = RunSummary::from_metrics(metrics, wall);
    if exporter.is_some() && !linger.is_zero() {
        eprintln!("done; serving metrics for {} s more", linger.as_secs());
        tokio::time::sleep(linger).await;
    }
    if let Some(task) = exporter {
        task.abort();
    }
    pipeline.stop();
    summary
}

pub fn progress_bar(total: u64, metrics: Arc<Metrics>) -> Progress {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} msgs ({per_sec}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let ticker_bar = bar.clone();
    let ticker = actix::spawn(async move {
        loop {
            let received: u64 = GossipKind::ALL
                .iter()
                .map(|k| metrics.kind(*k).received.get())
                .sum();
            let accepted: u64 = GossipKind::ALL
                .iter()
                .map(|k| metrics.kind(*k).accepted.get())
                .sum();
            ticker_bar.set_position(received);
            ticker_bar.set_message(format!(
                "accepted {accepted}, signatures {}",
                metrics.signature_valid.get() + metrics.signature_invalid.get()
            ));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (bar, ticker)
}
