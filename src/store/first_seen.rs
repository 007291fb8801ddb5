//! When the hand-out first saw each message of the graph: the side file `first_seen` beside
//! `gossip_store`, read by Rapid Gossip Sync to answer "what changed since T".
//!
//! Why a side file and not the store's record header: Core Lightning's header has one 32-bit
//! timestamp and it already holds the message's own timestamp (readers use it), and compaction
//! rewrites records, so a time kept beside their offsets would not survive it. Here the key is
//! the message itself (channel, direction, node, and the message's own timestamp), which no
//! compaction or restart changes.
//!
//! "Seen" is the time a snapshot build first found the message in the verified graph *and its
//! bytes in the store*: only then can a snapshot carry it, so an incremental snapshot for any
//! `T` never misses a message that reached the graph while an earlier snapshot was built (a
//! time taken at the first network arrival would: the message can still be in a verifier's
//! mailbox when a snapshot is cut). Its precision is the snapshot interval.
//!
//! File: 8-byte magic `GSSEEN01`, then fixed 42-byte records `kind u8 | key [u8; 33] |
//! message timestamp u32 | seen u32` (big-endian), appended per build and fsynced; a later
//! record for a key replaces an earlier one. A torn tail (crash mid-append) is ignored. When the
//! file holds more than twice the live entries it is rewritten atomically (temp file, rename,
//! directory fsync).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::durable::sync_parent_dir;
use crate::graph::NodeId;

/// File name inside the data directory.
pub const FIRST_SEEN_FILE: &str = "first_seen";
const MAGIC: &[u8; 8] = b"GSSEEN01";
const RECORD_LEN: usize = 1 + 33 + 4 + 4;
/// Below this many records a rewrite saves less than a page or two: never worth it.
const MIN_REWRITE_RECORDS: usize = 1000;

/// Which graph entry a time belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeenKey {
    /// A channel_announcement (it has no timestamp of its own: 0).
    Channel(u64),
    /// A channel_update of one direction (`channel_flags & 1`).
    Update(u64, u8),
    /// A node_announcement.
    Node(NodeId),
}

impl SeenKey {
    fn encode(&self, out: &mut [u8; 34]) {
        *out = [0; 34];
        match self {
            SeenKey::Channel(scid) => {
                out[0] = 1;
                out[1..9].copy_from_slice(&scid.to_be_bytes());
            }
            SeenKey::Update(scid, direction) => {
                out[0] = 2;
                out[1..9].copy_from_slice(&scid.to_be_bytes());
                out[9] = *direction;
            }
            SeenKey::Node(node_id) => {
                out[0] = 3;
                out[1..34].copy_from_slice(node_id);
            }
        }
    }

    fn decode(bytes: &[u8]) -> Option<SeenKey> {
        let scid = || Some(u64::from_be_bytes(bytes.get(1..9)?.try_into().ok()?));
        match bytes.first()? {
            1 => Some(SeenKey::Channel(scid()?)),
            2 => Some(SeenKey::Update(scid()?, *bytes.get(9)? & 1)),
            3 => Some(SeenKey::Node(bytes.get(1..34)?.try_into().ok()?)),
            _ => None,
        }
    }
}

/// A message's own timestamp and when we first saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub message_timestamp: u32,
    pub seen: u32,
}

/// The first-seen times of the graph's messages, in memory and in the side file.
pub struct FirstSeen {
    path: Option<PathBuf>,
    entries: HashMap<SeenKey, Seen>,
    /// Entries noted since the last [`FirstSeen::commit`].
    unwritten: Vec<(SeenKey, Seen)>,
    /// Records in the file (live or replaced).
    file_records: usize,
}

impl FirstSeen {
    /// Kept in memory only (tests, offline builds).
    pub fn in_memory() -> Self {
        FirstSeen {
            path: None,
            entries: HashMap::new(),
            unwritten: Vec::new(),
            file_records: 0,
        }
    }

    /// Loads `<data_dir>/first_seen` (a missing file is an empty one).
    pub fn open(data_dir: &Path) -> io::Result<Self> {
        let path = data_dir.join(FIRST_SEEN_FILE);
        let mut seen = FirstSeen {
            path: Some(path.clone()),
            ..FirstSeen::in_memory()
        };
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_end(&mut bytes)?;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(seen),
            Err(err) => return Err(err),
        }
        if bytes.get(..MAGIC.len()) != Some(MAGIC.as_slice()) {
            // Not ours (or torn before the magic was written): start over rather than guess.
            tracing::warn!(path = %path.display(), "first_seen: unknown format, starting empty");
            return Ok(seen);
        }
        for record in bytes[MAGIC.len()..].chunks_exact(RECORD_LEN) {
            let Some(key) = SeenKey::decode(&record[..34]) else {
                continue;
            };
            let word = |at: usize| {
                u32::from_be_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
            };
            seen.entries.insert(
                key,
                Seen {
                    message_timestamp: word(34),
                    seen: word(38),
                },
            );
            seen.file_records += 1;
        }
        Ok(seen)
    }

    pub fn get(&self, key: &SeenKey) -> Option<Seen> {
        self.entries.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When the message of `key` with `message_timestamp` was first seen: the recorded time if
    /// it is the message recorded, else `now`, recorded (a newer message replaces an older).
    pub fn note(&mut self, key: SeenKey, message_timestamp: u32, now: u32) -> u32 {
        match self.entries.get(&key) {
            Some(known) if known.message_timestamp == message_timestamp => known.seen,
            _ => {
                let seen = Seen {
                    message_timestamp,
                    seen: now,
                };
                self.entries.insert(key, seen);
                self.unwritten.push((key, seen));
                now
            }
        }
    }

    /// Forgets every key `live` refuses (channels and nodes gone from the graph).
    pub fn retain(&mut self, mut live: impl FnMut(&SeenKey) -> bool) {
        self.entries.retain(|key, _| live(key));
    }

    /// Appends what was noted since the last commit and fsyncs; rewrites the file when replaced
    /// records outnumber live ones.
    pub fn commit(&mut self) -> io::Result<()> {
        let Some(path) = self.path.clone() else {
            self.unwritten.clear();
            return Ok(());
        };
        let records = self.file_records + self.unwritten.len();
        if records >= MIN_REWRITE_RECORDS && records > 2 * self.entries.len() {
            return self.rewrite(&path);
        }
        if self.unwritten.is_empty() {
            return Ok(());
        }
        let fresh = !path.exists();
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        // A torn tail is a partial record: pad it out so the next records stay aligned.
        let len = file.metadata()?.len();
        let mut out = BufWriter::new(file);
        if fresh || len < MAGIC.len() as u64 {
            out.write_all(&MAGIC[usize::try_from(len).unwrap_or(0).min(MAGIC.len())..])?;
        } else {
            let torn = (len - MAGIC.len() as u64) % RECORD_LEN as u64;
            if torn != 0 {
                out.write_all(&vec![0u8; RECORD_LEN - torn as usize])?;
            }
        }
        for (key, seen) in self.unwritten.drain(..) {
            write_record(&mut out, &key, seen)?;
            self.file_records += 1;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_data()?;
        if fresh {
            sync_parent_dir(&path)?;
        }
        Ok(())
    }

    fn rewrite(&mut self, path: &Path) -> io::Result<()> {
        let temp = path.with_extension("tmp");
        let mut out = BufWriter::new(File::create(&temp)?);
        out.write_all(MAGIC)?;
        for (key, seen) in &self.entries {
            write_record(&mut out, key, *seen)?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        sync_parent_dir(path)?;
        self.unwritten.clear();
        self.file_records = self.entries.len();
        Ok(())
    }
}

fn write_record(out: &mut impl Write, key: &SeenKey, seen: Seen) -> io::Result<()> {
    let mut record = [0u8; RECORD_LEN];
    let mut encoded = [0u8; 34];
    key.encode(&mut encoded);
    record[..34].copy_from_slice(&encoded);
    record[34..38].copy_from_slice(&seen.message_timestamp.to_be_bytes());
    record[38..42].copy_from_slice(&seen.seen.to_be_bytes());
    out.write_all(&record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(byte: u8) -> NodeId {
        let mut id = [byte; 33];
        id[0] = 3;
        id
    }

    #[test]
    fn times_survive_a_reopen_and_newer_messages_replace_older() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = FirstSeen::open(dir.path()).unwrap();
        assert_eq!(seen.note(SeenKey::Channel(7), 0, 100), 100);
        assert_eq!(seen.note(SeenKey::Update(7, 1), 50, 100), 100);
        assert_eq!(seen.note(SeenKey::Node(node(9)), 60, 100), 100);
        seen.commit().unwrap();
        // The same message keeps its first time; a newer one gets the new time.
        assert_eq!(seen.note(SeenKey::Update(7, 1), 50, 200), 100);
        assert_eq!(seen.note(SeenKey::Update(7, 1), 51, 200), 200);
        seen.commit().unwrap();

        let again = FirstSeen::open(dir.path()).unwrap();
        assert_eq!(again.len(), 3);
        assert_eq!(
            again.get(&SeenKey::Update(7, 1)),
            Some(Seen {
                message_timestamp: 51,
                seen: 200
            })
        );
        assert_eq!(again.get(&SeenKey::Node(node(9))).unwrap().seen, 100);
        assert_eq!(again.get(&SeenKey::Channel(7)).unwrap().seen, 100);
    }

    #[test]
    fn a_torn_tail_is_ignored_and_later_appends_stay_aligned() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = FirstSeen::open(dir.path()).unwrap();
        seen.note(SeenKey::Channel(1), 0, 10);
        seen.commit().unwrap();
        let path = dir.path().join(FIRST_SEEN_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[1, 0, 0]).unwrap();
        drop(file);
        let mut seen = FirstSeen::open(dir.path()).unwrap();
        assert_eq!(seen.len(), 1);
        seen.note(SeenKey::Channel(2), 0, 20);
        seen.commit().unwrap();
        let seen = FirstSeen::open(dir.path()).unwrap();
        assert_eq!(seen.get(&SeenKey::Channel(2)).unwrap().seen, 20);
        assert_eq!(seen.get(&SeenKey::Channel(1)).unwrap().seen, 10);
    }

    #[test]
    fn replaced_records_are_compacted_away() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = FirstSeen::open(dir.path()).unwrap();
        for round in 0..5u32 {
            for scid in 0..1000u64 {
                seen.note(SeenKey::Update(scid, 0), round, round);
            }
            seen.commit().unwrap();
        }
        seen.retain(|key| matches!(key, SeenKey::Update(scid, _) if *scid < 100));
        seen.note(SeenKey::Channel(1), 0, 9);
        seen.commit().unwrap();
        let len = std::fs::metadata(dir.path().join(FIRST_SEEN_FILE))
            .unwrap()
            .len();
        assert_eq!(len, (MAGIC.len() + 101 * RECORD_LEN) as u64);
        let again = FirstSeen::open(dir.path()).unwrap();
        assert_eq!(again.len(), 101);
        assert_eq!(again.get(&SeenKey::Update(3, 0)).unwrap().seen, 4);
    }
}
