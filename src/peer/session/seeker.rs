//! The session's part of a split initial sync (`peer::sync_plan`): a task that takes a chunk
//! of the block range, asks the peer which channels it has there (`query_channel_range` with
//! timestamps), asks for the ones we lack or hold older updates of (`query_short_channel_ids`),
//! waits for `reply_short_channel_ids_end`, and takes the next chunk. The gossip the peer sends
//! in reply reaches the sieve through the session's normal read path; this task only sees the
//! two reply messages (forwarded by the session) and a count of the gossip frames.
//!
//! A peer that leaves a query unanswered (no reply and no gossip for the query timeout: LDK
//! 0.2.7 ignores `query_short_channel_ids`) or breaks BOLT 7's reply rules gets its chunk
//! returned and is asked for a full dump instead, as `initial_sync = "dump"` does.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::IntGauge;
use tokio::sync::mpsc;

use super::outbound::{Closed, Lane};
use crate::clock::unix_now;
use crate::graph::Graph;
use crate::peer::serve::Serving;
use crate::peer::sync_plan::{Chunk, Lease, Requeue, SplitConfig, SplitMetrics, SyncPlan};
use crate::wire::bolt1::{ErrorMessage, Warning};
use crate::wire::queries::{
    EncodedList, GossipTimestampFilter, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
    ReplyShortChannelIdsEnd, TimestampPair, QUERY_OPTION_WANT_TIMESTAMPS,
};

/// Short ids per `query_short_channel_ids`: with encoding 0 they take 8 bytes each, and the
/// message (type, chain_hash, length, encoding byte) must fit 65,535 bytes.
const SCIDS_PER_QUERY: usize = 8000;

/// How often the seeker looks at the gossip count while it waits.
const PROGRESS_CHECK: Duration = Duration::from_millis(250);

/// A reply the session forwards to the seeker.
#[derive(Debug)]
pub(super) enum SyncReply {
    Range(ReplyChannelRange),
    End(ReplyShortChannelIdsEnd),
}

/// The session's end of the queue of replies for the seeker, capped in replies and in bytes
/// (`SplitConfig::reply_queue`, `reply_queue_bytes`): each reply is up to a 65 KB message, so
/// a count alone would let a peer park 64 KiB per slot. The session never waits on it (its
/// read loop must not stall): a reply that does not fit is dropped.
pub(super) struct ReplySender {
    tx: mpsc::Sender<QueuedReply>,
    held: Arc<HeldBytes>,
}

/// Bytes queued in one session's reply queue, against its cap, mirrored in the all-peers
/// gauges.
struct HeldBytes {
    bytes: AtomicUsize,
    max_bytes: usize,
    bytes_gauge: IntGauge,
    messages_gauge: IntGauge,
}

/// A reply in the queue. Its bytes count against the cap until the seeker takes it, or until
/// the queue is dropped with the session.
pub(super) struct QueuedReply {
    reply: SyncReply,
    _held: Held,
}

impl QueuedReply {
    /// The reply, its bytes released.
    fn take(self) -> SyncReply {
        self.reply
    }
}

/// One reply's share of [`HeldBytes`], given back on drop.
struct Held {
    len: usize,
    total: Arc<HeldBytes>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.total.bytes.fetch_sub(self.len, Ordering::AcqRel);
        self.total.bytes_gauge.sub(self.len as i64);
        self.total.messages_gauge.dec();
    }
}

/// A reply queue under `config`'s caps, counted in `metrics`' gauges.
pub(super) fn reply_queue(
    config: &SplitConfig,
    metrics: &SplitMetrics,
) -> (ReplySender, mpsc::Receiver<QueuedReply>) {
    let (tx, rx) = mpsc::channel(config.reply_queue.max(1));
    let held = Arc::new(HeldBytes {
        bytes: AtomicUsize::new(0),
        max_bytes: config.reply_queue_bytes,
        bytes_gauge: metrics.reply_queue_bytes.clone(),
        messages_gauge: metrics.reply_queue_messages.clone(),
    });
    (ReplySender { tx, held }, rx)
}

impl ReplySender {
    /// Queues `reply`, `wire_len` bytes on the wire, without waiting; when it does not fit,
    /// the `split_reply_drops_total` reason it is dropped for.
    pub(super) fn try_send(&self, reply: SyncReply, wire_len: usize) -> Result<(), &'static str> {
        // A slot first, then the bytes, so a refused reply never shows in the gauges.
        let slot = self.tx.try_reserve().map_err(|err| match err {
            mpsc::error::TrySendError::Full(()) => "reply_queue_full",
            // The seeker is done (or fell back to a dump): we asked nothing.
            mpsc::error::TrySendError::Closed(()) => "unsolicited",
        })?;
        let max = self.held.max_bytes;
        self.held
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(wire_len).filter(|&total| total <= max)
            })
            .map_err(|_| "reply_queue_full")?;
        self.held.bytes_gauge.add(wire_len as i64);
        self.held.messages_gauge.inc();
        slot.send(QueuedReply {
            reply,
            _held: Held {
                len: wire_len,
                total: self.held.clone(),
            },
        });
        Ok(())
    }
}

/// What the seeker needs from its session.
pub(super) struct Seeker {
    pub(super) plan: Arc<SyncPlan>,
    pub(super) serving: Arc<Serving>,
    pub(super) graph: Arc<Graph>,
    /// Our queries go out on the reply lane: it waits for room instead of failing.
    pub(super) lane: Lane,
    pub(super) chain_hash: [u8; 32],
    pub(super) replies: mpsc::Receiver<QueuedReply>,
    /// Gossip messages the session has received from the peer (see `DumpWatch`).
    pub(super) frames: Arc<AtomicU64>,
    pub(super) peer: String,
    /// Whether our `gossip_timestamp_filter` went out (see `Session::start_split_sync`).
    pub(super) filter_sent: bool,
}

enum Failure {
    /// The session is ending.
    Closed,
    /// Neither a reply nor gossip within the query timeout.
    Unanswered,
    /// The replies broke a BOLT 7 rule or a cap (a `split_reply_drops_total` reason).
    BadReplies(&'static str),
}

impl From<Closed> for Failure {
    fn from(_: Closed) -> Self {
        Failure::Closed
    }
}

/// How a chunk went with this peer.
enum Answered {
    Fully,
    /// `full_information = 0` in some `reply_short_channel_ids_end`.
    Partly,
}

impl Seeker {
    pub(super) async fn run(mut self) {
        if self.seek().await.is_ok() {
            // Every chunk is done: from now on this peer is a relay like any other.
            let _ = self.ask_for_live_gossip().await;
        }
    }

    /// Takes chunks until none is left (`Ok`) or this peer is done with (`Err`).
    async fn seek(&mut self) -> Result<(), Closed> {
        while let Some(mut lease) = self.plan.take().await {
            match self.sync_chunk(&mut lease).await {
                Ok(Answered::Fully) => lease.finish(),
                Ok(Answered::Partly) => lease.requeue(Requeue::PartialInformation),
                // The lease going back with the dropped task is the requeue.
                Err(Failure::Closed) => return Err(Closed),
                Err(Failure::Unanswered) => {
                    tracing::info!(
                        peer = %self.peer,
                        "split sync: the peer did not answer a query; asking it for a full dump"
                    );
                    lease.requeue(Requeue::Unanswered);
                    self.fall_back().await?;
                    return Err(Closed);
                }
                Err(Failure::BadReplies(reason)) => {
                    tracing::warn!(peer = %self.peer, reason, "split sync: bad replies");
                    self.plan.metrics.reply_dropped(reason);
                    lease.requeue(Requeue::BadReplies);
                    let _ = self
                        .lane
                        .send(
                            Warning(ErrorMessage::connection("bad reply_channel_range"))
                                .serialize(),
                        )
                        .await;
                    // Whatever it sends is checked by the sieve like any gossip: a dump from
                    // it is as safe as under `initial_sync = "dump"`.
                    self.fall_back().await?;
                    return Err(Closed);
                }
            }
        }
        Ok(())
    }

    /// Our filter for live gossip only, once: BOLT 7, the receiver "SHOULD send all gossip
    /// messages whose timestamp is greater or equal to first_timestamp", so `now` asks for no
    /// dump; the chunks fetch the past.
    async fn ask_for_live_gossip(&mut self) -> Result<(), Closed> {
        if std::mem::replace(&mut self.filter_sent, true) {
            return Ok(());
        }
        let filter = GossipTimestampFilter {
            chain_hash: self.chain_hash,
            first_timestamp: unix_now(),
            timestamp_range: u32::MAX,
        };
        self.send(filter.serialize(), "gossip_timestamp_filter")
            .await
    }

    async fn send(&self, msg: Vec<u8>, query_type: &str) -> Result<(), Closed> {
        self.plan.metrics.query_sent(query_type);
        self.lane.send(msg).await
    }

    /// One chunk: the range query, then the ids we lack, batch by batch.
    async fn sync_chunk(&mut self, lease: &mut Lease) -> Result<Answered, Failure> {
        let chunk = lease.chunk();
        // BOLT 7 (sender of query_channel_range): "SHOULD NOT send this to a peer which does
        // not offer gossip_queries" (the session only starts us for such peers); "MUST NOT
        // send this if it has sent a previous query_channel_range to this peer and not
        // received all reply_channel_range replies" (one chunk at a time); "MUST set
        // number_of_blocks to 1 or greater".
        let query = QueryChannelRange {
            chain_hash: self.chain_hash,
            first_blocknum: chunk.first_blocknum,
            number_of_blocks: chunk.number_of_blocks.max(1),
            query_option: Some(QUERY_OPTION_WANT_TIMESTAMPS),
            unknown_tlvs: Vec::new(),
        };
        self.send(query.serialize(), "query_channel_range").await?;
        let mut wanted = self.collect_range(chunk).await?;
        let target = self.plan.config.target_scids.max(1);
        if wanted.len() > target && chunk.number_of_blocks > 1 {
            // Cut at the block of every `target`-th id (ids are sorted, so blocks ascend):
            // the rest goes back for other peers; this peer fetches the head.
            let cuts: Vec<u32> = wanted
                .iter()
                .skip(target)
                .step_by(target)
                .map(|&scid| u32::try_from(scid >> 40).unwrap_or(u32::MAX))
                .collect();
            let kept = lease.split(&cuts);
            wanted.retain(|&scid| kept.holds(scid));
        }
        let mut answered = Answered::Fully;
        for batch in wanted.chunks(SCIDS_PER_QUERY) {
            // BOLT 7 (sender of query_short_channel_ids): "MUST NOT send
            // query_short_channel_ids if it has sent a previous query_short_channel_ids to
            // this peer and not received reply_short_channel_ids_end" (one batch at a time).
            let query = QueryShortChannelIds {
                chain_hash: self.chain_hash,
                short_ids: EncodedList::Uncompressed(batch.to_vec()),
                query_flags: None,
                unknown_tlvs: Vec::new(),
            };
            self.send(query.serialize(), "query_short_channel_ids")
                .await?;
            let end = loop {
                match self.next_reply(true).await? {
                    SyncReply::End(end) => break end,
                    SyncReply::Range(_) => self.plan.metrics.reply_dropped("unsolicited"),
                }
            };
            if end.chain_hash != self.chain_hash {
                return Err(Failure::BadReplies("wrong_chain"));
            }
            // The peer answers queries: split sync works with it.
            self.ask_for_live_gossip().await?;
            // BOLT 7 rationale: "while this full_information field ... cannot be trusted, a
            // 0 does indicate that the sender should search elsewhere for additional data."
            if end.full_information == 0 {
                answered = Answered::Partly;
            }
        }
        Ok(answered)
    }

    /// Reads `reply_channel_range`s until they cover `chunk`; returns the ids worth asking
    /// for (unknown channels, or ones the peer has newer updates of).
    async fn collect_range(&mut self, chunk: Chunk) -> Result<Vec<u64>, Failure> {
        let mut wanted = Vec::new();
        let mut collected = 0usize;
        let mut previous_first: Option<u32> = None;
        loop {
            let reply = match self.next_reply(false).await? {
                SyncReply::Range(reply) => reply,
                SyncReply::End(_) => {
                    self.plan.metrics.reply_dropped("unsolicited");
                    continue;
                }
            };
            // BOLT 7 (receiver of query_channel_range): "MUST set with chain_hash equal to
            // that of query_channel_range".
            if reply.chain_hash != self.chain_hash {
                return Err(Failure::BadReplies("wrong_chain"));
            }
            let reply_end = u64::from(reply.first_blocknum) + u64::from(reply.number_of_blocks);
            match previous_first {
                // "the first reply_channel_range message: MUST set first_blocknum less than
                // or equal to the first_blocknum in query_channel_range; MUST set
                // first_blocknum plus number_of_blocks greater than first_blocknum in
                // query_channel_range."
                None => {
                    if reply.first_blocknum > chunk.first_blocknum
                        || reply_end <= u64::from(chunk.first_blocknum)
                    {
                        return Err(Failure::BadReplies("bad_range"));
                    }
                }
                // "successive reply_channel_range message: MUST have first_blocknum equal or
                // greater than the previous first_blocknum."
                Some(previous) => {
                    if reply.first_blocknum < previous {
                        return Err(Failure::BadReplies("bad_range"));
                    }
                }
            }
            previous_first = Some(reply.first_blocknum);
            let Ok(ids) = reply.short_ids.values() else {
                // BOLT 7 no longer lets a writer use zlib; we never inflate peer data.
                return Err(Failure::BadReplies("bad_encoding"));
            };
            // The cap on what one chunk may make us hold, in count and (16 bytes per id with
            // its timestamps) in bytes: a peer claiming more is not believed.
            collected = collected.saturating_add(ids.len());
            if collected > self.plan.config.max_chunk_scids
                || collected.saturating_mul(crate::peer::sync_plan::BYTES_PER_COLLECTED_SCID)
                    > self.plan.config.max_chunk_bytes()
            {
                return Err(Failure::BadReplies("too_many_scids"));
            }
            // "If bit 0 in query_option_flags is set, the receiver MAY append a
            // timestamps_tlv that contains channel_update timestamps for all
            // short_channel_ids in encoded_short_ids": one pair per id, or none are used.
            let timestamps = reply
                .timestamps
                .as_ref()
                .and_then(|t| t.values().ok())
                .filter(|t| t.len() == ids.len());
            let mut outside = false;
            for (i, &scid) in ids.iter().enumerate() {
                // BOLT 7 rationale: "we require that each reply be relevant (overlapping the
                // requested range)": ids outside our chunk are another chunk's business.
                if !chunk.holds(scid) {
                    outside = true;
                    continue;
                }
                let pair = timestamps.and_then(|t| t.get(i)).copied();
                if self.worth_asking(scid, pair) {
                    wanted.push(scid);
                }
            }
            if outside {
                self.plan.metrics.reply_dropped("out_of_range_scid");
            }
            // BOLT 7 rationale: "the receiver can easily determine if replies are done:
            // simply check if first_blocknum plus number_of_blocks equals or exceeds the
            // first_blocknum plus number_of_blocks it asked for."
            if reply_end >= chunk.end() {
                // A peer may repeat an id across replies that split a block.
                wanted.sort_unstable();
                wanted.dedup();
                return Ok(wanted);
            }
        }
    }

    /// Whether the peer's channel `scid` (with its update timestamps, if it sent them) could
    /// tell us something: a channel we lack, or a direction it has a newer update of.
    fn worth_asking(&self, scid: u64, theirs: Option<TimestampPair>) -> bool {
        let Some(channel) = self.graph.channel(scid) else {
            return true;
        };
        match theirs {
            Some(pair) => [pair.timestamp_node_id_1, pair.timestamp_node_id_2]
                .iter()
                .zip(channel.updates.iter())
                .any(|(&their, ours)| {
                    // "timestamp_node_id_1 is ... 0 if there was no channel_update from that
                    // node."
                    their != 0 && ours.is_none_or(|stamp| stamp.timestamp < their)
                }),
            None => channel.updates.iter().any(Option::is_none),
        }
    }

    /// The next reply; waits while the peer sends replies or (with `gossip_counts`) gossip,
    /// up to the query timeout without either.
    async fn next_reply(&mut self, gossip_counts: bool) -> Result<SyncReply, Failure> {
        let timeout = self.plan.config.query_timeout;
        let mut quiet_since = tokio::time::Instant::now();
        let mut seen = self.frames.load(Ordering::Relaxed);
        loop {
            tokio::select! {
                reply = self.replies.recv() => {
                    return reply.map(QueuedReply::take).ok_or(Failure::Closed);
                }
                _ = tokio::time::sleep(PROGRESS_CHECK) => {
                    let now = self.frames.load(Ordering::Relaxed);
                    if gossip_counts && now != seen {
                        seen = now;
                        quiet_since = tokio::time::Instant::now();
                    } else if quiet_since.elapsed() >= timeout {
                        return Err(Failure::Unanswered);
                    }
                }
            }
        }
    }

    /// Asks the peer for everything, as `initial_sync = "dump"` does, and counts it as a dump
    /// in sync completeness until it goes quiet; a finished dump covers every chunk still
    /// queued.
    async fn fall_back(&mut self) -> Result<(), Closed> {
        self.plan.metrics.fallbacks.inc();
        let filter = GossipTimestampFilter {
            chain_hash: self.chain_hash,
            first_timestamp: 0,
            timestamp_range: u32::MAX,
        };
        let mut watch = self.serving.sync.dump_started(&self.serving.metrics);
        self.filter_sent = true;
        self.send(filter.serialize(), "gossip_timestamp_filter")
            .await?;
        let mut last = self.frames.load(Ordering::Relaxed);
        let mut tick = tokio::time::interval(PROGRESS_CHECK);
        while watch.is_running() {
            tick.tick().await;
            // Replies to nothing we asked: not kept (their bytes go with them).
            while self.replies.try_recv().is_ok() {
                self.plan.metrics.reply_dropped("unsolicited");
            }
            let now = self.frames.load(Ordering::Relaxed);
            watch.add_frames(now.saturating_sub(last));
            last = now;
            watch.tick(std::time::Instant::now());
        }
        self.plan.cover_queued_by_dump();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end() -> SyncReply {
        SyncReply::End(ReplyShortChannelIdsEnd {
            chain_hash: [0; 32],
            full_information: 1,
        })
    }

    #[test]
    fn the_reply_queue_holds_to_both_caps_and_gives_bytes_back_when_a_reply_is_taken() {
        let metrics = SplitMetrics::new(&prometheus::Registry::new()).expect("metrics");
        let config = SplitConfig {
            reply_queue: 3,
            reply_queue_bytes: 100,
            ..SplitConfig::default()
        };
        let (sender, mut rx) = reply_queue(&config, &metrics);
        let gauges = || {
            (
                metrics.reply_queue_messages.get(),
                metrics.reply_queue_bytes.get(),
            )
        };
        assert_eq!(sender.try_send(end(), 60), Ok(()));
        assert_eq!(sender.try_send(end(), 41), Err("reply_queue_full"), "bytes");
        assert_eq!(gauges(), (1, 60), "a refused reply never shows");
        assert_eq!(sender.try_send(end(), 40), Ok(()));
        assert_eq!(sender.try_send(end(), 0), Ok(()));
        assert_eq!(sender.try_send(end(), 0), Err("reply_queue_full"), "count");
        assert_eq!(gauges(), (3, 100));
        // Taken by the seeker: its bytes are free again.
        drop(rx.try_recv().expect("queued").take());
        assert_eq!(gauges(), (2, 40));
        assert_eq!(sender.try_send(end(), 60), Ok(()));
        // The seeker gone: what it left is given back, and replies are unsolicited.
        drop(rx);
        assert_eq!(gauges(), (0, 0));
        assert_eq!(sender.try_send(end(), 1), Err("unsolicited"));
    }
}
