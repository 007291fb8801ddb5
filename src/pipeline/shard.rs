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
//! The seam for a chain lookup is between 1 and 2: a stage that must confirm a verified
//! channel_announcement's funding output takes the [`Verified`] value and the job (whose slot
//! and claim keep admission and dedup exact while it waits), awaits its lookup off this
//! thread, and calls 2 and 3 when the outcome arrives (or 3 alone with a `funding_*` drop
//! reason). Updates for that channel admitted meanwhile find it in flight and are re-parked by
//! step 1, exactly as when they overtake an announcement today. Admission (the sieve) does not
//! change.

use std::time::Instant;

use actix::{Actor, Context, Handler};

use super::job::VerifyJob;
use super::rate_limit::UpdateRateLimiter;
use super::state::PipelineState;
use super::verify::Verifier;
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
}

impl VerifierShard {
    pub fn new(
        state: PipelineState,
        pubkey_cache_cap: usize,
        rate_limit: UpdateRateLimiter,
        store: Option<StoreSender>,
    ) -> Self {
        VerifierShard {
            state,
            verifier: Verifier::new(pubkey_cache_cap),
            rate_limit,
            store,
        }
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
        let metrics = state.metrics();
        let graph = state.graph();
        match verified {
            Verified::ChannelAnnouncement(ann) => {
                let new_nodes = graph
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
                };
                Ok((key, 0))
            }
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
                if matches!(reason, DropReason::InvalidSignature | DropReason::Malformed) {
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

    /// Verifies, applies and settles one admitted message.
    fn handle(&mut self, job: VerifyJob, ctx: &mut Context<Self>) {
        let metrics = self.state.metrics().clone();
        metrics
            .queue_wait
            .observe(job.admitted_at.elapsed().as_secs_f64());
        let started = Instant::now();
        let result = self.verify(&job).and_then(|checked| match checked {
            Checked::Verified(verified) => self
                .apply(verified)
                .map(|(key, timestamp)| Processed::Accepted(key, timestamp)),
            Checked::Parked => Ok(Processed::Parked),
        });
        metrics
            .kind(job.kind)
            .verify_duration
            .observe(started.elapsed().as_secs_f64());
        self.finish(job, result, ctx);
    }
}
