//! Fixed-position fields of stored gossip messages, read without a full parse. These bytes
//! come from our own store (verified before they were written), but are still read with
//! bounds checks: a short or foreign record yields `None`, never a panic.

use crate::graph::NodeId;

/// BOLT 7 channel_update: type (2) + signature (64) + chain_hash (32), then the scid.
const UPDATE_SCID: usize = 2 + 64 + 32;
const UPDATE_TIMESTAMP: usize = UPDATE_SCID + 8;
const UPDATE_MESSAGE_FLAGS: usize = UPDATE_TIMESTAMP + 4;
/// channel_announcement: type + four signatures, then the features' u16 length.
const ANNOUNCEMENT_FEATURES: usize = 2 + 4 * 64;
/// node_announcement: type + signature, then the features' u16 length.
const NODE_FEATURES: usize = 2 + 64;

/// BOLT 7 `message_flags` bit 1: `dont_forward` ("MUST NOT forward").
pub const DONT_FORWARD: u8 = 1 << 1;

fn u16_at(msg: &[u8], at: usize) -> Option<usize> {
    let b = msg.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
}

fn u64_at(msg: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = msg.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// The fields of a channel_update the serving side decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpdateFields {
    pub short_channel_id: u64,
    pub timestamp: u32,
    pub message_flags: u8,
    /// `channel_flags & 1`.
    pub direction: usize,
}

pub fn update_fields(msg: &[u8]) -> Option<UpdateFields> {
    let ts: [u8; 4] = msg
        .get(UPDATE_TIMESTAMP..UPDATE_TIMESTAMP + 4)?
        .try_into()
        .ok()?;
    Some(UpdateFields {
        short_channel_id: u64_at(msg, UPDATE_SCID)?,
        timestamp: u32::from_be_bytes(ts),
        message_flags: *msg.get(UPDATE_MESSAGE_FLAGS)?,
        direction: usize::from(*msg.get(UPDATE_MESSAGE_FLAGS + 1)? & 1),
    })
}

/// The short_channel_id of a channel_announcement (after its features and chain_hash).
pub fn announcement_scid(msg: &[u8]) -> Option<u64> {
    let features = u16_at(msg, ANNOUNCEMENT_FEATURES)?;
    u64_at(msg, ANNOUNCEMENT_FEATURES + 2 + features + 32)
}

/// The node_id of a node_announcement (after its features and timestamp).
pub fn node_announcement_id(msg: &[u8]) -> Option<NodeId> {
    let features = u16_at(msg, NODE_FEATURES)?;
    let at = NODE_FEATURES + 2 + features + 4;
    msg.get(at..at + 33)?.try_into().ok()
}

/// Excess bytes we still serve: LDK's `MAX_EXCESS_BYTES_FOR_RELAY`. BOLT 7 has a node keep
/// and relay what follows the known fields (the signature covers it), but a message may carry
/// 65 KB of it; LDK accepts such messages into its graph and relays only those with at most
/// this much, and so do we: every valid message is accepted and stored (its policy is not
/// lost), and one with more is served to no peer (not streamed, relayed or given in replies).
pub const MAX_EXCESS_BYTES_FOR_RELAY: usize = 1024;

/// channel_update with `htlc_maximum_msat` (BOLT 7 requires it; shorter ones are malformed).
const UPDATE_KNOWN_LEN: usize = UPDATE_MESSAGE_FLAGS + 1 + 1 + 2 + 8 + 4 + 4 + 8;
/// channel_announcement after its features: chain_hash, scid, two node ids, two bitcoin keys.
const ANNOUNCEMENT_TAIL: usize = 32 + 8 + 4 * 33;
/// node_announcement after its features: timestamp, node_id, rgb_color, alias, then addrlen.
const NODE_TAIL: usize = 4 + 33 + 3 + 32;

/// Bytes after the known fields of a stored gossip message, or `None` if it is too short to
/// tell (a foreign record).
pub fn excess_len(msg: &[u8]) -> Option<usize> {
    let known = match u16_at(msg, 0)? {
        256 => ANNOUNCEMENT_FEATURES + 2 + u16_at(msg, ANNOUNCEMENT_FEATURES)? + ANNOUNCEMENT_TAIL,
        257 => {
            let addresses_at = NODE_FEATURES + 2 + u16_at(msg, NODE_FEATURES)? + NODE_TAIL;
            addresses_at + 2 + u16_at(msg, addresses_at)?
        }
        258 => UPDATE_KNOWN_LEN,
        _ => return None,
    };
    msg.len().checked_sub(known)
}

/// Whether a stored message may be served to peers (see [`MAX_EXCESS_BYTES_FOR_RELAY`]).
pub fn servable(msg: &[u8]) -> bool {
    excess_len(msg).is_some_and(|excess| excess <= MAX_EXCESS_BYTES_FOR_RELAY)
}

/// BOLT 7: "The checksum of a channel_update is the CRC32C checksum as specified in RFC3720 of
/// this channel_update without its signature and timestamp fields." As Core Lightning computes
/// it (`crc32_of_update`): chain_hash and scid, then everything after the timestamp; the type
/// is not part of it.
pub fn update_checksum(msg: &[u8]) -> Option<u32> {
    let head = msg.get(2 + 64..UPDATE_TIMESTAMP)?;
    let tail = msg.get(UPDATE_MESSAGE_FLAGS..)?;
    Some(crc32c::crc32c_append(crc32c::crc32c(head), tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::corpus::{generate, CorpusSpec};
    use crate::wire::gossip::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};

    #[test]
    fn fields_agree_with_the_full_parsers() {
        let spec = CorpusSpec {
            nodes: 10,
            channels: 20,
            seed: 5,
            invalid_rate: 0.0,
            ..CorpusSpec::default()
        };
        let mut checked = [0; 3];
        generate(&spec, |msg| {
            if let Ok(a) = ChannelAnnouncement::parse(&msg) {
                assert_eq!(announcement_scid(&msg), Some(a.short_channel_id));
                checked[0] += 1;
            } else if let Ok(u) = ChannelUpdate::parse(&msg) {
                let f = update_fields(&msg).unwrap();
                assert_eq!(f.short_channel_id, u.short_channel_id);
                assert_eq!(f.timestamp, u.timestamp);
                assert_eq!(f.message_flags, u.message_flags);
                assert_eq!(f.direction, usize::from(u.channel_flags & 1));
                // The checksum ignores signature and timestamp.
                let mut other = u.clone();
                other.timestamp += 1;
                other.signature = [9; 64];
                assert_eq!(update_checksum(&msg), update_checksum(&other.serialize()));
                other.fee_base_msat += 1;
                assert_ne!(update_checksum(&msg), update_checksum(&other.serialize()));
                checked[1] += 1;
            } else if let Ok(n) = NodeAnnouncement::parse(&msg) {
                assert_eq!(node_announcement_id(&msg), Some(n.node_id));
                checked[2] += 1;
            }
        });
        assert!(checked.iter().all(|c| *c > 0), "{checked:?}");
        assert_eq!(update_fields(&[1, 2, 3]), None);
        assert_eq!(excess_len(&[1, 2, 3]), None);
        assert_eq!(announcement_scid(&[]), None);
    }

    #[test]
    fn excess_is_what_follows_the_known_fields_of_every_kind() {
        let spec = CorpusSpec {
            nodes: 10,
            channels: 20,
            seed: 6,
            invalid_rate: 0.0,
            ..CorpusSpec::default()
        };
        let mut checked = [0; 3];
        generate(&spec, |msg| {
            for excess in [
                0,
                MAX_EXCESS_BYTES_FOR_RELAY,
                MAX_EXCESS_BYTES_FOR_RELAY + 1,
            ] {
                let (with, kind) = if let Ok(mut a) = ChannelAnnouncement::parse(&msg) {
                    a.excess = vec![7; excess];
                    (a.serialize(), 0)
                } else if let Ok(mut u) = ChannelUpdate::parse(&msg) {
                    u.excess = vec![7; excess];
                    (u.serialize(), 1)
                } else if let Ok(mut n) = NodeAnnouncement::parse(&msg) {
                    n.excess = vec![7; excess];
                    (n.serialize(), 2)
                } else {
                    return;
                };
                assert_eq!(excess_len(&with), Some(excess));
                assert_eq!(servable(&with), excess <= MAX_EXCESS_BYTES_FOR_RELAY);
                checked[kind] += 1;
            }
        });
        assert!(checked.iter().all(|c| *c > 0), "{checked:?}");
    }
}
