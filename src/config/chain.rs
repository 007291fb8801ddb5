//! `[chain]`: which chain source validates channel funding outputs, and the bounds of the chain
//! stage, the tip follower and stale pruning, each with the reason for its default. The chain
//! layer sits above this one, so the commands turn these into its `ChainConfig`.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The chain source a node uses to check funding outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainSourceKind {
    /// No validation: loud (start-up warning, `/readyz` body) and capped.
    None,
    BitcoindRpc,
    BitcoindRest,
    Esplora,
}

impl ChainSourceKind {
    pub const ALL: [ChainSourceKind; 4] = [
        ChainSourceKind::None,
        ChainSourceKind::BitcoindRpc,
        ChainSourceKind::BitcoindRest,
        ChainSourceKind::Esplora,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChainSourceKind::None => "none",
            ChainSourceKind::BitcoindRpc => "bitcoind-rpc",
            ChainSourceKind::BitcoindRest => "bitcoind-rest",
            ChainSourceKind::Esplora => "esplora",
        }
    }
}

impl FromStr for ChainSourceKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        ChainSourceKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| "expected none, bitcoind-rpc, bitcoind-rest or esplora".to_string())
    }
}

/// The chain options as resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSettings {
    pub source: ChainSourceKind,
    pub url: Option<String>,
    pub cookie_file: Option<PathBuf>,
    /// BOLT 7: six confirmations.
    pub min_depth: u32,
    /// Channel_announcements between admission and the graph: lookups in flight and answers
    /// not yet applied (parked ones excluded). 4096 keeps the verifiers busy while a remote
    /// node answers in tens of milliseconds, and their updates (two per channel, parked as
    /// orphans until the channel lands) fit the 10,000-update pending map.
    pub lookup_queue: usize,
    /// Bytes of announcements waiting for their funding answer (parked ones included): 16 MiB
    /// holds ~40,000 ordinary announcements and only 256 of the largest.
    pub stage_bytes_cap: usize,
    /// Announcements waiting for depth or for an unreachable source.
    pub parked_cap: usize,
    /// BOLT 7: "SHOULD forget a channel after a 72-block delay" (12 before splicing).
    pub forget_delay_blocks: u32,
    /// A block comes every ten minutes on average; 10 s keeps the tip age honest.
    pub poll_interval: Duration,
    pub request_timeout: Duration,
    /// `--chain none`: channels the graph may hold (twice mainnet).
    pub unvalidated_channels_cap: usize,
    /// `--chain none`: new channels one peer session may add per hour (one mainnet dump).
    pub unvalidated_channels_per_peer_per_hour: u32,
    /// BOLT 7 lets a node forget a channel whose updates are older than two weeks (LDK does).
    /// `None`: never.
    pub stale_channel_age: Option<Duration>,
    /// Fetched blocks whose funding outputs the validator keeps (0: none), so that channels
    /// funded in one block cost one fetch: 64 blocks, about half a day of recent blocks.
    pub block_cache_blocks: usize,
    /// Bytes the block cache may hold: 64 MiB, room for tens of mainnet blocks' outputs.
    pub block_cache_bytes_cap: usize,
}

impl Default for ChainSettings {
    fn default() -> Self {
        ChainSettings {
            source: ChainSourceKind::None,
            url: None,
            cookie_file: None,
            min_depth: 6,
            lookup_queue: 4096,
            stage_bytes_cap: 16 << 20,
            parked_cap: 10_000,
            forget_delay_blocks: 72,
            poll_interval: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            unvalidated_channels_cap: 100_000,
            unvalidated_channels_per_peer_per_hour: 60_000,
            stale_channel_age: Some(Duration::from_secs(14 * 24 * 3600)),
            block_cache_blocks: 64,
            block_cache_bytes_cap: 64 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_round_trip() {
        for kind in ChainSourceKind::ALL {
            assert_eq!(kind.as_str().parse::<ChainSourceKind>(), Ok(kind));
        }
        assert!("bitcoin-core".parse::<ChainSourceKind>().is_err());
    }
}
