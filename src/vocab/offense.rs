//! Why a peer is banned: the offenses a misbehaviour score counts. `as_str` is the `reason`
//! label of `gossip_sieve_peer_bans_total` and the reason stored in the ban list, so the
//! metrics (which initialise every label) and the peer layer (which charges offenses) share one
//! list from below.

use serde::{Deserialize, Serialize};

use super::DropReason;

/// What a peer did wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Offense {
    /// A gossip signature failed (or a replay of a message that did).
    InvalidSignature,
    /// Bytes that do not parse as the message they claim to be, or violate BOLT 7 structure
    /// (node ids out of order).
    Malformed,
    /// Over the channel_update rate limit.
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

    /// The offense a dropped gossip message counts as, if any: duplicates, stale messages and
    /// our own queue limits are normal churn and cost the peer nothing.
    pub fn from_drop(reason: DropReason) -> Option<Offense> {
        match reason {
            DropReason::InvalidSignature | DropReason::RecentlyRejected => {
                Some(Offense::InvalidSignature)
            }
            DropReason::Malformed | DropReason::BadNodeOrder => Some(Offense::Malformed),
            DropReason::RateLimited => Some(Offense::Spam),
            DropReason::Duplicate
            | DropReason::Stale
            | DropReason::QueueFull
            | DropReason::WrongChain
            | DropReason::TimestampOutOfRange
            | DropReason::OrphanEvicted
            | DropReason::DependencyRejected => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offenses_from_drop_reasons() {
        assert_eq!(
            Offense::from_drop(DropReason::InvalidSignature),
            Some(Offense::InvalidSignature)
        );
        assert_eq!(
            Offense::from_drop(DropReason::BadNodeOrder),
            Some(Offense::Malformed)
        );
        assert_eq!(
            Offense::from_drop(DropReason::RateLimited),
            Some(Offense::Spam)
        );
        assert_eq!(Offense::from_drop(DropReason::Duplicate), None);
        assert_eq!(Offense::from_drop(DropReason::QueueFull), None);
        let labels: Vec<_> = Offense::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(labels, ["invalid_signature", "malformed", "spam"]);
    }
}
