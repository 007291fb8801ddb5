//! The release `gossip-sieve run` binary as a bench's child process, and a store written
//! straight from a generated corpus for it to serve (no verification needed: `run` loads a
//! store without checking signatures again). Shared by the serving and syncing benches,
//! included by path.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use gossip_sieve::sim::corpus::{self, CorpusSpec};
use gossip_sieve::store::{StoreWriter, STORE_FILE};
use gossip_sieve::wire::kind::{message_kind, GossipKind};
use secp256k1::PublicKey;

/// The gossip types, in the order of the `accepted` series the benches wait on.
pub const TYPES: [&str; 3] = [
    "channel_announcement",
    "channel_update",
    "node_announcement",
];

/// The machine's load averages (1, 5, 15 minutes), printed beside timings on a shared machine.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Writes the corpus of `spec` as a gossip_store in `dir`: announcements, then updates, then
/// node announcements (each after its channels, as the store actor writes them).
/// Returns (messages, bytes).
pub fn write_store(dir: &Path, spec: &CorpusSpec) -> (u64, u64) {
    let mut by_kind: [Vec<Vec<u8>>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    corpus::generate(spec, |msg| {
        if let Some(kind) = message_kind(&msg) {
            by_kind[kind.index()].push(msg);
        }
    });
    let mut writer = StoreWriter::create(dir.join(STORE_FILE)).expect("create store");
    let (mut count, mut bytes) = (0u64, 0u64);
    for kind in [
        GossipKind::ChannelAnnouncement,
        GossipKind::ChannelUpdate,
        GossipKind::NodeAnnouncement,
    ] {
        for msg in &by_kind[kind.index()] {
            let timestamp = timestamp_of(kind, msg);
            match kind {
                GossipKind::ChannelAnnouncement => writer
                    .append_channel_announcement(msg, 0, 0)
                    .expect("append"),
                _ => writer.append(msg, timestamp).expect("append"),
            };
            count += 1;
            bytes += msg.len() as u64;
        }
    }
    writer.flush_and_sync().expect("sync");
    (count, bytes)
}

fn timestamp_of(kind: GossipKind, msg: &[u8]) -> u32 {
    use gossip_sieve::wire::gossip::{ChannelUpdate, NodeAnnouncement};
    match kind {
        GossipKind::ChannelUpdate => ChannelUpdate::parse(msg).map_or(0, |u| u.timestamp),
        GossipKind::NodeAnnouncement => NodeAnnouncement::parse(msg).map_or(0, |n| n.timestamp),
        GossipKind::ChannelAnnouncement => 0,
    }
}

/// A running `gossip-sieve run`; killed when dropped.
pub struct Served {
    pub child: Child,
    pub node_id: PublicKey,
    pub listen: SocketAddr,
    pub metrics: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Peak RSS (VmHWM) in bytes.
    pub fn peak_rss(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb * 1024)
    }

    /// User + system CPU seconds the process has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces) start at state, field 3;
        // utime and stime are fields 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // SAFETY: sysconf with a constant name has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        (ticks(11) + ticks(12)) / hz.max(1.0)
    }
}

/// Starts `gossip-sieve run` on loopback (BOLT 8 listener and metrics on free ports) with
/// `--data-dir dir` and `extra` arguments, and waits for the addresses it prints.
pub fn start(dir: &Path, extra: &[String]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gossip-sieve"))
        .args(["run", "--network", "bitcoin"])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .args(extra)
        .env("GOSSIP_SIEVE_LOG", "warn")
        .env_remove("GOSSIP_SIEVE_NETWORK")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn gossip-sieve run");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut node_id, mut listen, mut metrics) = (None, None, None);
    while node_id.is_none() || listen.is_none() || metrics.is_none() {
        let line = lines
            .next()
            .expect("run printed its addresses")
            .expect("line");
        if let Some(id) = line.strip_prefix("node_id ") {
            node_id = PublicKey::from_slice(&hex::decode(id).expect("hex")).ok();
        }
        if let Some(addr) = line.strip_prefix("listening ") {
            listen = addr.parse().ok();
        }
        if let Some(addr) = line.strip_prefix("metrics ") {
            metrics = addr.trim().parse().ok();
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        node_id: node_id.expect("node id"),
        listen: listen.expect("listen"),
        metrics: metrics.expect("metrics"),
    }
}
