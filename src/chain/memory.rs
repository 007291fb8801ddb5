//! An in-process chain source over blocks held in memory: the embedded demo's chain and the
//! tests' chain. It is a real implementation of [`ChainSource`] (heights, hashes, outputs,
//! spends, reorgs), not a mock: it answers from the blocks it was given, and nothing else.
//!
//! Blocks are *sparse*: a block lists the transactions at chosen indices and its transaction
//! count, so a mainnet-shaped corpus (scids with transaction indices in the thousands) needs
//! one funding transaction per channel rather than millions of filler transactions. Block
//! hashes are real header hashes over a header that commits to those transactions, so two
//! different blocks at one height (a reorg) have different hashes.

use std::collections::HashMap;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::{BlockHash, CompactTarget, OutPoint, Transaction, TxMerkleNode};
use parking_lot::RwLock;

use super::error::ChainError;
use super::source::{
    spends_of_block, BackendKind, BlockOutputs, ChainFuture, ChainSource, ChainTip, TxOutputs,
};

/// One block's content: the transactions at their indices, and how many the block has.
#[derive(Clone, Debug, Default)]
pub struct SparseBlock {
    /// (index, transaction), any order; an index at or past `tx_count` is ignored.
    pub txs: Vec<(u32, Transaction)>,
    pub tx_count: u32,
}

/// A block as bitcoind keeps one on disk: its transactions serialized, decoded when fetched
/// (about 120 bytes a funding transaction instead of ~300 decoded, which kept the demo's
/// in-process chain from counting against the node's memory budget).
struct StoredBlock {
    hash: BlockHash,
    tx_count: u32,
    /// (index: u32 LE, length: u32 LE, consensus-serialized transaction), by index.
    raw_txs: Box<[u8]>,
    spends: Box<[OutPoint]>,
}

impl StoredBlock {
    fn outputs(&self) -> Result<BlockOutputs, ChainError> {
        let mut txs = Vec::new();
        let mut rest: &[u8] = &self.raw_txs;
        while let Some((head, tail)) = rest.split_first_chunk::<8>() {
            let index = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
            let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
            let (bytes, tail) = tail
                .split_at_checked(len)
                .ok_or_else(|| ChainError::Inconsistent("stored block cut short".into()))?;
            let tx: Transaction = bitcoin::consensus::deserialize(bytes)
                .map_err(|e| ChainError::Inconsistent(format!("stored transaction: {e}")))?;
            txs.push((index, TxOutputs::of(&tx)));
            rest = tail;
        }
        Ok(BlockOutputs {
            tx_count: Some(self.tx_count),
            complete: true,
            txs,
        })
    }
}

#[derive(Default)]
struct State {
    base_height: u32,
    blocks: Vec<StoredBlock>,
    /// Block hash → index in `blocks` (a lookup per block fetch; a scan of a mainnet-shaped
    /// chain's 13,500 blocks took ~20 µs).
    by_hash: HashMap<BlockHash, usize>,
    /// Transactions on the best chain: txid → (height, outputs it created). One entry per
    /// transaction rather than per output halves the demo chain's largest table.
    created: HashMap<bitcoin::Txid, (u32, u32)>,
    /// Outputs spent on the best chain.
    spent: HashMap<OutPoint, u32>,
    /// Bumped by every reorg so a replacement block hashes differently.
    generation: u32,
}

/// An in-memory chain.
pub struct MemoryChain {
    state: RwLock<State>,
}

impl MemoryChain {
    /// An empty chain whose first block will be at `base_height` (heights below it hold no
    /// block, so scids there are not found).
    pub fn new(base_height: u32) -> Self {
        MemoryChain {
            state: RwLock::new(State {
                base_height,
                ..State::default()
            }),
        }
    }

    /// Appends a block; returns its hash.
    pub fn push_block(&self, block: SparseBlock) -> BlockHash {
        let mut state = self.state.write();
        let height = state.base_height + state.blocks.len() as u32;
        let prev = state
            .blocks
            .last()
            .map(|b| b.hash)
            .unwrap_or(BlockHash::all_zeros());
        let mut txs = block.txs;
        txs.retain(|(index, _)| *index < block.tx_count);
        txs.sort_by_key(|(index, _)| *index);
        txs.dedup_by_key(|(index, _)| *index);
        let mut engine = sha256d::Hash::engine();
        for (index, tx) in &txs {
            engine.input(&index.to_le_bytes());
            engine.input(tx.compute_txid().as_byte_array());
        }
        engine.input(&block.tx_count.to_le_bytes());
        let header = Header {
            version: Version::TWO,
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::from_raw_hash(sha256d::Hash::from_engine(engine)),
            time: height,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: state.generation,
        };
        let hash = header.block_hash();
        let plain: Vec<Transaction> = txs.iter().map(|(_, tx)| tx.clone()).collect();
        let spends = spends_of_block(&plain);
        for outpoint in &spends {
            state.spent.insert(*outpoint, height);
        }
        for (_, tx) in &txs {
            let outputs = u32::try_from(tx.output.len()).unwrap_or(u32::MAX);
            state.created.insert(tx.compute_txid(), (height, outputs));
        }
        let mut raw_txs = Vec::new();
        for (index, tx) in &txs {
            let bytes = bitcoin::consensus::serialize(tx);
            raw_txs.extend_from_slice(&index.to_le_bytes());
            raw_txs.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(0).to_le_bytes());
            raw_txs.extend_from_slice(&bytes);
        }
        let index = state.blocks.len();
        state.by_hash.insert(hash, index);
        state.blocks.push(StoredBlock {
            hash,
            tx_count: block.tx_count,
            raw_txs: raw_txs.into_boxed_slice(),
            spends: spends.into_boxed_slice(),
        });
        hash
    }

    /// Appends `count` blocks holding only a coinbase.
    pub fn push_empty(&self, count: u32) {
        for _ in 0..count {
            self.push_block(SparseBlock {
                txs: Vec::new(),
                tx_count: 1,
            });
        }
    }

    /// Removes every block above `height` (a reorg's first half; push the new branch after).
    pub fn disconnect_above(&self, height: u32) {
        let mut state = self.state.write();
        let keep = height.saturating_add(1).saturating_sub(state.base_height) as usize;
        if keep >= state.blocks.len() {
            return;
        }
        state.blocks.truncate(keep);
        state.by_hash.retain(|_, index| *index < keep);
        state.generation = state.generation.wrapping_add(1);
        state.created.retain(|_, (h, _)| *h <= height);
        state.spent.retain(|_, h| *h <= height);
    }

    /// The current tip, `None` while the chain is empty.
    pub fn tip_now(&self) -> Option<ChainTip> {
        let state = self.state.read();
        let last = state.blocks.last()?;
        Some(ChainTip {
            height: state.base_height + state.blocks.len() as u32 - 1,
            hash: last.hash,
        })
    }

    fn stored<T>(
        &self,
        hash: BlockHash,
        f: impl FnOnce(&StoredBlock) -> T,
    ) -> Result<T, ChainError> {
        let state = self.state.read();
        state
            .by_hash
            .get(&hash)
            .and_then(|index| state.blocks.get(*index))
            .map(f)
            .ok_or_else(|| ChainError::Inconsistent(format!("no block {hash} on the best chain")))
    }
}

impl ChainSource for MemoryChain {
    fn kind(&self) -> BackendKind {
        BackendKind::Memory
    }

    fn tip(&self) -> ChainFuture<'_, ChainTip> {
        let tip = self
            .tip_now()
            .ok_or_else(|| ChainError::Inconsistent("the in-memory chain has no block".into()));
        Box::pin(async move { tip })
    }

    fn block_hash(&self, height: u32) -> ChainFuture<'_, Option<BlockHash>> {
        let state = self.state.read();
        let hash = height
            .checked_sub(state.base_height)
            .and_then(|i| state.blocks.get(i as usize))
            .map(|b| b.hash);
        Box::pin(async move { Ok(hash) })
    }

    fn block_outputs(&self, hash: BlockHash, _tx_index: u32) -> ChainFuture<'_, BlockOutputs> {
        let outputs = self
            .stored(hash, StoredBlock::outputs)
            .and_then(|outputs| outputs);
        Box::pin(async move { outputs })
    }

    fn is_unspent(&self, outpoint: OutPoint) -> ChainFuture<'_, bool> {
        let state = self.state.read();
        let created = state
            .created
            .get(&outpoint.txid)
            .is_some_and(|(_, outputs)| outpoint.vout < *outputs);
        let unspent = created && !state.spent.contains_key(&outpoint);
        Box::pin(async move { Ok(unspent) })
    }

    fn block_spends(&self, hash: BlockHash) -> ChainFuture<'_, Option<Vec<OutPoint>>> {
        let spends = self.stored(hash, |b| Some(b.spends.to_vec()));
        Box::pin(async move { spends })
    }
}
