//! Every bound and knob, each with the reason for its default, and how they are set.
//!
//! [`PipelineConfig`] is all the pipeline reads. [`Settings`] is the whole effective
//! configuration of a node, resolved by [`Settings::resolve`] from four layers, first match
//! wins: command-line flag > environment variable (`GOSSIP_SIEVE_<OPTION>`) > TOML file
//! (`--config`) > default. The option table ([`OPTIONS`]) names every option in all three
//! spellings, so errors can say which option and which layer was wrong. Every cap is also
//! exported as a gauge so an operator can see the limit beside the level.

//!
//! Inside, imports run one way: `values` (what a value is), `pipeline` (what the pipeline
//! reads), `options` (the spellings) and `error` at the bottom; `args` (flags) and `file` (TOML)
//! parse into the values; `layers` picks a value from its layers and checks it; `settings`
//! resolves every option through its table.

mod args;
mod chain;
mod discovery;
mod error;
mod file;
mod layers;
mod options;
mod pipeline;
mod settings;
mod values;

pub use args::{ChainArgs, LogArgs, NodeArgs, PipelineArgs, SettingsArgs};
pub use chain::{ChainSettings, ChainSourceKind};
pub use discovery::{default_dns_seeds, DiscoverySettings};
pub use error::{ConfigError, Source};
pub use file::{
    ChainSection, DiscoverySection, FileConfig, HandoutSection, LimitsSection, LogSection,
    PipelineSection,
};
pub use options::{OptionSpec, OPTIONS};
pub use pipeline::{default_shards, PipelineConfig};
pub use settings::{HandoutSettings, LogSettings, PeerLimits, Settings};
pub use values::{InitialSync, LogFormat, Network, PeerAddr, PeerAddrError};
