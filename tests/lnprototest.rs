//! The BOLT conformance suite other implementations run: lnprototest 0.0.7's BOLT 1 and BOLT 7
//! test files (`shared/lnprototest/tests`, unchanged from the release) against the real
//! `gossip-sieve run`, through our runner (tests/lnprototest_runner/gossip_sieve_runner.py) and
//! the chain it serves to our `bitcoind-rest` backend. Runs pytest with
//! `$GOSSIP_SIEVE_LNPROTOTEST_PYTHON` (test.sh points it at `.venv-lnprototest`, installed from
//! tests/lnprototest_runner/requirements.txt), else that venv in the checkout; a missing
//! interpreter or lnprototest fails the test. Any failed test fails this one, with pytest's
//! output. Nothing is written into the shared directory: no cache provider, no bytecode.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The six files issue 15 names; skips and expected failures are listed in the README.
const SUITE: [&str; 6] = [
    "test_bolt1-01-init.py",
    "test_bolt1-02-unknown-messages.py",
    "test_bolt7-01-channel_announcement-success.py",
    "test_bolt7-02-channel_announcement-failure.py",
    "test_bolt7-10-gossip-filter.py",
    "test_bolt7-20-query_channel_range.py",
];

fn python() -> PathBuf {
    if let Ok(explicit) = std::env::var("GOSSIP_SIEVE_LNPROTOTEST_PYTHON") {
        return PathBuf::from(explicit);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv-lnprototest/bin/python")
}

fn runner_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/lnprototest_runner")
}

/// Runs pytest in `dir` with `args` against our binary; panics with pytest's output unless
/// every test passed (or was skipped); returns its stdout.
fn pytest(dir: &Path, args: &[&str]) -> String {
    let python = python();
    let output = Command::new(&python)
        .current_dir(dir)
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-rsxX", "-v"])
        .args(args)
        .env("PYTHONPATH", runner_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("GOSSIP_SIEVE_BIN", common::binary())
        .env_remove("GOSSIP_SIEVE_CONFIG")
        .env_remove("GOSSIP_SIEVE_NETWORK")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); run test.sh, or set GOSSIP_SIEVE_LNPROTOTEST_PYTHON to a \
                 Python with tests/lnprototest_runner/requirements.txt",
                python.display()
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "pytest {args:?} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{stdout}");
    stdout
}

#[test]
fn lnprototest_bolt1_and_bolt7_suite_passes() {
    let tests_dir = common::test_vectors::shared("lnprototest/tests");
    let mut args = vec!["--runner", "gossip_sieve_runner.Runner"];
    args.extend(SUITE);
    let stdout = pytest(&tests_dir, &args);
    // Insist every file ran (a file that collects nothing would not fail pytest).
    for file in SUITE {
        assert!(stdout.contains(file), "{file} did not run:\n{stdout}");
    }
}

/// The runner's own test of what the suite's files never do: a reorg (`trim_blocks`) under an
/// announced channel, which gossip-sieve's tip follower must see (test_runner_reorg.py).
#[test]
fn lnprototest_runner_reorg_reaches_the_tip_follower() {
    pytest(&runner_dir(), &["test_runner_reorg.py"]);
}
