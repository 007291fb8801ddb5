//! Handing the verified graph out: Rapid Gossip Sync snapshots for wallets, a JSON graph API
//! and exports for tools. Everything here reads the graph index and the store, never the
//! shards (DESIGN §7).
//!
//! - [`model`]: the graph parsed from the store's bytes, per a [`model::Selection`] (live,
//!   latest, or as it stood at a past time).
//! - [`rgs`]: RGS v1/v2 serialization of a model.
//! - [`service`]: snapshot generations built on an interval and on demand, cached.
//! - [`shapes`]: LND `describegraph` and CLN `listnodes`/`listchannels` JSON of a model.
//! - [`http`]: the routes served on the metrics listener.

pub mod http;
pub mod model;
pub mod rgs;
pub mod service;
pub mod shapes;

pub use http::HandoutRoutes;
pub use model::{GraphModel, Selection};
pub use rgs::RgsVersion;
pub use service::{BeforeBuild, Handout};
