//! Helpers shared by the integration tests: run the real binary, fail with its full output;
//! `node` runs `gossip-sieve run`, `peer` dials it over BOLT 8, `forge` builds signed gossip,
//! `metrics` reads its /metrics, `tap` breaks frames on purpose.
#![allow(dead_code)]

pub mod forge;
pub mod gossmap;
pub mod http;
pub mod metrics;
pub mod node;
pub mod peer;
pub mod python;
pub mod tap;
/// The one locator for the shared test data, the same file the unit tests use.
#[path = "../../src/test_vectors.rs"]
pub mod test_vectors;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Messages of the live (not DELETED) records of `<data_dir>/gossip_store`, in file order.
pub fn live_store_messages(data_dir: &Path) -> Vec<Vec<u8>> {
    let path = data_dir.join(gossip_sieve::store::STORE_FILE);
    let file = std::fs::File::open(path).expect("store");
    let mut reader = gossip_sieve::store::StoreReader::new(file).expect("store reader");
    let mut out = Vec::new();
    while let Some(record) = reader.next_record().expect("record") {
        if !record.is_deleted() {
            out.push(record.msg);
        }
    }
    out
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gossip-sieve"))
}

/// Runs the binary with `args`, asserting success; on failure the panic shows the command,
/// exit status, stdout and stderr.
pub fn run_ok(args: &[&str]) -> Output {
    let output = Command::new(binary())
        .args(args)
        .env_remove("GOSSIP_SIEVE_LOG")
        .env_remove("GOSSIP_SIEVE_NETWORK")
        .output()
        .expect("spawn gossip-sieve");
    assert!(
        output.status.success(),
        "gossip-sieve {args:?} failed: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn run_json(args: &[&str]) -> serde_json::Value {
    let output = run_ok(args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in output of {args:?}:\n{stdout}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {e}: {line}"))
}

/// Writes a corpus with `gen-corpus` and returns its path inside `dir`.
pub fn corpus(dir: &Path, nodes: usize, channels: usize, invalid_rate: f64) -> PathBuf {
    let path = dir.join(format!("corpus-{nodes}-{channels}-{invalid_rate}.gsd"));
    run_ok(&[
        "gen-corpus",
        "--out",
        path.to_str().expect("utf-8 path"),
        "--nodes",
        &nodes.to_string(),
        "--channels",
        &channels.to_string(),
        "--invalid-rate",
        &invalid_rate.to_string(),
    ]);
    path
}

/// The integer at `path` in a JSON summary. Panics when a key is missing or not an integer,
/// so a renamed field fails the test instead of reading as zero.
pub fn get(value: &serde_json::Value, path: &[&str]) -> u64 {
    let mut v = value;
    for key in path {
        v = v
            .get(*key)
            .unwrap_or_else(|| panic!("no {key:?} (of {path:?}) in {value:#}"));
    }
    v.as_u64()
        .or_else(|| v.as_i64().and_then(|i| u64::try_from(i).ok()))
        .unwrap_or_else(|| panic!("{path:?} is not a non-negative integer: {v} in {value:#}"))
}

/// Drops of `ty` under `reason` in a JSON summary. The summary lists only non-zero reasons, so
/// a missing reason reads as zero, but only for a reason the pipeline has: a misspelt reason or
/// a missing type fails.
pub fn dropped(summary: &serde_json::Value, ty: &str, reason: &str) -> u64 {
    assert!(
        gossip_sieve::pipeline::DropReason::ALL
            .iter()
            .any(|r| r.as_str() == reason),
        "{reason:?} is not a drop reason"
    );
    let reasons = summary["dropped"]
        .get(ty)
        .and_then(|r| r.as_object())
        .unwrap_or_else(|| panic!("no dropped.{ty} object in {summary:#}"));
    match reasons.get(reason) {
        Some(_) => get(summary, &["dropped", ty, reason]),
        None => 0,
    }
}

pub const TYPES: [&str; 3] = [
    "channel_announcement",
    "node_announcement",
    "channel_update",
];

/// received = accepted + dropped + pending + in flight, for every type, and something was
/// received.
pub fn assert_counts_balance(summary: &serde_json::Value) {
    for ty in TYPES {
        let received = get(summary, &["received", ty]);
        let accepted = get(summary, &["accepted", ty]);
        let drops: u64 = summary["dropped"]
            .get(ty)
            .and_then(|r| r.as_object())
            .unwrap_or_else(|| panic!("no dropped.{ty} object in {summary:#}"))
            .keys()
            .map(|reason| dropped(summary, ty, reason))
            .sum();
        let pending = get(summary, &["pending", ty]);
        let in_flight = get(summary, &["in_flight", ty]);
        assert_eq!(
            received,
            accepted + drops + pending + in_flight,
            "{ty}: received {received} != accepted {accepted} + dropped {drops} + pending {pending} + in flight {in_flight}\n{summary:#}"
        );
    }
    // An empty or zeroed summary balances trivially: every caller sent gossip.
    let received: u64 = TYPES.iter().map(|ty| get(summary, &["received", ty])).sum();
    assert!(received > 0, "nothing received\n{summary:#}");
}
