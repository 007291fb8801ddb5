//! Messages whose dependency has not arrived: channel_updates for a channel we have not seen
//! announced, node_announcements for a node with no channel yet. Both maps are LRUs of slots
//! (one slot per channel direction / node) with a cap on the number of messages and one on
//! their bytes (a message may carry up to 65 KB of excess bytes, so a count alone would let a
//! peer park hundreds of MB of never-verified orphans); an eviction is a counted drop
//! (`orphan_evicted`), never silent.
//!
//! Parked messages are unverified, so a higher timestamp proves nothing: a forged update with a
//! later timestamp must not push out the genuine one. Each slot therefore keeps up to
//! [`CANDIDATES_PER_SLOT`] distinct messages, and all of them are re-offered (oldest first) when
//! the dependency arrives; the shard's re-check discards the superseded ones before any
//! signature work.

use std::hash::Hash;

use lru::LruCache;
use parking_lot::Mutex;

use super::job::ParkedHold;
use crate::graph::NodeId;
use crate::vocab::DropReason;
use crate::wire::GossipKind;

/// Distinct candidates kept per slot: enough that one or two forgeries cannot displace the
/// genuine message, small enough that a slot stays a few hundred bytes.
pub const CANDIDATES_PER_SLOT: usize = 4;

/// One parked message with what orders and identifies it, and the share of its sender's
/// orphan quota it holds while parked (none for messages re-parked by a shard).
#[derive(Debug)]
pub struct Parked {
    pub timestamp: u32,
    pub fingerprint: u64,
    pub msg: Vec<u8>,
    pub hold: Option<ParkedHold>,
}

/// What happened when a message was offered to a pending map.
#[derive(Debug, PartialEq, Eq)]
pub enum ParkOutcome {
    /// Parked; `displaced` lists messages that left the map (the oldest candidate of a full
    /// slot → `stale`, or whole least-recently-used slots → `orphan_evicted`).
    Parked { displaced: Vec<DropReason> },
    /// Not parked: an identical copy waits already (`duplicate`), or the slot is full of newer
    /// candidates (`stale`).
    Rejected(DropReason),
}

/// An LRU of slots whose total number of parked messages, and of their bytes, is capped.
struct SlotMap<K: Hash + Eq> {
    slots: LruCache<K, Vec<Parked>>,
    messages: usize,
    cap: usize,
    bytes: usize,
    bytes_cap: usize,
}

impl<K: Hash + Eq + Clone> SlotMap<K> {
    fn new(cap: usize, bytes_cap: usize) -> Self {
        SlotMap {
            slots: LruCache::unbounded(),
            messages: 0,
            cap: cap.max(1),
            bytes: 0,
            bytes_cap: bytes_cap.max(1),
        }
    }

    fn forget(&mut self, gone: &[Parked]) {
        self.messages -= gone.len();
        self.bytes -= gone.iter().map(|p| p.msg.len()).sum::<usize>();
    }

    fn park(&mut self, key: K, parked: Parked) -> ParkOutcome {
        let mut displaced = Vec::new();
        let slot = self.slots.get_or_insert_mut(key.clone(), Vec::new);
        if slot.iter().any(|p| p.fingerprint == parked.fingerprint) {
            return ParkOutcome::Rejected(DropReason::Duplicate);
        }
        if slot.len() >= CANDIDATES_PER_SLOT {
            let (oldest_index, oldest_timestamp) = slot
                .iter()
                .enumerate()
                .map(|(i, p)| (i, p.timestamp))
                .min_by_key(|(_, ts)| *ts)
                .unwrap_or((0, 0));
            if parked.timestamp <= oldest_timestamp {
                return ParkOutcome::Rejected(DropReason::Stale);
            }
            let oldest = slot.swap_remove(oldest_index);
            self.messages -= 1;
            self.bytes -= oldest.msg.len();
            displaced.push(DropReason::Stale);
        }
        self.bytes += parked.msg.len();
        slot.push(parked);
        self.messages += 1;
        while self.messages > self.cap || self.bytes > self.bytes_cap {
            // The slot just used is the most recent, so it goes last (a single message over
            // the byte cap evicts even itself: it is counted parked, then evicted).
            match self.slots.pop_lru() {
                Some((_, evicted)) => {
                    self.forget(&evicted);
                    displaced.extend(evicted.iter().map(|_| DropReason::OrphanEvicted));
                }
                None => break,
            }
        }
        ParkOutcome::Parked { displaced }
    }

    fn take(&mut self, key: &K) -> Vec<Parked> {
        let mut taken = self.slots.pop(key).unwrap_or_default();
        self.forget(&taken);
        taken.sort_unstable_by_key(|p| p.timestamp);
        taken
    }
}

pub struct PendingMaps {
    updates: Mutex<SlotMap<(u64, u8)>>,
    node_announcements: Mutex<SlotMap<NodeId>>,
}

impl PendingMaps {
    /// Maps holding at most `updates_cap` and `node_announcements_cap` messages, and each at
    /// most `bytes_cap` bytes of them.
    pub fn new(updates_cap: usize, node_announcements_cap: usize, bytes_cap: usize) -> Self {
        PendingMaps {
            updates: Mutex::new(SlotMap::new(updates_cap, bytes_cap)),
            node_announcements: Mutex::new(SlotMap::new(node_announcements_cap, bytes_cap)),
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
        Some(map.park((short_channel_id, direction), parked))
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
        Some(map.park(node_id, parked))
    }

    /// Removes and returns, oldest first, every parked update of a channel that just arrived.
    /// The caller must have added the channel to the graph first.
    pub fn take_updates(&self, short_channel_id: u64) -> Vec<Parked> {
        let mut map = self.updates.lock();
        let mut taken = map.take(&(short_channel_id, 0));
        taken.extend(map.take(&(short_channel_id, 1)));
        taken
    }

    pub fn take_node_announcements(&self, node_id: &NodeId) -> Vec<Parked> {
        self.node_announcements.lock().take(node_id)
    }

    /// Parked channel_updates (messages, not slots).
    pub fn updates_len(&self) -> usize {
        self.updates.lock().messages
    }

    pub fn node_announcements_len(&self) -> usize {
        self.node_announcements.lock().messages
    }

    /// Bytes of parked channel_updates and node_announcements.
    pub fn bytes(&self) -> (usize, usize) {
        (
            self.updates.lock().bytes,
            self.node_announcements.lock().bytes,
        )
    }

    pub fn kind_len(&self, kind: GossipKind) -> usize {
        match kind {
            GossipKind::ChannelUpdate => self.updates_len(),
            GossipKind::NodeAnnouncement => self.node_announcements_len(),
            GossipKind::ChannelAnnouncement => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parked(timestamp: u32, fingerprint: u64) -> Parked {
        Parked {
            timestamp,
            fingerprint,
            msg: vec![1, 2, timestamp as u8],
            hold: None,
        }
    }

    #[test]
    fn a_forged_newer_update_does_not_displace_the_genuine_one() {
        let maps = PendingMaps::new(100, 100, 1 << 20);
        let park = |ts, fp| maps.park_update(5, 0, parked(ts, fp), || true);
        assert_eq!(park(10, 1), Some(ParkOutcome::Parked { displaced: vec![] }));
        assert_eq!(
            park(10, 1),
            Some(ParkOutcome::Rejected(DropReason::Duplicate))
        );
        assert_eq!(park(11, 2), Some(ParkOutcome::Parked { displaced: vec![] }));
        let taken = maps.take_updates(5);
        assert_eq!(
            taken.iter().map(|p| p.timestamp).collect::<Vec<_>>(),
            vec![10, 11],
            "both candidates come back, oldest first"
        );
        assert_eq!(maps.updates_len(), 0);
    }

    #[test]
    fn a_full_slot_keeps_the_newest_candidates() {
        let maps = PendingMaps::new(100, 100, 1 << 20);
        for i in 0..CANDIDATES_PER_SLOT as u32 {
            maps.park_update(5, 1, parked(10 + i, u64::from(i)), || true);
        }
        assert_eq!(
            maps.park_update(5, 1, parked(9, 99), || true),
            Some(ParkOutcome::Rejected(DropReason::Stale))
        );
        assert_eq!(
            maps.park_update(5, 1, parked(20, 98), || true),
            Some(ParkOutcome::Parked {
                displaced: vec![DropReason::Stale]
            })
        );
        assert_eq!(maps.updates_len(), CANDIDATES_PER_SLOT);
    }

    #[test]
    fn the_message_cap_evicts_least_recently_used_slots() {
        let maps = PendingMaps::new(2, 2, 1 << 20);
        for scid in 0..2 {
            maps.park_update(scid, 0, parked(1, scid), || true);
        }
        assert_eq!(
            maps.park_update(2, 0, parked(1, 2), || true),
            Some(ParkOutcome::Parked {
                displaced: vec![DropReason::OrphanEvicted]
            })
        );
        assert_eq!(maps.updates_len(), 2);
        assert!(maps.take_updates(0).is_empty(), "oldest slot was evicted");
    }

    #[test]
    fn parking_rechecks_under_the_lock() {
        let maps = PendingMaps::new(2, 2, 1 << 20);
        assert_eq!(
            maps.park_node_announcement([2; 33], parked(1, 1), || false),
            None
        );
        assert_eq!(maps.node_announcements_len(), 0);
    }

    #[test]
    fn orphans_are_capped_in_bytes_as_well_as_in_count() {
        let maps = PendingMaps::new(1_000, 1_000, 10_000);
        let big = |scid: u64| Parked {
            timestamp: 1,
            fingerprint: scid,
            msg: vec![0; 3_000],
            hold: None,
        };
        let mut evicted = 0;
        for scid in 0..10 {
            match maps.park_update(scid, 0, big(scid), || true) {
                Some(ParkOutcome::Parked { displaced }) => evicted += displaced.len(),
                other => panic!("{other:?}"),
            }
        }
        // Three 3,000-byte orphans fit 10,000 bytes; the older seven were evicted, LRU first.
        assert_eq!(maps.updates_len(), 3);
        assert_eq!(evicted, 7);
        assert_eq!(maps.bytes(), (9_000, 0));
        assert!(maps.take_updates(0).is_empty());
        assert_eq!(maps.take_updates(9).len(), 1);
        assert_eq!(maps.bytes(), (6_000, 0));
        // One message larger than the whole cap is counted parked and at once evicted.
        let huge = Parked {
            timestamp: 1,
            fingerprint: 99,
            msg: vec![0; 20_000],
            hold: None,
        };
        let outcome = maps.park_node_announcement([2; 33], huge, || true);
        assert_eq!(
            outcome,
            Some(ParkOutcome::Parked {
                displaced: vec![DropReason::OrphanEvicted]
            })
        );
        assert_eq!(maps.bytes(), (6_000, 0));
    }
}
