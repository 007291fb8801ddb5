//! Appending writer for a `gossip_store` file: buffered appends, in-place DELETED flags,
//! fsync, and compaction of its own file. Plain file I/O; the caller owns threading.
//!
//! Offsets handed out and accepted here are those of a record's *header* (the version byte is
//! offset 0), the same numbering as [`StoreRecord::offset`](crate::store::StoreRecord).
//! Core Lightning's internal API uses the offset of the message instead (header + 12).
//!
//! Interop with pyln-client's `Gossmap` (checked against pyln-client 26.6.9
//! `pyln/client/gossmap.py`; an interop test reads our store with it):
//! - It reads one version byte and only requires `version & 0xE0 == 0` (major 0).
//! - It stops at the first record whose flags lack COMPLETED (0x2000), or whose header or
//!   message is short, and resumes there on `refresh()`. So every record we write carries
//!   COMPLETED, set in the same write as the record.
//! - It skips DELETED (0x8000) records and does not check the crc.
//! - A `gossip_store_channel_amount` (4101) sets the capacity of the *most recently added*
//!   channel; one arriving before any channel_announcement raises `KeyError`. Hence the amount
//!   record goes right after its announcement ([`StoreWriter::append_channel_announcement`]),
//!   deleting an announcement deletes its amount too, and compaction never keeps an amount whose
//!   announcement it dropped.
//! - `gossip_store_delete_chan` (4103) removes the channel; unknown types such as the uuid
//!   record (4107) are skipped; `gossip_store_ended` (4105) hits `assert False` in
//!   `reopen_store`, so we never write it (compaction replaces the file by rename instead).
//! - channel_announcement / channel_update / node_announcement bodies are parsed with pyln's
//!   BOLT 7 codecs, so only well-formed messages may be stored.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::compaction::{compact_file, CompactionReport};
use super::error::StoreError;
use super::record::{
    channel_amount_msg, encode_record, uuid_msg, RecordHeader, RecordKind, FLAG_COMPLETED,
    FLAG_DELETED, HEADER_LEN, MAX_MSG_LEN, VERSION_CURRENT,
};
use super::recovery::{recover_keeping_aside, RecoveryReport};

/// Appends are collected until this many bytes are pending, then written in one call. Large
/// enough to batch a burst of updates into one syscall, small enough to bound what a crash
/// loses before the next `flush_and_sync`.
pub const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Counters of a writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Logical file length, pending buffer included.
    pub len: u64,
    /// Records in the file, deleted ones included.
    pub records: u64,
    /// Records in the file carrying DELETED.
    pub deleted: u64,
    /// Header plus message bytes of those records: what a compaction would reclaim.
    pub deleted_bytes: u64,
    /// Records appended by this writer.
    pub appended: u64,
    /// Records this writer flagged DELETED.
    pub marked_deleted: u64,
}

/// Buffered appender to one store file.
pub struct StoreWriter {
    file: File,
    path: PathBuf,
    version: u8,
    /// Bytes already handed to the OS; the pending buffer starts at this offset.
    flushed_len: u64,
    buf: Vec<u8>,
    /// DELETED flags (offset, new flags) for records already in the file, held back until the
    /// pending buffer is in the file too: the record that supersedes one is appended before the
    /// old one is flagged, and a crash (even kill -9, which keeps what reached the OS) must
    /// never leave the old record flagged without its replacement.
    pending_marks: Vec<(u64, [u8; 2])>,
    stats: WriterStats,
}

impl StoreWriter {
    /// Create a new store at `path` (refusing to replace an existing file): version byte 0x10
    /// and a `gossip_store_uuid` record with a random uuid.
    pub fn create(path: impl AsRef<Path>) -> Result<StoreWriter, StoreError> {
        let uuid: [u8; 32] = rand::random();
        Self::create_with_uuid(path, uuid)
    }

    /// [`create`](Self::create) with a chosen uuid.
    pub fn create_with_uuid(
        path: impl AsRef<Path>,
        uuid: [u8; 32],
    ) -> Result<StoreWriter, StoreError> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let mut w = StoreWriter::from_parts(file, path, VERSION_CURRENT, 0, WriterStats::default());
        w.init_new(uuid)?;
        Ok(w)
    }

    /// Open an existing store for appending after recovering it (a torn or corrupt tail is
    /// cut, the file as it was kept aside first: [`recover_keeping_aside`]). An empty file is
    /// initialised like [`create`](Self::create).
    pub fn open(path: impl AsRef<Path>) -> Result<(StoreWriter, RecoveryReport), StoreError> {
        let path = path.as_ref();
        let mut file = OpenOptions::new().read(true).write(true).open(path)?;
        let report = recover_keeping_aside(path, &mut file)?;
        let stats = WriterStats {
            len: report.valid_len,
            records: report.records_kept,
            deleted: report.deleted_kept,
            deleted_bytes: report.deleted_bytes_kept,
            ..WriterStats::default()
        };
        let version = report.version.unwrap_or(VERSION_CURRENT);
        let mut w = StoreWriter::from_parts(file, path, version, report.valid_len, stats);
        if report.version.is_none() {
            w.init_new(rand::random())?;
        }
        Ok((w, report))
    }

    /// Open `path` if it exists, else create it.
    pub fn open_or_create(
        path: impl AsRef<Path>,
    ) -> Result<(StoreWriter, Option<RecoveryReport>), StoreError> {
        let path = path.as_ref();
        if path.exists() {
            let (w, r) = Self::open(path)?;
            Ok((w, Some(r)))
        } else {
            Ok((Self::create(path)?, None))
        }
    }

    fn from_parts(
        file: File,
        path: &Path,
        version: u8,
        flushed_len: u64,
        stats: WriterStats,
    ) -> StoreWriter {
        StoreWriter {
            file,
            path: path.to_path_buf(),
            version,
            flushed_len,
            buf: Vec::with_capacity(WRITE_BUFFER_BYTES + HEADER_LEN + MAX_MSG_LEN),
            pending_marks: Vec::new(),
            stats,
        }
    }

    fn init_new(&mut self, uuid: [u8; 32]) -> Result<(), StoreError> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.flushed_len = 0;
        self.stats.len = 0;
        self.buf.push(self.version);
        self.stats.len = 1;
        self.push_record(FLAG_COMPLETED, 0, &uuid_msg(&uuid))?;
        self.flush_and_sync()
    }

    /// Path of the store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Version byte of the file.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Counters.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Append `msg` with the COMPLETED flag; returns the record's offset. Buffered: call
    /// [`flush_and_sync`](Self::flush_and_sync) for durability.
    pub fn append(&mut self, msg: &[u8], timestamp: u32) -> Result<u64, StoreError> {
        self.append_with_flags(msg, timestamp, 0)
    }

    /// [`append`](Self::append) with extra flags (e.g. `FLAG_PUSH`, `FLAG_DYING`).
    ///
    /// All or nothing: on `Err` nothing of `msg` is buffered or written, so a retry cannot
    /// duplicate it and no record lands in the file that its caller did not get an offset for.
    pub fn append_with_flags(
        &mut self,
        msg: &[u8],
        timestamp: u32,
        flags: u16,
    ) -> Result<u64, StoreError> {
        if msg.len() > MAX_MSG_LEN {
            return Err(StoreError::MessageTooLong(msg.len()));
        }
        self.make_room(HEADER_LEN + msg.len())?;
        self.push_record(flags | FLAG_COMPLETED, timestamp, msg)
    }

    /// Append a channel_announcement and the `channel_amount` record every announcement must be
    /// followed by (`amount_sat` 0 when unknown). Both land in the same write. Returns the
    /// announcement's offset.
    pub fn append_channel_announcement(
        &mut self,
        msg: &[u8],
        timestamp: u32,
        amount_sat: u64,
    ) -> Result<u64, StoreError> {
        if msg.len() > MAX_MSG_LEN {
            return Err(StoreError::MessageTooLong(msg.len()));
        }
        let amount = channel_amount_msg(amount_sat);
        self.make_room(2 * HEADER_LEN + msg.len() + amount.len())?;
        let off = self.push_record(FLAG_COMPLETED, timestamp, msg)?;
        self.push_record(FLAG_COMPLETED, 0, &amount)?;
        Ok(off)
    }

    fn push_record(&mut self, flags: u16, timestamp: u32, msg: &[u8]) -> Result<u64, StoreError> {
        let rec =
            encode_record(flags, timestamp, msg).ok_or(StoreError::MessageTooLong(msg.len()))?;
        let off = self.stats.len;
        self.buf.extend_from_slice(&rec);
        self.stats.len += rec.len() as u64;
        self.stats.records += 1;
        self.stats.appended += 1;
        Ok(off)
    }

    /// Flushes first if `more` bytes would take the buffer past [`WRITE_BUFFER_BYTES`]: the
    /// buffer never holds more than that plus one append, even when the disk is full (the
    /// flush fails and the append is refused before anything is buffered).
    fn make_room(&mut self, more: usize) -> Result<(), StoreError> {
        if !self.buf.is_empty() && self.buf.len() + more > WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Bytes appended but not yet handed to the OS.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Hand pending appends to the OS (no fsync), then the DELETED flags that waited for them.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        if !self.buf.is_empty() {
            self.write_buffer()?;
        }
        let mut failed = None;
        for (done, (offset, flags)) in self.pending_marks.iter().enumerate() {
            if let Err(e) = self.file.write_all_at(flags, *offset) {
                failed = Some((done, e));
                break;
            }
        }
        match failed {
            Some((done, e)) => {
                // Keep the flags not yet written for the next flush.
                self.pending_marks.drain(..done);
                Err(e.into())
            }
            None => {
                self.pending_marks.clear();
                Ok(())
            }
        }
    }

    fn write_buffer(&mut self) -> Result<(), StoreError> {
        if let Err(e) = self.file.write_all(&self.buf) {
            // Cut any partial write so the file ends on a record boundary and a retry appends
            // at the right place; the records stay pending.
            let _ = self.file.set_len(self.flushed_len);
            let _ = self.file.seek(SeekFrom::Start(self.flushed_len));
            return Err(e.into());
        }
        self.flushed_len += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Flush and fsync: everything appended or flagged so far survives a crash.
    pub fn flush_and_sync(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.file.sync_data()?;
        Ok(())
    }

    /// Set DELETED on the record at `offset`, in place (pending buffer or file). For a
    /// channel_announcement, the `channel_amount` record after it is deleted too, as Core
    /// Lightning's `gossip_store_del` does. Idempotent. Returns how many records were newly
    /// flagged. The record must be intact (COMPLETED, crc valid), which also rejects offsets
    /// that are not record boundaries.
    pub fn mark_deleted(&mut self, offset: u64) -> Result<u32, StoreError> {
        let (hdr, msg) = self.read_record_at(offset)?;
        let mut newly = self.set_deleted(offset, hdr)?;
        if RecordKind::of_msg(&msg) == Some(RecordKind::ChannelAnnouncement) {
            let next = offset + (HEADER_LEN + msg.len()) as u64;
            if next < self.stats.len {
                let (nhdr, nmsg) = self.read_record_at(next)?;
                if RecordKind::of_msg(&nmsg) == Some(RecordKind::ChannelAmount) {
                    newly += self.set_deleted(next, nhdr)?;
                }
            }
        }
        Ok(newly)
    }

    fn set_deleted(&mut self, offset: u64, hdr: RecordHeader) -> Result<u32, StoreError> {
        if hdr.is_deleted() || self.pending_marks.iter().any(|(o, _)| *o == offset) {
            return Ok(0);
        }
        let flags = (hdr.flags | FLAG_DELETED).to_be_bytes();
        if offset >= self.flushed_len {
            let i = usize::try_from(offset - self.flushed_len)
                .map_err(|_| StoreError::NotARecord(offset))?;
            let slot = self
                .buf
                .get_mut(i..i + 2)
                .ok_or(StoreError::NotARecord(offset))?;
            slot.copy_from_slice(&flags);
        } else if !self.buf.is_empty() {
            // Its replacement may still be in the buffer: flag it once the buffer is written.
            self.pending_marks.push((offset, flags));
        } else {
            // Only the flags field: the crc does not cover it, and a concurrent reader sees
            // either the old or the new two bytes.
            self.file.write_all_at(&flags, offset)?;
        }
        self.stats.deleted += 1;
        self.stats.deleted_bytes += (HEADER_LEN + usize::from(hdr.len)) as u64;
        self.stats.marked_deleted += 1;
        Ok(1)
    }

    /// Header and message of the intact record at `offset`, from the pending buffer or the file.
    fn read_record_at(&self, offset: u64) -> Result<(RecordHeader, Vec<u8>), StoreError> {
        let bad = || StoreError::NotARecord(offset);
        // The version byte is at 0; no record can start there.
        if offset == 0 || offset.saturating_add(HEADER_LEN as u64) > self.stats.len {
            return Err(bad());
        }
        let mut hb = [0u8; HEADER_LEN];
        let hdr;
        let mut msg;
        if offset >= self.flushed_len {
            let i = usize::try_from(offset - self.flushed_len).map_err(|_| bad())?;
            let h = self.buf.get(i..i + HEADER_LEN).ok_or_else(bad)?;
            hb.copy_from_slice(h);
            hdr = RecordHeader::decode(&hb);
            let start = i + HEADER_LEN;
            msg = self
                .buf
                .get(start..start + usize::from(hdr.len))
                .ok_or_else(bad)?
                .to_vec();
        } else {
            if offset + HEADER_LEN as u64 > self.flushed_len {
                return Err(bad());
            }
            self.file.read_exact_at(&mut hb, offset)?;
            hdr = RecordHeader::decode(&hb);
            let msg_off = offset + HEADER_LEN as u64;
            if msg_off + u64::from(hdr.len) > self.flushed_len {
                return Err(bad());
            }
            msg = vec![0u8; usize::from(hdr.len)];
            self.file.read_exact_at(&mut msg, msg_off)?;
        }
        if !hdr.is_completed() || !hdr.crc_matches(&msg) {
            return Err(bad());
        }
        Ok((hdr, msg))
    }

    /// Flush, fsync, and rewrite the file without deleted records (see
    /// [`compact_file`]); `on_moved(old_offset, new_offset)` is called for every kept record so
    /// an index can follow. The writer continues on the compacted file.
    pub fn compact(
        &mut self,
        on_moved: impl FnMut(u64, u64),
    ) -> Result<CompactionReport, StoreError> {
        self.flush_and_sync()?;
        let report = compact_file(&self.path, on_moved)?;
        let mut file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        let end = file.seek(SeekFrom::End(0))?;
        self.file = file;
        self.flushed_len = end;
        self.stats.len = end;
        self.stats.records = report.records_kept;
        self.stats.deleted = 0;
        self.stats.deleted_bytes = 0;
        Ok(report)
    }
}

impl Drop for StoreWriter {
    fn drop(&mut self) {
        // Best effort: an owner that cares about durability calls flush_and_sync first.
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::reader::{ReaderOptions, StoreReader};
    use crate::store::record::{parse_channel_amount, FLAG_PUSH};

    fn read_all(path: &Path, skip_deleted: bool) -> Vec<crate::store::StoreRecord> {
        let f = File::open(path).unwrap();
        let opts = ReaderOptions {
            skip_deleted,
            ..Default::default()
        };
        let mut r = StoreReader::with_options(f, opts).unwrap();
        let mut out = vec![];
        while let Some(rec) = r.next_record().unwrap() {
            out.push(rec);
        }
        assert_eq!(r.torn_tail(), None);
        out
    }

    fn ann(i: u8) -> Vec<u8> {
        let mut m = vec![0x01, 0x00];
        m.extend([i; 40]);
        m
    }

    fn upd(i: u8) -> Vec<u8> {
        let mut m = vec![0x01, 0x02];
        m.extend([i; 30]);
        m
    }

    #[test]
    fn create_write_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        let mut w = StoreWriter::create_with_uuid(&p, [9; 32]).unwrap();
        let a = w.append_channel_announcement(&ann(1), 100, 50_000).unwrap();
        let u = w.append_with_flags(&upd(1), 101, FLAG_PUSH).unwrap();
        let n = w.append(b"\x01\x01node", 102).unwrap();
        w.flush_and_sync().unwrap();
        assert!(StoreWriter::create(&p).is_err(), "create never clobbers");

        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes[0], 0x10);
        let recs = read_all(&p, false);
        assert_eq!(recs.len(), 5);
        assert_eq!(recs[0].offset, 1);
        assert_eq!(recs[0].kind(), Some(RecordKind::Uuid));
        assert_eq!(&recs[0].msg[2..], &[9; 32]);
        assert_eq!(
            (recs[1].offset, &recs[1].msg, recs[1].timestamp),
            (a, &ann(1), 100)
        );
        assert_eq!(parse_channel_amount(&recs[2].msg), Some(50_000));
        assert_eq!(recs[3].offset, u);
        assert_eq!(recs[3].flags, FLAG_COMPLETED | FLAG_PUSH);
        assert_eq!(recs[4].offset, n);
        assert!(recs.iter().all(|r| r.flags & FLAG_COMPLETED != 0));
        let s = w.stats();
        assert_eq!((s.len, s.records, s.appended), (bytes.len() as u64, 5, 5));
    }

    #[test]
    fn mark_deleted_in_buffer_and_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        let mut w = StoreWriter::create(&p).unwrap();
        let old = w.append(&upd(1), 1).unwrap();
        w.flush().unwrap();
        let a = w.append_channel_announcement(&ann(2), 2, 7).unwrap();
        let pending = w.append(&upd(2), 3).unwrap();
        assert_eq!(w.mark_deleted(old).unwrap(), 1, "on disk, pwrite path");
        assert_eq!(w.mark_deleted(pending).unwrap(), 1, "still in the buffer");
        assert_eq!(w.mark_deleted(pending).unwrap(), 0, "idempotent");
        assert!(matches!(
            w.mark_deleted(old + 1),
            Err(StoreError::NotARecord(_))
        ));
        assert!(matches!(w.mark_deleted(0), Err(StoreError::NotARecord(0))));
        assert!(matches!(
            w.mark_deleted(1 << 40),
            Err(StoreError::NotARecord(_))
        ));
        w.flush_and_sync().unwrap();
        assert_eq!(
            w.mark_deleted(a).unwrap(),
            2,
            "announcement takes its amount along"
        );

        let all = read_all(&p, false);
        let deleted: Vec<u64> = all
            .iter()
            .filter(|r| r.is_deleted())
            .map(|r| r.offset)
            .collect();
        assert_eq!(deleted.len(), 4);
        assert!(deleted.contains(&old) && deleted.contains(&pending) && deleted.contains(&a));
        let live = read_all(&p, true);
        assert_eq!(live.len(), 1, "only the uuid record is left");
        assert_eq!(w.stats().deleted, 4);
    }

    /// What a kill -9 leaves is the file as the OS has it: an old record may be flagged only
    /// once the record superseding it is there too.
    #[test]
    fn an_old_record_is_flagged_only_after_its_replacement_is_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        let mut w = StoreWriter::create(&p).unwrap();
        let old = w.append(&upd(1), 1).unwrap();
        w.flush().unwrap();
        let new = w.append(&upd(2), 2).unwrap();
        assert_eq!(w.mark_deleted(old).unwrap(), 1);
        assert_eq!(
            w.mark_deleted(old).unwrap(),
            0,
            "idempotent while held back"
        );
        let on_disk = read_all(&p, false);
        assert!(
            on_disk.iter().all(|r| r.offset != new),
            "replacement not written yet"
        );
        let old_rec = on_disk.iter().find(|r| r.offset == old).unwrap();
        assert!(
            !old_rec.is_deleted(),
            "flagged before its replacement reached the file"
        );

        w.flush().unwrap();
        let on_disk = read_all(&p, false);
        assert!(on_disk.iter().any(|r| r.offset == new));
        assert!(on_disk
            .iter()
            .find(|r| r.offset == old)
            .unwrap()
            .is_deleted());
        assert_eq!(w.stats().deleted, 1);
    }

    #[test]
    fn reopen_recovers_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        let mut w = StoreWriter::create(&p).unwrap();
        w.append(&upd(1), 1).unwrap();
        let del = w.append(&upd(2), 2).unwrap();
        w.mark_deleted(del).unwrap();
        w.flush_and_sync().unwrap();
        drop(w);
        // Simulate a crash mid-append.
        let good_len = std::fs::metadata(&p).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&encode_record(FLAG_COMPLETED, 3, &upd(3)).unwrap()[..9])
            .unwrap();
        drop(f);

        let (mut w, rep) = StoreWriter::open(&p).unwrap();
        assert_eq!((rep.valid_len, rep.bytes_truncated), (good_len, 9));
        assert_eq!((rep.records_kept, rep.deleted_kept), (3, 1));
        assert_eq!(w.stats().records, 3);
        let off = w.append(&upd(4), 4).unwrap();
        assert_eq!(off, good_len);
        w.flush_and_sync().unwrap();
        let recs = read_all(&p, true);
        assert_eq!(recs.last().map(|r| r.msg.clone()), Some(upd(4)));
    }

    #[test]
    fn open_initialises_empty_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        std::fs::write(&p, []).unwrap();
        let (w, rep) = StoreWriter::open(&p).unwrap();
        assert_eq!(rep.version, None);
        drop(w);
        let recs = read_all(&p, false);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].kind(), Some(RecordKind::Uuid));
    }

    #[test]
    fn rejects_oversized_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = StoreWriter::create(dir.path().join("s")).unwrap();
        let big = vec![0u8; MAX_MSG_LEN + 1];
        assert!(matches!(
            w.append(&big, 0),
            Err(StoreError::MessageTooLong(_))
        ));
        assert!(matches!(
            w.append_channel_announcement(&big, 0, 0),
            Err(StoreError::MessageTooLong(_))
        ));
        assert_eq!(w.stats().records, 1, "nothing half-appended");
    }

    #[test]
    fn large_batches_flush_on_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        let mut w = StoreWriter::create(&p).unwrap();
        let mut offs = vec![];
        for i in 0..3000u32 {
            offs.push(w.append(&upd(i as u8), i).unwrap());
        }
        assert!(std::fs::metadata(&p).unwrap().len() > WRITE_BUFFER_BYTES as u64);
        for o in offs.iter().step_by(7) {
            w.mark_deleted(*o).unwrap();
        }
        w.flush_and_sync().unwrap();
        let recs = read_all(&p, false);
        assert_eq!(recs.len(), 3001);
        let del = recs.iter().filter(|r| r.is_deleted()).count();
        assert_eq!(del, offs.len().div_ceil(7));
    }

    #[test]
    fn an_append_whose_flush_fails_leaves_nothing_behind_and_the_buffer_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        let mut w = StoreWriter::create(&p).unwrap();
        let mut offsets = vec![];
        // Fill the buffer up to the point where the next append must flush.
        while w.pending_bytes() + HEADER_LEN + upd(0).len() <= WRITE_BUFFER_BYTES {
            offsets.push(w.append(&upd(offsets.len() as u8), 1).unwrap());
        }
        let before = (w.stats(), w.pending_bytes());
        // Writes now fail (a read-only handle stands in for a full disk).
        let writable = std::mem::replace(&mut w.file, File::open(&p).unwrap());
        let failing = b"\x01\x02an append that fails".to_vec();
        for _ in 0..10 {
            assert!(w.append(&failing, 2).is_err());
            assert!(w.append_channel_announcement(&failing, 2, 1).is_err());
        }
        assert_eq!(
            (w.stats(), w.pending_bytes()),
            before,
            "a failed append left a trace"
        );
        // Space returns: everything appended before is written once, nothing else.
        w.file = writable;
        let again = w.append(&upd(0xAA), 3).unwrap();
        w.flush_and_sync().unwrap();
        let recs = read_all(&p, false);
        assert_eq!(recs.len(), 1 + offsets.len() + 1);
        assert!(recs.iter().all(|r| r.msg != failing));
        for (rec, off) in recs[1..].iter().zip(offsets.iter().chain([&again])) {
            assert_eq!(rec.offset, *off);
        }
    }
}
