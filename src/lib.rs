//! gossip-sieve: a Lightning gossip ingestion component.
//!
//! Data flows through the modules in this order, each stage handing the next a bounded amount
//! of work:
//!
//! - [`transport`]: BOLT 8 (Noise_XK) handshake and the encrypted, length-prefixed framing.
//!   Yields whole decrypted frames, never parses them.
//! - [`wire`]: BOLT 1 and BOLT 7 messages: bytes to typed values and back, with a documented
//!   decode error. No policy lives here.
//! - [`peer`]: one actor per connection (or per offline source): the BOLT 1 session, pacing,
//!   and handing gossip frames to the pipeline with backpressure.
//! - [`pipeline`]: cheap checks and deduplication *before* any signature work, routing to the
//!   sharded verifier actors through capped mailboxes, signature verification, pending maps
//!   for messages whose dependency has not arrived yet.
//! - [`graph`]: the verified channel/node index (dashmap) the dedup step reads.
//! - [`store`]: Core Lightning `gossip_store` files: reading, writing, recovery.
//! - [`metrics`]: the Prometheus registry (DESIGN §4 contract) and its hyper exporter.
//! - [`chain`]: funding-output validation against a chain source (bitcoind RPC/REST, Esplora,
//!   in-process), the tip follower that reports closed channels, and their metrics.
//! - [`handout`]: the graph handed out: Rapid Gossip Sync snapshots, the JSON graph API,
//!   exports; reads the graph index and the store, never the shards.
//! - [`sim`]: deterministic signed corpora and synthetic peers for `demo`, tests and benches.
//! - [`config`]: every bound and knob, with its reason; flag > env > file > default.
//! - [`durable`]: fsync of a directory after a rename, shared by every file written atomically.
//! - [`logging`]: the tracing subscriber and once-per-interval logging of floods.
//! - [`commands`]: the CLI subcommands (replay, demo, gen-corpus) built from the above.

pub mod cache_hint;
pub mod chain;
pub mod clock;
pub mod commands;
pub mod config;
pub mod durable;
pub mod graph;
pub mod handout;
pub mod logging;
pub mod metrics;
pub mod peer;
pub mod pipeline;
pub mod sim;
pub mod store;
pub mod transport;
pub mod vocab;
pub mod wire;
pub mod work;

#[cfg(test)]
mod test_vectors;
