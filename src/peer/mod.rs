//! Peers: anything that yields framed gossip messages and hands them to the pipeline with
//! backpressure. In this module: offline sources (raw dumps and Core Lightning gossip_store
//! files, for `replay` and the synthetic peers of `demo`) and the feed loop they share.

pub mod feed;
pub mod score;
pub mod source;

pub use feed::{feed, FeedStats};
pub use source::{open_frames, FrameIter};
