//! Writes the ban list to disk on a thread of its own. A ban is decided inside a session's
//! async task while the score board's lock is held; writing `bans.json` there (create, write,
//! fsync, rename, fsync of the directory: milliseconds on a good disk, seconds on a busy one)
//! would stall that runtime thread and every session waiting on the lock (issue 11 item 4).
//! The board only serializes the list and hands it over; the writer keeps the latest version
//! only, so a burst of bans costs one write, and the file always ends as the newest list.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The writer's thread and the slot it takes work from.
#[derive(Debug)]
pub struct BanWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    slot: Mutex<Slot>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Slot {
    /// The newest serialized list not yet taken by the thread.
    latest: Option<Vec<u8>>,
    /// Versions handed over, and versions on disk (or failed: a failure is logged, and the
    /// next version tries again).
    submitted: u64,
    finished: u64,
    stopping: bool,
}

impl BanWriter {
    /// Starts the thread that writes `path`.
    pub fn start(path: PathBuf) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ban-writer".into())
            .spawn(move || write_loop(&worker, &path))?;
        Ok(BanWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands over a new version of the list; returns at once.
    pub fn submit(&self, bytes: Vec<u8>) {
        let mut slot = self.lock();
        slot.latest = Some(bytes);
        slot.submitted += 1;
        self.shared.changed.notify_all();
    }

    /// Waits until every version handed over so far has been written (or has failed).
    pub fn flush(&self) {
        let mut slot = self.lock();
        let target = slot.submitted;
        while slot.finished < target {
            slot = self
                .shared
                .changed
                .wait(slot)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for BanWriter {
    /// Writes what is still pending, then ends the thread.
    fn drop(&mut self) {
        self.lock().stopping = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_loop(shared: &Shared, path: &Path) {
    loop {
        let (bytes, version) = {
            let mut slot = shared.slot.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(bytes) = slot.latest.take() {
                    break (bytes, slot.submitted);
                }
                if slot.stopping {
                    return;
                }
                slot = shared
                    .changed
                    .wait(slot)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        if let Err(e) = write_atomically(path, &bytes) {
            tracing::warn!(error = %e, path = %path.display(), "could not persist the ban list");
        }
        let mut slot = shared.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.finished = slot.finished.max(version);
        shared.changed.notify_all();
    }
}

/// A temporary file in the same directory, fsync, rename over `path`, fsync of the directory:
/// after a crash the file is the old list or the new one, never a mix.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    crate::durable::replace_file(path, &path.with_extension("json.tmp"), &options, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_ends_on_disk_and_flush_waits_for_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bans.json");
        let writer = BanWriter::start(path.clone()).expect("start");
        for n in 0..50 {
            writer.submit(format!("version {n}").into_bytes());
        }
        writer.flush();
        assert_eq!(fs::read_to_string(&path).expect("read"), "version 49");
        assert!(!dir.path().join("bans.json.tmp").exists());
        writer.submit(b"last".to_vec());
        drop(writer);
        assert_eq!(fs::read_to_string(&path).expect("read"), "last");
    }

    #[test]
    fn a_failed_write_is_logged_and_flush_still_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be: the rename fails.
        let path = dir.path().join("bans.json");
        fs::create_dir(&path).expect("mkdir");
        fs::write(path.join("keep"), b"x").expect("write");
        let writer = BanWriter::start(path).expect("start");
        writer.submit(b"lost".to_vec());
        writer.flush();
    }
}
