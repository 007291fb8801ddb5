//! The chain-source interface every backend implements, and the compact per-block summary the
//! funding rule and the block cache work on.
//!
//! The interface is the least every backend can answer with the endpoints the issue lists:
//! the tip, the hash at a height, a block's transactions' outputs, whether one output is
//! unspent, and (where a backend can list a block's inputs) the outpoints a block spends.
//! Backends return boxed futures so the validator and the follower can hold any of them as
//! `Arc<dyn ChainSource>` without an async-trait crate.

use std::future::Future;
use std::pin::Pin;

use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, OutPoint, Transaction, Txid};

use super::error::ChainError;

/// What a chain source hands back, boxed so the trait stays object safe.
pub type ChainFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ChainError>> + Send + 'a>>;

/// The best block a source knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainTip {
    pub height: u32,
    pub hash: BlockHash,
}

/// Which backend a source is; the `backend` metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    BitcoindRpc,
    BitcoindRest,
    Esplora,
    Memory,
}

impl BackendKind {
    pub const ALL: [BackendKind; 4] = [
        BackendKind::BitcoindRpc,
        BackendKind::BitcoindRest,
        BackendKind::Esplora,
        BackendKind::Memory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::BitcoindRpc => "bitcoind_rpc",
            BackendKind::BitcoindRest => "bitcoind_rest",
            BackendKind::Esplora => "esplora",
            BackendKind::Memory => "memory",
        }
    }
}

/// One output as the funding rule needs it: its value and, when the script is P2WSH, the
/// 32-byte witness script hash. Other scripts keep only their value: the rule rejects them
/// whatever they are, so there is no reason to hold their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSummary {
    pub value_sat: u64,
    pub p2wsh: Option<[u8; 32]>,
}

impl OutputSummary {
    /// Summarises one output; the script is classified by the `bitcoin` crate.
    pub fn of(output: &bitcoin::TxOut) -> Self {
        let script = output.script_pubkey.as_script();
        let p2wsh = if script.is_p2wsh() {
            script
                .as_bytes()
                .get(2..34)
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
        } else {
            None
        };
        OutputSummary {
            value_sat: output.value.to_sat(),
            p2wsh,
        }
    }
}

/// A transaction's id and its outputs' summaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutputs {
    pub txid: Txid,
    pub outputs: Vec<OutputSummary>,
}

impl TxOutputs {
    pub fn of(tx: &Transaction) -> Self {
        TxOutputs {
            txid: tx.compute_txid(),
            outputs: tx.output.iter().map(OutputSummary::of).collect(),
        }
    }

    /// Approximate heap bytes, for the block cache's byte cap.
    pub fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.outputs.len() * std::mem::size_of::<OutputSummary>()
    }
}

/// What a source knows about one block's transactions. Whole-block backends (bitcoind RPC and
/// REST, the in-process chain) fill every transaction and `tx_count`; a per-transaction backend
/// (Esplora) fills the one asked for, or only says that no transaction sits at that index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockOutputs {
    /// Number of transactions, when known; an index at or past it names no transaction.
    pub tx_count: Option<u32>,
    /// Every transaction that can carry an output of interest is listed: an index below
    /// `tx_count` that is not listed holds none (whole blocks; the in-process chain's sparse
    /// blocks, whose unlisted transactions are not materialised).
    pub complete: bool,
    /// Known transactions by index, sorted by index.
    pub txs: Vec<(u32, TxOutputs)>,
}

impl BlockOutputs {
    /// Summary of a whole block (every transaction).
    pub fn of_block(block: &Block) -> Self {
        BlockOutputs {
            tx_count: u32::try_from(block.txdata.len()).ok(),
            complete: true,
            txs: block
                .txdata
                .iter()
                .enumerate()
                .filter_map(|(i, tx)| Some((u32::try_from(i).ok()?, TxOutputs::of(tx))))
                .collect(),
        }
    }

    /// The transaction at `index`: `Ok(Some)` known, `Ok(None)` known absent, `Err(())` unknown
    /// (a per-transaction backend has not been asked about it yet).
    #[allow(clippy::result_unit_err)]
    pub fn tx(&self, index: u32) -> Result<Option<&TxOutputs>, ()> {
        if let Ok(pos) = self.txs.binary_search_by_key(&index, |(i, _)| *i) {
            return Ok(self.txs.get(pos).map(|(_, tx)| tx));
        }
        match self.tx_count {
            Some(count) if index >= count => Ok(None),
            Some(_) if self.complete => Ok(None),
            _ => Err(()),
        }
    }

    /// Folds what a per-transaction backend learned into this entry.
    pub fn merge(&mut self, other: BlockOutputs) {
        self.tx_count = match (self.tx_count, other.tx_count) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.complete |= other.complete;
        for (index, tx) in other.txs {
            if let Err(pos) = self.txs.binary_search_by_key(&index, |(i, _)| *i) {
                self.txs.insert(pos, (index, tx));
            }
        }
    }

    /// Approximate heap bytes, for the block cache's byte cap.
    pub fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self
                .txs
                .iter()
                .map(|(_, tx)| tx.approx_bytes() + 4)
                .sum::<usize>()
    }
}

/// Every outpoint a block's inputs spend (coinbase inputs left out).
pub fn spends_of_block(txs: &[Transaction]) -> Vec<OutPoint> {
    txs.iter()
        .filter(|tx| !tx.is_coinbase())
        .flat_map(|tx| tx.input.iter().map(|input| input.previous_output))
        .collect()
}

/// Checks that a block a source returned is the block asked for and that its transactions are
/// the ones its header commits to: a source that swaps transactions is caught here.
pub fn check_block(block: &Block, asked: BlockHash) -> Result<(), ChainError> {
    let got = block.block_hash();
    if got != asked {
        return Err(ChainError::Inconsistent(format!(
            "asked for block {asked}, got {got}"
        )));
    }
    if !block.check_merkle_root() {
        return Err(ChainError::Inconsistent(format!(
            "block {asked}: transactions do not match the merkle root"
        )));
    }
    Ok(())
}

/// Parses a consensus-encoded block, with the bytes' origin in the error.
pub fn parse_block(bytes: &[u8]) -> Result<Block, ChainError> {
    bitcoin::consensus::deserialize::<Block>(bytes)
        .map_err(|e| ChainError::Garbage(format!("block does not decode: {e}")))
}

/// Parses a 32-byte hash given in the usual reversed hex form.
pub fn parse_hash_hex<H: Hash + std::str::FromStr>(text: &str) -> Result<H, ChainError> {
    text.trim()
        .parse::<H>()
        .map_err(|_| ChainError::Garbage(format!("not a 32-byte hex hash: {:.80}", text.trim())))
}

/// The tip from bitcoind's chain info (`getblockchaininfo` over RPC, `chaininfo.json` over
/// REST: the same object), `what` naming the call in errors.
pub fn tip_from_chain_info(info: &serde_json::Value, what: &str) -> Result<ChainTip, ChainError> {
    let height = info
        .get("blocks")
        .and_then(serde_json::Value::as_u64)
        .and_then(|h| u32::try_from(h).ok())
        .ok_or_else(|| ChainError::Garbage(format!("{what}: no blocks")))?;
    let hash = parse_hash_hex(
        info.get("bestblockhash")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| ChainError::Garbage(format!("{what}: no bestblockhash")))?,
    )?;
    Ok(ChainTip { height, hash })
}

/// A source of chain facts. Implementations must never panic on what the remote sends, and
/// must bound every answer they read.
pub trait ChainSource: Send + Sync + 'static {
    /// Which backend this is (the metric label).
    fn kind(&self) -> BackendKind;

    /// The best block.
    fn tip(&self) -> ChainFuture<'_, ChainTip>;

    /// The hash of the block at `height` on the best chain, `None` past the tip.
    fn block_hash(&self, height: u32) -> ChainFuture<'_, Option<BlockHash>>;

    /// The outputs of the block `hash`. Whole-block backends return every transaction; a
    /// per-transaction backend returns at least the answer for `tx_index`.
    fn block_outputs(&self, hash: BlockHash, tx_index: u32) -> ChainFuture<'_, BlockOutputs>;

    /// Whether `outpoint` is an unspent output of the best chain (mempool spends ignored: a
    /// channel is open until its close is mined).
    fn is_unspent(&self, outpoint: OutPoint) -> ChainFuture<'_, bool>;

    /// Every outpoint the block `hash` spends, or `None` where the backend cannot list a
    /// block's inputs with its documented endpoints (Esplora: the follower then asks
    /// [`ChainSource::is_unspent`] for the outpoints it watches).
    fn block_spends(&self, hash: BlockHash) -> ChainFuture<'_, Option<Vec<OutPoint>>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::block::{Header, Version as BlockVersion};
    use bitcoin::transaction::Version;
    use bitcoin::{
        Amount, CompactTarget, ScriptBuf, Sequence, TxIn, TxMerkleNode, TxOut, WScriptHash, Witness,
    };

    /// A block with a coinbase and one segwit transaction (witness data on its input) paying a
    /// P2WSH output and a P2PKH change output.
    fn segwit_block() -> (Block, WScriptHash) {
        let script_hash = WScriptHash::hash(b"2 <k1> <k2> 2 OP_CHECKMULTISIG stand-in");
        let coinbase = Transaction {
            version: Version::ONE,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(vec![3, 0x40, 0x42, 0x0f]),
                sequence: Sequence::MAX,
                witness: Witness::from_slice(&[[0u8; 32]]),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(625_000_000),
                script_pubkey: ScriptBuf::new_op_return([0xaa; 4]),
            }],
        };
        let spend = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint {
                    txid: Txid::from_byte_array([7; 32]),
                    vout: 1,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::from_slice(&[vec![0x30; 71], vec![0x02; 33]]),
            }],
            output: vec![
                TxOut {
                    value: Amount::from_sat(1_000_000),
                    script_pubkey: ScriptBuf::new_p2wsh(&script_hash),
                },
                TxOut {
                    value: Amount::from_sat(49_000),
                    script_pubkey: ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::from_byte_array(
                        [1; 20],
                    )),
                },
            ],
        };
        let mut block = Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: BlockHash::all_zeros(),
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            },
            txdata: vec![coinbase, spend],
        };
        block.header.merkle_root = block.compute_merkle_root().unwrap();
        (block, script_hash)
    }

    #[test]
    fn segwit_block_parses_and_yields_its_p2wsh_output() {
        let (block, script_hash) = segwit_block();
        let bytes = bitcoin::consensus::serialize(&block);
        // Segwit serialization: after the 80-byte header, the tx count and the coinbase's
        // version come the marker 0x00 and the flag 0x01.
        assert_eq!(&bytes[85..87], &[0x00, 0x01]);
        let parsed = parse_block(&bytes).unwrap();
        check_block(&parsed, block.block_hash()).unwrap();
        assert_eq!(parsed.txdata[1].input[0].witness.len(), 2, "witness kept");
        let outputs = BlockOutputs::of_block(&parsed);
        assert_eq!(outputs.tx_count, Some(2));
        let tx = outputs.tx(1).unwrap().unwrap();
        assert_eq!(tx.txid, block.txdata[1].compute_txid());
        assert_eq!(
            tx.outputs[0],
            OutputSummary {
                value_sat: 1_000_000,
                p2wsh: Some(script_hash.to_byte_array())
            }
        );
        assert_eq!(tx.outputs[1].p2wsh, None, "P2PKH is not P2WSH");
        assert_eq!(outputs.tx(2), Ok(None));
        assert_eq!(
            spends_of_block(&parsed.txdata).len(),
            1,
            "coinbase input left out"
        );
    }

    #[test]
    fn garbage_and_lies_are_errors_not_panics() {
        let (block, _) = segwit_block();
        let bytes = bitcoin::consensus::serialize(&block);
        for cut in [0, 1, 80, 81, bytes.len() - 1] {
            assert!(
                matches!(parse_block(&bytes[..cut]), Err(ChainError::Garbage(_))),
                "cut {cut}"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            parse_block(&trailing),
            Err(ChainError::Garbage(_))
        ));
        // Another block than asked.
        assert!(matches!(
            check_block(&block, BlockHash::all_zeros()),
            Err(ChainError::Inconsistent(_))
        ));
        // Transactions swapped under the same header.
        let mut tampered = block.clone();
        tampered.txdata[1].output[0].value = Amount::from_sat(1);
        assert!(matches!(
            check_block(&tampered, block.block_hash()),
            Err(ChainError::Inconsistent(_))
        ));
        assert!(parse_hash_hex::<BlockHash>("zz").is_err());
    }
}
