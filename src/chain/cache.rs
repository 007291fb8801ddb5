//! The validator's bounded caches: recently fetched blocks' outputs (capped in entries and
//! bytes) and recently rejected claims (capped in entries; each entry is a fixed size, so the
//! count cap is a byte cap too).

use std::num::NonZeroUsize;
use std::sync::Arc;

use bitcoin::BlockHash;
use lru::LruCache;

use super::funding::{FundingClaim, FundingRejection};
use super::source::BlockOutputs;

/// Outputs of recently fetched blocks, least recently used evicted first.
pub struct BlockCache {
    entries: Option<LruCache<BlockHash, Arc<BlockOutputs>>>,
    bytes: usize,
    max_bytes: usize,
}

impl BlockCache {
    /// `max_blocks` 0 disables the cache.
    pub fn new(max_blocks: usize, max_bytes: usize) -> Self {
        BlockCache {
            entries: NonZeroUsize::new(max_blocks).map(LruCache::new),
            bytes: 0,
            max_bytes,
        }
    }

    pub fn get(&mut self, hash: &BlockHash) -> Option<Arc<BlockOutputs>> {
        self.entries.as_mut()?.get(hash).cloned()
    }

    /// Inserts or merges (a per-transaction backend learns a block piece by piece); then
    /// evicts until both caps hold. An entry larger than the byte cap is not kept.
    pub fn insert(&mut self, hash: BlockHash, outputs: BlockOutputs) -> Arc<BlockOutputs> {
        let Some(entries) = self.entries.as_mut() else {
            return Arc::new(outputs);
        };
        let merged = match entries.pop(&hash) {
            Some(old) => {
                self.bytes = self.bytes.saturating_sub(old.approx_bytes());
                let mut old = Arc::unwrap_or_clone(old);
                old.merge(outputs);
                old
            }
            None => outputs,
        };
        let size = merged.approx_bytes();
        let merged = Arc::new(merged);
        if size > self.max_bytes {
            return merged;
        }
        self.bytes += size;
        if let Some((_, evicted)) = entries.push(hash, Arc::clone(&merged)) {
            self.bytes = self.bytes.saturating_sub(evicted.approx_bytes());
        }
        while self.bytes > self.max_bytes {
            match entries.pop_lru() {
                Some((_, evicted)) => {
                    self.bytes = self.bytes.saturating_sub(evicted.approx_bytes())
                }
                None => break,
            }
        }
        merged
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, LruCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The caps it holds to: (blocks, bytes); (0, _) when it is off.
    pub fn caps(&self) -> (usize, usize) {
        let blocks = self.entries.as_ref().map_or(0, |e| e.cap().get());
        (blocks, self.max_bytes)
    }

    pub fn clear(&mut self) {
        if let Some(entries) = self.entries.as_mut() {
            entries.clear();
        }
        self.bytes = 0;
    }
}

/// Claims rejected for a reason only a reorg can change (not found, wrong script, spent).
pub struct NegativeCache {
    entries: Option<LruCache<FundingClaim, FundingRejection>>,
}

impl NegativeCache {
    /// `max_entries` 0 disables the cache.
    pub fn new(max_entries: usize) -> Self {
        NegativeCache {
            entries: NonZeroUsize::new(max_entries).map(LruCache::new),
        }
    }

    pub fn get(&mut self, claim: &FundingClaim) -> Option<FundingRejection> {
        self.entries.as_mut()?.get(claim).copied()
    }

    pub fn insert(&mut self, claim: FundingClaim, rejection: FundingRejection) {
        if rejection.may_change() {
            return;
        }
        if let Some(entries) = self.entries.as_mut() {
            entries.put(claim, rejection);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, LruCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A reorg can bring back what was not found or unspend what was spent.
    pub fn clear(&mut self) {
        if let Some(entries) = self.entries.as_mut() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::source::{OutputSummary, TxOutputs};
    use crate::wire::scid::ShortChannelId;
    use bitcoin::hashes::Hash;
    use bitcoin::Txid;

    fn block(txs: u32, outputs_per_tx: usize) -> BlockOutputs {
        BlockOutputs {
            tx_count: Some(txs),
            complete: true,
            txs: (0..txs)
                .map(|i| {
                    (
                        i,
                        TxOutputs {
                            txid: Txid::all_zeros(),
                            outputs: vec![
                                OutputSummary {
                                    value_sat: 1,
                                    p2wsh: None
                                };
                                outputs_per_tx
                            ],
                        },
                    )
                })
                .collect(),
        }
    }

    fn hash(n: u8) -> BlockHash {
        BlockHash::from_byte_array([n; 32])
    }

    #[test]
    fn block_cache_holds_its_entry_and_byte_caps() {
        let one = block(10, 2).approx_bytes();
        let mut cache = BlockCache::new(4, one * 3);
        for n in 0..10 {
            cache.insert(hash(n), block(10, 2));
            assert!(cache.len() <= 3, "byte cap binds first");
            assert!(cache.bytes() <= one * 3);
        }
        assert!(cache.get(&hash(9)).is_some(), "newest kept");
        assert!(cache.get(&hash(0)).is_none(), "oldest evicted");

        let mut by_count = BlockCache::new(2, usize::MAX);
        for n in 0..5 {
            by_count.insert(hash(n), block(1, 1));
        }
        assert_eq!(by_count.len(), 2);
        assert_eq!(by_count.bytes(), 2 * block(1, 1).approx_bytes());
    }

    #[test]
    fn an_entry_over_the_byte_cap_is_not_kept_and_zero_disables() {
        let mut cache = BlockCache::new(4, 10);
        cache.insert(hash(1), block(100, 1));
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
        let mut off = BlockCache::new(0, usize::MAX);
        off.insert(hash(1), block(1, 1));
        assert!(off.get(&hash(1)).is_none());
    }

    #[test]
    fn per_transaction_answers_merge() {
        let mut cache = BlockCache::new(4, usize::MAX);
        let piece = |i: u32| BlockOutputs {
            tx_count: None,
            complete: false,
            txs: block(i + 1, 1).txs.into_iter().skip(i as usize).collect(),
        };
        cache.insert(hash(1), piece(3));
        let merged = cache.insert(hash(1), piece(1));
        assert!(merged.tx(1).unwrap().is_some());
        assert!(merged.tx(3).unwrap().is_some());
        assert!(merged.tx(2).is_err(), "never asked: unknown");
        let merged = cache.insert(
            hash(1),
            BlockOutputs {
                tx_count: Some(5),
                complete: false,
                txs: vec![],
            },
        );
        assert_eq!(merged.tx(7).unwrap(), None, "past the count: absent");
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.bytes(), merged.approx_bytes());
    }

    #[test]
    fn negative_cache_is_bounded_and_skips_unconfirmed() {
        let mut cache = NegativeCache::new(3);
        let claim = |n: u32| FundingClaim {
            scid: ShortChannelId::new(n, 0, 0).unwrap(),
            bitcoin_key_1: [2; 33],
            bitcoin_key_2: [3; 33],
        };
        for n in 0..10 {
            cache.insert(claim(n), FundingRejection::NotFound);
        }
        assert_eq!(cache.len(), 3);
        cache.insert(claim(100), FundingRejection::Unconfirmed);
        assert_eq!(cache.get(&claim(100)), None);
        assert_eq!(cache.get(&claim(9)), Some(FundingRejection::NotFound));
    }
}
