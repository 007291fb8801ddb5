//! `demo`: the embedded default. Generates (or reuses a cached) mainnet-sized signed corpus,
//! floods the node with it from N synthetic peers while serving `/metrics`, then prints the
//! summary. The synthetic peers are real BOLT 8 peers on loopback that the node dials through
//! the same dialer and session code as `run`, so the demo exercises what a deployment does.
//! Needs nothing outside this process.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use tokio::sync::watch;

use super::chain::ChainRuntime;
use super::gen_corpus::{write_corpus, write_corpus_with_chain};
use super::ingest::{close_progress, ready_to_feed, summarize_and_stop, IngestOptions};
use super::summary::RunSummary;
use crate::chain::ChainSource;
use crate::chain::MemoryChain;
use crate::config::{ChainSettings, PeerAddr};
use crate::graph::Graph;
use crate::peer::dialer::{dial, DialerConfig};
use crate::peer::identity::NodeIdentity;
use crate::peer::open_frames;
use crate::peer::score::{ScoreBoard, ScoreConfig};
use crate::peer::serve::{ServeConfig, Serving};
use crate::peer::session::{PeerContext, SessionConfig};
use crate::pipeline::forget::Forgetter;
use crate::pipeline::Pipeline;
use crate::sim::chain::SimChain;
use crate::sim::corpus::CorpusSpec;
use crate::sim::peer::{SyntheticConfig, SyntheticPeers};

/// Timestamps are relative to generation time and the pipeline drops gossip older than two
/// weeks, so a cached corpus is reused for a few days only.
const CORPUS_MAX_AGE: Duration = Duration::from_secs(3 * 24 * 3600);

pub struct DemoOptions {
    pub spec: CorpusSpec,
    pub peers: usize,
    pub cache_dir: PathBuf,
    /// Validate funding through the in-process chain source built from the corpus's chain
    /// (`None`: no validation, for comparison).
    pub chain: Option<ChainSettings>,
    pub ingest: IngestOptions,
}

fn corpus_path(dir: &Path, spec: &CorpusSpec) -> PathBuf {
    dir.join(format!(
        "corpus-n{}-c{}-s{}-i{}.gsd",
        spec.nodes,
        spec.channels,
        spec.seed,
        (spec.invalid_rate * 10_000.0).round() as u64
    ))
}

fn is_fresh(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age < CORPUS_MAX_AGE)
}

/// Returns the corpus file for `spec`, generating it if there is no fresh cached copy.
pub fn ensure_corpus(spec: &CorpusSpec, cache_dir: &Path) -> anyhow::Result<(PathBuf, u64)> {
    std::fs::create_dir_all(cache_dir)?;
    let path = corpus_path(cache_dir, spec);
    if is_fresh(&path) {
        let count = open_frames(&path)?.count() as u64;
        eprintln!("using cached corpus {} ({count} messages)", path.display());
        return Ok((path, count));
    }
    eprintln!(
        "generating a signed corpus: {} nodes, {} channels (cached in {}) ...",
        spec.nodes,
        spec.channels,
        path.display()
    );
    let (_, count) = write_corpus(spec, &path)?;
    Ok((path, count))
}

/// The corpus for `spec` with its chain (and fabricated announcements), generating both if
/// there is no fresh cached copy. Returns the corpus path, its message count and the chain.
pub fn ensure_corpus_with_chain(
    spec: &CorpusSpec,
    cache_dir: &Path,
) -> anyhow::Result<(PathBuf, u64, MemoryChain)> {
    std::fs::create_dir_all(cache_dir)?;
    let path = corpus_path(cache_dir, spec).with_extension("chained.gsd");
    let chain_path = path.with_extension("chain");
    if !(is_fresh(&path) && chain_path.exists()) {
        eprintln!(
            "generating a signed corpus and its chain: {} nodes, {} channels (cached in {}) ...",
            spec.nodes,
            spec.channels,
            path.display()
        );
        write_corpus_with_chain(spec, &path, &chain_path)?;
    }
    let count = open_frames(&path)?.count() as u64;
    let chain = SimChain::read_into_memory(&mut std::io::BufReader::new(std::fs::File::open(
        &chain_path,
    )?))?;
    eprintln!(
        "corpus {} ({count} messages), chain to height {}",
        path.display(),
        chain.tip_now().map_or(0, |tip| tip.height)
    );
    Ok((path, count, chain))
}

pub fn run(mut options: DemoOptions) -> anyhow::Result<RunSummary> {
    let (path, count, chain) = match &options.chain {
        Some(_) => {
            let (path, count, chain) = ensure_corpus_with_chain(&options.spec, &options.cache_dir)?;
            (path, count, Some(chain))
        }
        None => {
            let (path, count) = ensure_corpus(&options.spec, &options.cache_dir)?;
            (path, count, None)
        }
    };
    // In-process chain source: the memory backend, named as such in metrics and logs.
    let chain = match (options.chain.take(), chain) {
        (Some(settings), Some(chain)) => {
            let source: Arc<dyn ChainSource> = Arc::new(chain);
            Some((settings, source))
        }
        _ => None,
    };
    let peers = options.peers.max(1);
    let chain_hash = options.ingest.config.network.chain_hash();
    let synthetic = SyntheticPeers::start(peers, &path, SyntheticConfig::new(chain_hash))?;
    options.ingest.progress_total = Some(count * peers as u64);
    eprintln!("flooding from {peers} synthetic BOLT 8 peers ({count} messages each) ...");
    let addresses = synthetic.addresses().to_vec();
    let system = actix::System::new();
    let summary = system.block_on(run_inside(options.ingest, addresses, chain));
    actix::System::current().stop();
    for result in synthetic.join() {
        if let Err(err) = result {
            tracing::warn!(%err, "a synthetic peer failed");
        }
    }
    summary
}

async fn run_inside(
    options: IngestOptions,
    peers: Vec<PeerAddr>,
    chain: Option<(ChainSettings, Arc<dyn ChainSource>)>,
) -> anyhow::Result<RunSummary> {
    let (metrics, health, exporter) = super::ingest::start_metrics(&options).await?;
    let feeding = options.feeding();
    // The synthetic peers are the demo's configured peers: each gets its propagation label.
    let configured: Vec<[u8; 33]> = peers.iter().map(|p| p.node_id.serialize()).collect();
    metrics.propagation.label_peers(&configured);
    let chain_hash = options.config.network.chain_hash();
    let graph = Arc::new(Graph::new());
    let (chain_stop, chain_shutdown) = watch::channel(false);
    let chain = match chain {
        Some((settings, source)) => {
            eprintln!("validating funding outputs through the in-process chain source (memory)");
            let mut chain = ChainRuntime::start(&settings, Some(source), &metrics, &health)?;
            let forgetter = Forgetter::new(graph.clone(), metrics.clone(), None)?;
            let watchers = chain.spawn_watchers(forgetter, health.clone(), None, chain_shutdown);
            Some((chain, watchers))
        }
        None => None,
    };
    let pipeline = Pipeline::start_with_chain(
        options.config,
        graph,
        metrics.clone(),
        None,
        chain.as_ref().map(|(c, _)| c.stage.clone()),
    );
    let ctx = Arc::new(PeerContext {
        identity: Arc::new(NodeIdentity::random()),
        sieve: pipeline.sieve.clone(),
        metrics: metrics.clone(),
        session: SessionConfig {
            // The synthetic peers are ours and local: no pacing, the point is throughput.
            inbound_bytes_per_sec: 0,
            ..SessionConfig::new(chain_hash)
        },
        // Their corpus carries invalid messages on purpose (to show every drop reason); they
        // stand for a noisy network, not for peers to disconnect or ban.
        scores: Mutex::new(ScoreBoard::in_memory(ScoreConfig {
            disconnect_threshold: f64::INFINITY,
            ban_threshold: f64::INFINITY,
            ..ScoreConfig::default()
        })),
        // The demo keeps no store: nothing to serve.
        serving: Serving::new(ServeConfig::default(), None, &metrics)?,
    });
    let progress = ready_to_feed(&feeding, &health, &metrics).await;

    let started = Instant::now();
    // Never signalled: each one-shot dialer ends when its synthetic peer has sent everything.
    let (_stop, shutdown) = watch::channel(false);
    let dialer = DialerConfig {
        reconnect: false,
        ..DialerConfig::default()
    };
    let dialers: Vec<_> = peers
        .into_iter()
        .map(|peer| actix::spawn(dial(peer, ctx.clone(), dialer.clone(), shutdown.clone())))
        .collect();
    for handle in dialers {
        let stats = handle.await?;
        if stats.last_reason != Some("remote_closed") {
            tracing::warn!(?stats, "a synthetic peer's session ended abnormally");
        }
    }
    if let Some((chain, _)) = &chain {
        chain.release_waiting();
    }
    pipeline.drained().await;
    let wall = started.elapsed();
    close_progress(progress);
    let summary = summarize_and_stop(&metrics, wall, exporter, options.linger, pipeline).await;
    let _ = chain_stop.send(true);
    if let Some((chain, watchers)) = chain {
        for watcher in watchers {
            let _ = watcher.await;
        }
        chain.stop();
    }
    Ok(summary)
}
