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
pub(super) const PENDING_PER_PEER: OptionSpec = opt(
    "pipeline.pending_per_peer_cap",
    "--pending-per-peer-cap",
    "GOSSIP_SIEVE_PENDING_PER_PEER_CAP",
);
pub(super) const PENDING_PER_PEER_BYTES: OptionSpec = opt(
    "pipeline.pending_per_peer_bytes_cap",
    "--pending-per-peer-bytes-cap",
    "GOSSIP_SIEVE_PENDING_PER_PEER_BYTES_CAP",
);
pub(super) const STORE_MAILBOX: OptionSpec = opt(
    "pipeline.store_mailbox_capacity",
    "--store-mailbox-capacity",
    "GOSSIP_SIEVE_STORE_MAILBOX_CAPACITY",
);
pub(super) const STORE_MAILBOX_BYTES: OptionSpec = opt(
    "pipeline.store_mailbox_bytes_cap",
    "--store-mailbox-bytes-cap",
    "GOSSIP_SIEVE_STORE_MAILBOX_BYTES_CAP",
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
pub(super) const SERVE_RATE: OptionSpec = opt(
    "limits.serve_bytes_per_sec",
    "--serve-bytes-per-sec",
    "GOSSIP_SIEVE_SERVE_BYTES_PER_SEC",
);
pub(super) const SERVE_REPLY_RATE: OptionSpec = opt(
    "limits.serve_reply_bytes_per_sec",
    "--serve-reply-bytes-per-sec",
    "GOSSIP_SIEVE_SERVE_REPLY_BYTES_PER_SEC",
);
pub(super) const SERVE_GLOBAL_REPLY_RATE: OptionSpec = opt(
    "limits.serve_global_reply_bytes_per_sec",
    "--serve-global-reply-bytes-per-sec",
    "GOSSIP_SIEVE_SERVE_GLOBAL_REPLY_BYTES_PER_SEC",
);
pub(super) const LOG_LEVEL: OptionSpec = opt("log.level", "--log-level", "GOSSIP_SIEVE_LOG_LEVEL");
pub(super) const LOG_FORMAT: OptionSpec =
    opt("log.format", "--log-format", "GOSSIP_SIEVE_LOG_FORMAT");
pub(super) const CHAIN: OptionSpec = opt("chain.backend", "--chain", "GOSSIP_SIEVE_CHAIN");
pub(super) const CHAIN_URL: OptionSpec = opt("chain.url", "--chain-url", "GOSSIP_SIEVE_CHAIN_URL");
pub(super) const CHAIN_COOKIE: OptionSpec = opt(
    "chain.cookie_file",
    "--chain-cookie-file",
    "GOSSIP_SIEVE_CHAIN_COOKIE_FILE",
);
pub(super) const CHAIN_MIN_DEPTH: OptionSpec = opt(
    "chain.min_depth",
    "--chain-min-depth",
    "GOSSIP_SIEVE_CHAIN_MIN_DEPTH",
);
pub(super) const CHAIN_LOOKUP_QUEUE: OptionSpec = opt(
    "chain.lookup_queue",
    "--chain-lookup-queue",
    "GOSSIP_SIEVE_CHAIN_LOOKUP_QUEUE",
);
pub(super) const CHAIN_STAGE_BYTES: OptionSpec = opt(
    "chain.stage_bytes_cap",
    "--chain-stage-bytes-cap",
    "GOSSIP_SIEVE_CHAIN_STAGE_BYTES_CAP",
);
pub(super) const CHAIN_PARKED: OptionSpec = opt(
    "chain.parked_cap",
    "--chain-parked-cap",
    "GOSSIP_SIEVE_CHAIN_PARKED_CAP",
);
pub(super) const CHAIN_FORGET_DELAY: OptionSpec = opt(
    "chain.forget_delay_blocks",
    "--chain-forget-delay-blocks",
    "GOSSIP_SIEVE_CHAIN_FORGET_DELAY_BLOCKS",
);
pub(super) const CHAIN_POLL: OptionSpec = opt(
    "chain.poll_interval_secs",
    "--chain-poll-interval-secs",
    "GOSSIP_SIEVE_CHAIN_POLL_INTERVAL_SECS",
);
pub(super) const CHAIN_TIMEOUT: OptionSpec = opt(
    "chain.request_timeout_ms",
    "--chain-request-timeout-ms",
    "GOSSIP_SIEVE_CHAIN_REQUEST_TIMEOUT_MS",
);
pub(super) const UNVALIDATED_CAP: OptionSpec = opt(
    "chain.unvalidated_channels_cap",
    "--unvalidated-channels-cap",
    "GOSSIP_SIEVE_UNVALIDATED_CHANNELS_CAP",
);
pub(super) const UNVALIDATED_PER_PEER: OptionSpec = opt(
    "chain.unvalidated_channels_per_peer_per_hour",
    "--unvalidated-channels-per-peer-per-hour",
    "GOSSIP_SIEVE_UNVALIDATED_CHANNELS_PER_PEER_PER_HOUR",
);
pub(super) const STALE_AGE: OptionSpec = opt(
    "chain.stale_channel_age_secs",
    "--stale-channel-age-secs",
    "GOSSIP_SIEVE_STALE_CHANNEL_AGE_SECS",
);
pub(super) const RGS_INTERVAL: OptionSpec = opt(
    "handout.rgs_interval_secs",
    "--rgs-interval-secs",
    "GOSSIP_SIEVE_RGS_INTERVAL_SECS",
);
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
pub(super) const FIRST_ARRIVAL_BYTES: OptionSpec = opt(
    "pipeline.first_arrival_table_bytes",
    "--first-arrival-table-bytes",
    "GOSSIP_SIEVE_FIRST_ARRIVAL_TABLE_BYTES",
);
pub(super) const MAX_PEERS_PER_IP: OptionSpec = opt(
    "limits.max_peers_per_ip",
    "--max-peers-per-ip",
    "GOSSIP_SIEVE_MAX_PEERS_PER_IP",
);
pub(super) const HANDSHAKES_PER_IP: OptionSpec = opt(
    "limits.handshakes_per_ip_per_minute",
    "--handshakes-per-ip-per-minute",
    "GOSSIP_SIEVE_HANDSHAKES_PER_IP_PER_MINUTE",
);
pub(super) const HANDSHAKE_BURST_PER_IP: OptionSpec = opt(
    "limits.handshake_burst_per_ip",
    "--handshake-burst-per-ip",
    "GOSSIP_SIEVE_HANDSHAKE_BURST_PER_IP",
);
pub(super) const PER_IP_ON_LOOPBACK: OptionSpec = opt(
    "limits.per_ip_limits_on_loopback",
    "--per-ip-limits-on-loopback",
    "GOSSIP_SIEVE_PER_IP_LIMITS_ON_LOOPBACK",
);
pub(super) const METRICS_MAX_CONNECTIONS: OptionSpec = opt(
    "limits.metrics_max_connections",
    "--metrics-max-connections",
    "GOSSIP_SIEVE_METRICS_MAX_CONNECTIONS",
);
pub(super) const METRICS_HEADER_TIMEOUT: OptionSpec = opt(
    "limits.metrics_header_timeout_ms",
    "--metrics-header-timeout-ms",
    "GOSSIP_SIEVE_METRICS_HEADER_TIMEOUT_MS",
);
pub(super) const PEER_THREADS: OptionSpec = opt(
    "limits.peer_threads",
    "--peer-threads",
    "GOSSIP_SIEVE_PEER_THREADS",
);
pub(super) const INITIAL_SYNC: OptionSpec = opt(
    "limits.initial_sync",
    "--initial-sync",
    "GOSSIP_SIEVE_INITIAL_SYNC",
);
pub(super) const SPLIT_QUERY_TIMEOUT: OptionSpec = opt(
    "limits.split_query_timeout_ms",
    "--split-query-timeout-ms",
    "GOSSIP_SIEVE_SPLIT_QUERY_TIMEOUT_MS",
);
pub(super) const SPLIT_REPLY_QUEUE: OptionSpec = opt(
    "limits.split_reply_queue_cap",
    "--split-reply-queue-cap",
    "GOSSIP_SIEVE_SPLIT_REPLY_QUEUE_CAP",
);
pub(super) const SPLIT_REPLY_QUEUE_BYTES: OptionSpec = opt(
    "limits.split_reply_queue_bytes_cap",
    "--split-reply-queue-bytes-cap",
    "GOSSIP_SIEVE_SPLIT_REPLY_QUEUE_BYTES_CAP",
);
pub(super) const CHAIN_BLOCK_CACHE: OptionSpec = opt(
    "chain.block_cache_blocks",
    "--chain-block-cache-blocks",
    "GOSSIP_SIEVE_CHAIN_BLOCK_CACHE_BLOCKS",
);
pub(super) const CHAIN_BLOCK_CACHE_BYTES: OptionSpec = opt(
    "chain.block_cache_bytes_cap",
    "--chain-block-cache-bytes-cap",
    "GOSSIP_SIEVE_CHAIN_BLOCK_CACHE_BYTES_CAP",
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
    PENDING_PER_PEER,
    PENDING_PER_PEER_BYTES,
    STORE_MAILBOX,
    STORE_MAILBOX_BYTES,
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
    CHAIN,
    CHAIN_URL,
    CHAIN_COOKIE,
    CHAIN_MIN_DEPTH,
    CHAIN_LOOKUP_QUEUE,
    CHAIN_STAGE_BYTES,
    CHAIN_PARKED,
    CHAIN_FORGET_DELAY,
    CHAIN_POLL,
    CHAIN_TIMEOUT,
    UNVALIDATED_CAP,
    UNVALIDATED_PER_PEER,
    STALE_AGE,
    SERVE_RATE,
    SERVE_REPLY_RATE,
    SERVE_GLOBAL_REPLY_RATE,
    RGS_INTERVAL,
    OUTBOUND_PEERS,
    DIALS_PER_MINUTE,
    CANDIDATES_CAP,
    CANDIDATES_BYTES,
    DIAL_PRIVATE,
    DNS_SEEDS,
    DNS_SERVER,
    PROXY,
    PROXY_ALL,
    FIRST_ARRIVAL_BYTES,
    MAX_PEERS_PER_IP,
    HANDSHAKES_PER_IP,
    HANDSHAKE_BURST_PER_IP,
    PER_IP_ON_LOOPBACK,
    METRICS_MAX_CONNECTIONS,
    METRICS_HEADER_TIMEOUT,
    PEER_THREADS,
    INITIAL_SYNC,
    SPLIT_QUERY_TIMEOUT,
    SPLIT_REPLY_QUEUE,
    SPLIT_REPLY_QUEUE_BYTES,
    CHAIN_BLOCK_CACHE,
    CHAIN_BLOCK_CACHE_BYTES,
];
