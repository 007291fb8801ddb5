//! Test-only loader for the shared JSON vectors (`shared/data/*.json`), which live beside the
//! repository rather than in it.

use std::path::PathBuf;

/// Loads `name` from the first shared data directory that has it: `$GOSSIP_SIEVE_DATA`, then
/// `shared/data` one or two levels above the crate (CI clone, worktree), then `/work/shared/data`.
/// Panics when none has it, so a missing vector file fails the test instead of skipping it.
pub fn load(name: &str) -> serde_json::Value {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = std::env::var_os("GOSSIP_SIEVE_DATA") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(manifest.join("../shared/data"));
    candidates.push(manifest.join("../../shared/data"));
    candidates.push(PathBuf::from("/work/shared/data"));
    for dir in &candidates {
        let path = dir.join(name);
        if let Ok(text) = std::fs::read_to_string(&path) {
            return serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
        }
    }
    panic!("vector file {name} not found in any of {candidates:?}");
}

/// Decodes a hex string from a vector file.
pub fn hex(value: &serde_json::Value) -> Vec<u8> {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a hex string, got {value}"));
    ::hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s}: {e}"))
}
