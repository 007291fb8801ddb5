//! The three BOLT 8 primitives shared by the handshake and the message cipher: HKDF with an
//! empty info, ChaCha20-Poly1305 with the BOLT 8 nonce layout, and SHA256 mixing.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

/// Poly1305 tag length.
pub const MAC_LEN: usize = 16;

/// BOLT 8 `HKDF(salt, ikm)`: HKDF-SHA256 with a zero-length info, 64 bytes split in two halves.
pub fn hkdf_two(salt: &[u8; 32], ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
    let mut okm = [0u8; 64];
    // 64 bytes is far below HKDF-SHA256's 255*32 output limit, so `expand` cannot fail; the
    // fallback keeps this panic-free regardless.
    if Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(&[], &mut okm)
        .is_err()
    {
        okm = [0u8; 64];
    }
    let mut first = [0u8; 32];
    let mut second = [0u8; 32];
    first.copy_from_slice(&okm[..32]);
    second.copy_from_slice(&okm[32..]);
    (first, second)
}

/// BOLT 8: "the nonce n ... encoded as 32 zero bits, followed by a little-endian 64-bit value".
fn nonce96(n: u64) -> Nonce {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_le_bytes());
    Nonce::from(nonce)
}

/// `encryptWithAD(k, n, ad, plaintext)`: ciphertext followed by the 16-byte MAC.
pub fn encrypt_with_ad(key: &[u8; 32], n: u64, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    // The AEAD only fails for plaintexts beyond 2^38 bytes; ours are at most 65535.
    cipher
        .encrypt(
            &nonce96(n),
            Payload {
                msg: plaintext,
                aad: ad,
            },
        )
        .unwrap_or_default()
}

/// `decryptWithAD(k, n, ad, ciphertext)`; `None` when the MAC does not verify.
pub fn decrypt_with_ad(key: &[u8; 32], n: u64, ad: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    cipher
        .decrypt(
            &nonce96(n),
            Payload {
                msg: ciphertext,
                aad: ad,
            },
        )
        .ok()
}

/// `SHA256(a || b)`, the handshake hash update.
pub fn sha256_concat(a: &[u8], b: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(a);
    hasher.update(b);
    hasher.finalize().into()
}
