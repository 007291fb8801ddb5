//! The three BOLT 8 primitives shared by the handshake and the message cipher: HKDF with an
//! empty info, ChaCha20-Poly1305 with the BOLT 8 nonce layout, and SHA256 mixing.

use hkdf::Hkdf;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
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
    Nonce::assume_unique_for_key(nonce)
}

/// A ChaCha20-Poly1305 key, set up once per key (the message cipher keeps one per direction
/// until rotation). ring's assembly is used rather than the RustCrypto `chacha20poly1305` 0.10
/// crate: that crate's runtime-selected AVX2 code does not inline its intrinsics with current
/// rustc, so each AEAD call cost ~1.2 µs even for a 2-byte header (benches/README.md).
#[derive(Clone)]
pub struct AeadKey(LessSafeKey);

impl AeadKey {
    pub fn new(key: &[u8; 32]) -> Self {
        // Only a wrong key length fails, and the type fixes it at 32 bytes.
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key).expect("32-byte ChaCha20 key");
        AeadKey(LessSafeKey::new(unbound))
    }

    /// `encryptWithAD`, appending the ciphertext and its 16-byte MAC to `out`.
    pub fn seal_append(&self, n: u64, ad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(plaintext);
        // Fails only beyond ChaCha20's 256 GiB per-nonce limit; ours are at most 65535 bytes.
        if let Ok(tag) =
            self.0
                .seal_in_place_separate_tag(nonce96(n), Aad::from(ad), &mut out[start..])
        {
            out.extend_from_slice(tag.as_ref());
        }
    }

    /// `decryptWithAD` in place over ciphertext + MAC; the plaintext part of `buf`, or `None`
    /// when the MAC does not verify.
    pub fn open<'a>(&self, n: u64, ad: &[u8], buf: &'a mut [u8]) -> Option<&'a mut [u8]> {
        self.0.open_in_place(nonce96(n), Aad::from(ad), buf).ok()
    }
}

/// `encryptWithAD(k, n, ad, plaintext)`: ciphertext followed by the 16-byte MAC.
pub fn encrypt_with_ad(key: &[u8; 32], n: u64, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plaintext.len() + MAC_LEN);
    AeadKey::new(key).seal_append(n, ad, plaintext, &mut out);
    out
}

/// `decryptWithAD(k, n, ad, ciphertext)`; `None` when the MAC does not verify.
pub fn decrypt_with_ad(key: &[u8; 32], n: u64, ad: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    let mut buf = ciphertext.to_vec();
    let len = AeadKey::new(key).open(n, ad, &mut buf)?.len();
    buf.truncate(len);
    Some(buf)
}

/// `SHA256(a || b)`, the handshake hash update.
pub fn sha256_concat(a: &[u8], b: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(a);
    hasher.update(b);
    hasher.finalize().into()
}
