//! The `run` binary against a Lightning peer nobody here wrote: Core Lightning's Python stack
//! (pyln-proto's BOLT 8 transport and message codec, pyln-bolt7's message definitions), driven
//! by tests/interop/pyln_peer.py. It dials us, exchanges init and pings both ways, sends the real
//! mainnet gossip of Core Lightning's test stores, then corrupted copies; the metrics must count
//! each exactly and the connection must survive. Runs `$GOSSIP_SIEVE_TEST_PYTHON` (test.sh
//! points it at a venv with tests/interop/requirements.txt), else `python3`; a missing pyln fails
//! the test.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use gossip_sieve::config::Network;
use gossip_sieve::wire::bolt1::our_init_features;

use common::node::{Node, WAIT};
use common::python;

/// Live (not deleted) gossip in gossip_store-part1.xz + part2.xz (see SOURCES.md): 89
/// announcements of which one is deleted, 8 updates of which 4 are deleted, all four live ones
/// for channels announced in the files.
const ANNOUNCEMENTS: u64 = 88;
const UPDATES: u64 = 4;

fn shared(name: &str) -> PathBuf {
    common::test_vectors::shared(&format!("gossip_store/{name}"))
}

/// `gossip-sieve run` for gossip from 2021 (no age window), pinging every second so the pyln
/// peer has to answer our pings during the test.
fn start_node(data_dir: &Path) -> Node {
    let args: Vec<String> = [
        "--network",
        "bitcoin",
        "--historical",
        "--ping-interval-secs",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Node::start(data_dir, &args)
}

/// Scrapes until `done` holds on two scrapes in a row with identical gossip counters.
fn settle(node: &Node, what: &str, done: impl Fn(&Metrics) -> bool) -> Metrics {
    let started = Instant::now();
    let mut previous: Option<Metrics> = None;
    loop {
        let now = Metrics(node.scrape());
        if done(&now)
            && previous
                .as_ref()
                .is_some_and(|p| p.gossip() == now.gossip())
        {
            return now;
        }
        assert!(
            started.elapsed() < WAIT,
            "{what} never settled:\n{}",
            now.gossip()
        );
        previous = Some(now);
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// One Prometheus text exposition.
struct Metrics(String);

impl Metrics {
    fn value(&self, series: &str) -> u64 {
        self.0
            .lines()
            .find_map(|line| {
                let rest = line.strip_prefix(series)?;
                rest.strip_prefix(' ')?.trim().parse::<f64>().ok()
            })
            // Every series is zero-initialised, so a missing one is a typo in the test.
            .unwrap_or_else(|| panic!("no series {series} in the scrape")) as u64
    }

    fn received(&self, ty: &str) -> u64 {
        self.value(&format!(
            "gossip_sieve_messages_received_total{{type=\"{ty}\"}}"
        ))
    }

    fn accepted(&self, ty: &str) -> u64 {
        self.value(&format!(
            "gossip_sieve_messages_accepted_total{{type=\"{ty}\"}}"
        ))
    }

    fn pending(&self, ty: &str) -> u64 {
        self.value(&format!("gossip_sieve_pending_messages{{kind=\"{ty}\"}}"))
    }

    fn dropped(&self, ty: &str, reason: &str) -> u64 {
        self.value(&format!(
            "gossip_sieve_messages_dropped_total{{reason=\"{reason}\",type=\"{ty}\"}}"
        ))
    }

    fn dropped_total(&self, ty: &str) -> u64 {
        let suffix = format!(",type=\"{ty}\"}}");
        self.0
            .lines()
            .filter(|l| l.starts_with("gossip_sieve_messages_dropped_total{"))
            .filter_map(|l| l.split_once(' '))
            .filter(|(series, _)| series.ends_with(&suffix))
            .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    }

    fn signatures(&self, result: &str) -> u64 {
        self.value(&format!(
            "gossip_sieve_signature_checks_total{{result=\"{result}\"}}"
        ))
    }

    fn peers(&self) -> u64 {
        self.value("gossip_sieve_peers_connected")
    }

    fn disconnects(&self, reason: &str) -> u64 {
        self.value(&format!(
            "gossip_sieve_peer_disconnects_total{{reason=\"{reason}\"}}"
        ))
    }

    /// The series that move while gossip is processed, for settling and failure messages.
    fn gossip(&self) -> String {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                ["messages_", "pending_", "signature_", "peer", "graph_"]
                    .iter()
                    .any(|k| l.contains(k))
            })
            .filter(|l| !l.ends_with(" 0"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// received = accepted + dropped + pending for every type, once nothing is in flight.
    fn assert_balanced(&self) {
        for ty in common::TYPES {
            let (received, accepted) = (self.received(ty), self.accepted(ty));
            let (dropped, pending) = (self.dropped_total(ty), self.pending(ty));
            assert_eq!(
                received,
                accepted + dropped + pending,
                "{ty}: received {received} != accepted {accepted} + dropped {dropped} + pending \
                 {pending}\n{}",
                self.gossip()
            );
        }
    }
}

/// pyln_peer.py, killed on drop; its stdout lines arrive on a channel so reads can time out.
struct PylnPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl PylnPeer {
    fn start(node: &Node) -> PylnPeer {
        let mut child = python::spawn(
            python::interop_script("pyln_peer.py")
                .arg(hex::encode(node.node_id.serialize()))
                .arg(node.listen().to_string())
                .arg(shared("gossip_store-part1.xz"))
                .arg(shared("gossip_store-part2.xz"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        PylnPeer {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    /// The next JSON line; on exit or timeout, fails with the script's stderr.
    fn next(&mut self, expected_event: &str) -> serde_json::Value {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => {
                let value: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("bad JSON from pyln_peer.py ({e}): {line}"));
                assert_eq!(value["event"], expected_event, "{value}");
                value
            }
            Err(err) => {
                let _ = self.child.kill();
                let status = self.child.wait().expect("wait pyln_peer.py");
                let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new))
                    .join()
                    .unwrap_or_default();
                panic!(
                    "pyln_peer.py gave no `{expected_event}` line ({err}, {status}); it needs \
                     pyln-proto and pyln-bolt7 (pip install -r tests/interop/requirements.txt, \
                     then set GOSSIP_SIEVE_TEST_PYTHON):\n{stderr}"
                );
            }
        }
    }

    fn command(&mut self, command: &str, expected_event: &str) -> serde_json::Value {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{command}").expect("write to pyln_peer.py");
        stdin.flush().expect("flush");
        self.next(expected_event)
    }

    /// Asks for the status until `done` holds on it; fails after `WAIT` with the last status.
    fn status_when(
        &mut self,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let status = self.command("status", "status");
            if done(&status) {
                return status;
            }
            assert!(started.elapsed() < WAIT, "never {what}: {status}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn finish(mut self) -> serde_json::Value {
        let done = self.command("stop", "done");
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait pyln_peer.py");
        assert!(status.success(), "pyln_peer.py exited with {status}");
        done
    }
}

impl Drop for PylnPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(value: &serde_json::Value, path: &[&str]) -> u64 {
    common::get(value, path)
}

/// The peer is still connected on both ends and has answered our pings with our node's
/// pongs coming back to it.
fn assert_alive(status: &serde_json::Value, metrics: &Metrics) {
    assert!(
        status["closed_by_node"].is_null(),
        "the node closed the pyln connection: {status}\n{}",
        metrics.gossip()
    );
    assert_eq!(metrics.peers(), 1, "{}", metrics.gossip());
}

#[test]
fn pyln_peer_gossip_is_counted_exactly_and_the_connection_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start_node(&dir.path().join("data"));
    let mut peer = PylnPeer::start(&node);

    // pyln parsed our init: our features, and the bitcoin chain in the networks TLV.
    let ready = peer.next("ready");
    assert_eq!(
        ready["features"],
        hex::encode(our_init_features()),
        "{ready}"
    );
    let chain = hex::encode(Network::Bitcoin.chain_hash());
    assert_eq!(ready["chains"], serde_json::json!([chain]), "{ready}");

    let sent = peer.command("valid", "sent");
    assert_eq!(
        count(&sent, &["sent", "channel_announcement"]),
        ANNOUNCEMENTS
    );
    assert_eq!(count(&sent, &["sent", "channel_update"]), UPDATES);
    assert_eq!(count(&sent, &["sent", "node_announcement"]), 0);
    let valid = settle(&node, "the valid gossip", |m| {
        m.accepted("channel_announcement") == ANNOUNCEMENTS
            && m.accepted("channel_update") == UPDATES
    });
    for ty in common::TYPES {
        let expected = count(&sent, &["sent", ty]);
        assert_eq!(valid.received(ty), expected, "{ty}\n{}", valid.gossip());
        assert_eq!(valid.accepted(ty), expected, "{ty}\n{}", valid.gossip());
        assert_eq!(valid.dropped_total(ty), 0, "{ty}\n{}", valid.gossip());
        assert_eq!(valid.pending(ty), 0, "{ty}\n{}", valid.gossip());
    }
    assert_eq!(valid.value("gossip_sieve_graph_channels"), ANNOUNCEMENTS);
    // Four signatures per announcement, one per update.
    assert_eq!(valid.signatures("valid"), 4 * ANNOUNCEMENTS + UPDATES);
    assert_eq!(valid.signatures("invalid"), 0);

    // Wait for one of our one-second pings to be answered and our pong to reach pyln.
    let status = peer.status_when("a ping answered and our pong back", |status| {
        count(status, &["pings_answered"]) >= 1
            && status["pongs"].as_array().is_some_and(|p| !p.is_empty())
    });
    assert_alive(&status, &Metrics(node.scrape()));
    assert_eq!(
        status["pongs"],
        serde_json::json!([7]),
        "our pong to pyln's ping: {status}"
    );
    // We asked a gossip_queries peer for its gossip (BOLT 7 gossip_timestamp_filter).
    assert_eq!(count(&status, &["other_messages", "265"]), 1, "{status}");

    let corrupt = peer.command("corrupt", "sent");
    let bad_announcements = count(&corrupt, &["invalid_signature", "channel_announcement"]);
    let bad_updates = count(&corrupt, &["invalid_signature", "channel_update"]);
    let truncated = count(&corrupt, &["malformed", "channel_announcement"]);
    assert!(
        bad_announcements > 0 && bad_updates > 0 && truncated > 0,
        "{corrupt}"
    );
    let after = settle(&node, "the corrupted gossip", |m| {
        m.dropped("channel_announcement", "invalid_signature") == bad_announcements
            && m.dropped("channel_update", "invalid_signature") == bad_updates
            && m.dropped("channel_announcement", "malformed") == truncated
    });
    assert_eq!(
        after.received("channel_announcement"),
        ANNOUNCEMENTS + bad_announcements + truncated
    );
    assert_eq!(after.received("channel_update"), UPDATES + bad_updates);
    assert_eq!(after.accepted("channel_announcement"), ANNOUNCEMENTS);
    assert_eq!(after.accepted("channel_update"), UPDATES);
    for ty in common::TYPES {
        let expected = after.dropped(ty, "invalid_signature") + after.dropped(ty, "malformed");
        assert_eq!(
            after.dropped_total(ty),
            expected,
            "{ty}\n{}",
            after.gossip()
        );
    }
    after.assert_balanced();
    // A bad announcement fails at its first signature; a bad update at its only one.
    assert_eq!(after.signatures("valid"), 4 * ANNOUNCEMENTS + UPDATES);
    assert_eq!(after.signatures("invalid"), bad_announcements + bad_updates);
    assert_eq!(after.value("gossip_sieve_graph_channels"), ANNOUNCEMENTS);

    // A dozen invalid messages stay under the misbehaviour limit: still connected, still
    // answering pings.
    let before = count(&status, &["pings_answered"]);
    let status = peer.status_when("another ping after the invalid gossip", |status| {
        count(status, &["pings_answered"]) > before
    });
    assert_alive(&status, &Metrics(node.scrape()));
    let done = peer.finish();
    assert!(done["closed_by_node"].is_null(), "{done}");
    assert!(count(&done, &["pings_answered"]) > before, "{done}");

    let closed = settle(&node, "the disconnect", |m| m.peers() == 0);
    assert_eq!(
        closed.disconnects("remote_closed"),
        1,
        "{}",
        closed.gossip()
    );
    node.stop();
}

/// The interop peers run against exactly the pyln releases they were checked with: every
/// requirement is pinned with `==` (no ranges, no unpinned names, no URLs).
#[test]
fn interop_requirements_pin_exact_versions() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/requirements.txt");
    let text = std::fs::read_to_string(&path).expect("tests/interop/requirements.txt");
    let mut names = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, version) = line
            .split_once("==")
            .unwrap_or_else(|| panic!("not pinned with ==: {line}"));
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let version_ok = !version.is_empty()
            && version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.');
        assert!(name_ok && version_ok, "not an exact pin: {line}");
        names.push(name.to_ascii_lowercase());
    }
    for needed in ["pyln-proto", "pyln-client", "pyln-bolt7"] {
        assert!(
            names.iter().any(|n| n == needed),
            "{needed} missing from {}",
            path.display()
        );
    }
}
