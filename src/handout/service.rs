//! The snapshot service: builds a [`Generation`] (the model, and the full v1 and v2 snapshots)
//! from the live graph and the store, on an interval and on demand, and answers snapshot
//! requests from it. Full snapshots are served from the generation, never rebuilt per request;
//! an incremental one (`since` > 0) is serialized from the generation's model, which is cheap
//! next to reading the store, and at most [`MAX_CONCURRENT_INCREMENTALS`] at a time.
//!
//! Builds read the store file from disk, so the store is asked to flush first (the hook a
//! command installs): without it, the last fsync interval of accepted gossip would only appear
//! in the next generation, which is correct but surprising right after a trigger.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{watch, Semaphore};

use super::model::{GraphModel, Selection};
use super::rgs::{serialize, RgsVersion, SnapshotCounts};
use crate::clock::unix_now;
use crate::graph::Graph;
use crate::metrics::Metrics;
use crate::pipeline::chain_stage::ChainStage;
use crate::store::first_seen::FirstSeen;
use crate::store::STORE_FILE;

/// Incremental snapshots serialized at once; more requests wait (each takes a few ms of CPU
/// at mainnet size, and the HTTP listener's connection cap bounds the waiters).
pub const MAX_CONCURRENT_INCREMENTALS: usize = 2;

/// Runs before each build; the store's flush in `run`.
pub type BeforeBuild =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static>;

/// One build: what every snapshot and API answer until the next is computed from.
pub struct Generation {
    pub model: Arc<GraphModel>,
    /// Unix time of the build; the snapshots' `latest_seen`.
    pub built_at: u32,
    full_v1: Bytes,
    full_v2: Bytes,
    pub counts: SnapshotCounts,
    pub build_time: Duration,
}

impl Generation {
    pub fn full(&self, version: RgsVersion) -> Bytes {
        match version {
            RgsVersion::V1 => self.full_v1.clone(),
            RgsVersion::V2 => self.full_v2.clone(),
        }
    }
}

/// The snapshot series live in the core registry (every command exports them, zeroed at start).
type HandoutMetrics = crate::metrics::registry::RgsMetrics;

/// Builds and holds snapshot generations.
pub struct Handout {
    graph: Arc<Graph>,
    store_path: PathBuf,
    chain_hash: [u8; 32],
    first_seen: Arc<Mutex<FirstSeen>>,
    current: RwLock<Option<Arc<Generation>>>,
    before_build: OnceLock<BeforeBuild>,
    /// Where the funding outpoints of validated channels are known (LND's `chan_point`).
    chain: OnceLock<Arc<ChainStage>>,
    /// One build at a time (the periodic one and triggers).
    building: tokio::sync::Mutex<()>,
    incrementals: Semaphore,
    metrics: Option<HandoutMetrics>,
}

impl Handout {
    /// A service over the store in `data_dir` (its first-seen side file is loaded from there).
    pub fn open(
        data_dir: &std::path::Path,
        graph: Arc<Graph>,
        chain_hash: [u8; 32],
        metrics: Option<&Metrics>,
    ) -> anyhow::Result<Self> {
        Ok(Handout {
            graph,
            store_path: data_dir.join(STORE_FILE),
            chain_hash,
            first_seen: Arc::new(Mutex::new(FirstSeen::open(data_dir)?)),
            current: RwLock::new(None),
            before_build: OnceLock::new(),
            chain: OnceLock::new(),
            building: tokio::sync::Mutex::new(()),
            incrementals: Semaphore::new(MAX_CONCURRENT_INCREMENTALS),
            metrics: metrics.map(|m| m.rgs.clone()),
        })
    }

    /// Installs what runs before each build (the store's flush), once the store is open.
    pub fn set_before_build(&self, hook: BeforeBuild) {
        let _ = self.before_build.set(hook);
    }

    /// Installs the chain stage whose validated channels' funding outpoints the graph API
    /// shows (once, at start).
    pub fn set_chain(&self, stage: Arc<ChainStage>) {
        let _ = self.chain.set(stage);
    }

    pub fn chain_hash(&self) -> [u8; 32] {
        self.chain_hash
    }

    /// The newest generation, if one was built.
    pub fn current(&self) -> Option<Arc<Generation>> {
        self.current.read().clone()
    }

    /// Builds a new generation now and makes it current. Its `latest_seen` is strictly after
    /// the previous one's (a client gives an update the snapshot's time, and ignores one whose
    /// time equals what it has), so this waits for the clock's next second if needed.
    pub async fn rebuild(self: &Arc<Self>) -> anyhow::Result<Arc<Generation>> {
        let _one_at_a_time = self.building.lock().await;
        if let Some(flush) = self.before_build.get() {
            flush().await;
        }
        let previous = self.current().map_or(0, |g| g.built_at);
        while unix_now() <= previous {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let built_at = unix_now();
        let service = self.clone();
        let generation = tokio::task::spawn_blocking(move || service.build(built_at)).await??;
        let generation = Arc::new(generation);
        if let Some(m) = &self.metrics {
            m.latest_seen.set(i64::from(built_at));
            m.build_seconds.observe(generation.build_time.as_secs_f64());
            m.channels
                .set(i64::try_from(generation.model.channels.len()).unwrap_or(i64::MAX));
            for (label, version) in [("1", RgsVersion::V1), ("2", RgsVersion::V2)] {
                m.snapshot_bytes
                    .with_label_values(&[label])
                    .set(i64::try_from(generation.full(version).len()).unwrap_or(i64::MAX));
            }
        }
        *self.current.write() = Some(generation.clone());
        Ok(generation)
    }

    fn build(&self, built_at: u32) -> anyhow::Result<Generation> {
        let started = Instant::now();
        let mut model = match std::fs::File::open(&self.store_path) {
            Ok(file) => GraphModel::from_store(file, Selection::Live(&self.graph))?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => GraphModel::default(),
            Err(err) => return Err(err.into()),
        };
        if let Some(stage) = self.chain.get() {
            for (scid, channel) in model.channels.iter_mut() {
                channel.funding_outpoint = stage.funding_outpoint(*scid).map(|o| o.to_string());
            }
        }
        {
            let mut first_seen = self.first_seen.lock();
            model.assign_seen(&mut first_seen, built_at);
            first_seen.commit()?;
        }
        let (full_v1, _) = serialize(&model, &self.chain_hash, 0, built_at, RgsVersion::V1);
        let (full_v2, counts) = serialize(&model, &self.chain_hash, 0, built_at, RgsVersion::V2);
        let build_time = started.elapsed();
        tracing::info!(
            ?counts,
            v1_bytes = full_v1.len(),
            v2_bytes = full_v2.len(),
            ms = build_time.as_millis() as u64,
            "rgs: snapshot generation built"
        );
        Ok(Generation {
            model: Arc::new(model),
            built_at,
            full_v1: Bytes::from(full_v1),
            full_v2: Bytes::from(full_v2),
            counts,
            build_time,
        })
    }

    /// The snapshot for a client that last synced at `since` (0: a full one), from the current
    /// generation; `None` before the first build.
    pub async fn snapshot(&self, version: RgsVersion, since: u32) -> Option<Bytes> {
        let generation = self.current()?;
        if since == 0 {
            return Some(generation.full(version));
        }
        let _permit = self.incrementals.acquire().await.ok()?;
        let chain_hash = self.chain_hash;
        tokio::task::spawn_blocking(move || {
            let (bytes, _) = serialize(
                &generation.model,
                &chain_hash,
                since,
                generation.built_at,
                version,
            );
            Bytes::from(bytes)
        })
        .await
        .ok()
    }

    /// Builds a generation now and then every `interval` until `shutdown` turns true.
    pub async fn run_periodic(
        self: Arc<Self>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if let Err(err) = self.rebuild().await {
                tracing::warn!(%err, "rgs: snapshot build failed; the previous one stays served");
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}
