//! `ChainConfig`: which chain source to use and every bound of the chain layer, with the reason
//! for each default and a `validate` that refuses settings that cannot work. The lead wires it
//! into the `[chain]` section of the config file, flags and environment; credentials come only
//! from the cookie file or the environment, never from a flag or the file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::error::ChainError;
use super::esplora::Esplora;
use super::follower::FollowerConfig;
use super::http::{Auth, HttpClient, HttpLimits, Secret};
use super::rest::BitcoindRest;
use super::rpc::BitcoindRpc;
use super::source::ChainSource;
use super::validator::ValidatorConfig;

/// Environment variable holding the RPC user.
pub const ENV_RPC_USER: &str = "GOSSIP_SIEVE_CHAIN_RPC_USER";
/// Environment variable holding the RPC password (never a flag: flags show in `ps`).
pub const ENV_RPC_PASSWORD: &str = "GOSSIP_SIEVE_CHAIN_RPC_PASSWORD";

/// Which chain source backs channel validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainBackend {
    /// No validation (`--chain none`): loud, capped, see issue 10 item 6.
    None,
    BitcoindRpc,
    BitcoindRest,
    Esplora,
    /// The in-process chain of the embedded demo.
    Memory,
}

impl ChainBackend {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "none" => ChainBackend::None,
            "bitcoind-rpc" | "rpc" => ChainBackend::BitcoindRpc,
            "bitcoind-rest" | "rest" => ChainBackend::BitcoindRest,
            "esplora" => ChainBackend::Esplora,
            "memory" => ChainBackend::Memory,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChainBackend::None => "none",
            ChainBackend::BitcoindRpc => "bitcoind-rpc",
            ChainBackend::BitcoindRest => "bitcoind-rest",
            ChainBackend::Esplora => "esplora",
            ChainBackend::Memory => "memory",
        }
    }
}

/// Everything the chain layer needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainConfig {
    pub backend: ChainBackend,
    /// `http://host:port[/base]`: bitcoind's RPC or REST port, or the Esplora API base.
    pub url: Option<String>,
    /// bitcoind's `.cookie` (RPC); preferred over user/password.
    pub cookie_file: Option<PathBuf>,
    pub rpc_user: Option<String>,
    pub rpc_password: Option<Secret>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub max_response_bytes: usize,
    pub validator: ValidatorConfig,
    pub follower: FollowerConfig,
    /// How often the tip is polled.
    pub poll_interval: Duration,
}

impl Default for ChainConfig {
    fn default() -> Self {
        let limits = HttpLimits::default();
        ChainConfig {
            backend: ChainBackend::None,
            url: None,
            cookie_file: None,
            rpc_user: None,
            rpc_password: None,
            connect_timeout: limits.connect_timeout,
            request_timeout: limits.request_timeout,
            retries: limits.retries,
            retry_backoff: limits.retry_backoff,
            max_response_bytes: limits.max_response_bytes,
            validator: ValidatorConfig::default(),
            follower: FollowerConfig::default(),
            // A block comes every ten minutes on average; 10 s keeps the tip age honest
            // without loading the node.
            poll_interval: Duration::from_secs(10),
        }
    }
}

/// A setting that cannot work, with the setting's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("chain.{field}: {reason}")]
pub struct ChainConfigError {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ChainConfigError {
    ChainConfigError {
        field,
        reason: reason.into(),
    }
}

impl ChainConfig {
    /// Fills the RPC user and password from the environment (`lookup` is `std::env::var` in
    /// the binary, a map in tests). Values already set win.
    pub fn credentials_from_env(&mut self, lookup: impl Fn(&str) -> Option<String>) {
        if self.rpc_user.is_none() {
            self.rpc_user = lookup(ENV_RPC_USER);
        }
        if self.rpc_password.is_none() {
            self.rpc_password = lookup(ENV_RPC_PASSWORD).map(Secret::new);
        }
    }

    pub fn validate(&self) -> Result<(), ChainConfigError> {
        let remote = matches!(
            self.backend,
            ChainBackend::BitcoindRpc | ChainBackend::BitcoindRest | ChainBackend::Esplora
        );
        if remote {
            let url = self
                .url
                .as_deref()
                .ok_or_else(|| invalid("url", format!("required for {}", self.backend.as_str())))?;
            HttpClient::new(url, Auth::None, self.http_limits())
                .map_err(|e| invalid("url", e.to_string()))?;
        }
        if self.backend == ChainBackend::BitcoindRpc
            && self.cookie_file.is_none()
            && (self.rpc_user.is_none() || self.rpc_password.is_none())
        {
            return Err(invalid(
                "cookie_file",
                format!(
                    "bitcoind RPC needs a cookie file, or {ENV_RPC_USER} and {ENV_RPC_PASSWORD}"
                ),
            ));
        }
        if self.rpc_password.is_some() && self.rpc_user.is_none() {
            return Err(invalid("rpc_user", "a password was given without a user"));
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return Err(invalid("request_timeout", "timeouts must be positive"));
        }
        if self.connect_timeout > self.request_timeout {
            return Err(invalid(
                "connect_timeout",
                "must not exceed request_timeout",
            ));
        }
        if self.retries > 10 {
            return Err(invalid(
                "retries",
                "at most 10: a dead source must be reported, not hammered",
            ));
        }
        // A raw 4 MB block as hex in JSON is about 8 MB; less cannot fetch a full block.
        if self.max_response_bytes < 1024 * 1024 {
            return Err(invalid(
                "max_response_bytes",
                "at least 1 MiB (a block must fit)",
            ));
        }
        let v = &self.validator;
        if v.min_depth == 0 {
            return Err(invalid("min_depth", "at least 1 (BOLT 7 expects 6)"));
        }
        if v.lookup_queue == 0 {
            return Err(invalid("lookup_queue", "at least 1"));
        }
        if v.block_cache_blocks > 0 && v.block_cache_bytes < 1024 * 1024 {
            return Err(invalid(
                "block_cache_bytes",
                "at least 1 MiB when the block cache is on",
            ));
        }
        if v.park_max_blocks < v.min_depth {
            return Err(invalid("park_max_blocks", "must be at least min_depth"));
        }
        let f = &self.follower;
        if f.forget_delay == 0 {
            return Err(invalid("forget_delay", "at least 1 block (BOLT 7: 72)"));
        }
        if f.history <= f.forget_delay {
            return Err(invalid(
                "history",
                "must exceed forget_delay, or a reorg could not undo a close before the forget",
            ));
        }
        if f.max_blocks_per_poll == 0 {
            return Err(invalid("max_blocks_per_poll", "at least 1"));
        }
        if self.poll_interval.is_zero() {
            return Err(invalid("poll_interval", "must be positive"));
        }
        Ok(())
    }

    pub fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            retries: self.retries,
            retry_backoff: self.retry_backoff,
            max_response_bytes: self.max_response_bytes,
        }
    }

    /// Builds the remote source (`None` for `none` and `memory`, which the caller provides).
    pub fn connect(&self) -> Result<Option<Arc<dyn ChainSource>>, ChainError> {
        let url = || {
            self.url
                .as_deref()
                .ok_or_else(|| ChainError::Config("chain.url is required".into()))
        };
        let limits = self.http_limits();
        Ok(match self.backend {
            ChainBackend::None | ChainBackend::Memory => None,
            ChainBackend::BitcoindRpc => {
                let auth = match (&self.cookie_file, &self.rpc_user, &self.rpc_password) {
                    (Some(path), _, _) => Auth::CookieFile(path.clone()),
                    (None, Some(user), Some(password)) => Auth::UserPassword {
                        user: user.clone(),
                        password: password.clone(),
                    },
                    _ => return Err(ChainError::Config("bitcoind RPC needs credentials".into())),
                };
                Some(Arc::new(BitcoindRpc::new(HttpClient::new(
                    url()?,
                    auth,
                    limits,
                )?)))
            }
            ChainBackend::BitcoindRest => Some(Arc::new(BitcoindRest::new(HttpClient::new(
                url()?,
                Auth::None,
                limits,
            )?))),
            ChainBackend::Esplora => Some(Arc::new(Esplora::new(HttpClient::new(
                url()?,
                Auth::None,
                limits,
            )?))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpc() -> ChainConfig {
        ChainConfig {
            backend: ChainBackend::BitcoindRpc,
            url: Some("http://127.0.0.1:8332".into()),
            cookie_file: Some("/root/.bitcoin/.cookie".into()),
            ..ChainConfig::default()
        }
    }

    #[test]
    fn defaults_validate_and_follow_bolt7() {
        assert_eq!(ChainConfig::default().validate(), Ok(()));
        assert_eq!(rpc().validate(), Ok(()));
        assert_eq!(ChainConfig::default().validator.min_depth, 6);
        assert_eq!(ChainConfig::default().follower.forget_delay, 72);
    }

    #[test]
    fn unworkable_settings_name_their_field() {
        let field = |c: ChainConfig| c.validate().unwrap_err().field;
        assert_eq!(field(ChainConfig { url: None, ..rpc() }), "url");
        assert_eq!(
            field(ChainConfig {
                url: Some("https://x".into()),
                ..rpc()
            }),
            "url"
        );
        assert_eq!(
            field(ChainConfig {
                cookie_file: None,
                ..rpc()
            }),
            "cookie_file"
        );
        let mut c = rpc();
        c.validator.min_depth = 0;
        assert_eq!(field(c), "min_depth");
        let mut c = rpc();
        c.follower.history = c.follower.forget_delay;
        assert_eq!(field(c), "history");
        let mut c = rpc();
        c.max_response_bytes = 10;
        assert_eq!(field(c), "max_response_bytes");
    }

    #[test]
    fn credentials_come_from_the_environment_and_never_print() {
        let mut c = ChainConfig {
            cookie_file: None,
            ..rpc()
        };
        c.credentials_from_env(|name| match name {
            ENV_RPC_USER => Some("alice".into()),
            ENV_RPC_PASSWORD => Some("hunter2".into()),
            _ => None,
        });
        assert_eq!(c.validate(), Ok(()));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(c.connect().unwrap().is_some());
    }

    #[test]
    fn backend_names_round_trip() {
        for b in [
            ChainBackend::None,
            ChainBackend::BitcoindRpc,
            ChainBackend::BitcoindRest,
            ChainBackend::Esplora,
            ChainBackend::Memory,
        ] {
            assert_eq!(ChainBackend::parse(b.as_str()), Some(b));
        }
    }
}
