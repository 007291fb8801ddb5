//! BOLT 7 signature checks with a verify-only secp256k1 context and a per-shard cache of parsed
//! node keys (a compressed-key parse costs about a tenth of a verify, and node keys repeat
//! across every update and announcement of a node). Bitcoin keys appear in one announcement
//! each, so they bypass the cache instead of evicting node keys.

use std::num::NonZeroUsize;

use lru::LruCache;
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, Secp256k1, VerifyOnly};

use crate::graph::NodeId;
use crate::metrics::Metrics;
use crate::vocab::DropReason;
use crate::wire::gossip::{
    signed_digest, ChannelAnnouncement, ChannelUpdate, NodeAnnouncement,
    CHANNEL_ANNOUNCEMENT_SIGNED_FROM, SINGLE_SIG_SIGNED_FROM,
};

pub struct Verifier {
    secp: Secp256k1<VerifyOnly>,
    node_keys: LruCache<NodeId, PublicKey>,
}

impl Verifier {
    pub fn new(node_key_cache_cap: usize) -> Self {
        Verifier {
            secp: Secp256k1::verification_only(),
            node_keys: LruCache::new(
                NonZeroUsize::new(node_key_cache_cap.max(1)).unwrap_or(NonZeroUsize::MIN),
            ),
        }
    }

    fn node_key(&mut self, node_id: &NodeId) -> Result<PublicKey, DropReason> {
        if let Some(key) = self.node_keys.get(node_id) {
            return Ok(*key);
        }
        // A node id that is not a valid point can never sign anything: the message is
        // malformed, not merely badly signed.
        let key = PublicKey::from_slice(node_id).map_err(|_| DropReason::Malformed)?;
        self.node_keys.put(*node_id, key);
        Ok(key)
    }

    /// One signature check, counted in `gossip_sieve_signature_checks_total`. libsecp256k1
    /// rejects high-S signatures, which BOLT 7 requires: they are never normalised here.
    fn check(
        &self,
        metrics: &Metrics,
        digest: &Message,
        signature: &[u8; 64],
        key: &PublicKey,
    ) -> Result<(), DropReason> {
        let valid = Signature::from_compact(signature)
            .map(|sig| self.secp.verify_ecdsa(digest, &sig, key).is_ok())
            .unwrap_or(false);
        if valid {
            metrics.signature_valid.inc();
            Ok(())
        } else {
            metrics.signature_invalid.inc();
            Err(DropReason::InvalidSignature)
        }
    }

    /// BOLT 7: all four signatures over double-SHA256 of the message from offset 258.
    pub fn channel_announcement(
        &mut self,
        metrics: &Metrics,
        msg: &[u8],
        ann: &ChannelAnnouncement,
    ) -> Result<(), DropReason> {
        let digest = digest(msg, CHANNEL_ANNOUNCEMENT_SIGNED_FROM)?;
        let node_1 = self.node_key(&ann.node_id_1)?;
        let node_2 = self.node_key(&ann.node_id_2)?;
        let bitcoin_1 =
            PublicKey::from_slice(&ann.bitcoin_key_1).map_err(|_| DropReason::Malformed)?;
        let bitcoin_2 =
            PublicKey::from_slice(&ann.bitcoin_key_2).map_err(|_| DropReason::Malformed)?;
        self.check(metrics, &digest, &ann.node_signature_1, &node_1)?;
        self.check(metrics, &digest, &ann.node_signature_2, &node_2)?;
        self.check(metrics, &digest, &ann.bitcoin_signature_1, &bitcoin_1)?;
        self.check(metrics, &digest, &ann.bitcoin_signature_2, &bitcoin_2)
    }

    /// BOLT 7: one signature by `node_id` over double-SHA256 from offset 66.
    pub fn node_announcement(
        &mut self,
        metrics: &Metrics,
        msg: &[u8],
        ann: &NodeAnnouncement,
    ) -> Result<(), DropReason> {
        let digest = digest(msg, SINGLE_SIG_SIGNED_FROM)?;
        let key = self.node_key(&ann.node_id)?;
        self.check(metrics, &digest, &ann.signature, &key)
    }

    /// BOLT 7: one signature from offset 66 by the channel's `node_id_1` when
    /// `channel_flags & 1 == 0`, else `node_id_2`; the caller looks the signer up.
    pub fn channel_update(
        &mut self,
        metrics: &Metrics,
        msg: &[u8],
        update: &ChannelUpdate,
        signer: &NodeId,
    ) -> Result<(), DropReason> {
        let digest = digest(msg, SINGLE_SIG_SIGNED_FROM)?;
        let key = self.node_key(signer)?;
        self.check(metrics, &digest, &update.signature, &key)
    }
}

fn digest(msg: &[u8], from: usize) -> Result<Message, DropReason> {
    signed_digest(msg, from)
        .map(Message::from_digest)
        .ok_or(DropReason::Malformed)
}
