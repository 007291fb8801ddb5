//! Honest peers are never punished for gossip they relayed in good faith, over real loopback
//! BOLT 8 connections to `gossip-sieve run`. Each test carries out an attack that, before the
//! policy in `pipeline::PeerAction`, got honest peers disconnected and banned: the relaying
//! peer must stay connected and unscored, a bystander must be unaffected, and nothing accepted
//! may be lost.

mod common;
#[path = "bad_input/harness.rs"]
mod harness;

use common::forge::{bad_signature, recent, Channel};
use common::metrics::{disconnects, metric, relevant, sum_matching};
use common::peer::TestPeer;
use gossip_sieve::peer::identity::NodeIdentity;
use gossip_sieve::wire::bolt1::{self, Ping, Pong};
use harness::{assert_drops, Harness, CA, CU};

/// Low thresholds, so that the old policy would ban within a few dozen messages.
const STRICT: [&str; 4] = ["--disconnect-score", "5", "--ban-score", "10"];

const BANS: &str = "gossip_sieve_peer_bans_total";

/// Sends a ping and collects the types of everything the node sends before its pong: proves
/// the connection is still open and that the node has handled all that was sent before.
async fn types_until_pong(peer: &mut TestPeer) -> Vec<u16> {
    let ping = Ping {
        num_pong_bytes: 5,
        ignored_len: 0,
    };
    peer.send(&ping.serialize()).await;
    let mut types = Vec::new();
    loop {
        let msg = peer
            .next()
            .await
            .expect("the node closed the honest peer's connection");
        let msg_type = bolt1::message_type(&msg).expect("typed message");
        if msg_type == bolt1::PONG && Pong::parse(&msg).map(|p| p.ignored_len) == Ok(5) {
            return types;
        }
        types.push(msg_type);
    }
}

fn assert_nobody_punished(text: &str) {
    assert_eq!(sum_matching(text, BANS), 0.0, "{}", relevant(text));
    assert_eq!(
        metric(text, &disconnects("misbehaving")),
        0.0,
        "{}",
        relevant(text)
    );
}

#[test]
fn real_scids_announced_first_with_an_attackers_keys_get_no_relaying_peer_disconnected_or_banned() {
    let mut h = Harness::start(&STRICT);
    // 30 real channels, and the attacker's announcements of the same scids with its own keys.
    let real: Vec<Channel> = (0..30).map(|_| h.new_channel()).collect();
    let fake: Vec<Channel> = real.iter().map(|c| Channel::new(c.scid)).collect();
    let mut attacker = h.connect();
    h.rt.block_on(async {
        for channel in &fake {
            attacker.send(&channel.announcement()).await;
        }
        attacker.barrier().await;
    });
    h.expect_accepted(CA, fake.len());
    h.settle();

    // An honest peer relays the genuine gossip: its announcements are duplicates now, and its
    // updates, checked against the attacker's keys, fail. Then it relays them again (after a
    // reconnect, say), and finally a new channel, which must still be accepted.
    let at = recent();
    let genuine_updates: Vec<Vec<u8>> = real
        .iter()
        .flat_map(|c| [c.update(0, at), c.update(1, at)])
        .collect();
    let mut relayer = h.connect();
    let mut warned: Vec<u16> = h.rt.block_on(async {
        for channel in &real {
            relayer.send(&channel.announcement()).await;
        }
        relayer.send_all(&genuine_updates).await;
        types_until_pong(&mut relayer).await
    });
    // Judged before the copies arrive (else they are in-flight duplicates, not resends).
    h.settle();
    warned.extend(h.rt.block_on(async {
        relayer.send_all(&genuine_updates).await;
        types_until_pong(&mut relayer).await
    }));
    let text = h.settle();
    // The shards judge the updates after the session admitted them, and the session acts on
    // their verdicts at its next message or tick: wait for the warning.
    let deadline = std::time::Instant::now() + common::node::WAIT;
    while !warned.contains(&bolt1::WARNING) && std::time::Instant::now() < deadline {
        warned.extend(h.rt.block_on(types_until_pong(&mut relayer)));
    }
    assert_drops(
        &text,
        &[
            (CA, "duplicate", real.len() as f64),
            (CU, "invalid_signature", genuine_updates.len() as f64),
            (CU, "recently_rejected", genuine_updates.len() as f64),
        ],
    );
    assert_nobody_punished(&text);
    // BOLT 7 asks for a warning on a bad channel_update signature; we send at most one per
    // interval, not one per update.
    let warnings = warned.iter().filter(|t| **t == bolt1::WARNING).count();
    assert!(
        (1..=3).contains(&warnings),
        "{warnings} warnings: {warned:?}"
    );
    assert!(!warned.contains(&bolt1::ERROR), "{warned:?}");

    // Still connected and listened to.
    let fresh = h.new_channel();
    h.deliver(&mut relayer, &fresh);
    let (text, _dir) = h.finish();
    assert_nobody_punished(&text);
}

#[test]
fn resending_a_rejected_message_is_not_charged_again() {
    let mut h = Harness::start(&STRICT);
    let forged = bad_signature(&h.new_channel().announcement(), 0);
    let mut peer = h.connect();
    // The first copy is the sender's own fault (1 point of 5)...
    h.rt.block_on(async {
        peer.send(&forged).await;
        types_until_pong(&mut peer).await;
    });
    h.settle();
    // ... the next 20 (once the first was judged) are resends dropped before any check, and
    // charging them got this peer disconnected at the 5th.
    h.rt.block_on(async {
        for _ in 0..20 {
            peer.send(&forged).await;
        }
        types_until_pong(&mut peer).await;
    });
    let text = h.settle();
    assert_drops(
        &text,
        &[
            (CA, "invalid_signature", 1.0),
            (CA, "recently_rejected", 20.0),
        ],
    );
    assert_nobody_punished(&text);
    h.finish();
}

#[test]
fn a_configured_peer_that_misbehaves_is_disconnected_but_never_banned() {
    // The operator configured this peer (`--peer`); the address is closed, so the node's own
    // dials fail and back off, and the peer reaches us inbound under the same node id.
    let configured = NodeIdentity::random();
    let peer_arg = format!("{}@127.0.0.1:9", configured.node_id_hex());
    let mut args = vec!["--peer", &peer_arg];
    args.extend(["--disconnect-score", "2", "--ban-score", "4"]);
    let mut h = Harness::start(&args);
    let forgeries: Vec<Vec<u8>> = (0..12)
        .map(|_| bad_signature(&h.new_channel().announcement(), 1))
        .collect();
    let sessions = h.rt.block_on(async {
        let mut sessions = 0;
        // Four sessions of three forgeries each: a stranger is banned in the second.
        for batch in forgeries.chunks(3) {
            let me = NodeIdentity::from_secret(*configured.secret());
            let mut peer = TestPeer::connect_as(h.node.listen(), &h.node.node_id, &me)
                .await
                .expect("a configured peer was refused: banned");
            sessions += 1;
            for msg in batch {
                if peer.writer.write_message(msg).await.is_err() {
                    break;
                }
            }
            let types = peer.read_to_close().await;
            assert!(types.contains(&bolt1::WARNING), "{types:?}");
        }
        sessions
    });
    assert_eq!(sessions, 4);
    let text = h.node.wait_for(&disconnects("misbehaving"), 4.0);
    assert_eq!(sum_matching(&text, BANS), 0.0, "{}", relevant(&text));
    h.finish();
}

#[test]
fn forged_updates_cannot_drain_a_real_channels_rate_limit_bucket() {
    // The default limit: 10 updates per channel direction back to back, then 1 a minute.
    let mut h = Harness::start(&[]);
    let channel = h.new_channel();
    let mut origin = h.connect();
    h.deliver(&mut origin, &channel);
    let at = recent();
    // Twenty forgeries for the real channel's direction 0, each newer than the last (none a
    // keep-alive), each with a broken signature.
    let forgeries: Vec<Vec<u8>> = (1..=20)
        .map(|i| bad_signature(&channel.update(0, at + i), 0))
        .collect();
    let mut attacker = h.connect();
    h.rt.block_on(async {
        attacker.send_all(&forgeries).await;
        attacker.barrier().await;
    });
    h.settle();
    // The channel's owner re-signs its policy: it must be taken, not dropped as rate_limited
    // because forgeries emptied the bucket.
    h.rt.block_on(async {
        origin.send(&channel.update(0, at + 30)).await;
        origin.barrier().await;
    });
    h.expect_accepted(CU, 1);
    let text = h.settle();
    assert_drops(&text, &[(CU, "invalid_signature", forgeries.len() as f64)]);
    assert_nobody_punished(&text);
    h.finish();
}
