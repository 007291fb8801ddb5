//! The verified network graph: which channels and nodes exist and the timestamp of the newest
//! accepted update for each channel direction and node. The dedup step reads it for every
//! message; verifier shards write it after a signature check passes.
//!
//! It holds no message bytes: those live in the store (a later record offset), so the index
//! stays a few tens of bytes per channel.

use dashmap::DashMap;

pub type NodeId = [u8; 33];

/// Where a message's bytes can be found again; `None` until the store has written it.
pub type StoreOffset = Option<u64>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub timestamp: u32,
    pub offset: StoreOffset,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub node_id_1: NodeId,
    pub node_id_2: NodeId,
    pub announcement_offset: StoreOffset,
    /// Newest accepted channel_update per direction (index = `channel_flags & 1`).
    pub updates: [Option<Stamp>; 2],
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Channels that name this node; a node with none is not part of the public graph.
    pub channels: u32,
    pub announcement: Option<Stamp>,
}

/// What the graph knows about a channel_update's target, for dedup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateStanding {
    UnknownChannel,
    /// Known channel; the stored timestamp for this direction, if any.
    Known(Option<u32>),
}

/// A write that would not move the graph forward: the target is unknown, or it already holds a
/// message with an equal or newer timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotNewer;

#[derive(Default)]
pub struct Graph {
    channels: DashMap<u64, Channel>,
    nodes: DashMap<NodeId, Node>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn has_channel(&self, short_channel_id: u64) -> bool {
        self.channels.contains_key(&short_channel_id)
    }

    pub fn channel(&self, short_channel_id: u64) -> Option<Channel> {
        self.channels.get(&short_channel_id).map(|c| c.clone())
    }

    /// The node that signs updates of `direction` (BOLT 7: node_id_1 when `channel_flags & 1`
    /// is 0, else node_id_2).
    pub fn update_signer(&self, short_channel_id: u64, direction: usize) -> Option<NodeId> {
        self.channels.get(&short_channel_id).map(|c| {
            if direction == 0 {
                c.node_id_1
            } else {
                c.node_id_2
            }
        })
    }

    pub fn update_standing(&self, short_channel_id: u64, direction: usize) -> UpdateStanding {
        match self.channels.get(&short_channel_id) {
            None => UpdateStanding::UnknownChannel,
            Some(channel) => UpdateStanding::Known(
                channel
                    .updates
                    .get(direction)
                    .copied()
                    .flatten()
                    .map(|s| s.timestamp),
            ),
        }
    }

    /// `None` if the node has no channel (not part of the graph yet), else its stored
    /// node_announcement timestamp.
    pub fn node_standing(&self, node_id: &NodeId) -> Option<Option<u32>> {
        self.nodes
            .get(node_id)
            .filter(|n| n.channels > 0)
            .map(|n| n.announcement.map(|s| s.timestamp))
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
        match self.channels.entry(short_channel_id) {
            Entry::Occupied(_) => return None,
            Entry::Vacant(slot) => {
                slot.insert(Channel {
                    node_id_1,
                    node_id_2,
                    announcement_offset: offset,
                    updates: [None, None],
                });
            }
        }
        let mut new_nodes = 0;
        for node_id in [node_id_1, node_id_2] {
            let mut node = self.nodes.entry(node_id).or_default();
            node.channels += 1;
            if node.channels == 1 {
                new_nodes += 1;
            }
        }
        Some(new_nodes)
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
        let slot = channel.updates.get_mut(direction).ok_or(NotNewer)?;
        match slot {
            Some(old) if old.timestamp >= stamp.timestamp => Err(NotNewer),
            _ => Ok(slot.replace(stamp)),
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
        match node.announcement {
            Some(old) if old.timestamp >= stamp.timestamp => Err(NotNewer),
            _ => Ok(node.announcement.replace(stamp)),
        }
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
            .filter(|n| n.announcement.is_some())
            .count()
    }

    pub fn update_count(&self) -> usize {
        self.channels
            .iter()
            .map(|c| c.updates.iter().filter(|u| u.is_some()).count())
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
                let updates = c.updates;
                (
                    *c.key(),
                    [
                        updates[0].map(|s| s.timestamp),
                        updates[1].map(|s| s.timestamp),
                    ],
                )
            })
            .collect();
        out.sort_unstable_by_key(|(scid, _)| *scid);
        out
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
}
