//! Issue 11, item 5, against the real binary over real sockets: one address cannot take every
//! peer slot, a replayed BOLT 8 act one is refused before it costs us any ECDH once the
//! address is over its handshake rate, and a slowloris client on the metrics port cannot hold
//! the process's file descriptors. Each time a peer from another address is unaffected.
//!
//! Loopback is exempt from the per-address limits by default (Tor hands inbound peers over from
//! 127.0.0.1), so the node is started with `--per-ip-limits-on-loopback`; the attacker uses
//! 127.0.0.1 and the honest peer 127.0.0.2, which Linux routes on loopback too.

mod common;
#[path = "bad_input/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use common::metrics::{disconnects, metric};
use common::node::WAIT;
use common::peer::TestPeer;
use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::transport::handshake::InitiatorStart;
use harness::Harness;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HONEST_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The harness's honest peer dials from 127.0.0.1 like the attacker, so every test here adds
/// a second honest peer from another address and checks that one.
fn honest_from_elsewhere(h: &Harness) -> TestPeer {
    h.rt.block_on(TestPeer::connect_from(
        HONEST_SOURCE,
        h.node.listen(),
        &h.node.node_id,
    ))
    .expect("an honest peer from another address was refused")
}

#[test]
fn one_address_cannot_take_every_slot_and_a_peer_from_another_address_still_syncs() {
    const PER_IP: usize = 3;
    let mut h = Harness::start(&[
        "--max-peers",
        "16",
        "--max-peers-per-ip",
        "3",
        "--handshakes-per-ip-per-minute",
        "0",
        "--per-ip-limits-on-loopback",
    ]);
    // The harness's own peer holds one of 127.0.0.1's places; the attacker tries for all 16.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..16 {
        let peer = h.rt.block_on(TestPeer::try_connect_closed_ok(
            h.node.listen(),
            &h.node.node_id,
        ));
        match peer {
            Some(peer) => held.push(peer),
            None => refused += 1,
        }
    }
    assert_eq!(held.len(), PER_IP - 1, "sessions from one address");
    assert_eq!(refused, 16 - (PER_IP - 1));
    let text = h
        .node
        .wait_for(&disconnects("too_many_from_ip"), refused as f64);
    assert_eq!(
        metric(&text, &disconnects("too_many_from_ip")),
        refused as f64
    );
    assert_eq!(metric(&text, &disconnects("too_many_peers")), 0.0);
    assert_eq!(
        metric(&text, "gossip_sieve_limit{name=\"max_peers_per_ip\"}"),
        PER_IP as f64
    );
    let mut honest = honest_from_elsewhere(&h);
    let c = h.new_channel();
    h.deliver(&mut honest, &c);
    // A closed connection gives its place back (once its session task has ended, so poll).
    drop(held.pop());
    let started = Instant::now();
    loop {
        let again = h.rt.block_on(TestPeer::try_connect_closed_ok(
            h.node.listen(),
            &h.node.node_id,
        ));
        if again.is_some() {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "a freed place was never given back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    h.finish();
}

#[test]
fn a_replayed_act_one_flood_is_rate_limited_before_any_handshake_work() {
    const BURST: usize = 4;
    const FLOOD: usize = 200;
    let mut h = Harness::start(&[
        "--handshakes-per-ip-per-minute",
        "1",
        "--handshake-burst-per-ip",
        "4",
        "--per-ip-limits-on-loopback",
    ]);
    let listen = h.node.listen();
    let node_id = h.node.node_id;
    // The harness's honest peer already spent one token of 127.0.0.1's burst.
    let me = NodeIdentity::random();
    let (act_one, _) = InitiatorStart::new(me.secret(), &node_id).act_one();
    let answered = h.rt.block_on(async {
        let mut answered = 0;
        for _ in 0..FLOOD {
            let mut s = tokio::net::TcpStream::connect(listen)
                .await
                .expect("connect");
            // The same act one every time: replaying costs the sender nothing.
            let _ = s.write_all(&act_one).await;
            let mut act_two = [0u8; 50];
            let read = tokio::time::timeout(WAIT, s.read(&mut act_two))
                .await
                .expect("the node neither answered nor closed");
            answered += usize::from(read.unwrap_or(0) > 0);
        }
        answered
    });
    assert_eq!(answered, BURST - 1, "act twos sent");
    let limited = (FLOOD - (BURST - 1)) as f64;
    let text = h
        .node
        .wait_for(&disconnects("handshake_rate_limited"), limited);
    assert_eq!(
        metric(&text, &disconnects("handshake_rate_limited")),
        limited
    );
    // The address next door has its own bucket.
    let mut honest = honest_from_elsewhere(&h);
    let c = h.new_channel();
    h.deliver(&mut honest, &c);
    h.finish();
}

/// Open file descriptors of process `pid`.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

#[test]
fn a_slowloris_on_the_metrics_port_cannot_hold_file_descriptors() {
    const SLOW: usize = 300;
    // Defaults: 64 connections at most, 5 s for a request head.
    let mut h = Harness::start(&[]);
    let pid = h.node.pid();
    let metrics = h.node.metrics;
    let baseline = open_fds(pid);
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut s = TcpStream::connect(metrics).expect("connect to /metrics");
            // A request head that never ends.
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
            s
        })
        .collect();
    // Every connection is either refused at once or cut off at the header timeout; none is
    // held for good. Reads return 0 (closed) or an error (reset).
    let mut most_fds = 0;
    for s in &slow {
        s.set_nonblocking(true).expect("nonblocking");
    }
    let mut open: Vec<bool> = vec![true; SLOW];
    while open.iter().any(|o| *o) {
        most_fds = most_fds.max(open_fds(pid));
        assert!(
            started.elapsed() < WAIT,
            "{} slow connections still held after {:?}",
            open.iter().filter(|o| **o).count(),
            started.elapsed()
        );
        for (s, still) in slow.iter_mut().zip(open.iter_mut()).filter(|(_, o)| **o) {
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => *still = false,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => *still = false,
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "slowloris: {SLOW} connections all closed after {:?}; node fds {baseline} -> at most {most_fds}",
        started.elapsed()
    );
    assert!(
        most_fds <= baseline + 64 + 8,
        "the node held {most_fds} fds (baseline {baseline})"
    );
    drop(slow);
    // Scrapes work again and refusals were counted.
    let text = h.node.scrape();
    assert!(metric(&text, "gossip_sieve_metrics_connections_refused_total") >= (SLOW - 64) as f64);
    h.node.assert_alive_without_panic();
    let mut honest = honest_from_elsewhere(&h);
    let c = h.new_channel();
    h.deliver(&mut honest, &c);
    h.finish();
}
