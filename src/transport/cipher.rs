//! The post-handshake BOLT 8 message cipher: each message is an encrypted 2-byte length with its
//! MAC (18 bytes) followed by the encrypted body with its MAC. Each direction has its own key,
//! nonce and chaining key, so the reading and writing halves of a connection never share state.

use super::crypto::{hkdf_two, AeadKey, MAC_LEN};

/// Encrypted length prefix plus its MAC.
pub const HEADER_LEN: usize = 2 + MAC_LEN;
/// BOLT 8: "The maximum size of any Lightning message MUST NOT exceed 65535 bytes."
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;
/// BOLT 8 key rotation: "A key is to be rotated after a party encrypts or decrypts 1000 times
/// with it (i.e. every 500 messages)."
const ROTATE_AFTER: u64 = 1000;

/// Why a frame could not be encrypted or decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("message of {0} bytes exceeds the 65535-byte limit")]
    Oversized(usize),
    #[error("MAC check failed")]
    BadMac,
    #[error("frame has the wrong length")]
    WrongLength,
}

/// One direction's cipher state: key, nonce counter and chaining key.
#[derive(Clone)]
pub struct CipherDirection {
    pub(super) key: [u8; 32],
    pub(super) ck: [u8; 32],
    nonce: u64,
    /// `key`, set up for the AEAD once per rotation rather than once per frame.
    aead: AeadKey,
}

impl std::fmt::Debug for CipherDirection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("CipherDirection")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl CipherDirection {
    fn new(key: [u8; 32], ck: [u8; 32]) -> Self {
        CipherDirection {
            key,
            ck,
            nonce: 0,
            aead: AeadKey::new(&key),
        }
    }

    /// Runs one encryption or decryption with the current key and nonce, then advances the
    /// nonce, rotating the key when it reaches 1000. Nonce 999 is still used with the old key
    /// (the body of message 500), so the rotation comes after the use.
    fn with_next<T>(&mut self, use_key: impl FnOnce(&AeadKey, u64) -> T) -> T {
        let out = use_key(&self.aead, self.nonce);
        self.nonce += 1;
        if self.nonce == ROTATE_AFTER {
            // BOLT 8: "ck', k' = HKDF(ck, k)", then reset the nonce to 0.
            let (ck, key) = hkdf_two(&self.ck, &self.key);
            self.ck = ck;
            self.key = key;
            self.aead = AeadKey::new(&key);
            self.nonce = 0;
        }
        out
    }

    /// Encrypts one whole message into its wire bytes (header then body).
    pub fn encrypt_message(&mut self, msg: &[u8]) -> Result<Vec<u8>, CipherError> {
        let len = u16::try_from(msg.len()).map_err(|_| CipherError::Oversized(msg.len()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + msg.len() + MAC_LEN);
        self.with_next(|k, n| k.seal_append(n, &[], &len.to_be_bytes(), &mut out));
        self.with_next(|k, n| k.seal_append(n, &[], msg, &mut out));
        Ok(out)
    }

    /// Decrypts the 18-byte header and returns the body length that follows (without its MAC).
    pub fn decrypt_header(&mut self, header: &[u8]) -> Result<u16, CipherError> {
        let mut buf: [u8; HEADER_LEN] = header.try_into().map_err(|_| CipherError::WrongLength)?;
        match self.with_next(|k, n| k.open(n, &[], &mut buf)) {
            Some([hi, lo]) => Ok(u16::from_be_bytes([*hi, *lo])),
            Some(_) => Err(CipherError::WrongLength),
            None => Err(CipherError::BadMac),
        }
    }

    /// Decrypts a body of `len + 16` bytes whose length came from [`Self::decrypt_header`].
    pub fn decrypt_body(&mut self, body: &[u8]) -> Result<Vec<u8>, CipherError> {
        let mut buf = body.to_vec();
        let len = self.decrypt_body_in_place(&mut buf)?.len();
        buf.truncate(len);
        Ok(buf)
    }

    /// [`Self::decrypt_body`] in place: `body` (ciphertext and MAC) is overwritten, and the
    /// plaintext is its first `len` bytes. No allocation: a duplicate that is discarded
    /// never needs a copy of its own.
    pub fn decrypt_body_in_place<'a>(
        &mut self,
        body: &'a mut [u8],
    ) -> Result<&'a [u8], CipherError> {
        if body.len() < MAC_LEN {
            return Err(CipherError::WrongLength);
        }
        match self.with_next(|k, n| k.open(n, &[], body)) {
            Some(plain) => Ok(plain),
            None => Err(CipherError::BadMac),
        }
    }
}

/// The two directions produced by a completed handshake.
#[derive(Clone, Debug)]
pub struct TransportKeys {
    pub sending: CipherDirection,
    pub receiving: CipherDirection,
}

impl TransportKeys {
    /// Both directions start from the handshake's final chaining key (BOLT 8: "sck = ck and
    /// rck = ck").
    pub(crate) fn new(sk: [u8; 32], rk: [u8; 32], ck: [u8; 32]) -> Self {
        TransportKeys {
            sending: CipherDirection::new(sk, ck),
            receiving: CipherDirection::new(rk, ck),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{hex, load};
    use crate::transport::crypto::encrypt_with_ad;

    fn key32(v: &serde_json::Value) -> [u8; 32] {
        hex(v).try_into().expect("32-byte key")
    }

    /// Initiator keys from the vector and the matching responder keys (directions swapped).
    fn vector_keys() -> (serde_json::Value, TransportKeys, TransportKeys) {
        let v = load("bolt8_vectors.json")["message_encryption"].clone();
        let (sk, rk, ck) = (key32(&v["sk"]), key32(&v["rk"]), key32(&v["ck"]));
        (
            v,
            TransportKeys::new(sk, rk, ck),
            TransportKeys::new(rk, sk, ck),
        )
    }

    #[test]
    fn message_encryption_vectors_and_rotations() {
        let (v, mut initiator, mut responder) = vector_keys();
        let plaintext = hex(&v["plaintext"]);
        let outputs = v["outputs"].as_object().expect("outputs");
        let rotations = v["rotations"].as_array().expect("rotations");
        let mut checked = 0;
        for i in 0..=1001u32 {
            let wire = initiator
                .sending
                .encrypt_message(&plaintext)
                .expect("encrypt");
            if let Some(expected) = outputs.get(&i.to_string()) {
                assert_eq!(wire, hex(expected), "message {i}");
                checked += 1;
            }
            // Two nonces per message: the key rotates after messages 499 and 999.
            let rotation = match i {
                499 => rotations.first(),
                999 => rotations.get(1),
                _ => None,
            };
            if let Some(r) = rotation {
                assert_eq!(initiator.sending.key, key32(&r["new_k"]), "key after {i}");
                assert_eq!(initiator.sending.ck, key32(&r["new_ck"]), "ck after {i}");
                assert_eq!(initiator.sending.nonce, 0);
            }
            let (header, body) = wire.split_at(HEADER_LEN);
            let len = responder.receiving.decrypt_header(header).expect("header");
            assert_eq!(usize::from(len), plaintext.len());
            assert_eq!(
                responder.receiving.decrypt_body(body).expect("body"),
                plaintext
            );
        }
        assert_eq!(checked, outputs.len());
    }

    /// The spec vectors check messages 0, 1, 500, 501, 1000 and 1001 only; message 499 (the
    /// 500th) straddles the rotation: its length uses nonce 998 and its body nonce 999, both
    /// under the old key (LDK closed the connection here when the body used the new key).
    #[test]
    fn message_before_rotation_uses_the_old_key_for_its_body() {
        let (v, mut initiator, _) = vector_keys();
        let plaintext = hex(&v["plaintext"]);
        for _ in 0..499 {
            initiator.sending.encrypt_message(&plaintext).expect("enc");
        }
        let old_key = initiator.sending.key;
        let wire = initiator.sending.encrypt_message(&plaintext).expect("enc");
        let len = (plaintext.len() as u16).to_be_bytes();
        let mut expected = encrypt_with_ad(&old_key, 998, &[], &len);
        expected.extend(encrypt_with_ad(&old_key, 999, &[], &plaintext));
        assert_eq!(wire, expected);
        assert_ne!(initiator.sending.key, old_key, "rotated after message 499");
    }

    #[test]
    fn first_steps_use_the_documented_nonce_layout() {
        let (v, mut initiator, _) = vector_keys();
        let steps = v["first_steps"].as_array().expect("first_steps");
        let mut wire = Vec::new();
        for _ in 0..2 {
            wire.extend(
                initiator
                    .sending
                    .encrypt_message(&hex(&v["plaintext"]))
                    .expect("enc"),
            );
        }
        let expected: Vec<u8> = steps
            .iter()
            .flat_map(|s| hex(&s["ciphertext_and_mac"]))
            .collect();
        assert_eq!(wire, expected);
    }

    #[test]
    fn tampered_frames_fail_authentication() {
        let (_, mut initiator, _) = vector_keys();
        let wire = initiator
            .sending
            .encrypt_message(b"hello")
            .expect("encrypt");
        for flip in [0, HEADER_LEN - 1, HEADER_LEN, wire.len() - 1] {
            let (_, _, mut responder) = vector_keys();
            let mut bad = wire.clone();
            bad[flip] ^= 1;
            let (header, body) = bad.split_at(HEADER_LEN);
            let result = responder
                .receiving
                .decrypt_header(header)
                .and_then(|_| responder.receiving.decrypt_body(body));
            assert_eq!(result, Err(CipherError::BadMac), "flipped byte {flip}");
        }
    }

    #[test]
    fn size_limits() {
        let (_, mut initiator, mut responder) = vector_keys();
        let max = vec![7u8; MAX_MESSAGE_LEN];
        let wire = initiator
            .sending
            .encrypt_message(&max)
            .expect("65535 bytes is allowed");
        let (header, body) = wire.split_at(HEADER_LEN);
        assert_eq!(responder.receiving.decrypt_header(header), Ok(u16::MAX));
        assert_eq!(responder.receiving.decrypt_body(body), Ok(max));
        let over = vec![0u8; MAX_MESSAGE_LEN + 1];
        assert_eq!(
            initiator.sending.encrypt_message(&over),
            Err(CipherError::Oversized(MAX_MESSAGE_LEN + 1))
        );
        assert_eq!(
            responder.receiving.decrypt_header(&[0; 5]),
            Err(CipherError::WrongLength)
        );
        assert_eq!(
            responder.receiving.decrypt_body(&[0; 15]),
            Err(CipherError::WrongLength)
        );
    }
}
