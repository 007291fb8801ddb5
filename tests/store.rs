//! The store through the real binary: `replay --data-dir` persists, the next run reloads the
//! graph without a signature check, and `kill -9` at random points never costs more than the
//! torn tail.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{binary, corpus, get, run_ok};
use gossip_sieve::clock::unix_now;
use gossip_sieve::config::Network;
use gossip_sieve::graph::{Graph, NodeId};
use gossip_sieve::metrics::Metrics;
use gossip_sieve::pipeline::verify::Verifier;
use gossip_sieve::sim::corpus::{generate, CorpusSpec};
use gossip_sieve::store::dump::DumpWriter;
use gossip_sieve::store::{
    compaction_temp_path, open_and_load, RecordKind, StoreReader, STORE_FILE,
};
use gossip_sieve::wire::gossip::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
use rand::Rng;

/// The `store: {...}` line a run prints on stderr when it opens the store.
fn load_report(stderr: &str) -> Option<serde_json::Value> {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("store: "))
        .map(|json| serde_json::from_str(json).unwrap_or_else(|e| panic!("bad report {e}: {json}")))
}

fn replay_with_report(corpus: &Path, data_dir: &Path) -> (serde_json::Value, serde_json::Value) {
    replay_with_options(corpus, data_dir, &[])
}

fn replay_with_options(
    corpus: &Path,
    data_dir: &Path,
    options: &[&str],
) -> (serde_json::Value, serde_json::Value) {
    let mut args = vec![
        "replay",
        "--json",
        "--data-dir",
        data_dir.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(options);
    args.push(corpus.to_str().expect("utf-8"));
    let output = run_ok(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON summary:\n{stdout}"));
    let summary = serde_json::from_str(line).expect("summary JSON");
    let report = load_report(&String::from_utf8_lossy(&output.stderr)).expect("store report");
    (summary, report)
}

fn total(summary: &serde_json::Value, field: &str) -> u64 {
    common::TYPES
        .iter()
        .map(|t| get(summary, &[field, t]))
        .sum()
}

/// Reopens the store with the library (recovery + index rebuild, as a restart does) and checks
/// every surviving record: crc (the reader stops at the first mismatch, so a clean end means
/// all passed) and every signature. Returns (channels, nodes) of the rebuilt index and the
/// number of live gossip records.
fn check_store(data_dir: &Path) -> (usize, usize, u64) {
    let graph = Graph::new();
    let metrics = Metrics::new(1).expect("metrics");
    let (writer, report) = open_and_load(data_dir, &graph, &metrics)
        .unwrap_or_else(|e| panic!("store does not reopen: {e}"));
    drop(writer);
    let mut reader = StoreReader::new(File::open(data_dir.join(STORE_FILE)).expect("open store"))
        .expect("store header");
    let mut verifier = Verifier::new(1024);
    let mut signers: std::collections::HashMap<u64, [NodeId; 2]> = Default::default();
    let mut live = 0u64;
    while let Some(rec) = reader.next_record().expect("read") {
        match rec.kind() {
            Some(RecordKind::ChannelAnnouncement) => {
                let ann = ChannelAnnouncement::parse(&rec.msg).expect("stored announcement");
                verifier
                    .channel_announcement(&metrics, &rec.msg, &ann)
                    .expect("stored announcement verifies");
                signers.insert(ann.short_channel_id, [ann.node_id_1, ann.node_id_2]);
            }
            Some(RecordKind::ChannelUpdate) => {
                let upd = ChannelUpdate::parse(&rec.msg).expect("stored update");
                let pair = signers
                    .get(&upd.short_channel_id)
                    .expect("update stored after its announcement");
                let signer = pair[usize::from(upd.channel_flags & 1)];
                verifier
                    .channel_update(&metrics, &rec.msg, &upd, &signer)
                    .expect("stored update verifies");
            }
            Some(RecordKind::NodeAnnouncement) => {
                let ann = NodeAnnouncement::parse(&rec.msg).expect("stored node announcement");
                verifier
                    .node_announcement(&metrics, &rec.msg, &ann)
                    .expect("stored node announcement verifies");
            }
            _ => continue,
        }
        live += u64::from(!rec.is_deleted());
    }
    assert_eq!(reader.torn_tail(), None, "torn tail left after recovery");
    assert_eq!(metrics.signature_invalid.get(), 0);
    let indexed = report.channels as u64 + report.channel_updates + report.node_announcements;
    assert_eq!(
        live, indexed,
        "every live record is in the index: {report:?}"
    );
    (report.channels, report.nodes, live)
}

/// The store's mailbox at its smallest byte cap (one 64 KiB message, however small the option)
/// and one message: every hand-off waits for the one before it to be written, and each gives
/// its room back, so the whole corpus still reaches the file (a leaked permit would stall the
/// run at the first 64 KiB).
#[test]
fn a_store_mailbox_of_one_message_still_writes_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), 300, 1_000, 0.0);
    let data = dir.path().join("data");
    let (summary, _) = replay_with_options(
        &corpus,
        &data,
        &[
            "--store-mailbox-capacity",
            "1",
            "--store-mailbox-bytes-cap",
            "1",
        ],
    );
    let accepted = total(&summary, "accepted");
    assert!(accepted > 1_000, "{summary:#}");
    let (channels, _, live) = check_store(&data);
    assert_eq!(channels, 1_000);
    assert_eq!(live, accepted, "every accepted message is a live record");
}

#[test]
fn restart_reloads_the_graph_and_checks_no_signature() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), 300, 1_000, 0.0);
    let data = dir.path().join("data");

    let (first, report) = replay_with_report(&corpus, &data);
    assert_eq!(report["created"], true);
    assert!(get(&first, &["signature_checks", "valid"]) > 0);
    let channels = get(&first, &["graph_channels"]);
    let nodes = get(&first, &["graph_nodes"]);
    assert_eq!(channels, 1_000);

    let (second, report) = replay_with_report(&corpus, &data);
    assert_eq!(report["created"], false);
    assert_eq!(get(&report, &["bytes_truncated"]), 0);
    assert_eq!(get(&report, &["channels"]), channels);
    assert_eq!(get(&report, &["nodes"]), nodes);
    assert_eq!(
        get(&second, &["signature_checks", "valid"]),
        0,
        "{second:#}"
    );
    assert_eq!(get(&second, &["signature_checks", "invalid"]), 0);
    assert_eq!(total(&second, "accepted"), 0, "{second:#}");
    let duplicates: u64 = common::TYPES
        .iter()
        .map(|t| common::dropped(&second, t, "duplicate"))
        .sum();
    assert_eq!(duplicates, total(&second, "received"), "{second:#}");
    assert_eq!(get(&second, &["graph_channels"]), channels);
    assert_eq!(get(&second, &["graph_nodes"]), nodes);
    let (stored_channels, stored_nodes, _) = check_store(&data);
    assert_eq!(
        (stored_channels, stored_nodes),
        (channels as usize, nodes as usize)
    );
}

#[test]
fn torn_tail_is_cut_and_refeeding_restores_the_graph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = corpus(dir.path(), 200, 600, 0.0);
    let data = dir.path().join("data");
    let (first, _) = replay_with_report(&corpus, &data);
    let store = data.join(STORE_FILE);
    let len = std::fs::metadata(&store).expect("store").len();
    let mut reader = StoreReader::new(File::open(&store).expect("open store")).expect("header");
    let mut last = None;
    while let Some(rec) = reader.next_record().expect("read") {
        last = Some(rec);
    }
    let last = last.expect("a stored record");
    assert_eq!(
        last.offset + last.encoded_len(),
        len,
        "the last record ends the file"
    );
    // Cut into the last record: a write the crash interrupted.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&store)
        .expect("open");
    file.set_len(len - 7).expect("truncate");
    drop(file);
    let (second, report) = replay_with_report(&corpus, &data);
    // Recovery cuts exactly what is left of the torn record.
    assert_eq!(
        get(&report, &["bytes_truncated"]),
        last.encoded_len() - 7,
        "{report:#}"
    );
    assert_eq!(
        get(&second, &["graph_channels"]),
        get(&first, &["graph_channels"])
    );
    assert_eq!(
        get(&second, &["graph_nodes"]),
        get(&first, &["graph_nodes"])
    );
    assert_eq!(
        total(&second, "accepted"),
        1,
        "the one lost record, and only it, is accepted again: {second:#}"
    );
    check_store(&data);
}

/// Starts `replay` of `dump` into `data`, kills it (SIGKILL) after a random number of
/// milliseconds in `kill_after_ms` and returns its exit status and stderr (kept in
/// `stderr_path`). A replay that finished first exits successfully.
fn replay_killed_at_random(
    stderr_path: &Path,
    data: &Path,
    dump: &Path,
    kill_after_ms: std::ops::Range<u64>,
    rng: &mut impl Rng,
) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(binary())
        .args([
            "replay",
            "--data-dir",
            data.to_str().expect("utf-8"),
            dump.to_str().expect("utf-8"),
        ])
        .env_remove("GOSSIP_SIEVE_LOG")
        .stdout(Stdio::null())
        .stderr(File::create(stderr_path).expect("stderr file"))
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(rng.gen_range(kill_after_ms)));
    let _ = child.kill();
    let status = child.wait().expect("wait");
    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
    (status, stderr)
}

#[test]
fn kill_9_at_random_points_never_loses_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Big enough that the first, all-unique round takes ~2 s here (~100k signatures), well past
    // the latest kill: at least one round is always killed mid-run.
    let (nodes, channels) = (3_000, 16_000);
    let corpus = corpus(dir.path(), nodes, channels, 0.0);
    let data = dir.path().join("data");
    let mut rng = rand::thread_rng();
    let mut killed = 0;
    // Live records after each round: a kill may cost the torn tail of the round it stopped,
    // never a record an earlier round completed.
    let mut live_before = 0;
    for round in 0..5 {
        let (status, stderr) = replay_killed_at_random(
            &dir.path().join(format!("stderr-{round}")),
            &data,
            &corpus,
            50..1_000,
            &mut rng,
        );
        killed += usize::from(!status.success());
        if let Some(report) = load_report(&stderr) {
            // The previous round's check already recovered the file.
            assert_eq!(get(&report, &["bytes_truncated"]), 0, "{report:#}");
        }
        assert!(
            !stderr.contains("error:"),
            "round {round} ({status}) failed:\n{stderr}"
        );
        let (_, _, live) = check_store(&data);
        assert!(
            live >= live_before,
            "round {round} ({status}): live records fell from {live_before} to {live}"
        );
        live_before = live;
    }
    assert!(
        killed > 0,
        "no round was killed mid-run: make the corpus larger"
    );
    let (summary, report) = replay_with_report(&corpus, &data);
    assert_eq!(get(&report, &["bytes_truncated"]), 0, "{report:#}");
    assert_eq!(get(&summary, &["graph_channels"]), channels as u64);
    assert_eq!(get(&summary, &["graph_nodes"]), nodes as u64);
    let (stored_channels, stored_nodes, live) = check_store(&data);
    assert_eq!((stored_channels, stored_nodes), (channels, nodes));
    assert!(
        live >= live_before,
        "{live_before} live records fell to {live}"
    );
}

/// The corpus of `common::corpus` (seed 1, bitcoin) with its timestamps relative to `now`.
fn corpus_at(path: &Path, nodes: usize, channels: usize, now: u32) {
    let mut writer = DumpWriter::create(path).expect("corpus file");
    let spec = CorpusSpec {
        nodes,
        channels,
        seed: 1,
        invalid_rate: 0.0,
        chain_hash: Network::Bitcoin.chain_hash(),
        now,
    };
    generate(&spec, |msg| writer.write(&msg).expect("write corpus"));
    writer.finish().expect("flush corpus");
}

#[test]
fn kill_9_while_superseding_and_compacting_never_loses_a_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (nodes, channels) = (3_000, 16_000);
    let now = unix_now();
    // The same graph an hour later: every channel_update and node_announcement supersedes a
    // stored one, so each round appends, marks the old record DELETED in place, and compacts
    // once the deleted share passes its threshold.
    let older = dir.path().join("older.gsd");
    let newer = dir.path().join("newer.gsd");
    corpus_at(&older, nodes, channels, now - 3_600);
    corpus_at(&newer, nodes, channels, now);
    let data = dir.path().join("data");
    run_ok(&[
        "replay",
        "--data-dir",
        data.to_str().expect("utf-8"),
        older.to_str().expect("utf-8"),
    ]);
    let (_, _, live) = check_store(&data);
    // What an interrupted compaction leaves behind: start-up must neither read nor trip on it.
    let leftover = compaction_temp_path(&data.join(STORE_FILE));
    std::fs::write(&leftover, b"half a compacted store").expect("leftover temp file");

    let mut rng = rand::thread_rng();
    let mut killed = 0;
    for round in 0..5 {
        let (status, stderr) = replay_killed_at_random(
            &dir.path().join(format!("stderr-{round}")),
            &data,
            &newer,
            50..1_500,
            &mut rng,
        );
        killed += usize::from(!status.success());
        assert!(
            !stderr.contains("error:"),
            "round {round} ({status}) failed:\n{stderr}"
        );
        // Superseding replaces one live record by another: a kill at any point (between the
        // append and the DELETED mark, or inside a compaction) keeps exactly as many.
        let (stored_channels, stored_nodes, now_live) = check_store(&data);
        assert_eq!(
            (stored_channels, stored_nodes, now_live),
            (channels, nodes, live),
            "round {round} ({status})"
        );
    }
    assert!(killed > 0, "no round was killed mid-run");
    let (summary, _) = replay_with_report(&newer, &data);
    assert_eq!(get(&summary, &["graph_channels"]), channels as u64);
    assert_eq!(check_store(&data), (channels, nodes, live));
}
