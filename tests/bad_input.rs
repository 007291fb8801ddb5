//! The bad-input matrix, each class through a real loopback BOLT 8 connection to `gossip-sieve
//! run`: the node drops the input under its reason (drop or disconnect counter), does not
//! panic, keeps serving an honest peer connected at the same time, and loses nothing it had
//! accepted (the honest peer's channels are still in the graph at the end).

mod common;
#[path = "bad_input/harness.rs"]
mod harness;

use common::forge::{bad_signature, chain, high_s, recent, Channel};
use common::metrics::{disconnects, metric, pending, relevant};
use common::peer::TestPeer;
use common::tap::Fault;
use gossip_sieve::clock::unix_now;
use gossip_sieve::sim::corpus::BITCOIN_TESTNET_CHAIN_HASH;
use gossip_sieve::store::{StoreReader, STORE_FILE};
use gossip_sieve::transport::handshake::InitiatorStart;
use gossip_sieve::transport::handshake_initiator;
use gossip_sieve::wire::address::Address;
use gossip_sieve::wire::bolt1::{self, Init, Ping};
use harness::{assert_drops, Harness, CA, CU, NA};

/// BOLT 8: the largest message a frame can carry.
const MAX_MESSAGE: usize = 65535;

/// `msg` cut to `len` bytes.
fn cut(msg: &[u8], len: usize) -> Vec<u8> {
    msg[..len].to_vec()
}

#[test]
fn truncated_messages_are_malformed_and_signed_extra_bytes_up_to_the_frame_limit_are_kept() {
    let mut h = Harness::start(&[]);
    let c = h.new_channel();
    let t = recent();
    let mut bad = h.connect();

    // Extra bytes are part of what is signed (BOLT 7): signed, they are accepted, up to a
    // message that fills a whole frame.
    let mut with_excess = c.update_fields(0, t + 1);
    with_excess.excess = vec![0xEE; 100];
    let mut frame_sized = c.update_fields(1, t + 1);
    frame_sized.excess = vec![0xEE; MAX_MESSAGE - frame_sized.serialize().len()];
    let frame_sized = c.sign_update(&frame_sized);
    assert_eq!(frame_sized.len(), MAX_MESSAGE);
    let mut node_excess = c.node_fields(0, t + 1);
    node_excess.excess = vec![0xEE; 1000];
    // Unsigned extra bytes appended after signing break the signature.
    let mut appended = c.update(0, t + 2);
    appended.extend_from_slice(&[0xEE; 10]);
    // A channel_update cut inside htlc_maximum_msat and a node_announcement cut inside its
    // addresses have every fixed field dedup reads, so only the full parse can catch them.
    let update = c.update(1, t + 3);
    let node = c.node_announcement(1, t + 3);

    h.deliver(&mut bad, &c);
    h.rt.block_on(async {
        bad.send(&c.sign_update(&with_excess)).await;
        bad.send(&frame_sized).await;
        bad.send(&c.sign_node(0, &node_excess)).await;
        bad.send(&appended).await;
        bad.send(&cut(&c.announcement(), 100)).await;
        bad.send(&cut(&c.announcement(), c.announcement().len() - 1))
            .await;
        bad.send(&cut(&update, 100)).await;
        bad.send(&cut(&update, update.len() - 4)).await;
        bad.send(&cut(&node, 100)).await;
        bad.send(&cut(&node, node.len() - 3)).await;
        bad.barrier().await;
    });
    h.expect_accepted(CU, 2);
    h.expect_accepted(NA, 1);
    let text = h.settle();
    assert_drops(
        &text,
        &[
            (CA, "malformed", 2.0),
            (CU, "malformed", 2.0),
            (NA, "malformed", 2.0),
            (CU, "invalid_signature", 1.0),
        ],
    );

    // A frame cut short and a frame whose MAC fails end only their own connection.
    let mut cut_frame = h.connect();
    let mut bad_mac = h.connect();
    h.rt.block_on(async {
        cut_frame.tap.set(Fault::CutAfter(30));
        cut_frame.send(&c.update(0, t + 4)).await;
        cut_frame.writer.shutdown().await.expect("close");
        bad_mac.tap.set(Fault::CorruptLastByte);
        bad_mac.send(&c.update(0, t + 5)).await;
        bad_mac.read_to_close().await;
    });
    h.node.wait_for(&disconnects("eof_mid_frame"), 1.0);
    h.node.wait_for(&disconnects("bad_mac"), 1.0);
    let (text, _) = h.finish();
    assert_eq!(metric(&text, &disconnects("eof_mid_frame")), 1.0);
    assert_eq!(metric(&text, &disconnects("bad_mac")), 1.0);
}

#[test]
fn every_field_at_its_limits_is_accepted_except_timestamps_outside_the_window() {
    let mut h = Harness::start(&[]);
    let t = recent();
    // scid 0 and the largest scid are ordinary channels.
    let zero = Channel::new(0);
    let top = Channel::new(u64::MAX);
    // Features filling the whole frame (odd bits only: optional, so nothing is required).
    let c = h.new_channel();
    let mut big = c.announcement_fields();
    big.features = vec![0xAA; MAX_MESSAGE - big.serialize().len()];
    let big = c.sign_announcement(&big);
    assert_eq!(big.len(), MAX_MESSAGE);
    // Policy fields at both ends; BOLT 7 leaves their sanity to route finding.
    let mut extreme = c.update_fields(0, t);
    extreme.cltv_expiry_delta = u16::MAX;
    extreme.htlc_minimum_msat = u64::MAX;
    extreme.htlc_maximum_msat = Some(u64::MAX);
    extreme.fee_base_msat = u32::MAX;
    extreme.fee_proportional_millionths = u32::MAX;
    let mut floor = c.update_fields(1, t);
    floor.htlc_minimum_msat = 0;
    floor.htlc_maximum_msat = Some(0);
    floor.cltv_expiry_delta = 0;
    floor.fee_base_msat = 0;
    floor.fee_proportional_millionths = 0;
    // Without htlc_maximum_msat (message_flags bit 0 clear): malformed since BOLT 7 made it
    // mandatory (tests/hostile_peers.rs has the details).
    let mut legacy = c.update_fields(1, t + 1);
    legacy.message_flags = 0;
    legacy.htlc_maximum_msat = None;
    // node_announcement: empty everything, then full alias and as many addresses as fit.
    let mut empty = c.node_fields(0, t);
    empty.alias = [0; 32];
    empty.addresses.clear();
    let mut full = c.node_fields(1, t);
    full.alias = [b'x'; 32];
    full.addresses = vec![Address::Dns {
        hostname: vec![b'h'; 255],
        port: u16::MAX,
    }];
    let room = MAX_MESSAGE - full.serialize().len();
    full.addresses.extend((0..room / 7).map(|i| Address::Ipv4 {
        addr: (i as u32).to_be_bytes(),
        port: 0,
    }));
    let full = c.sign_node(1, &full);
    assert!(full.len() > MAX_MESSAGE - 7 && full.len() <= MAX_MESSAGE);
    let mut bad = h.connect();
    h.deliver(&mut bad, &zero);
    h.deliver(&mut bad, &top);
    h.rt.block_on(async {
        bad.send(&big).await;
        bad.barrier().await;
    });
    h.expect_accepted(CA, 1);
    h.settle();
    h.rt.block_on(async {
        bad.send(&c.sign_update(&extreme)).await;
        bad.send(&c.sign_update(&floor)).await;
        bad.send(&c.sign_update(&legacy)).await;
        bad.send(&c.sign_node(0, &empty)).await;
        bad.send(&full).await;
        // Timestamps at the ends of u32: the epoch is far too old, u32::MAX far ahead.
        for ts in [0, u32::MAX] {
            bad.send(&c.update(0, ts)).await;
            bad.send(&c.node_announcement(0, ts)).await;
        }
        bad.barrier().await;
    });
    h.expect_accepted(CU, 2);
    h.expect_accepted(NA, 2);
    let text = h.settle();
    assert_drops(
        &text,
        &[
            (CU, "malformed", 1.0),
            (CU, "timestamp_out_of_range", 2.0),
            (NA, "timestamp_out_of_range", 2.0),
        ],
    );
    let honest = h.honest.as_mut().expect("honest peer");
    let scids = h.rt.block_on(honest.graph_scids());
    for scid in [0, u64::MAX, c.scid] {
        assert!(scids.contains(&scid), "{scid:x} not in the graph");
    }
    h.finish();
}

#[test]
fn unknown_address_types_are_kept_and_a_signed_announcement_with_them_is_accepted() {
    let mut h = Harness::start(&[]);
    let c = h.new_channel();
    let mut na = c.node_fields(0, recent());
    // BOLT 7: a reader stops at the first unknown descriptor; the rest is signed all the same.
    na.addresses.push(Address::Unknown {
        descriptor_type: 200,
        data: vec![1, 2, 3, 4, 5, 6, 7],
    });
    let na = c.sign_node(0, &na);
    let mut bad = h.connect();
    h.rt.block_on(async {
        bad.send(&c.announcement()).await;
        bad.send(&na).await;
        bad.barrier().await;
    });
    h.expect_accepted(CA, 1);
    h.expect_accepted(NA, 1);
    let text = h.settle();
    assert_drops(&text, &[]);
    let (_, dir) = h.finish();
    // Kept byte for byte: the store holds exactly what was signed.
    let file = std::fs::File::open(dir.path().join("data").join(STORE_FILE)).expect("store");
    let mut reader = StoreReader::new(file).expect("store reader");
    let mut found = false;
    while let Some(record) = reader.next_record().expect("record") {
        found |= record.msg == na;
    }
    assert!(
        found,
        "node_announcement with an unknown address type not stored as sent"
    );
}

#[test]
fn gossip_for_another_chain_is_dropped_as_wrong_chain() {
    let mut h = Harness::start(&[]);
    let c = h.new_channel();
    let mut ca = c.announcement_fields();
    ca.chain_hash = BITCOIN_TESTNET_CHAIN_HASH;
    let mut cu = c.update_fields(0, recent());
    cu.chain_hash = BITCOIN_TESTNET_CHAIN_HASH;
    let mut bad = h.connect();
    h.rt.block_on(async {
        bad.send(&c.sign_announcement(&ca)).await;
        bad.send(&c.sign_update(&cu)).await;
        bad.barrier().await;
    });
    let text = h.settle();
    assert_drops(&text, &[(CA, "wrong_chain", 1.0), (CU, "wrong_chain", 1.0)]);
    // A peer whose init names only another chain is not kept at all.
    h.rt.block_on(async {
        let init = Init {
            networks: Some(vec![BITCOIN_TESTNET_CHAIN_HASH]),
            ..Init::ours(chain())
        };
        let mut other =
            TestPeer::connect_with_init(h.node.listen(), &h.node.node_id, &init.serialize()).await;
        assert!(other.read_to_close().await.contains(&bolt1::ERROR));
    });
    h.node.wait_for(&disconnects("wrong_network"), 1.0);
    h.finish();
}

#[test]
fn announcements_with_node_ids_out_of_order_are_dropped_as_bad_node_order() {
    let mut h = Harness::start(&[]);
    let c = h.new_channel();
    // The order is checked before any signature work, so the signatures do not matter.
    let mut swapped = c.announcement_fields();
    std::mem::swap(&mut swapped.node_id_1, &mut swapped.node_id_2);
    let swapped = c.sign_announcement(&swapped);
    let d = h.new_channel();
    let mut same = d.announcement_fields();
    same.node_id_2 = same.node_id_1;
    let same = d.sign_announcement(&same);
    let mut bad = h.connect();
    h.rt.block_on(async {
        bad.send(&swapped).await;
        bad.send(&same).await;
        bad.barrier().await;
    });
    let text = h.settle();
    assert_drops(&text, &[(CA, "bad_node_order", 2.0)]);
    h.finish();
}

#[test]
fn high_s_and_invalid_signatures_are_dropped_and_a_resent_copy_costs_no_check() {
    let mut h = Harness::start(&[]);
    let c = h.new_channel();
    let t = recent();
    // One announcement per signature slot with that slot in high-S form, one with a bad
    // signature: each on its own channel, so none is a duplicate of another.
    let mut announcements: Vec<Vec<u8>> = Vec::new();
    for slot in 0..4 {
        announcements.push(high_s(&h.new_channel().announcement(), slot));
    }
    announcements.push(bad_signature(&h.new_channel().announcement(), 2));
    let high_s_update = high_s(&c.update(0, t + 1), 0);
    let mut bad = h.connect();
    h.deliver(&mut bad, &c);
    let before = h.settle();
    let invalid_checks = "gossip_sieve_signature_checks_total{result=\"invalid\"}";
    h.rt.block_on(async {
        bad.send_all(&announcements).await;
        bad.send(&high_s_update).await;
        bad.send(&bad_signature(&c.update(1, t + 1), 0)).await;
        bad.send(&high_s(&c.node_announcement(0, t + 1), 0)).await;
        bad.send(&bad_signature(&c.node_announcement(1, t + 1), 0))
            .await;
        bad.barrier().await;
    });
    let text = h.settle();
    assert_drops(
        &text,
        &[
            (CA, "invalid_signature", 5.0),
            (CU, "invalid_signature", 2.0),
            (NA, "invalid_signature", 2.0),
        ],
    );
    // Exactly one failed check per message: a channel_announcement stops at its first bad
    // signature, and nothing is checked twice.
    assert_eq!(
        metric(&text, invalid_checks) - metric(&before, invalid_checks),
        9.0,
        "{}",
        relevant(&text)
    );
    // The same bytes again are known bad: dropped before any signature check.
    h.rt.block_on(async {
        bad.send(&high_s_update).await;
        bad.barrier().await;
    });
    let again = h.settle();
    assert_eq!(
        metric(&again, invalid_checks),
        metric(&text, invalid_checks)
    );
    assert_drops(
        &again,
        &[
            (CA, "invalid_signature", 5.0),
            (CU, "invalid_signature", 2.0),
            (NA, "invalid_signature", 2.0),
            (CU, "recently_rejected", 1.0),
        ],
    );
    h.finish();
}

#[test]
fn updates_for_never_announced_channels_wait_in_a_bounded_pending_map_and_are_evicted() {
    let mut h = Harness::start(&["--pending-updates-cap", "2"]);
    let orphans: Vec<Channel> = (0..3).map(|_| h.new_channel()).collect();
    let mut bad = h.connect();
    h.rt.block_on(async {
        for orphan in &orphans {
            bad.send(&orphan.update(0, recent())).await;
        }
        bad.barrier().await;
    });
    // Three parked in a map of two: the least recently used one is evicted, none accepted.
    let text = h.settle();
    assert_eq!(metric(&text, &pending(CU)), 2.0);
    assert_drops(&text, &[(CU, "orphan_evicted", 1.0)]);
    // The last one's channel is announced: its parked update is released and accepted. The
    // evicted one's channel is announced too, but its update is gone.
    h.rt.block_on(async {
        bad.send(&orphans[2].announcement()).await;
        bad.send(&orphans[0].announcement()).await;
        bad.barrier().await;
    });
    h.expect_accepted(CA, 2);
    h.expect_accepted(CU, 1);
    let text = h.settle();
    assert_eq!(metric(&text, &pending(CU)), 1.0);
    assert_drops(&text, &[(CU, "orphan_evicted", 1.0)]);
    h.finish();
}

#[test]
fn timestamps_far_in_the_future_or_past_are_dropped_as_timestamp_out_of_range() {
    let mut h = Harness::start(&[]);
    let c = h.new_channel();
    let now = unix_now();
    let day = 24 * 3600;
    let mut bad = h.connect();
    h.deliver(&mut bad, &c);
    h.rt.block_on(async {
        // Default window: at most a day ahead, at most 14 days old.
        for ts in [now + 3 * day, now - 30 * day] {
            bad.send(&c.update(0, ts)).await;
            bad.send(&c.node_announcement(0, ts)).await;
        }
        // An hour ahead is clock skew, not an attack.
        bad.send(&c.update(1, now + 3600)).await;
        bad.barrier().await;
    });
    h.expect_accepted(CU, 1);
    let text = h.settle();
    assert_drops(
        &text,
        &[
            (CU, "timestamp_out_of_range", 2.0),
            (NA, "timestamp_out_of_range", 2.0),
        ],
    );
    h.finish();
}

#[test]
fn a_frame_of_the_maximum_size_is_read_and_an_empty_frame_ends_the_session() {
    let h = Harness::start(&[]);
    let mut bad = h.connect();
    let types = h.rt.block_on(async {
        // Unknown odd type filling a whole frame: read and ignored (BOLT 1).
        let mut odd = vec![0x80, 0x01];
        odd.resize(MAX_MESSAGE, 0xAB);
        bad.send(&odd).await;
        // A maximum-size ping is still answered.
        let ping = Ping {
            num_pong_bytes: 3,
            ignored_len: (MAX_MESSAGE - 6) as u16,
        }
        .serialize();
        assert_eq!(ping.len(), MAX_MESSAGE);
        bad.send(&ping).await;
        loop {
            let msg = bad.next().await.expect("pong");
            if bolt1::message_type(&msg) == Some(bolt1::PONG) {
                break;
            }
        }
        bad.barrier().await;
        // A message has at least its two type bytes; an empty one is malformed.
        bad.send(&[]).await;
        bad.read_to_close().await
    });
    assert!(
        types.contains(&bolt1::ERROR),
        "no error before close: {types:?}"
    );
    h.node.wait_for(&disconnects("malformed_message"), 1.0);
    h.finish();
}

#[test]
fn a_peer_that_never_reads_is_dropped_as_slow_reader_without_growing_memory() {
    let h = Harness::start(&[]);
    let before = h.node.peak_rss();
    let (reader_stays_unread, pings_sent) = h.rt.block_on(async {
        let TestPeer {
            reader, mut writer, ..
        } = TestPeer::connect(h.node.listen(), &h.node.node_id).await;
        // Each small ping asks for a pong of the largest size; we never read one of them.
        let ping = Ping {
            num_pong_bytes: bolt1::MAX_NUM_PONG_BYTES,
            ignored_len: 0,
        }
        .serialize();
        let mut sent = 0u64;
        // Far more pongs than the node may hold (~16 GB of them): only a disconnect ends this.
        while sent < 250_000 && writer.write_message(&ping).await.is_ok() {
            sent += 1;
        }
        (reader, sent)
    });
    let text = h.node.wait_for(&disconnects("slow_reader"), 1.0);
    let grown = h.node.peak_rss().saturating_sub(before);
    eprintln!("slow reader: {pings_sent} pings, peak memory grew by {grown} bytes");
    assert_eq!(metric(&text, &disconnects("slow_reader")), 1.0);
    assert!(
        pings_sent < 250_000,
        "node kept reading a peer that never reads"
    );
    drop(reader_stays_unread);
    assert!(grown < 32 << 20, "peak memory grew by {grown} bytes");
    h.finish();
}

/// Opens `count` connections, `parallel` at a time: each sends act one when `with_act_one`
/// (else nothing) and waits until the node closes it. Returns how many the node answered.
async fn refused_connections(
    listen: std::net::SocketAddr,
    node_id: secp256k1::PublicKey,
    count: usize,
    parallel: usize,
    with_act_one: bool,
) -> usize {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..parallel {
        tasks.spawn(async move {
            let mut answered = 0;
            for _ in (worker..count).step_by(parallel) {
                let mut s = tokio::net::TcpStream::connect(listen)
                    .await
                    .expect("connect");
                if with_act_one {
                    let me = gossip_sieve::peer::identity::NodeIdentity::random();
                    let (act_one, _) = InitiatorStart::new(me.secret(), &node_id).act_one();
                    // The node may have closed already; then this write is refused.
                    let _ = s.write_all(&act_one).await;
                }
                let mut buf = [0u8; 64];
                let read = tokio::time::timeout(common::node::WAIT, s.read(&mut buf))
                    .await
                    .expect("node never closed a connection over the cap");
                answered += usize::from(read.unwrap_or(0) > 0);
            }
            answered
        });
    }
    let mut answered = 0;
    while let Some(n) = tasks.join_next().await {
        answered += n.expect("connect task");
    }
    answered
}

/// Connects `count` times, `parallel` at a time, completing the handshake and init and then
/// closing. Returns how many completed; the rest were refused.
async fn handshaking_connections(
    listen: std::net::SocketAddr,
    node_id: secp256k1::PublicKey,
    count: usize,
    parallel: usize,
) -> usize {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..parallel {
        tasks.spawn(async move {
            let mut completed = 0;
            for _ in (worker..count).step_by(parallel) {
                let stream = tokio::net::TcpStream::connect(listen)
                    .await
                    .expect("connect");
                let me = gossip_sieve::peer::identity::NodeIdentity::random();
                let Ok((mut reader, mut writer)) =
                    handshake_initiator(stream, me.secret(), &node_id, common::node::WAIT).await
                else {
                    continue;
                };
                // Over the cap the node closes before act two, so a finished handshake means
                // a session: it sends its init first.
                let init = reader.read_message().await.expect("read").expect("init");
                assert_eq!(bolt1::message_type(&init), Some(bolt1::INIT));
                let _ = writer.shutdown().await;
                completed += 1;
            }
            completed
        });
    }
    let mut completed = 0;
    while let Some(n) = tasks.join_next().await {
        completed += n.expect("connect task");
    }
    completed
}

#[test]
fn a_connection_storm_is_capped_by_max_peers_and_an_honest_peer_still_syncs() {
    const MAX_PEERS: usize = 4;
    const STORM: usize = 1000;
    let mut h = Harness::start(&["--max-peers", "4", "--handshake-timeout-ms", "5000"]);
    let listen = h.node.listen();
    let node_id = h.node.node_id;
    // A sampler watches the connected gauge for the whole storm.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let metrics = h.node.metrics;
        std::thread::spawn(move || {
            let mut highest = 0.0f64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = common::metrics::scrape(metrics);
                highest = highest.max(metric(&text, "gossip_sieve_peers_connected"));
            }
            highest
        })
    };
    // The honest peer and three holders fill every slot: the storm is refused at once.
    let holders: Vec<TestPeer> = (1..MAX_PEERS).map(|_| h.connect()).collect();
    let answered = h.rt.block_on(async {
        refused_connections(listen, node_id, STORM / 2, 32, false).await
            + refused_connections(listen, node_id, STORM / 2, 32, true).await
    });
    assert_eq!(answered, 0, "a connection over the cap got an answer");
    let text = h
        .node
        .wait_for(&disconnects("too_many_peers"), STORM as f64);
    assert_eq!(metric(&text, &disconnects("too_many_peers")), STORM as f64);
    // With slots free again, a storm of full handshakes: some get a session, the rest are
    // refused, each counted once under its reason.
    drop(holders);
    h.node
        .wait_for(&disconnects("remote_closed"), (MAX_PEERS - 1) as f64);
    let completed =
        h.rt.block_on(handshaking_connections(listen, node_id, STORM, 16));
    eprintln!("storm: {completed} of {STORM} handshakes got a session");
    assert!(
        completed > 0,
        "no handshake got through once slots were free"
    );
    let refused = (STORM - completed) as f64;
    let text = h.node.wait_until("every storm connection counted", |text| {
        metric(text, &disconnects("remote_closed")) == (MAX_PEERS - 1 + completed) as f64
            && metric(text, &disconnects("too_many_peers")) == STORM as f64 + refused
    });
    assert_eq!(metric(&text, "gossip_sieve_peers_connected"), 1.0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let highest = sampler.join().expect("sampler");
    assert!(
        highest <= MAX_PEERS as f64,
        "{highest} peers connected at once"
    );
    // The listener is still up: a new honest peer connects and syncs.
    let mut late = h.connect();
    let late_channel = h.new_channel();
    h.deliver(&mut late, &late_channel);
    let scids = h.rt.block_on(late.graph_scids());
    assert!(scids.contains(&late_channel.scid));
    h.finish();
}

#[test]
fn a_channel_announcement_with_a_bad_signature_is_answered_with_a_warning() {
    // BOLT 7, channel_announcement, the receiving node: "if bitcoin_signature_1,
    // bitcoin_signature_2, node_signature_1 OR node_signature_2 are invalid OR NOT correct:
    // SHOULD send a `warning`. MAY close the connection. MUST ignore the message."
    // (lnprototest's test_bad_announcement expects the warning too.)
    let mut h = Harness::start(&[]);
    let forged = bad_signature(&h.new_channel().announcement(), 3);
    let mut bad = h.connect();
    h.rt.block_on(async {
        bad.send(&forged).await;
        loop {
            let msg = bad.next().await.expect("closed before warning");
            if bolt1::message_type(&msg) == Some(bolt1::WARNING) {
                break;
            }
        }
    });
    assert_drops(&h.settle(), &[(CA, "invalid_signature", 1.0)]);
    h.finish();
}
