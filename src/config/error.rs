//! Configuration errors: every one names the option and the layer the bad value came from.

use std::fmt;
use std::path::PathBuf;

/// The layer a value was taken from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--flag` on the command line.
    Flag(&'static str),
    /// `GOSSIP_SIEVE_*` environment variable.
    Env(String),
    /// A key of the `--config` TOML file.
    File(&'static str),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::File(key) => write!(f, "config file key {key}"),
            Source::Default => f.write_str("default"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("invalid value {value:?} for option {option} (from {from}): {reason}")]
    Invalid {
        option: &'static str,
        /// Where the bad value came from.
        from: Source,
        value: String,
        reason: String,
    },
}

impl ConfigError {
    /// The option key (`pipeline.mailbox_capacity`) a value error is about.
    pub fn option(&self) -> Option<&'static str> {
        match self {
            ConfigError::Invalid { option, .. } => Some(option),
            _ => None,
        }
    }
}
