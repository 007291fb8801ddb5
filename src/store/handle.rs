//! [`StoreHandle`]: what a command holds to run the store actor: open (recover, rebuild the
//! graph index), hand the actor's address to the pipeline, and shut down durably.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::{Addr, Arbiter, Context};
use tokio::sync::Semaphore;

use super::actor::{Flush, Shutdown, StoreActor, StoreConfig};
use super::error::StoreError;
use super::load::{open_and_load, LoadReport};
use super::sender::StoreSender;
use super::tail::StoreTail;
use super::writer::WriterStats;
use crate::graph::Graph;
use crate::metrics::{Health, Metrics};
use crate::work::Outstanding;

/// The running store actor.
pub struct StoreHandle {
    addr: Addr<StoreActor>,
    arbiter: Arbiter,
    metrics: Arc<Metrics>,
    /// Tells an actor waiting for disk space to give up (shutdown).
    stopping: Arc<AtomicBool>,
    /// Hand-offs sent by shards and not yet received by the actor.
    outstanding: Arc<Outstanding>,
    /// The mailbox's byte cap in KiB, shared by every [`StoreSender`].
    room_kib: Arc<Semaphore>,
    tail: Arc<StoreTail>,
}

impl StoreHandle {
    /// Opens `<data_dir>/gossip_store` (creating the directory and file if needed), cuts a torn
    /// tail, loads the graph index from it without verifying signatures, and starts the store
    /// actor on its own arbiter thread. Call inside a running actix system, before the
    /// pipeline starts.
    pub fn open(
        data_dir: &Path,
        graph: Arc<Graph>,
        metrics: Arc<Metrics>,
        config: StoreConfig,
    ) -> Result<(StoreHandle, LoadReport), StoreError> {
        Self::open_reporting(
            data_dir,
            graph,
            metrics,
            config,
            Arc::new(Health::default()),
        )
    }

    /// [`open`](Self::open), reporting a full disk to `health` (`/readyz`).
    pub fn open_reporting(
        data_dir: &Path,
        graph: Arc<Graph>,
        metrics: Arc<Metrics>,
        config: StoreConfig,
        health: Arc<Health>,
    ) -> Result<(StoreHandle, LoadReport), StoreError> {
        let (writer, report) = open_and_load(data_dir, &graph, &metrics)?;
        // Nothing is buffered yet: the whole file is readable.
        let tail = StoreTail::new(writer.path(), writer.stats().len)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let capacity = config.mailbox_capacity.max(1);
        metrics.set_limit("store_mailbox_capacity", capacity);
        metrics.set_limit("store_mailbox_bytes", config.mailbox_bytes);
        let room_kib = StoreSender::room_for(config.mailbox_bytes);
        // Created with its capacity before the actor starts, like the shards' mailboxes.
        let (sender, receiver) = actix::dev::channel::channel(capacity);
        let addr = Addr::new(sender);
        let outstanding = Arc::new(Outstanding::default());
        let actor = StoreActor::new(writer, graph, metrics.clone(), config, outstanding.clone())
            .with_health(health, stopping.clone())
            .with_tail(tail.clone());
        let arbiter = Arbiter::new();
        arbiter.spawn_fn(move || {
            Context::with_receiver(receiver).run(actor);
        });
        Ok((
            StoreHandle {
                addr,
                arbiter,
                metrics,
                stopping,
                outstanding,
                room_kib,
                tail,
            },
            report,
        ))
    }

    /// The store's readable end, for serving gossip from it.
    pub fn tail(&self) -> Arc<StoreTail> {
        self.tail.clone()
    }

    /// The actor's address.
    pub fn addr(&self) -> Addr<StoreActor> {
        self.addr.clone()
    }

    /// What the shards hand off through, for
    /// [`Pipeline::start_with_store`](crate::pipeline::Pipeline::start_with_store).
    pub fn sender(&self) -> StoreSender {
        StoreSender::new(
            self.addr(),
            self.room_kib.clone(),
            self.outstanding.clone(),
            self.metrics.clone(),
        )
    }

    /// Flush and fsync what the actor has received so far.
    pub async fn flush(&self) -> Result<WriterStats, StoreError> {
        self.addr.send(Flush).await.map_err(closed)?
    }

    /// From now on a full disk fails appends at once (counted as `io`) instead of pausing
    /// intake until space returns. Call when shutdown begins, before draining the pipeline:
    /// shards waiting on a store that waits for space would never drain.
    pub fn stop_waiting_for_space(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Waits until every hand-off has reached the actor, then flushes, fsyncs and stops it.
    /// Drain the pipeline first so no shard hands off anything after this.
    pub async fn shutdown(self) -> Result<WriterStats, StoreError> {
        self.stop_waiting_for_space();
        // Ends at once if the actor has stopped: what it has not received never will be.
        self.outstanding.idle().await;
        let result = self.addr.send(Shutdown).await.map_err(closed)?;
        self.arbiter.stop();
        result
    }
}

fn closed(err: actix::MailboxError) -> StoreError {
    StoreError::Io(std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        format!("store actor: {err}"),
    ))
}
