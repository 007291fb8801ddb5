//! BOLT 7 gossip query messages: `gossip_timestamp_filter`, `query_channel_range`,
//! `reply_channel_range`, `query_short_channel_ids`, `reply_short_channel_ids_end`. Parsing and
//! serialization only; what to ask for and how to answer is the peer's business.
//!
//! Lists inside these messages carry an encoding byte. Only 0 (uncompressed) is decoded; zlib
//! (1), which BOLT 7 no longer lets writers use, is kept as raw bytes so the message still
//! parses and round-trips, and asking for its values gives [`UnsupportedEncoding`].

use super::bigsize::{self, Reader};
use super::tlv::{self, TlvRecord};
use super::DecodeError;

/// BOLT 7 `query_short_channel_ids`.
pub const QUERY_SHORT_CHANNEL_IDS: u16 = 261;
/// BOLT 7 `reply_short_channel_ids_end`.
pub const REPLY_SHORT_CHANNEL_IDS_END: u16 = 262;
/// BOLT 7 `query_channel_range`.
pub const QUERY_CHANNEL_RANGE: u16 = 263;
/// BOLT 7 `reply_channel_range`.
pub const REPLY_CHANNEL_RANGE: u16 = 264;
/// BOLT 7 `gossip_timestamp_filter`.
pub const GOSSIP_TIMESTAMP_FILTER: u16 = 265;

/// `query_option` bit: ask for the channel_update timestamps in the reply.
pub const QUERY_OPTION_WANT_TIMESTAMPS: u64 = 1;
/// `query_option` bit: ask for the channel_update checksums in the reply.
pub const QUERY_OPTION_WANT_CHECKSUMS: u64 = 2;

const ENCODING_UNCOMPRESSED: u8 = 0;
const ENCODING_ZLIB: u8 = 1;

/// A list was zlib-compressed and we do not inflate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("list encoding {0} is not supported (only uncompressed, 0)")]
pub struct UnsupportedEncoding(pub u8);

/// An encoded list (`encoded_short_ids`, `encoded_timestamps`, `encoded_query_flags`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodedList<T> {
    /// Encoding 0: the values themselves.
    Uncompressed(Vec<T>),
    /// Encoding 1: the zlib stream after the encoding byte, not inflated.
    Zlib(Vec<u8>),
}

impl<T> EncodedList<T> {
    /// The decoded values, or [`UnsupportedEncoding`] for a zlib list.
    pub fn values(&self) -> Result<&[T], UnsupportedEncoding> {
        match self {
            EncodedList::Uncompressed(values) => Ok(values),
            EncodedList::Zlib(_) => Err(UnsupportedEncoding(ENCODING_ZLIB)),
        }
    }

    /// Parses `encoding_type` plus data, decoding uncompressed data with `item`, which must
    /// consume the whole slice.
    fn parse(
        bytes: &[u8],
        item: impl Fn(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<Self, DecodeError> {
        let Some((&encoding, data)) = bytes.split_first() else {
            // A zero-length list has no room for the encoding byte; it is an empty list.
            return Ok(EncodedList::Uncompressed(Vec::new()));
        };
        match encoding {
            ENCODING_UNCOMPRESSED => {
                let mut r = Reader::new(data);
                let mut values = Vec::new();
                while !r.is_empty() {
                    // A trailing partial item means the length and the layout disagree.
                    values.push(item(&mut r).map_err(|_| DecodeError::BadLengthDescriptor)?);
                }
                Ok(EncodedList::Uncompressed(values))
            }
            ENCODING_ZLIB => Ok(EncodedList::Zlib(data.to_vec())),
            _ => Err(DecodeError::InvalidValue),
        }
    }

    fn serialize(&self, item: impl Fn(&T, &mut Vec<u8>)) -> Vec<u8> {
        match self {
            EncodedList::Uncompressed(values) => {
                let mut out = vec![ENCODING_UNCOMPRESSED];
                for v in values {
                    item(v, &mut out);
                }
                out
            }
            EncodedList::Zlib(data) => {
                let mut out = vec![ENCODING_ZLIB];
                out.extend_from_slice(data);
                out
            }
        }
    }
}

/// `encoded_short_ids`: 8-byte short channel ids.
pub type EncodedShortIds = EncodedList<u64>;

fn parse_short_ids(bytes: &[u8]) -> Result<EncodedShortIds, DecodeError> {
    EncodedList::parse(bytes, |r| r.u64())
}

fn serialize_short_ids(ids: &EncodedShortIds) -> Vec<u8> {
    ids.serialize(|id, out| out.extend_from_slice(&id.to_be_bytes()))
}

/// One `channel_update` timestamp pair (node_id_1's direction, node_id_2's direction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampPair {
    pub timestamp_node_id_1: u32,
    pub timestamp_node_id_2: u32,
}

/// One `channel_update` checksum pair, same order as [`TimestampPair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChecksumPair {
    pub checksum_node_id_1: u32,
    pub checksum_node_id_2: u32,
}

fn put_u16_len(out: &mut Vec<u8>, data: &[u8]) {
    let len = data.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(data.get(..len).unwrap_or_default());
}

fn expect_type(msg: &[u8], expected: u16) -> Result<Reader<'_>, DecodeError> {
    let mut r = Reader::new(msg);
    let t = r.u16()?;
    if t != expected {
        return Err(DecodeError::UnexpectedType(t));
    }
    Ok(r)
}

/// BOLT 7 `gossip_timestamp_filter` (265).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GossipTimestampFilter {
    pub chain_hash: [u8; 32],
    pub first_timestamp: u32,
    pub timestamp_range: u32,
}

impl GossipTimestampFilter {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = expect_type(msg, GOSSIP_TIMESTAMP_FILTER)?;
        Ok(GossipTimestampFilter {
            chain_hash: r.array32()?,
            first_timestamp: r.u32()?,
            timestamp_range: r.u32()?,
        })
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = GOSSIP_TIMESTAMP_FILTER.to_be_bytes().to_vec();
        out.extend_from_slice(&self.chain_hash);
        out.extend_from_slice(&self.first_timestamp.to_be_bytes());
        out.extend_from_slice(&self.timestamp_range.to_be_bytes());
        out
    }

    /// BOLT 7: gossip is relayed if its timestamp is "greater or equal to first_timestamp,
    /// and less than first_timestamp plus timestamp_range" (the sum saturates rather than
    /// wrapping).
    pub fn admits(&self, timestamp: u32) -> bool {
        let end = u64::from(self.first_timestamp) + u64::from(self.timestamp_range);
        timestamp >= self.first_timestamp && u64::from(timestamp) < end
    }
}

/// BOLT 7 `query_channel_range` (263).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryChannelRange {
    pub chain_hash: [u8; 32],
    pub first_blocknum: u32,
    pub number_of_blocks: u32,
    /// TLV 1 `query_option`, a BigSize bitfield ([`QUERY_OPTION_WANT_TIMESTAMPS`], ...).
    pub query_option: Option<u64>,
    pub unknown_tlvs: Vec<TlvRecord>,
}

const QCR_TLV_QUERY_OPTION: u64 = 1;

impl QueryChannelRange {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = expect_type(msg, QUERY_CHANNEL_RANGE)?;
        let chain_hash = r.array32()?;
        let first_blocknum = r.u32()?;
        let number_of_blocks = r.u32()?;
        let mut query_option = None;
        let mut unknown_tlvs = Vec::new();
        for record in tlv::decode_stream(r.rest(), |t| t == QCR_TLV_QUERY_OPTION)? {
            if record.tlv_type == QCR_TLV_QUERY_OPTION {
                let (value, used) = bigsize::read(&record.value)?;
                if used != record.value.len() {
                    return Err(DecodeError::BadLengthDescriptor);
                }
                query_option = Some(value);
            } else {
                unknown_tlvs.push(record);
            }
        }
        Ok(QueryChannelRange {
            chain_hash,
            first_blocknum,
            number_of_blocks,
            query_option,
            unknown_tlvs,
        })
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = QUERY_CHANNEL_RANGE.to_be_bytes().to_vec();
        out.extend_from_slice(&self.chain_hash);
        out.extend_from_slice(&self.first_blocknum.to_be_bytes());
        out.extend_from_slice(&self.number_of_blocks.to_be_bytes());
        let mut records = self.unknown_tlvs.clone();
        if let Some(option) = self.query_option {
            let mut value = Vec::new();
            bigsize::write(option, &mut value);
            records.push(TlvRecord {
                tlv_type: QCR_TLV_QUERY_OPTION,
                value,
            });
        }
        tlv::encode_stream(&records, &mut out);
        out
    }
}

/// BOLT 7 `reply_channel_range` (264).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyChannelRange {
    pub chain_hash: [u8; 32],
    pub first_blocknum: u32,
    pub number_of_blocks: u32,
    pub sync_complete: u8,
    pub short_ids: EncodedShortIds,
    /// TLV 1 `timestamps_tlv`.
    pub timestamps: Option<EncodedList<TimestampPair>>,
    /// TLV 3 `checksums_tlv` (never compressed).
    pub checksums: Option<Vec<ChecksumPair>>,
    pub unknown_tlvs: Vec<TlvRecord>,
}

const RCR_TLV_TIMESTAMPS: u64 = 1;
const RCR_TLV_CHECKSUMS: u64 = 3;

impl ReplyChannelRange {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = expect_type(msg, REPLY_CHANNEL_RANGE)?;
        let chain_hash = r.array32()?;
        let first_blocknum = r.u32()?;
        let number_of_blocks = r.u32()?;
        let sync_complete = r.u8()?;
        let short_ids = parse_short_ids(r.u16_prefixed()?)?;
        let mut reply = ReplyChannelRange {
            chain_hash,
            first_blocknum,
            number_of_blocks,
            sync_complete,
            short_ids,
            timestamps: None,
            checksums: None,
            unknown_tlvs: Vec::new(),
        };
        let known = |t| t == RCR_TLV_TIMESTAMPS || t == RCR_TLV_CHECKSUMS;
        for record in tlv::decode_stream(r.rest(), known)? {
            match record.tlv_type {
                RCR_TLV_TIMESTAMPS => {
                    reply.timestamps = Some(EncodedList::parse(&record.value, |r| {
                        Ok(TimestampPair {
                            timestamp_node_id_1: r.u32()?,
                            timestamp_node_id_2: r.u32()?,
                        })
                    })?);
                }
                RCR_TLV_CHECKSUMS => {
                    let mut r = Reader::new(&record.value);
                    let mut sums = Vec::new();
                    while !r.is_empty() {
                        let pair = (r.u32(), r.u32());
                        let (Ok(a), Ok(b)) = pair else {
                            return Err(DecodeError::BadLengthDescriptor);
                        };
                        sums.push(ChecksumPair {
                            checksum_node_id_1: a,
                            checksum_node_id_2: b,
                        });
                    }
                    reply.checksums = Some(sums);
                }
                _ => reply.unknown_tlvs.push(record),
            }
        }
        Ok(reply)
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = REPLY_CHANNEL_RANGE.to_be_bytes().to_vec();
        out.extend_from_slice(&self.chain_hash);
        out.extend_from_slice(&self.first_blocknum.to_be_bytes());
        out.extend_from_slice(&self.number_of_blocks.to_be_bytes());
        out.push(self.sync_complete);
        put_u16_len(&mut out, &serialize_short_ids(&self.short_ids));
        let mut records = self.unknown_tlvs.clone();
        if let Some(timestamps) = &self.timestamps {
            records.push(TlvRecord {
                tlv_type: RCR_TLV_TIMESTAMPS,
                value: timestamps.serialize(|t, out| {
                    out.extend_from_slice(&t.timestamp_node_id_1.to_be_bytes());
                    out.extend_from_slice(&t.timestamp_node_id_2.to_be_bytes());
                }),
            });
        }
        if let Some(checksums) = &self.checksums {
            let mut value = Vec::with_capacity(checksums.len() * 8);
            for c in checksums {
                value.extend_from_slice(&c.checksum_node_id_1.to_be_bytes());
                value.extend_from_slice(&c.checksum_node_id_2.to_be_bytes());
            }
            records.push(TlvRecord {
                tlv_type: RCR_TLV_CHECKSUMS,
                value,
            });
        }
        tlv::encode_stream(&records, &mut out);
        out
    }
}

/// BOLT 7 `query_short_channel_ids` (261).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryShortChannelIds {
    pub chain_hash: [u8; 32],
    pub short_ids: EncodedShortIds,
    /// TLV 1 `query_flags`: one BigSize flag set per short id.
    pub query_flags: Option<EncodedList<u64>>,
    pub unknown_tlvs: Vec<TlvRecord>,
}

const QSCI_TLV_QUERY_FLAGS: u64 = 1;

impl QueryShortChannelIds {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = expect_type(msg, QUERY_SHORT_CHANNEL_IDS)?;
        let chain_hash = r.array32()?;
        let short_ids = parse_short_ids(r.u16_prefixed()?)?;
        let mut query_flags = None;
        let mut unknown_tlvs = Vec::new();
        for record in tlv::decode_stream(r.rest(), |t| t == QSCI_TLV_QUERY_FLAGS)? {
            if record.tlv_type == QSCI_TLV_QUERY_FLAGS {
                query_flags = Some(EncodedList::parse(&record.value, |r| {
                    let (value, used) = bigsize::read(r.remaining())?;
                    r.take(used)?;
                    Ok(value)
                })?);
            } else {
                unknown_tlvs.push(record);
            }
        }
        Ok(QueryShortChannelIds {
            chain_hash,
            short_ids,
            query_flags,
            unknown_tlvs,
        })
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = QUERY_SHORT_CHANNEL_IDS.to_be_bytes().to_vec();
        out.extend_from_slice(&self.chain_hash);
        put_u16_len(&mut out, &serialize_short_ids(&self.short_ids));
        let mut records = self.unknown_tlvs.clone();
        if let Some(flags) = &self.query_flags {
            records.push(TlvRecord {
                tlv_type: QSCI_TLV_QUERY_FLAGS,
                value: flags.serialize(|f, out| bigsize::write(*f, out)),
            });
        }
        tlv::encode_stream(&records, &mut out);
        out
    }
}

/// BOLT 7 `reply_short_channel_ids_end` (262).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyShortChannelIdsEnd {
    pub chain_hash: [u8; 32],
    pub full_information: u8,
}

impl ReplyShortChannelIdsEnd {
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = expect_type(msg, REPLY_SHORT_CHANNEL_IDS_END)?;
        Ok(ReplyShortChannelIdsEnd {
            chain_hash: r.array32()?,
            full_information: r.u8()?,
        })
    }

    pub fn serialize(&self) -> Vec<u8> {
        let mut out = REPLY_SHORT_CHANNEL_IDS_END.to_be_bytes().to_vec();
        out.extend_from_slice(&self.chain_hash);
        out.push(self.full_information);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{hex, load};
    use serde_json::Value;

    /// "BLOCKxTXxOUTPUT" to the 8-byte short channel id.
    fn scid(text: &Value) -> u64 {
        let parts: Vec<u64> = text
            .as_str()
            .expect("scid string")
            .split('x')
            .map(|p| p.parse().expect("scid part"))
            .collect();
        (parts[0] << 40) | (parts[1] << 16) | parts[2]
    }

    fn scids(list: &Value) -> Vec<u64> {
        list["array"]
            .as_array()
            .expect("array")
            .iter()
            .map(scid)
            .collect()
    }

    fn check_short_ids(ids: &EncodedShortIds, expected: &Value) {
        match expected["encoding"].as_str() {
            Some("UNCOMPRESSED") => assert_eq!(ids.values(), Ok(scids(expected).as_slice())),
            Some("COMPRESSED_ZLIB") => {
                assert!(matches!(ids, EncodedList::Zlib(_)));
                assert_eq!(ids.values(), Err(UnsupportedEncoding(1)));
            }
            other => panic!("unknown encoding {other:?}"),
        }
    }

    fn num(v: &Value) -> u32 {
        v.as_u64().expect("number") as u32
    }

    #[test]
    fn bolt7_extended_query_vectors() {
        let vectors = load("bolt7_vectors.json");
        let cases = vectors["extended_queries"].as_array().expect("cases");
        assert_eq!(cases.len(), 10);
        let mut seen = [0usize; 3];
        for case in cases {
            let bytes = hex(&case["hex"]);
            let m = &case["msg"];
            let chain: [u8; 32] = hex(&m["chainHash"]).try_into().expect("chain hash");
            let reserialized = match m["type"].as_str() {
                Some("QueryChannelRange") => {
                    seen[0] += 1;
                    let q = QueryChannelRange::parse(&bytes).expect("parse");
                    assert_eq!(q.chain_hash, chain);
                    assert_eq!(q.first_blocknum, num(&m["firstBlockNum"]));
                    assert_eq!(q.number_of_blocks, num(&m["numberOfBlocks"]));
                    let wants = m["tlvStream"]["records"].as_array().expect("records");
                    let expected = wants.first().map(|w| {
                        let w = w.as_str().expect("flag names");
                        let mut bits = 0;
                        if w.contains("WANT_TIMESTAMPS") {
                            bits |= QUERY_OPTION_WANT_TIMESTAMPS;
                        }
                        if w.contains("WANT_CHECKSUMS") {
                            bits |= QUERY_OPTION_WANT_CHECKSUMS;
                        }
                        bits
                    });
                    assert_eq!(q.query_option, expected);
                    q.serialize()
                }
                Some("ReplyChannelRange") => {
                    seen[1] += 1;
                    let r = ReplyChannelRange::parse(&bytes).expect("parse");
                    assert_eq!(r.chain_hash, chain);
                    assert_eq!(r.first_blocknum, num(&m["firstBlockNum"]));
                    assert_eq!(r.number_of_blocks, num(&m["numberOfBlocks"]));
                    assert_eq!(u32::from(r.sync_complete), num(&m["complete"]));
                    check_short_ids(&r.short_ids, &m["shortChannelIds"]);
                    match (&r.timestamps, m.get("timestamps")) {
                        (None, None) => {}
                        (Some(EncodedList::Zlib(_)), Some(t)) => {
                            assert_eq!(t["encoding"], "COMPRESSED_ZLIB")
                        }
                        (Some(EncodedList::Uncompressed(got)), Some(t)) => {
                            let want: Vec<TimestampPair> = t["timestamps"]
                                .as_array()
                                .expect("timestamps")
                                .iter()
                                .map(|p| TimestampPair {
                                    timestamp_node_id_1: num(&p["timestamp1"]),
                                    timestamp_node_id_2: num(&p["timestamp2"]),
                                })
                                .collect();
                            assert_eq!(got, &want);
                        }
                        other => panic!("timestamps mismatch {other:?}"),
                    }
                    let want_sums = m.get("checksums").map(|c| {
                        c["checksums"]
                            .as_array()
                            .expect("checksums")
                            .iter()
                            .map(|p| ChecksumPair {
                                checksum_node_id_1: num(&p["checksum1"]),
                                checksum_node_id_2: num(&p["checksum2"]),
                            })
                            .collect::<Vec<_>>()
                    });
                    assert_eq!(r.checksums, want_sums);
                    r.serialize()
                }
                Some("QueryShortChannelIds") => {
                    seen[2] += 1;
                    let q = QueryShortChannelIds::parse(&bytes).expect("parse");
                    assert_eq!(q.chain_hash, chain);
                    check_short_ids(&q.short_ids, &m["shortChannelIds"]);
                    let flags = m["tlvStream"]["records"].as_array().expect("records");
                    match (flags.first(), &q.query_flags) {
                        (None, None) => {}
                        (Some(f), Some(EncodedList::Zlib(_))) => {
                            assert_eq!(f["encoding"], "COMPRESSED_ZLIB")
                        }
                        (Some(f), Some(EncodedList::Uncompressed(got))) => {
                            let want: Vec<u64> = f["array"]
                                .as_array()
                                .expect("flags")
                                .iter()
                                .map(|v| v.as_u64().expect("flag"))
                                .collect();
                            assert_eq!(got, &want);
                        }
                        other => panic!("query_flags mismatch {other:?}"),
                    }
                    q.serialize()
                }
                other => panic!("unexpected vector type {other:?}"),
            };
            assert_eq!(reserialized, bytes, "{} round trip", case["hex"]);
        }
        assert_eq!(seen, [2, 4, 4]);
    }

    #[test]
    fn uncompressed_query_flags_roundtrip() {
        let q = QueryShortChannelIds {
            chain_hash: [1; 32],
            short_ids: EncodedList::Uncompressed(vec![(700_000 << 40) | (5 << 16) | 1, 42]),
            query_flags: Some(EncodedList::Uncompressed(vec![1, 0xfd, 0x1_0000])),
            unknown_tlvs: vec![TlvRecord {
                tlv_type: 7,
                value: vec![9],
            }],
        };
        let bytes = q.serialize();
        assert_eq!(QueryShortChannelIds::parse(&bytes), Ok(q));
    }

    #[test]
    fn gossip_timestamp_filter_layout_and_window() {
        let f = GossipTimestampFilter {
            chain_hash: [0x6f; 32],
            first_timestamp: 1_700_000_000,
            timestamp_range: u32::MAX,
        };
        let bytes = f.serialize();
        let mut expected = hex(&"0109".into());
        expected.extend_from_slice(&[0x6f; 32]);
        expected.extend_from_slice(&hex(&"6553f100ffffffff".into()));
        assert_eq!(bytes, expected);
        assert_eq!(GossipTimestampFilter::parse(&bytes), Ok(f));
        assert!(f.admits(1_700_000_000) && f.admits(u32::MAX));
        assert!(!f.admits(1_699_999_999));
        let narrow = GossipTimestampFilter {
            timestamp_range: 10,
            ..f
        };
        assert!(narrow.admits(1_700_000_009) && !narrow.admits(1_700_000_010));
        assert_eq!(
            GossipTimestampFilter::parse(&bytes[..bytes.len() - 1]),
            Err(DecodeError::ShortRead)
        );
    }

    #[test]
    fn reply_short_channel_ids_end_layout() {
        let end = ReplyShortChannelIdsEnd {
            chain_hash: [3; 32],
            full_information: 1,
        };
        let bytes = end.serialize();
        assert_eq!(bytes.len(), 2 + 32 + 1);
        assert_eq!(bytes.get(..2), Some(&[0x01, 0x06][..]));
        assert_eq!(ReplyShortChannelIdsEnd::parse(&bytes), Ok(end));
        assert_eq!(
            ReplyShortChannelIdsEnd::parse(
                &GossipTimestampFilter {
                    chain_hash: [0; 32],
                    first_timestamp: 0,
                    timestamp_range: 0
                }
                .serialize()
            ),
            Err(DecodeError::UnexpectedType(GOSSIP_TIMESTAMP_FILTER))
        );
    }

    #[test]
    fn malformed_lists_are_rejected() {
        let mut msg = QUERY_SHORT_CHANNEL_IDS.to_be_bytes().to_vec();
        msg.extend_from_slice(&[0; 32]);
        // 1 encoding byte + 7 bytes: not a whole short channel id.
        msg.extend_from_slice(&[0, 8, 0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            QueryShortChannelIds::parse(&msg),
            Err(DecodeError::BadLengthDescriptor)
        );
        // Unknown encoding byte.
        let last = msg.len() - 8;
        msg[last] = 2;
        assert_eq!(
            QueryShortChannelIds::parse(&msg),
            Err(DecodeError::InvalidValue)
        );
        // Declared length past the end.
        msg.truncate(last + 3);
        assert_eq!(
            QueryShortChannelIds::parse(&msg),
            Err(DecodeError::ShortRead)
        );
    }

    mod round_trip {
        use super::super::*;
        use proptest::collection::vec;
        use proptest::option;
        use proptest::prelude::*;

        use crate::wire::tlv::strategies::odd_tlvs;

        fn list<T: std::fmt::Debug>(
            item: impl Strategy<Value = T>,
        ) -> impl Strategy<Value = EncodedList<T>> {
            prop_oneof![
                vec(item, 0..10).prop_map(EncodedList::Uncompressed),
                vec(any::<u8>(), 0..20).prop_map(EncodedList::Zlib),
            ]
        }

        fn reply_channel_range() -> impl Strategy<Value = ReplyChannelRange> {
            (
                (any::<[u8; 32]>(), any::<u32>(), any::<u32>(), any::<u8>()),
                list(any::<u64>()),
                option::of(list((any::<u32>(), any::<u32>()).prop_map(|(a, b)| {
                    TimestampPair {
                        timestamp_node_id_1: a,
                        timestamp_node_id_2: b,
                    }
                }))),
                option::of(vec(
                    (any::<u32>(), any::<u32>()).prop_map(|(a, b)| ChecksumPair {
                        checksum_node_id_1: a,
                        checksum_node_id_2: b,
                    }),
                    0..10,
                )),
                odd_tlvs(3),
            )
                .prop_map(
                    |(
                        (chain_hash, first_blocknum, number_of_blocks, sync_complete),
                        short_ids,
                        timestamps,
                        checksums,
                        unknown_tlvs,
                    )| ReplyChannelRange {
                        chain_hash,
                        first_blocknum,
                        number_of_blocks,
                        sync_complete,
                        short_ids,
                        timestamps,
                        checksums,
                        unknown_tlvs,
                    },
                )
        }

        fn query_short_channel_ids() -> impl Strategy<Value = QueryShortChannelIds> {
            (
                any::<[u8; 32]>(),
                list(any::<u64>()),
                option::of(list(any::<u64>())),
                odd_tlvs(1),
            )
                .prop_map(|(chain_hash, short_ids, query_flags, unknown_tlvs)| {
                    QueryShortChannelIds {
                        chain_hash,
                        short_ids,
                        query_flags,
                        unknown_tlvs,
                    }
                })
        }

        fn query_channel_range() -> impl Strategy<Value = QueryChannelRange> {
            (
                any::<[u8; 32]>(),
                any::<u32>(),
                any::<u32>(),
                option::of(any::<u64>()),
                odd_tlvs(1),
            )
                .prop_map(
                    |(chain_hash, first_blocknum, number_of_blocks, query_option, unknown_tlvs)| {
                        QueryChannelRange {
                            chain_hash,
                            first_blocknum,
                            number_of_blocks,
                            query_option,
                            unknown_tlvs,
                        }
                    },
                )
        }

        macro_rules! round_trips {
            ($ty:ty, $m:expr) => {{
                let m = $m;
                let bytes = m.serialize();
                prop_assert_eq!(<$ty>::parse(&bytes), Ok(m));
                prop_assert_eq!(<$ty>::parse(&bytes).map(|p| p.serialize()), Ok(bytes));
            }};
        }

        proptest! {
            #[test]
            fn valid_messages_round_trip(
                reply in reply_channel_range(),
                query in query_short_channel_ids(),
                range in query_channel_range(),
                chain_hash in any::<[u8; 32]>(),
                (first_timestamp, timestamp_range, full_information) in
                    (any::<u32>(), any::<u32>(), any::<u8>()),
            ) {
                round_trips!(ReplyChannelRange, reply);
                round_trips!(QueryShortChannelIds, query);
                round_trips!(QueryChannelRange, range);
                round_trips!(GossipTimestampFilter, GossipTimestampFilter {
                    chain_hash,
                    first_timestamp,
                    timestamp_range,
                });
                round_trips!(ReplyShortChannelIdsEnd, ReplyShortChannelIdsEnd {
                    chain_hash,
                    full_information,
                });
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120)) {
            for t in [261u16, 262, 263, 264, 265] {
                let mut msg = t.to_be_bytes().to_vec();
                msg.extend_from_slice(&tail);
                let _ = QueryShortChannelIds::parse(&msg);
                let _ = ReplyShortChannelIdsEnd::parse(&msg);
                let _ = QueryChannelRange::parse(&msg);
                let _ = ReplyChannelRange::parse(&msg);
                let _ = GossipTimestampFilter::parse(&msg);
            }
        }
    }
}
