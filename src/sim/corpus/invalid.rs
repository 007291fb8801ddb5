//! The invalid mix: the defect classes, the label each generated message carries, and how an
//! invalid copy is made from a valid message. Every copy differs from its original in its dedup
//! key, so a pipeline must catch it by its defect.

use secp256k1::SecretKey;

use super::rng::Rng;
use super::signing::{
    negate_s, put_signature, sign, sign_announcement_with, sign_single, signature_at, ChannelKeys,
};
use crate::wire::gossip::{
    signed_digest, ChannelAnnouncement, ChannelUpdate, NodeAnnouncement,
    CHANNEL_ANNOUNCEMENT_SIGNED_FROM,
};
use crate::wire::GossipKind;

/// Valid scids use output index < this; invalid channel_announcement copies set this bit.
pub(super) const INVALID_SCID_OUTPUT_BIT: u64 = 0x8000;

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

pub(super) fn pick_class(rng: &mut Rng, kind: GossipKind) -> InvalidClass {
    let classes = InvalidClass::applicable(kind);
    let i = rng.below(classes.len() as u64) as usize;
    classes.get(i).copied().unwrap_or(InvalidClass::Truncated)
}

/// Cuts a message inside its known fields (never at its end, so it cannot parse).
pub(super) fn truncate(mut msg: Vec<u8>, rng: &mut Rng) -> Vec<u8> {
    let len = msg.len() as u64;
    if len > 2 {
        msg.truncate(2 + rng.below(len - 2) as usize);
    }
    msg
}

pub(super) fn invalid_announcement(
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

pub(super) fn invalid_update(
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

pub(super) fn invalid_node(
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
