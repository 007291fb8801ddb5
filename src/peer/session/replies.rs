//! Answers to BOLT 7 gossip queries. Each answer runs as its own task (one per peer at a time,
//! see `Session::start_query`) that reads the sorted scid index or the store, and queues its
//! replies on the reply lane as the writer drains it, paced by a per-peer and a global byte
//! rate (issue 11 item 4): a query for all of mainnet never sits in memory as a whole.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use parking_lot::Mutex;

use super::inbound::{ByteBucket, FRAME_OVERHEAD};
use super::outbound::{Closed, Lane};
use crate::graph::{Graph, NodeId, StoreOffset};
use crate::peer::serve::fields::{
    announcement_scid, node_announcement_id, servable, update_checksum, update_fields, DONT_FORWARD,
};
use crate::peer::serve::index::in_blocks;
use crate::peer::serve::Serving;
use crate::store::StoreFile;
use crate::wire::queries::{
    ChecksumPair, EncodedList, QueryChannelRange, QueryShortChannelIds, ReplyChannelRange,
    ReplyShortChannelIdsEnd, TimestampPair, QUERY_OPTION_WANT_CHECKSUMS,
    QUERY_OPTION_WANT_TIMESTAMPS,
};

/// Short ids per `reply_channel_range`: 8 bytes each must fit 65535 bytes with the header.
pub(super) const SCIDS_PER_REPLY: usize = 8000;
/// With timestamps and checksums a short id takes 8 + 8 + 8 bytes.
const SCIDS_PER_REPLY_WITH_OPTIONS: usize = 2500;

/// BOLT 7 `query_flags` bits.
const WANT_ANNOUNCEMENT: u64 = 1;
const WANT_UPDATE_1: u64 = 2;
const WANT_UPDATE_2: u64 = 4;
const WANT_NODE_1: u64 = 8;
const WANT_NODE_2: u64 = 16;
/// Without `encoded_query_flags`, BOLT 7: "a channel_announcement and the latest
/// channel_update for each end ... MUST follow with any node_announcement for each node_id".
const WANT_ALL: u64 = WANT_ANNOUNCEMENT | WANT_UPDATE_1 | WANT_UPDATE_2 | WANT_NODE_1 | WANT_NODE_2;

/// What a reply task holds: where to read and where to queue, and its pace.
pub(super) struct Replier {
    pub(super) serving: Arc<Serving>,
    pub(super) graph: Arc<Graph>,
    pub(super) lane: Lane,
    /// The session's per-peer reply rate, kept across its queries.
    pub(super) bucket: Arc<Mutex<ByteBucket>>,
    pub(super) chain_hash: [u8; 32],
}

impl Replier {
    /// Queues `msg` once the per-peer and global reply rates allow it and the lane has room.
    async fn send(&mut self, msg: Vec<u8>) -> Result<(), Closed> {
        let bytes = msg.len() as u64 + FRAME_OVERHEAD;
        let wait = self.bucket.lock().charge(bytes);
        if let Some(wait) = wait {
            tokio::time::sleep(wait).await;
        }
        if let Some(wait) = self.serving.charge_global_replies(bytes) {
            tokio::time::sleep(wait).await;
        }
        self.lane.send(msg).await
    }
}

/// The live records the graph points at, read from the store file.
pub(super) struct LiveRecords {
    file: Option<StoreFile>,
    end: u64,
}

impl LiveRecords {
    pub(super) fn open(serving: &Serving) -> LiveRecords {
        let none = LiveRecords { file: None, end: 0 };
        let Some(tail) = &serving.tail else {
            return none;
        };
        // A compaction renaming the file just now makes this fail: the answer then lacks
        // messages, as it would for a channel not yet written.
        let Ok(file) = tail.open() else {
            return none;
        };
        let state = tail.state();
        if state.generation != file.generation() {
            return none;
        }
        LiveRecords {
            file: Some(file),
            end: state.end,
        }
    }

    /// The message at `offset` if it is live and `belongs` to the key we asked for (the graph
    /// and the file may briefly disagree around a compaction).
    pub(super) fn read(
        &self,
        offset: StoreOffset,
        belongs: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let (header, msg) = self.file.as_ref()?.read_record(offset?, self.end).ok()??;
        // More than LDK's 1,024 excess bytes: stored, never served (see `servable`).
        (!header.is_deleted() && belongs(&msg) && servable(&msg)).then_some(msg)
    }

    /// The live channel_update of `scid` in `direction`, unless it says `dont_forward`.
    pub(super) fn update(&self, graph: &Graph, scid: u64, direction: usize) -> Option<Vec<u8>> {
        let offset = graph
            .channel(scid)?
            .updates
            .get(direction)
            .copied()??
            .offset;
        self.read(offset, |msg| {
            update_fields(msg).is_some_and(|f| {
                f.short_channel_id == scid
                    && f.direction == direction
                    && f.message_flags & DONT_FORWARD == 0
            })
        })
    }

    pub(super) fn announcement(&self, graph: &Graph, scid: u64) -> Option<Vec<u8>> {
        let offset = graph.channel(scid)?.announcement_offset;
        self.read(offset, |msg| announcement_scid(msg) == Some(scid))
    }

    pub(super) fn node(&self, graph: &Graph, node_id: &NodeId) -> Option<Vec<u8>> {
        let offset = graph.node_announcement_offset(node_id);
        self.read(offset, |msg| {
            node_announcement_id(msg).as_ref() == Some(node_id)
        })
    }
}

/// BOLT 7 `query_short_channel_ids`: for each channel we know, what `query_flags` ask for (all
/// of it without flags), then `reply_short_channel_ids_end`. `full_information` is 0 for
/// another chain and while our own initial sync is incomplete ("MUST set full_information to 0
/// if it does not maintain up-to-date channel information for chain_hash").
pub(super) async fn answer_short_channel_ids(
    mut r: Replier,
    query: QueryShortChannelIds,
) -> Result<(), Closed> {
    let ours = query.chain_hash == r.chain_hash;
    // Session checked both lists decode (zlib is refused there).
    let scids = query.short_ids.values().unwrap_or(&[]);
    let flags = query.query_flags.as_ref().and_then(|f| f.values().ok());
    if ours {
        let records = LiveRecords::open(&r.serving);
        // BOLT 7: "SHOULD avoid sending duplicate node_announcements in response to a single
        // query_short_channel_ids."
        let mut nodes_sent: HashSet<NodeId> = HashSet::new();
        for (i, scid) in scids.iter().enumerate() {
            let want = flags.and_then(|f| f.get(i).copied()).unwrap_or(WANT_ALL);
            let Some(channel) = r.graph.channel(*scid) else {
                continue;
            };
            let mut out = Vec::with_capacity(5);
            if want & WANT_ANNOUNCEMENT != 0 {
                out.extend(records.announcement(&r.graph, *scid));
            }
            for (direction, bit) in [(0, WANT_UPDATE_1), (1, WANT_UPDATE_2)] {
                if want & bit != 0 {
                    out.extend(records.update(&r.graph, *scid, direction));
                }
            }
            for (node_id, bit) in [
                (channel.node_id_1, WANT_NODE_1),
                (channel.node_id_2, WANT_NODE_2),
            ] {
                if want & bit != 0 && !nodes_sent.contains(&node_id) {
                    if let Some(msg) = records.node(&r.graph, &node_id) {
                        nodes_sent.insert(node_id);
                        out.push(msg);
                    }
                }
            }
            for msg in out {
                r.send(msg).await?;
            }
        }
    }
    let end = ReplyShortChannelIdsEnd {
        chain_hash: query.chain_hash,
        full_information: u8::from(ours && r.serving.sync.is_complete()),
    };
    r.send(end.serialize()).await?;
    r.serving.metrics.reply_sent("reply_short_channel_ids_end");
    Ok(())
}

/// BOLT 7 `query_channel_range`: our channels in the block range from the sorted index, with
/// timestamps and checksums when `query_option` asks, in as many replies as they need.
pub(super) async fn answer_channel_range(
    mut r: Replier,
    query: QueryChannelRange,
) -> Result<(), Closed> {
    let ours = query.chain_hash == r.chain_hash;
    let option = query.query_option.unwrap_or(0);
    let want_timestamps = option & QUERY_OPTION_WANT_TIMESTAMPS != 0;
    let want_checksums = option & QUERY_OPTION_WANT_CHECKSUMS != 0;
    let sorted = if ours {
        r.serving.index.sorted(&r.graph)
    } else {
        Arc::from(Vec::new())
    };
    let per_reply = if want_timestamps || want_checksums {
        SCIDS_PER_REPLY_WITH_OPTIONS
    } else {
        SCIDS_PER_REPLY
    };
    let plan = plan_range(&query, &sorted, per_reply);
    let records = if want_checksums {
        LiveRecords::open(&r.serving)
    } else {
        LiveRecords { file: None, end: 0 }
    };
    for part in plan {
        let ids = sorted.get(part.ids.clone()).unwrap_or(&[]);
        let mut timestamps = Vec::new();
        let mut checksums = Vec::new();
        for scid in ids {
            let updates = r.graph.channel(*scid).map(|c| c.updates);
            let stamp = |d: usize| {
                updates
                    .and_then(|u| u.get(d).copied().flatten())
                    .map_or(0, |s| s.timestamp)
            };
            if want_timestamps {
                timestamps.push(TimestampPair {
                    timestamp_node_id_1: stamp(0),
                    timestamp_node_id_2: stamp(1),
                });
            }
            if want_checksums {
                let sum = |d: usize| {
                    records
                        .update(&r.graph, *scid, d)
                        .and_then(|msg| update_checksum(&msg))
                        .unwrap_or(0)
                };
                checksums.push(ChecksumPair {
                    checksum_node_id_1: sum(0),
                    checksum_node_id_2: sum(1),
                });
            }
        }
        let reply = ReplyChannelRange {
            chain_hash: query.chain_hash,
            first_blocknum: part.first_blocknum,
            number_of_blocks: part.number_of_blocks,
            // BOLT 7: "if it does not maintain up-to-date channel information for
            // chain_hash: MUST set sync_complete to 0."
            sync_complete: u8::from(ours),
            short_ids: EncodedList::Uncompressed(ids.to_vec()),
            timestamps: want_timestamps.then_some(EncodedList::Uncompressed(timestamps)),
            checksums: want_checksums.then_some(checksums),
            unknown_tlvs: Vec::new(),
        };
        r.send(reply.serialize()).await?;
        r.serving.metrics.reply_sent("reply_channel_range");
    }
    Ok(())
}

/// One planned `reply_channel_range`: its block range and which of the sorted ids it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RangePart {
    pub(super) first_blocknum: u32,
    pub(super) number_of_blocks: u32,
    pub(super) ids: Range<usize>,
}

fn block(scid: u64) -> u64 {
    scid >> 40
}

/// Splits the query's block range into replies of at most `per_reply` ids each. The replies
/// are contiguous and ascending: the first starts at the query's `first_blocknum`, each next
/// one where the previous ended, the last ends where the query does (BOLT 7: "MUST set
/// first_blocknum ... greater or equal to the first_blocknum of the previous", "the last
/// reply_channel_range ... first_blocknum plus number_of_blocks equal or greater than the
/// query_channel_range"). A block's channels are never split over two replies (their ranges
/// would overlap), unless one block alone holds more than `per_reply`.
pub(super) fn plan_range(
    query: &QueryChannelRange,
    sorted: &[u64],
    per_reply: usize,
) -> Vec<RangePart> {
    let first = query.first_blocknum;
    // BOLT 7: first_blocknum + number_of_blocks may overflow; treat the range as open-ended,
    // ending at the last block a u32 can name. The replies' ends stay representable: the first
    // reply "MUST set first_blocknum plus number_of_blocks greater than first_blocknum in
    // query_channel_range", which a sum wrapping past 2^32 - 1 would not be for a peer adding
    // in u32 (Core Lightning clamps the same way; lnprototest's test_query_channel_range
    // checks it).
    let end = (u64::from(first) + u64::from(query.number_of_blocks)).min(u64::from(u32::MAX));
    let ids = in_blocks(sorted, first, end);
    // Where `ids` starts in `sorted`.
    let offset = sorted.partition_point(|scid| block(*scid) < u64::from(first));
    let mut parts = Vec::new();
    let mut start_block = u64::from(first);
    let mut i = 0;
    let per_reply = per_reply.max(1);
    while i < ids.len() || parts.is_empty() {
        let mut cut = (i + per_reply).min(ids.len());
        if cut < ids.len() {
            // Back the cut up to the start of the block it would split.
            let split_block = ids.get(cut).map_or(0, |s| block(*s));
            let mut back = cut;
            while back > i && ids.get(back - 1).map(|s| block(*s)) == Some(split_block) {
                back -= 1;
            }
            if back > i {
                cut = back;
            }
        }
        let stop_block = if cut >= ids.len() {
            end
        } else {
            ids.get(cut).map_or(end, |s| block(*s))
        };
        parts.push(RangePart {
            first_blocknum: u32::try_from(start_block).unwrap_or(u32::MAX),
            number_of_blocks: u32::try_from(stop_block.saturating_sub(start_block))
                .unwrap_or(u32::MAX),
            ids: offset + i..offset + cut,
        });
        start_block = stop_block;
        i = cut;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scid(block: u64, tx: u64) -> u64 {
        (block << 40) | (tx << 16)
    }

    fn query(first: u32, number: u32) -> QueryChannelRange {
        QueryChannelRange {
            chain_hash: [7; 32],
            first_blocknum: first,
            number_of_blocks: number,
            query_option: None,
            unknown_tlvs: Vec::new(),
        }
    }

    #[test]
    fn a_range_covers_the_query_with_our_channels() {
        let sorted = [scid(100, 0), scid(150, 1), scid(150, 2), scid(300, 3)];
        let plan = plan_range(&query(120, 100), &sorted, SCIDS_PER_REPLY);
        assert_eq!(
            plan,
            vec![RangePart {
                first_blocknum: 120,
                number_of_blocks: 100,
                ids: 1..3
            }]
        );
        let empty = plan_range(&query(400, 10), &sorted, SCIDS_PER_REPLY);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].ids.is_empty());
    }

    #[test]
    fn an_overflowing_range_ends_at_the_last_u32_block() {
        let sorted = [scid(103, 1), scid(109, 1)];
        let plan = plan_range(&query(109, u32::MAX), &sorted, SCIDS_PER_REPLY);
        assert_eq!(
            plan,
            vec![RangePart {
                first_blocknum: 109,
                number_of_blocks: u32::MAX - 109,
                ids: 1..2
            }]
        );
    }

    #[test]
    fn large_ranges_split_into_contiguous_replies_that_never_split_a_block() {
        let sorted: Vec<u64> = (0..(SCIDS_PER_REPLY as u64 * 2 + 5))
            .map(|i| scid(1000 + i / 3, i % 3))
            .collect();
        let plan = plan_range(&query(0, u32::MAX), &sorted, SCIDS_PER_REPLY);
        assert_eq!(plan.len(), 3);
        let mut next_first = 0u64;
        let mut total = 0;
        for part in &plan {
            assert_eq!(u64::from(part.first_blocknum), next_first, "contiguous");
            next_first = u64::from(part.first_blocknum) + u64::from(part.number_of_blocks);
            assert!(part.ids.len() <= SCIDS_PER_REPLY);
            total += part.ids.len();
            for id in &sorted[part.ids.clone()] {
                let b = block(*id);
                assert!(b >= u64::from(part.first_blocknum) && b < next_first);
            }
        }
        assert_eq!(total, sorted.len());
        assert_eq!(next_first, u64::from(u32::MAX));
    }
}
