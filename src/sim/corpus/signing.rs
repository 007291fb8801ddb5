//! Keys and signatures: node and bitcoin keys derived from the seed, RFC 6979 signing of the
//! BOLT 7 digests, and the high-S form of a signature for invalid copies.

use std::ops::Range;

use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};
use sha2::{Digest, Sha256};

use crate::wire::gossip::{
    signed_digest, ChannelAnnouncement, CHANNEL_ANNOUNCEMENT_SIGNED_FROM, SINGLE_SIG_SIGNED_FROM,
};

/// secp256k1 group order n, big-endian: a high-S signature has s' = n - s.
pub(super) const CURVE_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

pub(super) struct NodeKey {
    pub(super) secret: SecretKey,
    pub(super) id: [u8; 33],
}

pub(super) struct ChannelKeys {
    pub(super) node: [SecretKey; 2],
    pub(super) bitcoin: [SecretKey; 2],
}

impl ChannelKeys {
    /// Signing order of the four channel_announcement signatures.
    pub(super) fn signers(&self) -> [SecretKey; 4] {
        [self.node[0], self.node[1], self.bitcoin[0], self.bitcoin[1]]
    }

    /// Serializes `ca` with all four signatures filled in.
    pub(super) fn sign_announcement(&self, ca: &ChannelAnnouncement) -> Vec<u8> {
        sign_announcement_with(ca.serialize(), self.signers())
    }
}

/// Fills the four signature slots (offsets 2, 66, 130, 194) of a serialized announcement, in
/// the order node_1, node_2, bitcoin_1, bitcoin_2. Public so tests can sign hand-built messages.
pub fn sign_announcement_with(mut msg: Vec<u8>, signers: [SecretKey; 4]) -> Vec<u8> {
    let Some(digest) = signed_digest(&msg, CHANNEL_ANNOUNCEMENT_SIGNED_FROM) else {
        return msg;
    };
    for (slot, key) in signers.iter().enumerate() {
        put_signature(&mut msg, slot, sign(digest, key));
    }
    msg
}

/// Signs a serialized node_announcement or channel_update in place.
pub fn sign_single(mut msg: Vec<u8>, key: &SecretKey) -> Vec<u8> {
    if let Some(digest) = signed_digest(&msg, SINGLE_SIG_SIGNED_FROM) {
        put_signature(&mut msg, 0, sign(digest, key));
    }
    msg
}

pub(super) fn put_signature(msg: &mut [u8], slot: usize, sig: [u8; 64]) {
    let at = 2 + 64 * slot;
    if let Some(dst) = msg.get_mut(at..at + 64) {
        dst.copy_from_slice(&sig);
    }
}

pub(super) fn signature_at(msg: &[u8], slot: usize) -> [u8; 64] {
    let at = 2 + 64 * slot;
    msg.get(at..at + 64)
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .unwrap_or([0; 64])
}

pub(super) fn sign(digest: [u8; 32], key: &SecretKey) -> [u8; 64] {
    SECP256K1
        .sign_ecdsa(&Message::from_digest(digest), key)
        .serialize_compact()
}

/// Replaces s by n - s in a compact signature (r || s): same point, high-S form.
pub fn negate_s(sig: &mut [u8; 64]) {
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let diff = i16::from(CURVE_ORDER[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(diff < 0);
        sig[32 + i] = (diff + 256 * borrow) as u8;
    }
}

pub(super) fn public(secret: &SecretKey) -> [u8; 33] {
    PublicKey::from_secret_key(SECP256K1, secret).serialize()
}

/// secret = SHA256(seed || label || index || attempt), retried until it is a valid scalar.
pub(super) fn derive_secret(seed: u64, label: &[u8], index: u64) -> SecretKey {
    let mut attempt = 0u32;
    loop {
        let mut h = Sha256::new();
        h.update(seed.to_be_bytes());
        h.update(label);
        h.update(index.to_be_bytes());
        h.update(attempt.to_be_bytes());
        if let Ok(key) = SecretKey::from_slice(&h.finalize()) {
            return key;
        }
        attempt = attempt.wrapping_add(1);
    }
}

/// Node keys, derived on two threads (a key derivation is a scalar multiplication).
pub(super) fn derive_node_keys(seed: u64, count: usize) -> Vec<NodeKey> {
    let derive = |range: Range<usize>| -> Vec<NodeKey> {
        range
            .map(|i| {
                let secret = derive_secret(seed, b"node", i as u64);
                NodeKey {
                    id: public(&secret),
                    secret,
                }
            })
            .collect()
    };
    let half = count / 2;
    std::thread::scope(|scope| {
        let second = scope.spawn(|| derive(half..count));
        let mut keys = derive(0..half);
        match second.join() {
            Ok(rest) => keys.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        keys
    })
}
