//! What the pipeline reads: its bounds and policy, each with the reason for its default.

use std::time::Duration;

use super::values::Network;

/// Bounds and policy of the dedup → verify pipeline (DESIGN §3).
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub network: Network,
    /// Verifier shards, each an actor on its own thread. Default: one per core, since unique
    /// gossip is bound by secp256k1 verification and nothing else.
    pub shards: usize,
    /// Messages admitted into one shard's mailbox and not yet finished. 4096 × ~300 bytes keeps
    /// a full pipeline near 1 MiB per shard while covering well over a second of verify work.
    pub shard_mailbox_capacity: usize,
    /// Bytes of admitted messages each shard's mailbox holds at most (at least one 64 KiB
    /// message): at 4096 messages of up to 65 KB each, the count alone allows 268 MB a shard.
    pub shard_mailbox_bytes: usize,
    /// How long a peer waits for a slot in a full shard before the message is dropped as
    /// `queue_full`. While it waits it reads nothing more from its socket, so TCP pushes back.
    pub stall_timeout: Duration,
    /// channel_updates parked because their channel is not known yet (LRU by scid).
    pub pending_updates_cap: usize,
    /// node_announcements parked because no channel of the node is known yet (LRU by node id).
    pub pending_node_announcements_cap: usize,
    /// Bytes of parked messages each pending map may hold, on top of the message counts: a
    /// message may carry up to 65 KB of excess bytes, so 10,000 parked ones could otherwise
    /// hold 650 MB of never-verified bytes. The default keeps 10,000 ordinary orphans (~300
    /// bytes each) and bounds the worst case to a few MB per map.
    pub pending_bytes_cap: usize,
    /// Parked orphans one peer may have in the pending maps at once, and their bytes: half of
    /// one map by default, so a peer flooding orphans pushes out its own, and the other peers'
    /// orphans keep at least the other half (issue 11). Over it, `orphan_quota`.
    pub pending_per_peer_cap: usize,
    pub pending_per_peer_bytes_cap: usize,
    /// Accepted messages handed to the store actor and not yet written, at most: 4096 records
    /// of ~300 bytes cover far more than one fsync interval of buffered writing. Over it the
    /// shards pause, and peers with them.
    pub store_mailbox_capacity: usize,
    /// Bytes of those hand-offs, at most (at least one 64 KiB message): with the count alone,
    /// 4096 messages of 65 KB would hold 268 MB.
    pub store_mailbox_bytes_cap: usize,
    /// Keyed hashes of messages that failed verification, so a replayed bad message costs a
    /// hash, not another signature check.
    pub rejected_cache_cap: usize,
    /// Parsed node public keys (a parse costs ~6 µs, about a tenth of a verify). Split evenly
    /// across shards so no lock is shared on the hot path.
    pub pubkey_cache_cap: usize,
    /// BOLT 7 lets nodes ignore updates far in the future; LDK and Core Lightning use one day.
    pub max_future_skew: Duration,
    /// Gossip older than this is stale for the live network (BOLT 7 prunes after two weeks).
    /// `None` turns the age check off, for replaying historical dumps.
    pub max_age: Option<Duration>,
    /// channel_update token bucket refill per channel direction, per minute (LND: 1). 0 turns
    /// the limit off, as replays of historical dumps need (their many updates per direction
    /// arrive in seconds).
    pub update_rate_per_minute: u32,
    /// Token bucket size per channel direction (LND: 10). The buckets live in the graph's
    /// direction slots (8 bytes each), so every direction is tracked and none is evicted.
    pub update_burst: u32,
    /// An update this much newer than the stored one is a keep-alive refresh and bypasses the
    /// bucket (LND rebroadcasts keep-alives daily; BOLT 7 prunes after two weeks without one).
    pub update_keepalive_after: Duration,
    /// Bytes of the first-arrival table (8 bytes a slot, rounded down to a power of two of
    /// slots), which times later copies of a message against its first (propagation metrics).
    /// 2 MiB holds 262,144 messages: every channel_update and node_announcement mainnet sends
    /// in well over a day, so live relays are timed; older first copies are overwritten, and
    /// their duplicates counted as untimed.
    pub first_arrival_table_bytes: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            network: Network::Bitcoin,
            shards: default_shards(),
            shard_mailbox_capacity: 4096,
            shard_mailbox_bytes: 16 << 20,
            stall_timeout: Duration::from_secs(10),
            pending_updates_cap: 10_000,
            pending_node_announcements_cap: 10_000,
            pending_bytes_cap: 8 << 20,
            pending_per_peer_cap: 5_000,
            pending_per_peer_bytes_cap: 4 << 20,
            store_mailbox_capacity: 4096,
            store_mailbox_bytes_cap: 16 << 20,
            rejected_cache_cap: 100_000,
            pubkey_cache_cap: 50_000,
            max_future_skew: Duration::from_secs(24 * 3600),
            max_age: Some(Duration::from_secs(14 * 24 * 3600)),
            update_rate_per_minute: 1,
            update_burst: 10,
            update_keepalive_after: Duration::from_secs(24 * 3600),
            first_arrival_table_bytes: 2 << 20,
        }
    }
}

pub fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
