//! Core Lightning's own Python reader (pyln-client's `Gossmap`, tests/interop/gossmap_check.py)
//! run on a gossip_store. Runs `$GOSSIP_SIEVE_TEST_PYTHON` (test.sh points it at a venv with
//! pyln-client and pyln-proto), else `python3`; a missing pyln fails the test.

use std::path::Path;

use super::python;

pub fn gossmap(store: &Path) -> serde_json::Value {
    let mut command = python::interop_script("gossmap_check.py");
    command.arg(store);
    let output = python::run_to_success(
        command,
        "pyln Gossmap could not read our store; install pyln-client and pyln-proto (test.sh \
         does) and set GOSSIP_SIEVE_TEST_PYTHON",
    );
    serde_json::from_slice(&output.stdout).expect("gossmap_check.py JSON")
}
