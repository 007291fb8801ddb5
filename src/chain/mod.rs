//! Trust the chain: every channel_announcement's funding output is checked on chain before the
//! channel is applied, closes are followed, and channels are forgotten after the BOLT 7 delay.
//!
//! - [`source`]: the [`ChainSource`] interface and the per-block output summary; backends:
//!   [`rpc`] (bitcoind JSON-RPC), [`rest`] (bitcoind REST), [`esplora`] (Esplora HTTP API), all
//!   over the bounded, retrying client in [`http`]; and [`memory`], an in-process chain.
//! - [`funding`]: the rule (BOLT 7 + BOLT 3): P2WSH of the sorted 2-of-2, unspent, deep enough.
//! - [`validator`]: what the pipeline calls: bounded admission, lookups off the shard threads,
//!   block and negative caches, parking of unconfirmed claims.
//! - [`follower`]: follows the tip, finds spends of watched funding outpoints, handles reorgs,
//!   reports channels to forget.
//! - [`metrics`]: `gossip_sieve_chain_*` series; [`config`]: [`ChainConfig`].
//!
//! Imports only [`crate::wire`] (the scid) below it; the pipeline calls in, never the reverse.

pub mod cache;
pub mod config;
pub mod error;
pub mod esplora;
pub mod follower;
pub mod funding;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod rest;
pub mod rpc;
pub mod source;
pub mod validator;

pub use config::{ChainBackend, ChainConfig, ChainConfigError};
pub use error::ChainError;
pub use follower::{CloseCause, FollowerConfig, TipFollower, TipReport, WatchHandle};
pub use funding::{FundingClaim, FundingOutput, FundingRejection};
pub use memory::{MemoryChain, SparseBlock};
pub use metrics::ChainMetrics;
pub use source::{BackendKind, BlockOutputs, ChainSource, ChainTip};
pub use validator::{
    ChainHealth, ChainValidator, HeldSlot, LookupOutcome, LookupPermit, Recheck, ValidatorConfig,
};
