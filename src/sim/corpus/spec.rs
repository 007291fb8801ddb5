//! What to generate ([`CorpusSpec`]) and the fixed shape every corpus shares: chains, sizes,
//! the timestamp window, the scid layout.

use crate::wire::scid::MAX_3_BYTES;

/// Bitcoin mainnet genesis block hash in wire order (BOLT 7 `chain_hash`).
pub const BITCOIN_MAINNET_CHAIN_HASH: [u8; 32] = [
    0x6f, 0xe2, 0x8c, 0x0a, 0xb6, 0xf1, 0xb3, 0x72, 0xc1, 0xa6, 0xa2, 0x46, 0xae, 0x63, 0xf7, 0x4f,
    0x93, 0x1e, 0x83, 0x65, 0xe1, 0x5a, 0x08, 0x9c, 0x68, 0xd6, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00,
];
/// Bitcoin testnet3 genesis block hash in wire order; the "wrong chain" of invalid copies.
pub const BITCOIN_TESTNET_CHAIN_HASH: [u8; 32] = [
    0x43, 0x49, 0x7f, 0xd7, 0xf8, 0x26, 0x95, 0x71, 0x08, 0xf4, 0xa3, 0x0f, 0xd9, 0xce, 0xc3, 0xae,
    0xba, 0x79, 0x97, 0x20, 0x84, 0xe9, 0x0e, 0xad, 0x01, 0xea, 0x33, 0x09, 0x00, 0x00, 0x00, 0x00,
];

/// Mainnet order of magnitude (public graph, 2024).
pub const MAINNET_NODES: usize = 17_000;
pub const MAINNET_CHANNELS: usize = 54_000;

/// Valid timestamps fall in `[now - TIMESTAMP_SPREAD_SECS, now - 1]`: recent enough for LDK's
/// staleness window, and one second of room so `timestamp + 1` copies are not in the future.
pub(super) const TIMESTAMP_SPREAD_SECS: u64 = 3 * 24 * 3600;
/// First block height of generated scids (a plausible mainnet height).
pub(super) const FIRST_BLOCK: u64 = 505_000;
/// Channels per block: scid = (FIRST_BLOCK + c / 4, slot * 1000 + 1 + r, out) is unique per c.
pub(super) const CHANNELS_PER_BLOCK: u64 = 4;
/// Channels per worker batch: big enough to amortise a thread spawn, small enough that a batch
/// pair (~0.5 MB of messages) is all the generator ever holds.
pub(super) const BATCH_CHANNELS: usize = 256;
/// Largest channel count whose scids still fit the 3-byte block field.
pub(super) const MAX_CHANNELS: usize =
    ((MAX_3_BYTES as u64 - FIRST_BLOCK) * CHANNELS_PER_BLOCK) as usize;
/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CorpusSpec {
    pub nodes: usize,
    /// Capped at about 65 million so scids stay unique.
    pub channels: usize,
    pub seed: u64,
    /// Chance, per valid message, that an invalid copy of it follows (clamped to 0..=1).
    pub invalid_rate: f64,
    pub chain_hash: [u8; 32],
    /// Unix time the timestamps are relative to; none is later than this.
    pub now: u32,
}

impl CorpusSpec {
    /// Mainnet-sized graph with 1% invalid copies.
    pub fn mainnet(seed: u64, now: u32) -> Self {
        CorpusSpec {
            nodes: MAINNET_NODES,
            channels: MAINNET_CHANNELS,
            seed,
            invalid_rate: 0.01,
            chain_hash: BITCOIN_MAINNET_CHAIN_HASH,
            now,
        }
    }

    /// A mainnet graph of the given size with no invalid copies, stamped relative to the
    /// current wall-clock time (so peers that reject old updates take all of it).
    pub fn valid(nodes: usize, channels: usize, seed: u64) -> Self {
        CorpusSpec {
            nodes,
            channels,
            seed,
            invalid_rate: 0.0,
            chain_hash: BITCOIN_MAINNET_CHAIN_HASH,
            now: crate::clock::unix_now(),
        }
    }
}

impl Default for CorpusSpec {
    /// Mainnet-sized, seed 0, `now` = the current wall-clock time (so the output depends on
    /// when it is built; set `now` explicitly for reproducible bytes).
    fn default() -> Self {
        CorpusSpec::mainnet(0, crate::clock::unix_now())
    }
}
