//! A verifier shard: one actix actor on its own thread (arbiter) that owns a slice of the key
//! space (by short_channel_id or node id), so messages for one channel keep their order and no
//! lock on the hot path is shared between shards. It re-checks against the graph (another
//! shard's work or a racing copy may have landed since admission), verifies, applies,
//! releases parked dependants, and hands the message to the store actor.
//!
//! A job goes through three steps, each its own function:
//!
//! 1. [`VerifierShard::verify`]: parse, the authoritative re-check against the graph, the
//!    signatures. Yields a [`Verified`] message, or parks it, or a drop reason.
//! 2. [`VerifierShard::apply`]: the graph change, releasing parked dependants. Yields what to
//!    persist.
//! 3. [`VerifierShard::finish`]: the accounting every job ends with (accepted or dropped, the
//!    rejected cache, the peer's penalties, the store hand-off, the in-flight claim).
//!
//! The chain stage sits between 1 and 2 (see [`super::chain_stage`]): a verified
//! channel_announcement's funding lookup starts. An answer the validator has at once (its
//! caches, an in-process source) is settled right away, as without a chain. Otherwise the
//! lookup goes on off this thread, the job gives its mailbox slot back (its chain ticket's
//! byte budget holds its place instead), and the shard goes on with other jobs. When the
//! answer arrives, on this shard's thread, it runs 2 and 3 (or 3 alone with a `funding_*` drop
//! reason). The job's in-flight claim lasts until then, so
//! copies are still caught as duplicates, and updates for that channel admitted meanwhile find
//! it in flight and are re-parked by step 1, exactly as when they overtake an announcement.

use std::sync::Arc;
use std::time::Instant;

use actix::fut::ActorFutureExt;
use actix::{Actor, AsyncContext, Context, Handler};

use super::chain_stage::{self, ChainHold, ChainStage};
use super::job::VerifyJob;
use super::rate_limit::UpdateRateLimiter;
use super::state::PipelineState;
use super::verify::Verifier;
use crate::chain::{ChainError, LookupOutcome};
use crate::graph::{Stamp, UpdateStanding};
use crate::store::{Persist, StoreKey, StoreSender};
use crate::vocab::DropReason;
use crate::wire::gossip::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
use crate::wire::kind::GossipKind;

/// A message whose signatures checked out against the graph as it stood, not yet applied.
// Held for one call on the shard's stack (or by a later stage with its job); boxing the
// announcement would cost an allocation per channel for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Verified {
    ChannelAnnouncement(ChannelAnnouncement),
    ChannelUpdate {
        update: ChannelUpdate,
        /// The direction's timestamp in the graph when the update was checked.
        stored: Option<u32>,
        direction: usize,
    },
    NodeAnnouncement(NodeAnnouncement),
}

/// What [`VerifierShard::verify`] made of a job when it did not drop it.
#[allow(clippy::large_enum_variant)]
pub enum Checked {
    Verified(Verified),
    /// An update that overtook its channel's announcement, parked until it is applied.
    Parked,
}

/// How a job left the shard when it was not dropped.
enum Processed {
    /// Applied to the graph; the store key and timestamp to persist it under.
    Accepted(StoreKey, u32),
    Parked,
}

pub struct VerifierShard {
    state: PipelineState,
    verifier: Verifier,
    /// The sieve's limiter (same epoch): the sieve looks at a bucket, the shard spends it.
    rate_limit: UpdateRateLimiter,
    store: Option<StoreSender>,
    /// What channel_announcements pass between verify and apply (none for replays).
    chain: Option<Arc<ChainStage>>,
}

/// What the chain stage made of a verified channel_announcement.
enum ChainStep {
    /// Apply it now, with this funding amount (0: not checked on chain).
    Apply(u64),
    /// Its funding answer came at once (caches, in-process source): settle it now.
    Answered(LookupOutcome, ChainHold),
    /// Its funding lookup runs; the answer comes later.
    Waiting(tokio::sync::oneshot::Receiver<LookupOutcome>, ChainHold),
    Drop(DropReason),
}

impl VerifierShard {
    pub fn new(
        state: PipelineState,
        pubkey_cache_cap: usize,
        rate_limit: UpdateRateLimiter,
        store: Option<StoreSender>,
        chain: Option<Arc<ChainStage>>,
    ) -> Self {
        VerifierShard {
            state,
            verifier: Verifier::new(pubkey_cache_cap),
            rate_limit,
            store,
            chain,
        }
    }

    /// Between step 1 and 2 for a verified channel_announcement: its funding lookup (or, with
    /// `--chain none`, the caps on unvalidated channels).
    fn chain_step(&self, job: &mut VerifyJob, ann: &ChannelAnnouncement) -> ChainStep {
        let Some(stage) = &self.chain else {
            return ChainStep::Apply(0);
        };
        if !stage.validates() {
            let budget = job.penalties.as_ref().map(|p| p.channel_budget());
            return match stage.admit_unvalidated(self.state.graph(), budget) {
                Ok(()) => ChainStep::Apply(0),
                Err(reason) => ChainStep::Drop(reason),
            };
        }
        // The sieve took the ticket at admission; a job without one (none is made so) must not
        // slip through unvalidated.
        let Some(ticket) = job.chain.take() else {
            return ChainStep::Drop(DropReason::ChainUnavailable);
        };
        match stage.lookup(ticket, ann) {
            Some((mut answer, hold)) => match answer.try_recv() {
                Ok(outcome) => ChainStep::Answered(outcome, hold),
                Err(_) => ChainStep::Waiting(answer, hold),
            },
            None => ChainStep::Drop(DropReason::ChainUnavailable),
        }
    }

    /// Steps 2 and 3 for a channel_announcement whose funding answer arrived.
    fn settle_funding(
        &mut self,
        job: VerifyJob,
        ann: ChannelAnnouncement,
        outcome: LookupOutcome,
        ctx: &mut Context<Self>,
    ) {
        let result = match (&outcome, chain_stage::drop_reason(&outcome)) {
            (LookupOutcome::Accepted(funding), _) => {
                let scid = ann.short_channel_id;
                let applied = self.apply_channel(ann, funding.amount_sat);
                if applied.is_ok() {
                    if let Some(stage) = &self.chain {
                        stage.watch(scid, funding.outpoint);
                    }
                }
                applied.map(|(key, timestamp)| Processed::Accepted(key, timestamp))
            }
            (_, Some(reason)) => Err(reason),
            (_, None) => Err(DropReason::ChainUnavailable),
        };
        self.finish(job, result, ctx);
    }

    /// Step 1: the re-check against the graph and the signature checks.
    fn verify(&mut self, job: &VerifyJob) -> Result<Checked, DropReason> {
        let state = &self.state;
        let metrics = state.metrics();
        let graph = state.graph();
        match job.kind {
            GossipKind::ChannelAnnouncement => {
                let ann = ChannelAnnouncement::parse(&job.claim.msg)
                    .map_err(|_| DropReason::Malformed)?;
                if graph.has_channel(ann.short_channel_id) {
                    return Err(DropReason::Duplicate);
                }
                self.verifier
                    .channel_announcement(metrics, &job.claim.msg, &ann)?;
                Ok(Checked::Verified(Verified::ChannelAnnouncement(ann)))
            }
            GossipKind::ChannelUpdate => {
                let update =
                    ChannelUpdate::parse(&job.claim.msg).map_err(|_| DropReason::Malformed)?;
                let direction = usize::from(update.channel_flags & 1);
                if graph.update_standing(update.short_channel_id, direction)
                    == UpdateStanding::UnknownChannel
                    && state.repark_update(
                        &job.claim.msg,
                        update.short_channel_id,
                        update.channel_flags & 1,
                        update.timestamp,
                    )?
                {
                    return Ok(Checked::Parked);
                }
                let stored = match graph.update_standing(update.short_channel_id, direction) {
                    UpdateStanding::Known(Some(stored)) if stored >= update.timestamp => {
                        return Err(if stored == update.timestamp {
                            DropReason::Duplicate
                        } else {
                            DropReason::Stale
                        })
                    }
                    UpdateStanding::Known(stored) => stored,
                    UpdateStanding::UnknownChannel => return Err(DropReason::DependencyRejected),
                };
                let signer = graph
                    .update_signer(update.short_channel_id, direction)
                    .ok_or(DropReason::DependencyRejected)?;
                self.verifier
                    .channel_update(metrics, &job.claim.msg, &update, &signer)?;
                Ok(Checked::Verified(Verified::ChannelUpdate {
                    update,
                    stored,
                    direction,
                }))
            }
            GossipKind::NodeAnnouncement => {
                let ann =
                    NodeAnnouncement::parse(&job.claim.msg).map_err(|_| DropReason::Malformed)?;
                match graph.node_standing(&ann.node_id) {
                    Some(Some(stored)) if stored >= ann.timestamp => {
                        return Err(if stored == ann.timestamp {
                            DropReason::Duplicate
                        } else {
                            DropReason::Stale
                        })
                    }
                    Some(_) => {}
                    None => return Err(DropReason::DependencyRejected),
                }
                self.verifier
                    .node_announcement(metrics, &job.claim.msg, &ann)?;
                Ok(Checked::Verified(Verified::NodeAnnouncement(ann)))
            }
        }
    }

    /// Step 2: applies a verified message to the graph and releases what waited for it;
    /// returns the store key and timestamp to persist it under.
    fn apply(&self, verified: Verified) -> Result<(StoreKey, u32), DropReason> {
        let state = &self.state;
        let graph = state.graph();
        match verified {
            Verified::ChannelAnnouncement(ann) => self.apply_channel(ann, 0),
            Verified::ChannelUpdate {
                update,
                stored,
                direction,
            } => {
                // Only an update that verified spends a token (LND rate-limits after
                // validation): forgeries must not drain the bucket of the channel they name.
                // The sieve looked before admitting, but updates admitted together may find
                // the last token taken by the first of them.
                let within_limit = graph
                    .with_rate_bucket(update.short_channel_id, direction, |bucket| {
                        self.rate_limit
                            .spend(bucket, update.timestamp, stored, Instant::now())
                    })
                    .is_none_or(|decision| decision.is_allowed());
                if !within_limit {
                    return Err(DropReason::RateLimited);
                }
                let stamp = Stamp {
                    timestamp: update.timestamp,
                    offset: None,
                };
                graph
                    .apply_update(update.short_channel_id, direction, stamp)
                    .map_err(|_not_newer| DropReason::Stale)?;
                let key = StoreKey::Update {
                    short_channel_id: update.short_channel_id,
                    direction,
                };
                Ok((key, update.timestamp))
            }
            Verified::NodeAnnouncement(ann) => {
                let stamp = Stamp {
                    timestamp: ann.timestamp,
                    offset: None,
                };
                graph
                    .apply_node_announcement(&ann.node_id, stamp)
                    .map_err(|_not_newer| DropReason::Stale)?;
                Ok((StoreKey::Node(ann.node_id), ann.timestamp))
            }
        }
    }

    /// Step 2 for a channel: `amount_sat` is its funding output's value (0 if unchecked).
    fn apply_channel(
        &self,
        ann: ChannelAnnouncement,
        amount_sat: u64,
    ) -> Result<(StoreKey, u32), DropReason> {
        let state = &self.state;
        let metrics = state.metrics();
        let new_nodes = state
            .graph()
            .insert_channel(ann.short_channel_id, ann.node_id_1, ann.node_id_2, None)
            .ok_or(DropReason::Duplicate)?;
        metrics.graph_channels.inc();
        metrics
            .graph_nodes
            .add(i64::try_from(new_nodes).unwrap_or(0));
        state.release_dependants(ann.short_channel_id, [&ann.node_id_1, &ann.node_id_2]);
        let key = StoreKey::Channel {
            short_channel_id: ann.short_channel_id,
            node_ids: [ann.node_id_1, ann.node_id_2],
            amount_sat,
        };
        Ok((key, 0))
    }

    /// Step 3: settles a job's accounting and hands an accepted message to the store.
    fn finish(
        &self,
        job: VerifyJob,
        result: Result<Processed, DropReason>,
        ctx: &mut Context<Self>,
    ) {
        let metrics = self.state.metrics();
        match result {
            Ok(Processed::Accepted(key, timestamp)) => {
                metrics.kind(job.kind).accepted.inc();
                if let Some(store) = &self.store {
                    store.hand_off(
                        Persist {
                            key,
                            timestamp,
                            msg: job.claim.msg.clone(),
                        },
                        ctx,
                    );
                }
            }
            // Now counted as pending; only its in-flight claim ends below.
            Ok(Processed::Parked) => {}
            Err(reason) => {
                if let Some(penalties) = &job.penalties {
                    penalties.record(job.kind, reason);
                }
                // Funding verdicts only a reorg could change are remembered too: a resend then
                // costs a hash, not four signature checks and a lookup.
                if matches!(
                    reason,
                    DropReason::InvalidSignature
                        | DropReason::Malformed
                        | DropReason::FundingNotFound
                        | DropReason::FundingScriptMismatch
                        | DropReason::FundingSpent
                ) {
                    self.state.remember_rejected(&job.claim.msg);
                }
                self.state.count_drop(job.kind, reason);
            }
        }
        // Release the in-flight claim only after the graph or the rejected cache knows the
        // outcome, so a copy arriving now is caught by one of them.
        self.state.release_claim(&job.key, &job.claim);
        self.state.work_finished();
    }
}

impl Actor for VerifierShard {
    type Context = Context<Self>;
}

impl Handler<VerifyJob> for VerifierShard {
    type Result = ();

    /// Verifies, applies and settles one admitted message (a channel_announcement's apply and
    /// settle wait for its funding answer when the chain validates).
    fn handle(&mut self, mut job: VerifyJob, ctx: &mut Context<Self>) {
        let metrics = self.state.metrics().clone();
        metrics
            .queue_wait
            .observe(job.admitted_at.elapsed().as_secs_f64());
        let started = Instant::now();
        let result = match self.verify(&job) {
            Ok(Checked::Verified(Verified::ChannelAnnouncement(ann))) => {
                match self.chain_step(&mut job, &ann) {
                    ChainStep::Apply(amount_sat) => self
                        .apply_channel(ann, amount_sat)
                        .map(|(key, timestamp)| Processed::Accepted(key, timestamp)),
                    ChainStep::Drop(reason) => Err(reason),
                    ChainStep::Answered(outcome, hold) => {
                        metrics
                            .kind(job.kind)
                            .verify_duration
                            .observe(started.elapsed().as_secs_f64());
                        self.settle_funding(job, ann, outcome, ctx);
                        drop(hold);
                        return;
                    }
                    ChainStep::Waiting(answer, hold) => {
                        metrics
                            .kind(job.kind)
                            .verify_duration
                            .observe(started.elapsed().as_secs_f64());
                        // The mailbox slot goes back now: the chain stage's bounds hold the
                        // job from here, and this shard takes its next job meanwhile.
                        job.slot = None;
                        let settle = actix::fut::wrap_future::<_, Self>(answer).map(
                            move |answer, shard, ctx| {
                                let outcome = answer.unwrap_or_else(|_| {
                                    LookupOutcome::Unavailable(ChainError::Unreachable(
                                        "chain validator stopped".into(),
                                    ))
                                });
                                shard.settle_funding(job, ann, outcome, ctx);
                                drop(hold);
                            },
                        );
                        ctx.spawn(settle);
                        return;
                    }
                }
            }
            Ok(Checked::Verified(verified)) => self
                .apply(verified)
                .map(|(key, timestamp)| Processed::Accepted(key, timestamp)),
            Ok(Checked::Parked) => Ok(Processed::Parked),
            Err(reason) => Err(reason),
        };
        metrics
            .kind(job.kind)
            .verify_duration
            .observe(started.elapsed().as_secs_f64());
        self.finish(job, result, ctx);
    }
}
