//! The verified network graph: which channels and nodes exist and the timestamp of the newest
//! accepted update for each channel direction and node. The dedup step reads it for every
//! message; verifier shards write it after a signature check passes.
//!
//! It holds no message bytes: those live in the store, and the graph is the store's index:
//! [`Stamp::offset`] and [`Channel::announcement_offset`] hold the offset of the key's live
//! record in `gossip_store`, set by the store actor once the record is written (see
//! [`Graph::settle_update_offset`]).

use std::hash::{BuildHasher, Hash};

use dashmap::DashMap;
use foldhash::fast::RandomState;
use parking_lot::RwLock;

use crate::cache_hint::prefetch_line;

pub type NodeId = [u8; 33];

/// Where a message's bytes can be found again; `None` until the store has written it.
pub type StoreOffset = Option<u64>;

/// The newest accepted message for a key. `offset` is the key's live record in the store, which
/// may lag `timestamp`: a newer message applied with `offset: None` keeps the previous record's
/// offset until the store has written the newer one and swapped them, so the store can always
/// find the record it must mark deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub timestamp: u32,
    pub offset: StoreOffset,
}

/// A channel as callers see it; the map holds it packed (see [`ChannelEntry`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub node_id_1: NodeId,
    pub node_id_2: NodeId,
    pub announcement_offset: StoreOffset,
    /// Newest accepted channel_update per direction (index = `channel_flags & 1`).
    pub updates: [Option<Stamp>; 2],
}

/// The channel_update rate limiter's state for one channel direction (see
/// `pipeline::rate_limit`). It lives in the graph's direction slot: 8 bytes there instead of an
/// entry of ~90 bytes in a separate LRU, and no cap to tune, since it exists exactly for the
/// channels in the graph. All zero is a full bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateBucket {
    /// Tokens spent and not yet refilled, in 1/60 of a token (a refill of `rate_per_minute`
    /// tokens a minute is then `rate_per_minute` units a second: integer arithmetic, exact).
    pub spent: u32,
    /// Seconds since the limiter's epoch when `spent` was last refilled.
    pub refilled_at: u32,
}

/// Store offsets are packed into one `u64` with two values no file reaches standing for "no
/// message" and "not written yet": `Option<Stamp>` takes 24 bytes, this 12.
const ABSENT: u64 = u64::MAX;
const UNWRITTEN: u64 = u64::MAX - 1;

fn pack_offset(offset: StoreOffset) -> u64 {
    offset.filter(|o| *o < UNWRITTEN).unwrap_or(UNWRITTEN)
}

fn unpack_offset(packed: u64) -> StoreOffset {
    (packed < UNWRITTEN).then_some(packed)
}

fn pack(stamp: Option<Stamp>) -> (u64, u32) {
    stamp.map_or((ABSENT, 0), |s| (pack_offset(s.offset), s.timestamp))
}

fn unpack(offset: u64, timestamp: u32) -> Option<Stamp> {
    (offset != ABSENT).then(|| Stamp {
        timestamp,
        offset: unpack_offset(offset),
    })
}

/// One direction of a channel: its newest update and its rate-limit bucket (24 bytes).
#[derive(Clone, Copy, Debug)]
struct Direction {
    offset: u64,
    timestamp: u32,
    bucket: RateBucket,
}

impl Direction {
    const EMPTY: Direction = Direction {
        offset: ABSENT,
        timestamp: 0,
        bucket: RateBucket {
            spent: 0,
            refilled_at: 0,
        },
    };

    fn stamp(&self) -> Option<Stamp> {
        unpack(self.offset, self.timestamp)
    }

    fn set(&mut self, stamp: Stamp) {
        (self.offset, self.timestamp) = pack(Some(stamp));
    }
}

/// A channel in the map: 64 bytes instead of 136, chiefly because its nodes are indices into
/// [`Graph::node_ids`] rather than two 33-byte ids (mainnet: 54,000 channels, 17,000 nodes).
#[derive(Clone, Copy, Debug)]
struct ChannelEntry {
    nodes: [u32; 2],
    announcement_offset: u64,
    directions: [Direction; 2],
}

#[derive(Clone, Copy, Debug)]
struct Node {
    /// Position of the node's id in [`Graph::node_ids`].
    index: u32,
    /// Channels that name this node; a node with none is not part of the public graph.
    channels: u32,
    /// Channels of this node whose announcement is in the store. A node_announcement is only
    /// written after one of them, as Core Lightning's readers expect.
    stored_channels: u32,
    announcement_timestamp: u32,
    /// Packed like [`Direction::offset`].
    announcement_offset: u64,
}

impl Node {
    fn announcement(&self) -> Option<Stamp> {
        unpack(self.announcement_offset, self.announcement_timestamp)
    }

    fn set_announcement(&mut self, stamp: Stamp) {
        (self.announcement_offset, self.announcement_timestamp) = pack(Some(stamp));
    }
}

/// What the store learns when it records the offset of a record it has just written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The record is the key's newest: its offset is now in the graph. `previous` is the
    /// record it replaces, to be marked deleted.
    Current { previous: StoreOffset },
    /// The graph holds a newer message for the key: the record just written is already stale.
    Superseded,
    /// The graph has no such key or an older timestamp (the message never reached the graph).
    Unknown,
}

/// What the graph knows about a channel_update's target, for dedup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateStanding {
    UnknownChannel,
    /// Known channel; the stored timestamp for this direction, if any.
    Known(Option<u32>),
}

/// What forgetting a channel freed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Store records to mark deleted: the announcement (its `channel_amount` goes with it),
    /// its updates, and the node_announcements of nodes left without a channel.
    pub offsets: Vec<u64>,
    /// Nodes left without a channel (no longer part of the graph).
    pub nodes_removed: usize,
}

/// A write that would not move the graph forward: the target is unknown, or it already holds a
/// message with an equal or newer timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotNewer;

/// Both maps hash with foldhash seeded per process: several times cheaper than SipHash on the
/// dedup path, while keys chosen by a peer still cannot be aimed at one bucket without the seed.
///
/// Lock order: a `channels` shard, then a `nodes` shard, then `node_ids`; `node_ids` is only
/// ever taken last, and readers copy what they need out of it and let go.
#[derive(Default)]
pub struct Graph {
    channels: DashMap<u64, ChannelEntry, RandomState>,
    nodes: DashMap<NodeId, Node, RandomState>,
    /// Every node id the graph has seen, by [`Node::index`]; append-only (nodes are never
    /// removed), so an index stays valid.
    node_ids: RwLock<Vec<NodeId>>,
}

/// Starts loading where `key` most likely sits in `map`: the control bytes its probe starts
/// at, and the entry of that bucket (where most entries sit; a displaced one is a bucket or
/// two on). Reads hashbrown's layout through dashmap's raw API: control bytes from
/// `data_end`, bucket `i`'s entry just below it at `data_end - i - 1`, the probe starting at
/// bucket `hash & (buckets - 1)`. Were that layout to change, the hint would load the wrong
/// line and the lookup would merely miss, as it does without the hint. A shard a writer holds
/// is skipped rather than waited for.
fn prefetch_entry<K, V, S>(map: &DashMap<K, V, S>, key: &K)
where
    K: Hash + Eq,
    S: BuildHasher + Clone,
{
    let hash = map.hash_usize(key);
    let Some(shard) = map.shards().get(map.determine_shard(hash)) else {
        return;
    };
    let Some(table) = shard.try_read() else {
        return;
    };
    let index = hash & table.buckets().wrapping_sub(1);
    let data_end = table.data_end().as_ptr();
    prefetch_line(data_end.cast::<u8>().wrapping_add(index));
    let entry = data_end.wrapping_sub(index + 1);
    // An entry (key and value) may straddle two lines: both ends.
    prefetch_line(entry);
    prefetch_line(last_byte(entry));
}

fn last_byte<T>(entry: *const T) -> *const u8 {
    entry
        .cast::<u8>()
        .wrapping_add(std::mem::size_of::<T>().saturating_sub(1))
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    fn node_id(&self, index: u32) -> Option<NodeId> {
        let index = usize::try_from(index).ok()?;
        self.node_ids.read().get(index).copied()
    }

    /// Starts loading `short_channel_id`'s entry into the CPU's cache, for a lookup a little
    /// later (see [`prefetch_entry`]). A hint only.
    pub fn prefetch_channel(&self, short_channel_id: u64) {
        prefetch_entry(&self.channels, &short_channel_id);
    }

    /// [`Graph::prefetch_channel`] for a node.
    pub fn prefetch_node(&self, node_id: &NodeId) {
        prefetch_entry(&self.nodes, node_id);
    }

    pub fn has_channel(&self, short_channel_id: u64) -> bool {
        self.channels.contains_key(&short_channel_id)
    }

    pub fn channel(&self, short_channel_id: u64) -> Option<Channel> {
        let entry = *self.channels.get(&short_channel_id)?;
        let [node_1, node_2] = entry.nodes;
        Some(Channel {
            node_id_1: self.node_id(node_1)?,
            node_id_2: self.node_id(node_2)?,
            announcement_offset: unpack_offset(entry.announcement_offset),
            updates: entry.directions.map(|d| d.stamp()),
        })
    }

    /// The node that signs updates of `direction` (BOLT 7: node_id_1 when `channel_flags & 1`
    /// is 0, else node_id_2).
    pub fn update_signer(&self, short_channel_id: u64, direction: usize) -> Option<NodeId> {
        let index = *self
            .channels
            .get(&short_channel_id)?
            .nodes
            .get(direction.min(1))?;
        self.node_id(index)
    }

    pub fn update_standing(&self, short_channel_id: u64, direction: usize) -> UpdateStanding {
        match self.channels.get(&short_channel_id) {
            None => UpdateStanding::UnknownChannel,
            Some(channel) => UpdateStanding::Known(
                channel
                    .directions
                    .get(direction)
                    .and_then(Direction::stamp)
                    .map(|s| s.timestamp),
            ),
        }
    }

    /// Runs `limit` on the rate-limit bucket of a known channel's direction, under the
    /// channel's write lock (concurrent peers spend tokens one at a time); `None` if the
    /// channel is unknown.
    pub fn with_rate_bucket<R>(
        &self,
        short_channel_id: u64,
        direction: usize,
        limit: impl FnOnce(&mut RateBucket) -> R,
    ) -> Option<R> {
        let mut channel = self.channels.get_mut(&short_channel_id)?;
        let slot = channel.directions.get_mut(direction)?;
        Some(limit(&mut slot.bucket))
    }

    /// `None` if the node has no channel (not part of the graph yet), else its stored
    /// node_announcement timestamp.
    pub fn node_standing(&self, node_id: &NodeId) -> Option<Option<u32>> {
        self.nodes
            .get(node_id)
            .filter(|n| n.channels > 0)
            .map(|n| n.announcement().map(|s| s.timestamp))
    }

    /// Store offset of a node's live node_announcement (`None`: none, or not written yet).
    pub fn node_announcement_offset(&self, node_id: &NodeId) -> StoreOffset {
        self.nodes
            .get(node_id)
            .and_then(|n| n.announcement())
            .and_then(|s| s.offset)
    }

    /// Adds a verified channel and returns how many of its two nodes are new to the graph, or
    /// `None` (changing nothing) if the channel was already there.
    pub fn insert_channel(
        &self,
        short_channel_id: u64,
        node_id_1: NodeId,
        node_id_2: NodeId,
        offset: StoreOffset,
    ) -> Option<usize> {
        use dashmap::mapref::entry::Entry;
        // Holding the vacant entry keeps a racing insert of the same channel out until its
        // nodes are counted.
        let Entry::Vacant(slot) = self.channels.entry(short_channel_id) else {
            return None;
        };
        let mut new_nodes = 0;
        let nodes = [node_id_1, node_id_2].map(|node_id| {
            let mut node = self
                .nodes
                .entry(node_id)
                .or_insert_with(|| self.intern(node_id));
            node.channels += 1;
            if node.channels == 1 {
                new_nodes += 1;
            }
            node.index
        });
        slot.insert(ChannelEntry {
            nodes,
            announcement_offset: pack_offset(offset),
            directions: [Direction::EMPTY; 2],
        });
        Some(new_nodes)
    }

    /// A new node record, its id appended to `node_ids` (called under the node's shard lock,
    /// so each id is appended once).
    fn intern(&self, node_id: NodeId) -> Node {
        let mut ids = self.node_ids.write();
        // More than 4 billion nodes cannot fit in memory first: saturating is unreachable.
        let index = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        ids.push(node_id);
        Node {
            index,
            channels: 0,
            stored_channels: 0,
            announcement_timestamp: 0,
            announcement_offset: ABSENT,
        }
    }

    /// Records a verified channel_update if it is newer than the stored one. Returns the
    /// superseded stamp (whose store record becomes deleted), or `NotNewer`.
    pub fn apply_update(
        &self,
        short_channel_id: u64,
        direction: usize,
        stamp: Stamp,
    ) -> Result<Option<Stamp>, NotNewer> {
        let mut channel = self.channels.get_mut(&short_channel_id).ok_or(NotNewer)?;
        let slot = channel.directions.get_mut(direction).ok_or(NotNewer)?;
        match slot.stamp() {
            Some(old) if old.timestamp >= stamp.timestamp => Err(NotNewer),
            old => {
                slot.set(carry_offset(stamp, old));
                Ok(old)
            }
        }
    }

    /// Records a verified node_announcement if newer; same contract as [`Graph::apply_update`].
    pub fn apply_node_announcement(
        &self,
        node_id: &NodeId,
        stamp: Stamp,
    ) -> Result<Option<Stamp>, NotNewer> {
        let mut node = self.nodes.get_mut(node_id).ok_or(NotNewer)?;
        if node.channels == 0 {
            return Err(NotNewer);
        }
        match node.announcement() {
            Some(old) if old.timestamp >= stamp.timestamp => Err(NotNewer),
            old => {
                node.set_announcement(carry_offset(stamp, old));
                Ok(old)
            }
        }
    }

    /// Removes a channel with its updates; a node left without a channel leaves the graph with
    /// its node_announcement (a later channel brings it back, and its announcement must then
    /// be accepted again). `None` if the channel is unknown.
    pub fn remove_channel(&self, short_channel_id: u64) -> Option<Forgotten> {
        // The channel's shard lock is released before any node's is taken (lock order).
        let (_, entry) = self.channels.remove(&short_channel_id)?;
        let mut forgotten = Forgotten::default();
        let stored = unpack_offset(entry.announcement_offset);
        forgotten.offsets.extend(stored);
        for direction in entry.directions {
            forgotten
                .offsets
                .extend(direction.stamp().and_then(|s| s.offset));
        }
        for node_id in entry.nodes.iter().filter_map(|index| self.node_id(*index)) {
            let Some(mut node) = self.nodes.get_mut(&node_id) else {
                continue;
            };
            node.channels = node.channels.saturating_sub(1);
            if stored.is_some() {
                node.stored_channels = node.stored_channels.saturating_sub(1);
            }
            if node.channels == 0 {
                forgotten.nodes_removed += 1;
                forgotten
                    .offsets
                    .extend(node.announcement().and_then(|s| s.offset));
                node.announcement_offset = ABSENT;
                node.announcement_timestamp = 0;
            }
        }
        Some(forgotten)
    }

    /// Channels with at least one update whose every update is older than `cutoff` (BOLT 7:
    /// "MAY prune a channel if the timestamp of the latest channel_update in either direction
    /// is older than two weeks"). A channel with no update at all is left alone: its updates
    /// may still be on their way, and the graph does not know when it arrived.
    pub fn stale_channels(&self, cutoff: u32) -> Vec<u64> {
        self.channels
            .iter()
            .filter(|c| {
                let stamps: Vec<u32> = c
                    .directions
                    .iter()
                    .filter_map(|d| d.stamp().map(|s| s.timestamp))
                    .collect();
                !stamps.is_empty() && stamps.iter().all(|t| *t < cutoff)
            })
            .map(|c| *c.key())
            .collect()
    }

    /// Records the store offset of a channel_announcement. The first time, the channel's nodes
    /// count it as stored. Returns the offset it replaces (only on a re-write).
    pub fn settle_channel_offset(&self, short_channel_id: u64, offset: u64) -> Settled {
        let (previous, nodes) = {
            let Some(mut channel) = self.channels.get_mut(&short_channel_id) else {
                return Settled::Unknown;
            };
            let previous = unpack_offset(channel.announcement_offset);
            channel.announcement_offset = pack_offset(Some(offset));
            (previous, channel.nodes)
        };
        if previous.is_none() {
            for node_id in nodes.iter().filter_map(|index| self.node_id(*index)) {
                if let Some(mut node) = self.nodes.get_mut(&node_id) {
                    node.stored_channels += 1;
                }
            }
        }
        Settled::Current { previous }
    }

    /// Records the store offset of the channel_update with `timestamp`, if it is still the
    /// newest for its direction; see [`Settled`].
    pub fn settle_update_offset(
        &self,
        short_channel_id: u64,
        direction: usize,
        timestamp: u32,
        offset: u64,
    ) -> Settled {
        let Some(mut channel) = self.channels.get_mut(&short_channel_id) else {
            return Settled::Unknown;
        };
        let Some(slot) = channel.directions.get_mut(direction) else {
            return Settled::Unknown;
        };
        match slot.stamp() {
            Some(mut stamp) => {
                let settled = settle(&mut stamp, timestamp, offset);
                slot.set(stamp);
                settled
            }
            None => Settled::Unknown,
        }
    }

    /// Records the store offset of the node_announcement with `timestamp`; see [`Settled`].
    pub fn settle_node_offset(&self, node_id: &NodeId, timestamp: u32, offset: u64) -> Settled {
        let Some(mut node) = self.nodes.get_mut(node_id) else {
            return Settled::Unknown;
        };
        match node.announcement() {
            Some(mut stamp) => {
                let settled = settle(&mut stamp, timestamp, offset);
                node.set_announcement(stamp);
                settled
            }
            None => Settled::Unknown,
        }
    }

    /// Store offset of a channel's announcement: `None` for an unknown channel, `Some(None)`
    /// while it is not written yet.
    pub fn channel_offset(&self, short_channel_id: u64) -> Option<StoreOffset> {
        self.channels
            .get(&short_channel_id)
            .map(|c| unpack_offset(c.announcement_offset))
    }

    /// Has one of the node's channels been written to the store?
    pub fn node_has_stored_channel(&self, node_id: &NodeId) -> bool {
        self.nodes
            .get(node_id)
            .is_some_and(|n| n.stored_channels > 0)
    }

    /// How many of the node's channels have their announcement in the store.
    pub fn stored_channel_count(&self, node_id: &NodeId) -> u32 {
        self.nodes.get(node_id).map_or(0, |n| n.stored_channels)
    }

    /// Rewrites every store offset through `map` (after compaction moved the records). An
    /// offset `map` does not know is cleared; returns how many were.
    pub fn remap_offsets(&self, map: impl Fn(u64) -> Option<u64>) -> usize {
        let mut lost = 0;
        let mut remap = |packed: &mut u64| {
            if let Some(old) = unpack_offset(*packed) {
                let new = map(old);
                lost += usize::from(new.is_none());
                *packed = pack_offset(new);
            }
        };
        for mut channel in self.channels.iter_mut() {
            remap(&mut channel.announcement_offset);
            for direction in channel.directions.iter_mut() {
                if direction.offset != ABSENT {
                    remap(&mut direction.offset);
                }
            }
        }
        for mut node in self.nodes.iter_mut() {
            if node.announcement_offset != ABSENT {
                remap(&mut node.announcement_offset);
            }
        }
        lost
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Nodes with at least one channel.
    pub fn node_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.channels > 0).count()
    }

    pub fn node_announcement_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.announcement().is_some())
            .count()
    }

    pub fn update_count(&self) -> usize {
        self.channels
            .iter()
            .map(|c| c.directions.iter().filter(|d| d.stamp().is_some()).count())
            .sum()
    }

    /// Short channel ids whose funding block is in `first..end`, ascending (for answering
    /// `query_channel_range`).
    pub fn scids_in_blocks(&self, first: u32, end: u64) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .channels
            .iter()
            .map(|c| *c.key())
            .filter(|scid| {
                let block = scid >> 40;
                block >= u64::from(first) && block < end
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Every channel's scid and per-direction update timestamps, sorted by scid (for tests and
    /// comparisons with other implementations).
    pub fn snapshot(&self) -> Vec<(u64, [Option<u32>; 2])> {
        let mut out: Vec<_> = self
            .channels
            .iter()
            .map(|c| {
                (
                    *c.key(),
                    c.directions.map(|d| d.stamp().map(|s| s.timestamp)),
                )
            })
            .collect();
        out.sort_unstable_by_key(|(scid, _)| *scid);
        out
    }

    /// Every node whose node_announcement is in the store, with that record's offset, so the
    /// outbound peer manager can read the node's addresses back from `gossip_store` (the graph
    /// itself holds no message bytes). An offset may be stale after a compaction: readers check
    /// that the record they find is this node's node_announcement.
    pub fn stored_node_announcements(&self) -> Vec<(NodeId, u64)> {
        let offsets: Vec<(u32, u64)> = self
            .nodes
            .iter()
            .filter(|n| n.channels > 0)
            .filter_map(|n| Some((n.index, n.announcement()?.offset?)))
            .collect();
        offsets
            .into_iter()
            .filter_map(|(index, offset)| Some((self.node_id(index)?, offset)))
            .collect()
    }
}

/// A new stamp without an offset of its own keeps the live record's offset of the one it
/// replaces (see [`Stamp`]).
fn carry_offset(stamp: Stamp, old: Option<Stamp>) -> Stamp {
    Stamp {
        offset: stamp.offset.or(old.and_then(|o| o.offset)),
        ..stamp
    }
}

fn settle(stamp: &mut Stamp, timestamp: u32, offset: u64) -> Settled {
    if stamp.timestamp > timestamp {
        Settled::Superseded
    } else if stamp.timestamp < timestamp {
        Settled::Unknown
    } else {
        Settled::Current {
            previous: stamp.offset.replace(offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(byte: u8) -> NodeId {
        let mut id = [byte; 33];
        id[0] = 2;
        id
    }

    fn stamp(timestamp: u32) -> Stamp {
        Stamp {
            timestamp,
            offset: None,
        }
    }

    #[test]
    fn channel_insert_is_idempotent_and_counts_nodes() {
        let graph = Graph::new();
        assert_eq!(graph.insert_channel(7, node(1), node(2), None), Some(2));
        assert_eq!(graph.insert_channel(7, node(1), node(2), None), None);
        assert_eq!(graph.insert_channel(8, node(1), node(3), None), Some(1));
        assert_eq!(graph.channel_count(), 2);
        assert_eq!(graph.node_count(), 3);
        assert_eq!(graph.node_standing(&node(1)), Some(None));
        assert_eq!(graph.node_standing(&node(4)), None);
    }

    #[test]
    fn removing_a_channel_frees_its_records_and_lonely_nodes() {
        let graph = Graph::new();
        graph.insert_channel(7, node(1), node(2), None);
        graph.insert_channel(8, node(1), node(3), None);
        graph.settle_channel_offset(7, 100);
        graph.apply_update(7, 0, stamp(50)).unwrap();
        graph.settle_update_offset(7, 0, 50, 200);
        graph.apply_node_announcement(&node(2), stamp(60)).unwrap();
        graph.settle_node_offset(&node(2), 60, 300);
        let forgotten = graph.remove_channel(7).expect("known");
        assert_eq!(forgotten.nodes_removed, 1, "node 1 keeps channel 8");
        let mut offsets = forgotten.offsets;
        offsets.sort_unstable();
        assert_eq!(offsets, vec![100, 200, 300]);
        assert!(!graph.has_channel(7));
        assert_eq!(graph.node_standing(&node(2)), None);
        assert_eq!(graph.node_standing(&node(1)), Some(None));
        assert_eq!(graph.node_count(), 2);
        assert_eq!(graph.remove_channel(7), None);
        // Back with a new channel, node 2 must be able to announce itself again.
        graph.insert_channel(9, node(2), node(3), None);
        assert_eq!(graph.node_standing(&node(2)), Some(None));
    }

    #[test]
    fn stale_channels_are_those_whose_every_update_is_old() {
        let graph = Graph::new();
        for scid in 1..=4 {
            graph.insert_channel(scid, node(1), node(2), None);
        }
        graph.apply_update(1, 0, stamp(10)).unwrap(); // old, other side silent
        graph.apply_update(2, 0, stamp(10)).unwrap();
        graph.apply_update(2, 1, stamp(1_000)).unwrap(); // one side fresh
        graph.apply_update(3, 0, stamp(10)).unwrap();
        graph.apply_update(3, 1, stamp(20)).unwrap(); // both old
                                                      // 4: no update at all
        let mut stale = graph.stale_channels(500);
        stale.sort_unstable();
        assert_eq!(stale, vec![1, 3]);
    }

    #[test]
    fn updates_only_move_forward() {
        let graph = Graph::new();
        assert!(
            graph.apply_update(7, 0, stamp(10)).is_err(),
            "unknown channel"
        );
        graph.insert_channel(7, node(1), node(2), None);
        assert_eq!(graph.apply_update(7, 0, stamp(10)), Ok(None));
        assert!(
            graph.apply_update(7, 0, stamp(10)).is_err(),
            "equal is not newer"
        );
        assert!(graph.apply_update(7, 0, stamp(9)).is_err(), "older");
        assert_eq!(graph.apply_update(7, 0, stamp(11)), Ok(Some(stamp(10))));
        assert_eq!(graph.apply_update(7, 0, stamp(10)), Err(NotNewer));
        assert_eq!(graph.update_standing(7, 0), UpdateStanding::Known(Some(11)));
        assert_eq!(graph.update_standing(7, 1), UpdateStanding::Known(None));
        assert_eq!(graph.update_signer(7, 1), Some(node(2)));
    }

    #[test]
    fn node_announcement_needs_a_channel() {
        let graph = Graph::new();
        assert!(graph.apply_node_announcement(&node(1), stamp(5)).is_err());
        graph.insert_channel(7, node(1), node(2), None);
        assert_eq!(graph.apply_node_announcement(&node(1), stamp(5)), Ok(None));
        assert!(graph.apply_node_announcement(&node(1), stamp(5)).is_err());
        assert_eq!(graph.node_announcement_count(), 1);
    }

    #[test]
    fn store_offsets_follow_the_newest_record() {
        let graph = Graph::new();
        assert_eq!(graph.settle_channel_offset(7, 100), Settled::Unknown);
        graph.insert_channel(7, node(1), node(2), None);
        assert!(!graph.node_has_stored_channel(&node(1)));
        assert_eq!(
            graph.settle_channel_offset(7, 100),
            Settled::Current { previous: None }
        );
        assert!(graph.node_has_stored_channel(&node(2)));
        assert_eq!(graph.channel_offset(7), Some(Some(100)));

        graph.apply_update(7, 1, stamp(10)).unwrap();
        assert_eq!(
            graph.settle_update_offset(7, 1, 10, 200),
            Settled::Current { previous: None }
        );
        // A newer update keeps pointing at the live record until its own is written.
        graph.apply_update(7, 1, stamp(11)).unwrap();
        assert_eq!(
            graph.channel(7).unwrap().updates[1].unwrap().offset,
            Some(200)
        );
        graph.apply_update(7, 1, stamp(12)).unwrap();
        assert_eq!(
            graph.settle_update_offset(7, 1, 11, 300),
            Settled::Superseded
        );
        assert_eq!(
            graph.settle_update_offset(7, 1, 12, 400),
            Settled::Current {
                previous: Some(200)
            }
        );
        assert_eq!(graph.settle_update_offset(7, 1, 13, 500), Settled::Unknown);
        assert_eq!(graph.settle_update_offset(7, 0, 12, 500), Settled::Unknown);

        graph.apply_node_announcement(&node(1), stamp(5)).unwrap();
        assert_eq!(
            graph.settle_node_offset(&node(1), 5, 600),
            Settled::Current { previous: None }
        );
        let lost = graph.remap_offsets(|o| (o != 600).then_some(o + 1));
        assert_eq!(lost, 1);
        assert_eq!(graph.channel_offset(7), Some(Some(101)));
        assert_eq!(
            graph.channel(7).unwrap().updates[1].unwrap().offset,
            Some(401)
        );
        assert_eq!(
            graph.settle_node_offset(&node(1), 5, 700),
            Settled::Current { previous: None }
        );
    }

    #[test]
    fn entries_stay_packed() {
        // The point of the packing: mainnet's 54,000 channels cost ~72 bytes of table each.
        assert_eq!(std::mem::size_of::<ChannelEntry>(), 64);
        assert_eq!(std::mem::size_of::<Node>(), 24);
    }

    #[test]
    fn nodes_are_interned_once_and_resolved_back() {
        let graph = Graph::new();
        graph.insert_channel(7, node(1), node(2), None);
        graph.insert_channel(8, node(2), node(3), Some(40));
        assert_eq!(graph.node_ids.read().len(), 3);
        let channel = graph.channel(8).unwrap();
        assert_eq!((channel.node_id_1, channel.node_id_2), (node(2), node(3)));
        assert_eq!(channel.announcement_offset, Some(40));
        assert_eq!(graph.update_signer(8, 0), Some(node(2)));
        assert_eq!(graph.update_signer(7, 0), Some(node(1)));
    }

    #[test]
    fn rate_buckets_live_per_direction_of_known_channels() {
        let graph = Graph::new();
        assert_eq!(graph.with_rate_bucket(7, 0, |b| *b), None);
        graph.insert_channel(7, node(1), node(2), None);
        graph.with_rate_bucket(7, 1, |b| b.spent = 60).unwrap();
        assert_eq!(graph.with_rate_bucket(7, 1, |b| b.spent), Some(60));
        assert_eq!(graph.with_rate_bucket(7, 0, |b| b.spent), Some(0));
        // The bucket is not part of the update the direction holds.
        assert_eq!(graph.update_standing(7, 1), UpdateStanding::Known(None));
        assert_eq!(graph.apply_update(7, 1, stamp(10)), Ok(None));
        assert_eq!(graph.with_rate_bucket(7, 1, |b| b.spent), Some(60));
    }
}
