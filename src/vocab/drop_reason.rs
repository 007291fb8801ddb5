//! The one list of reasons a gossip message is not accepted. `as_str` is the `reason` label of
//! `gossip_sieve_messages_dropped_total` and the `reason` field of log lines, so metrics and
//! logs cannot drift apart.

/// What to do with the peer that sent a dropped message (after LDK's `ErrorAction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerAction {
    /// Normal gossip churn: duplicates, stale updates, our own queue limits.
    Ignore,
    /// The peer sent something wrong but within what honest peers do (BOLT 7 says "SHOULD
    /// ignore"); count it toward the peer's misbehaviour score.
    Penalize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Already in the graph with the same timestamp, already in flight, or byte-identical to one.
    Duplicate,
    /// Older than what the graph holds for the same channel direction / node.
    Stale,
    /// The verifier shard stayed full for longer than `stall_timeout`.
    QueueFull,
    /// A signature did not verify (including high-S signatures, which BOLT 7 treats as invalid).
    InvalidSignature,
    /// The bytes do not parse as the message they claim to be.
    Malformed,
    /// `chain_hash` is not the chain this node follows.
    WrongChain,
    /// channel_announcement with `node_id_1` not lexicographically below `node_id_2`.
    BadNodeOrder,
    /// Timestamp more than a day ahead of our clock or older than the staleness window.
    TimestampOutOfRange,
    /// A parked orphan (update for an unknown channel, announcement for an unknown node) was
    /// pushed out of its bounded pending map.
    OrphanEvicted,
    /// Over the per-peer or per-channel rate limit.
    RateLimited,
    /// Byte-identical to a message that recently failed verification (keyed-hash cache).
    RecentlyRejected,
    /// A channel_update's or node_announcement's dependency was itself rejected.
    DependencyRejected,
}

impl DropReason {
    pub const ALL: [DropReason; 12] = [
        DropReason::Duplicate,
        DropReason::Stale,
        DropReason::QueueFull,
        DropReason::InvalidSignature,
        DropReason::Malformed,
        DropReason::WrongChain,
        DropReason::BadNodeOrder,
        DropReason::TimestampOutOfRange,
        DropReason::OrphanEvicted,
        DropReason::RateLimited,
        DropReason::RecentlyRejected,
        DropReason::DependencyRejected,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Duplicate => "duplicate",
            DropReason::Stale => "stale",
            DropReason::QueueFull => "queue_full",
            DropReason::InvalidSignature => "invalid_signature",
            DropReason::Malformed => "malformed",
            DropReason::WrongChain => "wrong_chain",
            DropReason::BadNodeOrder => "bad_node_order",
            DropReason::TimestampOutOfRange => "timestamp_out_of_range",
            DropReason::OrphanEvicted => "orphan_evicted",
            DropReason::RateLimited => "rate_limited",
            DropReason::RecentlyRejected => "recently_rejected",
            DropReason::DependencyRejected => "dependency_rejected",
        }
    }

    pub fn peer_action(self) -> PeerAction {
        match self {
            DropReason::Duplicate
            | DropReason::Stale
            | DropReason::QueueFull
            | DropReason::OrphanEvicted
            | DropReason::RateLimited
            | DropReason::DependencyRejected
            | DropReason::TimestampOutOfRange
            | DropReason::WrongChain => PeerAction::Ignore,
            DropReason::InvalidSignature
            | DropReason::Malformed
            | DropReason::BadNodeOrder
            | DropReason::RecentlyRejected => PeerAction::Penalize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_lower_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
            let label = reason.as_str();
            assert!(
                label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{label}"
            );
            assert!(seen.insert(label), "duplicate label {label}");
        }
    }
}
