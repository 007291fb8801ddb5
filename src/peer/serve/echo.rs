//! What a peer recently sent us, so its own gossip is not streamed back to it (issue 12: never
//! echo). A window of message hashes, bounded in count: it covers live relay, where an echo
//! would follow within seconds; a whole dump the peer sent us long ago is not remembered (that
//! would cost ~1 MB per peer), and the peer drops such repeats as duplicates.
//!
//! Built like the first-arrival table (`pipeline::arrivals`): a fixed table allocated once,
//! 8-byte slots in buckets of eight on one 64-byte cache line. A message may sit in any slot
//! of its bucket, and a new one takes the bucket's oldest slot, so the window keeps (nearly)
//! the most recent `cap` messages for one cache line per insert or lookup. It replaced a hash
//! set beside an eviction queue, which touched three places in ~100 KB per message received
//! (~50 ns of a duplicate's cost outside the cipher, `benches/bolt8_duplicates.rs`).
//!
//! A slot holds the top 40 bits of the message's hash (the bucket comes from the low bits, so
//! a match is on ~49 bits: a message wrongly taken for one the peer sent, and so not sent to
//! it, is a 1-in-10^13 event per lookup) and a 24-bit insertion stamp for its age.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

/// Bytes per slot.
pub const SLOT_BYTES: usize = 8;
/// Slots per bucket: one 64-byte cache line.
const BUCKET_SLOTS: usize = 8;
const STAMP_BITS: u32 = 24;
const STAMP_MASK: u64 = (1 << STAMP_BITS) - 1;

#[derive(Clone, Copy)]
#[repr(align(64))]
struct Bucket([u64; BUCKET_SLOTS]);

pub struct RecentlyReceived {
    buckets: Box<[Bucket]>,
    /// Insertion count (its low 24 bits stamp a slot), for which slot of a bucket is oldest.
    inserted: u64,
    /// Seeded per window, so a peer cannot aim many messages at one bucket.
    hasher: RandomState,
}

impl RecentlyReceived {
    /// A window of at least `cap` messages (rounded up to a power of two of buckets of
    /// eight): `slots() * SLOT_BYTES` bytes, allocated here and never grown.
    pub fn new(cap: usize) -> Self {
        RecentlyReceived {
            buckets: vec![Bucket([0; BUCKET_SLOTS]); Self::buckets_for(cap)].into_boxed_slice(),
            inserted: 0,
            hasher: RandomState::default(),
        }
    }

    fn buckets_for(cap: usize) -> usize {
        cap.max(1).div_ceil(BUCKET_SLOTS).next_power_of_two()
    }

    /// The bytes a window of `cap` messages takes (exported as a limit).
    pub fn bytes_for(cap: usize) -> usize {
        Self::buckets_for(cap) * BUCKET_SLOTS * SLOT_BYTES
    }

    pub fn slots(&self) -> usize {
        self.buckets.len() * BUCKET_SLOTS
    }

    /// The bucket `msg` belongs in, and the tag it is known by there (never 0: 0 is empty).
    fn place(&self, msg: &[u8]) -> (usize, u64) {
        let hash = self.hasher.hash_one(msg);
        let bucket = usize::try_from(hash).unwrap_or(0) & (self.buckets.len() - 1);
        // The top 40 bits, above the stamp's; the lowest of them set keeps a tag non-zero.
        (bucket, (hash & !STAMP_MASK) | (1 << STAMP_BITS))
    }

    /// The peer sent `msg`.
    pub fn insert(&mut self, msg: &[u8]) {
        let (bucket, tag) = self.place(msg);
        self.inserted = self.inserted.wrapping_add(1);
        let stamp = self.inserted & STAMP_MASK;
        let Some(Bucket(slots)) = self.buckets.get_mut(bucket) else {
            return;
        };
        // The message's own slot if it is there (refreshed), else an empty one, else the
        // oldest: the one whose stamp is furthest behind the current count.
        let age = |slot: u64| stamp.wrapping_sub(slot & STAMP_MASK) & STAMP_MASK;
        let mut chosen = 0;
        let mut chosen_age = 0;
        for (index, slot) in slots.iter().enumerate() {
            if *slot & !STAMP_MASK == tag {
                chosen = index;
                break;
            }
            let slot_age = if *slot == 0 { u64::MAX } else { age(*slot) };
            if slot_age > chosen_age {
                chosen = index;
                chosen_age = slot_age;
            }
        }
        if let Some(slot) = slots.get_mut(chosen) {
            *slot = tag | stamp;
        }
    }

    /// Did the peer send `msg` within the window?
    pub fn contains(&self, msg: &[u8]) -> bool {
        let (bucket, tag) = self.place(msg);
        self.buckets
            .get(bucket)
            .is_some_and(|Bucket(slots)| slots.iter().any(|slot| *slot & !STAMP_MASK == tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_bounded_window() {
        // One bucket of eight: the ninth message pushes out the first.
        let mut recent = RecentlyReceived::new(8);
        assert_eq!(recent.slots(), 8);
        assert_eq!(RecentlyReceived::bytes_for(8), 64);
        assert_eq!(RecentlyReceived::bytes_for(4096), 32 << 10);
        let msgs: Vec<Vec<u8>> = (0u8..9).map(|i| vec![i; 3]).collect();
        for msg in &msgs[..8] {
            recent.insert(msg);
        }
        assert!(msgs[..8].iter().all(|m| recent.contains(m)));
        assert!(!recent.contains(&msgs[8]));
        recent.insert(&msgs[8]);
        assert!(!recent.contains(&msgs[0]), "oldest forgotten");
        assert!(msgs[1..].iter().all(|m| recent.contains(m)));
    }

    #[test]
    fn a_message_sent_again_is_refreshed_not_stored_twice() {
        let mut recent = RecentlyReceived::new(8);
        let msgs: Vec<Vec<u8>> = (0u8..8).map(|i| vec![i; 3]).collect();
        for msg in &msgs {
            recent.insert(msg);
        }
        // The first is sent again: now the second is the oldest.
        recent.insert(&msgs[0]);
        recent.insert(b"new");
        assert!(recent.contains(&msgs[0]));
        assert!(!recent.contains(&msgs[1]));
        assert!(recent.contains(b"new"));
    }

    #[test]
    fn keeps_nearly_the_last_cap_messages() {
        // Across many buckets, a slot goes to the oldest of its bucket: of the last `cap`
        // messages, nearly all are remembered, and none from long before.
        let cap = 4096;
        let mut recent = RecentlyReceived::new(cap);
        let total = 20_000u32;
        for i in 0..total {
            recent.insert(&i.to_be_bytes());
        }
        let recent_kept = (total - cap as u32..total)
            .filter(|i| recent.contains(&i.to_be_bytes()))
            .count();
        assert!(
            recent_kept > cap * 7 / 10,
            "only {recent_kept} of the last {cap} kept"
        );
        let old_kept = (0..total - 2 * cap as u32)
            .filter(|i| recent.contains(&i.to_be_bytes()))
            .count();
        assert!(old_kept < 50, "{old_kept} old messages still held");
    }
}
