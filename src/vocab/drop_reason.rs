//! The one list of reasons a gossip message is not accepted. `as_str` is the `reason` label of
//! `gossip_sieve_messages_dropped_total` and the `reason` field of log lines, so metrics and
//! logs cannot drift apart.

use crate::wire::kind::GossipKind;

/// What to do with the peer that sent a dropped message (after LDK's `ErrorAction`).
///
/// Only what the sending peer alone is responsible for is penalized. A peer that relays gossip
/// cannot check a channel_update's or node_announcement's signature against keys it does not
/// share with us: an attacker who announced a real short_channel_id with its own keys first
/// makes every genuine update for that channel fail *our* check, and punishing the relayers
/// would let it get honest peers banned (eclipsing us). LDK answers such a bad signature with a
/// `warning` and keeps the connection; LND only logs it. We do as LDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerAction {
    /// Normal gossip churn: duplicates, stale updates, our own queue and rate limits, and
    /// resends of what we already rejected.
    Ignore,
    /// Tell the peer with a BOLT 1 `warning`, but neither score nor disconnect it: the fault
    /// may lie with whoever originated the message, not with the relayer.
    Warn,
    /// Something only the sending peer can be blamed for (bytes that do not parse, or a
    /// channel_announcement whose own four signatures fail); counts toward its score.
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
    /// A channel_update with `dont_forward` set: meant for the channel's direct peer only,
    /// never stored as public or relayed.
    DontForward,
    /// A channel_announcement whose short_channel_id names no output on the chain (no such
    /// block, transaction or output index).
    FundingNotFound,
    /// A channel_announcement whose funding output is not the P2WSH of the 2-of-2 of its
    /// bitcoin keys (BOLT 3).
    FundingScriptMismatch,
    /// A channel_announcement whose funding output is spent: the channel is closed.
    FundingSpent,
    /// A channel_announcement whose funding output is not yet six blocks deep, and that could
    /// not wait longer (parking full, or still shallow after `park_max_blocks`).
    FundingUnconfirmed,
    /// A channel_announcement that waited for an unreachable chain source longer than allowed
    /// (or found its waiting room full): never accepted unvalidated, not proven fabricated.
    ChainUnavailable,
    /// With `--chain none`: a channel_announcement over the cap on channels accepted without
    /// validation (global, or the sending peer's hourly budget).
    UnvalidatedLimit,
    /// An orphan not parked because its sender already has its quota of parked orphans (in
    /// messages or bytes) in the pending maps.
    OrphanQuota,
}

impl DropReason {
    pub const ALL: [DropReason; 20] = [
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
        DropReason::DontForward,
        DropReason::FundingNotFound,
        DropReason::FundingScriptMismatch,
        DropReason::FundingSpent,
        DropReason::FundingUnconfirmed,
        DropReason::ChainUnavailable,
        DropReason::UnvalidatedLimit,
        DropReason::OrphanQuota,
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
            DropReason::DontForward => "dont_forward",
            DropReason::FundingNotFound => "funding_not_found",
            DropReason::FundingScriptMismatch => "funding_script_mismatch",
            DropReason::FundingSpent => "funding_spent",
            DropReason::FundingUnconfirmed => "funding_unconfirmed",
            DropReason::ChainUnavailable => "chain_unavailable",
            DropReason::UnvalidatedLimit => "unvalidated_limit",
            DropReason::OrphanQuota => "orphan_quota",
        }
    }

    /// What the peer that sent a `kind` message dropped for this reason deserves.
    pub fn peer_action(self, kind: GossipKind) -> PeerAction {
        match self {
            DropReason::Duplicate
            | DropReason::Stale
            | DropReason::QueueFull
            | DropReason::OrphanEvicted
            // Orphans are normal in a sync (a node_announcement ahead of its channels), so a
            // peer over its quota is only stopped from parking more.
            | DropReason::OrphanQuota
            // LND rate-limits only after validation, and a relayer cannot know how often the
            // origin re-signed its channel: over the limit is dropped, never charged.
            | DropReason::RateLimited
            | DropReason::DependencyRejected
            | DropReason::DontForward
            | DropReason::TimestampOutOfRange
            | DropReason::WrongChain
            // A resend of something already judged: the first copy was charged if it was the
            // sender's fault, and a relayer that re-offers it after a reconnect is not worse.
            | DropReason::RecentlyRejected
            // Our chain source's trouble or our own cap, never the peer's.
            | DropReason::ChainUnavailable
            | DropReason::UnvalidatedLimit
            // BOLT 7, channel_announcement, the receiving node: "if the `short_channel_id`'s
            // output does NOT correspond to a P2WSH ... OR the output is spent: MUST ignore the
            // message." No warning, no disconnect. A relayer cannot tell: a channel closed a
            // block ago is still relayed by every honest node that has not seen the block, a
            // shallow one may be six deep on its tip and not yet on ours, and its own chain view
            // is not ours. Core Lightning ignores these; LDK answers its UtxoLookup failures
            // with `ErrorAction::IgnoreError`. (LND 0.18's ban manager scores peers for invalid
            // announcements; we do not: a fabricated announcement costs us one bounded lookup,
            // its replays cost a hash (rejected and negative caches), and punishing relay would
            // let an attacker get honest peers banned.)
            | DropReason::FundingNotFound
            | DropReason::FundingScriptMismatch
            | DropReason::FundingSpent
            | DropReason::FundingUnconfirmed => PeerAction::Ignore,
            DropReason::Malformed | DropReason::BadNodeOrder => PeerAction::Penalize,
            // BOLT 7, channel_announcement: "if bitcoin_signature_1, bitcoin_signature_2,
            // node_signature_1 OR node_signature_2 are invalid OR NOT correct: SHOULD send a
            // `warning`. MAY close the connection. MUST ignore the message." All four keys are
            // in the message itself, so no relayer can be fooled into sending a bad one.
            DropReason::InvalidSignature if kind == GossipKind::ChannelAnnouncement => {
                PeerAction::Penalize
            }
            // BOLT 7 asks for a `warning` on a bad channel_update or node_announcement
            // signature (and, for channel_update, a disconnect). The key it is checked against
            // comes from the channel_announcement we accepted, which an attacker may have
            // raced in with its own keys: the relayer is warned, not disconnected (as LDK).
            DropReason::InvalidSignature => PeerAction::Warn,
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

    #[test]
    fn only_what_the_sender_alone_answers_for_is_penalized() {
        for reason in DropReason::ALL {
            for kind in GossipKind::ALL {
                let expected = match (reason, kind) {
                    (DropReason::Malformed | DropReason::BadNodeOrder, _) => PeerAction::Penalize,
                    (DropReason::InvalidSignature, GossipKind::ChannelAnnouncement) => {
                        PeerAction::Penalize
                    }
                    (DropReason::InvalidSignature, _) => PeerAction::Warn,
                    _ => PeerAction::Ignore,
                };
                assert_eq!(reason.peer_action(kind), expected, "{reason:?} on {kind:?}");
            }
        }
    }
}
