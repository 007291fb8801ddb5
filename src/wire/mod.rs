//! BOLT 1 and BOLT 7 wire messages: parsing and serialization only, no policy.
//!
//! Every parser here takes bytes from a hostile peer: it never panics, never indexes without a
//! bounds check, and reports failures as [`DecodeError`], which the pipeline maps to the drop
//! reason `malformed`.

pub mod address;
pub mod bigsize;
pub mod bolt1;
pub mod features;
pub mod gossip;
pub mod kind;
pub mod queries;
pub mod scid;
pub mod tlv;

pub use kind::{DecodeError, GossipKind};
