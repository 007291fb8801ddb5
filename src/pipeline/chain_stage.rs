//! The chain stage: what sits between a verified channel_announcement and the graph (DESIGN §7).
//!
//! - **Validating** (a chain source is configured): the sieve takes a [`ChainTicket`] before
//!   admitting a channel_announcement: a slot in the validator's lookup queue (count) and the
//!   message's KiB from this stage's byte budget. When either is exhausted the peer waits, as it
//!   waits for a full shard mailbox, and after `stall_timeout` the message is dropped as
//!   `queue_full`. The shard verifies the four signatures first (nobody gets a free oracle with
//!   unsigned junk), then hands the claim to [`ChainValidator::lookup`], which runs off the
//!   shard's thread; the shard goes on with other work and applies (or drops) the channel when
//!   the answer arrives. The byte budget stays with the message until then, including while
//!   the validator parks it (too shallow, or the source unreachable), so waiting announcements
//!   are capped in count (the validator's `parked`) and in bytes (here).
//! - **Unvalidated** (`--chain none`, run only): nothing is checked on chain, so the graph is
//!   capped instead: at most `global_cap` channels, and at most `per_peer_per_hour` new
//!   channels from one peer session per hour (fixed one-hour windows). Replays of dumps run
//!   without a stage at all (their input is the operator's own file, not a peer).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::chain::{
    ChainValidator, FundingClaim, FundingRejection, HeldSlot, LookupOutcome, LookupPermit,
    WatchHandle,
};
use crate::graph::Graph;
use crate::vocab::DropReason;
use crate::wire::gossip::ChannelAnnouncement;
use crate::wire::scid::ShortChannelId;

/// Caps on channels accepted without chain validation (`--chain none`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnvalidatedCaps {
    /// Channels the graph may hold at most (mainnet has ~50,000).
    pub global_cap: usize,
    /// New channels one peer session may add per hour.
    pub per_peer_per_hour: u32,
}

impl Default for UnvalidatedCaps {
    fn default() -> Self {
        UnvalidatedCaps {
            // Twice mainnet's graph: room to grow, while a fabricating peer stops there.
            global_cap: 100_000,
            // One full mainnet dump from a fresh peer per hour.
            per_peer_per_hour: 60_000,
        }
    }
}

/// A peer session's budget of new unvalidated channels (fixed one-hour windows).
#[derive(Debug, Default)]
pub struct UnvalidatedBudget {
    window: Mutex<Option<(Instant, u32)>>,
}

impl UnvalidatedBudget {
    const WINDOW: Duration = Duration::from_secs(3600);

    /// Takes one channel from the budget if `per_hour` allows it.
    fn take(&self, per_hour: u32, now: Instant) -> bool {
        let mut window = self.window.lock();
        let (start, used) = window.get_or_insert((now, 0));
        if now.duration_since(*start) >= Self::WINDOW {
            *start = now;
            *used = 0;
        }
        if *used >= per_hour {
            return false;
        }
        *used += 1;
        true
    }
}

/// What holds a channel_announcement's place in the chain stage from admission to answer.
pub struct ChainTicket {
    lookup: LookupPermit,
    _bytes: OwnedSemaphorePermit,
}

/// How channel_announcements are checked before they are applied.
pub enum ChainMode {
    Validate {
        validator: ChainValidator,
        /// The tip follower's index of funding outpoints: accepted channels are watched for
        /// their close.
        watch: WatchHandle,
    },
    Unvalidated(UnvalidatedCaps),
}

/// The stage; one per pipeline, shared by the sieve and the shards.
pub struct ChainStage {
    mode: ChainMode,
    /// KiB of channel_announcements between admission and their chain answer.
    kib: Arc<Semaphore>,
    kib_cap: usize,
}

/// The largest message in KiB: the budget always admits one.
const MAX_MESSAGE_KIB: usize = 64;

impl ChainStage {
    /// `bytes_cap`: bytes of announcements waiting for the chain, at most (at least 64 KiB).
    pub fn new(mode: ChainMode, bytes_cap: usize) -> Self {
        let kib_cap = (bytes_cap / 1024).clamp(MAX_MESSAGE_KIB, Semaphore::MAX_PERMITS);
        ChainStage {
            mode,
            kib: Arc::new(Semaphore::new(kib_cap)),
            kib_cap,
        }
    }

    pub fn mode(&self) -> &ChainMode {
        &self.mode
    }

    /// The byte budget, as configured (rounded to KiB).
    pub fn bytes_cap(&self) -> usize {
        self.kib_cap * 1024
    }

    /// Whether channel_announcements need a [`ChainTicket`] to be admitted.
    pub fn validates(&self) -> bool {
        matches!(self.mode, ChainMode::Validate { .. })
    }

    /// A ticket for a `len`-byte announcement, waiting until `deadline` (backpressure); `None`
    /// when the deadline passed first.
    pub async fn ticket(&self, len: usize, deadline: tokio::time::Instant) -> Option<ChainTicket> {
        let ChainMode::Validate { validator, .. } = &self.mode else {
            return None;
        };
        let lookup = match validator.try_admit() {
            Some(permit) => permit,
            None => tokio::time::timeout_at(deadline, validator.admit())
                .await
                .ok()?,
        };
        let kib = u32::try_from(len.div_ceil(1024).clamp(1, MAX_MESSAGE_KIB)).unwrap_or(1);
        let bytes = match Arc::clone(&self.kib).try_acquire_many_owned(kib) {
            Ok(permit) => permit,
            Err(_) => {
                tokio::time::timeout_at(deadline, Arc::clone(&self.kib).acquire_many_owned(kib))
                    .await
                    .ok()?
                    .ok()?
            }
        };
        Some(ChainTicket {
            lookup,
            _bytes: bytes,
        })
    }

    /// Starts the funding lookup of a verified announcement (off the calling thread). Returns
    /// the answer's receiver and what must be kept until it arrives (the byte budget).
    pub fn lookup(
        &self,
        ticket: ChainTicket,
        ann: &ChannelAnnouncement,
    ) -> Option<(tokio::sync::oneshot::Receiver<LookupOutcome>, ChainHold)> {
        let ChainMode::Validate { validator, .. } = &self.mode else {
            return None;
        };
        let ChainTicket { lookup, _bytes } = ticket;
        let (answer, slot) = validator.lookup(lookup, claim_of(ann));
        Some((answer, ChainHold(_bytes, slot)))
    }

    /// With `--chain none`: whether one more unvalidated channel fits the caps.
    pub fn admit_unvalidated(
        &self,
        graph: &Graph,
        budget: Option<&UnvalidatedBudget>,
    ) -> Result<(), DropReason> {
        let ChainMode::Unvalidated(caps) = &self.mode else {
            return Ok(());
        };
        if graph.channel_count() >= caps.global_cap {
            return Err(DropReason::UnvalidatedLimit);
        }
        match budget {
            Some(budget) if !budget.take(caps.per_peer_per_hour, Instant::now()) => {
                Err(DropReason::UnvalidatedLimit)
            }
            _ => Ok(()),
        }
    }

    /// An accepted channel's funding outpoint joins the follower's watch list.
    pub fn watch(&self, short_channel_id: u64, outpoint: bitcoin::OutPoint) {
        if let ChainMode::Validate { watch, .. } = &self.mode {
            watch.watch(ShortChannelId::from_u64(short_channel_id), outpoint);
        }
    }
}

impl ChainStage {
    /// The funding outpoint of a validated channel still open (`None` with `--chain none`, or
    /// while a channel loaded from the store waits for its re-check).
    pub fn funding_outpoint(&self, short_channel_id: u64) -> Option<bitcoin::OutPoint> {
        match &self.mode {
            ChainMode::Validate { watch, .. } => {
                watch.outpoint_of(ShortChannelId::from_u64(short_channel_id))
            }
            ChainMode::Unvalidated(_) => None,
        }
    }

    /// A forgotten channel's funding outpoint leaves the watch list (which thus holds at most
    /// the validated channels of the graph).
    pub fn unwatch(&self, short_channel_id: u64) {
        if let ChainMode::Validate { watch, .. } = &self.mode {
            watch.unwatch(ShortChannelId::from_u64(short_channel_id));
        }
    }
}

/// What an announcement claims about its funding output.
pub fn claim_of(ann: &ChannelAnnouncement) -> FundingClaim {
    FundingClaim {
        scid: ShortChannelId::from_u64(ann.short_channel_id),
        bitcoin_key_1: ann.bitcoin_key_1,
        bitcoin_key_2: ann.bitcoin_key_2,
    }
}

/// Held from hand-off until the answer has been acted on: the announcement's bytes in the
/// stage's budget, and (once answered) its lookup-queue slot. So at most `lookup_queue`
/// announcements are between admission and the graph, and the updates that arrive before
/// their announcement lands (parked as orphans, two per channel) fit the pending map: a slot
/// given back at the answer, before the shard applied it, let announcements answered but not yet
/// applied pile up beyond the queue, and their updates overflow the pending map.
pub struct ChainHold(
    #[allow(dead_code)] OwnedSemaphorePermit,
    #[allow(dead_code)] HeldSlot,
);

/// The drop reason a funding verdict becomes.
pub fn drop_reason(outcome: &LookupOutcome) -> Option<DropReason> {
    match outcome {
        LookupOutcome::Accepted(_) => None,
        LookupOutcome::Rejected(rejection) => Some(match rejection {
            FundingRejection::NotFound => DropReason::FundingNotFound,
            FundingRejection::ScriptMismatch => DropReason::FundingScriptMismatch,
            FundingRejection::Spent => DropReason::FundingSpent,
            FundingRejection::Unconfirmed => DropReason::FundingUnconfirmed,
        }),
        LookupOutcome::Unavailable(_) => Some(DropReason::ChainUnavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hourly_budget_refills_after_an_hour() {
        let budget = UnvalidatedBudget::default();
        let start = Instant::now();
        assert!(budget.take(2, start));
        assert!(budget.take(2, start));
        assert!(!budget.take(2, start + Duration::from_secs(3599)));
        assert!(budget.take(2, start + Duration::from_secs(3600)));
    }

    #[test]
    fn every_funding_verdict_has_its_reason() {
        for rejection in FundingRejection::ALL {
            let reason = drop_reason(&LookupOutcome::Rejected(rejection)).unwrap();
            assert_eq!(reason.as_str(), rejection.as_str());
        }
    }
}
