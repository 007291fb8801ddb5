//! The loop every offline peer runs: take the next frame only once the previous one has been
//! dropped, parked or admitted — so a full shard stops the source exactly as it stops a socket.

use std::sync::Arc;

use crate::pipeline::{Outcome, Sieve};

/// What one peer's feed did, for logs and the replay summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedStats {
    pub frames: u64,
    pub not_gossip: u64,
    /// The source failed (unreadable file, torn record) after this many frames.
    pub source_errors: u64,
}

pub async fn feed<I>(sieve: Arc<Sieve>, frames: I) -> FeedStats
where
    I: Iterator<Item = anyhow::Result<Vec<u8>>>,
{
    let mut stats = FeedStats::default();
    for frame in frames {
        match frame {
            Ok(msg) => {
                stats.frames += 1;
                if sieve.offer(msg).await == Outcome::NotGossip {
                    stats.not_gossip += 1;
                }
            }
            Err(err) => {
                stats.source_errors += 1;
                tracing::warn!(error = %err, frames = stats.frames, "source ended with an error");
                break;
            }
        }
        // Yield now and then so peers sharing a thread interleave instead of one draining its
        // whole file first (a real socket would interleave the same way).
        if stats.frames % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    stats
}
