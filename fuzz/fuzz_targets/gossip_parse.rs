//! BOLT 7 gossip parsers: `summarize` and `GossipMessage::parse` never panic, and whatever
//! parses re-serializes to exactly the input and summarizes to the same kind and keys.
#![no_main]

use gossip_sieve::wire::gossip::{summarize, GossipMessage, Summary};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let summary = summarize(data);
    let Ok(msg) = GossipMessage::parse(data) else {
        return;
    };
    assert_eq!(msg.serialize(), data, "round trip");
    let summary = summary.expect("a message that parses also summarizes");
    assert_eq!(summary.kind(), msg.kind());
    match (summary, &msg) {
        (
            Summary::ChannelAnnouncement {
                short_channel_id, ..
            },
            GossipMessage::ChannelAnnouncement(ca),
        ) => assert_eq!(short_channel_id, ca.short_channel_id),
        (Summary::ChannelUpdate { timestamp, .. }, GossipMessage::ChannelUpdate(cu)) => {
            assert_eq!(timestamp, cu.timestamp)
        }
        (Summary::NodeAnnouncement { node_id, .. }, GossipMessage::NodeAnnouncement(na)) => {
            assert_eq!(node_id, na.node_id)
        }
        _ => panic!("summary and parse disagree on the kind"),
    }
});
