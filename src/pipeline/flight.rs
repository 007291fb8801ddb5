//! Two dedup memories besides the graph itself: what is admitted and not yet finished
//! (in flight), and what recently failed verification (rejected). Both answer before any
//! signature work, so sixteen peers sending the same message cost one verification.

use std::hash::Hasher;
use std::num::NonZeroUsize;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use lru::LruCache;
use parking_lot::Mutex;
use siphasher::sip::SipHasher13;

use super::DropReason;
use crate::graph::NodeId;

/// What a message would change in the graph; two messages with the same key race for the same
/// slot, so only the newest needs verifying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlightKey {
    Channel(u64),
    Update { short_channel_id: u64, direction: u8 },
    Node(NodeId),
}

/// Admitted-but-unfinished messages by key, with the timestamp being verified. Bounded by the
/// shards' admission capacity plus the messages waiting for a slot (at most one per peer).
#[derive(Default)]
pub struct InFlight {
    keys: DashMap<FlightKey, u32>,
}

impl InFlight {
    /// Claims `key` for a message with `timestamp` (0 for channel_announcements). Fails with
    /// `Duplicate` if the same timestamp is in flight and `Stale` if a newer one is.
    pub fn claim(&self, key: FlightKey, timestamp: u32) -> Result<(), DropReason> {
        match self.keys.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(timestamp);
                Ok(())
            }
            Entry::Occupied(mut slot) => {
                let current = *slot.get();
                if timestamp == current {
                    Err(DropReason::Duplicate)
                } else if timestamp < current {
                    Err(DropReason::Stale)
                } else {
                    // Newer than the one being verified: verify it too; the graph keeps the
                    // newest whichever finishes first.
                    slot.insert(timestamp);
                    Ok(())
                }
            }
        }
    }

    /// Releases the claim of the message with `timestamp`, unless a newer one took it over.
    pub fn release(&self, key: &FlightKey, timestamp: u32) {
        self.keys.remove_if(key, |_, current| *current == timestamp);
    }

    pub fn contains(&self, key: &FlightKey) -> bool {
        self.keys.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Keyed hashes of messages that failed verification. The key is random per process so a peer
/// cannot craft collisions that make us drop someone else's valid message.
pub struct RejectedCache {
    hash_key: (u64, u64),
    entries: Mutex<LruCache<u64, ()>>,
}

impl RejectedCache {
    pub fn new(capacity: usize) -> Self {
        RejectedCache {
            hash_key: (rand::random(), rand::random()),
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    pub fn fingerprint(&self, msg: &[u8]) -> u64 {
        let mut hasher = SipHasher13::new_with_keys(self.hash_key.0, self.hash_key.1);
        hasher.write(msg);
        hasher.finish()
    }

    pub fn contains(&self, fingerprint: u64) -> bool {
        self.entries.lock().contains(&fingerprint)
    }

    pub fn insert(&self, fingerprint: u64) {
        self.entries.lock().put(fingerprint, ());
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_orders_by_timestamp() {
        let flight = InFlight::default();
        let key = FlightKey::Update {
            short_channel_id: 9,
            direction: 1,
        };
        assert_eq!(flight.claim(key, 10), Ok(()));
        assert_eq!(flight.claim(key, 10), Err(DropReason::Duplicate));
        assert_eq!(flight.claim(key, 9), Err(DropReason::Stale));
        assert_eq!(flight.claim(key, 11), Ok(()));
        flight.release(&key, 10);
        assert!(flight.contains(&key), "the newer claim survives the older release");
        flight.release(&key, 11);
        assert!(flight.is_empty());
    }

    #[test]
    fn rejected_cache_is_bounded() {
        let cache = RejectedCache::new(2);
        let fingerprints: Vec<u64> = (0u8..3).map(|i| cache.fingerprint(&[i; 10])).collect();
        for f in &fingerprints {
            cache.insert(*f);
        }
        assert_eq!(cache.len(), 2);
        assert!(!cache.contains(fingerprints[0]));
        assert!(cache.contains(fingerprints[2]));
    }
}
