//! A verifier shard: one actix actor on its own thread (arbiter) that owns a slice of the key
//! space (by short_channel_id or node id), so messages for one channel keep their order and no
//! lock on the hot path is shared between shards. It re-checks against the graph (another
//! shard's work or a racing copy may have landed since admission), verifies, applies,
//! releases parked dependants, and hands the message to the store actor.

use std::sync::Arc;
use std::time::Instant;

use actix::dev::SendError;
use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, WrapFuture};

use super::flight::{Claim, FlightKey};
use super::sieve::{Sieve, Slot};
use super::verify::Verifier;
use super::DropReason;
use crate::graph::{Stamp, UpdateStanding};
use crate::store::{Persist, StoreActor, StoreKey};
use crate::wire::gossip::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
use crate::wire::kind::GossipKind;

/// One admitted message. Holding `slot` keeps the shard's admission count up until the job is
/// finished and dropped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct VerifyJob {
    /// The sending peer's counter of penalized drops, if it keeps one.
    pub penalties: Option<super::sieve::PenaltyCounter>,
    pub kind: GossipKind,
    pub key: FlightKey,
    /// Holds the message bytes, shared with the in-flight map.
    pub claim: Claim,
    pub admitted_at: Instant,
    pub slot: Slot,
}

/// How a job left the shard when it was not dropped.
enum Processed {
    /// Applied to the graph; the store key and timestamp to persist it under.
    Accepted(StoreKey, u32),
    Parked,
}

pub struct VerifierShard {
    sieve: Arc<Sieve>,
    verifier: Verifier,
    store: Option<Addr<StoreActor>>,
}

impl VerifierShard {
    pub fn new(
        sieve: Arc<Sieve>,
        pubkey_cache_cap: usize,
        store: Option<Addr<StoreActor>>,
    ) -> Self {
        VerifierShard {
            sieve,
            verifier: Verifier::new(pubkey_cache_cap),
            store,
        }
    }

    /// Hands an applied message to the store without blocking the thread and without losing
    /// it: when the store's mailbox is full, this shard stops taking jobs until the store has
    /// room (its admission slots then fill, and the sieve makes peers wait).
    fn hand_off(&self, persist: Persist, ctx: &mut Context<Self>) {
        let Some(store) = &self.store else {
            return;
        };
        let metrics = &self.sieve.metrics;
        metrics.store.queue_depth.inc();
        match store.try_send(persist) {
            Ok(()) => {}
            Err(SendError::Full(persist)) => {
                let wait = store.send(persist).into_actor(self).map(|sent, shard, _| {
                    if sent.is_err() {
                        let store = &shard.sieve.metrics.store;
                        store.queue_depth.dec();
                        store.failed("mailbox_closed");
                    }
                });
                ctx.wait(wait);
            }
            Err(SendError::Closed(_)) => {
                metrics.store.queue_depth.dec();
                metrics.store.failed("mailbox_closed");
            }
        }
    }

    /// Verifies and applies `job`; on success returns the store key and timestamp of what was
    /// applied.
    fn process(&mut self, job: &VerifyJob) -> Result<Processed, DropReason> {
        let sieve = &self.sieve;
        let metrics = &sieve.metrics;
        let graph = &sieve.graph;
        match job.kind {
            GossipKind::ChannelAnnouncement => {
                let ann = ChannelAnnouncement::parse(&job.claim.msg)
                    .map_err(|_| DropReason::Malformed)?;
                if graph.has_channel(ann.short_channel_id) {
                    return Err(DropReason::Duplicate);
                }
                self.verifier
                    .channel_announcement(metrics, &job.claim.msg, &ann)?;
                let new_nodes = graph
                    .insert_channel(ann.short_channel_id, ann.node_id_1, ann.node_id_2, None)
                    .ok_or(DropReason::Duplicate)?;
                metrics.graph_channels.inc();
                metrics
                    .graph_nodes
                    .add(i64::try_from(new_nodes).unwrap_or(0));
                // The channel is in the graph before the pending maps are drained, and parking
                // re-checks the graph under the same lock, so no dependant is stranded.
                for parked in sieve.pending.take_updates(ann.short_channel_id) {
                    sieve.release(GossipKind::ChannelUpdate, parked);
                }
                for node_id in [&ann.node_id_1, &ann.node_id_2] {
                    for parked in sieve.pending.take_node_announcements(node_id) {
                        sieve.release(GossipKind::NodeAnnouncement, parked);
                    }
                }
                Ok(Processed::Accepted(
                    StoreKey::Channel(ann.short_channel_id),
                    0,
                ))
            }
            GossipKind::ChannelUpdate => {
                let update =
                    ChannelUpdate::parse(&job.claim.msg).map_err(|_| DropReason::Malformed)?;
                let direction = usize::from(update.channel_flags & 1);
                if graph.update_standing(update.short_channel_id, direction)
                    == UpdateStanding::UnknownChannel
                    && sieve.repark_update(
                        &job.claim.msg,
                        update.short_channel_id,
                        update.channel_flags & 1,
                        update.timestamp,
                    )?
                {
                    return Ok(Processed::Parked);
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
                // Only an update that verified spends a token (LND rate-limits after
                // validation): forgeries must not drain the bucket of the channel they name.
                // The sieve looked before admitting, but updates admitted together may find
                // the last token taken by the first of them.
                let within_limit = graph
                    .with_rate_bucket(update.short_channel_id, direction, |bucket| {
                        sieve
                            .rate_limit
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
                Ok(Processed::Accepted(key, update.timestamp))
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
                let stamp = Stamp {
                    timestamp: ann.timestamp,
                    offset: None,
                };
                graph
                    .apply_node_announcement(&ann.node_id, stamp)
                    .map_err(|_not_newer| DropReason::Stale)?;
                Ok(Processed::Accepted(
                    StoreKey::Node(ann.node_id),
                    ann.timestamp,
                ))
            }
        }
    }
}

impl Actor for VerifierShard {
    type Context = Context<Self>;
}

impl Handler<VerifyJob> for VerifierShard {
    type Result = ();

    /// Verifies one admitted message and settles its accounting.
    fn handle(&mut self, job: VerifyJob, ctx: &mut Context<Self>) {
        let metrics = self.sieve.metrics.clone();
        metrics
            .queue_wait
            .observe(job.admitted_at.elapsed().as_secs_f64());
        let kind_metrics = metrics.kind(job.kind);
        let started = Instant::now();
        let result = self.process(&job);
        kind_metrics
            .verify_duration
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(Processed::Accepted(key, timestamp)) => {
                kind_metrics.accepted.inc();
                self.hand_off(
                    Persist {
                        key,
                        timestamp,
                        msg: job.claim.msg.clone(),
                    },
                    ctx,
                );
            }
            // Now counted as pending; only its in-flight claim ends below.
            Ok(Processed::Parked) => {}
            Err(reason) => {
                if let Some(penalties) = &job.penalties {
                    penalties.record(job.kind, reason);
                }
                if matches!(reason, DropReason::InvalidSignature | DropReason::Malformed) {
                    let fingerprint = self.sieve.rejected.fingerprint(&job.claim.msg);
                    self.sieve.rejected.insert(fingerprint);
                }
                self.sieve.count_drop(job.kind, reason);
            }
        }
        // Release the in-flight claim only after the graph or the rejected cache knows the
        // outcome, so a copy arriving now is caught by one of them.
        self.sieve.in_flight.release(&job.key, &job.claim);
        kind_metrics.in_flight.dec();
    }
}
