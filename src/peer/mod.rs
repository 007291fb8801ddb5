//! Peers: anything that yields framed gossip messages and hands them to the pipeline with
//! backpressure. In this module: offline sources (raw dumps and Core Lightning gossip_store
//! files, for `replay`) and the feed loop, and the live side: node identity, the BOLT 1
//! session over BOLT 8, the dialer (outbound, with reconnect) and the listener (inbound, capped),
//! and serving the verified graph back out (`serve`, with the session's stream and replies).

pub mod admission;
pub mod ban_writer;
pub mod dialer;
pub mod discovery;
pub mod feed;
pub mod identity;
pub mod listener;
pub mod pacing;
pub mod remote_text;
pub mod score;
pub mod serve;
pub mod session;
pub mod source;
pub mod sync_plan;

pub use feed::{feed, FeedStats};
pub use source::{open_frames, FrameIter};
