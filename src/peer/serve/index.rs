//! The short_channel_id index `query_channel_range` answers from: one sorted snapshot of the
//! graph's channels shared by every peer, rebuilt only when the channel count changed, so a
//! peer flooding queries cannot make us scan and sort the graph per query (issue 11 item 4):
//! between two accepted channels every query reads the same snapshot. (A channel forgotten
//! and another accepted in between leaves the count equal; the snapshot then lags by that
//! pair until the next change.)

use std::sync::Arc;

use parking_lot::Mutex;

use crate::graph::Graph;

#[derive(Default)]
pub struct ScidIndex {
    snapshot: Mutex<Option<Snapshot>>,
}

struct Snapshot {
    channels: usize,
    scids: Arc<[u64]>,
}

impl ScidIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every channel's scid, ascending.
    pub fn sorted(&self, graph: &Graph) -> Arc<[u64]> {
        let mut snapshot = self.snapshot.lock();
        let count = graph.channel_count();
        if let Some(s) = snapshot.as_ref() {
            if s.channels == count {
                return s.scids.clone();
            }
        }
        let scids: Arc<[u64]> = Arc::from(graph.scids_in_blocks(0, u64::MAX));
        *snapshot = Some(Snapshot {
            channels: count,
            scids: scids.clone(),
        });
        scids
    }
}

/// The part of `sorted` whose funding block is in `first..end`.
pub fn in_blocks(sorted: &[u64], first: u32, end: u64) -> &[u64] {
    let from = sorted.partition_point(|scid| (scid >> 40) < u64::from(first));
    let to = sorted.partition_point(|scid| (scid >> 40) < end);
    sorted.get(from..to.max(from)).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_slice_the_sorted_index() {
        let scids: Vec<u64> = [5u64, 7, 7, 9].iter().map(|b| b << 40).collect();
        assert_eq!(in_blocks(&scids, 6, 9), &scids[1..3]);
        assert_eq!(in_blocks(&scids, 0, u64::MAX), &scids[..]);
        assert!(in_blocks(&scids, 10, 20).is_empty());
    }
}
