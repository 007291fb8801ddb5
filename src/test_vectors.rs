//! Test-only access to the shared read-only test data: spec vectors (`shared/data/*.json`) and
//! Core Lightning's stores (`shared/gossip_store/`), which live beside the repository rather
//! than in it. This is the one locator: unit tests use it as `crate::test_vectors`, and the
//! integration tests include this file with `#[path]`.

use std::path::{Path, PathBuf};

/// `shared/<relative>` beside the repository: `../shared` from the crate root (a CI clone), or
/// one level further up (a git worktree in a directory beside the main checkout). Panics when
/// neither has it, so missing data fails the test instead of skipping it.
pub fn shared(relative: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [root.join("../shared"), root.join("../../shared")];
    candidates
        .iter()
        .map(|dir| dir.join(relative))
        .find(|path| path.exists())
        .unwrap_or_else(|| panic!("shared test data {relative} not found in any of {candidates:?}"))
}

/// Loads the vector file `shared/data/<name>`.
pub fn load(name: &str) -> serde_json::Value {
    let path = shared(&format!("data/{name}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// Decodes a hex string from a vector file.
pub fn hex(value: &serde_json::Value) -> Vec<u8> {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a hex string, got {value}"));
    ::hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s}: {e}"))
}
