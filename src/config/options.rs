//! The option table: every option in its three spellings (TOML key, flag, environment
//! variable), so errors can say which option and which layer was wrong, and tests can hold the
//! example file, the flags and the table to each other.

/// One option in its three spellings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionSpec {
    /// TOML key, dotted for keys inside a table.
    pub key: &'static str,
    pub flag: &'static str,
    pub env: &'static str,
}

const fn opt(key: &'static str, flag: &'static str, env: &'static str) -> OptionSpec {
    OptionSpec { key, flag, env }
}

pub(super) const NETWORK: OptionSpec = opt("network", "--network", "GOSSIP_SIEVE_NETWORK");
pub(super) const DATA_DIR: OptionSpec = opt("data_dir", "--data-dir", "GOSSIP_SIEVE_DATA_DIR");
pub(super) const LISTEN: OptionSpec = opt("listen", "--listen", "GOSSIP_SIEVE_LISTEN");
pub(super) const METRICS: OptionSpec = opt("metrics", "--metrics", "GOSSIP_SIEVE_METRICS");
pub(super) const PEERS: OptionSpec = opt("peers", "--peer", "GOSSIP_SIEVE_PEERS");
pub(super) const SHARDS: OptionSpec = opt("pipeline.shards", "--shards", "GOSSIP_SIEVE_SHARDS");
pub(super) const MAILBOX: OptionSpec = opt(
    "pipeline.mailbox_capacity",
    "--mailbox-capacity",
    "GOSSIP_SIEVE_MAILBOX_CAPACITY",
);
pub(super) const MAILBOX_BYTES: OptionSpec = opt(
    "pipeline.mailbox_bytes_cap",
    "--mailbox-bytes-cap",
    "GOSSIP_SIEVE_MAILBOX_BYTES_CAP",
);
pub(super) const STALL: OptionSpec = opt(
    "pipeline.stall_timeout_ms",
    "--stall-timeout-ms",
    "GOSSIP_SIEVE_STALL_TIMEOUT_MS",
);
pub(super) const PENDING_UPDATES: OptionSpec = opt(
    "pipeline.pending_updates_cap",
    "--pending-updates-cap",
    "GOSSIP_SIEVE_PENDING_UPDATES_CAP",
);
pub(super) const PENDING_NODES: OptionSpec = opt(
    "pipeline.pending_node_announcements_cap",
    "--pending-node-announcements-cap",
    "GOSSIP_SIEVE_PENDING_NODE_ANNOUNCEMENTS_CAP",
);
pub(super) const PENDING_BYTES: OptionSpec = opt(
    "pipeline.pending_bytes_cap",
    "--pending-bytes-cap",
    "GOSSIP_SIEVE_PENDING_BYTES_CAP",
);
pub(super) const REJECTED: OptionSpec = opt(
    "pipeline.rejected_cache_cap",
    "--rejected-cache-cap",
    "GOSSIP_SIEVE_REJECTED_CACHE_CAP",
);
pub(super) const PUBKEYS: OptionSpec = opt(
    "pipeline.pubkey_cache_cap",
    "--pubkey-cache-cap",
    "GOSSIP_SIEVE_PUBKEY_CACHE_CAP",
);
pub(super) const UPDATE_RATE: OptionSpec = opt(
    "pipeline.update_rate_per_minute",
    "--update-rate-per-minute",
    "GOSSIP_SIEVE_UPDATE_RATE_PER_MINUTE",
);
pub(super) const UPDATE_BURST: OptionSpec = opt(
    "pipeline.update_burst",
    "--update-burst",
    "GOSSIP_SIEVE_UPDATE_BURST",
);
pub(super) const FUTURE_SKEW: OptionSpec = opt(
    "pipeline.max_future_skew_secs",
    "--max-future-skew-secs",
    "GOSSIP_SIEVE_MAX_FUTURE_SKEW_SECS",
);
pub(super) const MAX_AGE: OptionSpec = opt(
    "pipeline.max_age_secs",
    "--max-age-secs",
    "GOSSIP_SIEVE_MAX_AGE_SECS",
);
pub(super) const MAX_PEERS: OptionSpec =
    opt("limits.max_peers", "--max-peers", "GOSSIP_SIEVE_MAX_PEERS");
pub(super) const PEER_RATE: OptionSpec = opt(
    "limits.peer_rate_bytes_per_sec",
    "--peer-rate-bytes-per-sec",
    "GOSSIP_SIEVE_PEER_RATE_BYTES_PER_SEC",
);
pub(super) const PING_INTERVAL: OptionSpec = opt(
    "limits.ping_interval_secs",
    "--ping-interval-secs",
    "GOSSIP_SIEVE_PING_INTERVAL_SECS",
);
pub(super) const PING_TIMEOUT: OptionSpec = opt(
    "limits.ping_timeout_secs",
    "--ping-timeout-secs",
    "GOSSIP_SIEVE_PING_TIMEOUT_SECS",
);
pub(super) const HANDSHAKE_TIMEOUT: OptionSpec = opt(
    "limits.handshake_timeout_ms",
    "--handshake-timeout-ms",
    "GOSSIP_SIEVE_HANDSHAKE_TIMEOUT_MS",
);
pub(super) const DISCONNECT_SCORE: OptionSpec = opt(
    "limits.disconnect_score",
    "--disconnect-score",
    "GOSSIP_SIEVE_DISCONNECT_SCORE",
);
pub(super) const BAN_SCORE: OptionSpec =
    opt("limits.ban_score", "--ban-score", "GOSSIP_SIEVE_BAN_SCORE");
pub(super) const BAN_DURATION: OptionSpec = opt(
    "limits.ban_duration_secs",
    "--ban-duration-secs",
    "GOSSIP_SIEVE_BAN_DURATION_SECS",
);
pub(super) const LOG_LEVEL: OptionSpec = opt("log.level", "--log-level", "GOSSIP_SIEVE_LOG_LEVEL");
pub(super) const LOG_FORMAT: OptionSpec =
    opt("log.format", "--log-format", "GOSSIP_SIEVE_LOG_FORMAT");
pub(super) const OUTBOUND_PEERS: OptionSpec = opt(
    "discovery.outbound_peers",
    "--outbound-peers",
    "GOSSIP_SIEVE_OUTBOUND_PEERS",
);
pub(super) const DIALS_PER_MINUTE: OptionSpec = opt(
    "discovery.dials_per_minute",
    "--dials-per-minute",
    "GOSSIP_SIEVE_DIALS_PER_MINUTE",
);
pub(super) const CANDIDATES_CAP: OptionSpec = opt(
    "discovery.candidates_cap",
    "--candidates-cap",
    "GOSSIP_SIEVE_CANDIDATES_CAP",
);
pub(super) const CANDIDATES_BYTES: OptionSpec = opt(
    "discovery.candidates_bytes_cap",
    "--candidates-bytes-cap",
    "GOSSIP_SIEVE_CANDIDATES_BYTES_CAP",
);
pub(super) const DIAL_PRIVATE: OptionSpec = opt(
    "discovery.dial_private_addresses",
    "--dial-private-addresses",
    "GOSSIP_SIEVE_DIAL_PRIVATE_ADDRESSES",
);
pub(super) const DNS_SEEDS: OptionSpec = opt(
    "discovery.dns_seeds",
    "--dns-seed",
    "GOSSIP_SIEVE_DNS_SEEDS",
);
pub(super) const DNS_SERVER: OptionSpec = opt(
    "discovery.dns_server",
    "--dns-server",
    "GOSSIP_SIEVE_DNS_SERVER",
);
pub(super) const PROXY: OptionSpec = opt("discovery.proxy", "--proxy", "GOSSIP_SIEVE_PROXY");
pub(super) const PROXY_ALL: OptionSpec = opt(
    "discovery.proxy_all",
    "--proxy-all",
    "GOSSIP_SIEVE_PROXY_ALL",
);
/// The pre-config-file name of the log level variable, still honoured after LOG_LEVEL.
pub(super) const LEGACY_LOG_ENV: &str = "GOSSIP_SIEVE_LOG";

/// Every option, for documentation and for tests that hold the example file, the flags and
/// this table to each other.
pub const OPTIONS: &[OptionSpec] = &[
    NETWORK,
    DATA_DIR,
    LISTEN,
    METRICS,
    PEERS,
    SHARDS,
    MAILBOX,
    MAILBOX_BYTES,
    STALL,
    PENDING_UPDATES,
    PENDING_NODES,
    PENDING_BYTES,
    REJECTED,
    PUBKEYS,
    UPDATE_RATE,
    UPDATE_BURST,
    FUTURE_SKEW,
    MAX_AGE,
    MAX_PEERS,
    PEER_RATE,
    PING_INTERVAL,
    PING_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    DISCONNECT_SCORE,
    BAN_SCORE,
    BAN_DURATION,
    LOG_LEVEL,
    LOG_FORMAT,
    OUTBOUND_PEERS,
    DIALS_PER_MINUTE,
    CANDIDATES_CAP,
    CANDIDATES_BYTES,
    DIAL_PRIVATE,
    DNS_SEEDS,
    DNS_SERVER,
    PROXY,
    PROXY_ALL,
];
