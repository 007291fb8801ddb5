//! BOLT 8 transport: the Noise_XK handshake and the encrypted, length-prefixed framing.
//!
//! Owns the socket bytes up to whole decrypted messages (at most 65535 bytes each) and hands
//! them to `peer`; it never parses a message. [`handshake`] is the pure act-by-act state
//! machine, [`cipher`] the per-direction frame cipher with key rotation, [`io`] drives both over
//! tokio, and [`TransportError::reason`] is the disconnect-reason metric label.

pub mod cipher;
mod crypto;
pub mod error;
pub mod handshake;
pub mod io;

pub use error::TransportError;
pub use io::{
    handshake_initiator, handshake_initiator_split, handshake_responder, handshake_responder_split,
    Bolt8Reader, Bolt8Writer,
};
