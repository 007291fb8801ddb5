//! Outbound peers found in the graph (issue 18): real LDK nodes on loopback announce their
//! own addresses; `gossip-sieve run`, given one of them, must find and keep the others up to
//! its target, replace one that stops, and never turn hostile announcements (thousands of
//! addresses, private ranges) into a dial storm.

mod common;
mod ldk;

use std::collections::BTreeSet;
use std::net::TcpListener as StdListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::forge::{self, Channel};
use common::metrics::{metric, sum_matching};
use common::node::Node;
use common::peer::TestPeer;
use gossip_sieve::wire::address::Address;
use ldk::LdkNode;
use secp256k1::{PublicKey, SecretKey};
use tokio::net::TcpListener;

/// Generous: six LDK nodes, the node and its store share two busy cores.
const DEADLINE: Duration = Duration::from_secs(120);

fn ldk_connected_to(nodes: &[Option<LdkNode>], ours: &PublicKey) -> BTreeSet<usize> {
    let ours = ours.serialize();
    nodes
        .iter()
        .enumerate()
        .filter_map(|(i, node)| {
            let node = node.as_ref()?;
            node.is_connected_to(&ours).then_some(i)
        })
        .collect()
}

async fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(done) = check() {
            return done;
        }
        assert!(started.elapsed() < DEADLINE, "never reached: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn scrape(node: &Node) -> String {
    tokio::task::block_in_place(|| node.scrape())
}

const GRAPH_IPV4: &str = r#"gossip_sieve_outbound_peers{address_type="ipv4",origin="graph"}"#;
const CONFIGURED_IPV4: &str =
    r#"gossip_sieve_outbound_peers{address_type="ipv4",origin="configured"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_graph_peers_up_to_the_target_and_replaces_a_stopped_one() {
    const NODES: usize = 6;
    const TARGET: usize = 4;
    let keys: Vec<_> = (0..NODES).map(|_| ldk::new_keys()).collect();
    let secrets: Vec<SecretKey> = keys
        .iter()
        .map(|k| SecretKey::from_slice(&k.get_node_secret_key().secret_bytes()).expect("key"))
        .collect();
    let mut listeners = Vec::new();
    for _ in 0..NODES {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.expect("bind"));
    }
    // A ring of channels; each node announces its own loopback address.
    let at = forge::recent();
    let mut messages = Vec::new();
    for i in 0..NODES {
        let channel = Channel::between(
            forge::scid(800_000 + i as u64),
            secrets[i],
            secrets[(i + 1) % NODES],
        );
        messages.extend([
            channel.announcement(),
            channel.update(0, at),
            channel.update(1, at),
        ]);
        let own = PublicKey::from_secret_key(secp256k1::SECP256K1, &secrets[i]).serialize();
        let side = channel.side_of(&own).expect("node i is on channel i");
        let mut na = channel.node_fields(side, at);
        na.addresses = vec![Address::Ipv4 {
            addr: [127, 0, 0, 1],
            port: listeners[i].local_addr().expect("addr").port(),
        }];
        messages.push(channel.sign_node(side, &na));
    }
    let mut nodes: Vec<Option<LdkNode>> = keys
        .into_iter()
        .zip(listeners)
        .map(|(keys, listener)| Some(ldk::start_with(&messages, keys, listener)))
        .collect();
    let configured = nodes[0].as_ref().expect("node 0").peer_arg();

    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = [
        "--peer",
        &configured,
        "--outbound-peers",
        &TARGET.to_string(),
        "--dial-private-addresses",
        "--dials-per-minute",
        "600",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut node = tokio::task::block_in_place(|| Node::start(dir.path(), &args));
    let ours = node.node_id;

    let first = wait_until("connected to the target from the graph", || {
        let set = ldk_connected_to(&nodes, &ours);
        let text = scrape(&node);
        (set.len() == TARGET
            && metric(&text, GRAPH_IPV4) == (TARGET - 1) as f64
            && metric(&text, CONFIGURED_IPV4) == 1.0)
            .then_some(set)
    })
    .await;
    assert!(first.contains(&0), "the configured peer is kept: {first:?}");

    // Stop one peer found in the graph: another must take its slot.
    let stopped = *first.iter().find(|i| **i != 0).expect("a graph peer");
    nodes[stopped] = None;
    let second = wait_until("a stopped graph peer replaced", || {
        let set = ldk_connected_to(&nodes, &ours);
        let text = scrape(&node);
        (set.len() == TARGET
            && set.iter().any(|i| !first.contains(i))
            && metric(&text, GRAPH_IPV4) == (TARGET - 1) as f64)
            .then_some(set)
    })
    .await;
    assert!(second.contains(&0), "{second:?}");
    assert!(!second.contains(&stopped));
    // Never more than the target, though a sixth node stays reachable.
    let text = scrape(&node);
    assert_eq!(
        sum_matching(&text, "gossip_sieve_outbound_peers{"),
        TARGET as f64,
        "outbound peers above target"
    );
    assert!(
        metric(
            &text,
            r#"gossip_sieve_dial_attempts_total{origin="graph",result="connected"}"#
        ) >= TARGET as f64
    );
    node.assert_alive_without_panic();
    tokio::task::block_in_place(|| node.stop());
}

/// A loopback listener that counts (and drops) every connection it gets: the target of the
/// hostile announcements.
fn trap() -> (u16, Arc<AtomicUsize>) {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind trap");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stream.is_ok() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (port, count)
}

/// `count` channels whose first node announces `addresses(i)`.
fn hostile_gossip(count: usize, addresses: impl Fn(usize) -> Vec<Address>) -> Vec<Vec<u8>> {
    let at = forge::recent();
    let mut out = Vec::new();
    for i in 0..count {
        let channel = Channel::new(forge::scid(900_000 + i as u64));
        out.extend([
            channel.announcement(),
            channel.update(0, at),
            channel.update(1, at),
        ]);
        let mut na = channel.node_fields(0, at);
        na.addresses = addresses(i);
        out.push(channel.sign_node(0, &na));
    }
    out
}

async fn feed(node: &Node, gossip: &[Vec<u8>]) -> TestPeer {
    let listen = node.listen.expect("listening");
    let mut peer = TestPeer::connect(listen, &node.node_id).await;
    peer.send_all(gossip).await;
    peer.barrier().await;
    peer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_of_private_ranges_are_never_dialled() {
    let (port, dialled) = trap();
    // 3,000 private, loopback and link-local addresses, the trap's among them.
    let gossip = hostile_gossip(1, |_| {
        (0..3000u16)
            .map(|i| {
                let [hi, lo] = i.to_be_bytes();
                let addr = match i % 4 {
                    0 => [127, 0, 0, 1],
                    1 => [10, hi, lo, 1],
                    2 => [192, 168, hi, lo],
                    _ => [169, 254, hi, lo],
                };
                Address::Ipv4 { addr, port }
            })
            .collect()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = ["--outbound-peers", "8", "--dials-per-minute", "600"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut node = tokio::task::block_in_place(|| Node::start(dir.path(), &args));
    let _peer = feed(&node, &gossip).await;
    let private = r#"gossip_sieve_discovery_addresses_skipped_total{reason="private"}"#;
    let text = tokio::task::block_in_place(|| node.wait_for(private, 3000.0));
    assert_eq!(metric(&text, "gossip_sieve_discovery_candidates"), 0.0);
    assert_eq!(
        sum_matching(&text, "gossip_sieve_dial_attempts_total{"),
        0.0
    );
    assert_eq!(
        dialled.load(Ordering::SeqCst),
        0,
        "a private address was dialled"
    );
    node.assert_alive_without_panic();
    tokio::task::block_in_place(|| node.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_announced_addresses_do_not_make_a_dial_storm() {
    const RATE_PER_MINUTE: usize = 2;
    let (port, dialled) = trap();
    // 40 nodes, each announcing the trap and 1,000 more loopback ports: with private
    // addresses allowed, only the rate limit stands between them and a storm.
    let gossip = hostile_gossip(40, |i| {
        let mut list = vec![Address::Ipv4 {
            addr: [127, 0, 0, 1],
            port,
        }];
        list.extend((0..1000u16).map(|j| Address::Ipv4 {
            addr: [127, 0, 0, 1],
            port: 20_000 + j + i as u16,
        }));
        list
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = [
        "--outbound-peers",
        "8",
        "--dial-private-addresses",
        "--dials-per-minute",
        &RATE_PER_MINUTE.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let started = Instant::now();
    let mut node = tokio::task::block_in_place(|| Node::start(dir.path(), &args));
    let _peer = feed(&node, &gossip).await;
    // The burst (the bucket starts full: min(target, rate) tokens) arrives...
    wait_until("the first dials", || {
        (dialled.load(Ordering::SeqCst) >= RATE_PER_MINUTE).then_some(())
    })
    .await;
    let text = scrape(&node);
    assert!(metric(&text, "gossip_sieve_discovery_candidates") >= 1.0);
    assert!(
        metric(
            &text,
            r#"gossip_sieve_discovery_addresses_skipped_total{reason="over_node_cap"}"#
        ) >= 997.0
    );
    // ...and then no more than the rate allows, however long we watch (a slow machine only
    // makes fewer dials, never more).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let allowed = RATE_PER_MINUTE + (minutes * RATE_PER_MINUTE as f64).ceil() as usize;
    let got = dialled.load(Ordering::SeqCst);
    assert!(
        got <= allowed,
        "{got} dials in {minutes:.2} min, at most {allowed} allowed"
    );
    let attempts = sum_matching(&scrape(&node), "gossip_sieve_dial_attempts_total{");
    assert!(attempts <= allowed as f64, "{attempts} dial attempts");
    node.assert_alive_without_panic();
    tokio::task::block_in_place(|| node.stop());
}
