//! Our gossip_store read by Core Lightning's own Python reader, pyln-client's `Gossmap`
//! (tests/interop/gossmap_check.py). Runs `$GOSSIP_SIEVE_TEST_PYTHON` (test.sh points it at a
//! venv with pyln-client and pyln-proto), else `python3`; a missing pyln fails the test.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{get, run_json};
use gossip_sieve::clock::unix_now;
use gossip_sieve::graph::Graph;
use gossip_sieve::metrics::Metrics;
use gossip_sieve::peer::discovery::address::onion_v3_host;
use gossip_sieve::sim::corpus::{generate, CorpusSpec};
use gossip_sieve::store::dump::DumpWriter;
use gossip_sieve::store::{open_and_load, STORE_FILE};
use gossip_sieve::wire::address::Address;
use gossip_sieve::wire::gossip::{ChannelUpdate, NodeAnnouncement};

fn python() -> String {
    std::env::var("GOSSIP_SIEVE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn gossmap(store: &Path) -> serde_json::Value {
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

/// The newest channel_update per (scid, direction) and node_announcement per node of a corpus.
#[derive(Default)]
struct Newest {
    updates: HashMap<(u64, u8), ChannelUpdate>,
    nodes: HashMap<[u8; 33], NodeAnnouncement>,
}

/// Writes the corpus for `spec` to `path`; returns its newest gossip.
fn write_corpus(spec: &CorpusSpec, path: &Path) -> Newest {
    let mut out = DumpWriter::create(path).expect("dump");
    let mut newest = Newest::default();
    generate(spec, |msg| {
        if let Ok(upd) = ChannelUpdate::parse(&msg) {
            newest
                .updates
                .insert((upd.short_channel_id, upd.channel_flags & 1), upd);
        } else if let Ok(ann) = NodeAnnouncement::parse(&msg) {
            newest.nodes.insert(ann.node_id, ann);
        }
        out.write(&msg).expect("write");
    });
    out.finish().expect("finish");
    newest
}

/// An address as pyln's Gossmap prints it (it skips Tor v2 and stops at an unknown type).
fn pyln_addresses(addresses: &[Address]) -> Vec<String> {
    let mut out = Vec::new();
    for address in addresses {
        out.push(match address {
            Address::Ipv4 { addr, port } => format!("{}:{port}", Ipv4Addr::from(*addr)),
            Address::Ipv6 { addr, port } => format!("[{}]:{port}", Ipv6Addr::from(*addr)),
            Address::TorV2 { .. } => continue,
            Address::TorV3 {
                ed25519_pubkey,
                checksum,
                version,
                port,
            } => {
                // The dialler's encoding, held here to pyln's.
                let host = onion_v3_host(ed25519_pubkey, *checksum, *version);
                format!("{host}:{port}")
            }
            Address::Dns { hostname, port } => {
                format!("{}:{port}", String::from_utf8_lossy(hostname))
            }
            Address::Unknown { .. } => break,
        });
    }
    out
}

#[test]
fn pyln_gossmap_reads_our_store_with_superseded_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = unix_now();
    let spec = CorpusSpec {
        nodes: 400,
        channels: 1_200,
        seed: 7,
        invalid_rate: 0.0,
        now: now - 3_600,
        ..CorpusSpec::default()
    };
    // Same keys and channels an hour later: every update and node_announcement is newer, so
    // the first run's records are superseded and flagged DELETED in place.
    let older = dir.path().join("older.gsd");
    let newer = dir.path().join("newer.gsd");
    write_corpus(&spec, &older);
    let newest = write_corpus(&CorpusSpec { now, ..spec }, &newer);
    let expected = &newest.updates;
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    run_json(&[
        "replay",
        "--json",
        "--data-dir",
        data_arg,
        older.to_str().expect("utf-8"),
    ]);
    let summary = run_json(&[
        "replay",
        "--json",
        "--data-dir",
        data_arg,
        newer.to_str().expect("utf-8"),
    ]);
    assert_eq!(get(&summary, &["accepted", "channel_announcement"]), 0);
    assert_eq!(
        get(&summary, &["accepted", "channel_update"]),
        expected.len() as u64,
        "{summary:#}"
    );

    let seen = gossmap(&data.join(STORE_FILE));
    assert_eq!(
        get(&seen, &["channels"]),
        get(&summary, &["graph_channels"])
    );
    assert_eq!(get(&seen, &["channels"]), spec.channels as u64);
    assert_eq!(get(&seen, &["nodes"]), get(&summary, &["graph_nodes"]));
    assert_eq!(get(&seen, &["orphan_channel_updates"]), 0);

    // Our own index, rebuilt from the same file.
    let graph = Graph::new();
    let metrics = Metrics::new(1).expect("metrics");
    let (_writer, report) = open_and_load(&data, &graph, &metrics).expect("load");
    assert_eq!(get(&seen, &["announced_nodes"]), report.node_announcements);
    let ours: HashMap<u64, [Option<u32>; 2]> = graph.snapshot().into_iter().collect();

    let per_channel = seen["per_channel"].as_object().expect("per_channel");
    assert_eq!(per_channel.len(), ours.len());
    let mut compared = 0;
    for (scid, chan) in per_channel {
        let scid: u64 = scid.parse().expect("scid");
        assert_eq!(chan["satoshis"], 0, "amount unknown is written as 0");
        for direction in 0..2u8 {
            let half = &chan["halves"][usize::from(direction)];
            let ours_ts = ours.get(&scid).and_then(|d| d[usize::from(direction)]);
            match expected.get(&(scid, direction)) {
                None => {
                    assert!(half.is_null(), "{scid}/{direction}: pyln has {half}");
                    assert_eq!(ours_ts, None);
                }
                Some(upd) => {
                    assert_eq!(get(half, &["timestamp"]), u64::from(upd.timestamp));
                    assert_eq!(ours_ts, Some(upd.timestamp));
                    assert_eq!(get(half, &["fee_base_msat"]), u64::from(upd.fee_base_msat));
                    assert_eq!(
                        get(half, &["fee_proportional_millionths"]),
                        u64::from(upd.fee_proportional_millionths)
                    );
                    assert_eq!(
                        get(half, &["cltv_expiry_delta"]),
                        u64::from(upd.cltv_expiry_delta)
                    );
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, expected.len());

    // node_announcement contents as pyln decodes them from our store: alias, colour and
    // addresses of the newest announcement of every node.
    let seen_nodes = seen["node_announcements"]
        .as_object()
        .expect("node_announcements");
    assert_eq!(seen_nodes.len(), newest.nodes.len());
    let mut with_address = 0;
    for (node_id, ann) in &newest.nodes {
        let id = hex::encode(node_id);
        let pyln = seen_nodes
            .get(&id)
            .unwrap_or_else(|| panic!("pyln has no node_announcement for {id}"));
        assert_eq!(pyln["alias"], hex::encode(ann.alias), "{id} alias");
        assert_eq!(pyln["rgb_color"], hex::encode(ann.rgb_color), "{id} colour");
        let addresses = pyln_addresses(&ann.addresses);
        assert_eq!(
            pyln["addresses"],
            serde_json::json!(addresses),
            "{id} addresses: {:?}",
            ann.addresses
        );
        with_address += usize::from(!addresses.is_empty());
    }
    assert!(with_address > 0, "no announced address was compared");
    assert!(
        report.deleted_records >= expected.len() as u64,
        "the first run's updates are flagged deleted: {report:?}"
    );
}
