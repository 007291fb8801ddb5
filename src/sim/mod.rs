//! Simulation inputs: deterministic, validly signed gossip corpora (with labelled invalid
//! copies) and the raw length-prefixed dump format they are stored in. Used by `demo`, the
//! synthetic peers, tests and benches; nothing here is on the ingest path.

pub mod chain;
pub mod corpus;
pub mod dump;
pub mod peer;
