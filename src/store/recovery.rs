//! Crash recovery: find the valid prefix of a store file and truncate everything after it.
//!
//! A crash mid-append leaves a torn last record (short header or message, no COMPLETED flag, or
//! a crc that does not match what reached the disk). Like Core Lightning's `gossip_store_load`,
//! we cut the file at the first such record, even if it is not the last one: nothing after a
//! corrupt record can be trusted to start on a record boundary.
//!
//! Before anything is cut, [`recover`] (and so every store the node opens) keeps the whole
//! file aside as `<file>.corrupt`, as Core Lightning's `gossip_store_load` does ("Moving to
//! gossip_store.corrupt and truncating"): what was cut may be worth a look, and a bug in
//! recovery must not destroy data. Core Lightning renames the file and starts empty; we copy
//! it and keep the valid prefix, so a restart does not have to fetch the whole graph again.
//! Only the latest corrupt copy is kept.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::error::StoreError;
use super::reader::{ReaderOptions, StoreReader, StoreStart, TornTail};
use super::record::RecordKind;

/// What recovery found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Version byte, `None` for an empty file.
    pub version: Option<u8>,
    /// File length before recovery.
    pub original_len: u64,
    /// File length after recovery (end of the last kept record).
    pub valid_len: u64,
    /// `original_len - valid_len`.
    pub bytes_truncated: u64,
    /// Records kept, deleted ones included.
    pub records_kept: u64,
    /// Of the kept records, those with the DELETED flag.
    pub deleted_kept: u64,
    /// Header plus message bytes of those deleted records (what compaction would reclaim).
    pub deleted_bytes_kept: u64,
    /// The first bad record, if any.
    pub torn: Option<TornTail>,
    /// The last intact record was a live channel_announcement whose channel_amount was lost;
    /// it was truncated too, since readers (pyln `Gossmap`) attach an amount to the most recent
    /// announcement and the store promises one after each.
    pub dropped_dangling_announcement: bool,
}

/// Where [`recover`] keeps a store it is about to cut.
pub fn corrupt_copy_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".corrupt");
    path.with_file_name(name)
}

/// Recover the store at `path` in place (see [`recover_file`]), keeping a copy of the file as
/// it was in [`corrupt_copy_path`] first if anything is to be cut. If the copy cannot be made
/// durable (e.g. the disk is full) nothing is cut and the error is returned.
pub fn recover(path: impl AsRef<Path>) -> Result<RecoveryReport, StoreError> {
    let path = path.as_ref();
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    recover_keeping_aside(path, &mut file)
}

/// [`recover`] on an open `file` whose name is `path`.
pub fn recover_keeping_aside(path: &Path, file: &mut File) -> Result<RecoveryReport, StoreError> {
    let report = scan(file)?;
    if report.valid_len < report.original_len {
        keep_aside(path)?;
        file.set_len(report.valid_len)?;
        file.sync_all()?;
    }
    file.seek(SeekFrom::Start(report.valid_len))?;
    Ok(report)
}

/// Copies `path` to [`corrupt_copy_path`] through a temporary file, fsynced and renamed, so a
/// crash leaves either the previous copy or the whole new one.
fn keep_aside(path: &Path) -> Result<(), StoreError> {
    let target = corrupt_copy_path(path);
    let mut tmp = target.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let copied = (|| {
        fs::copy(path, &tmp)?;
        File::open(&tmp)?.sync_all()?;
        fs::rename(&tmp, &target)?;
        crate::durable::sync_parent_dir(&target)
    })();
    if let Err(err) = copied {
        let _ = fs::remove_file(&tmp);
        return Err(err.into());
    }
    tracing::warn!(
        path = %path.display(),
        kept = %target.display(),
        "gossip_store: a corrupt or torn tail is cut; the file as it was is kept aside"
    );
    Ok(())
}

/// Scan `file` from the start, truncate it after the last valid record and fsync if anything
/// was cut (without keeping a copy: [`recover`] does). Leaves the cursor at the new end. A
/// file without a version byte is refused.
pub fn recover_file(file: &mut File) -> Result<RecoveryReport, StoreError> {
    let report = scan(file)?;
    if report.valid_len < report.original_len {
        file.set_len(report.valid_len)?;
        file.sync_all()?;
    }
    file.seek(SeekFrom::Start(report.valid_len))?;
    Ok(report)
}

/// Finds the valid prefix of `file` without changing it.
fn scan(file: &mut File) -> Result<RecoveryReport, StoreError> {
    let original_len = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let mut reader = StoreReader::with_options(&*file, ReaderOptions::default())?;
    let version = match reader.start() {
        StoreStart::Versioned(v) => Some(v),
        StoreStart::Empty => None,
        StoreStart::Headerless => return Err(StoreError::MissingVersion),
    };
    // Offset and kind of the last live channel_announcement if it is the last record so far.
    let mut dangling: Option<u64> = None;
    while let Some(rec) = reader.next_record()? {
        dangling = match rec.kind() {
            Some(RecordKind::ChannelAnnouncement) if !rec.is_deleted() => Some(rec.offset),
            _ => None,
        };
    }
    let stats = reader.stats();
    let torn = reader.torn_tail();
    let mut valid_len = reader.offset();
    let mut records_kept = stats.records;
    if let Some(off) = dangling {
        valid_len = off;
        records_kept -= 1;
    }
    drop(reader);
    Ok(RecoveryReport {
        version,
        original_len,
        valid_len,
        bytes_truncated: original_len - valid_len,
        records_kept,
        deleted_kept: stats.deleted,
        deleted_bytes_kept: stats.deleted_bytes,
        torn,
        dropped_dangling_announcement: dangling.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::reader::TornReason;
    use crate::store::record::{channel_amount_msg, encode_record, FLAG_COMPLETED};

    fn sample() -> (Vec<u8>, Vec<u64>) {
        let mut data = vec![0x10];
        let mut bounds = vec![];
        for i in 0..3u8 {
            bounds.push(data.len() as u64);
            let msg = [0x01, 0x02, i, i, i, i, i];
            data.extend(encode_record(FLAG_COMPLETED, 1000 + u32::from(i), &msg).unwrap());
        }
        bounds.push(data.len() as u64);
        (data, bounds)
    }

    #[test]
    fn torn_tail_at_every_length_is_cut_to_previous_boundary() {
        let (data, bounds) = sample();
        let last = bounds[2] as usize;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        for cut in last..data.len() {
            std::fs::write(&p, &data[..cut]).unwrap();
            let rep = recover(&p).unwrap();
            assert_eq!(rep.valid_len, bounds[2], "cut at {cut}");
            assert_eq!(rep.bytes_truncated, (cut - last) as u64);
            assert_eq!(rep.records_kept, 2);
            assert_eq!(std::fs::metadata(&p).unwrap().len(), bounds[2]);
            assert_eq!(rep.torn.is_some(), cut > last);
            if let Some(t) = rep.torn {
                assert_eq!(t.offset, bounds[2]);
                assert!(t.reason.is_incomplete());
            }
        }
        // Intact file: nothing to do.
        std::fs::write(&p, &data).unwrap();
        let rep = recover(&p).unwrap();
        assert_eq!(
            (rep.bytes_truncated, rep.records_kept, rep.torn),
            (0, 3, None)
        );
    }

    #[test]
    fn flipped_byte_in_last_message_fails_crc_and_is_cut() {
        let (mut data, bounds) = sample();
        let last_msg_byte = data.len() - 1;
        data[last_msg_byte] ^= 0x01;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        std::fs::write(&p, &data).unwrap();
        let rep = recover(&p).unwrap();
        assert_eq!(rep.valid_len, bounds[2]);
        assert!(matches!(
            rep.torn.map(|t| t.reason),
            Some(TornReason::CrcMismatch { .. })
        ));
        assert_eq!(std::fs::read(&p).unwrap(), data[..bounds[2] as usize]);
    }

    #[test]
    fn announcement_without_amount_is_dropped() {
        let (mut data, bounds) = sample();
        let mut ann = vec![0x01, 0x00];
        ann.extend([0u8; 20]);
        data.extend(encode_record(FLAG_COMPLETED, 7, &ann).unwrap());
        let with_ann = data.len();
        data.extend(encode_record(FLAG_COMPLETED, 0, &channel_amount_msg(5)).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        // Amount half-written: both go.
        std::fs::write(&p, &data[..data.len() - 3]).unwrap();
        let rep = recover(&p).unwrap();
        assert!(rep.dropped_dangling_announcement);
        assert_eq!(rep.valid_len, bounds[3]);
        assert_eq!(rep.records_kept, 3);
        // Amount fully written: both stay.
        std::fs::write(&p, &data).unwrap();
        let rep = recover(&p).unwrap();
        assert!(!rep.dropped_dangling_announcement);
        assert_eq!(rep.valid_len as usize, data.len());
        assert!(with_ann < data.len());
    }

    #[test]
    fn empty_and_headerless_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gossip_store");
        std::fs::write(&p, []).unwrap();
        let rep = recover(&p).unwrap();
        assert_eq!((rep.version, rep.valid_len), (None, 0));
        std::fs::write(&p, encode_record(FLAG_COMPLETED, 0, b"\x01\x02").unwrap()).unwrap();
        assert!(matches!(recover(&p), Err(StoreError::MissingVersion)));
    }
}
