//! Real mainnet gossip from Core Lightning's test stores (`../shared/gossip_store/`): every
//! channel_announcement verifies, and flipping any byte of one makes it fail.

use std::collections::HashMap;
use std::path::PathBuf;

use gossip_sieve::metrics::Metrics;
use gossip_sieve::peer::open_frames;
use gossip_sieve::pipeline::message_kind;
use gossip_sieve::pipeline::verify::Verifier;
use gossip_sieve::store::{open_input, ReaderOptions, StoreReader};
use gossip_sieve::wire::gossip::{ChannelAnnouncement, ChannelUpdate};

/// The one locator for the shared test data, the same file the unit tests use.
#[allow(dead_code)]
#[path = "../src/test_vectors.rs"]
mod test_vectors;

fn shared(name: &str) -> PathBuf {
    test_vectors::shared(&format!("gossip_store/{name}"))
}

/// Every gossip record of both parts, deleted ones included (a deleted announcement was still
/// validly signed). Replay's reader (`open_frames`) is checked to skip exactly the deleted ones.
fn mainnet_messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for part in ["gossip_store-part1.xz", "gossip_store-part2.xz"] {
        let input = open_input(shared(part)).expect("open store");
        let options = ReaderOptions {
            skip_deleted: false,
            verify_crc: false,
        };
        let mut deleted = 0;
        let mut gossip = 0;
        for record in StoreReader::with_options(input, options).expect("store header") {
            let record = record.expect("record");
            if message_kind(&record.msg).is_some() {
                gossip += 1;
                deleted += usize::from(record.is_deleted());
                out.push(record.msg);
            }
        }
        let replayed = open_frames(&shared(part)).expect("open store").count();
        assert_eq!(
            replayed,
            gossip - deleted,
            "{part}: replay skips deleted records"
        );
    }
    out
}

#[test]
fn every_mainnet_channel_announcement_verifies_and_any_flipped_byte_fails() {
    let metrics = Metrics::new(1).expect("metrics");
    let mut verifier = Verifier::new(1000);
    let messages = mainnet_messages();
    let announcements: Vec<&Vec<u8>> = messages
        .iter()
        .filter(|m| m.get(..2) == Some(&[0x01, 0x00][..]))
        .collect();
    assert_eq!(announcements.len(), 45 + 44, "both parts' announcements");

    let mut nodes_by_scid = HashMap::new();
    for msg in &announcements {
        let ann = ChannelAnnouncement::parse(msg).expect("parse mainnet announcement");
        verifier
            .channel_announcement(&metrics, msg, &ann)
            .unwrap_or_else(|e| panic!("scid {} failed: {e:?}", ann.short_channel_id));
        nodes_by_scid.insert(ann.short_channel_id, (ann.node_id_1, ann.node_id_2));
    }
    assert_eq!(
        metrics.signature_valid.get(),
        4 * announcements.len() as u64
    );

    // Every byte after the type: the four signatures and the whole signed region.
    for msg in announcements.iter().take(3) {
        for index in 2..msg.len() {
            let mut corrupted = msg.to_vec();
            corrupted[index] ^= 0x01;
            let verdict = ChannelAnnouncement::parse(&corrupted)
                .map_err(|_| ())
                .and_then(|ann| {
                    verifier
                        .channel_announcement(&metrics, &corrupted, &ann)
                        .map_err(|_| ())
                });
            assert!(verdict.is_err(), "flipping byte {index} still verified");
        }
    }
    // The rest: one flip in each part (signature, signed region start, middle, end).
    for msg in announcements.iter().skip(3) {
        for index in [2, 200, 258, msg.len() / 2 + 129, msg.len() - 1] {
            let mut corrupted = msg.to_vec();
            corrupted[index] ^= 0x80;
            let ann = ChannelAnnouncement::parse(&corrupted);
            if let Ok(ann) = ann {
                assert!(verifier
                    .channel_announcement(&metrics, &corrupted, &ann)
                    .is_err());
            }
        }
    }

    // channel_updates whose channel is in the same files verify against the right node: all
    // eight of the files (four of them deleted), each for a channel announced in the files.
    let updates: Vec<&Vec<u8>> = messages
        .iter()
        .filter(|m| m.get(..2) == Some(&[0x01, 0x02][..]))
        .collect();
    assert_eq!(updates.len(), 8, "channel_updates in both parts");
    let mut verified_updates = 0;
    for msg in updates {
        let update = ChannelUpdate::parse(msg).expect("parse mainnet update");
        if let Some((node_1, node_2)) = nodes_by_scid.get(&update.short_channel_id) {
            let signer = if update.channel_flags & 1 == 0 {
                node_1
            } else {
                node_2
            };
            verifier
                .channel_update(&metrics, msg, &update, signer)
                .expect("mainnet update verifies");
            verified_updates += 1;
        }
    }
    assert_eq!(
        verified_updates, 8,
        "every update's channel is announced in the files"
    );
}
