//! Issue 11, item 7, against the real binary: the gossip_store never loses or duplicates data
//! on an I/O error.
//!
//! A full disk is made with `RLIMIT_FSIZE` set on the node process (with `SIGXFSZ` ignored, a
//! write past the limit fails with EFBIG, as the store's writes would with ENOSPC on a full
//! filesystem), then lifted from outside with `prlimit(2)` while the node runs: the same
//! writes, the same error path, no root or loop device needed. What this does not cover: a
//! filesystem that fills for every process at once (the node's other files are tiny and
//! written at start).

mod common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;

use common::forge::{scid, Channel};
use common::metrics::metric;
use common::node::Node;
use common::peer::TestPeer;
use gossip_sieve::store::{StoreReader, HEADER_LEN, STORE_FILE};

const STORE_LIMIT: u64 = 96 * 1024;

/// `(status code, body)` of GET `path`.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn wait_ready(node: &Node, ready: bool) -> String {
    let started = std::time::Instant::now();
    loop {
        let (status, body) = get(node.metrics, "/readyz");
        if (status == 200) == ready {
            return body;
        }
        assert!(
            started.elapsed() < common::node::WAIT,
            "/readyz never became {ready}: {status} {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn set_file_size_limit(pid: u32, limit: libc::rlim_t) {
    let new = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads the struct we own; a null old-limit pointer is allowed.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

#[test]
fn a_full_disk_pauses_intake_reports_not_ready_and_loses_nothing_when_space_returns() {
    const CHANNELS: u64 = 200;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let args: Vec<String> = ["--ping-interval-secs", "600", "--shards", "2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let node = Node::start_with(&data, &args, |command| {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // Past the limit, writes fail with EFBIG instead of killing the process.
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: STORE_LIMIT as libc::rlim_t,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut peer = rt.block_on(TestPeer::connect(node.listen(), &node.node_id));
    let channels: Vec<Channel> = (0..CHANNELS)
        .map(|i| Channel::new(scid(700_000 + i)))
        .collect();
    let sent: Vec<Vec<u8>> = channels.iter().flat_map(Channel::all).collect();
    rt.block_on(async {
        peer.send_all(&sent).await;
        peer.barrier().await;
    });
    // The store outgrows the limit: intake pauses and /readyz says why.
    let body = wait_ready(&node, false);
    assert!(body.contains("store") && body.contains("disk"), "{body}");
    let text = node.wait_for("gossip_sieve_store_out_of_space", 1.0);
    assert!(metric(&text, "gossip_sieve_store_queue_depth") > 0.0);
    let len = std::fs::metadata(data.join(STORE_FILE))
        .expect("store")
        .len();
    assert!(len <= STORE_LIMIT, "store is {len} bytes");
    // Space returns: the same writes succeed, intake resumes, nothing was dropped.
    set_file_size_limit(node.pid(), libc::RLIM_INFINITY);
    wait_ready(&node, true);
    let text = node.wait_until("the store caught up", |text| {
        metric(text, "gossip_sieve_store_queue_depth") == 0.0
            && metric(text, "gossip_sieve_store_out_of_space") == 0.0
            && metric(
                text,
                "gossip_sieve_messages_accepted_total{type=\"channel_update\"}",
            ) == (2 * CHANNELS) as f64
    });
    assert_eq!(
        metric(&text, "gossip_sieve_store_failures_total{reason=\"io\"}"),
        0.0
    );
    // The honest peer is still connected and syncs on.
    let late = Channel::new(scid(800_000)).all();
    rt.block_on(async {
        peer.send_all(&late).await;
        peer.barrier().await;
    });
    node.wait_for(
        "gossip_sieve_messages_accepted_total{type=\"channel_announcement\"}",
        (CHANNELS + 1) as f64,
    );
    drop(peer);
    node.stop();
    // Every message sent is in the store exactly once (internal records such as the
    // channel amounts repeat by nature).
    let messages: Vec<Vec<u8>> = common::live_store_messages(&data)
        .into_iter()
        .filter(|m| matches!(m.get(..2), Some([0x01, 0x00..=0x02])))
        .collect();
    let unique: HashSet<&Vec<u8>> = messages.iter().collect();
    assert_eq!(unique.len(), messages.len(), "a record was written twice");
    for msg in sent.iter().chain(late.iter()) {
        assert!(
            unique.contains(msg),
            "an accepted message is not in the store"
        );
    }
}

#[test]
fn a_corrupt_store_is_kept_aside_before_recovery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let args: Vec<String> = vec!["--ping-interval-secs".into(), "600".into()];
    let node = Node::start(&data, &args);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut peer = rt.block_on(TestPeer::connect(node.listen(), &node.node_id));
    let channels: Vec<Channel> = (0..6).map(|i| Channel::new(scid(700_000 + i))).collect();
    rt.block_on(async {
        for c in &channels {
            peer.send_all(&c.all()).await;
        }
        peer.barrier().await;
    });
    node.wait_for(
        "gossip_sieve_messages_accepted_total{type=\"node_announcement\"}",
        12.0,
    );
    drop(peer);
    node.stop();

    // Flip one byte inside a record in the middle: its crc no longer matches.
    let path = data.join(STORE_FILE);
    let mut bytes = std::fs::read(&path).expect("store");
    let records: Vec<(u64, usize)> = {
        let mut reader = StoreReader::new(std::fs::File::open(&path).expect("store")).expect("r");
        let mut records = Vec::new();
        while let Some(record) = reader.next_record().expect("record") {
            records.push((record.offset, record.msg.len()));
        }
        records
    };
    // A gossip message (not a short internal record) in the second half of the file.
    let (middle, _) = records[records.len() / 2..]
        .iter()
        .find(|(_, len)| *len > 100)
        .copied()
        .expect("a long record");
    let middle = middle as usize;
    bytes[middle + HEADER_LEN + 40] ^= 0xFF;
    std::fs::write(&path, &bytes).expect("write corrupted store");

    let node = Node::start(&data, &args);
    wait_ready(&node, true);
    let kept = std::fs::read(data.join("gossip_store.corrupt"))
        .expect("the corrupt store was not kept aside");
    assert_eq!(kept, bytes, "the copy kept aside is not the file as it was");
    let recovered = std::fs::metadata(&path).expect("store").len();
    assert!(
        recovered as usize <= middle,
        "recovery kept {recovered} bytes, the corrupt record starts at {middle}"
    );
    node.stop();
}

#[test]
fn a_failing_compaction_is_retried_with_backoff_not_at_every_tick() {
    const UPDATES: u32 = 16_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    // Compaction writes `gossip_store.compact.tmp`: a directory there makes every attempt fail.
    std::fs::create_dir(data.join("gossip_store.compact.tmp")).expect("blocker");
    let args: Vec<String> = [
        "--ping-interval-secs",
        "600",
        "--update-rate-per-minute",
        "0",
        "--peer-rate-bytes-per-sec",
        "100000000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let node = Node::start(&data, &args);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut peer = rt.block_on(TestPeer::connect(node.listen(), &node.node_id));
    let c = Channel::new(scid(700_000));
    let start = common::forge::recent();
    // Each update supersedes the last: over a MiB of DELETED records, past the 50 % share
    // (some are never written at all, when a newer one overtakes them on the way).
    let updates: Vec<Vec<u8>> = (1..=UPDATES).map(|i| c.update(0, start + i)).collect();
    rt.block_on(async {
        peer.send(&c.announcement()).await;
        peer.send_all(&updates).await;
        peer.barrier().await;
    });
    node.wait_for(
        "gossip_sieve_messages_accepted_total{type=\"channel_update\"}",
        f64::from(UPDATES),
    );
    let failed = |node: &Node| node.log_lines("gossip_store compaction failed").len();
    let started = std::time::Instant::now();
    while failed(&node) == 0 {
        assert!(
            started.elapsed() < common::node::WAIT,
            "compaction never ran\n{}",
            node.scrape()
                .lines()
                .filter(|l| l.starts_with("gossip_sieve_store"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The fsync tick runs every second; without backoff each tick rewrites the whole store.
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(failed(&node), 1, "compaction retried without backoff");
    // Writes go on meanwhile.
    rt.block_on(async {
        peer.send(&c.update(1, start + 1)).await;
        peer.barrier().await;
    });
    node.wait_for(
        "gossip_sieve_messages_accepted_total{type=\"channel_update\"}",
        f64::from(UPDATES + 1),
    );
    drop(peer);
    node.stop();
}
