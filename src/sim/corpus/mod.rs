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

//!
//! - [`spec`]: what to generate and the shape every corpus shares;
//! - `plan`: the graph and message contents, fixed before signing;
//! - `signing`: derived keys and BOLT 7 signatures;
//! - [`invalid`]: the invalid mix (classes, labels, how a copy is spoiled);
//! - `rng`: the deterministic random streams.

mod invalid;
mod plan;
mod rng;
mod signing;
pub mod spec;

use std::collections::VecDeque;

pub use invalid::{InvalidClass, Label};
pub use signing::{negate_s, sign_announcement_with, sign_single};
pub use spec::{
    CorpusSpec, BITCOIN_MAINNET_CHAIN_HASH, BITCOIN_TESTNET_CHAIN_HASH, MAINNET_CHANNELS,
    MAINNET_NODES,
};

use crate::wire::GossipKind;
use plan::{Plan, NO_CHANNEL};
use spec::BATCH_CHANNELS;

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

#[cfg(test)]
mod tests {
    use super::invalid::INVALID_SCID_OUTPUT_BIT;
    use super::signing::{derive_secret, sign};
    use super::spec::{FIRST_BLOCK, TIMESTAMP_SPREAD_SECS};
    use super::*;
    use crate::wire::gossip::{
        signed_digest, ChannelAnnouncement, CHANNEL_ANNOUNCEMENT_SIGNED_FROM,
        SINGLE_SIG_SIGNED_FROM,
    };
    use crate::wire::gossip::{summarize, GossipMessage, Summary};
    use crate::wire::scid::ShortChannelId;
    use secp256k1::ecdsa::Signature;
    use secp256k1::{Message, PublicKey, SECP256K1};
    use sha2::{Digest, Sha256};
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
