//! Making a file's *name* durable. After `rename` (or `create`) the new directory entry
//! survives a crash only once the directory itself is fsynced: the file's own fsync covers its
//! contents, not its name (see the `fsync(2)` notes; Core Lightning's `gossip_store` and LND's
//! channel.db do the same).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `bytes` so that after a crash it holds the old contents or the new,
/// never a mix: written to `tmp` (opened with `options`, which must allow writing and
/// creating), fsynced, renamed over `path`, then the directory fsynced.
pub fn replace_file(
    path: &Path,
    tmp: &Path,
    options: &OpenOptions,
    bytes: &[u8],
) -> io::Result<()> {
    let mut file = options.open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    sync_parent_dir(path)
}

/// Fsyncs the directory holding `path` (the current directory for a bare file name).
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
