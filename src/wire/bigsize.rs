//! BOLT 1 `BigSize`: the variable-length big-endian integer used for TLV types and lengths,
//! plus the checked big-endian reader every wire parser here builds on.

use super::DecodeError;

/// Decodes one BigSize from the start of `bytes`; returns the value and the bytes consumed.
pub fn read(bytes: &[u8]) -> Result<(u64, usize), DecodeError> {
    let (&first, rest) = bytes.split_first().ok_or(DecodeError::ShortRead)?;
    let (value, width, min) = match first {
        0xfd => (read_be(rest, 2)?, 2, 0xfd),
        0xfe => (read_be(rest, 4)?, 4, 0x1_0000),
        0xff => (read_be(rest, 8)?, 8, 0x1_0000_0000),
        small => return Ok((u64::from(small), 1)),
    };
    // BOLT 1 BigSize: "values MUST be encoded using the minimum number of bytes"; a longer
    // form for a value that fits a shorter one is rejected.
    if value < min {
        return Err(DecodeError::NonCanonicalBigSize);
    }
    Ok((value, 1 + width))
}

/// Appends the minimal BigSize encoding of `value`.
pub fn write(value: u64, out: &mut Vec<u8>) {
    match value {
        0..=0xfc => out.push(value as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// Length in bytes of the minimal encoding of `value`.
pub fn encoded_len(value: u64) -> usize {
    match value {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Reads a `width`-byte (at most 8) big-endian unsigned integer from the start of `bytes`.
pub(crate) fn read_be(bytes: &[u8], width: usize) -> Result<u64, DecodeError> {
    let field = bytes.get(..width).ok_or(DecodeError::ShortRead)?;
    Ok(field.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// A forward-only cursor over a message with checked reads: every read returns
/// [`DecodeError::ShortRead`] instead of panicking when the bytes run out.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::ShortRead);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(read_be(self.take(1)?, 1)? as u8)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(read_be(self.take(2)?, 2)? as u16)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(read_be(self.take(4)?, 4)? as u32)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        read_be(self.take(8)?, 8)
    }

    pub(crate) fn array32(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.take(32)?);
        Ok(out)
    }

    /// A `u16` length followed by that many bytes.
    pub(crate) fn u16_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_vectors::{hex, load};

    #[test]
    fn bolt1_bigsize_decoding_vectors() {
        let vectors = load("bolt1_vectors.json");
        let cases = vectors["bigsize_decoding"].as_array().expect("cases");
        assert_eq!(cases.len(), 18);
        for case in cases {
            let bytes = hex(&case["bytes"]);
            let got = read(&bytes);
            match case["exp_error"].as_str() {
                None => {
                    let value = case["value"].as_u64().expect("value");
                    assert_eq!(got, Ok((value, bytes.len())), "{}", case["name"]);
                }
                Some(msg) if msg.contains("not canonical") => {
                    assert_eq!(
                        got,
                        Err(DecodeError::NonCanonicalBigSize),
                        "{}",
                        case["name"]
                    );
                }
                Some(msg) => {
                    assert!(msg.contains("EOF"), "{msg}");
                    assert_eq!(got, Err(DecodeError::ShortRead), "{}", case["name"]);
                }
            }
        }
    }

    #[test]
    fn bolt1_bigsize_encoding_vectors() {
        let vectors = load("bolt1_vectors.json");
        let cases = vectors["bigsize_encoding"].as_array().expect("cases");
        assert_eq!(cases.len(), 8);
        for case in cases {
            let value = case["value"].as_u64().expect("value");
            let mut out = Vec::new();
            write(value, &mut out);
            assert_eq!(out, hex(&case["bytes"]), "{}", case["name"]);
            assert_eq!(encoded_len(value), out.len());
        }
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u16(), Err(DecodeError::ShortRead));
        assert_eq!(r.u8(), Ok(3));
        assert_eq!(r.take(1), Err(DecodeError::ShortRead));
        assert_eq!(
            Reader::new(&[0, 5, 1]).u16_prefixed(),
            Err(DecodeError::ShortRead)
        );
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(value: u64) {
            let mut out = Vec::new();
            write(value, &mut out);
            proptest::prop_assert_eq!(read(&out), Ok((value, out.len())));
        }
    }
}
