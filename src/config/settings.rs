//! The effective configuration: flag > environment > file > default, validated, with errors
//! naming the option and the layer it came from. Resolution is driven by one table
//! ([`RESOLVERS`]): each row reads one option from its layers, checks it and stores it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::args::{LogArgs, SettingsArgs};
use super::chain::{ChainSettings, ChainSourceKind};
use super::discovery::{default_dns_seeds, DiscoverySettings};
use super::error::{ConfigError, Source};
use super::file::{
    ChainSection, DiscoverySection, FileConfig, HandoutSection, LimitsSection, LogSection,
    PipelineSection,
};
use super::layers::{at_least, invalid, Layers};
use super::options::*;
use super::pipeline::{default_shards, PipelineConfig};
use super::values::{InitialSync, LogFormat, Network, PeerAddr};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// tracing `EnvFilter` directives.
    pub level: String,
    pub format: LogFormat,
}

/// Per-peer bounds (DESIGN §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerLimits {
    /// Connections beyond this are refused with an error message.
    pub max_peers: usize,
    /// Reads from one peer are paced to this; a peer flooding faster is slowed by TCP, not
    /// buffered by us.
    pub peer_rate_bytes_per_sec: u64,
    /// BOLT 1 ping to a peer that has been quiet this long.
    pub ping_interval: Duration,
    /// No pong (or any message) within this after a ping: disconnect.
    pub ping_timeout: Duration,
    /// Connect to act three of the BOLT 8 handshake, inbound and outbound.
    pub handshake_timeout: Duration,
    /// Misbehaviour score that closes the session (see `peer::score`).
    pub disconnect_score: u32,
    /// Misbehaviour score that bans the peer for `ban_duration`.
    pub ban_score: u32,
    pub ban_duration: Duration,
    /// Gossip streamed to one peer, bytes per second (0 = unlimited).
    pub serve_bytes_per_sec: u64,
    /// Query replies to one peer, bytes per second (0 = unlimited).
    pub serve_reply_bytes_per_sec: u64,
    /// Query replies to all peers, bytes per second (0 = unlimited).
    pub serve_global_reply_bytes_per_sec: u64,
    /// Inbound connections from one source address (IPv6: one /64) at once (0 = no cap).
    pub max_peers_per_ip: usize,
    /// Inbound handshakes one source address may start per minute (0 = no limit).
    pub handshakes_per_ip_per_minute: u32,
    /// Inbound handshakes one source address may start back to back.
    pub handshake_burst_per_ip: u32,
    /// The per-address limits apply to loopback too.
    pub per_ip_limits_on_loopback: bool,
    /// Connections the metrics server serves at once.
    pub metrics_max_connections: usize,
    /// Time a metrics client has to send a whole request head.
    pub metrics_header_timeout: Duration,
    /// Worker threads of the runtime that runs peer sessions, handshakes and the metrics
    /// server (resolved: 0 in the layers means one per core). The verifier shards and the
    /// store have threads of their own.
    pub peer_threads: usize,
    /// How our own initial sync asks outbound peers (issue 12 item 4).
    pub initial_sync: InitialSync,
    /// A split-sync query unanswered (no reply, no gossip) this long falls back to a dump.
    pub split_query_timeout: Duration,
    /// Replies to our split-sync queries queued per peer for its seeker, in messages and
    /// bytes; a peer sending more than the seeker takes has the excess dropped.
    pub split_reply_queue_cap: usize,
    pub split_reply_queue_bytes_cap: usize,
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits {
            max_peers: 256,
            peer_rate_bytes_per_sec: 1 << 20,
            // lnd pings every minute and gives 30 s for the pong; matching it keeps us in step
            // with the most common peer implementation.
            ping_interval: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            // LND's ban manager: ban at 100 points for 48 hours.
            disconnect_score: 50,
            ban_score: 100,
            ban_duration: Duration::from_secs(48 * 3600),
            // Core Lightning streams gossip at 1 MB/s per peer; LND caps query replies at
            // 1,000 KiB/s over all peers.
            serve_bytes_per_sec: 1_000_000,
            serve_reply_bytes_per_sec: 1_000_000,
            serve_global_reply_bytes_per_sec: 1000 * 1024,
            // The peer layer's `AdmissionConfig` and the metrics layer's `ExporterConfig` say
            // why (a test in `commands::options` holds these to their defaults).
            max_peers_per_ip: 16,
            handshakes_per_ip_per_minute: 60,
            handshake_burst_per_ip: 16,
            // Tor hands every inbound peer over from 127.0.0.1.
            per_ip_limits_on_loopback: false,
            metrics_max_connections: 64,
            metrics_header_timeout: Duration::from_secs(5),
            // Sessions spend their time in BOLT 8 decryption and waiting; one thread per core
            // lets a slow or hostile session hold one thread without stalling the rest.
            peer_threads: default_shards(),
            // README "Several upstream peers" has the measurements behind the default.
            initial_sync: InitialSync::Dump,
            split_query_timeout: Duration::from_secs(10),
            // `peer::sync_plan::SplitConfig` says why (a test in `commands::options` holds
            // these to its defaults).
            split_reply_queue_cap: 16,
            split_reply_queue_bytes_cap: 1 << 20,
        }
    }
}

/// Handing the graph out (Rapid Gossip Sync snapshots, the API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoutSettings {
    /// Time between snapshot generations. The RGS server insists on multiples of 3 hours; a
    /// build here costs a read of the store (about a second at mainnet size), so ten minutes
    /// keeps wallets fresh, and regtest can go down to one second.
    pub rgs_interval: Duration,
}

impl Default for HandoutSettings {
    fn default() -> Self {
        HandoutSettings {
            rgs_interval: Duration::from_secs(600),
        }
    }
}

/// Everything a node process needs to start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub network: Network,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub metrics: SocketAddr,
    pub peers: Vec<PeerAddr>,
    /// `pipeline.network` is always `network`.
    pub pipeline: PipelineConfig,
    pub limits: PeerLimits,
    pub log: LogSettings,
    pub chain: ChainSettings,
    pub handout: HandoutSettings,
    pub discovery: DiscoverySettings,
}

pub const DEFAULT_LISTEN: &str = "0.0.0.0:9735";
/// Loopback by default: metrics are not for the open internet unless the operator says so.
pub const DEFAULT_METRICS: &str = "127.0.0.1:9736";
pub const DEFAULT_LOG_LEVEL: &str = "info";

fn default_data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("gossip-sieve")
}

fn default_addr(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}
/// Upper bounds on the caps: beyond these a typo (an extra zero or three) would pre-allocate or
/// let a queue grow to gigabytes, which is exactly what the caps exist to prevent.
const MAX_SHARDS: usize = 1024;
const MAX_MAILBOX: usize = 1 << 20;
const MAX_CACHE: usize = 100_000_000;
/// 16 GiB: a bound on a typo, not a recommendation.
const MAX_PENDING_BYTES: usize = 16 << 30;

/// Reads one option from its layers (`args`, the environment in `Layers`, `file`), checks it
/// and stores it in `Settings`, which holds the defaults and every option resolved before it.
type Resolver =
    fn(&Layers<'_>, &SettingsArgs, &FileConfig, &mut Settings) -> Result<(), ConfigError>;

/// A row for an option stored as it is read, within `[min, max]`:
/// `(SPEC, settings.field, args.field, file.field, min, max)`.
macro_rules! plain {
    ($spec:expr, $($set:ident).+, $($flag:ident).+, $($file:ident).+, $min:expr, $max:expr) => {
        ($spec, |l, a, f, s| {
            s.$($set).+ = l.bounded($spec, a.$($flag).+, f.$($file).+, s.$($set).+, $min, $max)?;
            Ok(())
        })
    };
}

/// A row for a `Duration` option spelled in whole seconds, at least `min` of them.
macro_rules! seconds {
    ($spec:expr, $($set:ident).+, $($flag:ident).+, $($file:ident).+, $min:expr) => {
        ($spec, |l, a, f, s| {
            let default = s.$($set).+.as_secs();
            let secs = l.bounded($spec, a.$($flag).+, f.$($file).+, default, $min, u64::MAX)?;
            s.$($set).+ = Duration::from_secs(secs);
            Ok(())
        })
    };
}

/// A row for a `Duration` option spelled in milliseconds, within `[min, max]` of them.
macro_rules! millis {
    ($spec:expr, $($set:ident).+, $($flag:ident).+, $($file:ident).+, $min:expr, $max:expr) => {
        ($spec, |l, a, f, s| {
            let default = millis(s.$($set).+);
            let ms = l.bounded($spec, a.$($flag).+, f.$($file).+, default, $min, $max)?;
            s.$($set).+ = Duration::from_millis(ms);
            Ok(())
        })
    };
}

/// Every option but the log's (resolved on its own by [`LogSettings::resolve`], which `main`
/// also calls before anything else so that errors can be logged), in resolution order: a check
/// that compares two options sits in the row of the later one.
const RESOLVERS: &[(OptionSpec, Resolver)] = &[
    (NETWORK, |l, a, f, s| {
        s.network = parse_network(l, a.pipeline.network, f.network)?;
        s.pipeline.network = s.network;
        Ok(())
    }),
    (DATA_DIR, |l, a, f, s| {
        let flag = a.node.data_dir.clone();
        let data_dir = l.pick(DATA_DIR, flag, f.data_dir.clone(), s.data_dir.clone())?;
        if data_dir.value.as_os_str().is_empty() {
            let reason = "empty path".to_string();
            return Err(invalid(DATA_DIR, Source::Default, String::new(), reason));
        }
        s.data_dir = data_dir.value;
        Ok(())
    }),
    (LISTEN, |l, a, f, s| {
        s.listen = l
            .pick_parsed(LISTEN, a.node.listen, f.listen.as_ref(), s.listen)?
            .value;
        Ok(())
    }),
    (METRICS, |l, a, f, s| {
        s.metrics = l
            .pick_parsed(METRICS, a.node.metrics, f.metrics.as_ref(), s.metrics)?
            .value;
        Ok(())
    }),
    (PEERS, |l, a, f, s| {
        s.peers = resolve_peers(l, &a.node.peers, f.peers.as_deref())?;
        Ok(())
    }),
    (SHARDS, |l, a, f, s| {
        s.pipeline.shards =
            threads_or_one_per_core(l, SHARDS, a.pipeline.shards, f.pipeline.shards)?;
        Ok(())
    }),
    plain!(
        MAILBOX,
        pipeline.shard_mailbox_capacity,
        pipeline.mailbox_capacity,
        pipeline.mailbox_capacity,
        1,
        MAX_MAILBOX
    ),
    plain!(
        MAILBOX_BYTES,
        pipeline.shard_mailbox_bytes,
        pipeline.mailbox_bytes_cap,
        pipeline.mailbox_bytes_cap,
        65_536,
        MAX_PENDING_BYTES
    ),
    plain!(
        PENDING_UPDATES,
        pipeline.pending_updates_cap,
        pipeline.pending_updates_cap,
        pipeline.pending_updates_cap,
        1,
        MAX_CACHE
    ),
    plain!(
        PENDING_NODES,
        pipeline.pending_node_announcements_cap,
        pipeline.pending_node_announcements_cap,
        pipeline.pending_node_announcements_cap,
        1,
        MAX_CACHE
    ),
    plain!(
        PENDING_BYTES,
        pipeline.pending_bytes_cap,
        pipeline.pending_bytes_cap,
        pipeline.pending_bytes_cap,
        1,
        MAX_PENDING_BYTES
    ),
    plain!(
        PENDING_PER_PEER,
        pipeline.pending_per_peer_cap,
        pipeline.pending_per_peer_cap,
        pipeline.pending_per_peer_cap,
        1,
        MAX_CACHE
    ),
    plain!(
        PENDING_PER_PEER_BYTES,
        pipeline.pending_per_peer_bytes_cap,
        pipeline.pending_per_peer_bytes_cap,
        pipeline.pending_per_peer_bytes_cap,
        1,
        MAX_PENDING_BYTES
    ),
    plain!(
        STORE_MAILBOX,
        pipeline.store_mailbox_capacity,
        pipeline.store_mailbox_capacity,
        pipeline.store_mailbox_capacity,
        1,
        MAX_MAILBOX
    ),
    plain!(
        STORE_MAILBOX_BYTES,
        pipeline.store_mailbox_bytes_cap,
        pipeline.store_mailbox_bytes_cap,
        pipeline.store_mailbox_bytes_cap,
        1,
        MAX_PENDING_BYTES
    ),
    plain!(
        REJECTED,
        pipeline.rejected_cache_cap,
        pipeline.rejected_cache_cap,
        pipeline.rejected_cache_cap,
        1,
        MAX_CACHE
    ),
    plain!(
        PUBKEYS,
        pipeline.pubkey_cache_cap,
        pipeline.pubkey_cache_cap,
        pipeline.pubkey_cache_cap,
        1,
        MAX_CACHE
    ),
    // 0 = no limit.
    plain!(
        UPDATE_RATE,
        pipeline.update_rate_per_minute,
        pipeline.update_rate_per_minute,
        pipeline.update_rate_per_minute,
        0,
        u32::MAX
    ),
    plain!(
        UPDATE_BURST,
        pipeline.update_burst,
        pipeline.update_burst,
        pipeline.update_burst,
        1,
        u32::MAX
    ),
    seconds!(
        FUTURE_SKEW,
        pipeline.max_future_skew,
        pipeline.max_future_skew_secs,
        pipeline.max_future_skew_secs,
        0
    ),
    (MAX_AGE, |l, a, f, s| {
        // 0 = accept any age.
        let default = s.pipeline.max_age.map_or(0, |d| d.as_secs());
        let secs = l.bounded(
            MAX_AGE,
            a.pipeline.max_age_secs,
            f.pipeline.max_age_secs,
            default,
            0,
            u64::MAX,
        )?;
        s.pipeline.max_age = (secs > 0).then(|| Duration::from_secs(secs));
        Ok(())
    }),
    plain!(
        MAX_PEERS,
        limits.max_peers,
        node.max_peers,
        limits.max_peers,
        1,
        usize::MAX
    ),
    // Below one BOLT 8 frame per second a peer could never finish sending one message.
    plain!(
        PEER_RATE,
        limits.peer_rate_bytes_per_sec,
        node.peer_rate_bytes_per_sec,
        limits.peer_rate_bytes_per_sec,
        65_535 + 18 + 16,
        u64::MAX
    ),
    seconds!(
        PING_INTERVAL,
        limits.ping_interval,
        node.ping_interval_secs,
        limits.ping_interval_secs,
        1
    ),
    seconds!(
        PING_TIMEOUT,
        limits.ping_timeout,
        node.ping_timeout_secs,
        limits.ping_timeout_secs,
        1
    ),
    // 0 is taken as 1 ms where the timeout is used (`commands::options`).
    millis!(
        HANDSHAKE_TIMEOUT,
        limits.handshake_timeout,
        node.handshake_timeout_ms,
        limits.handshake_timeout_ms,
        0,
        u64::MAX
    ),
    plain!(
        DISCONNECT_SCORE,
        limits.disconnect_score,
        node.disconnect_score,
        limits.disconnect_score,
        1,
        u32::MAX
    ),
    (BAN_SCORE, |l, a, f, s| {
        // Below the disconnect score every disconnect would be a ban, and the milder step of
        // the escalation would never happen.
        let m = &mut s.limits;
        m.ban_score = l.bounded(
            BAN_SCORE,
            a.node.ban_score,
            f.limits.ban_score,
            m.ban_score,
            m.disconnect_score,
            u32::MAX,
        )?;
        Ok(())
    }),
    seconds!(
        BAN_DURATION,
        limits.ban_duration,
        node.ban_duration_secs,
        limits.ban_duration_secs,
        1
    ),
    plain!(
        SERVE_RATE,
        limits.serve_bytes_per_sec,
        node.serve_bytes_per_sec,
        limits.serve_bytes_per_sec,
        0,
        u64::MAX
    ),
    plain!(
        SERVE_REPLY_RATE,
        limits.serve_reply_bytes_per_sec,
        node.serve_reply_bytes_per_sec,
        limits.serve_reply_bytes_per_sec,
        0,
        u64::MAX
    ),
    plain!(
        SERVE_GLOBAL_REPLY_RATE,
        limits.serve_global_reply_bytes_per_sec,
        node.serve_global_reply_bytes_per_sec,
        limits.serve_global_reply_bytes_per_sec,
        0,
        u64::MAX
    ),
    (STALL, |l, a, f, s| {
        // A peer stalled on a full shard reads nothing, pongs included: if the stall can
        // outlast the ping timeout, a merely busy node disconnects its own healthy peers.
        let default = millis(s.pipeline.stall_timeout);
        let stall = l.pick(
            STALL,
            a.pipeline.stall_timeout_ms,
            f.pipeline.stall_timeout_ms,
            default,
        )?;
        let stall_source = stall.source.clone();
        let stall_ms = at_least(STALL, stall, 1)?;
        let ping_timeout = s.limits.ping_timeout.as_secs();
        if stall_ms >= ping_timeout.saturating_mul(1000) {
            return Err(invalid(
                STALL,
                stall_source,
                stall_ms.to_string(),
                format!(
                    "must be below limits.ping_timeout_secs ({ping_timeout} s): a peer waiting \
                     on a full shard cannot answer pings"
                ),
            ));
        }
        s.pipeline.stall_timeout = Duration::from_millis(stall_ms);
        Ok(())
    }),
    (CHAIN, |l, a, f, s| {
        let parse = |text: &Option<String>, from: Source| {
            text.as_ref()
                .map(|t| {
                    t.parse::<ChainSourceKind>()
                        .map_err(|e| invalid(CHAIN, from, t.clone(), e))
                })
                .transpose()
        };
        let flag = parse(&a.node.chain.backend, Source::Flag(CHAIN.flag))?;
        let file = parse(&f.chain.backend, Source::File(CHAIN.key))?;
        s.chain.source = l.pick(CHAIN, flag, file, s.chain.source)?.value;
        Ok(())
    }),
    (CHAIN_URL, |l, a, f, s| {
        let url = l.pick(
            CHAIN_URL,
            a.node.chain.url.clone(),
            f.chain.url.clone(),
            String::new(),
        )?;
        s.chain.url = (!url.value.is_empty()).then_some(url.value);
        Ok(())
    }),
    (CHAIN_COOKIE, |l, a, f, s| {
        let path = l.pick(
            CHAIN_COOKIE,
            a.node.chain.cookie_file.clone(),
            f.chain.cookie_file.clone(),
            PathBuf::new(),
        )?;
        s.chain.cookie_file = (!path.value.as_os_str().is_empty()).then_some(path.value);
        Ok(())
    }),
    // BOLT 7 asks for six; fewer than one would accept unmined outputs.
    plain!(
        CHAIN_MIN_DEPTH,
        chain.min_depth,
        node.chain.min_depth,
        chain.min_depth,
        1,
        1_000
    ),
    plain!(
        CHAIN_LOOKUP_QUEUE,
        chain.lookup_queue,
        node.chain.lookup_queue,
        chain.lookup_queue,
        1,
        MAX_MAILBOX
    ),
    plain!(
        CHAIN_STAGE_BYTES,
        chain.stage_bytes_cap,
        node.chain.stage_bytes_cap,
        chain.stage_bytes_cap,
        65_536,
        MAX_PENDING_BYTES
    ),
    plain!(
        CHAIN_PARKED,
        chain.parked_cap,
        node.chain.parked_cap,
        chain.parked_cap,
        1,
        MAX_CACHE
    ),
    plain!(
        CHAIN_FORGET_DELAY,
        chain.forget_delay_blocks,
        node.chain.forget_delay_blocks,
        chain.forget_delay_blocks,
        1,
        10_000
    ),
    seconds!(
        CHAIN_POLL,
        chain.poll_interval,
        node.chain.poll_interval_secs,
        chain.poll_interval_secs,
        1
    ),
    (CHAIN_TIMEOUT, |l, a, f, s| {
        let ms = l.bounded(
            CHAIN_TIMEOUT,
            a.node.chain.request_timeout_ms,
            f.chain.request_timeout_ms,
            millis(s.chain.request_timeout),
            100,
            3_600_000,
        )?;
        s.chain.request_timeout = Duration::from_millis(ms);
        Ok(())
    }),
    plain!(
        UNVALIDATED_CAP,
        chain.unvalidated_channels_cap,
        node.chain.unvalidated_channels_cap,
        chain.unvalidated_channels_cap,
        0,
        MAX_CACHE
    ),
    plain!(
        UNVALIDATED_PER_PEER,
        chain.unvalidated_channels_per_peer_per_hour,
        node.chain.unvalidated_channels_per_peer_per_hour,
        chain.unvalidated_channels_per_peer_per_hour,
        0,
        u32::MAX
    ),
    (STALE_AGE, |l, a, f, s| {
        // 0 = never prune.
        let default = s.chain.stale_channel_age.map_or(0, |d| d.as_secs());
        let secs = l.bounded(
            STALE_AGE,
            a.node.chain.stale_channel_age_secs,
            f.chain.stale_channel_age_secs,
            default,
            0,
            u64::MAX,
        )?;
        s.chain.stale_channel_age = (secs > 0).then(|| Duration::from_secs(secs));
        Ok(())
    }),
    seconds!(
        RGS_INTERVAL,
        handout.rgs_interval,
        node.rgs_interval_secs,
        handout.rgs_interval_secs,
        1
    ),
    plain!(
        OUTBOUND_PEERS,
        discovery.outbound_peers,
        node.outbound_peers,
        discovery.outbound_peers,
        0,
        MAX_OUTBOUND_PEERS
    ),
    plain!(
        DIALS_PER_MINUTE,
        discovery.dials_per_minute,
        node.dials_per_minute,
        discovery.dials_per_minute,
        1,
        60_000
    ),
    plain!(
        CANDIDATES_CAP,
        discovery.candidates_cap,
        node.candidates_cap,
        discovery.candidates_cap,
        1,
        MAX_CACHE
    ),
    plain!(
        CANDIDATES_BYTES,
        discovery.candidates_bytes_cap,
        node.candidates_bytes_cap,
        discovery.candidates_bytes_cap,
        1024,
        MAX_PENDING_BYTES
    ),
    (DIAL_PRIVATE, |l, a, f, s| {
        let d = &mut s.discovery;
        d.dial_private_addresses = l
            .pick(
                DIAL_PRIVATE,
                a.node.dial_private_addresses,
                f.discovery.dial_private_addresses,
                d.dial_private_addresses,
            )?
            .value;
        Ok(())
    }),
    (DNS_SEEDS, |l, a, f, s| {
        s.discovery.dns_seeds = resolve_dns_seeds(
            l,
            &a.node.dns_seeds,
            f.discovery.dns_seeds.as_deref(),
            default_dns_seeds(s.network),
        )?;
        Ok(())
    }),
    (DNS_SERVER, |l, a, f, s| {
        s.discovery.dns_server = optional_parsed(
            l,
            DNS_SERVER,
            a.node.dns_server,
            f.discovery.dns_server.as_ref(),
        )?;
        Ok(())
    }),
    (PROXY, |l, a, f, s| {
        let proxy = optional_parsed::<HostPort>(
            l,
            PROXY,
            a.node
                .proxy
                .as_ref()
                .map(|p| p.parse())
                .transpose()
                .map_err(|e| {
                    invalid(
                        PROXY,
                        Source::Flag(PROXY.flag),
                        a.node.proxy.clone().unwrap_or_default(),
                        e,
                    )
                })?,
            f.discovery.proxy.as_ref(),
        )?;
        s.discovery.proxy = proxy.map(|p| p.0);
        Ok(())
    }),
    (PROXY_ALL, |l, a, f, s| {
        let all = l.pick(
            PROXY_ALL,
            a.node.proxy_all,
            f.discovery.proxy_all,
            s.discovery.proxy_all,
        )?;
        if all.value && s.discovery.proxy.is_none() {
            let reason = "needs discovery.proxy (--proxy)".to_string();
            return Err(invalid(PROXY_ALL, all.source, "true".into(), reason));
        }
        s.discovery.proxy_all = all.value;
        Ok(())
    }),
    plain!(
        FIRST_ARRIVAL_BYTES,
        pipeline.first_arrival_table_bytes,
        pipeline.first_arrival_table_bytes,
        pipeline.first_arrival_table_bytes,
        8,
        MAX_PENDING_BYTES
    ),
    // 0 = no cap.
    plain!(
        MAX_PEERS_PER_IP,
        limits.max_peers_per_ip,
        node.max_peers_per_ip,
        limits.max_peers_per_ip,
        0,
        usize::MAX
    ),
    // 0 = no limit.
    plain!(
        HANDSHAKES_PER_IP,
        limits.handshakes_per_ip_per_minute,
        node.handshakes_per_ip_per_minute,
        limits.handshakes_per_ip_per_minute,
        0,
        u32::MAX
    ),
    plain!(
        HANDSHAKE_BURST_PER_IP,
        limits.handshake_burst_per_ip,
        node.handshake_burst_per_ip,
        limits.handshake_burst_per_ip,
        1,
        u32::MAX
    ),
    (PER_IP_ON_LOOPBACK, |l, a, f, s| {
        let m = &mut s.limits;
        m.per_ip_limits_on_loopback = l
            .pick(
                PER_IP_ON_LOOPBACK,
                a.node.per_ip_limits_on_loopback,
                f.limits.per_ip_limits_on_loopback,
                m.per_ip_limits_on_loopback,
            )?
            .value;
        Ok(())
    }),
    // Each connection is a file descriptor: the cap exists to keep them bounded.
    plain!(
        METRICS_MAX_CONNECTIONS,
        limits.metrics_max_connections,
        node.metrics_max_connections,
        limits.metrics_max_connections,
        1,
        MAX_MAILBOX
    ),
    millis!(
        METRICS_HEADER_TIMEOUT,
        limits.metrics_header_timeout,
        node.metrics_header_timeout_ms,
        limits.metrics_header_timeout_ms,
        1,
        3_600_000
    ),
    (PEER_THREADS, |l, a, f, s| {
        let (flag, file) = (a.node.peer_threads, f.limits.peer_threads);
        s.limits.peer_threads = threads_or_one_per_core(l, PEER_THREADS, flag, file)?;
        Ok(())
    }),
    (INITIAL_SYNC, |l, a, f, s| {
        let m = &mut s.limits;
        m.initial_sync = l
            .pick_parsed(
                INITIAL_SYNC,
                a.node.initial_sync,
                f.limits.initial_sync.as_ref(),
                m.initial_sync,
            )?
            .value;
        Ok(())
    }),
    millis!(
        SPLIT_QUERY_TIMEOUT,
        limits.split_query_timeout,
        node.split_query_timeout_ms,
        limits.split_query_timeout_ms,
        1,
        3_600_000
    ),
    plain!(
        SPLIT_REPLY_QUEUE,
        limits.split_reply_queue_cap,
        node.split_reply_queue_cap,
        limits.split_reply_queue_cap,
        1,
        MAX_MAILBOX
    ),
    // At least one maximum-size message (65,535 bytes), or some replies could never queue.
    plain!(
        SPLIT_REPLY_QUEUE_BYTES,
        limits.split_reply_queue_bytes_cap,
        node.split_reply_queue_bytes_cap,
        limits.split_reply_queue_bytes_cap,
        65_536,
        MAX_PENDING_BYTES
    ),
    // 0 = no block cache. More than a week of blocks is a typo (the byte cap binds anyway).
    plain!(
        CHAIN_BLOCK_CACHE,
        chain.block_cache_blocks,
        node.chain.block_cache_blocks,
        chain.block_cache_blocks,
        0,
        1024
    ),
    // The chain layer's own check: a cache that is on needs room for one block.
    plain!(
        CHAIN_BLOCK_CACHE_BYTES,
        chain.block_cache_bytes_cap,
        node.chain.block_cache_bytes_cap,
        chain.block_cache_bytes_cap,
        1 << 20,
        MAX_PENDING_BYTES
    ),
];

/// Outbound peers beyond this are a typo: each is a socket and a session.
const MAX_OUTBOUND_PEERS: usize = 10_000;

/// `host:port` with a non-empty host and a port: a SOCKS5 proxy's address, which may be a
/// name (`tor:9050` in Docker Compose).
struct HostPort(String);

impl std::str::FromStr for HostPort {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| "expected host:port".to_string())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("expected host:port".into());
        }
        port.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("bad port {port:?}"))?;
        Ok(HostPort(text.to_string()))
    }
}

/// An option with no default: flag > env > file > absent (an empty string in the file too).
fn optional_parsed<T>(
    layers: &Layers<'_>,
    option: OptionSpec,
    flag: Option<T>,
    file: Option<&String>,
) -> Result<Option<T>, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    if flag.is_some() {
        return Ok(flag);
    }
    let (raw, source) = match (layers.env_value(option.env), file) {
        (Some(raw), _) => (raw, Source::Env(option.env.to_string())),
        (None, Some(text)) if !text.trim().is_empty() => (text.clone(), Source::File(option.key)),
        (None, _) => return Ok(None),
    };
    raw.trim()
        .parse::<T>()
        .map(Some)
        .map_err(|e| invalid(option, source, raw.clone(), e.to_string()))
}

/// The seed list, replaced as a whole by a higher layer; `none` (alone) means no seeds.
fn resolve_dns_seeds(
    layers: &Layers<'_>,
    flag: &[String],
    file: Option<&[String]>,
    default: Vec<String>,
) -> Result<Vec<String>, ConfigError> {
    let (items, source): (Vec<String>, Source) = if !flag.is_empty() {
        (flag.to_vec(), Source::Flag(DNS_SEEDS.flag))
    } else if let Some(raw) = layers.env_value(DNS_SEEDS.env) {
        (
            raw.split([',', ' ', '\n'])
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_string())
                .collect(),
            Source::Env(DNS_SEEDS.env.to_string()),
        )
    } else if let Some(list) = file {
        (list.to_vec(), Source::File(DNS_SEEDS.key))
    } else {
        return Ok(default);
    };
    if items.len() == 1 && items[0].eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    for item in &items {
        let ok = !item.is_empty()
            && item.len() <= 253
            && item
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            let reason = "not a DNS hostname".to_string();
            return Err(invalid(DNS_SEEDS, source, item.clone(), reason));
        }
    }
    Ok(items)
}

/// A thread count where 0 (the default) means one per core.
fn threads_or_one_per_core(
    layers: &Layers<'_>,
    option: OptionSpec,
    flag: Option<usize>,
    file: Option<usize>,
) -> Result<usize, ConfigError> {
    let threads = layers.bounded(option, flag, file, 0, 0, MAX_SHARDS)?;
    Ok(if threads == 0 {
        default_shards()
    } else {
        threads
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl LogSettings {
    /// The log part alone, needed before anything else so errors in the rest can be logged.
    pub fn resolve(
        args: &LogArgs,
        file: &LogSection,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LogSettings, ConfigError> {
        let layers = Layers { env };
        // The legacy variable stands in for the new one when only it is set.
        let legacy = |var: &str| match layers.env_value(var) {
            None if var == LOG_LEVEL.env => layers.env_value(LEGACY_LOG_ENV),
            value => value,
        };
        let layers = Layers { env: &legacy };
        let level = layers.pick(
            LOG_LEVEL,
            args.level.clone(),
            file.level.clone(),
            DEFAULT_LOG_LEVEL.to_string(),
        )?;
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&level.value) {
            return Err(invalid(LOG_LEVEL, level.source, level.value, e.to_string()));
        }
        let file_format =
            match &file.format {
                Some(text) => Some(text.parse::<LogFormat>().map_err(|e| {
                    invalid(LOG_FORMAT, Source::File(LOG_FORMAT.key), text.clone(), e)
                })?),
                None => None,
            };
        let format = layers.pick(LOG_FORMAT, args.format, file_format, LogFormat::Text)?;
        Ok(LogSettings {
            level: level.value,
            format: format.value,
        })
    }
}

impl Settings {
    /// Resolves every option from the command line, the process environment and `file`.
    pub fn resolve(args: &SettingsArgs, file: &FileConfig) -> Result<Settings, ConfigError> {
        Settings::resolve_with_env(args, file, &|var| std::env::var(var).ok())
    }

    /// [`Settings::resolve`] with the environment supplied by `env`.
    pub fn resolve_with_env(
        args: &SettingsArgs,
        file: &FileConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let layers = Layers { env };
        let mut settings = Settings {
            network: Network::Bitcoin,
            data_dir: default_data_dir(),
            listen: default_addr(DEFAULT_LISTEN),
            metrics: default_addr(DEFAULT_METRICS),
            peers: Vec::new(),
            pipeline: PipelineConfig::default(),
            limits: PeerLimits::default(),
            chain: ChainSettings::default(),
            log: LogSettings {
                level: DEFAULT_LOG_LEVEL.to_string(),
                format: LogFormat::Text,
            },
            handout: HandoutSettings::default(),
            discovery: DiscoverySettings::defaults_for(Network::Bitcoin),
        };
        for (_, resolve) in RESOLVERS {
            resolve(&layers, args, file, &mut settings)?;
        }
        settings.log = LogSettings::resolve(&args.log, &file.log, env)?;
        Ok(settings)
    }

    /// The effective configuration as a complete config file (what `config check` prints).
    /// Resolving it again, with no flags or environment, gives back the same settings.
    pub fn to_file_config(&self) -> FileConfig {
        let p = &self.pipeline;
        let to_u64 = |d: Duration| d.as_secs();
        FileConfig {
            network: Some(self.network),
            data_dir: Some(self.data_dir.clone()),
            listen: Some(self.listen.to_string()),
            metrics: Some(self.metrics.to_string()),
            peers: Some(self.peers.iter().map(ToString::to_string).collect()),
            pipeline: PipelineSection {
                shards: Some(p.shards),
                mailbox_capacity: Some(p.shard_mailbox_capacity),
                mailbox_bytes_cap: Some(p.shard_mailbox_bytes),
                stall_timeout_ms: Some(u64::try_from(p.stall_timeout.as_millis()).unwrap_or(0)),
                pending_updates_cap: Some(p.pending_updates_cap),
                pending_node_announcements_cap: Some(p.pending_node_announcements_cap),
                pending_bytes_cap: Some(p.pending_bytes_cap),
                pending_per_peer_cap: Some(p.pending_per_peer_cap),
                pending_per_peer_bytes_cap: Some(p.pending_per_peer_bytes_cap),
                store_mailbox_capacity: Some(p.store_mailbox_capacity),
                store_mailbox_bytes_cap: Some(p.store_mailbox_bytes_cap),
                rejected_cache_cap: Some(p.rejected_cache_cap),
                pubkey_cache_cap: Some(p.pubkey_cache_cap),
                max_future_skew_secs: Some(to_u64(p.max_future_skew)),
                update_rate_per_minute: Some(p.update_rate_per_minute),
                update_burst: Some(p.update_burst),
                max_age_secs: Some(p.max_age.map_or(0, to_u64)),
                first_arrival_table_bytes: Some(p.first_arrival_table_bytes),
            },
            limits: LimitsSection {
                max_peers: Some(self.limits.max_peers),
                peer_rate_bytes_per_sec: Some(self.limits.peer_rate_bytes_per_sec),
                ping_interval_secs: Some(to_u64(self.limits.ping_interval)),
                ping_timeout_secs: Some(to_u64(self.limits.ping_timeout)),
                handshake_timeout_ms: Some(millis(self.limits.handshake_timeout)),
                disconnect_score: Some(self.limits.disconnect_score),
                ban_score: Some(self.limits.ban_score),
                ban_duration_secs: Some(to_u64(self.limits.ban_duration)),
                serve_bytes_per_sec: Some(self.limits.serve_bytes_per_sec),
                serve_reply_bytes_per_sec: Some(self.limits.serve_reply_bytes_per_sec),
                serve_global_reply_bytes_per_sec: Some(
                    self.limits.serve_global_reply_bytes_per_sec,
                ),
                max_peers_per_ip: Some(self.limits.max_peers_per_ip),
                handshakes_per_ip_per_minute: Some(self.limits.handshakes_per_ip_per_minute),
                handshake_burst_per_ip: Some(self.limits.handshake_burst_per_ip),
                per_ip_limits_on_loopback: Some(self.limits.per_ip_limits_on_loopback),
                metrics_max_connections: Some(self.limits.metrics_max_connections),
                metrics_header_timeout_ms: Some(millis(self.limits.metrics_header_timeout)),
                peer_threads: Some(self.limits.peer_threads),
                initial_sync: Some(self.limits.initial_sync.as_str().to_owned()),
                split_query_timeout_ms: Some(millis(self.limits.split_query_timeout)),
                split_reply_queue_cap: Some(self.limits.split_reply_queue_cap),
                split_reply_queue_bytes_cap: Some(self.limits.split_reply_queue_bytes_cap),
            },
            log: LogSection {
                level: Some(self.log.level.clone()),
                format: Some(self.log.format.as_str().to_string()),
            },
            chain: {
                let c = &self.chain;
                ChainSection {
                    backend: Some(c.source.as_str().to_string()),
                    // "" stands for none, so the printed file lists every option.
                    url: Some(c.url.clone().unwrap_or_default()),
                    cookie_file: Some(c.cookie_file.clone().unwrap_or_default()),
                    min_depth: Some(c.min_depth),
                    lookup_queue: Some(c.lookup_queue),
                    stage_bytes_cap: Some(c.stage_bytes_cap),
                    parked_cap: Some(c.parked_cap),
                    forget_delay_blocks: Some(c.forget_delay_blocks),
                    poll_interval_secs: Some(to_u64(c.poll_interval)),
                    request_timeout_ms: Some(millis(c.request_timeout)),
                    unvalidated_channels_cap: Some(c.unvalidated_channels_cap),
                    unvalidated_channels_per_peer_per_hour: Some(
                        c.unvalidated_channels_per_peer_per_hour,
                    ),
                    stale_channel_age_secs: Some(c.stale_channel_age.map_or(0, to_u64)),
                    block_cache_blocks: Some(c.block_cache_blocks),
                    block_cache_bytes_cap: Some(c.block_cache_bytes_cap),
                }
            },
            handout: HandoutSection {
                rgs_interval_secs: Some(to_u64(self.handout.rgs_interval)),
            },
            discovery: self.discovery_section(),
        }
    }

    fn discovery_section(&self) -> DiscoverySection {
        let d = &self.discovery;
        DiscoverySection {
            outbound_peers: Some(d.outbound_peers),
            dials_per_minute: Some(d.dials_per_minute),
            candidates_cap: Some(d.candidates_cap),
            candidates_bytes_cap: Some(d.candidates_bytes_cap),
            dial_private_addresses: Some(d.dial_private_addresses),
            dns_seeds: Some(d.dns_seeds.clone()),
            // "" = none, so `config check` shows every option.
            dns_server: Some(d.dns_server.map(|a| a.to_string()).unwrap_or_default()),
            proxy: Some(d.proxy.clone().unwrap_or_default()),
            proxy_all: Some(d.proxy_all),
        }
    }
}

fn parse_network(
    layers: &Layers<'_>,
    flag: Option<Network>,
    file: Option<Network>,
) -> Result<Network, ConfigError> {
    use clap::ValueEnum as _;
    if let Some(network) = flag {
        return Ok(network);
    }
    if let Some(raw) = layers.env_value(NETWORK.env) {
        return Network::from_str(raw.trim(), true).map_err(|_| {
            invalid(
                NETWORK,
                Source::Env(NETWORK.env.to_string()),
                raw,
                "expected bitcoin, testnet, signet or regtest".into(),
            )
        });
    }
    Ok(file.unwrap_or(Network::Bitcoin))
}

fn resolve_peers(
    layers: &Layers<'_>,
    flag: &[PeerAddr],
    file: Option<&[String]>,
) -> Result<Vec<PeerAddr>, ConfigError> {
    // A list is replaced as a whole by a higher layer, never merged: an operator overriding
    // the peers wants exactly the ones given.
    if !flag.is_empty() {
        return Ok(flag.to_vec());
    }
    let (items, source): (Vec<String>, Source) = match layers.env_value(PEERS.env) {
        Some(raw) => (
            raw.split([',', ' ', '\n'])
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
                .collect(),
            Source::Env(PEERS.env.to_string()),
        ),
        None => (
            file.map(<[String]>::to_vec).unwrap_or_default(),
            Source::File(PEERS.key),
        ),
    };
    items
        .iter()
        .map(|item| {
            item.parse::<PeerAddr>()
                .map_err(|reason| invalid(PEERS, source.clone(), item.clone(), reason.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::config::{LogArgs, NodeArgs, PipelineArgs};

    const ACINQ: &str = "03864ef025fde8fb587d989186ce6a4a186895ee44a926bfc370e2c366597a3f8f";

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn file(text: &str) -> FileConfig {
        match FileConfig::parse(text, Path::new("test.toml")) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }

    fn resolve(
        args: &SettingsArgs,
        file: &FileConfig,
        env: &[(&str, &str)],
    ) -> Result<Settings, ConfigError> {
        Settings::resolve_with_env(args, file, &env_of(env))
    }

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let f = file("[pipeline]\nmailbox_capacity = 300\npending_updates_cap = 301\nrejected_cache_cap = 302\n");
        let args = SettingsArgs {
            pipeline: PipelineArgs {
                mailbox_capacity: Some(100),
                ..PipelineArgs::default()
            },
            ..SettingsArgs::default()
        };
        let env = [
            ("GOSSIP_SIEVE_MAILBOX_CAPACITY", "200"),
            ("GOSSIP_SIEVE_PENDING_UPDATES_CAP", "201"),
        ];
        let s = resolve(&args, &f, &env).map_err(|e| e.to_string());
        let s = s.as_ref().map(|s| &s.pipeline);
        let Ok(p) = s else { panic!("{s:?}") };
        assert_eq!(p.shard_mailbox_capacity, 100, "flag wins");
        assert_eq!(p.pending_updates_cap, 201, "env beats file");
        assert_eq!(p.rejected_cache_cap, 302, "file beats default");
        assert_eq!(
            p.pubkey_cache_cap,
            PipelineConfig::default().pubkey_cache_cap
        );
    }

    type Env<'a> = &'a [(&'a str, &'a str)];

    #[test]
    fn errors_name_the_option_and_the_layer() {
        let cases: [(&str, Env, &str, &str); 6] = [
            (
                "[pipeline]\nmailbox_capacity = 0\n",
                &[],
                "pipeline.mailbox_capacity",
                "config file key",
            ),
            (
                "",
                &[("GOSSIP_SIEVE_SHARDS", "many")],
                "pipeline.shards",
                "GOSSIP_SIEVE_SHARDS",
            ),
            (
                "listen = \"nowhere\"\n",
                &[],
                "listen",
                "config file key listen",
            ),
            (
                "",
                &[("GOSSIP_SIEVE_PEERS", "02ab@host:1")],
                "peers",
                "GOSSIP_SIEVE_PEERS",
            ),
            (
                "[pipeline]\nstall_timeout_ms = 60000\n",
                &[],
                "pipeline.stall_timeout_ms",
                "config file",
            ),
            (
                "[log]\nformat = \"xml\"\n",
                &[],
                "log.format",
                "config file key log.format",
            ),
        ];
        for (text, env, option, layer) in cases {
            let err = match resolve(&SettingsArgs::default(), &file(text), env) {
                Ok(_) => panic!("{text:?} {env:?} accepted"),
                Err(e) => e,
            };
            assert_eq!(err.option(), Some(option), "{err}");
            assert!(err.to_string().contains(layer), "{err} lacks {layer}");
        }
    }

    #[test]
    fn a_flag_error_names_the_flag() {
        let args = SettingsArgs {
            node: NodeArgs {
                max_peers: Some(0),
                ..NodeArgs::default()
            },
            ..SettingsArgs::default()
        };
        let err = resolve(&args, &FileConfig::default(), &[]).err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.to_string().contains("flag --max-peers")),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_types_are_rejected_with_the_key() {
        for (text, key) in [
            ("[pipeline]\nmailbox_capacty = 5\n", "mailbox_capacty"),
            ("[limits]\nmax_peers = \"lots\"\n", "max_peers"),
            ("network = \"mainnet\"\n", "network"),
        ] {
            let err = FileConfig::parse(text, Path::new("x.toml"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(key), "{text:?}: {err}");
        }
    }

    #[test]
    fn peers_parse_and_a_higher_layer_replaces_the_list() {
        let f = file(&format!(
            "peers = [\"{ACINQ}@203.0.113.5:9735\", \"{ACINQ}@[2001:db8::1]:9736\"]\n"
        ));
        let from_file = resolve(&SettingsArgs::default(), &f, &[]).map(|s| s.peers);
        let Ok(peers) = from_file else {
            panic!("{from_file:?}")
        };
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[1].host, "2001:db8::1");
        assert_eq!(peers[1].socket_addr_string(), "[2001:db8::1]:9736");
        let env = format!("{ACINQ}@env.example:1");
        let from_env = resolve(
            &SettingsArgs::default(),
            &f,
            &[("GOSSIP_SIEVE_PEERS", &env)],
        )
        .map(|s| s.peers);
        assert!(matches!(&from_env, Ok(p) if p.len() == 1 && p[0].host == "env.example"));
        for bad in [
            "nohost",
            &format!("{ACINQ}@host"),
            &format!("{ACINQ}@host:0"),
            "02zz@host:1",
            // 33 bytes but not on the curve.
            &format!("02{}@h:1", "00".repeat(32)),
        ] {
            assert!(bad.parse::<PeerAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn effective_config_round_trips_through_the_file_format() {
        let args = SettingsArgs {
            pipeline: PipelineArgs {
                shards: Some(3),
                max_age_secs: Some(0),
                ..PipelineArgs::default()
            },
            log: LogArgs {
                level: Some("gossip_sieve=debug".into()),
                format: Some(LogFormat::Json),
            },
            ..SettingsArgs::default()
        };
        let env = format!("{ACINQ}@node.example:9735");
        let first = resolve(
            &args,
            &FileConfig::default(),
            &[("GOSSIP_SIEVE_PEERS", &env)],
        );
        let Ok(first) = first else {
            panic!("{first:?}")
        };
        let text = first.to_file_config().to_toml();
        let again = resolve(&SettingsArgs::default(), &file(&text), &[]);
        let Ok(again) = again else {
            panic!("{again:?}\n{text}")
        };
        assert_eq!(again.to_file_config(), first.to_file_config(), "{text}");
        assert_eq!(again.pipeline.max_age, None);
        assert_eq!(again.pipeline.shards, 3);
        assert_eq!(again.log.format, LogFormat::Json);
    }

    #[test]
    fn legacy_log_variable_still_sets_the_level() {
        let s = resolve(
            &SettingsArgs::default(),
            &FileConfig::default(),
            &[("GOSSIP_SIEVE_LOG", "debug")],
        );
        assert!(matches!(&s, Ok(s) if s.log.level == "debug"), "{s:?}");
        let s = resolve(
            &SettingsArgs::default(),
            &FileConfig::default(),
            &[
                ("GOSSIP_SIEVE_LOG", "debug"),
                ("GOSSIP_SIEVE_LOG_LEVEL", "trace"),
            ],
        );
        assert!(matches!(&s, Ok(s) if s.log.level == "trace"), "{s:?}");
    }

    #[test]
    fn option_table_spellings_agree() {
        for o in OPTIONS {
            assert!(o.env.starts_with("GOSSIP_SIEVE_"), "{o:?}");
            assert!(o.flag.starts_with("--"), "{o:?}");
            let last = o.key.rsplit('.').next().unwrap_or(o.key);
            let flag = o.flag[2..].replace('-', "_");
            let env = o.env["GOSSIP_SIEVE_".len()..].to_lowercase();
            if o.key == "chain.backend" {
                // `--chain none` reads better than `--chain-backend none`.
                assert_eq!((flag.as_str(), env.as_str()), ("chain", "chain"), "{o:?}");
            } else if let Some(chain_key) = o.key.strip_prefix("chain.") {
                // Chain flags say `chain-` unless their name already tells.
                let prefixed = format!("chain_{chain_key}");
                assert!(flag == last || flag == prefixed, "{o:?}");
                assert_eq!(env, flag, "{o:?}");
            } else if o.key != "peers"
                // List options take a singular, repeatable flag (`--peer`, `--dns-seed`).
                && o.key != "discovery.dns_seeds"
                && !o.key.starts_with("log.")
            {
                assert_eq!(flag, last, "{o:?}");
                assert_eq!(env, last, "{o:?}");
            }
        }
    }
}
