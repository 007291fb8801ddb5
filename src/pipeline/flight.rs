//! Two dedup memories besides the graph itself: what is admitted and not yet finished
//! (in flight), and what recently failed verification (rejected). Both answer before any
//! signature work, so sixteen peers sending the same message cost one verification.

use std::hash::Hasher;
use std::num::NonZeroUsize;
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use lru::LruCache;
use parking_lot::Mutex;
use siphasher::sip::SipHasher13;

use crate::graph::NodeId;
use crate::vocab::DropReason;

/// What a message would change in the graph; two messages with the same key race for the same
/// slot, so only the newest needs verifying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlightKey {
    Channel(u64),
    Update {
        short_channel_id: u64,
        direction: u8,
    },
    Node(NodeId),
}

/// The claim one admitted message holds: its timestamp (0 for channel_announcements) and its
/// bytes, shared with the job in the shard's mailbox.
#[derive(Clone, Debug)]
pub struct Claim {
    pub timestamp: u32,
    pub msg: Arc<[u8]>,
}

impl Claim {
    fn is(&self, other: &Claim) -> bool {
        Arc::ptr_eq(&self.msg, &other.msg)
    }
}

/// Admitted-but-unfinished messages by key. Bounded by the shards' admission capacity plus the
/// messages waiting for a slot (at most one per peer): every claim belongs to one admitted job.
///
/// Only a byte-identical copy of a message in flight is a duplicate here (a memcmp, no hash:
/// sixteen peers sending the same new message hit this path fifteen times). A different message
/// for the same key is admitted too, even when older: it may be the genuine one while the other
/// is a forgery with a higher timestamp, and the shard's re-check against the graph discards a
/// truly stale one before any signature work. Every distinct message in flight is remembered,
/// so copies of any of them cost neither a queue slot nor a rate-limit token.
#[derive(Default)]
pub struct InFlight {
    keys: DashMap<FlightKey, Vec<Claim>, foldhash::fast::RandomState>,
}

impl InFlight {
    /// Whether exactly these bytes are in flight for `key`.
    pub fn holds(&self, key: &FlightKey, msg: &[u8]) -> bool {
        self.keys
            .get(key)
            .is_some_and(|claims| claims.iter().any(|c| *c.msg == *msg))
    }

    pub fn claim(&self, key: FlightKey, claim: Claim) -> Result<(), DropReason> {
        match self.keys.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(vec![claim]);
                Ok(())
            }
            Entry::Occupied(mut slot) => {
                if slot.get().iter().any(|c| *c.msg == *claim.msg) {
                    return Err(DropReason::Duplicate);
                }
                slot.get_mut().push(claim);
                Ok(())
            }
        }
    }

    /// Releases `claim` (by identity, not content).
    pub fn release(&self, key: &FlightKey, claim: &Claim) {
        if let Entry::Occupied(mut slot) = self.keys.entry(*key) {
            slot.get_mut().retain(|c| !c.is(claim));
            if slot.get().is_empty() {
                slot.remove();
            }
        }
    }

    /// Distinct messages in flight for `key`.
    pub fn claims(&self, key: &FlightKey) -> usize {
        self.keys.get(key).map_or(0, |claims| claims.len())
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

    fn claim(timestamp: u32, content: u8) -> Claim {
        Claim {
            timestamp,
            msg: Arc::from(vec![content; 8]),
        }
    }

    #[test]
    fn only_identical_copies_are_in_flight_duplicates() {
        let flight = InFlight::default();
        let key = FlightKey::Update {
            short_channel_id: 9,
            direction: 1,
        };
        let first_claim = claim(10, 1);
        assert_eq!(flight.claim(key, first_claim.clone()), Ok(()));
        assert!(flight.holds(&key, &[1; 8]));
        assert_eq!(flight.claim(key, claim(10, 1)), Err(DropReason::Duplicate));
        // Same timestamp, other bytes: possibly the genuine one behind a forgery.
        let second = claim(10, 2);
        assert_eq!(flight.claim(key, second.clone()), Ok(()));
        assert_eq!(
            flight.claim(key, claim(9, 3)),
            Ok(()),
            "older is re-checked by the shard"
        );
        let newest = claim(11, 4);
        assert_eq!(flight.claim(key, newest.clone()), Ok(()));
        assert_eq!(
            flight.claim(key, claim(10, 2)),
            Err(DropReason::Duplicate),
            "a copy of any message in flight is a duplicate, not only of the newest"
        );
        flight.release(&key, &second);
        assert!(flight.contains(&key), "other claims survive a release");
        assert!(!flight.holds(&key, &[2; 8]));
        flight.release(&key, &newest);
        flight.release(&key, &first_claim);
        assert!(flight.contains(&key), "the claim on [3; 8] is still there");
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
