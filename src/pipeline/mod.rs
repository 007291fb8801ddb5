//! The sieve: cheap checks and dedup before any signature work, sharded verification.

pub mod drop_reason;

pub use drop_reason::DropReason;
