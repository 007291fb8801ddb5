//! The one error type of the transport, with the `reason` label used for the
//! `gossip_sieve_peer_disconnects_total` metric.

use super::cipher::CipherError;
use super::handshake::HandshakeError;

/// Why a BOLT 8 connection failed. Every variant ends the connection.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The three acts did not complete within the allowed time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The peer sent a malformed or unauthenticated act.
    #[error("bad handshake act: {0}")]
    BadAct(#[from] HandshakeError),
    /// The peer closed the connection before the handshake completed.
    #[error("peer closed the connection during the handshake")]
    HandshakeEof,
    /// A frame's length header or body failed authentication.
    #[error("frame failed authentication")]
    BadMac,
    /// We were asked to send more than 65535 bytes in one message.
    #[error("message of {0} bytes exceeds the 65535-byte frame limit")]
    OversizedFrame(usize),
    /// The peer closed the connection in the middle of a frame.
    #[error("peer closed the connection mid-frame")]
    EofMidFrame,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl TransportError {
    /// Every value [`Self::reason`] can return, for initializing metric series at start.
    pub const ALL_REASONS: [&'static str; 7] = [
        "handshake_timeout",
        "bad_act",
        "handshake_eof",
        "bad_mac",
        "oversized_frame",
        "eof_mid_frame",
        "io",
    ];

    /// lower_snake_case label for the disconnect-reason metric.
    pub fn reason(&self) -> &'static str {
        match self {
            TransportError::HandshakeTimeout => "handshake_timeout",
            TransportError::BadAct(_) => "bad_act",
            TransportError::HandshakeEof => "handshake_eof",
            TransportError::BadMac => "bad_mac",
            TransportError::OversizedFrame(_) => "oversized_frame",
            TransportError::EofMidFrame => "eof_mid_frame",
            TransportError::Io(_) => "io",
        }
    }
}

impl From<CipherError> for TransportError {
    fn from(e: CipherError) -> Self {
        match e {
            CipherError::Oversized(n) => TransportError::OversizedFrame(n),
            // A wrong-length body can only come from a peer whose frame we could not
            // authenticate, so it is reported as a MAC failure.
            CipherError::BadMac | CipherError::WrongLength => TransportError::BadMac,
        }
    }
}
