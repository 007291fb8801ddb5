//! When the first copy of each recent message arrived, so that a later copy can be timed
//! against it (the propagation delay histogram and per-peer lag, issue 13).
//!
//! A fixed table of 8-byte slots, allocated once: its size in bytes is its cap
//! (`pipeline.first_arrival_table_bytes`), so nothing here grows with the message count, and no
//! lock is taken on the duplicate path (one hash and one cache line of relaxed atomic loads).
//! A slot holds a 24-bit tag of the message's key and the arrival time. Slots come in buckets
//! of eight, one 64-byte cache line: a key may sit in any slot of its bucket, and a new first
//! arrival takes the bucket's oldest slot, so the table keeps (nearly) the most recent messages
//! instead of losing one at every hash collision, for the price of one line read either way. A
//! duplicate of a message pushed out goes untimed (counted as such), never mistimed, except for
//! a 1-in-2-million tag collision. Only metrics read it: nothing here steers the sieve.
//!
//! A message's identity for this purpose is its key plus its timestamp: a channel_announcement
//! by scid, a channel_update by scid, direction and timestamp, a node_announcement by node id
//! and timestamp.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::gossip::Summary;

/// Bytes per slot.
pub const SLOT_BYTES: usize = 8;
/// Slots per bucket: one 64-byte cache line.
const BUCKET_SLOTS: usize = 8;
/// The low bits of a slot hold the arrival time in ms (+1, so 0 is an empty slot): 2^40 ms is
/// 34 years of monotonic clock.
const TIME_BITS: u32 = 40;
const TIME_MASK: u64 = (1 << TIME_BITS) - 1;

/// A message's place in the table: which bucket, and the tag that must be found there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrivalKey {
    bucket: usize,
    tag: u64,
}

/// Eight slots on one cache line.
#[repr(align(64))]
struct Bucket([AtomicU64; BUCKET_SLOTS]);

pub struct FirstArrivals {
    buckets: Box<[Bucket]>,
    /// Seeded per process, so a peer cannot aim many keys at one slot to evict others.
    hasher: foldhash::fast::RandomState,
}

impl FirstArrivals {
    /// A table of at most `bytes` bytes: the largest power of two of buckets that fits (at
    /// least one bucket).
    pub fn with_bytes(bytes: usize) -> Self {
        let wanted = (bytes / (SLOT_BYTES * BUCKET_SLOTS)).max(1);
        // The largest power of two not above `wanted`.
        let buckets = 1usize << (usize::BITS - 1 - wanted.leading_zeros());
        FirstArrivals {
            buckets: (0..buckets)
                .map(|_| Bucket(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    pub fn slots(&self) -> usize {
        self.buckets.len() * BUCKET_SLOTS
    }

    pub fn bytes(&self) -> usize {
        self.slots() * SLOT_BYTES
    }

    /// Where the message `summary` describes lives in the table.
    pub fn key(&self, summary: &Summary) -> ArrivalKey {
        let mut hasher = self.hasher.build_hasher();
        match summary {
            Summary::ChannelAnnouncement {
                short_channel_id, ..
            } => {
                hasher.write_u8(0);
                hasher.write_u64(*short_channel_id);
            }
            Summary::ChannelUpdate {
                short_channel_id,
                timestamp,
                channel_flags,
                ..
            } => {
                hasher.write_u8(1 | ((channel_flags & 1) << 1));
                hasher.write_u64(*short_channel_id);
                hasher.write_u32(*timestamp);
            }
            Summary::NodeAnnouncement { timestamp, node_id } => {
                hasher.write_u8(4);
                hasher.write(node_id);
                hasher.write_u32(*timestamp);
            }
        }
        let hash = hasher.finish();
        // Low bits pick the bucket, the top 24 are the tag: independent bits of one hash.
        ArrivalKey {
            bucket: usize::try_from(hash).unwrap_or(0) & (self.buckets.len() - 1),
            tag: hash >> TIME_BITS,
        }
    }

    /// Starts loading `key`'s bucket into the cache, so that its miss overlaps the graph
    /// lookup that decides whether the message is a duplicate, instead of following it.
    #[inline]
    pub fn prefetch(&self, key: ArrivalKey) {
        if let Some(bucket) = self.buckets.get(key.bucket) {
            crate::cache_hint::prefetch_line(bucket);
        }
    }

    /// The first copy of `key` arrived at `now_ms` (see [`crate::clock::coarse_monotonic_ms`]):
    /// it takes its bucket's empty or oldest slot. Two peers recording at once may both take
    /// the same slot; one record is lost, and that message's copies go untimed.
    pub fn record(&self, key: ArrivalKey, now_ms: u64) {
        let Some(Bucket(slots)) = self.buckets.get(key.bucket) else {
            return;
        };
        let time = (now_ms & TIME_MASK).saturating_add(1) & TIME_MASK;
        let oldest = slots
            .iter()
            .min_by_key(|slot| slot.load(Ordering::Relaxed) & TIME_MASK);
        if let Some(slot) = oldest {
            slot.store((key.tag << TIME_BITS) | time, Ordering::Relaxed);
        }
    }

    /// Milliseconds from the first copy of `key` to `now_ms`, if the table still holds it.
    pub fn since_first(&self, key: ArrivalKey, now_ms: u64) -> Option<u64> {
        let Bucket(slots) = self.buckets.get(key.bucket)?;
        slots.iter().find_map(|slot| {
            let packed = slot.load(Ordering::Relaxed);
            let time = packed & TIME_MASK;
            (time != 0 && packed >> TIME_BITS == key.tag)
                .then(|| (now_ms & TIME_MASK).saturating_sub(time - 1))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(scid: u64, timestamp: u32, channel_flags: u8) -> Summary {
        Summary::ChannelUpdate {
            chain_hash: [0; 32],
            short_channel_id: scid,
            timestamp,
            channel_flags,
            dont_forward: false,
        }
    }

    #[test]
    fn a_recorded_first_copy_times_later_copies_of_the_same_message_only() {
        let table = FirstArrivals::with_bytes(1 << 16);
        let first = table.key(&update(7, 100, 0));
        table.record(first, 5_000);
        assert_eq!(table.since_first(first, 5_250), Some(250));
        assert_eq!(
            table.key(&update(7, 100, 0)),
            first,
            "same message, same key"
        );
        // Another timestamp or direction is another message.
        for other in [update(7, 101, 0), update(7, 100, 1), update(8, 100, 0)] {
            assert_eq!(table.since_first(table.key(&other), 5_250), None);
        }
        let node = Summary::NodeAnnouncement {
            timestamp: 100,
            node_id: [2; 33],
        };
        assert_eq!(table.since_first(table.key(&node), 5_250), None);
    }

    #[test]
    fn the_table_is_its_byte_cap_and_a_full_bucket_gives_up_its_oldest_message() {
        let table = FirstArrivals::with_bytes(200);
        assert_eq!((table.slots(), table.bytes()), (16, 128));
        assert_eq!(FirstArrivals::with_bytes(0).slots(), BUCKET_SLOTS);
        // One bucket: nine messages, eight slots.
        let tiny = FirstArrivals::with_bytes(64);
        let keys: Vec<ArrivalKey> = (0..9u64).map(|n| tiny.key(&update(n, 1, 0))).collect();
        for (n, key) in keys.iter().enumerate() {
            tiny.record(*key, 100 + n as u64);
        }
        assert_eq!(
            tiny.since_first(keys[0], 200),
            None,
            "evicted: untimed, not mistimed"
        );
        for (n, key) in keys.iter().enumerate().skip(1) {
            assert_eq!(
                tiny.since_first(*key, 200),
                Some(100 - n as u64),
                "message {n}"
            );
        }
    }
}
