//! The chain that backs a generated corpus: blocks whose transactions carry each channel's
//! funding output exactly where its short_channel_id points (height, transaction index, output
//! index), plus fabricated channels whose funding output is missing, has the wrong script, or
//! is spent. The embedded demo validates against it through the in-process chain source
//! ([`crate::chain::MemoryChain`]), so the main job exercises the whole funding path.

use std::collections::BTreeMap;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};

use crate::chain::funding::{
    funding_script_pubkey, unsorted_funding_script_pubkey, FundingRejection,
};
use crate::chain::{MemoryChain, SparseBlock};
use crate::wire::gossip::ChannelAnnouncement;
use crate::wire::scid::ShortChannelId;

/// One announced channel as the chain must back it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelFunding {
    pub scid: ShortChannelId,
    pub bitcoin_key_1: [u8; 33],
    pub bitcoin_key_2: [u8; 33],
    pub amount_sat: u64,
}

impl ChannelFunding {
    /// The funding a channel_announcement's bytes claim, `None` if they do not parse. The
    /// corpus carries no capacities, so the amount is derived from the scid (deterministic,
    /// between 20,000 and about 16.8 million satoshis) and the demo can check that the store's
    /// `channel_amount` got it.
    pub fn from_announcement(msg: &[u8]) -> Option<Self> {
        let announcement = ChannelAnnouncement::parse(msg).ok()?;
        Some(ChannelFunding {
            scid: ShortChannelId::from_u64(announcement.short_channel_id),
            bitcoin_key_1: announcement.bitcoin_key_1,
            bitcoin_key_2: announcement.bitcoin_key_2,
            amount_sat: amount_for(announcement.short_channel_id),
        })
    }
}

/// The simulated capacity of the channel `scid`.
pub fn amount_for(scid: u64) -> u64 {
    20_000 + (scid.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40)
}

/// How a fabricated channel's funding fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FabricatedFunding {
    /// No transaction at the scid's index.
    Missing,
    /// The output pays a 2-of-2 of the keys in the wrong (unsorted) order: a different script.
    WrongScript,
    /// The right output, spent in the next block.
    Spent,
}

impl FabricatedFunding {
    pub const ALL: [FabricatedFunding; 3] = [
        FabricatedFunding::Missing,
        FabricatedFunding::WrongScript,
        FabricatedFunding::Spent,
    ];

    /// The rejection the funding rule must give it.
    pub fn expected_rejection(self) -> FundingRejection {
        match self {
            FabricatedFunding::Missing => FundingRejection::NotFound,
            FabricatedFunding::WrongScript => FundingRejection::ScriptMismatch,
            FabricatedFunding::Spent => FundingRejection::Spent,
        }
    }
}

/// The generated chain: blocks from `base_height` up, sparse (see [`SparseBlock`]).
#[derive(Clone, Debug, Default)]
pub struct SimChain {
    pub base_height: u32,
    pub blocks: Vec<SparseBlock>,
}

impl SimChain {
    pub fn tip_height(&self) -> u32 {
        self.base_height + self.blocks.len().saturating_sub(1) as u32
    }

    /// Loads the blocks into an in-process chain source.
    pub fn into_memory(self) -> MemoryChain {
        let chain = MemoryChain::new(self.base_height);
        for block in self.blocks {
            chain.push_block(block);
        }
        chain
    }
}

/// An input no real chain has: unique per scid so every funding txid is unique.
fn fabricated_input(scid: ShortChannelId, salt: u8) -> TxIn {
    let mut seed = scid.to_u64().to_le_bytes().to_vec();
    seed.push(salt);
    TxIn {
        previous_output: OutPoint {
            txid: Txid::from_raw_hash(sha256d::Hash::hash(&seed)),
            vout: 0,
        },
        script_sig: ScriptBuf::new(),
        sequence: Sequence::MAX,
        witness: Witness::new(),
    }
}

/// An output no funding rule matches (stands in for change).
fn filler_output() -> TxOut {
    TxOut {
        value: Amount::from_sat(1_000),
        script_pubkey: ScriptBuf::new_op_return([0u8; 4]),
    }
}

/// Builds the chain for `valid` channels and `fabricated` ones, with at least `min_depth`
/// confirmations on every funding block. Channels whose keys are not valid points get an
/// output no key pair matches (their announcements fail the rule, as they must).
pub fn build_chain(
    valid: &[ChannelFunding],
    fabricated: &[(ChannelFunding, FabricatedFunding)],
    min_depth: u32,
) -> SimChain {
    // (height, tx index) → outputs by index.
    let mut txs: BTreeMap<(u32, u32), BTreeMap<u16, TxOut>> = BTreeMap::new();
    let mut spends: Vec<ShortChannelId> = Vec::new();
    let mut place = |channel: &ChannelFunding, script: ScriptBuf| {
        txs.entry((channel.scid.block, channel.scid.tx_index))
            .or_default()
            .insert(
                channel.scid.output_index,
                TxOut {
                    value: Amount::from_sat(channel.amount_sat),
                    script_pubkey: script,
                },
            );
    };
    let right_script = |c: &ChannelFunding| {
        funding_script_pubkey(&c.bitcoin_key_1, &c.bitcoin_key_2)
            .unwrap_or_else(|| ScriptBuf::new_op_return([1u8; 4]))
    };
    for channel in valid {
        place(channel, right_script(channel));
    }
    for (channel, how) in fabricated {
        match how {
            FabricatedFunding::Missing => {}
            FabricatedFunding::WrongScript => place(
                channel,
                unsorted_funding_script_pubkey(&channel.bitcoin_key_1, &channel.bitcoin_key_2),
            ),
            FabricatedFunding::Spent => {
                place(channel, right_script(channel));
                spends.push(channel.scid);
            }
        }
    }
    let heights = valid
        .iter()
        .chain(fabricated.iter().map(|(c, _)| c))
        .map(|c| c.scid.block);
    let (Some(base), Some(top)) = (heights.clone().min(), heights.max()) else {
        return SimChain::default();
    };
    // Spends go one block after their funding, so the chain reaches at least top + 1.
    let tip = top.saturating_add(min_depth.max(2) - 1);
    let mut blocks: Vec<SparseBlock> = (base..=tip)
        .map(|_| SparseBlock {
            txs: Vec::new(),
            tx_count: 1,
        })
        .collect();
    let mut funding_outpoints = BTreeMap::new();
    for ((height, tx_index), outputs) in txs {
        let last = outputs.keys().next_back().copied().unwrap_or(0);
        let output: Vec<TxOut> = (0..=last)
            .map(|i| outputs.get(&i).cloned().unwrap_or_else(filler_output))
            .collect();
        let scid =
            ShortChannelId::from_u64((u64::from(height) << 40) | (u64::from(tx_index) << 16));
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![fabricated_input(scid, 0)],
            output,
        };
        let txid = tx.compute_txid();
        for vout in outputs.keys() {
            funding_outpoints.insert(
                (height, tx_index, *vout),
                OutPoint {
                    txid,
                    vout: u32::from(*vout),
                },
            );
        }
        if let Some(block) = blocks.get_mut((height - base) as usize) {
            block.tx_count = block.tx_count.max(tx_index.saturating_add(1));
            block.txs.push((tx_index, tx));
        }
    }
    for scid in spends {
        let Some(outpoint) = funding_outpoints.get(&(scid.block, scid.tx_index, scid.output_index))
        else {
            continue;
        };
        let spend = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: *outpoint,
                ..fabricated_input(scid, 1)
            }],
            output: vec![filler_output()],
        };
        if let Some(block) = blocks.get_mut((scid.block + 1 - base) as usize) {
            let index = block.tx_count;
            block.tx_count += 1;
            block.txs.push((index, spend));
        }
    }
    SimChain {
        base_height: base,
        blocks,
    }
}

/// A fabricated channel_announcement: four good signatures by fresh keys, for a scid the
/// chain does not back as the announcement claims.
pub struct Fabricated {
    pub msg: Vec<u8>,
    pub funding: ChannelFunding,
    pub how: FabricatedFunding,
}

/// Tx indices of fabricated channels carry this bit: generated valid channels stay far below it,
/// so a fabricated scid never names a real channel's funding.
const FABRICATED_TX_BIT: u32 = 0x80_0000;

/// A secret key from `seed`, `index` and `role` (retried until it is a valid scalar).
fn fabricated_secret(seed: u64, index: u64, role: u8) -> secp256k1::SecretKey {
    let mut attempt = 0u32;
    loop {
        let mut bytes = b"gossip-sieve fabricated".to_vec();
        bytes.extend(seed.to_be_bytes());
        bytes.extend(index.to_be_bytes());
        bytes.push(role);
        bytes.extend(attempt.to_be_bytes());
        let digest = bitcoin::hashes::sha256::Hash::hash(&bytes);
        if let Ok(key) = secp256k1::SecretKey::from_slice(digest.as_byte_array()) {
            return key;
        }
        attempt += 1;
    }
}

/// `count` validly signed announcements whose funding is missing, has the wrong script or is
/// spent (in turn), in blocks `first_block..` of the generated chain, on `chain_hash`.
pub fn fabricated_announcements(
    seed: u64,
    chain_hash: [u8; 32],
    first_block: u32,
    blocks: u32,
    count: usize,
) -> Vec<Fabricated> {
    fabricated_range(seed, chain_hash, first_block, blocks, 0..count)
}

/// Fabricated announcements `range` of the sequence [`fabricated_announcements`] makes (a
/// flood can then be signed a slice at a time instead of held whole).
pub fn fabricated_range(
    seed: u64,
    chain_hash: [u8; 32],
    first_block: u32,
    blocks: u32,
    range: std::ops::Range<usize>,
) -> Vec<Fabricated> {
    let secp = secp256k1::Secp256k1::signing_only();
    range
        .map(|i| {
            let (unsigned, secrets, how) =
                fabricated_unsigned(&secp, seed, chain_hash, first_block, blocks, i);
            let msg = crate::sim::corpus::sign_announcement_with(unsigned.serialize(), secrets);
            Fabricated {
                funding: funding_of(&unsigned),
                msg,
                how,
            }
        })
        .collect()
}

/// The funding claims of fabricated announcements `range` (what their chain must hold),
/// without signing them.
pub fn fabricated_fundings(
    seed: u64,
    first_block: u32,
    blocks: u32,
    range: std::ops::Range<usize>,
) -> Vec<(ChannelFunding, FabricatedFunding)> {
    let secp = secp256k1::Secp256k1::signing_only();
    range
        .map(|i| {
            let (unsigned, _, how) =
                fabricated_unsigned(&secp, seed, [0; 32], first_block, blocks, i);
            (funding_of(&unsigned), how)
        })
        .collect()
}

fn funding_of(unsigned: &ChannelAnnouncement) -> ChannelFunding {
    ChannelFunding {
        scid: ShortChannelId::from_u64(unsigned.short_channel_id),
        bitcoin_key_1: unsigned.bitcoin_key_1,
        bitcoin_key_2: unsigned.bitcoin_key_2,
        amount_sat: amount_for(unsigned.short_channel_id),
    }
}

/// Fabricated announcement `i`, unsigned, with its four secret keys (node 1, node 2, bitcoin
/// 1, bitcoin 2) and how its funding is spoiled.
fn fabricated_unsigned(
    secp: &secp256k1::Secp256k1<secp256k1::SignOnly>,
    seed: u64,
    chain_hash: [u8; 32],
    first_block: u32,
    blocks: u32,
    i: usize,
) -> (
    ChannelAnnouncement,
    [secp256k1::SecretKey; 4],
    FabricatedFunding,
) {
    let index = i as u64;
    let mut nodes = [0u8, 1].map(|role| fabricated_secret(seed, index, role));
    let bitcoin = [2u8, 3].map(|role| fabricated_secret(seed, index, role));
    let public =
        |key: &secp256k1::SecretKey| secp256k1::PublicKey::from_secret_key(secp, key).serialize();
    // BOLT 7: node_id_1 is the lesser key.
    if public(&nodes[0]) > public(&nodes[1]) {
        nodes.swap(0, 1);
    }
    let how = FabricatedFunding::ALL[i % FabricatedFunding::ALL.len()];
    let block = first_block + (i as u32 % blocks.max(1));
    let scid = ShortChannelId::new(block, FABRICATED_TX_BIT | i as u32, 0)
        .unwrap_or(ShortChannelId::from_u64(0));
    let unsigned = ChannelAnnouncement {
        node_signature_1: [0; 64],
        node_signature_2: [0; 64],
        bitcoin_signature_1: [0; 64],
        bitcoin_signature_2: [0; 64],
        features: Vec::new(),
        chain_hash,
        short_channel_id: scid.to_u64(),
        node_id_1: public(&nodes[0]),
        node_id_2: public(&nodes[1]),
        bitcoin_key_1: public(&bitcoin[0]),
        bitcoin_key_2: public(&bitcoin[1]),
        excess: Vec::new(),
    };
    (unsigned, [nodes[0], nodes[1], bitcoin[0], bitcoin[1]], how)
}

/// The chain file `gen-corpus --chain` writes: magic, base height and block count, then per
/// block its transaction count and its transactions (index, consensus-encoded bytes).
const CHAIN_FILE_MAGIC: &[u8; 8] = b"GSCHAIN1";

impl SimChain {
    /// Writes the blocks (see [`CHAIN_FILE_MAGIC`]).
    pub fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        out.write_all(CHAIN_FILE_MAGIC)?;
        out.write_all(&self.base_height.to_be_bytes())?;
        out.write_all(&(self.blocks.len() as u32).to_be_bytes())?;
        for block in &self.blocks {
            out.write_all(&block.tx_count.to_be_bytes())?;
            out.write_all(&(block.txs.len() as u32).to_be_bytes())?;
            for (index, tx) in &block.txs {
                let bytes = bitcoin::consensus::serialize(tx);
                out.write_all(&index.to_be_bytes())?;
                out.write_all(&(bytes.len() as u32).to_be_bytes())?;
                out.write_all(&bytes)?;
            }
        }
        Ok(())
    }

    /// Reads what [`SimChain::write_to`] wrote.
    pub fn read_from(input: &mut impl std::io::Read) -> anyhow::Result<SimChain> {
        let mut blocks = Vec::new();
        let base_height = Self::read_blocks(input, |_, block| blocks.push(block))?;
        Ok(SimChain {
            base_height,
            blocks,
        })
    }

    /// Reads what [`SimChain::write_to`] wrote straight into an in-process chain source, one
    /// block at a time: the decoded transactions of the whole chain (tens of MB for the demo's)
    /// are never held at once, so the demo's peak RSS is the node's and the source's, not a
    /// loading artefact.
    pub fn read_into_memory(input: &mut impl std::io::Read) -> anyhow::Result<MemoryChain> {
        let mut memory: Option<MemoryChain> = None;
        let base_height = Self::read_blocks(input, |base_height, block| {
            memory
                .get_or_insert_with(|| MemoryChain::new(base_height))
                .push_block(block);
        })?;
        Ok(memory.unwrap_or_else(|| MemoryChain::new(base_height)))
    }

    /// Decodes the file, handing each block (with the base height) to `each` as it is read;
    /// returns the base height.
    fn read_blocks(
        input: &mut impl std::io::Read,
        mut each: impl FnMut(u32, SparseBlock),
    ) -> anyhow::Result<u32> {
        fn u32_of(input: &mut impl std::io::Read) -> std::io::Result<u32> {
            let mut b = [0u8; 4];
            input.read_exact(&mut b)?;
            Ok(u32::from_be_bytes(b))
        }
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic)?;
        anyhow::ensure!(&magic == CHAIN_FILE_MAGIC, "not a gossip-sieve chain file");
        let base_height = u32_of(input)?;
        let count = u32_of(input)?;
        for _ in 0..count {
            let tx_count = u32_of(input)?;
            let txs_len = u32_of(input)?;
            let mut txs = Vec::new();
            for _ in 0..txs_len {
                let index = u32_of(input)?;
                let len = u32_of(input)? as usize;
                anyhow::ensure!(len <= 4_000_000, "transaction of {len} bytes");
                let mut bytes = vec![0u8; len];
                input.read_exact(&mut bytes)?;
                txs.push((index, bitcoin::consensus::deserialize(&bytes)?));
            }
            each(base_height, SparseBlock { txs, tx_count });
        }
        Ok(base_height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{
        BackendKind, ChainMetrics, ChainSource, ChainValidator, FundingClaim, LookupOutcome,
        ValidatorConfig,
    };
    use secp256k1::{PublicKey, Secp256k1, SecretKey};
    use std::sync::Arc;

    fn key(n: u32) -> [u8; 33] {
        let mut secret = [7u8; 32];
        secret[..4].copy_from_slice(&n.to_be_bytes());
        PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&secret).unwrap())
            .serialize()
    }

    fn channel(n: u32, block: u32, tx_index: u32, out: u16) -> ChannelFunding {
        ChannelFunding {
            scid: ShortChannelId::new(block, tx_index, out).unwrap(),
            bitcoin_key_1: key(2 * n),
            bitcoin_key_2: key(2 * n + 1),
            amount_sat: 100_000 + u64::from(n),
        }
    }

    fn claim(c: &ChannelFunding) -> FundingClaim {
        FundingClaim {
            scid: c.scid,
            bitcoin_key_1: c.bitcoin_key_1,
            bitcoin_key_2: c.bitcoin_key_2,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_channel_gets_the_answer_its_funding_deserves() {
        let valid: Vec<ChannelFunding> = (0..40)
            .map(|n| channel(n, 800_000 + n / 4, 1_001 + n * 7, (n % 3) as u16))
            .collect();
        let fabricated: Vec<(ChannelFunding, FabricatedFunding)> = FabricatedFunding::ALL
            .iter()
            .enumerate()
            .map(|(i, how)| (channel(100 + i as u32, 800_003, 3_000 + i as u32, 1), *how))
            .collect();
        let sim = build_chain(&valid, &fabricated, 6);
        assert!(sim.tip_height() >= 800_009 + 5);
        let chain: Arc<dyn ChainSource> = Arc::new(sim.into_memory());
        let validator = ChainValidator::new(
            Arc::clone(&chain),
            ValidatorConfig::default(),
            ChainMetrics::unregistered(BackendKind::Memory),
            tokio::runtime::Handle::current(),
        );
        for c in &valid {
            match validator.validate(claim(c)).await {
                LookupOutcome::Accepted(out) => assert_eq!(out.amount_sat, c.amount_sat),
                other => panic!("{} rejected: {other:?}", c.scid),
            }
        }
        for (c, how) in &fabricated {
            assert_eq!(
                validator.validate(claim(c)).await,
                LookupOutcome::Rejected(how.expected_rejection()),
                "{how:?}"
            );
        }
        // Ten blocks, forty channels: one fetch per block, the rest from the cache.
        let hits = validator
            .metrics()
            .cache_lookups
            .with_label_values(&["block", "hit"])
            .get();
        assert!(hits >= 30, "block cache hits {hits}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fabricated_announcements_verify_and_fail_the_funding_rule_by_their_class() {
        use crate::pipeline::verify::Verifier;
        let fabricated = fabricated_announcements(3, [6; 32], 800_000, 4, 6);
        let valid = vec![channel(1, 800_001, 11, 0)];
        let spoiled: Vec<_> = fabricated.iter().map(|f| (f.funding, f.how)).collect();
        let sim = build_chain(&valid, &spoiled, 6);
        let mut file = Vec::new();
        sim.write_to(&mut file).unwrap();
        let read = SimChain::read_from(&mut file.as_slice()).unwrap();
        assert_eq!(read.blocks.len(), sim.blocks.len());
        // Streamed block by block, the file gives the same chain (same tip hash).
        let streamed = SimChain::read_into_memory(&mut file.as_slice()).unwrap();
        assert_eq!(streamed.tip_now(), read.into_memory().tip_now());
        let chain: Arc<dyn ChainSource> = Arc::new(streamed);
        let validator = ChainValidator::new(
            chain,
            ValidatorConfig::default(),
            ChainMetrics::unregistered(BackendKind::Memory),
            tokio::runtime::Handle::current(),
        );
        let metrics = crate::metrics::Metrics::new(1).unwrap();
        let mut verifier = Verifier::new(16);
        for f in &fabricated {
            let ann = ChannelAnnouncement::parse(&f.msg).unwrap();
            verifier
                .channel_announcement(&metrics, &f.msg, &ann)
                .expect("four good signatures");
            assert_eq!(
                validator.validate(claim(&f.funding)).await,
                LookupOutcome::Rejected(f.how.expected_rejection()),
                "{:?}",
                f.how
            );
        }
        assert!(matches!(
            validator.validate(claim(&valid[0])).await,
            LookupOutcome::Accepted(_)
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_generated_corpus_is_backed_by_its_chain() {
        use crate::sim::corpus::{generate_labeled, CorpusSpec, Label};
        use crate::wire::GossipKind;
        let spec = CorpusSpec {
            nodes: 40,
            channels: 120,
            invalid_rate: 0.0,
            ..CorpusSpec::mainnet(7, 1_700_000_000)
        };
        let mut fundings = Vec::new();
        generate_labeled(&spec, |msg, label| {
            if label == Label::Valid(GossipKind::ChannelAnnouncement) {
                fundings.push(ChannelFunding::from_announcement(&msg).expect("parses"));
            }
        });
        assert_eq!(fundings.len(), 120);
        let chain: Arc<dyn ChainSource> = Arc::new(build_chain(&fundings, &[], 6).into_memory());
        let validator = ChainValidator::new(
            chain,
            ValidatorConfig::default(),
            ChainMetrics::unregistered(BackendKind::Memory),
            tokio::runtime::Handle::current(),
        );
        for funding in &fundings {
            let outcome = validator.validate(claim(funding)).await;
            assert!(
                matches!(outcome, LookupOutcome::Accepted(out) if out.amount_sat == funding.amount_sat),
                "{}: {outcome:?}",
                funding.scid
            );
        }
    }
}
