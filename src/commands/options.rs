//! The one place where resolved [`Settings`] become the options the runtime parts take: the
//! pipeline's, the sessions', the dialer's, the listener's and the score board's. The config
//! layer sits below the peer layer and cannot name its types, so the mapping lives here, above
//! both; `main` only parses arguments and calls these.
//!
//! # `--historical`
//!
//! `replay` and `run` take `--historical`; [`pipeline_config`] applies it, nowhere else:
//!
//! - it always turns the age check off (`max_age`): the input may carry gossip of any age;
//! - for a dump ([`Input::Dump`], `replay`) it also turns the channel_update rate limit off: a
//!   historical dump holds many updates per channel direction, read within seconds, which a
//!   limit meant for live spam would drop;
//! - for live peers ([`Input::LivePeers`], `run`) the rate limit stays: peers are untrusted,
//!   and a flood of updates is what the limit is for.
//!
//! `demo` and `bench` have no `--historical`: they generate fresh gossip.

use std::time::Duration;

use super::run::RunOptions;
use crate::config::Network;
use crate::config::{PeerLimits, PipelineConfig, Settings};
use crate::metrics::ExporterConfig;
use crate::peer::admission::AdmissionConfig;
use crate::peer::dialer::{DialerConfig, ProxyConfig};
use crate::peer::discovery::address::AddressPolicy;
use crate::peer::discovery::DiscoveryConfig;
use crate::peer::listener::ListenerConfig;
use crate::peer::score::ScoreConfig;
use crate::peer::serve::ServeConfig;
use crate::peer::session::SessionConfig;
use crate::peer::sync_plan::SplitConfig;

/// Where the gossip comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Peers over the network (`run`, `demo`).
    LivePeers,
    /// Files read at disk speed (`replay`, `bench`).
    Dump,
}

/// The pipeline's options, with the `--historical` rule above applied.
pub fn pipeline_config(settings: &Settings, historical: bool, input: Input) -> PipelineConfig {
    let mut config = settings.pipeline.clone();
    if historical {
        config.max_age = None;
        if input == Input::Dump {
            config.update_rate_per_minute = 0;
        }
    }
    config
}

/// The score board's settings: thresholds from the limits, weights and bounds from its
/// defaults.
pub fn score_config(limits: &PeerLimits) -> ScoreConfig {
    ScoreConfig {
        disconnect_threshold: f64::from(limits.disconnect_score),
        ban_threshold: f64::from(limits.ban_score),
        ban_duration: limits.ban_duration,
        ..ScoreConfig::default()
    }
}

/// Each session's timers and inbound byte rate.
pub fn session_config(settings: &Settings) -> SessionConfig {
    let defaults = SessionConfig::new(settings.network.chain_hash());
    let limits = &settings.limits;
    SessionConfig {
        ping_interval: limits.ping_interval.max(Duration::from_millis(1)),
        pong_timeout: limits.ping_timeout.max(Duration::from_millis(1)),
        init_timeout: limits.ping_timeout.max(Duration::from_millis(1)),
        inbound_bytes_per_sec: limits.peer_rate_bytes_per_sec,
        inbound_burst: defaults.inbound_burst.max(limits.peer_rate_bytes_per_sec),
        ..defaults
    }
}

/// Everything `run` takes.
pub fn run_options(settings: &Settings, historical: bool) -> RunOptions {
    let handshake_timeout = settings
        .limits
        .handshake_timeout
        .max(Duration::from_millis(1));
    RunOptions {
        data_dir: settings.data_dir.clone(),
        listen: Some(settings.listen),
        peers: settings.peers.clone(),
        metrics_addr: settings.metrics,
        session: session_config(settings),
        pipeline: pipeline_config(settings, historical, Input::LivePeers),
        dialer: DialerConfig {
            handshake_timeout,
            proxy: settings.discovery.proxy.clone().map(|addr| ProxyConfig {
                addr,
                all: settings.discovery.proxy_all,
            }),
            ..DialerConfig::default()
        },
        listener: ListenerConfig {
            max_peers: settings.limits.max_peers.max(1),
            handshake_timeout,
            admission: admission_config(&settings.limits),
            ..ListenerConfig::default()
        },
        score: score_config(&settings.limits),
        exporter: exporter_config(&settings.limits),
        chain: settings.chain.clone(),
        serve: ServeConfig {
            peer_bytes_per_sec: settings.limits.serve_bytes_per_sec,
            peer_reply_bytes_per_sec: settings.limits.serve_reply_bytes_per_sec,
            global_reply_bytes_per_sec: settings.limits.serve_global_reply_bytes_per_sec,
            initial_sync: settings.limits.initial_sync,
            split: SplitConfig {
                query_timeout: settings.limits.split_query_timeout,
                reply_queue: settings.limits.split_reply_queue_cap,
                reply_queue_bytes: settings.limits.split_reply_queue_bytes_cap,
                ..SplitConfig::default()
            },
            ..ServeConfig::default()
        },
        rgs_interval: settings.handout.rgs_interval,
        discovery: discovery_config(settings),
        peer_threads: settings.limits.peer_threads.max(1),
    }
}

/// The per-address limits on inbound connections.
pub fn admission_config(limits: &PeerLimits) -> AdmissionConfig {
    AdmissionConfig {
        max_per_ip: limits.max_peers_per_ip,
        handshakes_per_minute: limits.handshakes_per_ip_per_minute,
        handshake_burst: limits.handshake_burst_per_ip.max(1),
        limit_loopback: limits.per_ip_limits_on_loopback,
        ..AdmissionConfig::default()
    }
}

/// The metrics server's bounds.
pub fn exporter_config(limits: &PeerLimits) -> ExporterConfig {
    ExporterConfig {
        max_connections: limits.metrics_max_connections.max(1),
        header_read_timeout: limits.metrics_header_timeout.max(Duration::from_millis(1)),
        ..ExporterConfig::default()
    }
}

/// The outbound peer manager's options. Private addresses are dialled on regtest (every node
/// of a regtest network is local) or when the operator asks.
pub fn discovery_config(settings: &Settings) -> DiscoveryConfig {
    let d = &settings.discovery;
    DiscoveryConfig {
        outbound_peers: d.outbound_peers,
        dials_per_minute: d.dials_per_minute,
        candidates_cap: d.candidates_cap,
        candidates_bytes_cap: d.candidates_bytes_cap,
        policy: AddressPolicy {
            allow_private: d.dial_private_addresses || settings.network == Network::Regtest,
            have_proxy: d.proxy.is_some(),
        },
        dns_seeds: d.dns_seeds.clone(),
        dns_server: d.dns_server,
        ..DiscoveryConfig::new(settings.data_dir.join(crate::store::STORE_FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config layer cannot name the peer and metrics layers' types, so it repeats their
    /// defaults: they must agree.
    #[test]
    fn connection_limit_defaults_match_the_listener_and_exporter_defaults() {
        let limits = PeerLimits::default();
        assert_eq!(admission_config(&limits), AdmissionConfig::default());
        let exporter = exporter_config(&limits);
        let default = ExporterConfig::default();
        assert_eq!(
            (exporter.max_connections, exporter.header_read_timeout),
            (default.max_connections, default.header_read_timeout)
        );
    }

    #[test]
    fn split_reply_queue_defaults_match_the_split_config() {
        let limits = PeerLimits::default();
        let split = SplitConfig::default();
        assert_eq!(
            (
                limits.split_reply_queue_cap,
                limits.split_reply_queue_bytes_cap
            ),
            (split.reply_queue, split.reply_queue_bytes)
        );
    }
}
