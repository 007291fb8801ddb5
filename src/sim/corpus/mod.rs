//! Deterministic, validly signed gossip corpora (plus labelled invalid copies) for `demo`,
//! tests and benches.
//!
//! Everything is a pure function of [`CorpusSpec`]: keys come from SHA-256 of the seed, the
//! graph from a SplitMix64 stream, each channel's content from its own stream, and signatures
//! are RFC 6979 deterministic. Messages are produced in batches of channels, signed on two
//! threads, and handed out in a fixed order, so only one batch pair is ever in memory.
//!
//! Order: each channel_announcement is followed by its two channel_updates (direction 0 then 1),
//! then by the node_announcements of those endpoints for which this is their first channel. An
//! invalid copy, when drawn, comes right after the valid message it was made from. Invalid
//! copies never share a dedup key with a valid message (a channel_announcement copy uses an
//! unused scid, update and node copies use `timestamp + 1`), so a pipeline cannot drop them as
//! duplicates and must catch them by the defect their class names.

use std::collections::VecDeque;
use std::ops::Range;

use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};
use sha2::{Digest, Sha256};

use crate::wire::address::Address;
use crate::wire::features;
use crate::wire::gossip::{
    signed_digest, ChannelAnnouncement, ChannelUpdate, NodeAnnouncement,
    CHANNEL_ANNOUNCEMENT_SIGNED_FROM, SINGLE_SIG_SIGNED_FROM,
};
use crate::wire::scid::MAX_3_BYTES;
use crate::wire::GossipKind;

/// Bitcoin mainnet genesis block hash in wire order (BOLT 7 `chain_hash`).
pub const BITCOIN_MAINNET_CHAIN_HASH: [u8; 32] = [
    0x6f, 0xe2, 0x8c, 0x0a, 0xb6, 0xf1, 0xb3, 0x72, 0xc1, 0xa6, 0xa2, 0x46, 0xae, 0x63, 0xf7, 0x4f,
    0x93, 0x1e, 0x83, 0x65, 0xe1, 0x5a, 0x08, 0x9c, 0x68, 0xd6, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00,
];
/// Bitcoin testnet3 genesis block hash in wire order; the "wrong chain" of invalid copies.
pub const BITCOIN_TESTNET_CHAIN_HASH: [u8; 32] = [
    0x43, 0x49, 0x7f, 0xd7, 0xf8, 0x26, 0x95, 0x71, 0x08, 0xf4, 0xa3, 0x0f, 0xd9, 0xce, 0xc3, 0xae,
    0xba, 0x79, 0x97, 0x20, 0x84, 0xe9, 0x0e, 0xad, 0x01, 0xea, 0x33, 0x09, 0x00, 0x00, 0x00, 0x00,
];

/// Mainnet order of magnitude (public graph, 2024).
pub const MAINNET_NODES: usize = 17_000;
pub const MAINNET_CHANNELS: usize = 54_000;

/// Valid timestamps fall in `[now - TIMESTAMP_SPREAD_SECS, now - 1]`: recent enough for LDK's
/// staleness window, and one second of room so `timestamp + 1` copies are not in the future.
const TIMESTAMP_SPREAD_SECS: u64 = 3 * 24 * 3600;
/// First block height of generated scids (a plausible mainnet height).
const FIRST_BLOCK: u64 = 505_000;
/// Channels per block: scid = (FIRST_BLOCK + c / 4, slot * 1000 + 1 + r, out) is unique per c.
const CHANNELS_PER_BLOCK: u64 = 4;
/// Valid scids use output index < this; invalid channel_announcement copies set this bit.
const INVALID_SCID_OUTPUT_BIT: u64 = 0x8000;
/// Channels per worker batch: big enough to amortise a thread spawn, small enough that a batch
/// pair (~0.5 MB of messages) is all the generator ever holds.
const BATCH_CHANNELS: usize = 256;
/// Largest channel count whose scids still fit the 3-byte block field.
const MAX_CHANNELS: usize = ((MAX_3_BYTES as u64 - FIRST_BLOCK) * CHANNELS_PER_BLOCK) as usize;
/// Preferential attachment: chance to pick an endpoint proportional to its degree.
const PREFERENTIAL_CHANCE: f64 = 0.7;

/// secp256k1 group order n, big-endian: a high-S signature has s' = n - s.
const CURVE_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CorpusSpec {
    pub nodes: usize,
    /// Capped at about 65 million so scids stay unique.
    pub channels: usize,
    pub seed: u64,
    /// Chance, per valid message, that an invalid copy of it follows (clamped to 0..=1).
    pub invalid_rate: f64,
    pub chain_hash: [u8; 32],
    /// Unix time the timestamps are relative to; none is later than this.
    pub now: u32,
}

impl CorpusSpec {
    /// Mainnet-sized graph with 1% invalid copies.
    pub fn mainnet(seed: u64, now: u32) -> Self {
        CorpusSpec {
            nodes: MAINNET_NODES,
            channels: MAINNET_CHANNELS,
            seed,
            invalid_rate: 0.01,
            chain_hash: BITCOIN_MAINNET_CHAIN_HASH,
            now,
        }
    }
}

impl Default for CorpusSpec {
    /// Mainnet-sized, seed 0, `now` = the current wall-clock time (so the output depends on
    /// when it is built; set `now` explicitly for reproducible bytes).
    fn default() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            .unwrap_or(0);
        CorpusSpec::mainnet(0, now)
    }
}

/// The defect an invalid copy carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvalidClass {
    /// A well-formed signature that does not match (channel_announcement: exactly one of the
    /// four is by the wrong key; others: signed fields changed after signing).
    BadSignature,
    /// A correct signature with s replaced by n - s; libsecp256k1 rejects it, BOLT 7 peers must
    /// not normalise it.
    HighS,
    /// Validly signed for another chain (testnet, or mainnet if the spec is testnet).
    WrongChain,
    /// Cut short inside its known fields, so it fails to parse.
    Truncated,
    /// channel_announcement with node_id_1 > node_id_2, otherwise validly signed.
    BadNodeOrder,
}

impl InvalidClass {
    pub const ALL: [InvalidClass; 5] = [
        InvalidClass::BadSignature,
        InvalidClass::HighS,
        InvalidClass::WrongChain,
        InvalidClass::Truncated,
        InvalidClass::BadNodeOrder,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InvalidClass::BadSignature => "bad_signature",
            InvalidClass::HighS => "high_s",
            InvalidClass::WrongChain => "wrong_chain",
            InvalidClass::Truncated => "truncated",
            InvalidClass::BadNodeOrder => "bad_node_order",
        }
    }

    /// The DESIGN §4 drop `reason` a correct pipeline records for this class.
    pub fn expected_drop_reason(self) -> &'static str {
        match self {
            InvalidClass::BadSignature | InvalidClass::HighS => "invalid_signature",
            InvalidClass::WrongChain => "wrong_chain",
            InvalidClass::Truncated => "malformed",
            InvalidClass::BadNodeOrder => "bad_node_order",
        }
    }

    /// Classes that make sense for a kind (node_announcement has no chain or node pair).
    pub fn applicable(kind: GossipKind) -> &'static [InvalidClass] {
        use InvalidClass::*;
        match kind {
            GossipKind::ChannelAnnouncement => {
                &[BadSignature, HighS, WrongChain, Truncated, BadNodeOrder]
            }
            GossipKind::ChannelUpdate => &[BadSignature, HighS, WrongChain, Truncated],
            GossipKind::NodeAnnouncement => &[BadSignature, HighS, Truncated],
        }
    }
}

/// What a generated message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    Valid(GossipKind),
    Invalid(GossipKind, InvalidClass),
}

impl Label {
    pub fn kind(self) -> GossipKind {
        match self {
            Label::Valid(kind) | Label::Invalid(kind, _) => kind,
        }
    }
}

/// Counts of what was produced. Every valid message is unique (no duplicates are generated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenerateStats {
    /// Valid messages per kind, indexed by [`GossipKind::index`].
    pub valid: [u64; 3],
    /// Invalid copies per class, indexed by [`InvalidClass::index`].
    pub invalid: [u64; 5],
    /// Invalid copies per kind, indexed by [`GossipKind::index`].
    pub invalid_by_kind: [u64; 3],
    /// Total message bytes (without any framing).
    pub bytes: u64,
}

impl GenerateStats {
    pub fn valid_of(&self, kind: GossipKind) -> u64 {
        self.valid.get(kind.index()).copied().unwrap_or(0)
    }

    pub fn invalid_of(&self, class: InvalidClass) -> u64 {
        self.invalid.get(class.index()).copied().unwrap_or(0)
    }

    pub fn total_valid(&self) -> u64 {
        self.valid.iter().sum()
    }

    pub fn total_invalid(&self) -> u64 {
        self.invalid.iter().sum()
    }

    pub fn total(&self) -> u64 {
        self.total_valid() + self.total_invalid()
    }

    /// Valid signatures a correct verifier checks (4 per channel_announcement, 1 otherwise).
    pub fn valid_signatures(&self) -> u64 {
        GossipKind::ALL
            .iter()
            .map(|k| self.valid_of(*k) * k.signature_count())
            .sum()
    }

    fn record(&mut self, label: Label, len: usize) {
        self.bytes += len as u64;
        match label {
            Label::Valid(kind) => bump(&mut self.valid, kind.index()),
            Label::Invalid(kind, class) => {
                bump(&mut self.invalid, class.index());
                bump(&mut self.invalid_by_kind, kind.index());
            }
        }
    }
}

fn bump(counts: &mut [u64], index: usize) {
    if let Some(c) = counts.get_mut(index) {
        *c += 1;
    }
}

/// Streams the corpus into `sink` and returns what it produced.
pub fn generate(spec: &CorpusSpec, mut sink: impl FnMut(Vec<u8>)) -> GenerateStats {
    generate_labeled(spec, |msg, _| sink(msg))
}

/// Like [`generate`], also telling the sink what each message is.
pub fn generate_labeled(spec: &CorpusSpec, mut sink: impl FnMut(Vec<u8>, Label)) -> GenerateStats {
    let mut corpus = Corpus::new(spec);
    while let Some((msg, label)) = corpus.next_labeled() {
        sink(msg, label);
    }
    corpus.stats
}

/// Pull-style generator: an iterator of wire messages (type first).
pub struct Corpus {
    plan: Plan,
    next_channel: usize,
    ready: VecDeque<(Vec<u8>, Label)>,
    stats: GenerateStats,
}

impl Corpus {
    /// Derives every node key and the channel graph up front (no signing yet).
    pub fn new(spec: &CorpusSpec) -> Self {
        Corpus {
            plan: Plan::new(spec),
            next_channel: 0,
            ready: VecDeque::new(),
            stats: GenerateStats::default(),
        }
    }

    /// Counts of everything handed out so far.
    pub fn stats(&self) -> &GenerateStats {
        &self.stats
    }

    /// Channels in the planned graph (may be fewer than asked when there are < 2 nodes).
    pub fn channel_count(&self) -> usize {
        self.plan.channels.len()
    }

    /// Nodes with at least one channel, i.e. the node_announcements to expect.
    pub fn announced_node_count(&self) -> usize {
        self.plan
            .first_channel
            .iter()
            .filter(|c| **c != NO_CHANNEL)
            .count()
    }

    pub fn next_labeled(&mut self) -> Option<(Vec<u8>, Label)> {
        if self.ready.is_empty() {
            self.refill();
        }
        let (msg, label) = self.ready.pop_front()?;
        self.stats.record(label, msg.len());
        Some((msg, label))
    }

    /// Signs the next two batches, one on a helper thread, and queues them in channel order.
    fn refill(&mut self) {
        let total = self.plan.channels.len();
        let start = self.next_channel;
        if start >= total {
            return;
        }
        let mid = (start + BATCH_CHANNELS).min(total);
        let end = (mid + BATCH_CHANNELS).min(total);
        let plan = &self.plan;
        let (first, second) = std::thread::scope(|scope| {
            let helper = (mid < end).then(|| scope.spawn(|| plan.batch(mid..end)));
            let first = plan.batch(start..mid);
            let second = match helper.map(|h| h.join()) {
                Some(Ok(batch)) => batch,
                // A panic in generation is a bug in this module; surface it where it happened.
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => Vec::new(),
            };
            (first, second)
        });
        self.ready.extend(first);
        self.ready.extend(second);
        self.next_channel = end;
    }
}

impl Iterator for Corpus {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        self.next_labeled().map(|(msg, _)| msg)
    }
}

const NO_CHANNEL: u32 = u32::MAX;

struct NodeKey {
    secret: SecretKey,
    id: [u8; 33],
}

/// The graph and keys, fixed before any message is built.
struct Plan {
    spec: CorpusSpec,
    invalid_rate: f64,
    nodes: Vec<NodeKey>,
    /// Endpoints per channel, already in BOLT 7 order (node_id_1 < node_id_2).
    channels: Vec<(u32, u32)>,
    /// Index of each node's first channel, or NO_CHANNEL.
    first_channel: Vec<u32>,
}

/// Stream labels keep the per-purpose random streams independent.
const STREAM_GRAPH: u64 = 1;
const STREAM_CHANNEL: u64 = 2;
const STREAM_NODE: u64 = 3;

impl Plan {
    fn new(spec: &CorpusSpec) -> Self {
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

    fn batch(&self, range: Range<usize>) -> Vec<(Vec<u8>, Label)> {
        let mut out = Vec::with_capacity(range.len() * 4);
        for c in range {
            self.channel_messages(c, &mut out);
        }
        out
    }

    fn node(&self, i: u32) -> &NodeKey {
        // Plan::new only stores indices below nodes.len().
        &self.nodes[i as usize]
    }

    fn channel_messages(&self, c: usize, out: &mut Vec<(Vec<u8>, Label)>) {
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

    fn node_messages(&self, node: u32, out: &mut Vec<(Vec<u8>, Label)>) {
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

    fn recent_timestamp(&self, rng: &mut Rng) -> u32 {
        let newest = u64::from(self.spec.now.saturating_sub(1));
        newest.saturating_sub(rng.below(TIMESTAMP_SPREAD_SECS)) as u32
    }

    fn wrong_chain(&self) -> [u8; 32] {
        if self.spec.chain_hash == BITCOIN_TESTNET_CHAIN_HASH {
            BITCOIN_MAINNET_CHAIN_HASH
        } else {
            BITCOIN_TESTNET_CHAIN_HASH
        }
    }
}

/// Mostly the popular round values, sometimes anything up to 5 sat.
fn fee_base(rng: &mut Rng) -> u32 {
    if rng.chance(0.6) {
        rng.choose(&[0, 1, 1000])
    } else {
        rng.below(5000) as u32
    }
}

struct ChannelKeys {
    node: [SecretKey; 2],
    bitcoin: [SecretKey; 2],
}

impl ChannelKeys {
    /// Signing order of the four channel_announcement signatures.
    fn signers(&self) -> [SecretKey; 4] {
        [self.node[0], self.node[1], self.bitcoin[0], self.bitcoin[1]]
    }

    /// Serializes `ca` with all four signatures filled in.
    fn sign_announcement(&self, ca: &ChannelAnnouncement) -> Vec<u8> {
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

fn put_signature(msg: &mut [u8], slot: usize, sig: [u8; 64]) {
    let at = 2 + 64 * slot;
    if let Some(dst) = msg.get_mut(at..at + 64) {
        dst.copy_from_slice(&sig);
    }
}

fn signature_at(msg: &[u8], slot: usize) -> [u8; 64] {
    let at = 2 + 64 * slot;
    msg.get(at..at + 64)
        .and_then(|s| <[u8; 64]>::try_from(s).ok())
        .unwrap_or([0; 64])
}

fn sign(digest: [u8; 32], key: &SecretKey) -> [u8; 64] {
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

fn pick_class(rng: &mut Rng, kind: GossipKind) -> InvalidClass {
    let classes = InvalidClass::applicable(kind);
    let i = rng.below(classes.len() as u64) as usize;
    classes.get(i).copied().unwrap_or(InvalidClass::Truncated)
}

/// Cuts a message inside its known fields (never at its end, so it cannot parse).
fn truncate(mut msg: Vec<u8>, rng: &mut Rng) -> Vec<u8> {
    let len = msg.len() as u64;
    if len > 2 {
        msg.truncate(2 + rng.below(len - 2) as usize);
    }
    msg
}

fn invalid_announcement(
    valid: &ChannelAnnouncement,
    keys: &ChannelKeys,
    class: InvalidClass,
    wrong_chain: [u8; 32],
    rng: &mut Rng,
) -> (Vec<u8>, Label) {
    let mut ca = valid.clone();
    // An scid no valid channel uses: the copy is never a duplicate of its original.
    ca.short_channel_id |= INVALID_SCID_OUTPUT_BIT;
    let mut signers = keys.signers();
    let msg = match class {
        InvalidClass::BadSignature => {
            let mut msg = sign_announcement_with(ca.serialize(), signers);
            // One slot signed by the next slot's key: every other check passes.
            let slot = rng.below(4) as usize;
            let digest = signed_digest(&msg, CHANNEL_ANNOUNCEMENT_SIGNED_FROM).unwrap_or([0; 32]);
            put_signature(&mut msg, slot, sign(digest, &signers[(slot + 1) % 4]));
            msg
        }
        InvalidClass::HighS => {
            let mut msg = sign_announcement_with(ca.serialize(), signers);
            let slot = rng.below(4) as usize;
            let mut sig = signature_at(&msg, slot);
            negate_s(&mut sig);
            put_signature(&mut msg, slot, sig);
            msg
        }
        InvalidClass::WrongChain => {
            ca.chain_hash = wrong_chain;
            sign_announcement_with(ca.serialize(), signers)
        }
        InvalidClass::Truncated => truncate(sign_announcement_with(ca.serialize(), signers), rng),
        InvalidClass::BadNodeOrder => {
            std::mem::swap(&mut ca.node_id_1, &mut ca.node_id_2);
            std::mem::swap(&mut ca.bitcoin_key_1, &mut ca.bitcoin_key_2);
            signers.swap(0, 1);
            signers.swap(2, 3);
            sign_announcement_with(ca.serialize(), signers)
        }
    };
    (msg, Label::Invalid(GossipKind::ChannelAnnouncement, class))
}

fn invalid_update(
    valid: &ChannelUpdate,
    signer: &SecretKey,
    class: InvalidClass,
    wrong_chain: [u8; 32],
    rng: &mut Rng,
) -> (Vec<u8>, Label) {
    let mut cu = valid.clone();
    // Newer than the original, so it is never dropped as a duplicate or as stale.
    cu.timestamp = cu.timestamp.saturating_add(1);
    let msg = match class {
        InvalidClass::BadSignature => {
            // The original's signature over the changed timestamp.
            let original = sign_single(valid.serialize(), signer);
            let mut msg = cu.serialize();
            put_signature(&mut msg, 0, signature_at(&original, 0));
            msg
        }
        InvalidClass::HighS => {
            let mut msg = sign_single(cu.serialize(), signer);
            let mut sig = signature_at(&msg, 0);
            negate_s(&mut sig);
            put_signature(&mut msg, 0, sig);
            msg
        }
        InvalidClass::WrongChain => {
            cu.chain_hash = wrong_chain;
            sign_single(cu.serialize(), signer)
        }
        // Not applicable to updates; pick_class never draws it. Truncate like Truncated.
        InvalidClass::Truncated | InvalidClass::BadNodeOrder => {
            truncate(sign_single(cu.serialize(), signer), rng)
        }
    };
    (msg, Label::Invalid(GossipKind::ChannelUpdate, class))
}

fn invalid_node(
    valid: &NodeAnnouncement,
    signer: &SecretKey,
    class: InvalidClass,
    rng: &mut Rng,
) -> (Vec<u8>, Label) {
    let mut na = valid.clone();
    na.timestamp = na.timestamp.saturating_add(1);
    let msg = match class {
        InvalidClass::BadSignature => {
            let original = sign_single(valid.serialize(), signer);
            let mut msg = na.serialize();
            put_signature(&mut msg, 0, signature_at(&original, 0));
            msg
        }
        InvalidClass::HighS => {
            let mut msg = sign_single(na.serialize(), signer);
            let mut sig = signature_at(&msg, 0);
            negate_s(&mut sig);
            put_signature(&mut msg, 0, sig);
            msg
        }
        // Only these three are drawn for node_announcement; the rest truncate.
        InvalidClass::Truncated | InvalidClass::WrongChain | InvalidClass::BadNodeOrder => {
            truncate(sign_single(na.serialize(), signer), rng)
        }
    };
    (msg, Label::Invalid(GossipKind::NodeAnnouncement, class))
}

/// A plausible node feature vector: common optional bits plus a random selection of others.
fn node_features(rng: &mut Rng) -> Vec<u8> {
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

fn alias(rng: &mut Rng, node: u32) -> [u8; 32] {
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
fn addresses(rng: &mut Rng, node: u32) -> Vec<Address> {
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

fn public(secret: &SecretKey) -> [u8; 33] {
    PublicKey::from_secret_key(SECP256K1, secret).serialize()
}

/// secret = SHA256(seed || label || index || attempt), retried until it is a valid scalar.
fn derive_secret(seed: u64, label: &[u8], index: u64) -> SecretKey {
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
fn derive_node_keys(seed: u64, count: usize) -> Vec<NodeKey> {
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

/// SplitMix64: tiny, fast, and its output is fixed forever (unlike `rand`'s StdRng, which may
/// change between versions and would silently change every corpus).
struct Rng(u64);

impl Rng {
    fn stream(seed: u64, stream: u64, index: u64) -> Self {
        let mut mix = Rng(seed);
        let a = mix.next_u64() ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03);
        let mut mix = Rng(a);
        Rng(mix.next_u64() ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0), by multiply-shift.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    /// A uniform pick; callers pass non-empty constant slices (empty gives the default).
    fn choose<T: Copy + Default>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::gossip::{summarize, GossipMessage, Summary};
    use crate::wire::scid::ShortChannelId;
    use secp256k1::ecdsa::Signature;
    use std::collections::{HashMap, HashSet};

    const NOW: u32 = 1_732_000_000;

    fn small(seed: u64, invalid_rate: f64) -> CorpusSpec {
        CorpusSpec {
            nodes: 50,
            channels: 120,
            seed,
            invalid_rate,
            chain_hash: BITCOIN_MAINNET_CHAIN_HASH,
            now: NOW,
        }
    }

    fn labeled(spec: &CorpusSpec) -> (Vec<(Vec<u8>, Label)>, GenerateStats) {
        let mut out = Vec::new();
        let stats = generate_labeled(spec, |m, l| out.push((m, l)));
        (out, stats)
    }

    fn verify_at(msg: &[u8], from: usize, sig: &[u8; 64], key: &[u8; 33]) -> bool {
        let Some(digest) = signed_digest(msg, from) else {
            return false;
        };
        let (Ok(sig), Ok(key)) = (Signature::from_compact(sig), PublicKey::from_slice(key)) else {
            return false;
        };
        SECP256K1
            .verify_ecdsa(&Message::from_digest(digest), &sig, &key)
            .is_ok()
    }

    fn ca_sig_results(msg: &[u8], ca: &ChannelAnnouncement) -> [bool; 4] {
        let from = CHANNEL_ANNOUNCEMENT_SIGNED_FROM;
        [
            verify_at(msg, from, &ca.node_signature_1, &ca.node_id_1),
            verify_at(msg, from, &ca.node_signature_2, &ca.node_id_2),
            verify_at(msg, from, &ca.bitcoin_signature_1, &ca.bitcoin_key_1),
            verify_at(msg, from, &ca.bitcoin_signature_2, &ca.bitcoin_key_2),
        ]
    }

    /// Verification after normalising s: true means the only defect was a high S.
    fn verifies_when_normalized(msg: &[u8], from: usize, sig: &[u8; 64], key: &[u8; 33]) -> bool {
        let mut normalized = Signature::from_compact(sig).unwrap();
        normalized.normalize_s();
        verify_at(msg, from, &normalized.serialize_compact(), key)
    }

    #[test]
    fn negate_s_round_trips_and_makes_high_s() {
        let key = derive_secret(1, b"t", 0);
        let mut sig = sign([7; 32], &key);
        let low = sig;
        negate_s(&mut sig);
        assert_ne!(sig, low);
        assert_eq!(&sig[..32], &low[..32]);
        let mut parsed = Signature::from_compact(&sig).unwrap();
        parsed.normalize_s();
        assert_eq!(parsed.serialize_compact(), low);
        negate_s(&mut sig);
        assert_eq!(sig, low);
    }

    #[test]
    fn valid_messages_verify_and_respect_bolt7_and_order() {
        let spec = small(7, 0.0);
        let (msgs, stats) = labeled(&spec);
        let mut channels: HashMap<u64, ChannelAnnouncement> = HashMap::new();
        let mut updates: HashSet<(u64, u8)> = HashSet::new();
        let mut nodes_with_channel: HashSet<[u8; 33]> = HashSet::new();
        let mut announced: HashSet<[u8; 33]> = HashSet::new();
        let oldest = u64::from(NOW) - TIMESTAMP_SPREAD_SECS - 1;
        for (msg, label) in &msgs {
            assert!(matches!(label, Label::Valid(_)));
            let parsed = GossipMessage::parse(msg).unwrap();
            assert_eq!(parsed.kind(), label.kind());
            assert_eq!(&parsed.serialize(), msg);
            match parsed {
                GossipMessage::ChannelAnnouncement(ca) => {
                    assert_eq!(ca_sig_results(msg, &ca), [true; 4]);
                    assert!(ca.node_id_1 < ca.node_id_2);
                    assert_eq!(ca.chain_hash, spec.chain_hash);
                    assert!(ca.short_channel_id & INVALID_SCID_OUTPUT_BIT == 0);
                    let scid = ShortChannelId::from_u64(ca.short_channel_id);
                    assert!(scid.block >= FIRST_BLOCK as u32);
                    nodes_with_channel.insert(ca.node_id_1);
                    nodes_with_channel.insert(ca.node_id_2);
                    let fresh = channels.insert(ca.short_channel_id, ca).is_none();
                    assert!(fresh, "unique scid");
                }
                GossipMessage::ChannelUpdate(cu) => {
                    // Dependency order: the announcement came first.
                    let ca = &channels[&cu.short_channel_id];
                    let key = if cu.direction() == 0 {
                        &ca.node_id_1
                    } else {
                        &ca.node_id_2
                    };
                    assert!(verify_at(msg, SINGLE_SIG_SIGNED_FROM, &cu.signature, key));
                    assert_eq!(cu.chain_hash, spec.chain_hash);
                    assert!(cu.timestamp < NOW && u64::from(cu.timestamp) >= oldest);
                    assert!(cu.htlc_maximum_msat.is_some() && cu.message_flags & 1 == 1);
                    assert!(updates.insert((cu.short_channel_id, cu.direction())));
                }
                GossipMessage::NodeAnnouncement(na) => {
                    assert!(verify_at(
                        msg,
                        SINGLE_SIG_SIGNED_FROM,
                        &na.signature,
                        &na.node_id
                    ));
                    assert!(
                        nodes_with_channel.contains(&na.node_id),
                        "after its first channel"
                    );
                    assert!(announced.insert(na.node_id), "one announcement per node");
                    assert!(na.timestamp < NOW && u64::from(na.timestamp) >= oldest);
                    assert!(!na.addresses.is_empty());
                    assert!(!na.alias_trimmed().is_empty());
                }
            }
        }
        assert_eq!(channels.len(), 120);
        assert_eq!(updates.len(), 240);
        // 120 channels >= 49 newcomer channels: every node is connected and announced.
        assert_eq!(announced.len(), 50);
        assert_eq!(stats.valid, [120, 50, 240]);
        assert_eq!(stats.total_invalid(), 0);
        assert_eq!(stats.valid_signatures(), 120 * 4 + 50 + 240);
        // Each announcement is followed directly by its two updates, direction 0 then 1.
        for (i, (msg, _)) in msgs.iter().enumerate() {
            if let Ok(Summary::ChannelAnnouncement {
                short_channel_id, ..
            }) = summarize(msg)
            {
                for (offset, dir) in [(1, 0), (2, 1)] {
                    let next = summarize(&msgs[i + offset].0).unwrap();
                    let Summary::ChannelUpdate {
                        short_channel_id: s,
                        channel_flags,
                        ..
                    } = next
                    else {
                        panic!("update expected after announcement");
                    };
                    assert_eq!((s, channel_flags & 1), (short_channel_id, dir));
                }
            }
        }
    }

    #[test]
    fn invalid_copies_are_wrong_in_exactly_their_class() {
        let spec = small(11, 0.3);
        let (msgs, stats) = labeled(&spec);
        let mut channels: HashMap<u64, ChannelAnnouncement> = HashMap::new();
        let mut valid_keys: HashSet<Summary> = HashSet::new();
        let mut seen = [0u64; 5];
        for (msg, label) in &msgs {
            match *label {
                Label::Valid(_) => {
                    if let GossipMessage::ChannelAnnouncement(ca) =
                        GossipMessage::parse(msg).unwrap()
                    {
                        channels.insert(ca.short_channel_id, ca);
                    }
                    valid_keys.insert(summarize(msg).unwrap());
                }
                Label::Invalid(kind, class) => {
                    seen[class.index()] += 1;
                    assert!(InvalidClass::applicable(kind).contains(&class));
                    if let Ok(summary) = summarize(msg) {
                        assert!(
                            !valid_keys.contains(&summary),
                            "never a duplicate of a valid one"
                        );
                    }
                    check_invalid(msg, kind, class, &spec, &channels);
                }
            }
        }
        assert_eq!(seen, stats.invalid);
        assert!(seen.iter().all(|&n| n > 0), "every class drawn: {seen:?}");
        let total_valid = stats.total_valid() as f64;
        let rate = stats.total_invalid() as f64 / total_valid;
        assert!((0.2..0.4).contains(&rate), "rate {rate}");
        assert_eq!(
            stats.invalid_by_kind.iter().sum::<u64>(),
            stats.total_invalid()
        );
        assert_eq!(stats.total(), msgs.len() as u64);
        assert_eq!(
            stats.bytes,
            msgs.iter().map(|(m, _)| m.len() as u64).sum::<u64>()
        );
    }

    fn check_invalid(
        msg: &[u8],
        kind: GossipKind,
        class: InvalidClass,
        spec: &CorpusSpec,
        channels: &HashMap<u64, ChannelAnnouncement>,
    ) {
        let parsed = GossipMessage::parse(msg);
        if class == InvalidClass::Truncated {
            assert!(parsed.is_err(), "truncated must not parse");
            return;
        }
        let parsed = parsed.unwrap();
        assert_eq!(parsed.kind(), kind);
        let single = SINGLE_SIG_SIGNED_FROM;
        match (parsed, class) {
            (GossipMessage::ChannelAnnouncement(ca), _) => {
                let results = ca_sig_results(msg, &ca);
                let failing = results.iter().filter(|ok| !**ok).count();
                match class {
                    InvalidClass::BadSignature => assert_eq!(failing, 1),
                    InvalidClass::HighS => {
                        assert_eq!(failing, 1);
                        let slot = results.iter().position(|ok| !ok).unwrap();
                        let (sig, key) = [
                            (&ca.node_signature_1, &ca.node_id_1),
                            (&ca.node_signature_2, &ca.node_id_2),
                            (&ca.bitcoin_signature_1, &ca.bitcoin_key_1),
                            (&ca.bitcoin_signature_2, &ca.bitcoin_key_2),
                        ][slot];
                        assert!(verifies_when_normalized(
                            msg,
                            CHANNEL_ANNOUNCEMENT_SIGNED_FROM,
                            sig,
                            key
                        ));
                    }
                    InvalidClass::WrongChain => {
                        assert_eq!(failing, 0);
                        assert_ne!(ca.chain_hash, spec.chain_hash);
                    }
                    InvalidClass::BadNodeOrder => {
                        assert_eq!(failing, 0);
                        assert_eq!(ca.chain_hash, spec.chain_hash);
                        assert!(ca.node_id_1 > ca.node_id_2);
                    }
                    InvalidClass::Truncated => unreachable!(),
                }
                assert!(ca.short_channel_id & INVALID_SCID_OUTPUT_BIT != 0);
                assert!(!channels.contains_key(&ca.short_channel_id));
            }
            (GossipMessage::ChannelUpdate(cu), _) => {
                let ca = &channels[&cu.short_channel_id];
                let key = if cu.direction() == 0 {
                    &ca.node_id_1
                } else {
                    &ca.node_id_2
                };
                let ok = verify_at(msg, single, &cu.signature, key);
                match class {
                    InvalidClass::BadSignature => assert!(!ok),
                    InvalidClass::HighS => {
                        assert!(!ok);
                        assert!(verifies_when_normalized(msg, single, &cu.signature, key));
                    }
                    InvalidClass::WrongChain => {
                        assert!(ok);
                        assert_ne!(cu.chain_hash, spec.chain_hash);
                    }
                    other => panic!("{other:?} drawn for a channel_update"),
                }
                assert!(cu.timestamp <= NOW);
            }
            (GossipMessage::NodeAnnouncement(na), _) => {
                let ok = verify_at(msg, single, &na.signature, &na.node_id);
                match class {
                    InvalidClass::BadSignature => assert!(!ok),
                    InvalidClass::HighS => {
                        assert!(!ok);
                        assert!(verifies_when_normalized(
                            msg,
                            single,
                            &na.signature,
                            &na.node_id
                        ));
                    }
                    other => panic!("{other:?} drawn for a node_announcement"),
                }
                assert!(na.timestamp <= NOW);
            }
        }
    }

    fn corpus_hash(spec: &CorpusSpec) -> ([u8; 32], GenerateStats) {
        let mut h = Sha256::new();
        let stats = generate(spec, |m| {
            h.update((m.len() as u32).to_be_bytes());
            h.update(&m);
        });
        (h.finalize().into(), stats)
    }

    #[test]
    fn same_spec_gives_same_bytes() {
        let spec = small(42, 0.05);
        let (a, stats_a) = corpus_hash(&spec);
        let (b, stats_b) = corpus_hash(&spec);
        assert_eq!(a, b);
        assert_eq!(stats_a, stats_b);
        let (other_seed, _) = corpus_hash(&small(43, 0.05));
        assert_ne!(a, other_seed);
        // The pull iterator yields the same stream as the push API.
        let mut h = Sha256::new();
        for m in Corpus::new(&spec) {
            h.update((m.len() as u32).to_be_bytes());
            h.update(&m);
        }
        assert_eq!(<[u8; 32]>::from(h.finalize()), a);
    }

    #[test]
    fn batches_do_not_change_the_stream() {
        // More channels than one batch pair: output must not depend on batch boundaries, i.e.
        // on which thread signed what. Channel c's messages depend only on (seed, c).
        let spec = CorpusSpec {
            nodes: 300,
            channels: 2 * BATCH_CHANNELS + 7,
            ..small(5, 0.02)
        };
        let mut corpus = Corpus::new(&spec);
        let mut streamed = Vec::new();
        while let Some(m) = corpus.next_labeled() {
            streamed.push(m);
        }
        let mut one_by_one = Vec::new();
        for c in 0..corpus.channel_count() {
            corpus.plan.channel_messages(c, &mut one_by_one);
        }
        assert_eq!(streamed, one_by_one);
        assert_eq!(corpus.announced_node_count(), 300);
        assert_eq!(corpus.stats().valid_of(GossipKind::NodeAnnouncement), 300);
    }

    #[test]
    fn degenerate_specs_produce_nothing_or_partial_graphs() {
        let none = CorpusSpec {
            nodes: 1,
            ..small(1, 0.5)
        };
        assert_eq!(
            generate(&none, |_| panic!("no message expected")).total(),
            0
        );
        let no_channels = CorpusSpec {
            channels: 0,
            ..small(1, 0.5)
        };
        assert_eq!(
            generate(&no_channels, |_| panic!("no message expected")).total(),
            0
        );
        // Fewer channels than nodes - 1: only connected nodes are announced.
        let sparse = CorpusSpec {
            nodes: 50,
            channels: 10,
            ..small(1, 0.0)
        };
        let stats = generate(&sparse, |_| {});
        assert_eq!(stats.valid, [10, 11, 20]);
    }

    #[test]
    fn class_names_are_distinct_snake_case() {
        let names: HashSet<_> = InvalidClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), 5);
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        for (i, c) in InvalidClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }
}
