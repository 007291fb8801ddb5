//! The store's readable end, for serving gossip back out of the file the way Core Lightning's
//! connectd streams its gossip_store: [`StoreTail`] says how far the file is flushed (a reader
//! never sees a record the writer still buffers) and which file generation is current
//! (compaction rewrites the file under a new inode); [`TailCursor`] walks the records in file
//! order from any offset, following a compaction across the rename; [`StoreFile`] reads one
//! record back by the offset the graph holds for it.
//!
//! Reads are `pread`s on a file the page cache holds; they never take a lock the store actor
//! holds, and a record is only read once it lies wholly below the published end, so a reader
//! never sees a torn one. Records are flagged DELETED in place after they were published;
//! a reader that races such a flag may hand out a record just superseded, which a peer then
//! drops as stale (BOLT 7 lets it).

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use super::record::{RecordHeader, HEADER_LEN, MAX_MSG_LEN};

/// What readers of the live store may rely on.
#[derive(Clone, Debug)]
pub struct TailState {
    /// Bumped by every compaction.
    pub generation: u64,
    /// Bytes of the file that are flushed to the OS: records wholly below this can be read.
    pub end: u64,
    /// The inode of this generation's file: a reader that opened the path just as compaction
    /// renamed the new file into place can tell which file it got.
    ino: u64,
    /// `(old offset, new offset)` of every record this generation's compaction kept, in file
    /// order: how a cursor of the previous generation finds its place in this one.
    moves: Arc<[(u64, u64)]>,
}

/// Published by the store actor, read by every serving cursor.
pub struct StoreTail {
    path: PathBuf,
    state: watch::Sender<TailState>,
}

impl StoreTail {
    /// A tail over the file at `path`, flushed up to `end`.
    pub fn new(path: &Path, end: u64) -> io::Result<Arc<StoreTail>> {
        let ino = std::fs::metadata(path)?.ino();
        let (state, _) = watch::channel(TailState {
            generation: 0,
            end,
            ino,
            moves: Arc::from(Vec::new()),
        });
        Ok(Arc::new(StoreTail {
            path: path.to_path_buf(),
            state,
        }))
    }

    /// Everything below `end` is now in the file (called after a successful flush).
    pub fn flushed(&self, end: u64) {
        self.state.send_if_modified(|state| {
            let moved = state.end != end;
            state.end = end;
            moved
        });
    }

    /// Compaction replaced the file: `moves` as reported by it, `end` the new file's length.
    pub fn compacted(&self, moves: Vec<(u64, u64)>, end: u64) {
        let ino = std::fs::metadata(&self.path).map(|m| m.ino()).unwrap_or(0);
        self.state.send_modify(|state| {
            state.generation += 1;
            state.end = end;
            state.ino = ino;
            state.moves = Arc::from(moves);
        });
    }

    /// The current state.
    pub fn state(&self) -> TailState {
        self.state.borrow().clone()
    }

    /// Wakes on every change of the state.
    pub fn subscribe(&self) -> watch::Receiver<TailState> {
        self.state.subscribe()
    }

    /// Opens the current generation's file. `WouldBlock` if compaction renamed a file into
    /// place that it has not published yet: try again after the next change.
    pub fn open(&self) -> io::Result<StoreFile> {
        let state = self.state();
        let file = File::open(&self.path)?;
        if file.metadata()?.ino() != state.ino {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(StoreFile {
            file,
            generation: state.generation,
        })
    }
}

/// One generation of the store file, open for reading.
pub struct StoreFile {
    file: File,
    generation: u64,
}

impl StoreFile {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The record at `offset` if it lies wholly below `end` (else `None`: not written yet, or
    /// not a record boundary the header can vouch for).
    pub fn read_record(
        &self,
        offset: u64,
        end: u64,
    ) -> io::Result<Option<(RecordHeader, Vec<u8>)>> {
        let mut head = [0u8; HEADER_LEN];
        if offset + HEADER_LEN as u64 > end {
            return Ok(None);
        }
        self.file.read_exact_at(&mut head, offset)?;
        let header = RecordHeader::decode(&head);
        let len = usize::from(header.len);
        if len > MAX_MSG_LEN || offset + (HEADER_LEN + len) as u64 > end {
            return Ok(None);
        }
        let mut msg = vec![0u8; len];
        self.file
            .read_exact_at(&mut msg, offset + HEADER_LEN as u64)?;
        Ok(Some((header, msg)))
    }
}

/// A record as a cursor yields it.
#[derive(Debug)]
pub struct TailRecord {
    pub offset: u64,
    pub header: RecordHeader,
    pub msg: Vec<u8>,
}

/// Walks the live store in file order from an offset; at the end it waits for the store to
/// publish more. Follows a compaction by mapping its offset to the first kept record at or
/// after it; if it missed more than one compaction, it cannot map and jumps to the end
/// (counted in [`TailCursor::lost_positions`]).
pub struct TailCursor {
    tail: Arc<StoreTail>,
    changes: watch::Receiver<TailState>,
    file: Option<StoreFile>,
    /// The file generation `offset` is a position in.
    generation: u64,
    offset: u64,
    lost_positions: u64,
}

/// The first record's offset: after the version byte.
pub const FIRST_RECORD: u64 = 1;

impl TailCursor {
    /// A cursor at the store's first record.
    pub fn at_start(tail: Arc<StoreTail>) -> TailCursor {
        Self::at(tail, FIRST_RECORD)
    }

    /// A cursor at the store's published end: it yields only what is written from now on.
    pub fn at_end(tail: Arc<StoreTail>) -> TailCursor {
        let end = tail.state().end;
        Self::at(tail, end)
    }

    fn at(tail: Arc<StoreTail>, offset: u64) -> TailCursor {
        let mut changes = tail.subscribe();
        let generation = changes.borrow_and_update().generation;
        TailCursor {
            tail,
            changes,
            file: None,
            generation,
            offset,
            lost_positions: 0,
        }
    }

    /// Where the next record is read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes between the cursor and the published end.
    pub fn lag(&self) -> u64 {
        self.tail.state().end.saturating_sub(self.offset)
    }

    /// Times the cursor could not follow a compaction and jumped to the end.
    pub fn lost_positions(&self) -> u64 {
        self.lost_positions
    }

    /// The next record, or `None` at the published end (then [`changed`](Self::changed)).
    pub fn next_record(&mut self) -> io::Result<Option<TailRecord>> {
        let state = self.changes.borrow_and_update().clone();
        if state.generation != self.generation {
            self.offset = if self.generation + 1 == state.generation {
                follow(&state.moves, self.offset, state.end)
            } else {
                self.lost_positions += 1;
                state.end
            };
            self.generation = state.generation;
            self.file = None;
        }
        if self.file.is_none() {
            match self.tail.open() {
                Ok(file) if file.generation() == state.generation => self.file = Some(file),
                // Renamed but not yet published: the next change brings it.
                Ok(_) => return Ok(None),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(err) => return Err(err),
            }
        }
        let Some(file) = &self.file else {
            return Ok(None);
        };
        let Some((header, msg)) = file.read_record(self.offset, state.end)? else {
            return Ok(None);
        };
        let record = TailRecord {
            offset: self.offset,
            header,
            msg,
        };
        self.offset += (HEADER_LEN + usize::from(header.len)) as u64;
        Ok(Some(record))
    }

    /// The record at `offset` in the cursor's current file, if published (a point read beside
    /// the walk, e.g. of an announcement held back until its first update).
    pub fn read_at(&self, offset: u64) -> io::Result<Option<(RecordHeader, Vec<u8>)>> {
        match &self.file {
            Some(file) => file.read_record(offset, self.changes.borrow().end),
            None => Ok(None),
        }
    }

    /// Resolves when the store published more (or compacted).
    pub async fn changed(&mut self) {
        if self.changes.changed().await.is_err() {
            // The store is gone: nothing more will come.
            std::future::pending::<()>().await;
        }
    }
}

/// Where `offset` of the previous generation lands in one compacted with `moves`: the first
/// kept record at or after it, or the new end.
fn follow(moves: &[(u64, u64)], offset: u64, end: u64) -> u64 {
    let i = moves.partition_point(|(old, _)| *old < offset);
    moves.get(i).map_or(end, |(_, new)| *new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreWriter;

    #[test]
    fn cursor_reads_published_records_and_follows_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gossip_store");
        let mut writer = StoreWriter::create(&path).unwrap();
        let a = writer.append(&[1, 2, 0xa], 10).unwrap();
        let b = writer.append(&[1, 2, 0xb], 11).unwrap();
        writer.flush_and_sync().unwrap();
        let tail = StoreTail::new(&path, writer.stats().len).unwrap();
        let mut cursor = TailCursor::at_start(tail.clone());
        let mut seen = vec![];
        while let Some(r) = cursor.next_record().unwrap() {
            seen.push((r.offset, r.msg));
        }
        // The uuid record first, then ours.
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[1], (a, vec![1, 2, 0xa]));
        assert_eq!(seen[2], (b, vec![1, 2, 0xb]));

        // Unpublished records are not read.
        let c = writer.append(&[1, 2, 0xc], 12).unwrap();
        writer.flush_and_sync().unwrap();
        assert!(cursor.next_record().unwrap().is_none());
        tail.flushed(writer.stats().len);
        assert_eq!(cursor.next_record().unwrap().unwrap().offset, c);

        // A cursor left before `b` follows compaction to `b`'s new place.
        let mut behind = TailCursor::at(tail.clone(), b);
        writer.mark_deleted(a).unwrap();
        let mut moves = vec![];
        let report = writer.compact(|old, new| moves.push((old, new))).unwrap();
        tail.compacted(moves, report.new_len);
        let r = behind.next_record().unwrap().unwrap();
        assert_eq!(r.msg, vec![1, 2, 0xb]);
        assert!(r.offset < b, "compaction moved it up");
        assert_eq!(behind.next_record().unwrap().unwrap().msg, vec![1, 2, 0xc]);
        assert!(behind.next_record().unwrap().is_none());
        assert_eq!(behind.lost_positions(), 0);
    }
}
