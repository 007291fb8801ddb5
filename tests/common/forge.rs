//! Hand-built gossip signed with the crate's own corpus signer, so a valid message really
//! verifies and a broken one is broken in exactly one way.

use gossip_sieve::clock::unix_now;
use gossip_sieve::config::Network;
use gossip_sieve::sim::corpus::{negate_s, sign_announcement_with, sign_single};
use gossip_sieve::wire::address::Address;
use gossip_sieve::wire::gossip::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
use secp256k1::{PublicKey, SecretKey, SECP256K1};

pub fn chain() -> [u8; 32] {
    Network::Bitcoin.chain_hash()
}

/// A timestamp an hour old: inside every default window.
pub fn recent() -> u32 {
    unix_now() - 3600
}

/// scid of output 0 of transaction 1 in `block`.
pub fn scid(block: u64) -> u64 {
    (block << 40) | (1 << 16)
}

fn public(key: &SecretKey) -> [u8; 33] {
    PublicKey::from_secret_key(SECP256K1, key).serialize()
}

fn random_key() -> SecretKey {
    SecretKey::new(&mut rand::thread_rng())
}

/// One channel with fresh keys: its announcement, updates and endpoint announcements.
pub struct Channel {
    pub scid: u64,
    /// Ordered so that `node[0]`'s id is below `node[1]`'s (BOLT 7 node_id_1 < node_id_2).
    node: [SecretKey; 2],
    bitcoin: [SecretKey; 2],
}

impl Channel {
    pub fn new(scid: u64) -> Self {
        Self::between(scid, random_key(), random_key())
    }

    /// A channel between two given node keys (in either order), fresh bitcoin keys.
    pub fn between(scid: u64, a: SecretKey, b: SecretKey) -> Self {
        let node = if public(&a) < public(&b) {
            [a, b]
        } else {
            [b, a]
        };
        Channel {
            scid,
            node,
            bitcoin: [random_key(), random_key()],
        }
    }

    /// The side (0 or 1) whose node id is `node_id`.
    pub fn side_of(&self, node_id: &[u8; 33]) -> Option<usize> {
        (0..2).find(|side| self.node_id(*side) == *node_id)
    }

    pub fn node_id(&self, side: usize) -> [u8; 33] {
        public(&self.node[side])
    }

    /// The unsigned announcement, to change before [`Self::sign_announcement`].
    pub fn announcement_fields(&self) -> ChannelAnnouncement {
        ChannelAnnouncement {
            node_signature_1: [0; 64],
            node_signature_2: [0; 64],
            bitcoin_signature_1: [0; 64],
            bitcoin_signature_2: [0; 64],
            features: Vec::new(),
            chain_hash: chain(),
            short_channel_id: self.scid,
            node_id_1: self.node_id(0),
            node_id_2: self.node_id(1),
            bitcoin_key_1: public(&self.bitcoin[0]),
            bitcoin_key_2: public(&self.bitcoin[1]),
            excess: Vec::new(),
        }
    }

    /// Signs `ca` with this channel's four keys, in slot order.
    pub fn sign_announcement(&self, ca: &ChannelAnnouncement) -> Vec<u8> {
        let [n1, n2] = self.node;
        let [b1, b2] = self.bitcoin;
        sign_announcement_with(ca.serialize(), [n1, n2, b1, b2])
    }

    pub fn announcement(&self) -> Vec<u8> {
        self.sign_announcement(&self.announcement_fields())
    }

    pub fn update_fields(&self, direction: u8, timestamp: u32) -> ChannelUpdate {
        ChannelUpdate {
            signature: [0; 64],
            chain_hash: chain(),
            short_channel_id: self.scid,
            timestamp,
            message_flags: 1,
            channel_flags: direction,
            cltv_expiry_delta: 144,
            htlc_minimum_msat: 1000,
            fee_base_msat: 1000,
            fee_proportional_millionths: 100,
            htlc_maximum_msat: Some(1_000_000_000),
            excess: Vec::new(),
        }
    }

    /// Signs `cu` with the key of the direction its `channel_flags` name.
    pub fn sign_update(&self, cu: &ChannelUpdate) -> Vec<u8> {
        sign_single(cu.serialize(), &self.node[usize::from(cu.direction())])
    }

    pub fn update(&self, direction: u8, timestamp: u32) -> Vec<u8> {
        self.sign_update(&self.update_fields(direction, timestamp))
    }

    pub fn node_fields(&self, side: usize, timestamp: u32) -> NodeAnnouncement {
        let mut alias = [0u8; 32];
        alias[..6].copy_from_slice(b"forged");
        NodeAnnouncement {
            signature: [0; 64],
            features: Vec::new(),
            timestamp,
            node_id: self.node_id(side),
            rgb_color: [1, 2, 3],
            alias,
            addresses: vec![Address::Ipv4 {
                addr: [127, 0, 0, 1],
                port: 9735,
            }],
            excess: Vec::new(),
        }
    }

    /// Signs `na` with the key of `side`.
    pub fn sign_node(&self, side: usize, na: &NodeAnnouncement) -> Vec<u8> {
        sign_single(na.serialize(), &self.node[side])
    }

    pub fn node_announcement(&self, side: usize, timestamp: u32) -> Vec<u8> {
        self.sign_node(side, &self.node_fields(side, timestamp))
    }

    /// Announcement, both updates and both node announcements, all recent and valid.
    pub fn all(&self) -> Vec<Vec<u8>> {
        let at = recent();
        vec![
            self.announcement(),
            self.update(0, at),
            self.update(1, at),
            self.node_announcement(0, at),
            self.node_announcement(1, at),
        ]
    }
}

/// `msg` with signature `slot` (0 for single-signature messages) replaced by its high-S twin:
/// the same point, which BOLT 7 peers must reject rather than normalise.
pub fn high_s(msg: &[u8], slot: usize) -> Vec<u8> {
    let mut out = msg.to_vec();
    let at = 2 + 64 * slot;
    let mut sig: [u8; 64] = out[at..at + 64].try_into().expect("signature");
    negate_s(&mut sig);
    out[at..at + 64].copy_from_slice(&sig);
    out
}

/// `msg` with one bit of signature `slot`'s r flipped: well-formed, but not a signature of it.
pub fn bad_signature(msg: &[u8], slot: usize) -> Vec<u8> {
    let mut out = msg.to_vec();
    out[2 + 64 * slot + 31] ^= 1;
    out
}
