//! What passes from the sieve to a shard: one admitted message ([`VerifyJob`]) holding its
//! admission [`Slot`], and the [`PenaltyCounter`] through which a shard's later verdict reaches
//! the peer that sent it. Both stages import these; neither imports the other.

use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::Instant;

use actix::Message;
use prometheus::IntGauge;
use tokio::sync::OwnedSemaphorePermit;

use super::flight::{Claim, FlightKey};
use crate::wire::kind::GossipKind;

/// Counts the penalized drops (invalid signatures, malformed messages) a shard finds in one
/// peer's admitted messages: those verdicts come after `offer` has returned `Admitted`, so the
/// peer's session reads this counter to charge them to the peer that sent them.
pub type PenaltyCounter = Arc<AtomicU32>;

/// A held admission slot: returned to the shard's semaphore (and the depth gauge lowered) when
/// the shard has finished the message, or when an admission fails.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    depth: IntGauge,
}

impl Slot {
    /// Takes `permit` as this job's slot and shows it in the shard's depth gauge.
    pub fn new(permit: OwnedSemaphorePermit, depth: IntGauge) -> Self {
        depth.inc();
        Slot {
            _permit: permit,
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
/// finished and dropped.
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
    pub slot: Slot,
}
