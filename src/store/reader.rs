//! Streaming reader over any `Read` holding a `gossip_store` (or a headerless continuation of
//! one), the `.xz`-transparent file opener, and the sniffer that tells a store from a raw
//! length-prefixed dump.
//!
//! The reader holds one record in memory at a time (at most 12 + 65535 bytes) and never seeks,
//! so it runs over pipes and `xz2` decoders. It stops at the first record that is torn
//! (truncated, lacking [`FLAG_COMPLETED`], or, when checking, failing its crc) and reports it
//! as a [`TornTail`] rather than an error: a crash mid-append produces exactly that.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::error::StoreError;
use super::record::{
    version_supported, RecordHeader, RecordKind, FLAG_COMPLETED, FLAG_DELETED, HEADER_LEN,
    MAJOR_VERSION_MASK,
};

/// One record as read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRecord {
    /// Offset of the record's header from the start of the input (the version byte is 0).
    pub offset: u64,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// Header timestamp (0 for internal records).
    pub timestamp: u32,
    /// The stored message, type first.
    pub msg: Vec<u8>,
}

impl StoreRecord {
    /// Kind of the stored message; `None` for a message shorter than its type.
    pub fn kind(&self) -> Option<RecordKind> {
        RecordKind::of_msg(&self.msg)
    }

    /// [`FLAG_DELETED`] set?
    pub fn is_deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    /// Header plus message length: the offset of the next record is `offset + encoded_len()`.
    pub fn encoded_len(&self) -> u64 {
        (HEADER_LEN + self.msg.len()) as u64
    }
}

/// How the input began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreStart {
    /// A version byte; records start at offset 1.
    Versioned(u8),
    /// No version byte: the input starts with a record (a continuation of a split store).
    Headerless,
    /// Zero bytes.
    Empty,
}

/// Why reading stopped before the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TornReason {
    /// EOF inside the 12-byte header after `have` bytes.
    TruncatedHeader {
        /// Header bytes present.
        have: usize,
    },
    /// EOF inside the message.
    TruncatedMessage {
        /// Message bytes present.
        have: usize,
        /// Length announced by the header.
        want: usize,
    },
    /// Header without [`FLAG_COMPLETED`]: the writer had not finished this record.
    NotCompleted {
        /// Flags found.
        flags: u16,
    },
    /// Checksum does not match the message (only when checking crc).
    CrcMismatch {
        /// Checksum in the header.
        stored: u32,
        /// Checksum of the message bytes present.
        computed: u32,
    },
}

impl TornReason {
    /// True for the truncation/not-completed cases, false for a crc mismatch.
    pub fn is_incomplete(&self) -> bool {
        !matches!(self, TornReason::CrcMismatch { .. })
    }
}

/// The first bad record: everything from `offset` on was not returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Offset of the bad record's header (= length of the valid prefix).
    pub offset: u64,
    /// What was wrong with it.
    pub reason: TornReason,
}

/// Reader behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderOptions {
    /// Do not yield records with [`FLAG_DELETED`] (they are still checked and counted).
    pub skip_deleted: bool,
    /// Stop at the first crc mismatch (recovery, our own files). When false, mismatching
    /// records are yielded and counted in [`ReadStats::crc_mismatches`]: Core Lightning's and
    /// pyln's readers ignore the crc, and upstream's `gossip_store-part2` test file ends with a
    /// `delete_chan` record whose crc does not match.
    pub verify_crc: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            skip_deleted: false,
            verify_crc: true,
        }
    }
}

/// Counters over the records read so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records read in full (deleted ones included, skipped or not).
    pub records: u64,
    /// Of which carry [`FLAG_DELETED`].
    pub deleted: u64,
    /// Header plus message bytes of those deleted records.
    pub deleted_bytes: u64,
    /// Records whose crc did not match but were yielded (`verify_crc == false`).
    pub crc_mismatches: u64,
}

/// Streaming iterator over the records of a `gossip_store`.
pub struct StoreReader<R: Read> {
    inner: BufReader<R>,
    start: StoreStart,
    opts: ReaderOptions,
    next_offset: u64,
    torn: Option<TornTail>,
    done: bool,
    stats: ReadStats,
}

impl<R: Read> StoreReader<R> {
    /// Reader with default options (yield deleted records, verify crc).
    pub fn new(inner: R) -> Result<Self, StoreError> {
        Self::with_options(inner, ReaderOptions::default())
    }

    /// Reader with explicit options. Looks at the first byte to tell a version byte (top three
    /// bits clear: major 0) from a headerless continuation (a record's flags, whose high byte
    /// always carries COMPLETED, 0x20). A version with a non-zero major or a minor below 15 is
    /// refused: its flag bits mean something else.
    pub fn with_options(inner: R, opts: ReaderOptions) -> Result<Self, StoreError> {
        let mut inner = BufReader::with_capacity(64 * 1024, inner);
        let first = loop {
            match inner.fill_buf() {
                Ok(b) => break b.first().copied(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let (start, next_offset) = match first {
            None => (StoreStart::Empty, 0),
            Some(v) if v & MAJOR_VERSION_MASK == 0 => {
                if !version_supported(v) {
                    return Err(StoreError::UnsupportedVersion(v));
                }
                inner.consume(1);
                (StoreStart::Versioned(v), 1)
            }
            Some(b) if u16::from(b) << 8 & FLAG_COMPLETED != 0 => (StoreStart::Headerless, 0),
            Some(b) => return Err(StoreError::NotGossipStore(b)),
        };
        Ok(StoreReader {
            inner,
            start,
            opts,
            next_offset,
            torn: None,
            done: start == StoreStart::Empty,
            stats: ReadStats::default(),
        })
    }

    /// How the input began.
    pub fn start(&self) -> StoreStart {
        self.start
    }

    /// Version byte, if the input had one.
    pub fn version(&self) -> Option<u8> {
        match self.start {
            StoreStart::Versioned(v) => Some(v),
            _ => None,
        }
    }

    /// Offset just past the last record read in full: after iteration ends, the length of the
    /// valid prefix of the input.
    pub fn offset(&self) -> u64 {
        self.next_offset
    }

    /// The torn record that stopped iteration, if any.
    pub fn torn_tail(&self) -> Option<TornTail> {
        self.torn
    }

    /// Counters so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// Next record, `Ok(None)` at the end of the input or at a torn record.
    pub fn next_record(&mut self) -> Result<Option<StoreRecord>, StoreError> {
        while !self.done {
            let rec = match self.read_one() {
                Ok(Some(r)) => r,
                Ok(None) => {
                    self.done = true;
                    return Ok(None);
                }
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            };
            if rec.is_deleted() && self.opts.skip_deleted {
                continue;
            }
            return Ok(Some(rec));
        }
        Ok(None)
    }

    fn tear(&mut self, reason: TornReason) -> Result<Option<StoreRecord>, StoreError> {
        self.torn = Some(TornTail {
            offset: self.next_offset,
            reason,
        });
        Ok(None)
    }

    fn read_one(&mut self) -> Result<Option<StoreRecord>, StoreError> {
        let mut hb = [0u8; HEADER_LEN];
        let have = read_full(&mut self.inner, &mut hb)?;
        if have == 0 {
            return Ok(None);
        }
        if have < HEADER_LEN {
            return self.tear(TornReason::TruncatedHeader { have });
        }
        let hdr = RecordHeader::decode(&hb);
        // Core Lightning `gossip_store_readhdr`: a record without COMPLETED is not there yet.
        if !hdr.is_completed() {
            return self.tear(TornReason::NotCompleted { flags: hdr.flags });
        }
        let want = usize::from(hdr.len);
        let mut msg = vec![0u8; want];
        let have = read_full(&mut self.inner, &mut msg)?;
        if have < want {
            return self.tear(TornReason::TruncatedMessage { have, want });
        }
        if !hdr.crc_matches(&msg) {
            if self.opts.verify_crc {
                let computed = super::record::record_crc(hdr.timestamp, &msg);
                return self.tear(TornReason::CrcMismatch {
                    stored: hdr.crc,
                    computed,
                });
            }
            self.stats.crc_mismatches += 1;
        }
        let rec = StoreRecord {
            offset: self.next_offset,
            flags: hdr.flags,
            timestamp: hdr.timestamp,
            msg,
        };
        self.next_offset += rec.encoded_len();
        self.stats.records += 1;
        if rec.is_deleted() {
            self.stats.deleted += 1;
            self.stats.deleted_bytes += rec.encoded_len();
        }
        Ok(Some(rec))
    }
}

impl<R: Read> Iterator for StoreReader<R> {
    type Item = Result<StoreRecord, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Fill `buf` as far as the input allows; returns the bytes read (short only at EOF).
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Magic bytes opening every `.xz` stream.
const XZ_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0x00];

/// Open `path` for streaming, decompressing transparently when its content starts with the xz
/// magic (the extension is not consulted). Multi-stream xz files are read to the end.
pub fn open_input(path: impl AsRef<Path>) -> io::Result<Box<dyn Read + Send>> {
    let mut file = BufReader::new(File::open(path)?);
    let is_xz = loop {
        match file.fill_buf() {
            Ok(b) => break b.starts_with(&XZ_MAGIC),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    if is_xz {
        Ok(Box::new(xz2::read::XzDecoder::new_multi_decoder(file)))
    } else {
        Ok(Box::new(file))
    }
}

/// What an offline input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// A Core Lightning `gossip_store`, with or without its version byte.
    GossipStore,
    /// A sequence of `u16 big-endian length | message` records.
    RawDump,
}

/// Bytes [`sniff`] needs to decide by checksum: version byte + header + largest message.
pub const SNIFF_LEN: usize = 1 + HEADER_LEN + super::record::MAX_MSG_LEN;

/// Guess the format of an input from its first bytes (pass up to [`SNIFF_LEN`]).
///
/// Heuristic, strongest evidence first:
/// 1. If the bytes parse as a store — an optional version byte (major 0, minor >= 15), then a
///    header with COMPLETED set whose whole message is present and whose crc32c matches — it is
///    a `GossipStore`. A 32-bit checksum matching by accident is negligible.
/// 2. Else, if bytes 2..4 are a BOLT 7 gossip type (256..=258) and the length prefix is at least
///    2, it is a `RawDump`: that is a raw dump's first message type, while in a store those
///    bytes are the flags' low byte and the length, or the length and crc.
/// 3. Else fall back on the first byte alone: a supported version byte or a completed record's
///    flags mean `GossipStore` (its first record may just be longer than the bytes given);
///    anything else is taken as `RawDump`.
pub fn sniff(first_bytes: &[u8]) -> InputFormat {
    let Some(&b0) = first_bytes.first() else {
        return InputFormat::RawDump;
    };
    let looks_versioned = version_supported(b0);
    let looks_headerless = u16::from(b0) << 8 & FLAG_COMPLETED != 0;
    if looks_versioned && first_record_checks(first_bytes.get(1..).unwrap_or_default()) {
        return InputFormat::GossipStore;
    }
    if looks_headerless && first_record_checks(first_bytes) {
        return InputFormat::GossipStore;
    }
    if let Some(&[l0, l1, t0, t1]) = first_bytes.get(..4) {
        let len = u16::from_be_bytes([l0, l1]);
        let ty = u16::from_be_bytes([t0, t1]);
        if (256..=258).contains(&ty) && len >= 2 {
            return InputFormat::RawDump;
        }
    }
    if looks_versioned || looks_headerless {
        InputFormat::GossipStore
    } else {
        InputFormat::RawDump
    }
}

/// Does `b` start with a complete, checksum-valid, COMPLETED record?
fn first_record_checks(b: &[u8]) -> bool {
    let Some(hb) = b
        .get(..HEADER_LEN)
        .and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok())
    else {
        return false;
    };
    let hdr = RecordHeader::decode(hb);
    let end = HEADER_LEN + usize::from(hdr.len);
    match b.get(HEADER_LEN..end) {
        Some(msg) => hdr.is_completed() && hdr.crc_matches(msg),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{encode_record, FLAG_PUSH};
    use std::collections::HashMap;

    /// A Core Lightning store from the shared test data.
    fn shared_store(name: &str) -> std::path::PathBuf {
        crate::test_vectors::shared(&format!("gossip_store/{name}"))
    }

    type Counts = HashMap<(u16, bool), u64>;
    type FileReader = StoreReader<Box<dyn Read + Send>>;

    fn counts(name: &str, opts: ReaderOptions) -> (Counts, FileReader) {
        let input = open_input(shared_store(name)).expect("open shared store");
        let mut r = StoreReader::with_options(input, opts).expect("reader");
        let mut c = HashMap::new();
        let mut expect_off = match r.start() {
            StoreStart::Versioned(_) => 1,
            _ => 0,
        };
        while let Some(rec) = r.next_record().expect("read") {
            if !opts.skip_deleted {
                assert_eq!(rec.offset, expect_off, "offsets are contiguous");
            }
            expect_off = rec.offset + rec.encoded_len();
            let t = rec.kind().map(|k| k.type_number()).unwrap_or(0);
            *c.entry((t, rec.is_deleted())).or_insert(0) += 1;
        }
        (c, r)
    }

    fn total(c: &HashMap<(u16, bool), u64>, t: u16) -> u64 {
        c.get(&(t, false)).copied().unwrap_or(0) + c.get(&(t, true)).copied().unwrap_or(0)
    }

    #[test]
    fn part1_counts_and_crc() {
        let (c, r) = counts("gossip_store-part1.xz", ReaderOptions::default());
        assert_eq!(r.version(), Some(0x0f));
        assert_eq!(r.torn_tail(), None, "every crc verifies, no torn tail");
        assert_eq!(total(&c, 256), 45);
        assert_eq!(total(&c, 4101), 45);
        assert_eq!(total(&c, 258), 4);
        assert_eq!(c.get(&(258, true)), Some(&2));
        assert_eq!(r.stats().records, 94);
        assert_eq!(r.offset(), 21571, "whole decompressed file consumed");
    }

    #[test]
    fn part2_is_headerless_and_ends_with_bad_crc_tombstone() {
        // Strict: stops at the delete_chan record, whose crc upstream does not match.
        let (c, r) = counts("gossip_store-part2.xz", ReaderOptions::default());
        assert_eq!(r.start(), StoreStart::Headerless);
        let torn = r.torn_tail().expect("strict read stops at the bad crc");
        assert_eq!(torn.offset, 21082);
        assert!(matches!(torn.reason, TornReason::CrcMismatch { .. }));
        assert_eq!(total(&c, 4103), 0);
        // Lenient, like Core Lightning's and pyln's readers: everything is there.
        let lenient = ReaderOptions {
            verify_crc: false,
            ..Default::default()
        };
        let (c, r) = counts("gossip_store-part2.xz", lenient);
        assert_eq!(r.torn_tail(), None);
        assert_eq!(r.stats().crc_mismatches, 1);
        assert_eq!(total(&c, 256), 44);
        assert_eq!(total(&c, 258), 4);
        assert_eq!(total(&c, 4103), 1);
        assert_eq!(r.offset(), 21104);
    }

    #[test]
    fn mesh_and_simple_counts() {
        let (c, r) = counts("gossip_store.mesh-3x3.xz", ReaderOptions::default());
        assert_eq!(r.torn_tail(), None);
        assert_eq!(
            (total(&c, 256), total(&c, 258), total(&c, 257)),
            (12, 24, 9)
        );
        assert_eq!(total(&c, 4101), 12);
        let (c, r) = counts("gossip_store.simple.xz", ReaderOptions::default());
        assert_eq!(r.torn_tail(), None);
        assert_eq!((total(&c, 256), total(&c, 258), total(&c, 257)), (1, 2, 2));
    }

    #[test]
    fn skip_deleted_mode() {
        let opts = ReaderOptions {
            skip_deleted: true,
            ..Default::default()
        };
        let (c, r) = counts("gossip_store-part1.xz", opts);
        assert!(c.keys().all(|(_, deleted)| !deleted));
        assert_eq!(total(&c, 258), 2);
        assert_eq!(r.stats().deleted, 2, "skipped records are still counted");
    }

    #[test]
    fn rejects_bad_versions_and_garbage() {
        assert!(matches!(
            StoreReader::new(&[0x0e][..]),
            Err(StoreError::UnsupportedVersion(0x0e))
        ));
        assert!(matches!(
            StoreReader::new(&[0x40, 0][..]),
            Err(StoreError::NotGossipStore(0x40))
        ));
        let mut empty = StoreReader::new(&[][..]).unwrap();
        assert_eq!(empty.start(), StoreStart::Empty);
        assert!(empty.next().is_none());
    }

    #[test]
    fn not_completed_record_stops_reading() {
        let mut data = vec![0x10];
        data.extend(encode_record(FLAG_COMPLETED, 5, b"\x01\x02ab").unwrap());
        let second_at = data.len() as u64;
        data.extend(encode_record(FLAG_PUSH, 5, b"\x01\x02cd").unwrap());
        let mut r = StoreReader::new(&data[..]).unwrap();
        assert!(r.next_record().unwrap().is_some());
        assert!(r.next_record().unwrap().is_none());
        assert_eq!(
            r.torn_tail(),
            Some(TornTail {
                offset: second_at,
                reason: TornReason::NotCompleted { flags: FLAG_PUSH }
            })
        );
    }

    #[test]
    fn open_input_passes_plain_files_through() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("store.xz"); // misleading extension on purpose
        std::fs::write(&p, [0x10u8]).unwrap();
        let mut s = Vec::new();
        open_input(&p).unwrap().read_to_end(&mut s).unwrap();
        assert_eq!(s, [0x10]);
    }

    fn first_bytes(name: &str) -> Vec<u8> {
        let mut v = Vec::new();
        open_input(shared_store(name))
            .unwrap()
            .take(SNIFF_LEN as u64)
            .read_to_end(&mut v)
            .unwrap();
        v
    }

    /// Raw dump of the messages in a store: u16 length prefix + message.
    fn raw_dump_of(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let r = StoreReader::new(open_input(shared_store(name)).unwrap()).unwrap();
        for rec in r {
            let rec = rec.unwrap();
            if rec.kind().map(|k| k.type_number() < 4096) != Some(true) {
                continue;
            }
            out.extend((rec.msg.len() as u16).to_be_bytes());
            out.extend(&rec.msg);
        }
        out
    }

    #[test]
    fn sniff_store_vs_raw_dump() {
        for name in [
            "gossip_store-part1.xz",
            "gossip_store-part2.xz",
            "gossip_store.mesh-3x3.xz",
            "gossip_store.simple.xz",
        ] {
            assert_eq!(
                sniff(&first_bytes(name)),
                InputFormat::GossipStore,
                "{name}"
            );
            let raw = raw_dump_of(name);
            assert_eq!(sniff(&raw), InputFormat::RawDump, "{name} as raw dump");
            // Too short for the checksum path: decided by the type at bytes 2..4.
            assert_eq!(sniff(&raw[..4]), InputFormat::RawDump);
        }
        // A store whose first record is cut off still sniffs as a store by its version byte.
        assert_eq!(
            sniff(&first_bytes("gossip_store.simple.xz")[..20]),
            InputFormat::GossipStore
        );
        assert_eq!(sniff(&[]), InputFormat::RawDump);
    }
}
