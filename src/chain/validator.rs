//! The funding validator the pipeline calls after a channel_announcement's signatures verified
//! and before the channel is applied (so nobody can use us as a free oracle with unsigned junk).
//!
//! - **Admission with backpressure.** [`ChainValidator::admit`] is an `await` on a semaphore
//!   sized `lookup_queue`: when that many lookups are in flight the caller waits, exactly as a
//!   peer session waits for a shard mailbox slot, and its socket stops being read.
//! - **Never waits on a shard thread.** [`ChainValidator::lookup`] is a plain function that
//!   returns a oneshot receiver. An answer that needs no I/O (from the caches, or from an
//!   in-process source) is given at once, on the calling thread; anything that has to wait for
//!   the source continues on the runtime handle the validator was built with, and the verifier
//!   shard goes on verifying meanwhile.
//! - **One block fetch for many channels.** Block outputs are cached (bounded in blocks and
//!   bytes), and concurrent lookups of one block share one fetch.
//! - **Negative cache.** Claims rejected for a reason only a reorg can change are remembered
//!   (bounded) and answered without asking the source.
//! - **Parking.** A claim not yet deep enough, or asked while the source is down, waits
//!   (bounded in count) and is retried as blocks arrive or when the source answers again; the
//!   caller simply gets its answer later. Nothing is ever accepted without the chain's word.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::BlockHash;
use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::sync::{oneshot, OnceCell, OwnedSemaphorePermit, Semaphore};

use super::cache::{BlockCache, NegativeCache};
use super::error::ChainError;
use super::funding::{check_output, confirmations, FundingClaim, FundingOutput, FundingRejection};
use super::metrics::ChainMetrics;
use super::source::{BackendKind, BlockOutputs, ChainSource, ChainTip};

/// The validator's bounds and rules (see [`super::config::ChainConfig`] for defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorConfig {
    /// Confirmations a funding output needs (BOLT 7: six).
    pub min_depth: u32,
    /// Lookups admitted at once.
    pub lookup_queue: usize,
    /// Blocks whose outputs are cached (0 disables the block cache).
    pub block_cache_blocks: usize,
    /// Approximate bytes the block cache may hold.
    pub block_cache_bytes: usize,
    /// Rejected claims remembered.
    pub negative_cache: usize,
    /// Claims that may wait for depth or for the source.
    pub parked: usize,
    /// A claim still unconfirmed this many blocks after it parked is rejected.
    pub park_max_blocks: u32,
    /// A claim waiting this long for an unreachable source is answered `Unavailable`.
    pub park_max_wait: Duration,
    /// A tip younger than this is reused instead of asked again.
    pub tip_refresh: Duration,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        ValidatorConfig {
            min_depth: 6,
            lookup_queue: 1024,
            block_cache_blocks: 64,
            block_cache_bytes: 64 * 1024 * 1024,
            negative_cache: 50_000,
            parked: 10_000,
            park_max_blocks: 144,
            park_max_wait: Duration::from_secs(600),
            tip_refresh: Duration::from_secs(1),
        }
    }
}

/// The answer to one lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupOutcome {
    /// The funding output backs the channel: store `amount_sat` in `channel_amount`, and
    /// watch `outpoint` for the close.
    Accepted(FundingOutput),
    /// Drop the announcement under `rejection.as_str()`.
    Rejected(FundingRejection),
    /// The source could not answer and the claim could not wait longer (parking full or the
    /// wait expired). Not accepted, not proven fabricated: the peer relayed it in good faith.
    Unavailable(ChainError),
}

/// Where the funding of a channel loaded from the store stands now ([`ChainValidator::recheck`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recheck {
    /// Still there and unspent: watch `outpoint` for the close.
    Unspent(FundingOutput),
    /// There, but spent while we were not watching: the channel is closing.
    Spent(FundingOutput),
    /// Not found, or not this channel's script: the channel should never have been there.
    Rejected(FundingRejection),
    /// The scid's block is above the source's tip: ask again once the source has caught up.
    AboveTip(ChainTip),
}

/// A slot in the lookup queue; dropping it frees the slot.
pub struct LookupPermit(#[allow(dead_code)] OwnedSemaphorePermit);

/// A lookup's queue slot after its answer: held until dropped (see [`ChainValidator::lookup`]).
pub struct HeldSlot(#[allow(dead_code)] SlotHold);

enum SlotHold {
    /// Answered on the caller's thread: the slot itself.
    Now(#[allow(dead_code)] LookupPermit),
    /// Answered (or parked) on the chain runtime, which hands the slot over with the answer.
    Later(#[allow(dead_code)] oneshot::Receiver<LookupPermit>),
    /// Parked at once: the slot went back.
    Released,
}

/// What `/readyz` and operators need to know about the chain source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHealth {
    pub backend: BackendKind,
    pub last_error: Option<ChainError>,
    pub tip: Option<ChainTip>,
    pub tip_age: Option<Duration>,
    pub parked: usize,
}

impl ChainHealth {
    /// `Some(reason)` while the node must report not ready: the source is failing, or has
    /// never answered.
    pub fn not_ready_reason(&self) -> Option<String> {
        match (&self.last_error, &self.tip) {
            (Some(e), _) => Some(format!(
                "chain source {} failing: {e}",
                self.backend.as_str()
            )),
            (None, None) => Some(format!(
                "chain source {} not reached yet",
                self.backend.as_str()
            )),
            (None, Some(_)) => None,
        }
    }
}

enum ParkReason {
    Unconfirmed,
    Unavailable(ChainError),
}

struct Parked {
    claim: FundingClaim,
    reply: oneshot::Sender<LookupOutcome>,
    /// Retry once the tip reaches this height (unconfirmed claims).
    ready_height: u32,
    give_up_height: u32,
    give_up_at: Instant,
    reason: ParkReason,
}

/// A block (whole-block backends) or one transaction of it (Esplora) being fetched.
type FetchKey = (BlockHash, Option<u32>);

struct SeenTip {
    tip: ChainTip,
    fetched: Instant,
    changed: Instant,
}

struct State {
    tip: Option<SeenTip>,
    hashes: BlockHashCache,
    blocks: BlockCache,
    negative: NegativeCache,
    /// Fetches in flight, shared by concurrent lookups of one block (or one Esplora tx).
    inflight: HashMap<FetchKey, Arc<OnceCell<Arc<BlockOutputs>>>>,
    parked: Vec<Parked>,
    last_error: Option<ChainError>,
}

/// Recent height → hash answers, dropped above a reorg's fork point.
struct BlockHashCache {
    map: lru::LruCache<u32, BlockHash>,
}

impl BlockHashCache {
    fn new(cap: usize) -> Self {
        BlockHashCache {
            map: lru::LruCache::new(
                std::num::NonZeroUsize::new(cap.max(1)).unwrap_or(std::num::NonZeroUsize::MIN),
            ),
        }
    }

    fn forget_from(&mut self, height: u32) {
        let stale: Vec<u32> = self
            .map
            .iter()
            .map(|(h, _)| *h)
            .filter(|h| *h >= height)
            .collect();
        for h in stale {
            self.map.pop(&h);
        }
    }
}

struct Inner {
    source: Arc<dyn ChainSource>,
    config: ValidatorConfig,
    metrics: ChainMetrics,
    queue: Arc<Semaphore>,
    runtime: Handle,
    state: Mutex<State>,
    retrying: AtomicBool,
}

/// The funding validator; cheap to clone (one shared state).
#[derive(Clone)]
pub struct ChainValidator {
    inner: Arc<Inner>,
}

/// Outcome of the pure rule before parking decisions.
type Resolved = Result<FundingOutput, FundingRejection>;

impl ChainValidator {
    /// `runtime` runs every lookup; give it a multi-threaded runtime that is not a shard's.
    pub fn new(
        source: Arc<dyn ChainSource>,
        config: ValidatorConfig,
        metrics: ChainMetrics,
        runtime: Handle,
    ) -> Self {
        metrics.queue_capacity.set(config.lookup_queue as i64);
        metrics.parked_capacity.set(config.parked as i64);
        let state = State {
            tip: None,
            hashes: BlockHashCache::new(config.block_cache_blocks.max(16) * 4),
            blocks: BlockCache::new(config.block_cache_blocks, config.block_cache_bytes),
            negative: NegativeCache::new(config.negative_cache),
            inflight: HashMap::new(),
            parked: Vec::new(),
            last_error: None,
        };
        ChainValidator {
            inner: Arc::new(Inner {
                queue: Arc::new(Semaphore::new(config.lookup_queue.max(1))),
                source,
                config,
                metrics,
                runtime,
                state: Mutex::new(state),
                retrying: AtomicBool::new(false),
            }),
        }
    }

    pub fn metrics(&self) -> &ChainMetrics {
        &self.inner.metrics
    }

    pub fn source(&self) -> &Arc<dyn ChainSource> {
        &self.inner.source
    }

    /// The block cache's caps, (blocks, bytes), for export as limits.
    pub fn block_cache_caps(&self) -> (usize, usize) {
        self.inner.state.lock().blocks.caps()
    }

    /// The runtime lookups run on (chain work belongs there, off the threads serving peers).
    pub fn runtime(&self) -> &Handle {
        &self.inner.runtime
    }

    /// Waits for a slot in the lookup queue (backpressure).
    pub async fn admit(&self) -> LookupPermit {
        let permit = Arc::clone(&self.inner.queue)
            .acquire_owned()
            .await
            .expect("the validator never closes its semaphore");
        LookupPermit(permit)
    }

    /// A slot if one is free now.
    pub fn try_admit(&self) -> Option<LookupPermit> {
        Arc::clone(&self.inner.queue)
            .try_acquire_owned()
            .ok()
            .map(LookupPermit)
    }

    /// Starts a lookup on the validator's runtime; never blocks the calling thread. The
    /// receiver resolves once, possibly much later for a parked claim.
    ///
    /// A claim answered at once hands its queue slot over with the answer ([`HeldSlot`]): the
    /// slot stays taken until the caller has acted on the answer and drops it, so the queue
    /// bounds announcements from admission until they are applied, and with them the updates
    /// that wait (parked as orphans) for them. A parked claim gives its slot back at once:
    /// parked ones have their own cap.
    ///
    /// The lookup is polled once on the calling thread, inside the validator's runtime (so any
    /// I/O it starts belongs to that runtime): when the caches or an in-process source answer
    /// without waiting, the answer is in the receiver when this returns, and no thread is woken
    /// for it. A hop to the chain runtime and back cost two thread wake-ups per channel, more
    /// than the lookup itself (`gossip-sieve bench-chain`). Whatever waits on the source (a
    /// block fetch, `gettxout`) continues on the runtime.
    pub fn lookup(
        &self,
        permit: LookupPermit,
        claim: FundingClaim,
    ) -> (oneshot::Receiver<LookupOutcome>, HeldSlot) {
        let (reply, answer) = oneshot::channel();
        self.inner.metrics.queue_depth.inc();
        let started = Instant::now();
        let this = self.clone();
        // Unconstrained: tokio's cooperative budget (spent by the calling thread's other work)
        // must not turn a ready answer into a pending one.
        let mut resolving = Box::pin(tokio::task::unconstrained(async move {
            this.resolve(&claim).await
        }));
        let first = {
            let _runtime = self.inner.runtime.enter();
            resolving
                .as_mut()
                .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        };
        if let std::task::Poll::Ready(resolved) = first {
            self.inner.metrics.queue_depth.dec();
            let tip = self.cached_tip();
            let hold = if self.finish(resolved, claim, reply, started, tip, None) {
                SlotHold::Now(permit)
            } else {
                SlotHold::Released
            };
            return (answer, HeldSlot(hold));
        }
        let (hand_over, held) = oneshot::channel();
        let this = self.clone();
        self.inner.runtime.spawn(async move {
            // Polled again here with a real waker: the Future contract wakes only the latest.
            let resolved = resolving.await;
            this.inner.metrics.queue_depth.dec();
            let tip = this.cached_tip();
            if this.finish(resolved, claim, reply, started, tip, None) {
                // Answered: the caller holds the slot until it drops its `HeldSlot` (if it
                // already has, or is gone, the send fails and the slot is freed here).
                let _ = hand_over.send(permit);
            }
        });
        (answer, HeldSlot(SlotHold::Later(held)))
    }

    /// Admits, looks up and waits for the answer.
    pub async fn validate(&self, claim: FundingClaim) -> LookupOutcome {
        let permit = self.admit().await;
        let (answer, _slot) = self.lookup(permit, claim);
        answer.await.unwrap_or_else(|_| {
            LookupOutcome::Unavailable(ChainError::Unreachable("validator stopped".into()))
        })
    }

    /// Re-checks the funding of a channel loaded from the store (accepted by an earlier run),
    /// on the validator's runtime like [`Self::lookup`] and through the same caches, but
    /// without taking a slot of the lookup queue (intake keeps all of it) and without parking:
    /// the caller decides what to do with a channel the source cannot answer for yet. Depth is
    /// not asked again (it was six when the channel was accepted; a reorg is the follower's).
    /// The verdict is counted in `gossip_sieve_chain_lookups_total` like any lookup's.
    pub fn recheck(&self, claim: FundingClaim) -> oneshot::Receiver<Result<Recheck, ChainError>> {
        let (reply, answer) = oneshot::channel();
        let this = self.clone();
        self.inner.runtime.spawn(async move {
            let started = Instant::now();
            let result = this.recheck_now(&claim).await;
            let metrics = &this.inner.metrics;
            match &result {
                Ok(Recheck::Unspent(_)) => metrics.count_result(Ok(())),
                Ok(Recheck::Spent(_)) => metrics.count_result(Err(FundingRejection::Spent)),
                Ok(Recheck::Rejected(rejection)) => metrics.count_result(Err(*rejection)),
                Ok(Recheck::AboveTip(_)) | Err(_) => {}
            }
            metrics
                .lookup_seconds
                .with_label_values(&[metrics.backend()])
                .observe(started.elapsed().as_secs_f64());
            let _ = reply.send(result);
        });
        answer
    }

    async fn recheck_now(&self, claim: &FundingClaim) -> Result<Recheck, ChainError> {
        let tip = self.tip().await?;
        if claim.scid.block > tip.height {
            // A lagging (or still syncing) source: not proof of anything.
            return Ok(Recheck::AboveTip(tip));
        }
        let funding = match self.find_output(claim).await? {
            Ok(funding) => funding,
            Err(rejection) => return Ok(Recheck::Rejected(rejection)),
        };
        Ok(if self.is_unspent(&funding).await? {
            Recheck::Unspent(funding)
        } else {
            Recheck::Spent(funding)
        })
    }

    /// Health for `/readyz`.
    pub fn health(&self) -> ChainHealth {
        let state = self.inner.state.lock();
        ChainHealth {
            backend: self.inner.source.kind(),
            last_error: state.last_error.clone(),
            tip: state.tip.as_ref().map(|t| t.tip),
            tip_age: state.tip.as_ref().map(|t| t.changed.elapsed()),
            parked: state.parked.len(),
        }
    }

    /// The tip follower saw `tip`: record it and retry parked claims that may now pass.
    pub fn on_tip(&self, tip: ChainTip) {
        self.record_tip(tip);
        self.retry_parked();
    }

    /// The tip follower saw a reorg back to `fork_height`: drop what it may have changed.
    pub fn on_reorg(&self, fork_height: u32) {
        let mut state = self.inner.state.lock();
        state.hashes.forget_from(fork_height.saturating_add(1));
        state.negative.clear();
        self.inner
            .metrics
            .negative_cache_entries
            .set(state.negative.len() as i64);
    }

    /// The tip follower's request failed: the source is down as far as `/readyz` is concerned,
    /// even while no lookup is asking.
    pub fn on_source_error(&self, error: &ChainError) {
        self.note_error(error);
        self.inner.metrics.source_up.set(0);
    }

    /// Answers every parked claim `Unavailable` now (at shutdown: nobody waits for blocks).
    pub fn abandon_parked(&self) {
        let parked = std::mem::take(&mut self.inner.state.lock().parked);
        for claim in parked {
            self.count_unavailable();
            let _ = claim
                .reply
                .send(LookupOutcome::Unavailable(ChainError::Unreachable(
                    "shutting down".into(),
                )));
        }
        self.inner.metrics.parked.set(0);
    }

    /// Retries parked claims now (the follower does this on every poll through `on_tip`).
    pub fn retry_parked(&self) {
        if self.inner.retrying.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        self.inner.runtime.spawn(async move {
            this.retry_parked_now().await;
            this.inner.retrying.store(false, Ordering::Release);
        });
    }

    async fn retry_parked_now(&self) {
        let tip = match self.tip().await {
            Ok(tip) => tip,
            Err(_) => {
                self.expire_parked(None);
                return;
            }
        };
        self.expire_parked(Some(tip));
        let due: Vec<Parked> = {
            let mut state = self.inner.state.lock();
            let (due, waiting): (Vec<Parked>, Vec<Parked>) = std::mem::take(&mut state.parked)
                .into_iter()
                .partition(|p| match p.reason {
                    ParkReason::Unconfirmed => tip.height >= p.ready_height,
                    ParkReason::Unavailable(_) => true,
                });
            state.parked = waiting;
            due
        };
        for parked in due {
            let resolved = self.resolve(&parked.claim).await;
            let Parked { claim, reply, .. } = parked;
            let bounds = (parked.give_up_height, parked.give_up_at);
            let _answered = self.finish(
                resolved,
                claim,
                reply,
                Instant::now(),
                Some(tip),
                Some(bounds),
            );
        }
        self.inner
            .metrics
            .parked
            .set(self.inner.state.lock().parked.len() as i64);
    }

    /// Answers parked claims whose wait is over.
    fn expire_parked(&self, tip: Option<ChainTip>) {
        let now = Instant::now();
        let expired: Vec<Parked> = {
            let mut state = self.inner.state.lock();
            let (expired, waiting): (Vec<Parked>, Vec<Parked>) = std::mem::take(&mut state.parked)
                .into_iter()
                .partition(|p| match p.reason {
                    ParkReason::Unconfirmed => tip.is_some_and(|t| t.height >= p.give_up_height),
                    ParkReason::Unavailable(_) => now >= p.give_up_at,
                });
            state.parked = waiting;
            expired
        };
        for parked in expired {
            let outcome = match parked.reason {
                ParkReason::Unconfirmed => {
                    self.inner
                        .metrics
                        .count_result(Err(FundingRejection::Unconfirmed));
                    LookupOutcome::Rejected(FundingRejection::Unconfirmed)
                }
                ParkReason::Unavailable(e) => {
                    self.count_unavailable();
                    LookupOutcome::Unavailable(e)
                }
            };
            let _ = parked.reply.send(outcome);
        }
    }

    fn count_unavailable(&self) {
        self.inner
            .metrics
            .lookups
            .with_label_values(&[self.inner.metrics.backend(), "error"])
            .inc();
    }

    /// Answers (true), or parks a claim that may pass later (false). `bounds` carries a
    /// re-parked claim's original deadlines so retries cannot extend its wait.
    fn finish(
        &self,
        resolved: Result<Resolved, ChainError>,
        claim: FundingClaim,
        reply: oneshot::Sender<LookupOutcome>,
        started: Instant,
        tip: Option<ChainTip>,
        bounds: Option<(u32, Instant)>,
    ) -> bool {
        let metrics = &self.inner.metrics;
        let config = &self.inner.config;
        let answer = |reply: oneshot::Sender<LookupOutcome>, outcome: LookupOutcome| {
            metrics
                .lookup_seconds
                .with_label_values(&[metrics.backend()])
                .observe(started.elapsed().as_secs_f64());
            let _ = reply.send(outcome);
        };
        let reason = match resolved {
            Ok(Ok(output)) => {
                metrics.count_result(Ok(()));
                answer(reply, LookupOutcome::Accepted(output));
                return true;
            }
            Ok(Err(FundingRejection::Unconfirmed)) => ParkReason::Unconfirmed,
            Ok(Err(rejection)) => {
                metrics.count_result(Err(rejection));
                answer(reply, LookupOutcome::Rejected(rejection));
                return true;
            }
            Err(e) => ParkReason::Unavailable(e),
        };
        let tip_height = tip.map_or(0, |t| t.height);
        let (give_up_height, give_up_at) = bounds.unwrap_or((
            tip_height.saturating_add(config.park_max_blocks),
            Instant::now() + config.park_max_wait,
        ));
        let mut state = self.inner.state.lock();
        if state.parked.len() >= config.parked {
            drop(state);
            // Full: answer now rather than grow. The claim is not accepted either way.
            match reason {
                ParkReason::Unconfirmed => {
                    metrics.count_result(Err(FundingRejection::Unconfirmed));
                    answer(
                        reply,
                        LookupOutcome::Rejected(FundingRejection::Unconfirmed),
                    );
                }
                ParkReason::Unavailable(e) => {
                    self.count_unavailable();
                    answer(reply, LookupOutcome::Unavailable(e));
                }
            }
            return true;
        }
        let ready_height = claim
            .scid
            .block
            .saturating_add(config.min_depth.saturating_sub(1));
        state.parked.push(Parked {
            claim,
            reply,
            ready_height,
            give_up_height,
            give_up_at,
            reason,
        });
        metrics.parked.set(state.parked.len() as i64);
        false
    }

    fn cached_tip(&self) -> Option<ChainTip> {
        self.inner.state.lock().tip.as_ref().map(|t| t.tip)
    }

    fn record_tip(&self, tip: ChainTip) {
        let now = Instant::now();
        let mut state = self.inner.state.lock();
        let changed = match &state.tip {
            Some(seen) if seen.tip == tip => seen.changed,
            Some(seen) => {
                // A new tip may replace a few recent blocks; deeper reorgs come through
                // `on_reorg` from the follower.
                let from = seen.tip.height.min(tip.height).saturating_sub(6);
                state.hashes.forget_from(from);
                now
            }
            None => now,
        };
        state.tip = Some(SeenTip {
            tip,
            fetched: now,
            changed,
        });
        state.last_error = None;
        drop(state);
        let metrics = &self.inner.metrics;
        metrics.tip_height.set(i64::from(tip.height));
        metrics
            .tip_age_seconds
            .set(now.duration_since(changed).as_secs() as i64);
        metrics.source_up.set(1);
    }

    fn note_error(&self, error: &ChainError) {
        self.inner.metrics.count_error(error);
        self.inner.state.lock().last_error = Some(error.clone());
    }

    /// The tip, reused while younger than `tip_refresh`.
    async fn tip(&self) -> Result<ChainTip, ChainError> {
        {
            let state = self.inner.state.lock();
            if let Some(seen) = &state.tip {
                if state.last_error.is_none()
                    && seen.fetched.elapsed() < self.inner.config.tip_refresh
                {
                    return Ok(seen.tip);
                }
            }
        }
        let was_failing = self.inner.state.lock().last_error.is_some();
        match self.inner.source.tip().await {
            Ok(tip) => {
                let moved = self.cached_tip() != Some(tip);
                self.record_tip(tip);
                if was_failing || moved {
                    self.retry_parked();
                }
                Ok(tip)
            }
            Err(e) => {
                self.note_error(&e);
                Err(e)
            }
        }
    }

    async fn block_hash(&self, height: u32) -> Result<Option<BlockHash>, ChainError> {
        if let Some(hash) = self.inner.state.lock().hashes.map.get(&height) {
            return Ok(Some(*hash));
        }
        let hash = self
            .inner
            .source
            .block_hash(height)
            .await
            .inspect_err(|e| self.note_error(e))?;
        if let Some(hash) = hash {
            self.inner.state.lock().hashes.map.put(height, hash);
        }
        Ok(hash)
    }

    /// The outputs of block `hash` covering `tx_index`, from the cache or one shared fetch.
    async fn block_outputs(
        &self,
        hash: BlockHash,
        tx_index: u32,
    ) -> Result<Arc<BlockOutputs>, ChainError> {
        let per_tx = self.inner.source.kind() == BackendKind::Esplora;
        let cell = {
            let mut state = self.inner.state.lock();
            if let Some(cached) = state.blocks.get(&hash) {
                if cached.tx(tx_index).is_ok() {
                    self.inner.metrics.cache("block", true);
                    return Ok(cached);
                }
            }
            self.inner.metrics.cache("block", false);
            let key = (hash, per_tx.then_some(tx_index));
            Arc::clone(state.inflight.entry(key).or_default())
        };
        let key = (hash, per_tx.then_some(tx_index));
        let result = cell
            .get_or_try_init(|| async {
                let fetched = self
                    .inner
                    .source
                    .block_outputs(hash, tx_index)
                    .await
                    .inspect_err(|e| self.note_error(e))?;
                let mut state = self.inner.state.lock();
                let merged = state.blocks.insert(hash, fetched);
                self.inner
                    .metrics
                    .block_cache_bytes
                    .set(state.blocks.bytes() as i64);
                self.inner
                    .metrics
                    .block_cache_entries
                    .set(state.blocks.len() as i64);
                Ok::<_, ChainError>(merged)
            })
            .await
            .cloned();
        self.inner.state.lock().inflight.remove(&key);
        result
    }

    /// Applies the rule, in order of cost: negative cache, height, block, output and script,
    /// depth, spentness.
    async fn resolve(&self, claim: &FundingClaim) -> Result<Resolved, ChainError> {
        let cached = self.inner.state.lock().negative.get(claim);
        self.inner.metrics.cache("negative", cached.is_some());
        if let Some(rejection) = cached {
            return Ok(Err(rejection));
        }
        let resolved = self.resolve_uncached(claim).await?;
        // Above the tip "not found" only means "not yet": a lagging source must not make us
        // remember it.
        let above_tip = self
            .cached_tip()
            .is_none_or(|t| claim.scid.block > t.height);
        if let (Err(rejection), false) = (resolved, above_tip) {
            let mut state = self.inner.state.lock();
            state.negative.insert(*claim, rejection);
            self.inner
                .metrics
                .negative_cache_entries
                .set(state.negative.len() as i64);
        }
        Ok(resolved)
    }

    async fn is_unspent(&self, funding: &FundingOutput) -> Result<bool, ChainError> {
        self.inner
            .source
            .is_unspent(funding.outpoint)
            .await
            .inspect_err(|e| self.note_error(e))
    }

    /// The output the claim's scid names, checked against its keys (at or below the tip).
    async fn find_output(&self, claim: &FundingClaim) -> Result<Resolved, ChainError> {
        let Some(hash) = self.block_hash(claim.scid.block).await? else {
            return Ok(Err(FundingRejection::NotFound));
        };
        let outputs = self.block_outputs(hash, claim.scid.tx_index).await?;
        let tx = outputs.tx(claim.scid.tx_index).map_err(|()| {
            ChainError::Inconsistent(format!(
                "block {hash}: no answer for transaction {}",
                claim.scid.tx_index
            ))
        })?;
        Ok(check_output(claim, tx))
    }

    async fn resolve_uncached(&self, claim: &FundingClaim) -> Result<Resolved, ChainError> {
        let min_depth = self.inner.config.min_depth;
        let tip = self.tip().await?;
        let height = claim.scid.block;
        if height > tip.height {
            // A block the source has not seen. Within `min_depth` of the tip it may be our tip
            // that lags (BOLT 7 lets a node accept an announcement close to six deep): wait.
            // Further out no honest node can have announced it yet.
            return Ok(Err(if height - tip.height < min_depth {
                FundingRejection::Unconfirmed
            } else {
                FundingRejection::NotFound
            }));
        }
        let funding = match self.find_output(claim).await? {
            Ok(funding) => funding,
            Err(rejection) => return Ok(Err(rejection)),
        };
        // BOLT 7 (announcement_signatures): "MUST NOT send `announcement_signatures` messages
        // until `channel_ready` has been sent and received AND the funding transaction has at
        // least six confirmations." An announcement shallower than that is not yet valid.
        if confirmations(height, tip.height) < min_depth {
            return Ok(Err(FundingRejection::Unconfirmed));
        }
        // BOLT 7, channel_announcement, the receiving node: "if the `short_channel_id`'s output
        // ... OR the output is spent: MUST ignore the message."
        if !self.is_unspent(&funding).await? {
            return Ok(Err(FundingRejection::Spent));
        }
        Ok(Ok(funding))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::funding::funding_script_pubkey;
    use crate::chain::memory::{MemoryChain, SparseBlock};
    use crate::wire::scid::ShortChannelId;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, Transaction, TxOut};
    use secp256k1::{PublicKey, Secp256k1, SecretKey};
    use std::sync::atomic::AtomicBool;

    /// Test double: the in-memory chain behind a switch that makes every request fail as an
    /// unreachable node would.
    struct Switchable {
        chain: Arc<MemoryChain>,
        down: AtomicBool,
    }

    impl Switchable {
        fn gate(&self) -> Result<(), ChainError> {
            if self.down.load(Ordering::SeqCst) {
                Err(ChainError::Unreachable("switched off".into()))
            } else {
                Ok(())
            }
        }
    }

    impl ChainSource for Switchable {
        fn kind(&self) -> BackendKind {
            BackendKind::Memory
        }
        fn tip(&self) -> super::super::source::ChainFuture<'_, ChainTip> {
            Box::pin(async move {
                self.gate()?;
                self.chain.tip().await
            })
        }
        fn block_hash(&self, h: u32) -> super::super::source::ChainFuture<'_, Option<BlockHash>> {
            Box::pin(async move {
                self.gate()?;
                self.chain.block_hash(h).await
            })
        }
        fn block_outputs(
            &self,
            hash: BlockHash,
            i: u32,
        ) -> super::super::source::ChainFuture<'_, BlockOutputs> {
            Box::pin(async move {
                self.gate()?;
                self.chain.block_outputs(hash, i).await
            })
        }
        fn is_unspent(&self, o: OutPoint) -> super::super::source::ChainFuture<'_, bool> {
            Box::pin(async move {
                self.gate()?;
                self.chain.is_unspent(o).await
            })
        }
        fn block_spends(
            &self,
            hash: BlockHash,
        ) -> super::super::source::ChainFuture<'_, Option<Vec<OutPoint>>> {
            Box::pin(async move {
                self.gate()?;
                self.chain.block_spends(hash).await
            })
        }
    }

    fn key(n: u8) -> [u8; 33] {
        PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[n; 32]).unwrap())
            .serialize()
    }

    /// Chain from 200 with the funding of 201x1x0 (keys 1, 2); tip 201 (one confirmation).
    fn setup() -> (Arc<Switchable>, FundingClaim) {
        let chain = Arc::new(MemoryChain::new(200));
        chain.push_empty(1);
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![],
            output: vec![TxOut {
                value: Amount::from_sat(77_000),
                script_pubkey: funding_script_pubkey(&key(1), &key(2)).unwrap(),
            }],
        };
        chain.push_block(SparseBlock {
            txs: vec![(1, tx)],
            tx_count: 2,
        });
        let claim = FundingClaim {
            scid: ShortChannelId::new(201, 1, 0).unwrap(),
            bitcoin_key_1: key(1),
            bitcoin_key_2: key(2),
        };
        let source = Arc::new(Switchable {
            chain,
            down: AtomicBool::new(false),
        });
        (source, claim)
    }

    fn validator(source: &Arc<Switchable>, config: ValidatorConfig) -> ChainValidator {
        ChainValidator::new(
            Arc::clone(source) as Arc<dyn ChainSource>,
            ValidatorConfig {
                tip_refresh: Duration::ZERO,
                ..config
            },
            ChainMetrics::unregistered(BackendKind::Memory),
            Handle::current(),
        )
    }

    async fn answer_within(rx: oneshot::Receiver<LookupOutcome>) -> LookupOutcome {
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("answered before the deadline")
            .expect("sender kept")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admission_is_capped() {
        let (source, _) = setup();
        let v = validator(&source, with_lookup_queue(2));
        let a = v.admit().await;
        let _b = v.admit().await;
        assert!(v.try_admit().is_none(), "third slot refused");
        drop(a);
        assert!(v.try_admit().is_some());
    }

    fn with_lookup_queue(slots: usize) -> ValidatorConfig {
        ValidatorConfig {
            lookup_queue: slots,
            ..ValidatorConfig::default()
        }
    }

    /// The in-process source answers without waiting: the answer is there when `lookup`
    /// returns (no hop to the chain runtime and back), and the slot is still held.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answered_lookup_keeps_its_slot_until_the_answer_is_acted_on() {
        let (source, claim) = setup();
        source.chain.push_empty(5);
        let v = validator(&source, with_lookup_queue(1));
        let (mut answer, slot) = v.lookup(v.admit().await, claim);
        assert!(matches!(answer.try_recv(), Ok(LookupOutcome::Accepted(_))));
        // Answered, not yet applied: the announcement still counts against the queue.
        assert!(
            v.try_admit().is_none(),
            "slot held until the answer is acted on"
        );
        drop(slot);
        assert!(v.try_admit().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_parked_lookup_gives_its_slot_back() {
        let (source, claim) = setup();
        let v = validator(&source, with_lookup_queue(1));
        // One confirmation: parked, and parked claims have their own cap.
        let (_answer, _slot) = v.lookup(v.admit().await, claim);
        let slot_back = tokio::time::timeout(Duration::from_secs(30), v.admit())
            .await
            .expect("the parked claim's slot is free again");
        assert_eq!(v.health().parked, 1);
        drop(slot_back);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unconfirmed_waits_then_is_accepted_as_blocks_arrive() {
        let (source, claim) = setup();
        let v = validator(&source, ValidatorConfig::default());
        let (mut rx, _slot) = v.lookup(v.admit().await, claim);
        // Parked: no answer while the funding has one confirmation.
        while v.health().parked == 0 {
            tokio::task::yield_now().await;
        }
        assert!(rx.try_recv().is_err());
        source.chain.push_empty(5); // six confirmations
        v.on_tip(source.chain.tip_now().unwrap());
        match answer_within(rx).await {
            LookupOutcome::Accepted(out) => assert_eq!(out.amount_sat, 77_000),
            other => panic!("{other:?}"),
        }
        assert_eq!(v.health().parked, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parking_is_bounded() {
        let (source, claim) = setup();
        let v = validator(
            &source,
            ValidatorConfig {
                parked: 1,
                ..ValidatorConfig::default()
            },
        );
        let _first = v.lookup(v.admit().await, claim);
        while v.health().parked == 0 {
            tokio::task::yield_now().await;
        }
        let (second, _slot) = v.lookup(v.admit().await, claim);
        assert_eq!(
            answer_within(second).await,
            LookupOutcome::Rejected(FundingRejection::Unconfirmed)
        );
        assert_eq!(v.health().parked, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unreachable_source_parks_reports_not_ready_and_recovers() {
        let (source, claim) = setup();
        source.chain.push_empty(5);
        let v = validator(&source, ValidatorConfig::default());
        source.down.store(true, Ordering::SeqCst);
        let (rx, _slot) = v.lookup(v.admit().await, claim);
        while v.health().parked == 0 {
            tokio::task::yield_now().await;
        }
        let reason = v.health().not_ready_reason().expect("not ready");
        assert!(reason.contains("switched off"), "{reason}");
        source.down.store(false, Ordering::SeqCst);
        v.retry_parked();
        assert!(matches!(
            answer_within(rx).await,
            LookupOutcome::Accepted(_)
        ));
        assert_eq!(v.health().not_ready_reason(), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn far_future_and_rejections_are_answered_and_remembered() {
        let (source, claim) = setup();
        source.chain.push_empty(5);
        let v = validator(&source, ValidatorConfig::default());
        let far = FundingClaim {
            scid: ShortChannelId::new(9_000, 1, 0).unwrap(),
            ..claim
        };
        assert_eq!(
            v.validate(far).await,
            LookupOutcome::Rejected(FundingRejection::NotFound)
        );
        let wrong = FundingClaim {
            bitcoin_key_2: key(3),
            ..claim
        };
        assert_eq!(
            v.validate(wrong).await,
            LookupOutcome::Rejected(FundingRejection::ScriptMismatch)
        );
        assert_eq!(
            v.validate(wrong).await,
            LookupOutcome::Rejected(FundingRejection::ScriptMismatch)
        );
        let hits = v
            .metrics()
            .cache_lookups
            .with_label_values(&["negative", "hit"])
            .get();
        assert_eq!(hits, 1, "second mismatch answered from the negative cache");
        assert_eq!(
            v.metrics()
                .lookups
                .with_label_values(&["memory", "funding_script_mismatch"])
                .get(),
            2
        );
    }
}
