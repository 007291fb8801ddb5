//! Issue 11, items 6 and 8, through a real loopback BOLT 8 connection to `gossip-sieve run`:
//! wire strictness (a channel_update without `htlc_maximum_msat`, `dont_forward` updates, a
//! bad DNS hostname in a node_announcement) and bounded logging of what peers say in
//! `warning`/`error`. Each runs beside the bad-input harness's honest peer, which must stay
//! connected and lose nothing.

mod common;
#[path = "bad_input/harness.rs"]
mod harness;

use common::forge::recent;
use common::metrics::{disconnects, metric};
use gossip_sieve::wire::address::Address;
use gossip_sieve::wire::bolt1::{ErrorMessage, Warning};
use gossip_sieve::wire::gossip::ChannelUpdate;
use harness::{assert_drops, Harness, CU, NA};

/// BOLT 7 `message_flags` bit 1 (spelled out here so the test builds against the code before
/// the fix too).
const MESSAGE_FLAG_DONT_FORWARD: u8 = 1 << 1;

/// Scoring made visible: the first scored offense closes the session as `misbehaving`.
const ONE_STRIKE: &[&str] = &["--disconnect-score", "1", "--ban-score", "1000"];

#[test]
fn channel_update_without_htlc_maximum_msat_is_malformed() {
    let mut h = Harness::start(&[]);
    let c = h.new_channel();
    let mut bad = h.connect();
    h.deliver(&mut bad, &c);
    // BOLT 7: the origin "MUST set the `must_be_one` bit in `message_flags`" and
    // "MUST set `htlc_maximum_msat`". Signed properly, with and without trailing bytes where
    // the field would be: Core Lightning's gossmap would read those as the maximum.
    let mut legacy = c.update_fields(0, recent() + 1);
    legacy.message_flags = 0;
    legacy.htlc_maximum_msat = None;
    let mut legacy_padded = c.update_fields(1, recent() + 1);
    legacy_padded.message_flags = 0;
    legacy_padded.htlc_maximum_msat = None;
    legacy_padded.excess = vec![0xFF; 8];
    h.rt.block_on(async {
        bad.send(&c.sign_update(&legacy)).await;
        bad.send(&c.sign_update(&legacy_padded)).await;
        bad.barrier().await;
    });
    let text = h.settle();
    assert_drops(&text, &[(CU, "malformed", 2.0)]);
    let (_, dir) = h.finish();
    let stored = common::live_store_messages(&dir.path().join("data"));
    for msg in stored
        .iter()
        .filter(|m| m.get(..2) == Some(&[0x01, 0x02][..]))
    {
        let update = ChannelUpdate::parse(msg).expect("every stored update parses");
        assert!(update.htlc_maximum_msat.is_some());
    }
}

#[test]
fn dont_forward_updates_are_dropped_unscored_and_never_stored() {
    let mut h = Harness::start(ONE_STRIKE);
    let c = h.new_channel();
    let mut relayer = h.connect();
    h.deliver(&mut relayer, &c);
    let mut private = c.update_fields(0, recent() + 1);
    private.message_flags |= MESSAGE_FLAG_DONT_FORWARD;
    let private = c.sign_update(&private);
    h.rt.block_on(async {
        for _ in 0..3 {
            relayer.send(&private).await;
        }
        relayer.barrier().await;
    });
    let text = h.settle();
    assert_drops(&text, &[(CU, "dont_forward", 3.0)]);
    // Not scored: the relayer is still connected (one scored offense would have closed it).
    assert_eq!(metric(&text, &disconnects("misbehaving")), 0.0);
    let other = h.new_channel();
    h.deliver(&mut relayer, &other);
    let (_, dir) = h.finish();
    assert!(
        !common::live_store_messages(&dir.path().join("data")).contains(&private),
        "a dont_forward update reached the public store"
    );
}

#[test]
fn a_bad_dns_hostname_does_not_make_a_node_announcement_malformed() {
    let mut h = Harness::start(ONE_STRIKE);
    let c = h.new_channel();
    let mut relayer = h.connect();
    h.deliver(&mut relayer, &c);
    // Non-ASCII bytes and a space in the hostname, then a good IPv4 address after it.
    let mut na = c.node_fields(0, recent() + 1);
    na.addresses = vec![
        Address::Dns {
            hostname: b"bad host\xc3\xa9".to_vec(),
            port: 9735,
        },
        Address::Ipv4 {
            addr: [192, 0, 2, 1],
            port: 9735,
        },
    ];
    let na = c.sign_node(0, &na);
    h.rt.block_on(async {
        relayer.send(&na).await;
        relayer.barrier().await;
    });
    h.expect_accepted(NA, 1);
    let text = h.settle();
    assert_drops(&text, &[]);
    assert_eq!(metric(&text, &disconnects("misbehaving")), 0.0);
    let (_, dir) = h.finish();
    assert!(
        common::live_store_messages(&dir.path().join("data")).contains(&na),
        "the node_announcement was not stored byte for byte"
    );
}

#[test]
fn a_flood_of_long_peer_warnings_is_logged_throttled_and_truncated() {
    const FLOOD: usize = 500;
    // Reads unpaced, so the 32 MB flood arrives in seconds rather than at 1 MiB/s.
    let mut h = Harness::start(&["--peer-rate-bytes-per-sec", "1000000000"]);
    let mut talker = h.connect();
    // BOLT 1 lets the data run to the frame limit.
    let long = "A".repeat(65_000);
    let warning = Warning(ErrorMessage::connection(&long)).serialize();
    h.rt.block_on(async {
        for _ in 0..FLOOD {
            talker.send(&warning).await;
        }
        talker.barrier().await;
    });
    h.node.assert_alive_without_panic();
    let lines = h.node.log_lines("peer sent a");
    assert!(!lines.is_empty(), "the first warning was not logged at all");
    // One line per 10 s interval at most: the whole flood takes far less than a minute.
    assert!(
        lines.len() <= 6,
        "{} log lines for {FLOOD} warnings",
        lines.len()
    );
    let longest = lines.iter().map(|(len, _)| *len).max().unwrap_or(0);
    assert!(longest < 1_000, "a log line of {longest} bytes");
    // The session is not ended by warnings, and the honest peer syncs on.
    let c = h.new_channel();
    h.deliver(&mut talker, &c);
    h.finish();
}

/// Issue 11 item 3: orphans carrying the most excess bytes a frame allows. Parked orphans are
/// never verified or scored, so only the pending maps' byte cap stands between such a flood and
/// hundreds of MB (10,000 × 65 KB per map with the count cap alone).
#[test]
fn maximum_size_orphans_are_capped_in_bytes_not_only_in_count() {
    // 1 MiB per map: sixteen 65,535-byte orphans fit, not more.
    let mut h = Harness::start(&["--pending-bytes-cap", "1048576"]);
    let orphans: Vec<Vec<u8>> = (0..100)
        .map(|_| {
            let c = h.new_channel();
            let mut update = c.update_fields(0, recent());
            // type and fields (138 bytes with htlc_maximum_msat) and excess fill one frame.
            update.excess = vec![0xAB; 65_535 - 138];
            let signed = c.sign_update(&update);
            assert_eq!(signed.len(), 65_535);
            signed
        })
        .collect();
    let mut bad = h.connect();
    h.rt.block_on(async {
        bad.send_all(&orphans).await;
        bad.barrier().await;
    });
    let text = h.settle();
    let parked = metric(&text, &common::metrics::pending(CU));
    assert_eq!(parked, 16.0, "65,535-byte orphans parked under a 1 MiB cap");
    assert_drops(&text, &[(CU, "orphan_evicted", 100.0 - parked)]);
    assert_eq!(
        metric(&text, "gossip_sieve_limit{name=\"pending_bytes_per_map\"}"),
        1_048_576.0
    );
    h.finish();
}

/// Issue 11 item 3: a per-peer quota on parked orphans. One peer floods updates for channels
/// nobody announced; another peer's orphans (updates sent ahead of their announcements, as
/// peers may during a sync) must still be parked when their channels arrive. Without the quota
/// the flood evicts them (least recently used first) and the honest updates are lost.
#[test]
fn one_peer_flooding_orphans_cannot_evict_another_peers_orphans() {
    const HONEST: usize = 20;
    const FLOOD: usize = 300;
    const QUOTA: usize = 50;
    let mut h = Harness::start(&[
        "--pending-updates-cap",
        "100",
        "--pending-per-peer-cap",
        &QUOTA.to_string(),
    ]);
    let honest_channels: Vec<_> = (0..HONEST).map(|_| h.new_channel()).collect();
    let mut early = h.connect();
    h.rt.block_on(async {
        for c in &honest_channels {
            early.send(&c.update(0, recent())).await;
        }
        early.barrier().await;
    });
    let flood: Vec<Vec<u8>> = (0..FLOOD)
        .map(|_| h.new_channel().update(0, recent()))
        .collect();
    let mut flooder = h.connect();
    h.rt.block_on(async {
        flooder.send_all(&flood).await;
        flooder.barrier().await;
    });
    let text = h.settle();
    let quota_drops = (FLOOD - QUOTA) as f64;
    assert_eq!(
        metric(&text, &common::metrics::pending(CU)),
        (HONEST + QUOTA) as f64
    );
    assert_drops(&text, &[(CU, "orphan_quota", quota_drops)]);
    // Now the honest channels arrive: every parked update is released and accepted.
    h.rt.block_on(async {
        for c in &honest_channels {
            early.send(&c.announcement()).await;
        }
        early.barrier().await;
    });
    h.expect_accepted(harness::CA, HONEST);
    h.expect_accepted(CU, HONEST);
    let text = h.settle();
    assert_drops(&text, &[(CU, "orphan_quota", quota_drops)]);
    assert_eq!(metric(&text, &common::metrics::pending(CU)), QUOTA as f64);
    assert_eq!(
        metric(&text, "gossip_sieve_limit{name=\"pending_per_peer\"}"),
        QUOTA as f64
    );
    h.finish();
}
