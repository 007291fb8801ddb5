//! Why a session ended. Each reason's [`EndReason::label`] is a `reason` of
//! `gossip_sieve_peer_disconnects_total`, listed with the transport's and the listener's in
//! [`crate::vocab::DISCONNECT_REASONS`].

use crate::transport::TransportError;

/// Why a session ended; [`EndReason::label`] is the `reason` of
/// `gossip_sieve_peer_disconnects_total`.
#[derive(Debug, thiserror::Error)]
pub enum EndReason {
    #[error("peer closed the connection")]
    RemoteClosed,
    #[error("peer sent an error")]
    RemoteError,
    #[error("peer does not follow our chain")]
    WrongNetwork,
    #[error("peer requires feature bit {0}, which we do not know")]
    UnknownFeature(usize),
    #[error("peer sent unknown even message type {0}")]
    UnknownEvenType(u16),
    #[error("peer sent a malformed message of type {0}")]
    MalformedMessage(u16),
    #[error("peer broke the message order: {0}")]
    ProtocolViolation(&'static str),
    #[error("peer sent no init in time")]
    InitTimeout,
    #[error("peer did not answer our ping in time")]
    PingTimeout,
    #[error("peer sent too many invalid gossip messages")]
    Misbehaving,
    #[error("peer is banned")]
    Banned,
    #[error("peer does not read what we send")]
    SlowReader,
    #[error("node shutting down")]
    Shutdown,
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
}

impl EndReason {
    /// Labels beyond [`TransportError::ALL_REASONS`] that [`Self::label`] can return.
    pub const LABELS: [&'static str; 13] = [
        "remote_closed",
        "remote_error",
        "wrong_network",
        "unknown_feature",
        "unknown_even_type",
        "malformed_message",
        "protocol_violation",
        "init_timeout",
        "ping_timeout",
        "misbehaving",
        "banned",
        "slow_reader",
        "shutdown",
    ];

    pub fn label(&self) -> &'static str {
        match self {
            EndReason::RemoteClosed => "remote_closed",
            EndReason::RemoteError => "remote_error",
            EndReason::WrongNetwork => "wrong_network",
            EndReason::UnknownFeature(_) => "unknown_feature",
            EndReason::UnknownEvenType(_) => "unknown_even_type",
            EndReason::MalformedMessage(_) => "malformed_message",
            EndReason::ProtocolViolation(_) => "protocol_violation",
            EndReason::InitTimeout => "init_timeout",
            EndReason::PingTimeout => "ping_timeout",
            EndReason::Misbehaving => "misbehaving",
            EndReason::Banned => "banned",
            EndReason::SlowReader => "slow_reader",
            EndReason::Shutdown => "shutdown",
            EndReason::Transport(err) => err.reason(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_registered_disconnect_reasons() {
        for label in EndReason::LABELS
            .iter()
            .chain(TransportError::ALL_REASONS.iter())
        {
            assert!(
                crate::metrics::registry::DISCONNECT_REASONS.contains(label),
                "{label} missing from DISCONNECT_REASONS"
            );
        }
    }
}
