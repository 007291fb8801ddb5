//! What passes from the sieve to a shard: one admitted message ([`VerifyJob`]) holding its
//! admission [`Slot`], and the [`PenaltyCounter`] through which a shard's later verdicts reach
//! the peer that sent it. Both stages import these; neither imports the other.

use std::sync::atomic::{AtomicU32, Ordering};
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
/// [`PeerAction`]). Only ever incremented; the session remembers what it has already acted on.
#[derive(Debug, Default)]
pub struct PeerVerdicts {
    invalid_signatures: AtomicU32,
    malformed: AtomicU32,
    warnings: AtomicU32,
    /// With `--chain none`: this peer's hourly budget of new channels.
    channel_budget: UnvalidatedBudget,
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
