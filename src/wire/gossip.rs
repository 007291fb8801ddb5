//! The three BOLT 7 gossip messages: full codec, the hot-path [`summarize`] extractor used for
//! dedup before any crypto, and the signed regions their signatures cover.
//!
//! Keys and signatures stay raw bytes here: parsing a public key costs microseconds and the
//! verifier caches parsed keys, so the codec never does it. Every struct keeps the bytes after
//! its known fields in `excess`; they are covered by the signature and written back unchanged,
//! so `serialize(parse(m)) == m` for every message `parse` accepts.

use sha2::{Digest, Sha256};

use super::address::{parse_addresses, write_addresses, Address};
use super::kind::{CHANNEL_ANNOUNCEMENT, CHANNEL_UPDATE, NODE_ANNOUNCEMENT};
use super::{DecodeError, GossipKind};

/// BOLT 7: channel_announcement signatures cover the double-SHA256 of the message "starting at
/// offset 256" of the payload, i.e. after the type (2) and the four 64-byte signatures.
pub const CHANNEL_ANNOUNCEMENT_SIGNED_FROM: usize = 258;
/// BOLT 7: node_announcement and channel_update signatures cover the double-SHA256 of the
/// message after the type (2) and the single 64-byte signature.
pub const SINGLE_SIG_SIGNED_FROM: usize = 66;

/// Bytes before `features` in a channel_announcement: type + 4 signatures + `len`.
const CA_FEATURES_AT: usize = CHANNEL_ANNOUNCEMENT_SIGNED_FROM + 2;
/// Fixed bytes after `features`: chain_hash, scid, two node ids, two bitcoin keys.
const CA_TAIL: usize = 32 + 8 + 4 * 33;
/// Bytes before `features` in a node_announcement: type + signature + `flen`.
const NA_FEATURES_AT: usize = SINGLE_SIG_SIGNED_FROM + 2;
/// Fixed bytes after `features`: timestamp, node_id, rgb_color, alias, addrlen.
const NA_TAIL: usize = 4 + 33 + 3 + 32 + 2;
/// channel_update offsets (type included).
const CU_CHAIN_HASH_AT: usize = SINGLE_SIG_SIGNED_FROM;
const CU_SCID_AT: usize = CU_CHAIN_HASH_AT + 32;
const CU_TIMESTAMP_AT: usize = CU_SCID_AT + 8;
const CU_CHANNEL_FLAGS_AT: usize = CU_TIMESTAMP_AT + 5;
const CU_MESSAGE_FLAGS_AT: usize = CU_TIMESTAMP_AT + 4;
/// Length up to and including `htlc_maximum_msat`, which BOLT 7 now requires.
const CU_FIXED_LEN: usize = CU_CHANNEL_FLAGS_AT + 1 + 2 + 8 + 4 + 4 + 8;
/// `message_flags` bit 0, `must_be_one` (formerly `option_channel_htlc_max`).
pub const MESSAGE_FLAG_MUST_BE_ONE: u8 = 1 << 0;
/// `message_flags` bit 1, `dont_forward`.
pub const MESSAGE_FLAG_DONT_FORWARD: u8 = 1 << 1;

/// BOLT 7 `channel_announcement` (type 256).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChannelAnnouncement {
    pub node_signature_1: [u8; 64],
    pub node_signature_2: [u8; 64],
    pub bitcoin_signature_1: [u8; 64],
    pub bitcoin_signature_2: [u8; 64],
    pub features: Vec<u8>,
    pub chain_hash: [u8; 32],
    pub short_channel_id: u64,
    pub node_id_1: [u8; 33],
    pub node_id_2: [u8; 33],
    pub bitcoin_key_1: [u8; 33],
    pub bitcoin_key_2: [u8; 33],
    pub excess: Vec<u8>,
}

/// BOLT 7 `node_announcement` (type 257).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeAnnouncement {
    pub signature: [u8; 64],
    pub features: Vec<u8>,
    pub timestamp: u32,
    pub node_id: [u8; 33],
    pub rgb_color: [u8; 3],
    pub alias: [u8; 32],
    pub addresses: Vec<Address>,
    pub excess: Vec<u8>,
}

/// BOLT 7 `channel_update` (type 258).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChannelUpdate {
    pub signature: [u8; 64],
    pub chain_hash: [u8; 32],
    pub short_channel_id: u64,
    pub timestamp: u32,
    pub message_flags: u8,
    pub channel_flags: u8,
    pub cltv_expiry_delta: u16,
    pub htlc_minimum_msat: u64,
    pub fee_base_msat: u32,
    pub fee_proportional_millionths: u32,
    /// Always `Some` in a parsed update: BOLT 7 requires it and `parse` refuses updates whose
    /// `must_be_one` bit is clear. An `Option` so that tests can still build such legacy bytes;
    /// `serialize` writes it whenever it is `Some`.
    pub htlc_maximum_msat: Option<u64>,
    pub excess: Vec<u8>,
}

/// Any of the three gossip messages.
// Boxing the 480-byte announcement would add an allocation per parsed message on the verify
// path; values are short-lived (parsed, verified, dropped), so the size is the cheaper cost.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GossipMessage {
    ChannelAnnouncement(ChannelAnnouncement),
    NodeAnnouncement(NodeAnnouncement),
    ChannelUpdate(ChannelUpdate),
}

/// The fields dedup needs, read at fixed offsets without allocating or validating the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Summary {
    ChannelAnnouncement {
        chain_hash: [u8; 32],
        short_channel_id: u64,
        node_id_1: [u8; 33],
        node_id_2: [u8; 33],
    },
    NodeAnnouncement {
        timestamp: u32,
        node_id: [u8; 33],
    },
    ChannelUpdate {
        chain_hash: [u8; 32],
        short_channel_id: u64,
        timestamp: u32,
        channel_flags: u8,
        /// `message_flags` bit 1: the channel's owner asks that the update not be relayed.
        dont_forward: bool,
    },
}

impl Summary {
    pub fn kind(&self) -> GossipKind {
        match self {
            Summary::ChannelAnnouncement { .. } => GossipKind::ChannelAnnouncement,
            Summary::NodeAnnouncement { .. } => GossipKind::NodeAnnouncement,
            Summary::ChannelUpdate { .. } => GossipKind::ChannelUpdate,
        }
    }
}

/// Reads the dedup key fields of a gossip message (`msg` starts with the 2-byte type).
///
/// Only checks that the message is long enough for every fixed-size field of its kind; a
/// successful summary does not mean [`GossipMessage::parse`] will accept the message (address
/// descriptors are not looked at). A channel_update must carry `htlc_maximum_msat` (its
/// `must_be_one` bit set and the length to match) to summarize.
pub fn summarize(msg: &[u8]) -> Result<Summary, DecodeError> {
    match be_u16(msg, 0)? {
        CHANNEL_ANNOUNCEMENT => {
            let at = CA_FEATURES_AT + usize::from(be_u16(msg, CHANNEL_ANNOUNCEMENT_SIGNED_FROM)?);
            if msg.len() < at + CA_TAIL {
                return Err(DecodeError::ShortRead);
            }
            Ok(Summary::ChannelAnnouncement {
                chain_hash: array(msg, at)?,
                short_channel_id: be_u64(msg, at + 32)?,
                node_id_1: array(msg, at + 40)?,
                node_id_2: array(msg, at + 73)?,
            })
        }
        NODE_ANNOUNCEMENT => {
            let at = NA_FEATURES_AT + usize::from(be_u16(msg, SINGLE_SIG_SIGNED_FROM)?);
            if msg.len() < at + NA_TAIL {
                return Err(DecodeError::ShortRead);
            }
            Ok(Summary::NodeAnnouncement {
                timestamp: be_u32(msg, at)?,
                node_id: array(msg, at + 4)?,
            })
        }
        CHANNEL_UPDATE => {
            if msg.len() < CU_FIXED_LEN {
                return Err(DecodeError::ShortRead);
            }
            let message_flags = *msg.get(CU_MESSAGE_FLAGS_AT).ok_or(DecodeError::ShortRead)?;
            check_must_be_one(message_flags)?;
            Ok(Summary::ChannelUpdate {
                chain_hash: array(msg, CU_CHAIN_HASH_AT)?,
                short_channel_id: be_u64(msg, CU_SCID_AT)?,
                timestamp: be_u32(msg, CU_TIMESTAMP_AT)?,
                channel_flags: *msg.get(CU_CHANNEL_FLAGS_AT).ok_or(DecodeError::ShortRead)?,
                dont_forward: message_flags & MESSAGE_FLAG_DONT_FORWARD != 0,
            })
        }
        other => Err(DecodeError::UnexpectedType(other)),
    }
}

/// BOLT 7, channel_update, the origin node "MUST set the `must_be_one` bit in
/// `message_flags` to 1" and "MUST set `htlc_maximum_msat`"; the field now sits at a fixed
/// offset, and Core Lightning's gossmap reads it there, so an update without it would hand a
/// Core Lightning reader of our store the next record's bytes as its `htlc_maximum_msat`.
fn check_must_be_one(message_flags: u8) -> Result<(), DecodeError> {
    if message_flags & MESSAGE_FLAG_MUST_BE_ONE == 0 {
        return Err(DecodeError::InvalidValue);
    }
    Ok(())
}

/// Double-SHA256 of `msg[from..]`, the digest BOLT 7 signatures sign. `None` if `msg` is shorter
/// than `from`.
pub fn signed_digest(msg: &[u8], from: usize) -> Option<[u8; 32]> {
    let region = msg.get(from..)?;
    let once = Sha256::digest(region);
    Some(Sha256::digest(once).into())
}

impl ChannelAnnouncement {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_type(msg, CHANNEL_ANNOUNCEMENT)?;
        Ok(ChannelAnnouncement {
            node_signature_1: r.array()?,
            node_signature_2: r.array()?,
            bitcoin_signature_1: r.array()?,
            bitcoin_signature_2: r.array()?,
            features: r.u16_prefixed()?.to_vec(),
            chain_hash: r.array()?,
            short_channel_id: r.u64()?,
            node_id_1: r.array()?,
            node_id_2: r.array()?,
            bitcoin_key_1: r.array()?,
            bitcoin_key_2: r.array()?,
            excess: r.rest().to_vec(),
        })
    }

    /// The message with its type. Features longer than 65535 bytes are cut (no valid message
    /// can hold them).
    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CA_FEATURES_AT + self.features.len() + CA_TAIL);
        out.extend_from_slice(&CHANNEL_ANNOUNCEMENT.to_be_bytes());
        out.extend_from_slice(&self.node_signature_1);
        out.extend_from_slice(&self.node_signature_2);
        out.extend_from_slice(&self.bitcoin_signature_1);
        out.extend_from_slice(&self.bitcoin_signature_2);
        put_u16_prefixed(&mut out, &self.features);
        out.extend_from_slice(&self.chain_hash);
        out.extend_from_slice(&self.short_channel_id.to_be_bytes());
        out.extend_from_slice(&self.node_id_1);
        out.extend_from_slice(&self.node_id_2);
        out.extend_from_slice(&self.bitcoin_key_1);
        out.extend_from_slice(&self.bitcoin_key_2);
        out.extend_from_slice(&self.excess);
        out
    }
}

impl NodeAnnouncement {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_type(msg, NODE_ANNOUNCEMENT)?;
        Ok(NodeAnnouncement {
            signature: r.array()?,
            features: r.u16_prefixed()?.to_vec(),
            timestamp: r.u32()?,
            node_id: r.array()?,
            rgb_color: r.array()?,
            alias: r.array()?,
            addresses: parse_addresses(r.u16_prefixed()?)?,
            excess: r.rest().to_vec(),
        })
    }

    /// The message with its type. Features or addresses longer than 65535 bytes are cut (no
    /// valid message can hold them).
    pub fn serialize(&self) -> Vec<u8> {
        let mut addresses = Vec::new();
        write_addresses(&self.addresses, &mut addresses);
        let mut out = Vec::with_capacity(
            NA_FEATURES_AT + self.features.len() + NA_TAIL + addresses.len() + self.excess.len(),
        );
        out.extend_from_slice(&NODE_ANNOUNCEMENT.to_be_bytes());
        out.extend_from_slice(&self.signature);
        put_u16_prefixed(&mut out, &self.features);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.node_id);
        out.extend_from_slice(&self.rgb_color);
        out.extend_from_slice(&self.alias);
        put_u16_prefixed(&mut out, &addresses);
        out.extend_from_slice(&self.excess);
        out
    }

    /// The alias up to its first NUL, as BOLT 7 pads it.
    pub fn alias_trimmed(&self) -> &[u8] {
        let end = self
            .alias
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.alias.len());
        self.alias.get(..end).unwrap_or(&[])
    }
}

impl ChannelUpdate {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::for_type(msg, CHANNEL_UPDATE)?;
        let signature = r.array()?;
        let chain_hash = r.array()?;
        let short_channel_id = r.u64()?;
        let timestamp = r.u32()?;
        let message_flags = r.u8()?;
        let channel_flags = r.u8()?;
        let cltv_expiry_delta = r.u16()?;
        let htlc_minimum_msat = r.u64()?;
        let fee_base_msat = r.u32()?;
        let fee_proportional_millionths = r.u32()?;
        // Updates from before `htlc_maximum_msat` became mandatory are malformed now (see
        // `check_must_be_one`); the field stays an `Option` so such bytes can still be built.
        check_must_be_one(message_flags)?;
        let htlc_maximum_msat = Some(r.u64()?);
        Ok(ChannelUpdate {
            signature,
            chain_hash,
            short_channel_id,
            timestamp,
            message_flags,
            channel_flags,
            cltv_expiry_delta,
            htlc_minimum_msat,
            fee_base_msat,
            fee_proportional_millionths,
            htlc_maximum_msat,
            excess: r.rest().to_vec(),
        })
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CU_FIXED_LEN + 8 + self.excess.len());
        out.extend_from_slice(&CHANNEL_UPDATE.to_be_bytes());
        out.extend_from_slice(&self.signature);
        out.extend_from_slice(&self.chain_hash);
        out.extend_from_slice(&self.short_channel_id.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.push(self.message_flags);
        out.push(self.channel_flags);
        out.extend_from_slice(&self.cltv_expiry_delta.to_be_bytes());
        out.extend_from_slice(&self.htlc_minimum_msat.to_be_bytes());
        out.extend_from_slice(&self.fee_base_msat.to_be_bytes());
        out.extend_from_slice(&self.fee_proportional_millionths.to_be_bytes());
        if let Some(max) = self.htlc_maximum_msat {
            out.extend_from_slice(&max.to_be_bytes());
        }
        out.extend_from_slice(&self.excess);
        out
    }

    /// BOLT 7 `channel_flags` bit 0: 0 means the update comes from `node_id_1`, 1 from
    /// `node_id_2`.
    pub fn direction(&self) -> u8 {
        self.channel_flags & 1
    }

    /// BOLT 7 `channel_flags` bit 1.
    pub fn is_disabled(&self) -> bool {
        self.channel_flags & 2 != 0
    }
}

impl GossipMessage {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        match be_u16(msg, 0)? {
            CHANNEL_ANNOUNCEMENT => ChannelAnnouncement::parse(msg).map(Self::ChannelAnnouncement),
            NODE_ANNOUNCEMENT => NodeAnnouncement::parse(msg).map(Self::NodeAnnouncement),
            CHANNEL_UPDATE => ChannelUpdate::parse(msg).map(Self::ChannelUpdate),
            other => Err(DecodeError::UnexpectedType(other)),
        }
    }

    pub fn serialize(&self) -> Vec<u8> {
        match self {
            Self::ChannelAnnouncement(m) => m.serialize(),
            Self::NodeAnnouncement(m) => m.serialize(),
            Self::ChannelUpdate(m) => m.serialize(),
        }
    }

    pub fn kind(&self) -> GossipKind {
        match self {
            Self::ChannelAnnouncement(_) => GossipKind::ChannelAnnouncement,
            Self::NodeAnnouncement(_) => GossipKind::NodeAnnouncement,
            Self::ChannelUpdate(_) => GossipKind::ChannelUpdate,
        }
    }
}

fn put_u16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(bytes.get(..len).unwrap_or(&[]));
}

fn array<const N: usize>(msg: &[u8], at: usize) -> Result<[u8; N], DecodeError> {
    let end = at.checked_add(N).ok_or(DecodeError::ShortRead)?;
    msg.get(at..end)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(DecodeError::ShortRead)
}

fn be_u16(msg: &[u8], at: usize) -> Result<u16, DecodeError> {
    array(msg, at).map(u16::from_be_bytes)
}

fn be_u32(msg: &[u8], at: usize) -> Result<u32, DecodeError> {
    array(msg, at).map(u32::from_be_bytes)
}

fn be_u64(msg: &[u8], at: usize) -> Result<u64, DecodeError> {
    array(msg, at).map(u64::from_be_bytes)
}

/// Sequential checked reads over one message.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Checks the 2-byte type and positions the reader after it.
    fn for_type(msg: &'a [u8], expected: u16) -> Result<Self, DecodeError> {
        let found = be_u16(msg, 0)?;
        if found != expected {
            return Err(DecodeError::UnexpectedType(found));
        }
        Ok(Reader { msg, pos: 2 })
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::ShortRead)?;
        let out = self.msg.get(self.pos..end).ok_or(DecodeError::ShortRead)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let out = array(self.msg, self.pos)?;
        self.pos += N;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.array::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_be_bytes)
    }

    /// A `u16` length followed by that many bytes.
    fn u16_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.bytes(usize::from(len))
    }

    fn rest(self) -> &'a [u8] {
        self.msg.get(self.pos..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use secp256k1::{ecdsa::Signature, Message, PublicKey, SECP256K1};
    use std::collections::HashMap;
    use std::io::Read;

    fn sample_ca() -> ChannelAnnouncement {
        ChannelAnnouncement {
            node_signature_1: [1; 64],
            node_signature_2: [2; 64],
            bitcoin_signature_1: [3; 64],
            bitcoin_signature_2: [4; 64],
            features: vec![0x01, 0x00],
            chain_hash: [5; 32],
            short_channel_id: 0x0008_3a84_0003_4d01,
            node_id_1: [2; 33],
            node_id_2: [3; 33],
            bitcoin_key_1: [6; 33],
            bitcoin_key_2: [7; 33],
            excess: Vec::new(),
        }
    }

    fn sample_na() -> NodeAnnouncement {
        let mut alias = [0u8; 32];
        alias[..5].copy_from_slice(b"hello");
        NodeAnnouncement {
            signature: [9; 64],
            features: vec![0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0xa2, 0x69, 0xa2],
            timestamp: 1_700_000_000,
            node_id: [2; 33],
            rgb_color: [1, 2, 3],
            alias,
            addresses: vec![
                Address::Ipv4 {
                    addr: [1, 2, 3, 4],
                    port: 9735,
                },
                Address::Dns {
                    hostname: b"a.example".to_vec(),
                    port: 9735,
                },
            ],
            excess: Vec::new(),
        }
    }

    fn sample_cu() -> ChannelUpdate {
        ChannelUpdate {
            signature: [8; 64],
            chain_hash: [5; 32],
            short_channel_id: 42,
            timestamp: 1_700_000_001,
            message_flags: 1,
            channel_flags: 1,
            cltv_expiry_delta: 144,
            htlc_minimum_msat: 1000,
            fee_base_msat: 1000,
            fee_proportional_millionths: 1,
            htlc_maximum_msat: Some(990_000_000),
            excess: Vec::new(),
        }
    }

    #[test]
    fn samples_round_trip_with_expected_lengths() {
        let ca = sample_ca().serialize();
        assert_eq!(ca.len(), 2 + 256 + 2 + 2 + 32 + 8 + 4 * 33);
        assert_eq!(ChannelAnnouncement::parse(&ca), Ok(sample_ca()));
        let na = sample_na().serialize();
        assert_eq!(na.len(), 2 + 64 + 2 + 9 + 4 + 33 + 3 + 32 + 2 + 7 + 13);
        assert_eq!(NodeAnnouncement::parse(&na), Ok(sample_na()));
        assert_eq!(sample_na().alias_trimmed(), b"hello");
        let cu = sample_cu().serialize();
        assert_eq!(cu.len(), 138);
        assert_eq!(ChannelUpdate::parse(&cu), Ok(sample_cu()));
        assert_eq!(sample_cu().direction(), 1);
        assert!(!sample_cu().is_disabled());
    }

    #[test]
    fn update_without_htlc_max_is_malformed_even_with_bytes_where_it_would_be() {
        let mut cu = sample_cu();
        cu.message_flags = 0;
        cu.htlc_maximum_msat = None;
        cu.excess = vec![0xde; 8];
        let bytes = cu.serialize();
        assert_eq!(bytes.len(), 130 + 8);
        assert_eq!(ChannelUpdate::parse(&bytes), Err(DecodeError::InvalidValue));
        assert_eq!(summarize(&bytes), Err(DecodeError::InvalidValue));
        // Bit 0 set but the field cut off: short at the summary already.
        let mut short = sample_cu().serialize();
        short.truncate(short.len() - 8);
        assert_eq!(summarize(&short), Err(DecodeError::ShortRead));
    }

    #[test]
    fn dont_forward_is_summarized() {
        let mut cu = sample_cu();
        cu.message_flags |= MESSAGE_FLAG_DONT_FORWARD;
        let bytes = cu.serialize();
        assert!(matches!(
            summarize(&bytes),
            Ok(Summary::ChannelUpdate {
                dont_forward: true,
                ..
            })
        ));
        assert_eq!(ChannelUpdate::parse(&bytes), Ok(cu));
    }

    #[test]
    fn wrong_type_and_empty_input_are_errors() {
        let ca = sample_ca().serialize();
        assert_eq!(
            NodeAnnouncement::parse(&ca),
            Err(DecodeError::UnexpectedType(256))
        );
        assert_eq!(GossipMessage::parse(&[]), Err(DecodeError::ShortRead));
        assert_eq!(summarize(&[1]), Err(DecodeError::ShortRead));
        assert_eq!(
            GossipMessage::parse(&[0x01, 0x03]),
            Err(DecodeError::UnexpectedType(259))
        );
        assert_eq!(
            summarize(&[0x00, 0x12]),
            Err(DecodeError::UnexpectedType(18))
        );
    }

    #[test]
    fn every_truncation_fails_without_panic() {
        for msg in [
            sample_ca().serialize(),
            sample_na().serialize(),
            sample_cu().serialize(),
        ] {
            for cut in 0..msg.len() {
                assert!(GossipMessage::parse(&msg[..cut]).is_err(), "cut {cut}");
            }
        }
    }

    #[test]
    fn excess_is_kept_and_signed() {
        let mut ca = sample_ca();
        ca.excess = vec![1, 2, 3];
        let bytes = ca.serialize();
        assert_eq!(ChannelAnnouncement::parse(&bytes), Ok(ca.clone()));
        let plain = sample_ca().serialize();
        assert_ne!(
            signed_digest(&bytes, CHANNEL_ANNOUNCEMENT_SIGNED_FROM),
            signed_digest(&plain, CHANNEL_ANNOUNCEMENT_SIGNED_FROM)
        );
        // Prefixes that still hold every known field parse, with a shorter excess.
        assert_eq!(
            ChannelAnnouncement::parse(&bytes[..bytes.len() - 1])
                .unwrap()
                .excess,
            vec![1, 2]
        );
    }

    #[test]
    fn signed_digest_is_double_sha256() {
        let msg = sample_cu().serialize();
        let expected: [u8; 32] = Sha256::digest(Sha256::digest(&msg[66..])).into();
        assert_eq!(signed_digest(&msg, SINGLE_SIG_SIGNED_FROM), Some(expected));
        assert_eq!(signed_digest(&msg[..65], SINGLE_SIG_SIGNED_FROM), None);
        // An empty region still has a digest: only "shorter than the offset" is refused.
        assert!(signed_digest(&msg[..66], SINGLE_SIG_SIGNED_FROM).is_some());
    }

    fn bytes_n(n: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), n)
    }

    fn arr<const N: usize>(v: Vec<u8>) -> [u8; N] {
        <[u8; N]>::try_from(v).unwrap()
    }

    fn address() -> impl Strategy<Value = Address> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(addr, port)| Address::Ipv4 { addr, port }),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(addr, port)| Address::Ipv6 { addr, port }),
            (any::<[u8; 10]>(), any::<u16>())
                .prop_map(|(addr, port)| Address::TorV2 { addr, port }),
            (any::<[u8; 32]>(), any::<u16>(), any::<u8>(), any::<u16>()).prop_map(
                |(ed25519_pubkey, checksum, version, port)| Address::TorV3 {
                    ed25519_pubkey,
                    checksum,
                    version,
                    port
                }
            ),
            ("[a-z0-9.-]{0,60}", any::<u16>()).prop_map(|(h, port)| Address::Dns {
                hostname: h.into_bytes(),
                port
            }),
        ]
    }

    fn addresses() -> impl Strategy<Value = Vec<Address>> {
        let unknown = (6u8..=255, prop::collection::vec(any::<u8>(), 0..20)).prop_map(
            |(descriptor_type, data)| Address::Unknown {
                descriptor_type,
                data,
            },
        );
        (
            prop::collection::vec(address(), 0..5),
            prop::option::of(unknown),
        )
            .prop_map(|(mut v, u)| {
                v.extend(u);
                v
            })
    }

    fn excess() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..40)
    }

    fn channel_announcement() -> impl Strategy<Value = ChannelAnnouncement> {
        (
            prop::collection::vec(bytes_n(64), 4),
            prop::collection::vec(any::<u8>(), 0..20),
            any::<[u8; 32]>(),
            any::<u64>(),
            prop::collection::vec(bytes_n(33), 4),
            excess(),
        )
            .prop_map(|(mut sigs, features, chain_hash, scid, mut keys, excess)| {
                ChannelAnnouncement {
                    bitcoin_signature_2: arr(sigs.pop().unwrap()),
                    bitcoin_signature_1: arr(sigs.pop().unwrap()),
                    node_signature_2: arr(sigs.pop().unwrap()),
                    node_signature_1: arr(sigs.pop().unwrap()),
                    features,
                    chain_hash,
                    short_channel_id: scid,
                    bitcoin_key_2: arr(keys.pop().unwrap()),
                    bitcoin_key_1: arr(keys.pop().unwrap()),
                    node_id_2: arr(keys.pop().unwrap()),
                    node_id_1: arr(keys.pop().unwrap()),
                    excess,
                }
            })
    }

    fn node_announcement() -> impl Strategy<Value = NodeAnnouncement> {
        (
            bytes_n(64),
            prop::collection::vec(any::<u8>(), 0..20),
            any::<u32>(),
            bytes_n(33),
            any::<[u8; 3]>(),
            any::<[u8; 32]>(),
            addresses(),
            excess(),
        )
            .prop_map(
                |(sig, features, timestamp, node_id, rgb_color, alias, addresses, excess)| {
                    NodeAnnouncement {
                        signature: arr(sig),
                        features,
                        timestamp,
                        node_id: arr(node_id),
                        rgb_color,
                        alias,
                        addresses,
                        excess,
                    }
                },
            )
    }

    fn channel_update() -> impl Strategy<Value = ChannelUpdate> {
        (
            bytes_n(64),
            any::<[u8; 32]>(),
            any::<u64>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
            any::<u64>(),
            (any::<u32>(), any::<u32>(), any::<u64>()),
            excess(),
        )
            .prop_map(
                |(sig, chain_hash, scid, timestamp, mflags, cflags, cltv, min, rest, excess)| {
                    let (fee_base_msat, fee_proportional_millionths, max) = rest;
                    ChannelUpdate {
                        signature: arr(sig),
                        chain_hash,
                        short_channel_id: scid,
                        timestamp,
                        message_flags: mflags | MESSAGE_FLAG_MUST_BE_ONE,
                        channel_flags: cflags,
                        cltv_expiry_delta: cltv,
                        htlc_minimum_msat: min,
                        fee_base_msat,
                        fee_proportional_millionths,
                        htlc_maximum_msat: Some(max),
                        excess,
                    }
                },
            )
    }

    fn gossip_message() -> impl Strategy<Value = GossipMessage> {
        prop_oneof![
            channel_announcement().prop_map(GossipMessage::ChannelAnnouncement),
            node_announcement().prop_map(GossipMessage::NodeAnnouncement),
            channel_update().prop_map(GossipMessage::ChannelUpdate),
        ]
    }

    /// The summary `parse` implies, to check `summarize` against.
    fn summary_of(m: &GossipMessage) -> Summary {
        match m {
            GossipMessage::ChannelAnnouncement(c) => Summary::ChannelAnnouncement {
                chain_hash: c.chain_hash,
                short_channel_id: c.short_channel_id,
                node_id_1: c.node_id_1,
                node_id_2: c.node_id_2,
            },
            GossipMessage::NodeAnnouncement(n) => Summary::NodeAnnouncement {
                timestamp: n.timestamp,
                node_id: n.node_id,
            },
            GossipMessage::ChannelUpdate(u) => Summary::ChannelUpdate {
                chain_hash: u.chain_hash,
                short_channel_id: u.short_channel_id,
                timestamp: u.timestamp,
                channel_flags: u.channel_flags,
                dont_forward: u.message_flags & MESSAGE_FLAG_DONT_FORWARD != 0,
            },
        }
    }

    proptest! {
        #[test]
        fn serialize_parse_round_trips(m in gossip_message()) {
            let bytes = m.serialize();
            let parsed = GossipMessage::parse(&bytes).unwrap();
            prop_assert_eq!(&parsed, &m);
            prop_assert_eq!(parsed.serialize(), bytes.clone());
            prop_assert_eq!(parsed.kind(), m.kind());
            let summary = summarize(&bytes).unwrap();
            prop_assert_eq!(summary, summary_of(&m));
            prop_assert_eq!(summary.kind(), m.kind());
        }

        #[test]
        fn arbitrary_bytes_never_panic(ty in 255u16..=259, body in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut msg = ty.to_be_bytes().to_vec();
            msg.extend(body);
            let parsed = GossipMessage::parse(&msg);
            let summary = summarize(&msg);
            if let Ok(m) = parsed {
                // Whatever parses must re-serialize to the same bytes and summarize alike.
                prop_assert_eq!(m.serialize(), msg.clone());
                prop_assert_eq!(summary, Ok(summary_of(&m)));
            }
        }
    }

    /// Gossip messages of a Core Lightning gossip_store (v10+ record layout), deleted ones too.
    fn store_messages(name: &str, has_version: bool) -> Vec<Vec<u8>> {
        let file =
            std::fs::File::open(crate::test_vectors::shared(&format!("gossip_store/{name}")))
                .unwrap();
        let mut data = Vec::new();
        xz2::read::XzDecoder::new(file)
            .read_to_end(&mut data)
            .unwrap();
        let mut pos = usize::from(has_version);
        let mut out = Vec::new();
        while pos < data.len() {
            let header = &data[pos..pos + 12];
            let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
            let msg = data[pos + 12..pos + 12 + len].to_vec();
            pos += 12 + len;
            let ty = u16::from_be_bytes([msg[0], msg[1]]);
            if GossipKind::from_type(ty).is_some() {
                out.push(msg);
            }
        }
        assert_eq!(pos, data.len(), "{name}: trailing partial record");
        out
    }

    fn verify(msg: &[u8], from: usize, sig: &[u8; 64], key: &[u8; 33]) -> bool {
        let digest = signed_digest(msg, from).unwrap();
        let sig = Signature::from_compact(sig).unwrap();
        let key = PublicKey::from_slice(key).unwrap();
        SECP256K1
            .verify_ecdsa(&Message::from_digest(digest), &sig, &key)
            .is_ok()
    }

    #[test]
    fn core_lightning_stores_round_trip_and_verify() {
        let files = [
            ("gossip_store-part1.xz", true, [45, 0, 4]),
            ("gossip_store-part2.xz", false, [44, 0, 4]),
            ("gossip_store.mesh-3x3.xz", true, [12, 9, 24]),
            ("gossip_store.simple.xz", true, [1, 2, 2]),
        ];
        for (name, has_version, expected_counts) in files {
            let mut counts = [0usize; 3];
            let mut channels: HashMap<u64, ChannelAnnouncement> = HashMap::new();
            let mut updates = Vec::new();
            for msg in store_messages(name, has_version) {
                let parsed = GossipMessage::parse(&msg).unwrap();
                assert_eq!(parsed.serialize(), msg, "{name}: round trip");
                assert_eq!(summarize(&msg), Ok(summary_of(&parsed)), "{name}: summary");
                counts[parsed.kind().index()] += 1;
                match parsed {
                    GossipMessage::ChannelAnnouncement(ca) => {
                        let from = CHANNEL_ANNOUNCEMENT_SIGNED_FROM;
                        assert!(verify(&msg, from, &ca.node_signature_1, &ca.node_id_1));
                        assert!(verify(&msg, from, &ca.node_signature_2, &ca.node_id_2));
                        assert!(verify(
                            &msg,
                            from,
                            &ca.bitcoin_signature_1,
                            &ca.bitcoin_key_1
                        ));
                        assert!(verify(
                            &msg,
                            from,
                            &ca.bitcoin_signature_2,
                            &ca.bitcoin_key_2
                        ));
                        assert!(ca.node_id_1 < ca.node_id_2, "BOLT 7 node order");
                        channels.insert(ca.short_channel_id, ca);
                    }
                    GossipMessage::NodeAnnouncement(na) => {
                        assert!(verify(
                            &msg,
                            SINGLE_SIG_SIGNED_FROM,
                            &na.signature,
                            &na.node_id
                        ));
                    }
                    GossipMessage::ChannelUpdate(cu) => updates.push((msg, cu)),
                }
            }
            assert_eq!(counts, expected_counts, "{name}: per-kind counts");
            for (msg, cu) in updates {
                let Some(ca) = channels.get(&cu.short_channel_id) else {
                    continue;
                };
                let key = if cu.direction() == 0 {
                    &ca.node_id_1
                } else {
                    &ca.node_id_2
                };
                assert!(verify(&msg, SINGLE_SIG_SIGNED_FROM, &cu.signature, key));
            }
        }
    }
}
