//! Compaction: rewrite a store without its deleted records, atomically.
//!
//! The kept records are copied byte for byte (flags, timestamp, crc, message) into
//! `<file>.compact.tmp`, which is fsynced and renamed over the original, and the directory is
//! fsynced so the rename itself is durable. A crash at any point leaves either the old or the
//! new file complete. Kept records get new offsets; the caller learns each move through a
//! callback so an in-memory index (scid/node → offset) can follow without a second pass.
//!
//! Choices:
//! - The uuid record is kept as is: the file is the same store, only shorter.
//! - `delete_chan` tombstones are kept: dropping one would resurrect its channel for a reader
//!   if the announcement had not been flagged DELETED (Core Lightning drops them because its
//!   gossipd always flags the announcement first; we do not rely on every caller doing so).
//! - A live `channel_amount` right after a dropped channel_announcement is dropped too, or
//!   pyln's `Gossmap` would give its capacity to the previous channel.
//! - The source must be exclusively ours: a writer still appending to the old file would write
//!   into the replaced inode. [`StoreWriter::compact`](crate::store::StoreWriter::compact)
//!   handles that for its own file.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::reader::{ReaderOptions, StoreReader, StoreStart, TornTail};
use super::record::{encode_record, RecordKind};

/// What compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionReport {
    /// Source length.
    pub old_len: u64,
    /// Length of the compacted file.
    pub new_len: u64,
    /// Records copied.
    pub records_kept: u64,
    /// Records dropped (deleted ones and orphaned amounts).
    pub records_dropped: u64,
    /// A torn tail in the source, which was not copied.
    pub torn: Option<TornTail>,
    /// The rename happened but the directory fsync after it failed: the new file is in place
    /// and must be used (the old inode is unlinked), but a crash could still bring back the old
    /// name. The caller retries [`crate::durable::sync_parent_dir`] until it succeeds.
    pub dir_sync_failed: bool,
}

/// Temporary file next to `path` used while compacting.
pub fn compaction_temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".compact.tmp");
    path.with_file_name(name)
}

/// Rewrite the store at `path` without deleted records; `on_moved(old_offset, new_offset)` is
/// called for every record kept, in file order.
pub fn compact_file(
    path: impl AsRef<Path>,
    mut on_moved: impl FnMut(u64, u64),
) -> Result<CompactionReport, StoreError> {
    let path = path.as_ref();
    let src = File::open(path)?;
    let old_len = src.metadata()?.len();
    let mut reader = StoreReader::with_options(BufReader::new(src), ReaderOptions::default())?;
    let version = match reader.start() {
        StoreStart::Versioned(v) => v,
        _ => return Err(StoreError::MissingVersion),
    };

    let tmp = compaction_temp_path(path);
    let result = (|| {
        let out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        let mut out = BufWriter::new(out);
        out.write_all(&[version])?;
        let mut new_off = 1u64;
        let (mut kept, mut dropped) = (0u64, 0u64);
        let mut prev_dropped_announcement = false;
        while let Some(rec) = reader.next_record()? {
            let kind = rec.kind();
            let orphan_amount =
                prev_dropped_announcement && kind == Some(RecordKind::ChannelAmount);
            prev_dropped_announcement =
                rec.is_deleted() && kind == Some(RecordKind::ChannelAnnouncement);
            if rec.is_deleted() || orphan_amount {
                dropped += 1;
                continue;
            }
            let bytes = encode_record(rec.flags, rec.timestamp, &rec.msg)
                .ok_or(StoreError::MessageTooLong(rec.msg.len()))?;
            out.write_all(&bytes)?;
            on_moved(rec.offset, new_off);
            new_off += bytes.len() as u64;
            kept += 1;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok::<_, StoreError>((new_off, kept, dropped))
    })();
    let (new_len, records_kept, records_dropped) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let torn = reader.torn_tail();
    fs::rename(&tmp, path)?;
    // After the rename the compacted file *is* the store, whatever happens next: failing here
    // would leave a writer appending to the unlinked old inode, losing everything it writes.
    let dir_sync_failed = match crate::durable::sync_parent_dir(path) {
        Ok(()) => false,
        Err(err) => {
            tracing::error!(%err, "directory fsync after compaction failed; will retry");
            true
        }
    };
    Ok(CompactionReport {
        old_len,
        new_len,
        records_kept,
        records_dropped,
        torn,
        dir_sync_failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::reader::open_input;
    use crate::store::record::{FLAG_COMPLETED, HEADER_LEN};
    use crate::store::StoreWriter;
    use std::collections::HashMap;
    use std::io::Read;

    fn records(path: &Path) -> Vec<crate::store::StoreRecord> {
        StoreReader::new(File::open(path).unwrap())
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    fn raw_record(bytes: &[u8], off: u64, len: usize) -> &[u8] {
        &bytes[off as usize..off as usize + HEADER_LEN + len]
    }

    #[test]
    fn drops_deleted_keeps_rest_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        let mut input = Vec::new();
        open_input(crate::test_vectors::shared(
            "gossip_store/gossip_store-part1.xz",
        ))
        .unwrap()
        .read_to_end(&mut input)
        .unwrap();
        std::fs::write(&p, &input).unwrap();
        let before = records(&p);
        let mut moves = HashMap::new();
        let rep = compact_file(&p, |o, n| {
            moves.insert(o, n);
        })
        .unwrap();
        assert_eq!(rep.records_dropped, 2);
        assert_eq!(rep.records_kept, 92);
        assert_eq!(rep.torn, None);
        let after_bytes = std::fs::read(&p).unwrap();
        assert_eq!(after_bytes[0], input[0]);
        assert_eq!(rep.new_len, after_bytes.len() as u64);
        let after = records(&p);
        assert_eq!(after.len(), 92);
        assert!(after.iter().all(|r| !r.is_deleted()));
        let live: Vec<_> = before.iter().filter(|r| !r.is_deleted()).collect();
        for (old, new) in live.iter().zip(&after) {
            assert_eq!(moves.get(&old.offset), Some(&new.offset));
            assert_eq!(
                raw_record(&input, old.offset, old.msg.len()),
                raw_record(&after_bytes, new.offset, new.msg.len()),
            );
        }
        assert!(!compaction_temp_path(&p).exists());
    }

    #[test]
    fn writer_compacts_and_keeps_appending() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        let mut w = StoreWriter::create(&p).unwrap();
        let mut ann = vec![0x01, 0x00];
        ann.extend([3u8; 40]);
        let a = w.append_channel_announcement(&ann, 5, 1000).unwrap();
        let u1 = w.append(b"\x01\x02one", 6).unwrap();
        let u2 = w.append(b"\x01\x02two", 7).unwrap();
        w.mark_deleted(u1).unwrap();
        let mut moves = vec![];
        let rep = w.compact(|o, n| moves.push((o, n))).unwrap();
        assert_eq!((rep.records_kept, rep.records_dropped), (4, 1));
        assert_eq!(moves[0], (1, 1), "uuid record stays first");
        assert!(moves.contains(&(a, a)));
        let new_u2 = moves.iter().find(|(o, _)| *o == u2).unwrap().1;
        assert_eq!(new_u2, u1, "u2 slides into u1's place");
        let u3 = w.append(b"\x01\x02three", 8).unwrap();
        w.mark_deleted(new_u2).unwrap();
        w.flush_and_sync().unwrap();
        let recs = records(&p);
        assert_eq!(recs.len(), 5);
        assert_eq!(recs[4].offset, u3);
        assert!(recs[3].is_deleted());
        assert_eq!(w.stats().records, 5);
    }

    #[test]
    fn orphan_amount_after_deleted_announcement_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        let mut data = vec![0x10];
        let mut ann = vec![0x01, 0x00];
        ann.extend([1u8; 10]);
        data.extend(encode_record(FLAG_COMPLETED | 0x8000, 1, &ann).unwrap());
        data.extend(
            encode_record(
                FLAG_COMPLETED,
                0,
                &crate::store::record::channel_amount_msg(9),
            )
            .unwrap(),
        );
        std::fs::write(&p, &data).unwrap();
        let rep = compact_file(&p, |_, _| {}).unwrap();
        assert_eq!(
            (rep.records_kept, rep.records_dropped, rep.new_len),
            (0, 2, 1)
        );
    }
}
