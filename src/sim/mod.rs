//! Simulation inputs: deterministic, validly signed gossip corpora (with labelled invalid
//! copies) and the synthetic peers that send them. Used by `demo`, tests and benches; nothing
//! here is on the ingest path. Corpora are written in the raw dump format of
//! [`crate::store::dump`], which `replay` also reads.

pub mod chain;
pub mod corpus;
pub mod peer;
