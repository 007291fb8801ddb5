//! Every bound and knob, each with the reason for its default, and how they are set.
//!
//! [`PipelineConfig`] is all the pipeline reads. [`Settings`] is the whole effective
//! configuration of a node, resolved by [`Settings::resolve`] from four layers, first match
//! wins: command-line flag > environment variable (`GOSSIP_SIEVE_<OPTION>`) > TOML file
//! (`--config`) > default. The option table ([`OPTIONS`]) names every option in all three
//! spellings, so errors can say which option and which layer was wrong. Every cap is also
//! exported as a gauge so an operator can see the limit beside the level.

mod args;
mod error;
mod file;
mod settings;

pub use args::{LogArgs, NodeArgs, PipelineArgs, SettingsArgs};
pub use error::{ConfigError, Source};
pub use file::{FileConfig, LimitsSection, LogSection, PipelineSection};
pub use settings::{LogFormat, LogSettings, OptionSpec, PeerAddr, PeerLimits, Settings, OPTIONS};

use std::time::Duration;

/// The chain a node follows. Gossip for any other chain is dropped as `wrong_chain`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Bitcoin,
    Testnet,
    Signet,
    Regtest,
}

impl Network {
    /// BOLT 0: `chain_hash` is the genesis block hash in internal (little-endian) byte order.
    pub fn chain_hash(self) -> [u8; 32] {
        let hex_str = match self {
            Network::Bitcoin => "6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000",
            Network::Testnet => "43497fd7f826957108f4a30fd9cec3aeba79972084e90ead01ea330900000000",
            Network::Signet => "f61eee3b63a380a477a063af32b2bbc97c9ff9f01f2c4225e973988108000000",
            Network::Regtest => "06226e46111a0b59caaf126043eb5bbf28c34f3a5e332a1fc7b2b73cf188910f",
        };
        let mut out = [0u8; 32];
        // The literals above are fixed, valid 64-digit hex strings.
        if let Ok(bytes) = hex::decode(hex_str) {
            out.copy_from_slice(&bytes);
        }
        out
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Bitcoin => "bitcoin",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }
}

/// Bounds and policy of the dedup → verify pipeline (DESIGN §3).
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    pub network: Network,
    /// Verifier shards, each an actor on its own thread. Default: one per core, since unique
    /// gossip is bound by secp256k1 verification and nothing else.
    pub shards: usize,
    /// Messages admitted into one shard's mailbox and not yet finished. 4096 × ~300 bytes keeps
    /// a full pipeline near 1 MiB per shard while covering well over a second of verify work.
    pub shard_mailbox_capacity: usize,
    /// How long a peer waits for a slot in a full shard before the message is dropped as
    /// `queue_full`. While it waits it reads nothing more from its socket, so TCP pushes back.
    pub stall_timeout: Duration,
    /// channel_updates parked because their channel is not known yet (LRU by scid).
    pub pending_updates_cap: usize,
    /// node_announcements parked because no channel of the node is known yet (LRU by node id).
    pub pending_node_announcements_cap: usize,
    /// Keyed hashes of messages that failed verification, so a replayed bad message costs a
    /// hash, not another signature check.
    pub rejected_cache_cap: usize,
    /// Parsed node public keys (a parse costs ~6 µs, about a tenth of a verify). Split evenly
    /// across shards so no lock is shared on the hot path.
    pub pubkey_cache_cap: usize,
    /// BOLT 7 lets nodes ignore updates far in the future; LDK and Core Lightning use one day.
    pub max_future_skew: Duration,
    /// Gossip older than this is stale for the live network (BOLT 7 prunes after two weeks).
    /// `None` turns the age check off, for replaying historical dumps.
    pub max_age: Option<Duration>,
    /// channel_update token bucket refill per channel direction, per minute (LND: 1). 0 turns
    /// the limit off, as replays of historical dumps need (their many updates per direction
    /// arrive in seconds).
    pub update_rate_per_minute: u32,
    /// Token bucket size per channel direction (LND: 10). The buckets live in the graph's
    /// direction slots (8 bytes each), so every direction is tracked and none is evicted.
    pub update_burst: u32,
    /// An update this much newer than the stored one is a keep-alive refresh and bypasses the
    /// bucket (LND rebroadcasts keep-alives daily; BOLT 7 prunes after two weeks without one).
    pub update_keepalive_after: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            network: Network::Bitcoin,
            shards: default_shards(),
            shard_mailbox_capacity: 4096,
            stall_timeout: Duration::from_secs(10),
            pending_updates_cap: 10_000,
            pending_node_announcements_cap: 10_000,
            rejected_cache_cap: 100_000,
            pubkey_cache_cap: 50_000,
            max_future_skew: Duration::from_secs(24 * 3600),
            max_age: Some(Duration::from_secs(14 * 24 * 3600)),
            update_rate_per_minute: 1,
            update_burst: 10,
            update_keepalive_after: Duration::from_secs(24 * 3600),
        }
    }
}

pub fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_chain_hash_matches_bolt_example() {
        let hash = Network::Bitcoin.chain_hash();
        assert_eq!(hash[0], 0x6f);
        assert_eq!(hash[31], 0x00);
        assert_ne!(Network::Regtest.chain_hash(), hash);
    }
}
