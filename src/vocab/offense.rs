//! Why a peer is banned: the offenses a misbehaviour score counts. `as_str` is the `reason`
//! label of `gossip_sieve_peer_bans_total` and the reason stored in the ban list, so the
//! metrics (which initialise every label) and the peer layer (which charges offenses) share one
//! list from below.

use serde::{Deserialize, Serialize};

use super::{DropReason, PeerAction};
use crate::wire::kind::GossipKind;

/// What a peer did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Offense {
    /// A channel_announcement whose own signatures failed. Bad signatures on channel_updates
    /// and node_announcements are never charged (see [`PeerAction`]).
    InvalidSignature,
    /// Bytes that do not parse as the message they claim to be, or violate BOLT 7 structure
    /// (node ids out of order).
    Malformed,
    /// Over the channel_update rate limit. No longer charged (a relayer cannot know how often
    /// the origin re-signs, and LND rate-limits only after validation); kept so ban lists and
    /// dashboards from earlier versions still read.
    Spam,
}

impl Offense {
    pub const ALL: [Offense; 3] = [Offense::InvalidSignature, Offense::Malformed, Offense::Spam];

    /// The `reason` label of `gossip_sieve_peer_bans_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Offense::InvalidSignature => "invalid_signature",
            Offense::Malformed => "malformed",
            Offense::Spam => "spam",
        }
    }

    /// The offense a dropped `kind` message counts as, if any: only what the sending peer
    /// alone is responsible for ([`PeerAction::Penalize`]); duplicates, stale messages, our
    /// own limits and other nodes' bad signatures cost the relaying peer nothing.
    pub fn from_drop(kind: GossipKind, reason: DropReason) -> Option<Offense> {
        if reason.peer_action(kind) != PeerAction::Penalize {
            return None;
        }
        Some(match reason {
            DropReason::InvalidSignature => Offense::InvalidSignature,
            _ => Offense::Malformed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offenses_from_drop_reasons() {
        use GossipKind::{ChannelAnnouncement, ChannelUpdate, NodeAnnouncement};
        assert_eq!(
            Offense::from_drop(ChannelAnnouncement, DropReason::InvalidSignature),
            Some(Offense::InvalidSignature)
        );
        // Checked against keys from an announcement the relayer may never have seen.
        for kind in [ChannelUpdate, NodeAnnouncement] {
            assert_eq!(Offense::from_drop(kind, DropReason::InvalidSignature), None);
        }
        for kind in GossipKind::ALL {
            assert_eq!(
                Offense::from_drop(kind, DropReason::BadNodeOrder),
                Some(Offense::Malformed)
            );
            assert_eq!(
                Offense::from_drop(kind, DropReason::Malformed),
                Some(Offense::Malformed)
            );
            for harmless in [
                DropReason::RateLimited,
                DropReason::RecentlyRejected,
                DropReason::Duplicate,
                DropReason::QueueFull,
                DropReason::DontForward,
            ] {
                assert_eq!(Offense::from_drop(kind, harmless), None, "{harmless:?}");
            }
        }
        let labels: Vec<_> = Offense::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(labels, ["invalid_signature", "malformed", "spam"]);
    }
}
