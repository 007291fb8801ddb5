//! The real binary replaying generated corpora: accounting, dedup before verify, drop reasons,
//! bounded pending maps and flat memory.

mod common;

use std::collections::BTreeMap;

use common::{assert_counts_balance, corpus, dropped, get, run_json, TYPES};
use gossip_sieve::clock::unix_now;
use gossip_sieve::config::Network;
use gossip_sieve::sim::corpus::{generate_labeled, CorpusSpec, GenerateStats, Label};
use gossip_sieve::wire::gossip::ChannelAnnouncement;
use gossip_sieve::wire::GossipKind;

/// What `common::corpus` (`gen-corpus` with its default seed and chain) generates, with the
/// generator's own labels: its stats, and per (type, drop reason) the invalid copies a correct
/// pipeline drops under that reason.
fn labels(
    nodes: usize,
    channels: usize,
    invalid_rate: f64,
) -> (GenerateStats, BTreeMap<(&'static str, &'static str), u64>) {
    let spec = CorpusSpec {
        nodes,
        channels,
        seed: 1,
        invalid_rate,
        chain_hash: Network::Bitcoin.chain_hash(),
        now: unix_now(),
    };
    let mut expected = BTreeMap::new();
    let stats = generate_labeled(&spec, |_, label| {
        if let Label::Invalid(kind, class) = label {
            *expected
                .entry((kind.as_str(), class.expected_drop_reason()))
                .or_insert(0) += 1;
        }
    });
    (stats, expected)
}

/// Distinct nodes named by the channel_announcements of a corpus file.
fn channel_endpoints(file: &std::path::Path) -> u64 {
    let mut nodes = std::collections::BTreeSet::new();
    for frame in gossip_sieve::peer::open_frames(file).expect("open corpus") {
        let frame = frame.expect("corpus frame");
        if frame.get(..2) == Some(&[0x01, 0x00][..]) {
            let ann = ChannelAnnouncement::parse(&frame).expect("corpus announcement");
            nodes.insert(ann.node_id_1);
            nodes.insert(ann.node_id_2);
        }
    }
    nodes.len() as u64
}

/// Every (type, reason) with a drop in the summary.
fn drops(summary: &serde_json::Value) -> BTreeMap<(&'static str, String), u64> {
    let mut out = BTreeMap::new();
    for ty in TYPES {
        let reasons = summary["dropped"][ty]
            .as_object()
            .unwrap_or_else(|| panic!("no dropped.{ty} in {summary:#}"));
        for reason in reasons.keys() {
            out.insert((ty, reason.clone()), dropped(summary, ty, reason));
        }
    }
    out
}

#[test]
fn duplicates_cost_no_signature_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = corpus(dir.path(), 200, 600, 0.0);
    let path = file.to_str().expect("path");
    let once = run_json(&["replay", path, "--copies", "1", "--json"]);
    let sixteen = run_json(&["replay", path, "--copies", "16", "--json"]);
    assert_counts_balance(&once);
    assert_counts_balance(&sixteen);

    let (stats, _) = labels(200, 600, 0.0);
    let nodes = stats.valid_of(GossipKind::NodeAnnouncement);
    // Exactly the nodes with a channel announce themselves (this seed leaves some of the 200
    // without one): counted from the corpus file itself, not from the generator's stats.
    assert_eq!(nodes, channel_endpoints(&file), "{stats:?}");
    assert_eq!(stats.valid_of(GossipKind::ChannelAnnouncement), 600);
    assert_eq!(stats.valid_of(GossipKind::ChannelUpdate), 1200);
    for kind in GossipKind::ALL {
        assert_eq!(
            get(&once, &["accepted", kind.as_str()]),
            stats.valid_of(kind),
            "{}: every generated message is accepted once\n{once:#}",
            kind.as_str()
        );
    }
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
    let single = run_json(&["replay", path, "--copies", "1", "--json"]);
    assert_counts_balance(&single);
    let (stats, labelled) = labels(150, 500, 0.2);
    for reason in [
        "invalid_signature",
        "wrong_chain",
        "malformed",
        "bad_node_order",
    ] {
        assert!(
            labelled.keys().any(|(_, r)| *r == reason),
            "the corpus has no {reason} copies: {labelled:?}"
        );
    }

    // One copy: every valid message accepted, every invalid one dropped under the reason its
    // label names, and nothing else dropped.
    let want: BTreeMap<(&str, String), u64> = labelled
        .iter()
        .map(|((ty, reason), n)| ((*ty, reason.to_string()), *n))
        .collect();
    assert_eq!(drops(&single), want, "{single:#}");
    for kind in GossipKind::ALL {
        let ty = kind.as_str();
        assert_eq!(
            get(&single, &["accepted", ty]),
            stats.valid_of(kind),
            "{ty}"
        );
        assert_eq!(
            get(&single, &["received", ty]),
            stats.valid_of(kind) + stats.invalid_by_kind[kind.index()],
            "{ty}"
        );
    }
    let bad_signatures: u64 = labelled
        .iter()
        .filter(|((_, reason), _)| *reason == "invalid_signature")
        .map(|(_, n)| n)
        .sum();
    // A bad channel_announcement fails at its first signature.
    assert_eq!(
        get(&single, &["signature_checks", "invalid"]),
        bad_signatures
    );
    // Every valid message's signatures, plus the good ones a bad channel_announcement has
    // before its bad one (at most three each).
    let valid_checks = get(&single, &["signature_checks", "valid"]);
    let bad_announcements = labelled
        .get(&("channel_announcement", "invalid_signature"))
        .copied()
        .unwrap_or(0);
    assert!(
        (stats.valid_signatures()..=stats.valid_signatures() + 3 * bad_announcements)
            .contains(&valid_checks),
        "{valid_checks} valid checks for {stats:?}"
    );

    // Three copies: the same accepted and the same signature checks. The checks before dedup
    // (chain, node order) run on every copy; a copy of a message already verified, rejected
    // or in flight is a duplicate or recently rejected, never checked again. A truncated
    // message is malformed on every copy whose fixed fields are cut, else only where the
    // shard parses it in full (its later copies are then recently rejected).
    let copies = 3;
    for kind in GossipKind::ALL {
        let ty = kind.as_str();
        let labelled_as = |reason: &str| labelled.get(&(ty, reason)).copied().unwrap_or(0);
        assert_eq!(
            get(&summary, &["accepted", ty]),
            stats.valid_of(kind),
            "{ty}"
        );
        for reason in ["wrong_chain", "bad_node_order"] {
            assert_eq!(
                dropped(&summary, ty, reason),
                copies * labelled_as(reason),
                "{ty} {reason}"
            );
        }
        let malformed = dropped(&summary, ty, "malformed");
        assert!(
            (labelled_as("malformed")..=copies * labelled_as("malformed")).contains(&malformed),
            "{ty}: {malformed} malformed for {} truncated",
            labelled_as("malformed")
        );
        assert_eq!(
            dropped(&summary, ty, "invalid_signature"),
            labelled_as("invalid_signature"),
            "{ty}"
        );
        let later_copies = copies * get(&single, &["received", ty])
            - get(&summary, &["accepted", ty])
            - labelled_as("invalid_signature")
            - copies * (labelled_as("wrong_chain") + labelled_as("bad_node_order"))
            - malformed;
        assert_eq!(
            dropped(&summary, ty, "duplicate") + dropped(&summary, ty, "recently_rejected"),
            later_copies,
            "{ty}: every other copy is a duplicate or recently rejected\n{summary:#}"
        );
    }
    let known = [
        "invalid_signature",
        "wrong_chain",
        "malformed",
        "bad_node_order",
        "duplicate",
        "recently_rejected",
    ];
    for (ty, reason) in drops(&summary).keys() {
        assert!(
            known.contains(&reason.as_str()),
            "{ty} dropped as {reason}\n{summary:#}"
        );
    }
    assert_eq!(
        get(&summary, &["signature_checks", "invalid"]),
        bad_signatures
    );
    assert_eq!(get(&summary, &["signature_checks", "valid"]), valid_checks);
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
    assert_eq!(dropped(&summary, "channel_update", "orphan_evicted"), 750);
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
