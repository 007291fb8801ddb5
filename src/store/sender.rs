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
use tokio::sync::Semaphore;

use super::actor::{Forget, Persist, Queued, StoreActor};
use crate::metrics::Metrics;
use crate::work::Outstanding;

/// The largest message (a 65,535-byte frame) in KiB: the mailbox always has room for one.
const MAX_MESSAGE_KIB: usize = 64;

/// The store actor's mailbox as the shards see it.
#[derive(Clone)]
pub struct StoreSender {
    addr: Addr<StoreActor>,
    /// The mailbox's byte cap, in KiB: each hand-off holds its KiB until it is written.
    room_kib: Arc<Semaphore>,
    /// Hand-offs sent and not yet received by the actor.
    outstanding: Arc<Outstanding>,
    metrics: Arc<Metrics>,
}

impl StoreSender {
    pub(super) fn new(
        addr: Addr<StoreActor>,
        room_kib: Arc<Semaphore>,
        outstanding: Arc<Outstanding>,
        metrics: Arc<Metrics>,
    ) -> Self {
        StoreSender {
            addr,
            room_kib,
            outstanding,
            metrics,
        }
    }

    /// The byte cap of the mailbox, in KiB permits: at least one message of the largest size.
    pub(super) fn room_for(bytes_cap: usize) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(
            (bytes_cap / 1024).clamp(MAX_MESSAGE_KIB, Semaphore::MAX_PERMITS),
        ))
    }

    /// Hands `persist` to the store. When the store's mailbox is full, in messages or in bytes,
    /// the calling actor (a shard) stops taking messages until the store has room: its
    /// admission slots then fill, and the sieve makes peers wait, so a slow disk pushes back
    /// all the way to the sockets.
    pub fn hand_off<A>(&self, persist: Persist, ctx: &mut Context<A>)
    where
        A: Actor<Context = Context<A>>,
    {
        self.metrics.store.queue_depth.inc();
        self.outstanding.start();
        let kib =
            u32::try_from(persist.msg.len().div_ceil(1024).clamp(1, MAX_MESSAGE_KIB)).unwrap_or(1);
        let waiting = match self.room_kib.clone().try_acquire_many_owned(kib) {
            Ok(room) => match self.addr.try_send(Queued {
                persist,
                room: Some(room),
            }) {
                Ok(()) => return,
                Err(SendError::Full(queued)) => Waiting::ForSlot(queued),
                Err(SendError::Closed(_)) => return self.lost(),
            },
            Err(_) => Waiting::ForBytes(persist),
        };
        let addr = self.addr.clone();
        let room_kib = self.room_kib.clone();
        let send = async move {
            let queued = match waiting {
                Waiting::ForSlot(queued) => queued,
                Waiting::ForBytes(persist) => Queued {
                    persist,
                    room: Some(room_kib.acquire_many_owned(kib).await.ok()?),
                },
            };
            addr.send(queued).await.ok()
        };
        let sender = self.clone();
        let wait = actix::fut::wrap_future::<_, A>(send).map(move |sent, _actor, _ctx| {
            if sent.is_none() {
                sender.lost();
            }
        });
        ctx.wait(wait);
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

/// What a hand-off that found the mailbox full waits for.
enum Waiting {
    /// A message slot: it already holds its bytes.
    ForSlot(Queued),
    /// Its bytes, then a slot.
    ForBytes(Persist),
}
