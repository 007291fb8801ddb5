//! The effective configuration: flag > environment > file > default, validated, with errors
//! naming the option and the layer it came from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secp256k1::PublicKey;

use super::args::SettingsArgs;
use super::error::{ConfigError, Source};
use super::file::{FileConfig, LimitsSection, LogSection, PipelineSection};
use super::{default_shards, Network, PipelineConfig};
use crate::peer::score::ScoreConfig;

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

const NETWORK: OptionSpec = opt("network", "--network", "GOSSIP_SIEVE_NETWORK");
const DATA_DIR: OptionSpec = opt("data_dir", "--data-dir", "GOSSIP_SIEVE_DATA_DIR");
const LISTEN: OptionSpec = opt("listen", "--listen", "GOSSIP_SIEVE_LISTEN");
const METRICS: OptionSpec = opt("metrics", "--metrics", "GOSSIP_SIEVE_METRICS");
const PEERS: OptionSpec = opt("peers", "--peer", "GOSSIP_SIEVE_PEERS");
const SHARDS: OptionSpec = opt("pipeline.shards", "--shards", "GOSSIP_SIEVE_SHARDS");
const MAILBOX: OptionSpec = opt(
    "pipeline.mailbox_capacity",
    "--mailbox-capacity",
    "GOSSIP_SIEVE_MAILBOX_CAPACITY",
);
const STALL: OptionSpec = opt(
    "pipeline.stall_timeout_ms",
    "--stall-timeout-ms",
    "GOSSIP_SIEVE_STALL_TIMEOUT_MS",
);
const PENDING_UPDATES: OptionSpec = opt(
    "pipeline.pending_updates_cap",
    "--pending-updates-cap",
    "GOSSIP_SIEVE_PENDING_UPDATES_CAP",
);
const PENDING_NODES: OptionSpec = opt(
    "pipeline.pending_node_announcements_cap",
    "--pending-node-announcements-cap",
    "GOSSIP_SIEVE_PENDING_NODE_ANNOUNCEMENTS_CAP",
);
const REJECTED: OptionSpec = opt(
    "pipeline.rejected_cache_cap",
    "--rejected-cache-cap",
    "GOSSIP_SIEVE_REJECTED_CACHE_CAP",
);
const PUBKEYS: OptionSpec = opt(
    "pipeline.pubkey_cache_cap",
    "--pubkey-cache-cap",
    "GOSSIP_SIEVE_PUBKEY_CACHE_CAP",
);
const UPDATE_RATE: OptionSpec = opt(
    "pipeline.update_rate_per_minute",
    "--update-rate-per-minute",
    "GOSSIP_SIEVE_UPDATE_RATE_PER_MINUTE",
);
const UPDATE_BURST: OptionSpec = opt(
    "pipeline.update_burst",
    "--update-burst",
    "GOSSIP_SIEVE_UPDATE_BURST",
);
const FUTURE_SKEW: OptionSpec = opt(
    "pipeline.max_future_skew_secs",
    "--max-future-skew-secs",
    "GOSSIP_SIEVE_MAX_FUTURE_SKEW_SECS",
);
const MAX_AGE: OptionSpec = opt(
    "pipeline.max_age_secs",
    "--max-age-secs",
    "GOSSIP_SIEVE_MAX_AGE_SECS",
);
const MAX_PEERS: OptionSpec = opt("limits.max_peers", "--max-peers", "GOSSIP_SIEVE_MAX_PEERS");
const PEER_RATE: OptionSpec = opt(
    "limits.peer_rate_bytes_per_sec",
    "--peer-rate-bytes-per-sec",
    "GOSSIP_SIEVE_PEER_RATE_BYTES_PER_SEC",
);
const PING_INTERVAL: OptionSpec = opt(
    "limits.ping_interval_secs",
    "--ping-interval-secs",
    "GOSSIP_SIEVE_PING_INTERVAL_SECS",
);
const PING_TIMEOUT: OptionSpec = opt(
    "limits.ping_timeout_secs",
    "--ping-timeout-secs",
    "GOSSIP_SIEVE_PING_TIMEOUT_SECS",
);
const DISCONNECT_SCORE: OptionSpec = opt(
    "limits.disconnect_score",
    "--disconnect-score",
    "GOSSIP_SIEVE_DISCONNECT_SCORE",
);
const BAN_SCORE: OptionSpec = opt("limits.ban_score", "--ban-score", "GOSSIP_SIEVE_BAN_SCORE");
const BAN_DURATION: OptionSpec = opt(
    "limits.ban_duration_secs",
    "--ban-duration-secs",
    "GOSSIP_SIEVE_BAN_DURATION_SECS",
);
const LOG_LEVEL: OptionSpec = opt("log.level", "--log-level", "GOSSIP_SIEVE_LOG_LEVEL");
const LOG_FORMAT: OptionSpec = opt("log.format", "--log-format", "GOSSIP_SIEVE_LOG_FORMAT");
/// The pre-config-file name of the log level variable, still honoured after LOG_LEVEL.
const LEGACY_LOG_ENV: &str = "GOSSIP_SIEVE_LOG";

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
    STALL,
    PENDING_UPDATES,
    PENDING_NODES,
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
    DISCONNECT_SCORE,
    BAN_SCORE,
    BAN_DURATION,
    LOG_LEVEL,
    LOG_FORMAT,
];

/// A peer to dial: `<33-byte compressed node id, hex>@host:port` (the form `lightning-cli
/// connect` and lnd's `connect` take).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    pub node_id: PublicKey,
    pub host: String,
    pub port: u16,
}

impl PeerAddr {
    /// `host:port` for `TcpStream::connect` (IPv6 hosts bracketed).
    pub fn socket_addr_string(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.node_id, self.socket_addr_string())
    }
}

impl FromStr for PeerAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, addr) = s
            .trim()
            .split_once('@')
            .ok_or("expected <node_pubkey_hex>@host:port")?;
        let bytes = hex::decode(key).map_err(|_| "node id is not hex")?;
        if bytes.len() != 33 {
            return Err(format!(
                "node id must be 33 bytes (66 hex digits), got {}",
                bytes.len()
            ));
        }
        let node_id =
            PublicKey::from_slice(&bytes).map_err(|_| "node id is not a valid public key")?;
        let (host, port) = addr.rsplit_once(':').ok_or("expected host:port after @")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("empty host".into());
        }
        let port: u16 = port.parse().map_err(|_| format!("bad port {port:?}"))?;
        if port == 0 {
            return Err("port 0".into());
        }
        Ok(PeerAddr {
            node_id,
            host: host.to_string(),
            port,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".into()),
        }
    }
}

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
    /// Misbehaviour score that closes the session (see `peer::score`).
    pub disconnect_score: u32,
    /// Misbehaviour score that bans the peer for `ban_duration`.
    pub ban_score: u32,
    pub ban_duration: Duration,
}

impl PeerLimits {
    /// The score board's settings: thresholds from here, weights and bounds from its defaults.
    pub fn score_config(&self) -> ScoreConfig {
        ScoreConfig {
            disconnect_threshold: f64::from(self.disconnect_score),
            ban_threshold: f64::from(self.ban_score),
            ban_duration: self.ban_duration,
            ..ScoreConfig::default()
        }
    }
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
            // LND's ban manager: ban at 100 points for 48 hours.
            disconnect_score: 50,
            ban_score: 100,
            ban_duration: Duration::from_secs(48 * 3600),
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

/// A value and where it came from, so validation can name the layer.
struct Sourced<T> {
    value: T,
    source: Source,
}

fn invalid(option: OptionSpec, source: Source, value: String, reason: String) -> ConfigError {
    ConfigError::Invalid {
        option: option.key,
        from: source,
        value,
        reason,
    }
}

/// Reads the environment layer through `env`, so tests need not mutate the process
/// environment (which is shared between test threads).
struct Layers<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Layers<'_> {
    fn env_value(&self, var: &str) -> Option<String> {
        (self.env)(var).filter(|v| !v.trim().is_empty())
    }

    /// flag > env > file > default, without validation.
    fn pick<T>(
        &self,
        option: OptionSpec,
        flag: Option<T>,
        file: Option<T>,
        default: T,
    ) -> Result<Sourced<T>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        if let Some(value) = flag {
            return Ok(Sourced {
                value,
                source: Source::Flag(option.flag),
            });
        }
        if let Some(raw) = self.env_value(option.env) {
            let source = Source::Env(option.env.to_string());
            return match raw.trim().parse::<T>() {
                Ok(value) => Ok(Sourced { value, source }),
                Err(e) => Err(invalid(option, source, raw, e.to_string())),
            };
        }
        Ok(match file {
            Some(value) => Sourced {
                value,
                source: Source::File(option.key),
            },
            None => Sourced {
                value: default,
                source: Source::Default,
            },
        })
    }

    /// Like [`pick`], for options the file holds as strings (addresses).
    fn pick_parsed<T>(
        &self,
        option: OptionSpec,
        flag: Option<T>,
        file: Option<&String>,
        default: T,
    ) -> Result<Sourced<T>, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let file = match file {
            Some(text) => Some(text.trim().parse::<T>().map_err(|e| {
                invalid(
                    option,
                    Source::File(option.key),
                    text.clone(),
                    e.to_string(),
                )
            })?),
            None => None,
        };
        self.pick(option, flag, file, default)
    }
}

/// `value >= min`, else an error naming the option and layer.
fn at_least<T>(option: OptionSpec, sourced: Sourced<T>, min: T) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display,
{
    if sourced.value < min {
        return Err(invalid(
            option,
            sourced.source,
            sourced.value.to_string(),
            format!("must be at least {min}"),
        ));
    }
    Ok(sourced.value)
}

fn at_most<T>(option: OptionSpec, sourced: Sourced<T>, max: T) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display,
{
    if sourced.value > max {
        return Err(invalid(
            option,
            sourced.source,
            sourced.value.to_string(),
            format!("must be at most {max}"),
        ));
    }
    Ok(sourced.value)
}

/// Upper bounds on the caps: beyond these a typo (an extra zero or three) would pre-allocate or
/// let a queue grow to gigabytes, which is exactly what the caps exist to prevent.
const MAX_SHARDS: usize = 1024;
const MAX_MAILBOX: usize = 1 << 20;
const MAX_CACHE: usize = 100_000_000;

impl LogSettings {
    /// The log part alone, needed before anything else so errors in the rest can be logged.
    pub fn resolve(
        args: &super::LogArgs,
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
        let defaults = PipelineConfig::default();
        let limits = PeerLimits::default();
        let (node, pipe, fp, fl) = (&args.node, &args.pipeline, &file.pipeline, &file.limits);

        let network = parse_network(&layers, pipe.network, file.network)?;
        let data_dir = layers
            .pick(
                DATA_DIR,
                node.data_dir.clone(),
                file.data_dir.clone(),
                default_data_dir(),
            )?
            .value;
        if data_dir.as_os_str().is_empty() {
            return Err(invalid(
                DATA_DIR,
                Source::Default,
                String::new(),
                "empty path".into(),
            ));
        }
        let listen = layers
            .pick_parsed(
                LISTEN,
                node.listen,
                file.listen.as_ref(),
                default_addr(DEFAULT_LISTEN),
            )?
            .value;
        let metrics = layers
            .pick_parsed(
                METRICS,
                node.metrics,
                file.metrics.as_ref(),
                default_addr(DEFAULT_METRICS),
            )?
            .value;
        let peers = resolve_peers(&layers, &node.peers, file.peers.as_deref())?;

        let shards = at_most(
            SHARDS,
            layers.pick(SHARDS, pipe.shards, fp.shards, 0)?,
            MAX_SHARDS,
        )?;
        let shards = if shards == 0 {
            default_shards()
        } else {
            shards
        };
        let capacity = |option, flag, file: Option<usize>, default, max| {
            let sourced = layers.pick(option, flag, file, default)?;
            let source = sourced.source.clone();
            let value = at_least(option, sourced, 1)?;
            at_most(option, Sourced { value, source }, max)
        };
        let shard_mailbox_capacity = capacity(
            MAILBOX,
            pipe.mailbox_capacity,
            fp.mailbox_capacity,
            defaults.shard_mailbox_capacity,
            MAX_MAILBOX,
        )?;
        let pending_updates_cap = capacity(
            PENDING_UPDATES,
            pipe.pending_updates_cap,
            fp.pending_updates_cap,
            defaults.pending_updates_cap,
            MAX_CACHE,
        )?;
        let pending_node_announcements_cap = capacity(
            PENDING_NODES,
            pipe.pending_node_announcements_cap,
            fp.pending_node_announcements_cap,
            defaults.pending_node_announcements_cap,
            MAX_CACHE,
        )?;
        let rejected_cache_cap = capacity(
            REJECTED,
            pipe.rejected_cache_cap,
            fp.rejected_cache_cap,
            defaults.rejected_cache_cap,
            MAX_CACHE,
        )?;
        let pubkey_cache_cap = capacity(
            PUBKEYS,
            pipe.pubkey_cache_cap,
            fp.pubkey_cache_cap,
            defaults.pubkey_cache_cap,
            MAX_CACHE,
        )?;
        let update_rate_per_minute = layers
            .pick(
                UPDATE_RATE,
                pipe.update_rate_per_minute,
                fp.update_rate_per_minute,
                defaults.update_rate_per_minute,
            )?
            .value;
        let update_burst = at_least(
            UPDATE_BURST,
            layers.pick(
                UPDATE_BURST,
                pipe.update_burst,
                fp.update_burst,
                defaults.update_burst,
            )?,
            1,
        )?;
        let max_future_skew = Duration::from_secs(
            layers
                .pick(
                    FUTURE_SKEW,
                    pipe.max_future_skew_secs,
                    fp.max_future_skew_secs,
                    defaults.max_future_skew.as_secs(),
                )?
                .value,
        );
        let max_age_secs = layers.pick(
            MAX_AGE,
            pipe.max_age_secs,
            fp.max_age_secs,
            defaults.max_age.map_or(0, |d| d.as_secs()),
        )?;
        let max_age = (max_age_secs.value > 0).then(|| Duration::from_secs(max_age_secs.value));

        let max_peers = at_least(
            MAX_PEERS,
            layers.pick(MAX_PEERS, node.max_peers, fl.max_peers, limits.max_peers)?,
            1,
        )?;
        // Below one BOLT 8 frame per second a peer could never finish sending one message.
        let peer_rate_bytes_per_sec = at_least(
            PEER_RATE,
            layers.pick(
                PEER_RATE,
                node.peer_rate_bytes_per_sec,
                fl.peer_rate_bytes_per_sec,
                limits.peer_rate_bytes_per_sec,
            )?,
            65_535 + 18 + 16,
        )?;
        let ping_interval = at_least(
            PING_INTERVAL,
            layers.pick(
                PING_INTERVAL,
                node.ping_interval_secs,
                fl.ping_interval_secs,
                limits.ping_interval.as_secs(),
            )?,
            1,
        )?;
        let ping_timeout = at_least(
            PING_TIMEOUT,
            layers.pick(
                PING_TIMEOUT,
                node.ping_timeout_secs,
                fl.ping_timeout_secs,
                limits.ping_timeout.as_secs(),
            )?,
            1,
        )?;

        let disconnect_score = at_least(
            DISCONNECT_SCORE,
            layers.pick(
                DISCONNECT_SCORE,
                node.disconnect_score,
                fl.disconnect_score,
                limits.disconnect_score,
            )?,
            1,
        )?;
        let ban_score = layers.pick(BAN_SCORE, node.ban_score, fl.ban_score, limits.ban_score)?;
        // Below the disconnect score every disconnect would be a ban, and the milder step of
        // the escalation would never happen.
        let ban_score = at_least(BAN_SCORE, ban_score, disconnect_score)?;
        let ban_duration_secs = at_least(
            BAN_DURATION,
            layers.pick(
                BAN_DURATION,
                node.ban_duration_secs,
                fl.ban_duration_secs,
                limits.ban_duration.as_secs(),
            )?,
            1,
        )?;

        // A peer stalled on a full shard reads nothing, pongs included: if the stall can
        // outlast the ping timeout, a merely busy node disconnects its own healthy peers.
        let stall = layers.pick(
            STALL,
            pipe.stall_timeout_ms,
            fp.stall_timeout_ms,
            u64::try_from(defaults.stall_timeout.as_millis()).unwrap_or(u64::MAX),
        )?;
        let stall_source = stall.source.clone();
        let stall_ms = at_least(STALL, stall, 1)?;
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

        let log = LogSettings::resolve(&args.log, &file.log, env)?;
        Ok(Settings {
            network,
            data_dir,
            listen,
            metrics,
            peers,
            pipeline: PipelineConfig {
                network,
                shards,
                shard_mailbox_capacity,
                stall_timeout: Duration::from_millis(stall_ms),
                pending_updates_cap,
                pending_node_announcements_cap,
                rejected_cache_cap,
                pubkey_cache_cap,
                max_future_skew,
                max_age,
                update_rate_per_minute,
                update_burst,
                ..defaults
            },
            limits: PeerLimits {
                max_peers,
                peer_rate_bytes_per_sec,
                ping_interval: Duration::from_secs(ping_interval),
                ping_timeout: Duration::from_secs(ping_timeout),
                disconnect_score,
                ban_score,
                ban_duration: Duration::from_secs(ban_duration_secs),
            },
            log,
        })
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
                stall_timeout_ms: Some(u64::try_from(p.stall_timeout.as_millis()).unwrap_or(0)),
                pending_updates_cap: Some(p.pending_updates_cap),
                pending_node_announcements_cap: Some(p.pending_node_announcements_cap),
                rejected_cache_cap: Some(p.rejected_cache_cap),
                pubkey_cache_cap: Some(p.pubkey_cache_cap),
                max_future_skew_secs: Some(to_u64(p.max_future_skew)),
                update_rate_per_minute: Some(p.update_rate_per_minute),
                update_burst: Some(p.update_burst),
                max_age_secs: Some(p.max_age.map_or(0, to_u64)),
            },
            limits: LimitsSection {
                max_peers: Some(self.limits.max_peers),
                peer_rate_bytes_per_sec: Some(self.limits.peer_rate_bytes_per_sec),
                ping_interval_secs: Some(to_u64(self.limits.ping_interval)),
                ping_timeout_secs: Some(to_u64(self.limits.ping_timeout)),
                disconnect_score: Some(self.limits.disconnect_score),
                ban_score: Some(self.limits.ban_score),
                ban_duration_secs: Some(to_u64(self.limits.ban_duration)),
            },
            log: LogSection {
                level: Some(self.log.level.clone()),
                format: Some(self.log.format.as_str().to_string()),
            },
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
                .map_err(|reason| invalid(PEERS, source.clone(), item.clone(), reason))
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
            if o.key != "peers" && !o.key.starts_with("log.") {
                assert_eq!(o.flag[2..].replace('-', "_"), last, "{o:?}");
                assert_eq!(o.env["GOSSIP_SIEVE_".len()..].to_lowercase(), last, "{o:?}");
            }
        }
    }
}
