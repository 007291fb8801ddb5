//! Answers to BOLT 7 gossip queries from the graph we hold.

use crate::graph::Graph;
use crate::wire::queries::{EncodedList, QueryChannelRange, ReplyChannelRange};

/// Short ids per `reply_channel_range`: 8 bytes each must fit 65535 bytes with the header.
pub(super) const SCIDS_PER_REPLY: usize = 8000;

/// BOLT 7 `reply_channel_range` answers for `query`: our channels in the block range, split so
/// each reply fits one message.
pub(super) fn channel_range_replies(
    query: &QueryChannelRange,
    chain_hash: [u8; 32],
    graph: &Graph,
) -> Vec<ReplyChannelRange> {
    let first = query.first_blocknum;
    // BOLT 7: first_blocknum + number_of_blocks may overflow; treat the range as open-ended.
    let end = u64::from(first) + u64::from(query.number_of_blocks);
    let reply = |first_blocknum: u32, end: u64, ids: Vec<u64>, complete: u8| ReplyChannelRange {
        chain_hash: query.chain_hash,
        first_blocknum,
        number_of_blocks: u32::try_from(end.saturating_sub(u64::from(first_blocknum)))
            .unwrap_or(u32::MAX),
        sync_complete: complete,
        short_ids: EncodedList::Uncompressed(ids),
        timestamps: None,
        checksums: None,
        unknown_tlvs: Vec::new(),
    };
    // BOLT 7: "if it does not maintain up-to-date channel information for chain_hash: MUST
    // set sync_complete to 0."
    if query.chain_hash != chain_hash {
        return vec![reply(first, end, Vec::new(), 0)];
    }
    let scids = graph.scids_in_blocks(first, end);
    let chunks: Vec<&[u64]> = scids.chunks(SCIDS_PER_REPLY).collect();
    if chunks.is_empty() {
        return vec![reply(first, end, Vec::new(), 1)];
    }
    let block = |scid: u64| u32::try_from(scid >> 40).unwrap_or(u32::MAX);
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            // BOLT 7: replies are in ascending order, each first_blocknum not below the
            // previous one, the first not below the query's, the last reaching its end.
            let start = if i == 0 {
                first
            } else {
                chunk.first().map_or(first, |s| block(*s))
            };
            let stop = if i == last {
                end
            } else {
                chunk.last().map_or(end, |s| u64::from(block(*s)) + 1)
            };
            reply(start, stop, chunk.to_vec(), 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(byte: u8) -> [u8; 33] {
        let mut id = [byte; 33];
        id[0] = 2;
        id
    }

    fn scid(block: u64, tx: u64) -> u64 {
        (block << 40) | (tx << 16)
    }

    fn query(chain_hash: [u8; 32], first: u32, number: u32) -> QueryChannelRange {
        QueryChannelRange {
            chain_hash,
            first_blocknum: first,
            number_of_blocks: number,
            query_option: None,
            unknown_tlvs: Vec::new(),
        }
    }

    #[test]
    fn channel_range_replies_cover_the_query_with_our_channels() {
        let graph = Graph::new();
        for (i, block) in [100u64, 150, 150, 300].iter().enumerate() {
            graph.insert_channel(scid(*block, i as u64), node(1), node(2), None);
        }
        let chain = [7; 32];
        let replies = channel_range_replies(&query(chain, 120, 100), chain, &graph);
        assert_eq!(replies.len(), 1);
        let r = &replies[0];
        assert_eq!(
            (r.first_blocknum, r.number_of_blocks, r.sync_complete),
            (120, 100, 1)
        );
        assert_eq!(
            r.short_ids,
            EncodedList::Uncompressed(vec![scid(150, 1), scid(150, 2)])
        );
        let other = channel_range_replies(&query([9; 32], 0, u32::MAX), chain, &graph);
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].sync_complete, 0);
        assert_eq!(other[0].short_ids, EncodedList::Uncompressed(vec![]));
    }

    #[test]
    fn large_ranges_are_split_in_ascending_replies_that_fit_a_message() {
        let graph = Graph::new();
        for i in 0..(SCIDS_PER_REPLY as u64 * 2 + 5) {
            graph.insert_channel(scid(1000 + i / 3, i % 3), node(1), node(2), None);
        }
        let chain = [7; 32];
        let replies = channel_range_replies(&query(chain, 0, u32::MAX), chain, &graph);
        assert_eq!(replies.len(), 3);
        let mut previous_first = 0;
        let mut total = 0;
        for r in &replies {
            assert!(r.first_blocknum >= previous_first);
            previous_first = r.first_blocknum;
            assert!(r.serialize().len() <= 65535);
            let ids = r.short_ids.values().expect("uncompressed");
            total += ids.len();
            for id in ids {
                let block = id >> 40;
                assert!(block >= u64::from(r.first_blocknum));
                assert!(block < u64::from(r.first_blocknum) + u64::from(r.number_of_blocks));
            }
        }
        assert_eq!(total, SCIDS_PER_REPLY * 2 + 5);
        let last = replies.last().expect("last");
        assert_eq!(
            u64::from(last.first_blocknum) + u64::from(last.number_of_blocks),
            u64::from(u32::MAX)
        );
    }
}
