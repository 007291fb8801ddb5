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
        assert_eq!(announcement_scid(&[]), None);
    }
}
