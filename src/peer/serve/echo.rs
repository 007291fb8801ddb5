//! What a peer recently sent us, so its own gossip is not streamed back to it (issue 12: never
//! echo). A window of message hashes, bounded in count: it covers live relay, where an echo
//! would follow within seconds; a whole dump the peer sent us long ago is not remembered (that
//! would cost ~1 MB per peer), and the peer drops such repeats as duplicates.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};

use foldhash::fast::RandomState;

/// The set's keys are already hashes (seeded per window, so a peer cannot aim them): the set
/// uses them as they are instead of hashing them again (SipHash, twice per message: insert
/// and evict, ~10 % of a duplicate's cost outside the cipher before).
#[derive(Clone, Copy, Default)]
struct PreHashed;

struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the keys are `u64`); this keeps any other use correct.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

impl BuildHasher for PreHashed {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

pub struct RecentlyReceived {
    order: VecDeque<u64>,
    seen: HashSet<u64, PreHashed>,
    cap: usize,
    hasher: RandomState,
}

impl RecentlyReceived {
    pub fn new(cap: usize) -> Self {
        RecentlyReceived {
            order: VecDeque::with_capacity(cap.min(1024)),
            seen: HashSet::with_capacity_and_hasher(cap.min(1024), PreHashed),
            cap: cap.max(1),
            hasher: RandomState::default(),
        }
    }

    fn hash(&self, msg: &[u8]) -> u64 {
        self.hasher.hash_one(msg)
    }

    /// The peer sent `msg`.
    pub fn insert(&mut self, msg: &[u8]) {
        let h = self.hash(msg);
        if self.seen.contains(&h) {
            return;
        }
        // Evict first, so neither table ever holds `cap + 1` (one over doubled the queue's
        // allocation: 32 KB more per peer at the default window).
        if self.order.len() >= self.cap {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.seen.insert(h);
        self.order.push_back(h);
    }

    /// Did the peer send `msg` within the window?
    pub fn contains(&self, msg: &[u8]) -> bool {
        self.seen.contains(&self.hash(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_bounded_window() {
        let mut recent = RecentlyReceived::new(2);
        recent.insert(b"a");
        recent.insert(b"b");
        assert!(recent.contains(b"a") && recent.contains(b"b"));
        recent.insert(b"c");
        assert!(!recent.contains(b"a"), "oldest forgotten");
        assert!(recent.contains(b"c"));
    }
}
