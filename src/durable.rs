//! Making a file's *name* durable. After `rename` (or `create`) the new directory entry
//! survives a crash only once the directory itself is fsynced: the file's own fsync covers its
//! contents, not its name (see the `fsync(2)` notes; Core Lightning's `gossip_store` and LND's
//! channel.db do the same).

use std::fs::File;
use std::io;
use std::path::Path;

/// Fsyncs the directory holding `path` (the current directory for a bare file name).
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}
