//! `short_channel_id`: the packed `u64` the wire carries and the `BxTxO` text form humans use.
//!
//! BOLT 7 "Definition of `short_channel_id`": the most significant 3 bytes are the block height,
//! the next 3 bytes the transaction index within the block, the least significant 2 bytes the
//! output index. Its human-readable form is the three numbers joined by `x`.

use std::fmt;
use std::str::FromStr;

/// Largest block height or transaction index a 3-byte field can carry.
pub const MAX_3_BYTES: u32 = 0x00ff_ffff;

/// The three parts of a `short_channel_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortChannelId {
    pub block: u32,
    pub tx_index: u32,
    pub output_index: u16,
}

/// Why `BxTxO` text could not be turned into a [`ShortChannelId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScidParseError {
    #[error("short_channel_id text must be three numbers joined by 'x'")]
    Format,
    #[error("short_channel_id component out of range")]
    OutOfRange,
}

impl ShortChannelId {
    /// `None` when block or tx index does not fit in its 3-byte field.
    pub fn new(block: u32, tx_index: u32, output_index: u16) -> Option<Self> {
        if block > MAX_3_BYTES || tx_index > MAX_3_BYTES {
            return None;
        }
        Some(ShortChannelId {
            block,
            tx_index,
            output_index,
        })
    }

    /// Every `u64` is a valid packing, so this cannot fail.
    pub fn from_u64(scid: u64) -> Self {
        ShortChannelId {
            block: (scid >> 40) as u32,
            tx_index: ((scid >> 16) & u64::from(MAX_3_BYTES)) as u32,
            output_index: (scid & 0xffff) as u16,
        }
    }

    pub fn to_u64(self) -> u64 {
        (u64::from(self.block & MAX_3_BYTES) << 40)
            | (u64::from(self.tx_index & MAX_3_BYTES) << 16)
            | u64::from(self.output_index)
    }
}

impl From<ShortChannelId> for u64 {
    fn from(scid: ShortChannelId) -> u64 {
        scid.to_u64()
    }
}

impl From<u64> for ShortChannelId {
    fn from(scid: u64) -> Self {
        ShortChannelId::from_u64(scid)
    }
}

impl fmt::Display for ShortChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}x{}", self.block, self.tx_index, self.output_index)
    }
}

impl FromStr for ShortChannelId {
    type Err = ScidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('x');
        let (Some(b), Some(t), Some(o), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ScidParseError::Format);
        };
        let number = |p: &str| -> Result<u64, ScidParseError> {
            // `u64::from_str` accepts a leading '+', which is not part of the text form.
            if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
                return Err(ScidParseError::Format);
            }
            p.parse::<u64>().map_err(|_| ScidParseError::OutOfRange)
        };
        let block = u32::try_from(number(b)?).map_err(|_| ScidParseError::OutOfRange)?;
        let tx_index = u32::try_from(number(t)?).map_err(|_| ScidParseError::OutOfRange)?;
        let output_index = u16::try_from(number(o)?).map_err(|_| ScidParseError::OutOfRange)?;
        ShortChannelId::new(block, tx_index, output_index).ok_or(ScidParseError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Example {
        text: String,
        block: u32,
        txindex: u32,
        outnum: u16,
        u64: u64,
    }

    fn examples() -> Vec<Example> {
        let json = crate::test_vectors::load("bolt7_vectors.json");
        serde_json::from_value(json["short_channel_id_examples"].clone()).unwrap()
    }

    #[test]
    fn bolt7_examples_convert_both_ways() {
        let examples = examples();
        assert!(!examples.is_empty());
        for e in examples {
            let scid = ShortChannelId::new(e.block, e.txindex, e.outnum).unwrap();
            assert_eq!(scid.to_u64(), e.u64);
            assert_eq!(ShortChannelId::from_u64(e.u64), scid);
            assert_eq!(scid.to_string(), e.text);
            assert_eq!(e.text.parse::<ShortChannelId>(), Ok(scid));
        }
    }

    #[test]
    fn rejects_bad_text() {
        for bad in [
            "",
            "1x2",
            "1x2x3x4",
            "ax2x3",
            "1x2x65536",
            "16777216x0x0",
            "+1x2x3",
            "1xx3",
        ] {
            assert!(bad.parse::<ShortChannelId>().is_err(), "{bad}");
        }
        assert_eq!(ShortChannelId::new(MAX_3_BYTES + 1, 0, 0), None);
    }

    #[test]
    fn every_u64_round_trips() {
        for v in [0u64, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            let scid = ShortChannelId::from_u64(v);
            assert_eq!(scid.to_u64(), v);
            assert_eq!(scid.to_string().parse::<ShortChannelId>(), Ok(scid));
        }
    }
}
