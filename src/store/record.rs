//! One `gossip_store` record: the 12-byte header, its flag bits, its checksum and the record
//! kinds Core Lightning stores. Everything else in [`crate::store`] builds on these.
//!
//! Layout (Core Lightning `common/gossip_store.h`, `struct gossip_hdr`, all big-endian):
//!
//! ```text
//! flags u16 | len u16 | crc u32 | timestamp u32 | msg[len]
//! ```
//!
//! `crc` is `crc32c(timestamp, msg)` in ccan's convention: the timestamp is the *initial CRC
//! value* (pre/post-inverted like any crc32c), which is what `crc32c::crc32c_append(timestamp,
//! msg)` computes. The flags and header are not covered, so a flag can be flipped in place.

use std::fmt;

/// Version byte we write: major 0 (top 3 bits), minor 16. Minor 16 introduced the leading
/// `gossip_store_uuid` record and the uuid inside `gossip_store_ended`.
pub const VERSION_CURRENT: u8 = 0x10;
/// Oldest minor version we read: 15 introduced [`FLAG_COMPLETED`]. Before it, bit 0x2000 meant
/// "rate-limited" (v9..v13), so the completeness rule cannot be applied to older files.
pub const MIN_MINOR_VERSION: u8 = 15;
/// Mask of the major part of the version byte; a non-zero major is an incompatible format.
pub const MAJOR_VERSION_MASK: u8 = 0xE0;
/// Mask of the minor part of the version byte.
pub const MINOR_VERSION_MASK: u8 = 0x1F;

/// Size of the on-disk header preceding every message.
pub const HEADER_LEN: usize = 12;
/// Largest message a record can hold (the length field is a u16).
pub const MAX_MSG_LEN: usize = u16::MAX as usize;

/// Record is superseded; readers skip it, compaction drops it.
pub const FLAG_DELETED: u16 = 0x8000;
/// Locally generated gossip that is always relayed regardless of timestamp filters.
pub const FLAG_PUSH: u16 = 0x4000;
/// Set on every fully written record (v15+). Core Lightning's readers and pyln's `Gossmap`
/// treat the first record without it as the end of the file (still being written).
pub const FLAG_COMPLETED: u16 = 0x2000;
/// Channel announcement whose funding output was spent; kept for 12 blocks before deletion.
pub const FLAG_DYING: u16 = 0x0800;

/// Core Lightning's stored message types (`common/gossip_store_wire.csv`) plus the three BOLT 7
/// messages the store holds verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// BOLT 7 `channel_announcement` (256).
    ChannelAnnouncement,
    /// BOLT 7 `node_announcement` (257).
    NodeAnnouncement,
    /// BOLT 7 `channel_update` (258).
    ChannelUpdate,
    /// 4101 `gossip_store_channel_amount { satoshis: u64 }`; follows every channel_announcement.
    ChannelAmount,
    /// 4102 obsolete private update (removed in v13).
    PrivateUpdateObs,
    /// 4103 `gossip_store_delete_chan { scid: u64 }`: tombstone telling readers to drop a channel.
    DeleteChan,
    /// 4104 obsolete private channel (removed in v13).
    PrivateChannelObs,
    /// 4105 `gossip_store_ended { equivalent_offset: u64, uuid: [u8; 32] }` (v16; v15 had no
    /// uuid): appended to a file that has been replaced by a compacted one.
    Ended,
    /// 4106 `gossip_store_chan_dying { scid: u64, blockheight: u32 }`.
    ChanDying,
    /// 4107 `gossip_store_uuid { uuid: [u8; 32] }`: first record of a v16 file.
    Uuid,
    /// Anything else; readers must skip unknown types.
    Other(u16),
}

impl RecordKind {
    /// Message type number of this kind.
    pub fn type_number(self) -> u16 {
        match self {
            RecordKind::ChannelAnnouncement => 256,
            RecordKind::NodeAnnouncement => 257,
            RecordKind::ChannelUpdate => 258,
            RecordKind::ChannelAmount => 4101,
            RecordKind::PrivateUpdateObs => 4102,
            RecordKind::DeleteChan => 4103,
            RecordKind::PrivateChannelObs => 4104,
            RecordKind::Ended => 4105,
            RecordKind::ChanDying => 4106,
            RecordKind::Uuid => 4107,
            RecordKind::Other(t) => t,
        }
    }

    /// Kind for a message type number.
    pub fn from_type(t: u16) -> RecordKind {
        match t {
            256 => RecordKind::ChannelAnnouncement,
            257 => RecordKind::NodeAnnouncement,
            258 => RecordKind::ChannelUpdate,
            4101 => RecordKind::ChannelAmount,
            4102 => RecordKind::PrivateUpdateObs,
            4103 => RecordKind::DeleteChan,
            4104 => RecordKind::PrivateChannelObs,
            4105 => RecordKind::Ended,
            4106 => RecordKind::ChanDying,
            4107 => RecordKind::Uuid,
            other => RecordKind::Other(other),
        }
    }

    /// Kind of a stored message, from its leading big-endian type; `None` if shorter than 2 bytes.
    pub fn of_msg(msg: &[u8]) -> Option<RecordKind> {
        let t = msg.get(..2)?;
        Some(RecordKind::from_type(u16::from_be_bytes([t[0], t[1]])))
    }
}

/// Decoded record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// `FLAG_*` bits.
    pub flags: u16,
    /// Length of the message that follows.
    pub len: u16,
    /// `crc32c(timestamp, msg)`.
    pub crc: u32,
    /// Gossip timestamp (0 for Core Lightning's internal records).
    pub timestamp: u32,
}

impl RecordHeader {
    /// Header for `msg` with the checksum filled in. `None` if `msg` exceeds [`MAX_MSG_LEN`].
    pub fn for_msg(flags: u16, timestamp: u32, msg: &[u8]) -> Option<RecordHeader> {
        let len = u16::try_from(msg.len()).ok()?;
        Some(RecordHeader {
            flags,
            len,
            crc: record_crc(timestamp, msg),
            timestamp,
        })
    }

    /// Big-endian on-disk form.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..2].copy_from_slice(&self.flags.to_be_bytes());
        out[2..4].copy_from_slice(&self.len.to_be_bytes());
        out[4..8].copy_from_slice(&self.crc.to_be_bytes());
        out[8..12].copy_from_slice(&self.timestamp.to_be_bytes());
        out
    }

    /// Parse the on-disk form.
    pub fn decode(b: &[u8; HEADER_LEN]) -> RecordHeader {
        RecordHeader {
            flags: u16::from_be_bytes([b[0], b[1]]),
            len: u16::from_be_bytes([b[2], b[3]]),
            crc: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            timestamp: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }

    /// Does `msg` match this header's checksum?
    pub fn crc_matches(&self, msg: &[u8]) -> bool {
        record_crc(self.timestamp, msg) == self.crc
    }

    /// [`FLAG_DELETED`] set?
    pub fn is_deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    /// [`FLAG_COMPLETED`] set?
    pub fn is_completed(&self) -> bool {
        self.flags & FLAG_COMPLETED != 0
    }
}

/// Checksum of a record: crc32c with the timestamp as initial value (ccan `crc32c(start, ..)`).
pub fn record_crc(timestamp: u32, msg: &[u8]) -> u32 {
    crc32c::crc32c_append(timestamp, msg)
}

/// Whole record (header + message) ready to write. `None` if `msg` exceeds [`MAX_MSG_LEN`].
pub fn encode_record(flags: u16, timestamp: u32, msg: &[u8]) -> Option<Vec<u8>> {
    let hdr = RecordHeader::for_msg(flags, timestamp, msg)?;
    let mut out = Vec::with_capacity(HEADER_LEN + msg.len());
    out.extend_from_slice(&hdr.encode());
    out.extend_from_slice(msg);
    Some(out)
}

/// `gossip_store_channel_amount` message (type 4101, u64 satoshis).
pub fn channel_amount_msg(amount_sat: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(10);
    m.extend_from_slice(&RecordKind::ChannelAmount.type_number().to_be_bytes());
    m.extend_from_slice(&amount_sat.to_be_bytes());
    m
}

/// `gossip_store_uuid` message (type 4107, 32 bytes).
pub fn uuid_msg(uuid: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(34);
    m.extend_from_slice(&RecordKind::Uuid.type_number().to_be_bytes());
    m.extend_from_slice(uuid);
    m
}

/// `gossip_store_delete_chan` message (type 4103, u64 short_channel_id).
pub fn delete_chan_msg(scid: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(10);
    m.extend_from_slice(&RecordKind::DeleteChan.type_number().to_be_bytes());
    m.extend_from_slice(&scid.to_be_bytes());
    m
}

/// Satoshis of a `gossip_store_channel_amount` message; `None` if `msg` is not exactly one.
pub fn parse_channel_amount(msg: &[u8]) -> Option<u64> {
    if RecordKind::of_msg(msg)? != RecordKind::ChannelAmount {
        return None;
    }
    let body: [u8; 8] = msg.get(2..)?.try_into().ok()?;
    Some(u64::from_be_bytes(body))
}

/// Version byte check: major must be 0 and minor at least [`MIN_MINOR_VERSION`].
pub fn version_supported(v: u8) -> bool {
    v & MAJOR_VERSION_MASK == 0 && v & MINOR_VERSION_MASK >= MIN_MINOR_VERSION
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordKind::Other(t) => write!(f, "type {t}"),
            k => write!(f, "{k:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let msg = b"\x01\x02hello";
        let hdr = RecordHeader::for_msg(FLAG_COMPLETED | FLAG_PUSH, 1_629_071_128, msg).unwrap();
        let enc = hdr.encode();
        assert_eq!(&enc[0..2], &[0x60, 0x00]);
        assert_eq!(&enc[2..4], &[0x00, 0x07]);
        let dec = RecordHeader::decode(&enc);
        assert_eq!(dec, hdr);
        assert!(dec.crc_matches(msg));
        assert!(!dec.crc_matches(b"\x01\x02hellO"));
        assert!(dec.is_completed() && !dec.is_deleted());
    }

    #[test]
    fn crc_is_seeded_by_timestamp() {
        // Seed 0 is plain crc32c; the RFC 3720 check value of "123456789" is 0xE3069283.
        assert_eq!(record_crc(0, b"123456789"), 0xE306_9283);
        assert_ne!(record_crc(1, b"123456789"), 0xE306_9283);
    }

    #[test]
    fn kinds_and_internal_messages() {
        assert_eq!(
            RecordKind::of_msg(&[0x01, 0x00]),
            Some(RecordKind::ChannelAnnouncement)
        );
        assert_eq!(RecordKind::of_msg(&[0x10]), None);
        for t in [
            256u16, 257, 258, 4101, 4102, 4103, 4104, 4105, 4106, 4107, 9,
        ] {
            assert_eq!(RecordKind::from_type(t).type_number(), t);
        }
        let amt = channel_amount_msg(0x1_0000_0001);
        assert_eq!(parse_channel_amount(&amt), Some(0x1_0000_0001));
        assert_eq!(parse_channel_amount(&amt[..9]), None);
        assert_eq!(
            RecordKind::of_msg(&uuid_msg(&[7; 32])),
            Some(RecordKind::Uuid)
        );
        assert_eq!(delete_chan_msg(1).len(), 10);
        assert!(encode_record(0, 0, &vec![0u8; MAX_MSG_LEN + 1]).is_none());
    }

    #[test]
    fn versions() {
        assert!(version_supported(0x0f));
        assert!(version_supported(0x10));
        assert!(!version_supported(0x0e), "pre-COMPLETED format");
        assert!(!version_supported(0x30), "major 1");
    }
}
