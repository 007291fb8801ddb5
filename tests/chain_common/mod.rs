//! The synthetic chain fixture shared by the chain backend tests: real `bitcoin::Block`s
//! (segwit serialization, real merkle roots) carrying funding outputs at known scids.
#![allow(dead_code)]

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Txid, Witness,
};
use gossip_sieve::chain::funding::funding_script_pubkey;
use gossip_sieve::chain::FundingClaim;
use gossip_sieve::wire::scid::ShortChannelId;
use secp256k1::{PublicKey, Secp256k1, SecretKey};

pub fn key(n: u8) -> [u8; 33] {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[n; 32]).unwrap())
        .serialize()
}

pub fn claim(block: u32, tx_index: u32, out: u16, k1: u8, k2: u8) -> FundingClaim {
    FundingClaim {
        scid: ShortChannelId::new(block, tx_index, out).unwrap(),
        bitcoin_key_1: key(k1),
        bitcoin_key_2: key(k2),
    }
}

fn input(previous_output: OutPoint, witness: bool) -> TxIn {
    TxIn {
        previous_output,
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: if witness {
            Witness::from_slice(&[vec![0x30; 71], vec![0x02; 33]])
        } else {
            Witness::new()
        },
    }
}

fn coinbase(height: u32) -> Transaction {
    Transaction {
        version: Version::ONE,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes([vec![4], height.to_le_bytes().to_vec()].concat()),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(5_000_000_000),
            script_pubkey: ScriptBuf::new_op_return([0xcb; 4]),
        }],
    }
}

/// A funding transaction: output 0 change, output 1 pays `script` `amount` satoshis.
pub fn funding_tx(seed: u8, script: ScriptBuf, amount: u64) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![input(
            OutPoint {
                txid: Txid::from_byte_array([seed; 32]),
                vout: 0,
            },
            true,
        )],
        output: vec![
            TxOut {
                value: Amount::from_sat(10_000),
                script_pubkey: ScriptBuf::new_op_return([seed; 4]),
            },
            TxOut {
                value: Amount::from_sat(amount),
                script_pubkey: script,
            },
        ],
    }
}

pub fn spend_tx(outpoint: OutPoint) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![input(outpoint, true)],
        output: vec![TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: ScriptBuf::new_op_return([0xdd; 4]),
        }],
    }
}

/// A growing chain of real blocks.
#[derive(Clone)]
pub struct Fixture {
    pub blocks: Vec<Block>,
}

impl Fixture {
    pub fn tip_height(&self) -> u32 {
        self.blocks.len() as u32 - 1
    }

    pub fn tip_hash(&self) -> BlockHash {
        self.blocks.last().unwrap().block_hash()
    }

    /// Mines a block holding `txs` after a coinbase; returns its height.
    pub fn mine(&mut self, txs: Vec<Transaction>) -> u32 {
        let height = self.blocks.len() as u32;
        let prev = self
            .blocks
            .last()
            .map(|b| b.block_hash())
            .unwrap_or(BlockHash::all_zeros());
        let mut txdata = vec![coinbase(height)];
        txdata.extend(txs);
        let mut block = Block {
            header: Header {
                version: BlockVersion::TWO,
                prev_blockhash: prev,
                merkle_root: TxMerkleNode::all_zeros(),
                time: 1_700_000_000 + height,
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            },
            txdata,
        };
        block.header.merkle_root = block.compute_merkle_root().unwrap();
        self.blocks.push(block);
        height
    }

    pub fn mine_empty(&mut self, n: u32) {
        for _ in 0..n {
            self.mine(vec![]);
        }
    }

    pub fn height_of(&self, hash: &BlockHash) -> Option<u32> {
        self.blocks
            .iter()
            .position(|b| b.block_hash() == *hash)
            .map(|h| h as u32)
    }

    /// The transaction and the height it is in.
    pub fn find_tx(&self, txid: &Txid) -> Option<(u32, &Transaction)> {
        self.blocks.iter().enumerate().find_map(|(h, b)| {
            b.txdata
                .iter()
                .find(|tx| tx.compute_txid() == *txid)
                .map(|tx| (h as u32, tx))
        })
    }

    pub fn is_spent(&self, outpoint: &OutPoint) -> bool {
        self.blocks
            .iter()
            .flat_map(|b| b.txdata.iter())
            .any(|tx| tx.input.iter().any(|i| i.previous_output == *outpoint))
    }

    pub fn is_unspent(&self, outpoint: &OutPoint) -> bool {
        let exists = self
            .find_tx(&outpoint.txid)
            .is_some_and(|(_, tx)| (outpoint.vout as usize) < tx.output.len());
        exists && !self.is_spent(outpoint)
    }
}

/// The scenario every backend test runs over:
/// - height 1, tx 1: funding of keys (1, 2), 500,000 sat → accepted (`good`);
/// - height 1, tx 2: keys (3, 4) paid, announced with (3, 5) → `funding_script_mismatch`;
/// - height 2, tx 1: funding of keys (6, 7), spent at height 3 → `funding_spent`;
/// - tip at height 10.
pub struct Scenario {
    pub fixture: Fixture,
    pub good: FundingClaim,
    pub mismatch: FundingClaim,
    pub spent: FundingClaim,
    pub spent_outpoint: OutPoint,
    pub good_outpoint: OutPoint,
}

pub fn scenario() -> Scenario {
    let mut fixture = Fixture { blocks: vec![] };
    fixture.mine(vec![]);
    let good_tx = funding_tx(1, funding_script_pubkey(&key(1), &key(2)).unwrap(), 500_000);
    let good_outpoint = OutPoint {
        txid: good_tx.compute_txid(),
        vout: 1,
    };
    let other_tx = funding_tx(2, funding_script_pubkey(&key(3), &key(4)).unwrap(), 300_000);
    fixture.mine(vec![good_tx, other_tx]);
    let spent_tx = funding_tx(3, funding_script_pubkey(&key(6), &key(7)).unwrap(), 200_000);
    let spent_outpoint = OutPoint {
        txid: spent_tx.compute_txid(),
        vout: 1,
    };
    fixture.mine(vec![spent_tx]);
    fixture.mine(vec![spend_tx(spent_outpoint)]);
    fixture.mine_empty(7);
    Scenario {
        fixture,
        good: claim(1, 1, 1, 1, 2),
        mismatch: claim(1, 2, 1, 3, 5),
        spent: claim(2, 1, 1, 6, 7),
        spent_outpoint,
        good_outpoint,
    }
}
