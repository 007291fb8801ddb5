//! Messages whose dependency has not arrived: channel_updates for a channel we have not seen
//! announced, node_announcements for a node with no channel yet. Both maps are LRUs with a cap
//! from config; an eviction is a counted drop (`orphan_evicted`), never silent.

use std::num::NonZeroUsize;

use lru::LruCache;
use parking_lot::Mutex;

use super::DropReason;
use crate::graph::NodeId;
use crate::wire::GossipKind;

/// One parked message and the timestamp that orders it against rivals for the same slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parked {
    pub timestamp: u32,
    pub msg: Vec<u8>,
}

/// What happened when a message was offered to a pending map.
#[derive(Debug, PartialEq, Eq)]
pub enum ParkOutcome {
    /// Parked; `displaced` lists messages that left the map (an older rival for the same slot
    /// → `stale`, or the least recently used entry → `orphan_evicted`).
    Parked {
        displaced: Vec<(GossipKind, DropReason)>,
    },
    /// Not parked: an equal or newer message already waits for the same slot.
    Rejected(DropReason),
}

fn order(existing: u32, new: u32) -> Option<DropReason> {
    if new == existing {
        Some(DropReason::Duplicate)
    } else if new < existing {
        Some(DropReason::Stale)
    } else {
        None
    }
}

fn lru<K: std::hash::Hash + Eq, V>(cap: usize) -> LruCache<K, V> {
    LruCache::new(NonZeroUsize::new(cap.max(1)).unwrap_or(NonZeroUsize::MIN))
}

pub struct PendingMaps {
    updates: Mutex<LruCache<(u64, u8), Parked>>,
    node_announcements: Mutex<LruCache<NodeId, Parked>>,
}

impl PendingMaps {
    pub fn new(updates_cap: usize, node_announcements_cap: usize) -> Self {
        PendingMaps {
            updates: Mutex::new(lru(updates_cap)),
            node_announcements: Mutex::new(lru(node_announcements_cap)),
        }
    }

    /// Parks a channel_update unless `still_orphan` (evaluated under the map's lock, so it
    /// cannot race with [`PendingMaps::take_updates`]) says its channel has meanwhile arrived;
    /// then returns `None` and the caller re-classifies.
    pub fn park_update(
        &self,
        short_channel_id: u64,
        direction: u8,
        parked: Parked,
        still_orphan: impl FnOnce() -> bool,
    ) -> Option<ParkOutcome> {
        let mut map = self.updates.lock();
        if !still_orphan() {
            return None;
        }
        Some(park(
            &mut map,
            (short_channel_id, direction),
            parked,
            GossipKind::ChannelUpdate,
        ))
    }

    pub fn park_node_announcement(
        &self,
        node_id: NodeId,
        parked: Parked,
        still_orphan: impl FnOnce() -> bool,
    ) -> Option<ParkOutcome> {
        let mut map = self.node_announcements.lock();
        if !still_orphan() {
            return None;
        }
        Some(park(
            &mut map,
            node_id,
            parked,
            GossipKind::NodeAnnouncement,
        ))
    }

    /// Removes and returns both directions' parked updates of a channel that just arrived.
    /// The caller must have added the channel to the graph first.
    pub fn take_updates(&self, short_channel_id: u64) -> Vec<Parked> {
        let mut map = self.updates.lock();
        [0u8, 1]
            .iter()
            .filter_map(|direction| map.pop(&(short_channel_id, *direction)))
            .collect()
    }

    pub fn take_node_announcement(&self, node_id: &NodeId) -> Option<Parked> {
        self.node_announcements.lock().pop(node_id)
    }

    pub fn updates_len(&self) -> usize {
        self.updates.lock().len()
    }

    pub fn node_announcements_len(&self) -> usize {
        self.node_announcements.lock().len()
    }
}

fn park<K: std::hash::Hash + Eq + Clone>(
    map: &mut LruCache<K, Parked>,
    key: K,
    parked: Parked,
    kind: GossipKind,
) -> ParkOutcome {
    let mut displaced = Vec::new();
    if let Some(existing) = map.peek(&key) {
        if let Some(reason) = order(existing.timestamp, parked.timestamp) {
            return ParkOutcome::Rejected(reason);
        }
        displaced.push((kind, DropReason::Stale));
        map.put(key, parked);
        return ParkOutcome::Parked { displaced };
    }
    if map.push(key, parked).is_some() {
        displaced.push((kind, DropReason::OrphanEvicted));
    }
    ParkOutcome::Parked { displaced }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parked(timestamp: u32) -> Parked {
        Parked {
            timestamp,
            msg: vec![1, 2, timestamp as u8],
        }
    }

    #[test]
    fn newest_update_per_direction_wins() {
        let maps = PendingMaps::new(10, 10);
        let park = |ts| maps.park_update(5, 0, parked(ts), || true);
        assert_eq!(park(10), Some(ParkOutcome::Parked { displaced: vec![] }));
        assert_eq!(park(10), Some(ParkOutcome::Rejected(DropReason::Duplicate)));
        assert_eq!(park(9), Some(ParkOutcome::Rejected(DropReason::Stale)));
        assert_eq!(
            park(11),
            Some(ParkOutcome::Parked {
                displaced: vec![(GossipKind::ChannelUpdate, DropReason::Stale)]
            })
        );
        assert_eq!(maps.park_update(5, 1, parked(3), || true).is_some(), true);
        let taken = maps.take_updates(5);
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[0].timestamp, 11);
        assert_eq!(maps.updates_len(), 0);
    }

    #[test]
    fn cap_evicts_least_recently_used() {
        let maps = PendingMaps::new(2, 2);
        for scid in 0..2 {
            maps.park_update(scid, 0, parked(1), || true);
        }
        assert_eq!(
            maps.park_update(2, 0, parked(1), || true),
            Some(ParkOutcome::Parked {
                displaced: vec![(GossipKind::ChannelUpdate, DropReason::OrphanEvicted)]
            })
        );
        assert_eq!(maps.updates_len(), 2);
        assert!(maps.take_updates(0).is_empty(), "oldest was evicted");
    }

    #[test]
    fn parking_rechecks_under_the_lock() {
        let maps = PendingMaps::new(2, 2);
        assert_eq!(maps.park_node_announcement([2; 33], parked(1), || false), None);
        assert_eq!(maps.node_announcements_len(), 0);
    }
}
