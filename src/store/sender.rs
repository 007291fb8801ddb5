//! [`StoreSender`]: how a verifier shard hands what it applied to the store actor without
//! blocking its thread and without losing it, and how [`StoreHandle::shutdown`] learns that
//! every hand-off has arrived (an explicit count, not the queue-depth gauge, which only shows
//! it).
//!
//! [`StoreHandle::shutdown`]: super::StoreHandle::shutdown

use std::sync::Arc;

use actix::dev::SendError;
use actix::fut::ActorFutureExt;
use actix::{Actor, Addr, AsyncContext, Context};

use super::actor::{Forget, Persist, StoreActor};
use crate::metrics::Metrics;
use crate::work::Outstanding;

/// The store actor's mailbox as the shards see it.
#[derive(Clone)]
pub struct StoreSender {
    addr: Addr<StoreActor>,
    /// Hand-offs sent and not yet received by the actor.
    outstanding: Arc<Outstanding>,
    metrics: Arc<Metrics>,
}

impl StoreSender {
    pub(super) fn new(
        addr: Addr<StoreActor>,
        outstanding: Arc<Outstanding>,
        metrics: Arc<Metrics>,
    ) -> Self {
        StoreSender {
            addr,
            outstanding,
            metrics,
        }
    }

    /// Hands `persist` to the store. When the store's mailbox is full, the calling actor (a
    /// shard) stops taking messages until the store has room: its admission slots then fill,
    /// and the sieve makes peers wait, so a slow disk pushes back all the way to the sockets.
    pub fn hand_off<A>(&self, persist: Persist, ctx: &mut Context<A>)
    where
        A: Actor<Context = Context<A>>,
    {
        self.metrics.store.queue_depth.inc();
        self.outstanding.start();
        match self.addr.try_send(persist) {
            Ok(()) => {}
            Err(SendError::Full(persist)) => {
                let sender = self.clone();
                let wait = actix::fut::wrap_future::<_, A>(self.addr.send(persist)).map(
                    move |sent, _actor, _ctx| {
                        if sent.is_err() {
                            sender.lost();
                        }
                    },
                );
                ctx.wait(wait);
            }
            Err(SendError::Closed(_)) => self.lost(),
        }
    }

    /// Marks the records at `offsets` deleted (a forgotten channel's), waiting for room in
    /// the store's mailbox rather than dropping the request.
    pub async fn forget(&self, offsets: Vec<u64>) {
        if offsets.is_empty() {
            return;
        }
        if self.addr.send(Forget { offsets }).await.is_err() {
            self.metrics.store.failed("mailbox_closed");
        }
    }

    /// A hand-off that will never arrive: the actor's mailbox was closed.
    fn lost(&self) {
        self.metrics.store.queue_depth.dec();
        self.metrics.store.failed("mailbox_closed");
        self.outstanding.finish();
    }
}
