//! Core Lightning's own Python reader (pyln-client's `Gossmap`, tests/interop/gossmap_check.py)
//! run on a gossip_store. Runs `$GOSSIP_SIEVE_TEST_PYTHON` (test.sh points it at a venv with
//! pyln-client and pyln-proto), else `python3`; a missing pyln fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> String {
    std::env::var("GOSSIP_SIEVE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

pub fn gossmap(store: &Path) -> serde_json::Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/gossmap_check.py");
    let output = Command::new(python())
        .arg(&script)
        .arg(store)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); set GOSSIP_SIEVE_TEST_PYTHON",
                python()
            )
        });
    assert!(
        output.status.success(),
        "pyln Gossmap could not read our store ({}); install pyln-client and pyln-proto \
         (test.sh does) and set GOSSIP_SIEVE_TEST_PYTHON:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("gossmap_check.py JSON")
}
