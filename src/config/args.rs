//! Command-line flags for every option. All are `Option`: an absent flag falls through to the
//! environment, the file and the default (see `settings`), so clap holds no defaults of its own.
//! Subcommands flatten the groups they use; `run` and `config check` take all of them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::values::{InitialSync, LogFormat, Network, PeerAddr};

/// Node-level options: where to listen, whom to dial, per-peer limits.
#[derive(Args, Clone, Debug, Default)]
pub struct NodeArgs {
    /// Directory holding the gossip_store file [env: GOSSIP_SIEVE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Accept Lightning peers (BOLT 8) here [env: GOSSIP_SIEVE_LISTEN; default 0.0.0.0:9735].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Serve /metrics, /healthz and /readyz here
    /// [env: GOSSIP_SIEVE_METRICS; default 127.0.0.1:9736].
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// A peer to dial, `<node_pubkey_hex>@host:port`; repeat for several. Replaces the file's
    /// list [env: GOSSIP_SIEVE_PEERS, comma-separated].
    #[arg(long = "peer", value_name = "PUBKEY@HOST:PORT")]
    pub peers: Vec<PeerAddr>,
    /// Most simultaneous peers; more are refused [env: GOSSIP_SIEVE_MAX_PEERS; default 256].
    #[arg(long)]
    pub max_peers: Option<usize>,
    /// Inbound bytes per second read from one peer [env: GOSSIP_SIEVE_PEER_RATE_BYTES_PER_SEC].
    #[arg(long)]
    pub peer_rate_bytes_per_sec: Option<u64>,
    /// Seconds between our pings to an idle peer [env: GOSSIP_SIEVE_PING_INTERVAL_SECS].
    #[arg(long)]
    pub ping_interval_secs: Option<u64>,
    /// Seconds to wait for a pong before disconnecting [env: GOSSIP_SIEVE_PING_TIMEOUT_SECS].
    #[arg(long)]
    pub ping_timeout_secs: Option<u64>,
    /// Milliseconds for the BOLT 8 handshake (connect to act three), inbound and outbound
    /// [env: GOSSIP_SIEVE_HANDSHAKE_TIMEOUT_MS; default 10000].
    #[arg(long)]
    pub handshake_timeout_ms: Option<u64>,
    /// Misbehaviour score (1 per invalid signature or malformed message, 0.1 per rate-limited
    /// update, halving hourly) at which a peer is disconnected
    /// [env: GOSSIP_SIEVE_DISCONNECT_SCORE; default 50].
    #[arg(long)]
    pub disconnect_score: Option<u32>,
    /// Misbehaviour score at which a peer is banned [env: GOSSIP_SIEVE_BAN_SCORE; default 100].
    #[arg(long)]
    pub ban_score: Option<u32>,
    /// How long a ban lasts; bans are kept in <data-dir>/bans.json across restarts
    /// [env: GOSSIP_SIEVE_BAN_DURATION_SECS; default 172800].
    #[arg(long)]
    pub ban_duration_secs: Option<u64>,
    /// Bytes per second of gossip streamed to one peer; 0 = unlimited
    /// [env: GOSSIP_SIEVE_SERVE_BYTES_PER_SEC; default 1000000, Core Lightning's rate].
    #[arg(long)]
    pub serve_bytes_per_sec: Option<u64>,
    /// Bytes per second of query replies to one peer; 0 = unlimited
    /// [env: GOSSIP_SIEVE_SERVE_REPLY_BYTES_PER_SEC; default 1000000].
    #[arg(long)]
    pub serve_reply_bytes_per_sec: Option<u64>,
    /// Bytes per second of query replies to all peers together; 0 = unlimited
    /// [env: GOSSIP_SIEVE_SERVE_GLOBAL_REPLY_BYTES_PER_SEC; default 1024000, LND's 1,000 KiB/s].
    #[arg(long)]
    pub serve_global_reply_bytes_per_sec: Option<u64>,
    /// Seconds between Rapid Gossip Sync snapshot builds (also `POST /snapshot/trigger`)
    /// [env: GOSSIP_SIEVE_RGS_INTERVAL_SECS; default 600].
    #[arg(long)]
    pub rgs_interval_secs: Option<u64>,
    /// Outbound peers to keep, configured ones included; the rest are chosen from the graph
    /// and DNS seeds; 0 = dial only --peer [env: GOSSIP_SIEVE_OUTBOUND_PEERS; default 8].
    #[arg(long)]
    pub outbound_peers: Option<usize>,
    /// New outbound dials per minute, at most [env: GOSSIP_SIEVE_DIALS_PER_MINUTE; default 12].
    #[arg(long)]
    pub dials_per_minute: Option<u32>,
    /// Nodes kept as outbound candidates [env: GOSSIP_SIEVE_CANDIDATES_CAP].
    #[arg(long)]
    pub candidates_cap: Option<usize>,
    /// Bytes the outbound candidates may hold [env: GOSSIP_SIEVE_CANDIDATES_BYTES_CAP].
    #[arg(long)]
    pub candidates_bytes_cap: Option<usize>,
    /// Also dial private, loopback and link-local addresses nodes announce (always on regtest)
    /// [env: GOSSIP_SIEVE_DIAL_PRIVATE_ADDRESSES; default false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub dial_private_addresses: Option<bool>,
    /// A BOLT 10 DNS seed; repeat for several; replaces the defaults ("none" for no seeds)
    /// [env: GOSSIP_SIEVE_DNS_SEEDS, comma-separated].
    #[arg(long = "dns-seed", value_name = "HOSTNAME")]
    pub dns_seeds: Vec<String>,
    /// DNS server (UDP) for seed queries instead of the system's resolvers
    /// [env: GOSSIP_SIEVE_DNS_SERVER].
    #[arg(long, value_name = "ADDR")]
    pub dns_server: Option<SocketAddr>,
    /// SOCKS5 proxy (Tor's SocksPort) for onion addresses, `host:port` [env: GOSSIP_SIEVE_PROXY].
    #[arg(long, value_name = "HOST:PORT")]
    pub proxy: Option<String>,
    /// Send every outbound connection through --proxy, not only onion ones
    /// [env: GOSSIP_SIEVE_PROXY_ALL; default false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub proxy_all: Option<bool>,
    /// Inbound connections from one address (IPv6: one /64) at once; 0 = no cap
    /// [env: GOSSIP_SIEVE_MAX_PEERS_PER_IP; default 16].
    #[arg(long)]
    pub max_peers_per_ip: Option<usize>,
    /// Inbound handshakes one address may start per minute; 0 = no limit
    /// [env: GOSSIP_SIEVE_HANDSHAKES_PER_IP_PER_MINUTE; default 60].
    #[arg(long)]
    pub handshakes_per_ip_per_minute: Option<u32>,
    /// Inbound handshakes one address may start back to back
    /// [env: GOSSIP_SIEVE_HANDSHAKE_BURST_PER_IP; default 16].
    #[arg(long)]
    pub handshake_burst_per_ip: Option<u32>,
    /// Apply the per-address limits to loopback too (off by default: Tor hands every inbound
    /// peer over from 127.0.0.1) [env: GOSSIP_SIEVE_PER_IP_LIMITS_ON_LOOPBACK; default false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub per_ip_limits_on_loopback: Option<bool>,
    /// Connections the metrics server serves at once
    /// [env: GOSSIP_SIEVE_METRICS_MAX_CONNECTIONS; default 64].
    #[arg(long)]
    pub metrics_max_connections: Option<usize>,
    /// Milliseconds a metrics client has to send a whole request head
    /// [env: GOSSIP_SIEVE_METRICS_HEADER_TIMEOUT_MS; default 5000].
    #[arg(long)]
    pub metrics_header_timeout_ms: Option<u64>,
    /// Threads running peer sessions, handshakes and the metrics server; 0 = one per core
    /// [env: GOSSIP_SIEVE_PEER_THREADS; default 0].
    #[arg(long)]
    pub peer_threads: Option<usize>,
    /// How our initial sync asks outbound peers: dump (everything from every peer) or split
    /// (block-range chunks spread over the peers that answer queries)
    /// [env: GOSSIP_SIEVE_INITIAL_SYNC; default dump].
    #[arg(long, value_name = "dump|split")]
    pub initial_sync: Option<InitialSync>,
    /// Milliseconds a split-sync query may go without a reply or gossip before the peer is
    /// asked for a full dump instead [env: GOSSIP_SIEVE_SPLIT_QUERY_TIMEOUT_MS; default 10000].
    #[arg(long)]
    pub split_query_timeout_ms: Option<u64>,
    /// Replies to our split-sync queries queued for the seeker per peer; more are dropped
    /// [env: GOSSIP_SIEVE_SPLIT_REPLY_QUEUE_CAP; default 16].
    #[arg(long)]
    pub split_reply_queue_cap: Option<usize>,
    /// Bytes of replies to our split-sync queries queued per peer (at least 65536)
    /// [env: GOSSIP_SIEVE_SPLIT_REPLY_QUEUE_BYTES_CAP; default 1 MiB].
    #[arg(long)]
    pub split_reply_queue_bytes_cap: Option<usize>,
    #[command(flatten)]
    pub chain: ChainArgs,
}

/// Chain source options (`[chain]`): which node validates channel funding outputs, and the
/// bounds of validation, forgetting and pruning. Credentials are never flags: the cookie file,
/// or GOSSIP_SIEVE_CHAIN_RPC_USER / GOSSIP_SIEVE_CHAIN_RPC_PASSWORD.
#[derive(Args, Clone, Debug, Default)]
pub struct ChainArgs {
    /// Chain source: none, bitcoind-rpc, bitcoind-rest or esplora
    /// [env: GOSSIP_SIEVE_CHAIN; default none].
    #[arg(long = "chain", value_name = "BACKEND")]
    pub backend: Option<String>,
    /// bitcoind RPC/REST base or Esplora API base, `http://host:port[/path]`
    /// [env: GOSSIP_SIEVE_CHAIN_URL].
    #[arg(long = "chain-url", value_name = "URL")]
    pub url: Option<String>,
    /// bitcoind's `.cookie` file for RPC [env: GOSSIP_SIEVE_CHAIN_COOKIE_FILE].
    #[arg(long = "chain-cookie-file", value_name = "PATH")]
    pub cookie_file: Option<PathBuf>,
    /// Confirmations a funding output needs [env: GOSSIP_SIEVE_CHAIN_MIN_DEPTH; default 6].
    #[arg(long = "chain-min-depth")]
    pub min_depth: Option<u32>,
    /// Funding lookups in flight at once; more make peers wait
    /// [env: GOSSIP_SIEVE_CHAIN_LOOKUP_QUEUE; default 4096].
    #[arg(long = "chain-lookup-queue")]
    pub lookup_queue: Option<usize>,
    /// Bytes of channel_announcements waiting for their funding answer
    /// [env: GOSSIP_SIEVE_CHAIN_STAGE_BYTES_CAP; default 16 MiB].
    #[arg(long = "chain-stage-bytes-cap")]
    pub stage_bytes_cap: Option<usize>,
    /// Announcements that may wait for depth or for an unreachable source
    /// [env: GOSSIP_SIEVE_CHAIN_PARKED_CAP; default 10000].
    #[arg(long = "chain-parked-cap")]
    pub parked_cap: Option<usize>,
    /// Blocks between a funding spend and forgetting the channel
    /// [env: GOSSIP_SIEVE_CHAIN_FORGET_DELAY_BLOCKS; default 72].
    #[arg(long = "chain-forget-delay-blocks")]
    pub forget_delay_blocks: Option<u32>,
    /// Seconds between tip polls [env: GOSSIP_SIEVE_CHAIN_POLL_INTERVAL_SECS; default 10].
    #[arg(long = "chain-poll-interval-secs")]
    pub poll_interval_secs: Option<u64>,
    /// Milliseconds one request to the chain source may take
    /// [env: GOSSIP_SIEVE_CHAIN_REQUEST_TIMEOUT_MS; default 10000].
    #[arg(long = "chain-request-timeout-ms")]
    pub request_timeout_ms: Option<u64>,
    /// With --chain none: channels the graph may hold at most
    /// [env: GOSSIP_SIEVE_UNVALIDATED_CHANNELS_CAP; default 100000].
    #[arg(long = "unvalidated-channels-cap")]
    pub unvalidated_channels_cap: Option<usize>,
    /// With --chain none: new channels one peer session may add per hour
    /// [env: GOSSIP_SIEVE_UNVALIDATED_CHANNELS_PER_PEER_PER_HOUR; default 60000].
    #[arg(long = "unvalidated-channels-per-peer-per-hour")]
    pub unvalidated_channels_per_peer_per_hour: Option<u32>,
    /// Forget channels whose newest update in each direction is older than this; 0 = never
    /// [env: GOSSIP_SIEVE_STALE_CHANNEL_AGE_SECS; default 1209600 (14 days)].
    #[arg(long = "stale-channel-age-secs")]
    pub stale_channel_age_secs: Option<u64>,
    /// Fetched blocks whose funding outputs the validator keeps; 0 = no block cache
    /// [env: GOSSIP_SIEVE_CHAIN_BLOCK_CACHE_BLOCKS; default 64].
    #[arg(long = "chain-block-cache-blocks")]
    pub block_cache_blocks: Option<usize>,
    /// Bytes the block cache may hold (at least 1 MiB)
    /// [env: GOSSIP_SIEVE_CHAIN_BLOCK_CACHE_BYTES_CAP; default 64 MiB].
    #[arg(long = "chain-block-cache-bytes-cap")]
    pub block_cache_bytes_cap: Option<usize>,
}

/// Pipeline bounds (the fields of `PipelineConfig`). The flag names predate the config file
/// and are kept; file keys and env names are the same words.
#[derive(Args, Clone, Debug, Default)]
pub struct PipelineArgs {
    /// Chain to follow; other chains' gossip is dropped [env: GOSSIP_SIEVE_NETWORK].
    #[arg(long, value_enum)]
    pub network: Option<Network>,
    /// Verifier shards; 0 = one per core [env: GOSSIP_SIEVE_SHARDS].
    #[arg(long)]
    pub shards: Option<usize>,
    /// Admission capacity of each shard's mailbox [env: GOSSIP_SIEVE_MAILBOX_CAPACITY].
    #[arg(long)]
    pub mailbox_capacity: Option<usize>,
    /// Bytes of admitted messages each shard's mailbox holds
    /// [env: GOSSIP_SIEVE_MAILBOX_BYTES_CAP].
    #[arg(long)]
    pub mailbox_bytes_cap: Option<usize>,
    /// Milliseconds a peer waits for a full shard before the message is dropped as queue_full
    /// [env: GOSSIP_SIEVE_STALL_TIMEOUT_MS].
    #[arg(long)]
    pub stall_timeout_ms: Option<u64>,
    /// Parked channel_updates for unknown channels [env: GOSSIP_SIEVE_PENDING_UPDATES_CAP].
    #[arg(long)]
    pub pending_updates_cap: Option<usize>,
    /// Parked node_announcements for unknown nodes
    /// [env: GOSSIP_SIEVE_PENDING_NODE_ANNOUNCEMENTS_CAP].
    #[arg(long)]
    pub pending_node_announcements_cap: Option<usize>,
    /// Bytes of parked messages each pending map holds at most
    /// [env: GOSSIP_SIEVE_PENDING_BYTES_CAP].
    #[arg(long)]
    pub pending_bytes_cap: Option<usize>,
    /// Parked orphans one peer may have in the pending maps at once
    /// [env: GOSSIP_SIEVE_PENDING_PER_PEER_CAP].
    #[arg(long)]
    pub pending_per_peer_cap: Option<usize>,
    /// Bytes of parked orphans one peer may have in the pending maps at once
    /// [env: GOSSIP_SIEVE_PENDING_PER_PEER_BYTES_CAP].
    #[arg(long)]
    pub pending_per_peer_bytes_cap: Option<usize>,
    /// Accepted messages waiting for the store actor, at most
    /// [env: GOSSIP_SIEVE_STORE_MAILBOX_CAPACITY].
    #[arg(long)]
    pub store_mailbox_capacity: Option<usize>,
    /// Bytes of accepted messages waiting for the store actor, at most
    /// [env: GOSSIP_SIEVE_STORE_MAILBOX_BYTES_CAP].
    #[arg(long)]
    pub store_mailbox_bytes_cap: Option<usize>,
    /// Hashes of recently rejected messages [env: GOSSIP_SIEVE_REJECTED_CACHE_CAP].
    #[arg(long)]
    pub rejected_cache_cap: Option<usize>,
    /// Parsed public keys kept across verifications [env: GOSSIP_SIEVE_PUBKEY_CACHE_CAP].
    #[arg(long)]
    pub pubkey_cache_cap: Option<usize>,
    /// channel_update tokens per channel direction per minute, 0 = no limit
    /// [env: GOSSIP_SIEVE_UPDATE_RATE_PER_MINUTE].
    #[arg(long)]
    pub update_rate_per_minute: Option<u32>,
    /// channel_updates one channel direction may send back to back
    /// [env: GOSSIP_SIEVE_UPDATE_BURST].
    #[arg(long)]
    pub update_burst: Option<u32>,
    /// Seconds a timestamp may be ahead of our clock [env: GOSSIP_SIEVE_MAX_FUTURE_SKEW_SECS].
    #[arg(long)]
    pub max_future_skew_secs: Option<u64>,
    /// Seconds after which gossip is stale; 0 = accept any age
    /// [env: GOSSIP_SIEVE_MAX_AGE_SECS].
    #[arg(long)]
    pub max_age_secs: Option<u64>,
    /// Bytes of the table timing later copies of a message against its first (8 a message)
    /// [env: GOSSIP_SIEVE_FIRST_ARRIVAL_TABLE_BYTES].
    #[arg(long)]
    pub first_arrival_table_bytes: Option<usize>,
}

/// Log options; global, so they go before or after the subcommand.
#[derive(Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `gossip_sieve=debug`
    /// [env: GOSSIP_SIEVE_LOG_LEVEL or GOSSIP_SIEVE_LOG; default info].
    #[arg(
        long = "log-level",
        alias = "log",
        global = true,
        value_name = "FILTER"
    )]
    pub level: Option<String>,
    /// Log line format [env: GOSSIP_SIEVE_LOG_FORMAT; default text].
    #[arg(long = "log-format", value_enum, global = true)]
    pub format: Option<LogFormat>,
}

/// Everything [`super::Settings::resolve`] takes from the command line.
#[derive(Clone, Debug, Default)]
pub struct SettingsArgs {
    pub node: NodeArgs,
    pub pipeline: PipelineArgs,
    pub log: LogArgs,
}
