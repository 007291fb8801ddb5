//! The TOML config file. Every field is optional (absent = fall through to the default);
//! unknown keys are an error, so a misspelled option is not silently ignored. Addresses and
//! peers are kept as strings here and parsed in `settings`, so their errors name the option.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::values::Network;

#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<String>>,
    #[serde(default)]
    pub pipeline: PipelineSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub chain: ChainSection,
    #[serde(default)]
    pub handout: HandoutSection,
    #[serde(default)]
    pub discovery: DiscoverySection,
}

/// `[chain]`: the chain source and its bounds (see [`super::ChainSettings`]).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_depth: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup_queue: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_bytes_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parked_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_delay_blocks: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unvalidated_channels_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unvalidated_channels_per_peer_per_hour: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale_channel_age_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_cache_blocks: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_cache_bytes_cap: Option<usize>,
}

/// `[handout]`: serving the graph to wallets and tools (Rapid Gossip Sync, API).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HandoutSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rgs_interval_secs: Option<u64>,
}

/// `[pipeline]`: the fields of [`super::PipelineConfig`].
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox_capacity: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox_bytes_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_updates_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_node_announcements_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_bytes_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_per_peer_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_per_peer_bytes_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_mailbox_capacity: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_mailbox_bytes_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected_cache_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pubkey_cache_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_rate_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_burst: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_future_skew_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_arrival_table_bytes: Option<usize>,
}

/// `[limits]`: per-peer bounds.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_peers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_rate_bytes_per_sec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_interval_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect_score: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban_score: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban_duration_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve_bytes_per_sec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve_reply_bytes_per_sec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serve_global_reply_bytes_per_sec: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_peers_per_ip: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshakes_per_ip_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_burst_per_ip: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_ip_limits_on_loopback: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_max_connections: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_header_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_threads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_sync: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_query_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_reply_queue_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_reply_queue_bytes_cap: Option<usize>,
}

/// `[discovery]`: finding and reaching outbound peers.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_peers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dials_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_bytes_cap: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dial_private_addresses: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_seeds: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_all: Option<bool>,
}

/// `[log]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl FileConfig {
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        FileConfig::parse(&text, path)
    }

    /// The file named by `--config`, or an empty one (every option at its default).
    pub fn load_optional(path: Option<&Path>) -> Result<FileConfig, ConfigError> {
        path.map_or_else(|| Ok(FileConfig::default()), FileConfig::load)
    }

    pub fn to_toml(&self) -> String {
        // Every field is a plain value or table of plain values, which TOML always represents.
        toml::to_string(self).unwrap_or_default()
    }
}
