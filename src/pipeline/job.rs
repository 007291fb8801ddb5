//! What passes from the sieve to a shard: one admitted message ([`VerifyJob`]) holding its
//! admission [`Slot`], and the [`PenaltyCounter`] through which a shard's later verdicts reach
//! the peer that sent it. Both stages import these; neither imports the other.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::Message;
use prometheus::IntGauge;
use tokio::sync::OwnedSemaphorePermit;

use super::chain_stage::{ChainTicket, UnvalidatedBudget};
use super::flight::{Claim, FlightKey};
use crate::vocab::{DropReason, PeerAction};
use crate::wire::kind::GossipKind;

/// What the shards found wrong in one peer's admitted messages: those verdicts come after
/// `offer` has returned `Admitted`, so the peer's session reads these counts to charge (or
/// warn) the peer that sent them.
pub type PenaltyCounter = Arc<PeerVerdicts>;

/// Running counts of the drops a peer answers for, by what they call for (see
/// [`PeerAction`]), only ever incremented (the session remembers what it has already acted on);
/// and the orphans of this peer now parked, against its [`OrphanQuota`].
#[derive(Debug, Default)]
pub struct PeerVerdicts {
    invalid_signatures: AtomicU32,
    malformed: AtomicU32,
    warnings: AtomicU32,
    /// With `--chain none`: this peer's hourly budget of new channels.
    channel_budget: UnvalidatedBudget,
    parked_messages: AtomicUsize,
    parked_bytes: AtomicUsize,
}

/// How many parked orphans, and how many bytes of them, one peer may have in the pending maps
/// at once, so that one peer flooding orphans pushes out only its own, never every other
/// peer's (issue 11: a per-peer quota on parked orphans).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrphanQuota {
    pub messages: usize,
    pub bytes: usize,
}

/// One parked message's share of its peer's [`OrphanQuota`], given back when the message
/// leaves the pending map (released, displaced or evicted: whenever it is dropped).
#[derive(Debug)]
pub struct ParkedHold {
    peer: PenaltyCounter,
    bytes: usize,
}

impl Drop for ParkedHold {
    fn drop(&mut self) {
        self.peer.parked_messages.fetch_sub(1, Ordering::Relaxed);
        self.peer
            .parked_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A snapshot of [`PeerVerdicts`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerdictCounts {
    /// channel_announcements whose own signatures failed.
    pub invalid_signatures: u32,
    /// Messages that did not parse or broke BOLT 7 structure.
    pub malformed: u32,
    /// Drops that call for a BOLT 1 `warning` only (other nodes' bad signatures).
    pub warnings: u32,
}

impl PeerVerdicts {
    /// Records a `kind` message dropped for `reason` under what it calls for.
    pub fn record(&self, kind: GossipKind, reason: DropReason) {
        let counter = match (reason.peer_action(kind), reason) {
            (PeerAction::Ignore, _) => return,
            (PeerAction::Warn, _) => &self.warnings,
            (PeerAction::Penalize, DropReason::InvalidSignature) => &self.invalid_signatures,
            (PeerAction::Penalize, _) => &self.malformed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes `bytes` of `peer`'s orphan quota for one parked message, or `None` when that would
    /// take the peer over `quota`. A peer's messages are offered one at a time, so the check and
    /// the take do not race.
    pub fn hold_parked(
        peer: &PenaltyCounter,
        bytes: usize,
        quota: OrphanQuota,
    ) -> Option<ParkedHold> {
        let messages = peer.parked_messages.load(Ordering::Relaxed);
        let held_bytes = peer.parked_bytes.load(Ordering::Relaxed);
        if messages >= quota.messages || held_bytes.saturating_add(bytes) > quota.bytes {
            return None;
        }
        peer.parked_messages.fetch_add(1, Ordering::Relaxed);
        peer.parked_bytes.fetch_add(bytes, Ordering::Relaxed);
        Some(ParkedHold {
            peer: peer.clone(),
            bytes,
        })
    }

    /// This peer's orphans now parked, and their bytes.
    pub fn parked(&self) -> (usize, usize) {
        (
            self.parked_messages.load(Ordering::Relaxed),
            self.parked_bytes.load(Ordering::Relaxed),
        )
    }

    /// This peer's budget of unvalidated new channels (see [`super::chain_stage`]).
    pub fn channel_budget(&self) -> &UnvalidatedBudget {
        &self.channel_budget
    }

    pub fn counts(&self) -> VerdictCounts {
        VerdictCounts {
            invalid_signatures: self.invalid_signatures.load(Ordering::Relaxed),
            malformed: self.malformed.load(Ordering::Relaxed),
            warnings: self.warnings.load(Ordering::Relaxed),
        }
    }
}

/// A held admission slot: returned to the shard's semaphore (and the depth gauge lowered) when
/// the shard has finished the message, or when an admission fails.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    /// The message's bytes against the shard's byte capacity.
    _bytes: OwnedSemaphorePermit,
    depth: IntGauge,
}

impl Slot {
    /// Takes `permit` (one message) and `bytes` (its size) as this job's slot and shows it in
    /// the shard's depth gauge.
    pub fn new(permit: OwnedSemaphorePermit, bytes: OwnedSemaphorePermit, depth: IntGauge) -> Self {
        depth.inc();
        Slot {
            _permit: permit,
            _bytes: bytes,
            depth,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.depth.dec();
    }
}

/// One admitted message. Holding `slot` keeps the shard's admission count up until the job is
/// finished and dropped, or until the shard hands it to the chain stage (which then holds the
/// job's place through `chain`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct VerifyJob {
    /// The sending peer's counter of penalized drops, if it keeps one.
    pub penalties: Option<PenaltyCounter>,
    pub kind: GossipKind,
    pub key: FlightKey,
    /// Holds the message bytes, shared with the in-flight map.
    pub claim: Claim,
    pub admitted_at: Instant,
    pub slot: Option<Slot>,
    /// A channel_announcement's place in the chain stage, when chain validation is on.
    pub chain: Option<ChainTicket>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_hold_counts_against_the_quota_until_it_is_dropped() {
        let peer: PenaltyCounter = Arc::default();
        let quota = OrphanQuota {
            messages: 2,
            bytes: 1_000,
        };
        let first = PeerVerdicts::hold_parked(&peer, 300, quota).expect("under quota");
        let second = PeerVerdicts::hold_parked(&peer, 300, quota).expect("under quota");
        assert!(
            PeerVerdicts::hold_parked(&peer, 1, quota).is_none(),
            "two messages held"
        );
        drop(first);
        assert!(
            PeerVerdicts::hold_parked(&peer, 701, quota).is_none(),
            "300 + 701 bytes is over 1,000"
        );
        let third = PeerVerdicts::hold_parked(&peer, 700, quota).expect("300 + 700 fits");
        assert_eq!(peer.parked(), (2, 1_000));
        drop((second, third));
        assert_eq!(peer.parked(), (0, 0));
    }
}
