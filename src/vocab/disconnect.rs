//! Why a peer connection ended: the `reason` label of `gossip_sieve_peer_disconnects_total`.
//! The transport (handshake and framing errors), the listener (refusals) and the session (BOLT 1
//! and misbehaviour) each end connections; the metrics initialise every label at start. The
//! list lives here, below all of them, so none has to import another to know it.

/// Every disconnect reason a peer connection can end with; initialised to zero at start.
pub const DISCONNECT_REASONS: &[&str] = &[
    "handshake_timeout",
    "handshake_failed",
    "bad_mac",
    "oversized_frame",
    "eof_mid_frame",
    "io_error",
    "remote_closed",
    "remote_error",
    "unknown_even_type",
    "wrong_network",
    "malformed_message",
    "ping_timeout",
    "too_many_peers",
    // peer::admission::Refusal::LABELS
    "too_many_from_ip",
    "handshake_rate_limited",
    "misbehaving",
    "banned",
    "shutdown",
    // transport::TransportError::ALL_REASONS not listed above
    "bad_act",
    "handshake_eof",
    "io",
    // peer::session::EndReason::LABELS not listed above
    "unknown_feature",
    "protocol_violation",
    "init_timeout",
    "slow_reader",
];
