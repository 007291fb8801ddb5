//! What can go wrong when asking a chain source, as one error type every backend returns.
//!
//! A chain source is trusted for facts about the chain but not for its manners: a node can be
//! down, slow, misconfigured, or (a third-party Esplora) lying. Each of those is a value here,
//! never a panic, and [`ChainError::is_transient`] decides which ones a retry may cure.

use std::time::Duration;

/// Why a chain source request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// Connecting or talking to the source failed (refused, reset, DNS, closed mid-answer).
    #[error("chain source unreachable: {0}")]
    Unreachable(String),
    /// The source did not answer within the configured time.
    #[error("chain source did not answer within {0:?}")]
    Timeout(Duration),
    /// An HTTP status the protocol does not expect (5xx are retried, others are not).
    #[error("chain source answered HTTP {0}")]
    HttpStatus(u16),
    /// The source refused our credentials.
    #[error(
        "chain source refused the credentials (HTTP {0}); check the cookie file or user/password"
    )]
    Unauthorized(u16),
    /// The answer was larger than the configured response limit; it was not read further.
    #[error("chain source answer exceeds the {0}-byte response limit")]
    TooLarge(usize),
    /// The answer could not be parsed (bad JSON, bad hex, bad consensus encoding).
    #[error("chain source sent garbage: {0}")]
    Garbage(String),
    /// The answer parsed but contradicts itself or what we asked (a block whose hash is not
    /// the one requested, a merkle root that does not match its transactions).
    #[error("chain source contradicted itself: {0}")]
    Inconsistent(String),
    /// bitcoind answered with a JSON-RPC error object.
    #[error("chain source RPC error {code}: {message}")]
    Rpc { code: i64, message: String },
    /// The configuration cannot produce a working source (bad URL, unreadable cookie file).
    #[error("chain source configuration: {0}")]
    Config(String),
}

impl ChainError {
    /// Every label [`ChainError::label`] can return, for zero-initialising metrics.
    pub const LABELS: &'static [&'static str] = &[
        "unreachable",
        "timeout",
        "http_status",
        "unauthorized",
        "too_large",
        "garbage",
        "inconsistent",
        "rpc",
        "config",
    ];

    /// A retry may help: the source was unreachable, slow, or overloaded (5xx). Garbage, lies,
    /// refused credentials and client errors come back the same on a retry, so they are not
    /// retried (a retry would only multiply the load a broken source puts on us).
    pub fn is_transient(&self) -> bool {
        match self {
            ChainError::Unreachable(_) | ChainError::Timeout(_) => true,
            ChainError::HttpStatus(status) => *status >= 500,
            // bitcoind's "Loading block index" / "Verifying blocks" warm-up error.
            ChainError::Rpc { code, .. } => *code == -28,
            _ => false,
        }
    }

    /// The `error` label of `gossip_sieve_chain_source_errors_total`.
    pub fn label(&self) -> &'static str {
        match self {
            ChainError::Unreachable(_) => "unreachable",
            ChainError::Timeout(_) => "timeout",
            ChainError::HttpStatus(_) => "http_status",
            ChainError::Unauthorized(_) => "unauthorized",
            ChainError::TooLarge(_) => "too_large",
            ChainError::Garbage(_) => "garbage",
            ChainError::Inconsistent(_) => "inconsistent",
            ChainError::Rpc { .. } => "rpc",
            ChainError::Config(_) => "config",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_is_listed() {
        let all = [
            ChainError::Unreachable(String::new()),
            ChainError::Timeout(Duration::ZERO),
            ChainError::HttpStatus(500),
            ChainError::Unauthorized(401),
            ChainError::TooLarge(1),
            ChainError::Garbage(String::new()),
            ChainError::Inconsistent(String::new()),
            ChainError::Rpc {
                code: -1,
                message: String::new(),
            },
            ChainError::Config(String::new()),
        ];
        for e in &all {
            assert!(ChainError::LABELS.contains(&e.label()), "{e}");
        }
        assert_eq!(all.len(), ChainError::LABELS.len());
    }

    #[test]
    fn only_transport_trouble_is_retried() {
        assert!(ChainError::Timeout(Duration::ZERO).is_transient());
        assert!(ChainError::HttpStatus(503).is_transient());
        assert!(!ChainError::HttpStatus(404).is_transient());
        assert!(!ChainError::Garbage("x".into()).is_transient());
        assert!(!ChainError::Inconsistent("x".into()).is_transient());
        assert!(!ChainError::Unauthorized(401).is_transient());
    }
}
