//! Splitting our own initial sync over several peers (issue 12 item 4, `initial_sync =
//! "split"`). The block range `0..=tip` is cut into chunks; each outbound session whose peer
//! negotiated gossip_queries runs a seeker (`session::seeker`) that takes a chunk, asks the
//! peer for its channels in those blocks and then for the ones we lack, and takes the next.
//! Work-stealing: a chunk whose peer goes away, stalls or says it lacks information goes back
//! to the queue for whichever peer asks next, so fast peers do more of the work.
//!
//! Chunks are handed out from the highest blocks down: recent blocks hold the channels most
//! likely to be alive, so a node that is stopped half-way has the useful part.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use tokio::sync::Notify;

use crate::clock::unix_now;

/// Tunables of a split sync; [`SplitConfig::default`] is what `run` uses.
#[derive(Clone, Debug)]
pub struct SplitConfig {
    /// Blocks per chunk. Mainnet has ~0.1 announced channels per block on average, a few per
    /// block at the densest: 4,032 blocks (four weeks) stays far under `max_chunk_scids`.
    pub chunk_blocks: u32,
    /// A query with neither a reply nor gossip from the peer for this long is unanswered:
    /// the chunk goes back and the peer is asked for a full dump instead (LDK 0.2.7 never
    /// answers `query_short_channel_ids`).
    pub query_timeout: Duration,
    /// Short channel ids one chunk may collect from `reply_channel_range`s: a peer claiming
    /// more is lying (or the chunk is absurdly dense) and is not believed.
    pub max_chunk_scids: usize,
    /// Times a chunk is handed out before it is given up (every peer that took it lacked
    /// information or misbehaved).
    pub max_attempts: u8,
    /// A chunk whose range reply lists more channels to fetch than this is cut at block
    /// boundaries into pieces of about this many, and all but the first go back to the queue:
    /// block ranges are uneven (a generated graph packs 4 channels a block, mainnet has
    /// stretches of thousands of empty blocks), and the fetching, not the listing, is the
    /// work to spread. ~100 channels are ~330 messages, half a second at LDK's pace.
    pub target_scids: usize,
    /// Replies the session may queue for the seeker, and their bytes (wire sizes): a peer
    /// sending replies faster than the seeker takes them has the excess dropped
    /// (`reply_queue_full`). Each reply is at most one 65 KB message.
    pub reply_queue: usize,
    pub reply_queue_bytes: usize,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            chunk_blocks: 4032,
            query_timeout: Duration::from_secs(10),
            max_chunk_scids: 100_000,
            max_attempts: 4,
            target_scids: 100,
            // One chunk's replies rarely take more than a few messages; 16 of the largest
            // would be ~1 MiB, which the byte cap holds to.
            reply_queue: 16,
            reply_queue_bytes: 1 << 20,
        }
    }
}

impl SplitConfig {
    /// Bytes one chunk's collected ids may hold (the id and its timestamp pair: 16 bytes each).
    pub fn max_chunk_bytes(&self) -> usize {
        self.max_chunk_scids
            .saturating_mul(BYTES_PER_COLLECTED_SCID)
    }
}

/// A collected short_channel_id with its two update timestamps.
pub const BYTES_PER_COLLECTED_SCID: usize = 16;

/// Bitcoin's genesis block time; heights since then are bounded by one block per 540 s (blocks
/// have come faster than the 600 s target on average), so the bound covers the real tip with a
/// margin when no chain source tells us the tip.
const GENESIS_TIME: u32 = 1_231_006_505;
const FASTEST_AVERAGE_BLOCK_SECS: u32 = 540;

/// A height at or above the chain tip, from the clock alone.
pub fn tip_bound_from_clock() -> u32 {
    unix_now().saturating_sub(GENESIS_TIME) / FASTEST_AVERAGE_BLOCK_SECS
}

/// One block range to sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub first_blocknum: u32,
    pub number_of_blocks: u32,
    attempts: u8,
}

impl Chunk {
    /// One past the last block, as BOLT 7 compares it (`first_blocknum + number_of_blocks`).
    pub fn end(&self) -> u64 {
        u64::from(self.first_blocknum) + u64::from(self.number_of_blocks)
    }

    /// Whether `scid`'s funding block lies in the chunk.
    pub fn holds(&self, scid: u64) -> bool {
        let block = scid >> 40;
        block >= u64::from(self.first_blocknum) && block < self.end()
    }
}

/// Why a chunk went back to the queue (label values of `split_chunks_requeued_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// The session ended with the chunk taken.
    Disconnected,
    /// No reply and no gossip within the query timeout.
    Unanswered,
    /// `full_information = 0`: the peer says it lacks some of it.
    PartialInformation,
    /// The replies broke BOLT 7's rules or our caps.
    BadReplies,
}

impl Requeue {
    pub const ALL: [Requeue; 4] = [
        Requeue::Disconnected,
        Requeue::Unanswered,
        Requeue::PartialInformation,
        Requeue::BadReplies,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Requeue::Disconnected => "disconnected",
            Requeue::Unanswered => "unanswered",
            Requeue::PartialInformation => "partial_information",
            Requeue::BadReplies => "bad_replies",
        }
    }
}

/// The split-sync series (prefix `gossip_sieve_split_`), aggregated over peers.
pub struct SplitMetrics {
    chunks: IntGaugeVec,
    requeued: IntCounterVec,
    queries_sent: IntCounterVec,
    reply_drops: IntCounterVec,
    pub fallbacks: IntCounter,
    /// Replies queued for the seekers and not yet taken, all peers together, in bytes and
    /// in messages (each peer's queue is capped by `SplitConfig::reply_queue*`).
    pub reply_queue_bytes: IntGauge,
    pub reply_queue_messages: IntGauge,
}

/// Query types we send, label values of `split_queries_sent_total`.
pub const SENT_QUERY_TYPES: [&str; 3] = [
    "query_channel_range",
    "query_short_channel_ids",
    "gossip_timestamp_filter",
];

/// Why a peer's reply was not used, label values of `split_reply_drops_total`.
pub const REPLY_DROP_REASONS: [&str; 7] = [
    "unsolicited",
    "wrong_chain",
    "bad_range",
    "out_of_range_scid",
    "too_many_scids",
    "bad_encoding",
    "reply_queue_full",
];

impl SplitMetrics {
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let chunks = IntGaugeVec::new(
            Opts::new(
                "gossip_sieve_split_chunks",
                "Split initial sync: block-range chunks by state (queued, outstanding, done)",
            ),
            &["state"],
        )?;
        let requeued = IntCounterVec::new(
            Opts::new(
                "gossip_sieve_split_chunks_requeued_total",
                "Split initial sync: chunks returned to the queue for another peer, by reason",
            ),
            &["reason"],
        )?;
        let queries_sent = IntCounterVec::new(
            Opts::new(
                "gossip_sieve_split_queries_sent_total",
                "Split initial sync: queries (and filters) we sent to peers, by type",
            ),
            &["type"],
        )?;
        let reply_drops = IntCounterVec::new(
            Opts::new(
                "gossip_sieve_split_reply_drops_total",
                "Split initial sync: peers' replies (or parts) not used, by reason",
            ),
            &["reason"],
        )?;
        let fallbacks = IntCounter::with_opts(Opts::new(
            "gossip_sieve_split_fallbacks_total",
            "Split initial sync: peers that ignored our queries and were asked for a full dump",
        ))?;
        let reply_queue_bytes = IntGauge::with_opts(Opts::new(
            "gossip_sieve_split_reply_queue_bytes",
            "Split initial sync: bytes of peers' replies queued for the seekers, all peers",
        ))?;
        let reply_queue_messages = IntGauge::with_opts(Opts::new(
            "gossip_sieve_split_reply_queue_messages",
            "Split initial sync: peers' replies queued for the seekers, all peers",
        ))?;
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(chunks.clone()),
            Box::new(requeued.clone()),
            Box::new(queries_sent.clone()),
            Box::new(reply_drops.clone()),
            Box::new(fallbacks.clone()),
            Box::new(reply_queue_bytes.clone()),
            Box::new(reply_queue_messages.clone()),
        ];
        for collector in collectors {
            match registry.register(collector) {
                Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
                Err(err) => return Err(err),
            }
        }
        for state in ["queued", "outstanding", "done"] {
            chunks.with_label_values(&[state]);
        }
        for reason in Requeue::ALL {
            requeued.with_label_values(&[reason.label()]);
        }
        for t in SENT_QUERY_TYPES {
            queries_sent.with_label_values(&[t]);
        }
        for reason in REPLY_DROP_REASONS {
            reply_drops.with_label_values(&[reason]);
        }
        Ok(SplitMetrics {
            chunks,
            requeued,
            queries_sent,
            reply_drops,
            fallbacks,
            reply_queue_bytes,
            reply_queue_messages,
        })
    }

    pub fn query_sent(&self, query_type: &str) {
        self.queries_sent.with_label_values(&[query_type]).inc();
    }

    pub fn queries_sent(&self, query_type: &str) -> u64 {
        self.queries_sent.with_label_values(&[query_type]).get()
    }

    pub fn reply_dropped(&self, reason: &str) {
        self.reply_drops.with_label_values(&[reason]).inc();
    }

    fn show(&self, state: &PlanState) {
        self.chunks
            .with_label_values(&["queued"])
            .set(state.queue.len() as i64);
        self.chunks
            .with_label_values(&["outstanding"])
            .set(state.outstanding as i64);
        self.chunks
            .with_label_values(&["done"])
            .set(state.done as i64);
    }
}

struct PlanState {
    /// Ascending by block: `pop` hands out the highest.
    queue: Vec<Chunk>,
    outstanding: usize,
    done: usize,
}

/// The shared queue of chunks.
pub struct SyncPlan {
    pub config: SplitConfig,
    state: Mutex<PlanState>,
    /// Woken when a chunk comes back or the last one is done.
    changed: Notify,
    pub metrics: SplitMetrics,
}

impl SyncPlan {
    /// Chunks covering blocks `0..=tip`, the highest one open-ended (to `u32::MAX`): the tip
    /// is an estimate (from the clock, mainnet's block rate), and testnet3 is past it.
    pub fn new(config: SplitConfig, tip: u32, metrics: SplitMetrics) -> Arc<SyncPlan> {
        let step = config.chunk_blocks.max(1);
        let mut queue = Vec::new();
        let mut first: u32 = 0;
        loop {
            let number_of_blocks = step.min(tip.saturating_sub(first).saturating_add(1));
            queue.push(Chunk {
                first_blocknum: first,
                number_of_blocks,
                attempts: 0,
            });
            match first.checked_add(step) {
                Some(next) if next <= tip => first = next,
                _ => break,
            }
        }
        if let Some(top) = queue.last_mut() {
            top.number_of_blocks = u32::MAX - top.first_blocknum;
        }
        let state = PlanState {
            queue,
            outstanding: 0,
            done: 0,
        };
        metrics.show(&state);
        Arc::new(SyncPlan {
            config,
            state: Mutex::new(state),
            changed: Notify::new(),
            metrics,
        })
    }

    /// The next chunk, waiting while every remaining chunk is out with other peers (one may
    /// come back); `None` once every chunk is done.
    pub async fn take(self: &Arc<Self>) -> Option<Lease> {
        loop {
            // Registered before looking, so a chunk returned in between is not missed.
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state.lock();
                if let Some(chunk) = state.queue.pop() {
                    state.outstanding += 1;
                    self.metrics.show(&state);
                    return Some(Lease {
                        plan: self.clone(),
                        chunk: Some(chunk),
                    });
                }
                if state.outstanding == 0 {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Every chunk answered: none queued, none out.
    pub fn is_done(&self) -> bool {
        let state = self.state.lock();
        state.queue.is_empty() && state.outstanding == 0
    }

    /// (queued, outstanding, done), for `/readyz` and tests.
    pub fn counts(&self) -> (usize, usize, usize) {
        let state = self.state.lock();
        (state.queue.len(), state.outstanding, state.done)
    }

    /// A peer finished a full dump: it sent everything it has, so whatever is still queued is
    /// covered (chunks out with other peers stay theirs).
    pub fn cover_queued_by_dump(&self) {
        let mut state = self.state.lock();
        let covered = state.queue.len();
        state.queue.clear();
        state.done += covered;
        self.metrics.show(&state);
        drop(state);
        self.changed.notify_waiters();
    }

    /// Queues the blocks from each of `cuts` (ascending, inside `chunk`) on as new chunks;
    /// returns what is left of `chunk`: its blocks before the first cut.
    fn split(&self, chunk: Chunk, cuts: &[u32]) -> Chunk {
        let mut state = self.state.lock();
        let mut kept = chunk;
        let mut end = chunk.end();
        for &cut in cuts.iter().rev() {
            if u64::from(cut) <= u64::from(kept.first_blocknum) || u64::from(cut) >= end {
                continue;
            }
            let piece = Chunk {
                first_blocknum: cut,
                number_of_blocks: u32::try_from(end - u64::from(cut)).unwrap_or(u32::MAX),
                attempts: 0,
            };
            let at = state
                .queue
                .partition_point(|c| c.first_blocknum < piece.first_blocknum);
            state.queue.insert(at, piece);
            end = u64::from(cut);
        }
        kept.number_of_blocks =
            u32::try_from(end - u64::from(kept.first_blocknum)).unwrap_or(kept.number_of_blocks);
        self.metrics.show(&state);
        drop(state);
        self.changed.notify_waiters();
        kept
    }

    fn settle(&self, chunk: Chunk, outcome: Option<Requeue>) {
        let mut state = self.state.lock();
        state.outstanding = state.outstanding.saturating_sub(1);
        match outcome {
            Some(reason) if chunk.attempts.saturating_add(1) < self.config.max_attempts => {
                self.metrics
                    .requeued
                    .with_label_values(&[reason.label()])
                    .inc();
                let back = Chunk {
                    attempts: chunk.attempts.saturating_add(1),
                    ..chunk
                };
                // Keep the queue ascending so the highest blocks still go first.
                let at = state
                    .queue
                    .partition_point(|c| c.first_blocknum < back.first_blocknum);
                state.queue.insert(at, back);
            }
            Some(reason) => {
                tracing::warn!(
                    first_blocknum = chunk.first_blocknum,
                    number_of_blocks = chunk.number_of_blocks,
                    reason = reason.label(),
                    "split sync: gave up on a chunk after every attempt failed"
                );
                state.done += 1;
            }
            None => state.done += 1,
        }
        self.metrics.show(&state);
        drop(state);
        self.changed.notify_waiters();
    }
}

/// A chunk taken from the plan. Dropped without [`Lease::finish`] or [`Lease::requeue`] (the
/// session ended), it goes back to the queue.
pub struct Lease {
    plan: Arc<SyncPlan>,
    chunk: Option<Chunk>,
}

impl Lease {
    pub fn chunk(&self) -> Chunk {
        self.chunk.unwrap_or(Chunk {
            first_blocknum: 0,
            number_of_blocks: 0,
            attempts: 0,
        })
    }

    /// Keeps the blocks before the first of `cuts` and queues the rest as new chunks, each
    /// from one cut to the next (see [`SplitConfig::target_scids`]); returns the kept chunk.
    pub fn split(&mut self, cuts: &[u32]) -> Chunk {
        if let Some(chunk) = self.chunk {
            let kept = self.plan.split(chunk, cuts);
            self.chunk = Some(kept);
        }
        self.chunk()
    }

    /// The peer answered the whole chunk.
    pub fn finish(mut self) {
        if let Some(chunk) = self.chunk.take() {
            self.plan.settle(chunk, None);
        }
    }

    /// Back to the queue for another peer.
    pub fn requeue(mut self, reason: Requeue) {
        if let Some(chunk) = self.chunk.take() {
            self.plan.settle(chunk, Some(reason));
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(chunk) = self.chunk.take() {
            self.plan.settle(chunk, Some(Requeue::Disconnected));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(chunk_blocks: u32, tip: u32) -> Arc<SyncPlan> {
        let metrics = SplitMetrics::new(&Registry::new()).expect("metrics");
        SyncPlan::new(
            SplitConfig {
                chunk_blocks,
                max_attempts: 2,
                ..SplitConfig::default()
            },
            tip,
            metrics,
        )
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn chunks_cover_zero_to_tip_without_gaps_highest_first() {
        let plan = plan(100, 250);
        block_on(async {
            let mut seen = Vec::new();
            while let Some(lease) = plan.take().await {
                seen.push(lease.chunk());
                lease.finish();
            }
            let ranges: Vec<(u32, u32)> = seen
                .iter()
                .map(|c| (c.first_blocknum, c.number_of_blocks))
                .collect();
            assert_eq!(
                ranges,
                vec![(200, u32::MAX - 200), (100, 100), (0, 100)],
                "the top chunk is open-ended"
            );
        });
        assert!(plan.is_done());
        assert_eq!(plan.counts(), (0, 0, 3));
    }

    #[test]
    fn a_dropped_lease_goes_back_and_is_taken_again() {
        let plan = plan(100, 199);
        block_on(async {
            let first = plan.take().await.expect("chunk");
            assert_eq!(first.chunk().first_blocknum, 100);
            drop(first);
            assert_eq!(plan.counts(), (2, 0, 0));
            let again = plan.take().await.expect("chunk");
            assert_eq!(again.chunk().first_blocknum, 100, "returned chunk first");
            again.finish();
        });
        assert_eq!(
            plan.metrics
                .requeued
                .with_label_values(&["disconnected"])
                .get(),
            1
        );
    }

    #[test]
    fn a_waiting_taker_gets_a_chunk_another_returns() {
        let plan = plan(100, 99);
        block_on(async {
            let held = plan.take().await.expect("only chunk");
            let waiter = {
                let plan = plan.clone();
                tokio::spawn(async move { plan.take().await.map(|l| l.chunk()) })
            };
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished(), "waits while the chunk is out");
            held.requeue(Requeue::Unanswered);
            let got = waiter.await.expect("join").expect("the returned chunk");
            assert_eq!(got.first_blocknum, 0);
        });
    }

    #[test]
    fn a_chunk_is_given_up_after_max_attempts_and_waiters_end() {
        let plan = plan(100, 99);
        block_on(async {
            plan.take()
                .await
                .expect("1st")
                .requeue(Requeue::PartialInformation);
            plan.take().await.expect("2nd").requeue(Requeue::BadReplies);
            assert!(plan.take().await.is_none(), "given up after 2 attempts");
        });
        assert!(plan.is_done());
    }

    #[test]
    fn a_finished_dump_covers_what_is_queued_but_not_what_is_out() {
        let plan = plan(10, 99);
        block_on(async {
            let out = plan.take().await.expect("chunk");
            plan.cover_queued_by_dump();
            assert_eq!(plan.counts(), (0, 1, 9));
            assert!(!plan.is_done());
            out.finish();
            assert!(plan.is_done());
        });
    }

    #[test]
    fn a_split_chunk_keeps_its_head_and_queues_the_rest() {
        let plan = plan(100, 99);
        block_on(async {
            let mut lease = plan.take().await.expect("chunk");
            // Cuts at or before the chunk's start, or repeated, are ignored.
            let kept = lease.split(&[0, 10, 40, 40, 70]);
            assert_eq!((kept.first_blocknum, kept.number_of_blocks), (0, 10));
            assert_eq!(plan.counts(), (3, 1, 0));
            let mut pieces = Vec::new();
            lease.finish();
            while let Some(piece) = plan.take().await {
                pieces.push((piece.chunk().first_blocknum, piece.chunk().number_of_blocks));
                piece.finish();
            }
            assert_eq!(pieces, vec![(70, u32::MAX - 70), (40, 30), (10, 30)]);
        });
    }

    #[test]
    fn chunk_holds_scids_by_funding_block() {
        let chunk = Chunk {
            first_blocknum: 100,
            number_of_blocks: 10,
            attempts: 0,
        };
        assert!(chunk.holds(100 << 40));
        assert!(chunk.holds((109 << 40) | 0xffff));
        assert!(!chunk.holds(110 << 40));
        assert!(!chunk.holds(99 << 40 | 5));
    }

    #[test]
    fn the_clock_bound_is_past_the_real_tip() {
        // Mainnet passed 870,000 blocks at the end of 2024.
        assert!(tip_bound_from_clock() > 870_000);
    }
}
