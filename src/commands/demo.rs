//! `demo`: the embedded default. Generates (or reuses a cached) mainnet-sized signed corpus,
//! floods the node with it from N synthetic peers while serving `/metrics`, then prints the
//! summary. Needs nothing outside this process.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::gen_corpus::write_corpus;
use super::ingest::{self, IngestOptions};
use super::summary::RunSummary;
use crate::peer::{open_frames, FrameIter};
use crate::sim::corpus::CorpusSpec;

/// Timestamps are relative to generation time and the pipeline drops gossip older than two
/// weeks, so a cached corpus is reused for a few days only.
const CORPUS_MAX_AGE: Duration = Duration::from_secs(3 * 24 * 3600);

pub struct DemoOptions {
    pub spec: CorpusSpec,
    pub peers: usize,
    pub cache_dir: PathBuf,
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

pub fn run(mut options: DemoOptions) -> anyhow::Result<RunSummary> {
    let (path, count) = ensure_corpus(&options.spec, &options.cache_dir)?;
    let peers = options.peers.max(1);
    let mut feeds: Vec<FrameIter> = Vec::with_capacity(peers);
    for _ in 0..peers {
        feeds.push(open_frames(&path)?);
    }
    options.ingest.progress_total = Some(count * peers as u64);
    eprintln!("flooding from {peers} synthetic peers ({count} messages each) ...");
    ingest::run(options.ingest, feeds)
}
