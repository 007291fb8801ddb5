//! Message type numbers and the three gossip kinds the sieve ingests.

/// BOLT 7 `channel_announcement`.
pub const CHANNEL_ANNOUNCEMENT: u16 = 256;
/// BOLT 7 `node_announcement`.
pub const NODE_ANNOUNCEMENT: u16 = 257;
/// BOLT 7 `channel_update`.
pub const CHANNEL_UPDATE: u16 = 258;

/// The gossip message kinds that go through dedup and verification. The `as_str` names are the
/// `type` label values of the metric contract (DESIGN §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GossipKind {
    ChannelAnnouncement,
    NodeAnnouncement,
    ChannelUpdate,
}

impl GossipKind {
    pub const ALL: [GossipKind; 3] = [
        GossipKind::ChannelAnnouncement,
        GossipKind::NodeAnnouncement,
        GossipKind::ChannelUpdate,
    ];

    pub fn from_type(message_type: u16) -> Option<Self> {
        match message_type {
            CHANNEL_ANNOUNCEMENT => Some(GossipKind::ChannelAnnouncement),
            NODE_ANNOUNCEMENT => Some(GossipKind::NodeAnnouncement),
            CHANNEL_UPDATE => Some(GossipKind::ChannelUpdate),
            _ => None,
        }
    }

    #[inline]
    pub fn message_type(self) -> u16 {
        match self {
            GossipKind::ChannelAnnouncement => CHANNEL_ANNOUNCEMENT,
            GossipKind::NodeAnnouncement => NODE_ANNOUNCEMENT,
            GossipKind::ChannelUpdate => CHANNEL_UPDATE,
        }
    }

    /// Dense index for per-kind arrays of counters.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GossipKind::ChannelAnnouncement => "channel_announcement",
            GossipKind::NodeAnnouncement => "node_announcement",
            GossipKind::ChannelUpdate => "channel_update",
        }
    }

    /// Number of signatures a message of this kind carries (BOLT 7).
    pub fn signature_count(self) -> u64 {
        match self {
            GossipKind::ChannelAnnouncement => 4,
            GossipKind::NodeAnnouncement | GossipKind::ChannelUpdate => 1,
        }
    }
}

/// Why bytes could not be decoded. Every variant maps to the drop reason `malformed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The message ended before a fixed-size field or a declared length was complete.
    #[error("message ended before a field was complete")]
    ShortRead,
    /// A length prefix disagrees with the bytes that follow it (e.g. an address list whose
    /// descriptors overrun `addrlen`).
    #[error("a length descriptor does not match its content")]
    BadLengthDescriptor,
    /// The 2-byte type is not the one this parser handles.
    #[error("unexpected message type {0}")]
    UnexpectedType(u16),
    /// A BigSize integer was not minimally encoded (BOLT 1).
    #[error("non-canonical BigSize encoding")]
    NonCanonicalBigSize,
    /// TLV records out of order, duplicated, or an unknown even type (BOLT 1).
    #[error("invalid TLV stream")]
    InvalidTlvStream,
    /// A field holds a value the spec forbids (e.g. a DNS hostname that is not ASCII).
    #[error("invalid field value")]
    InvalidValue,
}

/// The 2-byte big-endian type at the start of a message, if it has one.
pub fn message_type(msg: &[u8]) -> Option<u16> {
    match msg {
        [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// The gossip kind from the 2-byte type, without parsing anything else.
#[inline]
pub fn message_kind(msg: &[u8]) -> Option<GossipKind> {
    GossipKind::from_type(message_type(msg)?)
}
