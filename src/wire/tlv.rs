//! BOLT 1 TLV streams: decoding with the ordering and even/odd rules, encoding, and the
//! truncated-integer (`tu16`/`tu32`/`tu64`) values TLV records carry.

use super::bigsize;
use super::DecodeError;

/// One TLV record, value kept raw. Message parsers interpret the types they know and keep the
/// rest (unknown odd ones) so a message can be re-serialized byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlvRecord {
    pub tlv_type: u64,
    pub value: Vec<u8>,
}

/// Decodes a whole TLV stream. `is_known(type)` says which types the caller understands.
///
/// Enforces BOLT 1 "TLV Format" reader requirements: minimal BigSize types and lengths, a
/// length within the stream, strictly increasing types, and no unknown even type. Returns every
/// record, known and unknown-odd, in stream order.
pub fn decode_stream(
    bytes: &[u8],
    is_known: impl Fn(u64) -> bool,
) -> Result<Vec<TlvRecord>, DecodeError> {
    let mut records = Vec::new();
    let mut rest = bytes;
    let mut last_type: Option<u64> = None;
    while !rest.is_empty() {
        let (tlv_type, used) = bigsize::read(rest)?;
        rest = rest.get(used..).ok_or(DecodeError::ShortRead)?;
        let (length, used) = bigsize::read(rest)?;
        rest = rest.get(used..).ok_or(DecodeError::ShortRead)?;
        // "if length exceeds the number of bytes remaining in the message: MUST fail to parse"
        let length = usize::try_from(length).map_err(|_| DecodeError::ShortRead)?;
        let value = rest.get(..length).ok_or(DecodeError::ShortRead)?;
        rest = rest.get(length..).ok_or(DecodeError::ShortRead)?;
        // "if decoded types are not strictly-increasing (including situations when two or
        // more occurrences of the same type are met): MUST fail to parse the tlv_stream."
        if last_type.is_some_and(|last| tlv_type <= last) {
            return Err(DecodeError::InvalidTlvStream);
        }
        last_type = Some(tlv_type);
        // "if type is not known: if type is even: MUST fail to parse the tlv_stream.
        // otherwise, if type is odd: MUST discard the next length bytes." (We keep them
        // instead, so a relayed message stays byte-identical.)
        if !is_known(tlv_type) && tlv_type % 2 == 0 {
            return Err(DecodeError::InvalidTlvStream);
        }
        records.push(TlvRecord {
            tlv_type,
            value: value.to_vec(),
        });
    }
    Ok(records)
}

/// Appends `records` as a TLV stream, ordered by type as BOLT 1 requires of writers ("MUST
/// order tlv_records in a tlv_stream by strictly-increasing type"). The caller must not pass
/// two records of the same type.
pub fn encode_stream(records: &[TlvRecord], out: &mut Vec<u8>) {
    let mut ordered: Vec<&TlvRecord> = records.iter().collect();
    ordered.sort_by_key(|r| r.tlv_type);
    for record in ordered {
        bigsize::write(record.tlv_type, out);
        bigsize::write(record.value.len() as u64, out);
        out.extend_from_slice(&record.value);
    }
}

/// Decodes a truncated unsigned integer of at most `max_width` bytes (`tu16` = 2, `tu32` = 4,
/// `tu64` = 8). BOLT 1: a truncated integer "MUST be minimally encoded": no leading zero byte.
pub fn read_truncated(bytes: &[u8], max_width: usize) -> Result<u64, DecodeError> {
    if bytes.len() > max_width {
        return Err(DecodeError::BadLengthDescriptor);
    }
    if bytes.first() == Some(&0) {
        return Err(DecodeError::InvalidValue);
    }
    bigsize::read_be(bytes, bytes.len())
}

/// Minimal big-endian encoding of `value` (empty for zero), as a `tu64` is written.
pub fn write_truncated(value: u64, out: &mut Vec<u8>) {
    let bytes = value.to_be_bytes();
    let skip = (value.leading_zeros() / 8) as usize;
    out.extend_from_slice(bytes.get(skip..).unwrap_or(&[]));
}

/// Proptest strategies shared by the message round-trip tests.
#[cfg(test)]
pub(crate) mod strategies {
    use super::TlvRecord;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;

    /// Unknown odd TLV records above `min`, in increasing type order as a stream holds them.
    pub(crate) fn odd_tlvs(min: u64) -> impl Strategy<Value = Vec<TlvRecord>> {
        btree_map((min / 2 + 1)..100_000u64, vec(any::<u8>(), 0..12), 0..3).prop_map(|m| {
            m.into_iter()
                .map(|(t, value)| TlvRecord {
                    tlv_type: t * 2 + 1,
                    value,
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{hex, load};
    use secp256k1::PublicKey;

    /// Checks the known records of the spec's test namespaces `n1`/`n2` (BOLT 1 appendix),
    /// since the vectors also test per-type value validation.
    fn check_namespace_values(namespace: &str, records: &[TlvRecord]) -> Result<(), DecodeError> {
        for r in records {
            let v = r.value.as_slice();
            match (namespace, r.tlv_type) {
                // tlv1: tu64 amount_msat
                ("n1", 1) | ("n2", 0) => {
                    read_truncated(v, 8)?;
                }
                // tlv2: short_channel_id (exactly 8 bytes)
                ("n1", 2) if v.len() != 8 => return Err(DecodeError::BadLengthDescriptor),
                // tlv3: point node_id, u64, u64
                ("n1", 3) => {
                    if v.len() != 33 + 8 + 8 {
                        return Err(DecodeError::BadLengthDescriptor);
                    }
                    PublicKey::from_slice(v.get(..33).unwrap_or_default())
                        .map_err(|_| DecodeError::InvalidValue)?;
                }
                // tlv4: u16 cltv_delta
                ("n1", 254) if v.len() != 2 => return Err(DecodeError::BadLengthDescriptor),
                // tlv2: tu32 cltv_expiry
                ("n2", 11) => {
                    read_truncated(v, 4)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn known_in(namespace: &str) -> fn(u64) -> bool {
        match namespace {
            "n1" => |t| matches!(t, 1 | 2 | 3 | 254),
            "n2" => |t| matches!(t, 0 | 11),
            _ => |_| false,
        }
    }

    #[test]
    fn bolt1_tlv_vectors() {
        let vectors = load("bolt1_vectors.json");
        let cases = vectors["tlv"].as_array().expect("cases");
        assert!(cases.len() >= 50, "only {} tlv cases", cases.len());
        for case in cases {
            let namespace = case["namespace"].as_str().expect("namespace");
            let stream = hex(&case["stream"]);
            let result = decode_stream(&stream, known_in(namespace))
                .and_then(|records| check_namespace_values(namespace, &records).map(|_| records));
            let label = format!("{namespace} {} {:?}", case["stream_spaced"], case["reason"]);
            if case["valid"].as_bool() == Some(true) {
                let records = result.unwrap_or_else(|e| panic!("{label}: {e}"));
                // Valid streams re-encode to the same bytes.
                let mut again = Vec::new();
                encode_stream(&records, &mut again);
                assert_eq!(again, stream, "{label}");
            } else {
                assert!(result.is_err(), "{label} should fail");
            }
        }
    }

    #[test]
    fn bolt1_tlv_failure_kinds() {
        assert_eq!(
            decode_stream(&[0xfd, 0x00, 0x01, 0x00], |_| false),
            Err(DecodeError::NonCanonicalBigSize)
        );
        assert_eq!(
            decode_stream(&[0x0f, 0xfd, 0x26], |_| false),
            Err(DecodeError::ShortRead)
        );
        assert_eq!(
            decode_stream(&[0x12, 0x00], |_| false),
            Err(DecodeError::InvalidTlvStream)
        );
        assert_eq!(
            decode_stream(&[0x12, 0x00], |t| t == 0x12).map(|r| r.len()),
            Ok(1)
        );
        assert_eq!(
            decode_stream(&[0x1f, 0x00, 0x0f, 0x01, 0x2a], |_| false),
            Err(DecodeError::InvalidTlvStream)
        );
    }

    #[test]
    fn encode_orders_by_type() {
        let records = vec![
            TlvRecord {
                tlv_type: 0xfd00,
                value: vec![1],
            },
            TlvRecord {
                tlv_type: 1,
                value: vec![],
            },
        ];
        let mut out = Vec::new();
        encode_stream(&records, &mut out);
        assert_eq!(out, vec![0x01, 0x00, 0xfd, 0xfd, 0x00, 0x01, 0x01]);
    }

    #[test]
    fn truncated_integers() {
        for value in [0u64, 1, 0xff, 0x100, 0xffff_ffff, u64::MAX] {
            let mut out = Vec::new();
            write_truncated(value, &mut out);
            assert_eq!(read_truncated(&out, 8), Ok(value));
        }
        assert_eq!(read_truncated(&[0, 1], 8), Err(DecodeError::InvalidValue));
        assert_eq!(
            read_truncated(&[1; 5], 4),
            Err(DecodeError::BadLengthDescriptor)
        );
    }
}
