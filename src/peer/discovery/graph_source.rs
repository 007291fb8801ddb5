//! Candidates from the graph: nodes whose node_announcement is in the store, with the
//! addresses read back from that record (the graph holds offsets, not message bytes). The
//! records were verified before they were stored, so the addresses are the node's own word;
//! whether we may dial them is [`super::address::dialable`]'s call.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use rand::seq::SliceRandom as _;

use crate::graph::{Graph, NodeId};
use crate::store::record::{RecordHeader, HEADER_LEN};
use crate::wire::address::Address;
use crate::wire::gossip::NodeAnnouncement;
use crate::wire::kind::NODE_ANNOUNCEMENT;

/// A node and the addresses it announced.
#[derive(Debug)]
pub struct Announced {
    pub node_id: NodeId,
    pub addresses: Vec<Address>,
}

/// Up to `limit` nodes sampled at random from the graph (LND's graph bootstrapper samples
/// nodes at random too), excluding those `skip` names, with their announced addresses.
/// Records that moved (a compaction since the offset was read) or do not parse are skipped.
pub fn sample(
    graph: &Graph,
    store_path: &Path,
    limit: usize,
    skip: impl Fn(&NodeId) -> bool,
) -> std::io::Result<Vec<Announced>> {
    let mut nodes = graph.stored_node_announcements();
    nodes.retain(|(node_id, _)| !skip(node_id));
    nodes.shuffle(&mut rand::thread_rng());
    nodes.truncate(limit);
    // Reading in file order turns random seeks into one forward pass.
    nodes.sort_unstable_by_key(|(_, offset)| *offset);
    let mut file = File::open(store_path)?;
    let mut out = Vec::with_capacity(nodes.len());
    for (node_id, offset) in nodes {
        let Some(msg) = read_record(&mut file, offset) else {
            continue;
        };
        let Ok(announcement) = NodeAnnouncement::parse(&msg) else {
            continue;
        };
        if announcement.node_id != node_id {
            continue;
        }
        out.push(Announced {
            node_id,
            addresses: announcement.addresses,
        });
    }
    Ok(out)
}

/// The message of the complete, crc-valid node_announcement record at `offset`, if that is
/// what is there.
fn read_record(file: &mut File, offset: u64) -> Option<Vec<u8>> {
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header).ok()?;
    let header = RecordHeader::decode(&header);
    if !header.is_completed() || header.is_deleted() {
        return None;
    }
    let mut msg = vec![0u8; usize::from(header.len)];
    file.read_exact(&mut msg).ok()?;
    let is_node_announcement = msg.get(..2) == Some(&NODE_ANNOUNCEMENT.to_be_bytes()[..]);
    (header.crc_matches(&msg) && is_node_announcement).then_some(msg)
}
