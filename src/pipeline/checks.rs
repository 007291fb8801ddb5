//! Cheap checks on the fixed fields of a gossip message, before dedup and long before any
//! signature work. Each costs a comparison; together they stop cross-chain spam, malformed
//! channel announcements and replayed ancient updates without touching secp256k1.

use std::time::Duration;

use crate::vocab::DropReason;
use crate::wire::gossip::Summary;

/// The policy the cheap checks apply; built once from the pipeline config.
#[derive(Clone, Debug)]
pub struct CheckPolicy {
    pub chain_hash: [u8; 32],
    pub max_future_skew: Duration,
    pub max_age: Option<Duration>,
}

impl CheckPolicy {
    pub fn check(&self, summary: &Summary, now: u32) -> Result<(), DropReason> {
        match summary {
            Summary::ChannelAnnouncement {
                chain_hash,
                node_id_1,
                node_id_2,
                ..
            } => {
                // BOLT 7: "if the specified chain_hash is unknown to the receiver: MUST ignore".
                if *chain_hash != self.chain_hash {
                    return Err(DropReason::WrongChain);
                }
                // BOLT 7: node_id_1 is the lexicographically lesser of the two compressed keys;
                // an announcement that breaks the order cannot be the channel's canonical one.
                if node_id_1 >= node_id_2 {
                    return Err(DropReason::BadNodeOrder);
                }
                Ok(())
            }
            Summary::ChannelUpdate {
                chain_hash,
                timestamp,
                dont_forward,
                ..
            } => {
                if *chain_hash != self.chain_hash {
                    return Err(DropReason::WrongChain);
                }
                // BOLT 7: `dont_forward` "indicates that the update is not to be forwarded";
                // it is for the direct peer of a private channel. We keep the public graph
                // only, so it is dropped before any work, as Core Lightning keeps such updates
                // out of its public gossip_store. The sender is not at fault.
                if *dont_forward {
                    return Err(DropReason::DontForward);
                }
                self.check_timestamp(*timestamp, now)
            }
            Summary::NodeAnnouncement { timestamp, .. } => self.check_timestamp(*timestamp, now),
        }
    }

    /// Non-normative, as LDK and Core Lightning do: more than `max_future_skew` ahead of our
    /// clock, or older than `max_age` (BOLT 7 lets a node prune channels whose newest update is
    /// two weeks old, so such an update would be pruned on arrival).
    fn check_timestamp(&self, timestamp: u32, now: u32) -> Result<(), DropReason> {
        let skew = u32::try_from(self.max_future_skew.as_secs()).unwrap_or(u32::MAX);
        if timestamp > now.saturating_add(skew) {
            return Err(DropReason::TimestampOutOfRange);
        }
        if let Some(max_age) = self.max_age {
            let age = u32::try_from(max_age.as_secs()).unwrap_or(u32::MAX);
            if timestamp < now.saturating_sub(age) {
                return Err(DropReason::TimestampOutOfRange);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_age: Option<Duration>) -> CheckPolicy {
        CheckPolicy {
            chain_hash: [1; 32],
            max_future_skew: Duration::from_secs(86_400),
            max_age,
        }
    }

    fn update(chain: u8, timestamp: u32) -> Summary {
        Summary::ChannelUpdate {
            chain_hash: [chain; 32],
            short_channel_id: 1,
            timestamp,
            channel_flags: 0,
            dont_forward: false,
        }
    }

    #[test]
    fn timestamp_window() {
        let now = 1_700_000_000;
        let p = policy(Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(p.check(&update(1, now), now), Ok(()));
        assert_eq!(p.check(&update(1, now + 86_400), now), Ok(()));
        assert_eq!(
            p.check(&update(1, now + 86_401), now),
            Err(DropReason::TimestampOutOfRange)
        );
        assert_eq!(
            p.check(&update(1, now - 15 * 86_400), now),
            Err(DropReason::TimestampOutOfRange)
        );
        assert_eq!(policy(None).check(&update(1, 5), now), Ok(()));
    }

    #[test]
    fn wrong_chain_and_node_order() {
        let p = policy(None);
        assert_eq!(p.check(&update(2, 5), 10), Err(DropReason::WrongChain));
        let mut low = [2u8; 33];
        low[1] = 1;
        let high = [3u8; 33];
        let ann = |a: [u8; 33], b: [u8; 33]| Summary::ChannelAnnouncement {
            chain_hash: [1; 32],
            short_channel_id: 1,
            node_id_1: a,
            node_id_2: b,
        };
        assert_eq!(p.check(&ann(low, high), 0), Ok(()));
        assert_eq!(p.check(&ann(high, low), 0), Err(DropReason::BadNodeOrder));
        assert_eq!(p.check(&ann(low, low), 0), Err(DropReason::BadNodeOrder));
    }
}
