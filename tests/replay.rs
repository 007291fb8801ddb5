//! The real binary replaying generated corpora: accounting, dedup before verify, drop reasons,
//! bounded pending maps and flat memory.

mod common;

use common::{assert_counts_balance, corpus, get, run_json, TYPES};

#[test]
fn duplicates_cost_no_signature_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = corpus(dir.path(), 200, 600, 0.0);
    let path = file.to_str().expect("path");
    let once = run_json(&["replay", path, "--copies", "1", "--json"]);
    let sixteen = run_json(&["replay", path, "--copies", "16", "--json"]);
    assert_counts_balance(&once);
    assert_counts_balance(&sixteen);

    assert_eq!(get(&once, &["accepted", "channel_announcement"]), 600);
    assert_eq!(get(&once, &["accepted", "channel_update"]), 1200);
    let nodes = get(&once, &["accepted", "node_announcement"]);
    assert!(
        nodes > 0 && nodes <= 200,
        "node announcements accepted: {nodes}"
    );
    // 4 signatures per channel_announcement, 1 per update and node_announcement.
    assert_eq!(
        get(&once, &["signature_checks", "valid"]),
        600 * 4 + 1200 + nodes
    );
    assert_eq!(get(&once, &["signature_checks", "invalid"]), 0);

    for ty in TYPES {
        assert_eq!(
            get(&sixteen, &["received", ty]),
            16 * get(&once, &["received", ty]),
            "{ty}"
        );
        assert_eq!(
            get(&sixteen, &["accepted", ty]),
            get(&once, &["accepted", ty]),
            "{ty}"
        );
    }
    assert_eq!(
        get(&sixteen, &["signature_checks", "valid"]),
        get(&once, &["signature_checks", "valid"]),
        "every signature is checked at most once however many peers send it"
    );
    assert_eq!(get(&sixteen, &["signature_checks", "invalid"]), 0);
}

#[test]
fn every_invalid_class_is_dropped_under_its_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = corpus(dir.path(), 150, 500, 0.2);
    let path = file.to_str().expect("path");
    let summary = run_json(&["replay", path, "--copies", "3", "--json"]);
    assert_counts_balance(&summary);
    let dropped_any = |reason: &str| -> u64 {
        TYPES
            .iter()
            .map(|ty| get(&summary, &["dropped", ty, reason]))
            .sum()
    };
    for reason in [
        "invalid_signature",
        "wrong_chain",
        "malformed",
        "bad_node_order",
    ] {
        assert!(
            dropped_any(reason) > 0,
            "no drops for {reason}: {summary:#}"
        );
    }
    // Invalid copies never cost a second signature check: three copies check as many
    // invalid signatures as one.
    let single = run_json(&["replay", path, "--copies", "1", "--json"]);
    assert_eq!(
        get(&summary, &["signature_checks", "invalid"]),
        get(&single, &["signature_checks", "invalid"])
    );
    assert_eq!(
        get(&summary, &["accepted", "channel_announcement"]),
        500,
        "invalid messages must not displace valid ones"
    );
}

#[test]
fn pending_map_is_capped_and_evictions_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = corpus(dir.path(), 100, 400, 0.0);
    // Updates only: every one is an orphan.
    let updates_only = dir.path().join("updates.gsd");
    {
        use gossip_sieve::store::dump::{DumpReader, DumpWriter};
        let reader = DumpReader::new(std::io::BufReader::new(
            std::fs::File::open(&file).expect("open"),
        ));
        let mut writer = DumpWriter::new(std::io::BufWriter::new(
            std::fs::File::create(&updates_only).expect("create"),
        ));
        for msg in reader {
            let msg = msg.expect("record");
            if msg.get(..2) == Some(&[0x01, 0x02][..]) {
                writer.write(&msg).expect("write");
            }
        }
        writer.finish().expect("flush");
    }
    let summary = run_json(&[
        "replay",
        updates_only.to_str().expect("path"),
        "--pending-updates-cap",
        "50",
        "--json",
    ]);
    assert_counts_balance(&summary);
    assert_eq!(get(&summary, &["received", "channel_update"]), 800);
    assert_eq!(get(&summary, &["pending", "channel_update"]), 50);
    assert_eq!(
        get(&summary, &["dropped", "channel_update", "orphan_evicted"]),
        750
    );
    assert_eq!(get(&summary, &["signature_checks", "valid"]), 0);
}

#[test]
fn memory_does_not_grow_with_copies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = corpus(dir.path(), 400, 1500, 0.0);
    let path = file.to_str().expect("path");
    let four = run_json(&["replay", path, "--copies", "4", "--json"]);
    let thirty_two = run_json(&["replay", path, "--copies", "32", "--json"]);
    assert_counts_balance(&thirty_two);
    let rss4 = get(&four, &["peak_rss_bytes"]);
    let rss32 = get(&thirty_two, &["peak_rss_bytes"]);
    assert!(rss4 > 0 && rss32 > 0);
    // Eight times the messages; allow allocator noise (4 MiB) but not growth with input.
    assert!(
        rss32 <= rss4 + 4 * 1024 * 1024,
        "peak RSS grew with copies: 4 copies {rss4} B, 32 copies {rss32} B"
    );
}
