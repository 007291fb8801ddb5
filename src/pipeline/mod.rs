//! The sieve: cheap checks and dedup before any signature work, then sharded verification.
//!
//! ```text
//! peer ──offer()──▶ checks ─▶ dedup (graph / in flight / rejected) ─▶ pending maps (orphans)
//!                                            │
//!                                            ▼ admission: per-shard semaphore (capped)
//!                                   VerifierShard[key % N]  (own thread, own key cache)
//!                                            │ verify → graph → release dependants
//! ```

//!
//! The sieve admits, the shards verify and apply; both share one [`state::PipelineState`] and
//! hand each other nothing but [`job::VerifyJob`]s, so neither imports the other.

pub mod arrivals;
pub mod chain_stage;
pub mod checks;
pub mod flight;
pub mod forget;
pub mod job;
pub mod pending;
pub mod rate_limit;
pub mod revalidate;
pub mod shard;
pub mod sieve;
pub mod state;
pub mod verify;

use std::sync::Arc;

use actix::{Arbiter, Context};

pub use crate::vocab::{DropReason, PeerAction};
pub use crate::wire::kind::message_kind;
pub use job::{PeerVerdicts, PenaltyCounter, VerdictCounts};
pub use sieve::{Admission, Outcome, Sieve, Sifted};

use crate::config::PipelineConfig;
use crate::graph::Graph;
use crate::metrics::Metrics;
use crate::store::StoreSender;
use chain_stage::ChainStage;
use rate_limit::{RateLimitConfig, UpdateRateLimiter};
use shard::VerifierShard;
use sieve::ShardHandle;
use state::PipelineState;

/// A running pipeline: the shared sieve plus the arbiters its shards run on.
pub struct Pipeline {
    pub sieve: Arc<Sieve>,
    state: PipelineState,
    arbiters: Vec<Arbiter>,
}

impl Pipeline {
    /// Starts `config.shards` verifier shards, each on its own arbiter thread. Must be called
    /// from within a running actix system.
    pub fn start(config: PipelineConfig, graph: Arc<Graph>, metrics: Arc<Metrics>) -> Self {
        Self::start_with_store(config, graph, metrics, None)
    }

    /// [`Pipeline::start`], with every accepted message handed to `store` (see
    /// [`crate::store::StoreHandle::sender`]) after it is applied to the graph.
    pub fn start_with_store(
        config: PipelineConfig,
        graph: Arc<Graph>,
        metrics: Arc<Metrics>,
        store: Option<StoreSender>,
    ) -> Self {
        Self::start_with_chain(config, graph, metrics, store, None)
    }

    /// [`Pipeline::start_with_store`], with channel_announcements passing `chain` between
    /// verification and the graph (see [`chain_stage`]).
    pub fn start_with_chain(
        config: PipelineConfig,
        graph: Arc<Graph>,
        metrics: Arc<Metrics>,
        store: Option<StoreSender>,
        chain: Option<Arc<ChainStage>>,
    ) -> Self {
        let shards = config.shards.max(1);
        let capacity = config.shard_mailbox_capacity.max(1);
        let bytes_capacity = config.shard_mailbox_bytes;
        let key_cache_per_shard = (config.pubkey_cache_cap / shards).max(1);
        metrics.set_limit("shard_mailbox_capacity", capacity);
        metrics.set_limit("shard_mailbox_bytes", bytes_capacity);
        metrics.set_limit("pending_updates", config.pending_updates_cap);
        metrics.set_limit(
            "pending_node_announcements",
            config.pending_node_announcements_cap,
        );
        metrics.set_limit("pending_bytes_per_map", config.pending_bytes_cap);
        metrics.set_limit("pending_per_peer", config.pending_per_peer_cap);
        metrics.set_limit("pending_bytes_per_peer", config.pending_per_peer_bytes_cap);
        metrics.set_limit("rejected_cache", config.rejected_cache_cap);
        metrics.set_limit("pubkey_cache", config.pubkey_cache_cap);
        let state = PipelineState::new(&config, graph, metrics.clone());
        let rate_limit = UpdateRateLimiter::new(RateLimitConfig {
            rate_per_minute: config.update_rate_per_minute,
            burst: config.update_burst,
            keepalive_after: config.update_keepalive_after,
        });
        if let Some(stage) = &chain {
            metrics.set_limit("chain_stage_bytes", stage.bytes_cap());
        }
        let sieve = Arc::new(Sieve::new(config, state.clone(), rate_limit, chain.clone()));
        let mut arbiters = Vec::with_capacity(shards);
        let mut handles = Vec::with_capacity(shards);
        for index in 0..shards {
            let arbiter = Arbiter::new();
            let shard_state = state.clone();
            let shard_store = store.clone();
            let shard_chain = chain.clone();
            // The mailbox is created with its capacity before the actor starts: actix's default
            // of 16 would otherwise apply until the arbiter ran the start closure, and a sender
            // that once finds a mailbox full stays parked. The semaphore admits at most
            // `capacity`; the spare slot means actix's own check never refuses an admitted job.
            let (sender, receiver) = actix::dev::channel::channel(capacity + 1);
            let addr = actix::Addr::<VerifierShard>::new(sender);
            arbiter.spawn_fn(move || {
                Context::with_receiver(receiver).run(VerifierShard::new(
                    shard_state,
                    key_cache_per_shard,
                    rate_limit,
                    shard_store,
                    shard_chain,
                ));
            });
            metrics
                .queue_capacity(index)
                .set(i64::try_from(capacity).unwrap_or(i64::MAX));
            handles.push(ShardHandle::new(
                addr.recipient(),
                capacity,
                bytes_capacity,
                metrics.queue_depth(index),
            ));
            arbiters.push(arbiter);
        }
        sieve.set_shards(handles);
        metrics.set_limit("release_queue", state.release_queue_cap());
        metrics.set_limit("release_queue_bytes", state.release_queue_bytes_cap());
        sieve.start_releaser();
        Pipeline {
            sieve,
            state,
            arbiters,
        }
    }

    /// Waits until nothing is in flight (every admitted or released message has been accepted
    /// or dropped). Parked messages stay parked.
    pub async fn drained(&self) {
        self.state.drained().await;
    }

    /// Stops the shard threads once their mailboxes are empty.
    pub fn stop(self) {
        for arbiter in self.arbiters {
            arbiter.stop();
        }
    }
}
