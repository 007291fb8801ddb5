//! The plan: the graph (who has which channel, preferential attachment) and the content of
//! every message, fixed before anything is signed; [`Plan::batch`] builds and signs a range of
//! channels with their updates and first node announcements.

use std::ops::Range;

use super::invalid::{invalid_announcement, invalid_node, invalid_update, pick_class, Label};
use super::rng::Rng;
use super::signing::{derive_node_keys, derive_secret, public, sign_single, ChannelKeys, NodeKey};
use super::spec::*;
use crate::wire::address::Address;
use crate::wire::features;
use crate::wire::gossip::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
use crate::wire::GossipKind;

/// Preferential attachment: chance to pick an endpoint proportional to its degree.
pub(super) const PREFERENTIAL_CHANCE: f64 = 0.7;

pub(super) const NO_CHANNEL: u32 = u32::MAX;

/// The graph and keys, fixed before any message is built.
pub(super) struct Plan {
    pub(super) spec: CorpusSpec,
    pub(super) invalid_rate: f64,
    pub(super) nodes: Vec<NodeKey>,
    /// Endpoints per channel, already in BOLT 7 order (node_id_1 < node_id_2).
    pub(super) channels: Vec<(u32, u32)>,
    /// Index of each node's first channel, or NO_CHANNEL.
    pub(super) first_channel: Vec<u32>,
}

/// Stream labels keep the per-purpose random streams independent.
pub(super) const STREAM_GRAPH: u64 = 1;
pub(super) const STREAM_CHANNEL: u64 = 2;
pub(super) const STREAM_NODE: u64 = 3;

impl Plan {
    pub(super) fn new(spec: &CorpusSpec) -> Self {
        let node_count = u32::try_from(spec.nodes).unwrap_or(u32::MAX - 1) as usize;
        let nodes = derive_node_keys(spec.seed, node_count);
        let channel_count = if node_count < 2 {
            0
        } else {
            spec.channels.min(MAX_CHANNELS)
        };
        let mut rng = Rng::stream(spec.seed, STREAM_GRAPH, 0);
        let mut endpoints: Vec<u32> = Vec::with_capacity(2 * channel_count);
        let mut channels = Vec::with_capacity(channel_count);
        let mut first_channel = vec![NO_CHANNEL; node_count];
        let n = node_count as u64;
        for c in 0..channel_count {
            let pick = |rng: &mut Rng, endpoints: &[u32], below: u64| -> u32 {
                if !endpoints.is_empty() && rng.chance(PREFERENTIAL_CHANCE) {
                    let i = rng.below(endpoints.len() as u64) as usize;
                    if let Some(&e) = endpoints.get(i) {
                        return e;
                    }
                }
                rng.below(below) as u32
            };
            // While nodes remain unconnected, each channel brings in the next one, so every
            // node gets a channel when there are at least nodes - 1 of them.
            let (a, b) = if (c as u64) + 1 < n {
                let newcomer = c as u32 + 1;
                (newcomer, pick(&mut rng, &endpoints, u64::from(newcomer)))
            } else {
                loop {
                    let a = pick(&mut rng, &endpoints, n);
                    let b = pick(&mut rng, &endpoints, n);
                    if a != b {
                        break (a, b);
                    }
                }
            };
            endpoints.push(a);
            endpoints.push(b);
            for node in [a, b] {
                if let Some(first) = first_channel.get_mut(node as usize) {
                    if *first == NO_CHANNEL {
                        *first = c as u32;
                    }
                }
            }
            let id = |i: u32| nodes.get(i as usize).map(|k| k.id);
            // BOLT 7: node_id_1 is the lexicographically lesser of the two compressed keys.
            channels.push(if id(a) < id(b) { (a, b) } else { (b, a) });
        }
        let invalid_rate = if spec.invalid_rate.is_nan() {
            0.0
        } else {
            spec.invalid_rate.clamp(0.0, 1.0)
        };
        Plan {
            spec: *spec,
            invalid_rate,
            nodes,
            channels,
            first_channel,
        }
    }

    pub(super) fn batch(&self, range: Range<usize>) -> Vec<(Vec<u8>, Label)> {
        let mut out = Vec::with_capacity(range.len() * 4);
        for c in range {
            self.channel_messages(c, &mut out);
        }
        out
    }

    pub(super) fn node(&self, i: u32) -> &NodeKey {
        // Plan::new only stores indices below nodes.len().
        &self.nodes[i as usize]
    }

    pub(super) fn channel_messages(&self, c: usize, out: &mut Vec<(Vec<u8>, Label)>) {
        let Some(&(n1, n2)) = self.channels.get(c) else {
            return;
        };
        let spec = &self.spec;
        let mut rng = Rng::stream(spec.seed, STREAM_CHANNEL, c as u64);
        let btc1 = derive_secret(spec.seed, b"bitcoin", 2 * c as u64);
        let btc2 = derive_secret(spec.seed, b"bitcoin", 2 * c as u64 + 1);
        let block = FIRST_BLOCK + c as u64 / CHANNELS_PER_BLOCK;
        let tx_index = (c as u64 % CHANNELS_PER_BLOCK) * 1000 + 1 + rng.below(1000);
        let scid = (block << 40) | (tx_index << 16) | rng.below(3);
        let keys = ChannelKeys {
            node: [self.node(n1).secret, self.node(n2).secret],
            bitcoin: [btc1, btc2],
        };
        let ca = ChannelAnnouncement {
            node_signature_1: [0; 64],
            node_signature_2: [0; 64],
            bitcoin_signature_1: [0; 64],
            bitcoin_signature_2: [0; 64],
            features: Vec::new(),
            chain_hash: spec.chain_hash,
            short_channel_id: scid,
            node_id_1: self.node(n1).id,
            node_id_2: self.node(n2).id,
            bitcoin_key_1: public(&btc1),
            bitcoin_key_2: public(&btc2),
            excess: Vec::new(),
        };
        out.push((
            keys.sign_announcement(&ca),
            Label::Valid(GossipKind::ChannelAnnouncement),
        ));
        if rng.chance(self.invalid_rate) {
            let class = pick_class(&mut rng, GossipKind::ChannelAnnouncement);
            out.push(invalid_announcement(
                &ca,
                &keys,
                class,
                self.wrong_chain(),
                &mut rng,
            ));
        }

        let capacity_msat = (20_000 + rng.below(16_000_000)) * 1000;
        for direction in 0..2u8 {
            let signer = keys.node[usize::from(direction)];
            let cu = ChannelUpdate {
                signature: [0; 64],
                chain_hash: spec.chain_hash,
                short_channel_id: scid,
                timestamp: self.recent_timestamp(&mut rng),
                message_flags: 1,
                channel_flags: direction | if rng.chance(0.05) { 2 } else { 0 },
                cltv_expiry_delta: rng.choose(&[18, 34, 40, 72, 80, 144]),
                htlc_minimum_msat: rng.choose(&[0, 1, 1000]),
                fee_base_msat: fee_base(&mut rng),
                fee_proportional_millionths: rng.below(3000) as u32,
                htlc_maximum_msat: Some(capacity_msat / 100 * 99),
                excess: Vec::new(),
            };
            out.push((
                sign_single(cu.serialize(), &signer),
                Label::Valid(GossipKind::ChannelUpdate),
            ));
            if rng.chance(self.invalid_rate) {
                let class = pick_class(&mut rng, GossipKind::ChannelUpdate);
                out.push(invalid_update(
                    &cu,
                    &signer,
                    class,
                    self.wrong_chain(),
                    &mut rng,
                ));
            }
        }

        for node in [n1, n2] {
            if self.first_channel.get(node as usize) == Some(&(c as u32)) {
                self.node_messages(node, out);
            }
        }
    }

    pub(super) fn node_messages(&self, node: u32, out: &mut Vec<(Vec<u8>, Label)>) {
        let mut rng = Rng::stream(self.spec.seed, STREAM_NODE, u64::from(node));
        let key = self.node(node);
        let na = NodeAnnouncement {
            signature: [0; 64],
            features: node_features(&mut rng),
            timestamp: self.recent_timestamp(&mut rng),
            node_id: key.id,
            rgb_color: [rng.byte(), rng.byte(), rng.byte()],
            alias: alias(&mut rng, node),
            addresses: addresses(&mut rng, node),
            excess: Vec::new(),
        };
        out.push((
            sign_single(na.serialize(), &key.secret),
            Label::Valid(GossipKind::NodeAnnouncement),
        ));
        if rng.chance(self.invalid_rate) {
            let class = pick_class(&mut rng, GossipKind::NodeAnnouncement);
            out.push(invalid_node(&na, &key.secret, class, &mut rng));
        }
    }

    pub(super) fn recent_timestamp(&self, rng: &mut Rng) -> u32 {
        let newest = u64::from(self.spec.now.saturating_sub(1));
        newest.saturating_sub(rng.below(TIMESTAMP_SPREAD_SECS)) as u32
    }

    pub(super) fn wrong_chain(&self) -> [u8; 32] {
        if self.spec.chain_hash == BITCOIN_TESTNET_CHAIN_HASH {
            BITCOIN_MAINNET_CHAIN_HASH
        } else {
            BITCOIN_TESTNET_CHAIN_HASH
        }
    }
}

/// Mostly the popular round values, sometimes anything up to 5 sat.
pub(super) fn fee_base(rng: &mut Rng) -> u32 {
    if rng.chance(0.6) {
        rng.choose(&[0, 1, 1000])
    } else {
        rng.below(5000) as u32
    }
}

/// A plausible node feature vector: common optional bits plus a random selection of others.
pub(super) fn node_features(rng: &mut Rng) -> Vec<u8> {
    // data_loss_protect, var_onion_optin, static_remotekey, payment_secret, basic_mpp,
    // large_channel, anchors, shutdown_anysegwit, channel_type, scid_alias, zeroconf.
    const OPTIONAL: [usize; 11] = [1, 9, 13, 15, 17, 19, 23, 27, 45, 47, 51];
    let mut f = Vec::new();
    for bit in OPTIONAL {
        if rng.chance(0.8) {
            features::set(&mut f, bit);
        }
    }
    features::set(&mut f, 7); // gossip_queries: every gossiping node has it.
    f
}

pub(super) fn alias(rng: &mut Rng, node: u32) -> [u8; 32] {
    const FIRST: [&str; 8] = [
        "brave", "quiet", "lucky", "swift", "amber", "cosmic", "silent", "north",
    ];
    const SECOND: [&str; 8] = [
        "otter", "falcon", "lynx", "harbor", "relay", "satoshi", "bolt", "node",
    ];
    let text = format!("{}-{}-{}", rng.choose(&FIRST), rng.choose(&SECOND), node);
    let mut alias = [0u8; 32];
    for (dst, src) in alias.iter_mut().zip(text.bytes()) {
        *dst = src;
    }
    alias
}

/// One to three descriptors in ascending type order, one per type (BOLT 7 asks for no
/// duplicate DNS entries; unique types keep that trivially true).
pub(super) fn addresses(rng: &mut Rng, node: u32) -> Vec<Address> {
    let port = if rng.chance(0.9) {
        9735
    } else {
        1024 + rng.below(60_000) as u16
    };
    let mut out = Vec::new();
    if rng.chance(0.7) {
        let first = rng.choose(&[5u8, 23, 34, 45, 51, 66, 77, 88, 95, 104, 142, 167, 185, 203]);
        out.push(Address::Ipv4 {
            addr: [first, rng.byte(), rng.byte(), 1 + rng.byte() % 254],
            port,
        });
    }
    if rng.chance(0.3) {
        let mut addr = [0u8; 16];
        addr[0] = 0x2a;
        addr[1] = 0x01;
        for b in addr.iter_mut().skip(2) {
            *b = rng.byte();
        }
        out.push(Address::Ipv6 { addr, port });
    }
    if rng.chance(0.01) {
        let mut addr = [0u8; 10];
        addr.iter_mut().for_each(|b| *b = rng.byte());
        out.push(Address::TorV2 { addr, port });
    }
    if out.is_empty() || rng.chance(0.4) {
        let mut ed25519_pubkey = [0u8; 32];
        ed25519_pubkey.iter_mut().for_each(|b| *b = rng.byte());
        out.push(Address::TorV3 {
            ed25519_pubkey,
            checksum: rng.below(1 << 16) as u16,
            version: 3,
            port,
        });
    }
    if rng.chance(0.1) {
        out.push(Address::Dns {
            hostname: format!("ln{node}.example.net").into_bytes(),
            port,
        });
    }
    out
}
