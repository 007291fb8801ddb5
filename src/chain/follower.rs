//! The tip follower: polls the source's best block, finds spends of the funding outpoints it
//! watches, and reports channels to forget once the forget delay has passed. Handles reorgs:
//! blocks that left the best chain are unwound, so a close that was reorganised away is
//! cancelled and a channel still open is never forgotten.
//!
//! BOLT 7, channel_announcement, the receiving node: "once its funding output has been spent
//! OR reorganized out: SHOULD forget a channel after a 72-block delay." (It was 12 blocks
//! before splicing; older implementations still use 12, hence the configurable delay.)

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint};
use parking_lot::Mutex;

use crate::wire::scid::ShortChannelId;

use super::error::ChainError;
use super::source::{ChainSource, ChainTip};

/// The follower's knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerConfig {
    /// Blocks between a funding output's spend (or reorg-out) and forgetting the channel.
    pub forget_delay: u32,
    /// Blocks of history kept to find a fork point; a reorg deeper than this is treated as
    /// one reaching the oldest block kept. Must exceed `forget_delay` so that a close can be
    /// unwound until the channel is forgotten.
    pub history: u32,
    /// Blocks processed per poll at most (catching up after downtime spreads over polls).
    pub max_blocks_per_poll: u32,
    /// Watched outpoints checked per poll at most when the backend cannot list a block's spends.
    pub spent_checks_per_poll: usize,
}

impl Default for FollowerConfig {
    fn default() -> Self {
        FollowerConfig {
            forget_delay: 72,
            history: 144,
            max_blocks_per_poll: 144,
            spent_checks_per_poll: 1_000,
        }
    }
}

/// Why a watched channel is closing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCause {
    /// Its funding output was spent in a block.
    Spent,
    /// Its funding transaction left the best chain.
    ReorganizedOut,
}

#[derive(Clone, Copy, Debug)]
struct Closing {
    /// Height of the block that spent it (or the tip when it was reorganised out).
    height: u32,
    cause: CloseCause,
}

/// What one poll found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TipReport {
    pub tip: Option<ChainTip>,
    /// Height of the last block both old and new best chains share, when a reorg happened.
    pub reorg_fork: Option<u32>,
    /// Channels whose funding output was seen spent or reorganised out in this poll.
    pub closed: Vec<(ShortChannelId, CloseCause)>,
    /// Channels whose close was reorganised away: open again.
    pub reopened: Vec<ShortChannelId>,
    /// Channels whose forget delay has passed: remove them from the graph and the store.
    pub forget: Vec<ShortChannelId>,
}

/// The funding outpoints being watched, shared with whoever accepts channels.
#[derive(Default)]
struct WatchIndex {
    by_scid: HashMap<ShortChannelId, OutPoint>,
    /// Spend lookups by a 64-bit digest of the outpoint, confirmed through `by_scid`: 16-byte
    /// entries instead of 48 for the whole outpoint, 3 MB less at mainnet's 54,000 channels
    /// (the node's largest chain table). An outpoint whose digest another watched outpoint
    /// already holds goes to `colliding` (none is expected: funding txids are hashes of real
    /// transactions, and a collision costs a lookup, never a missed spend).
    by_digest: HashMap<u64, ShortChannelId>,
    colliding: HashMap<OutPoint, ShortChannelId>,
    /// Watched channels found spent at start (at the height given), for the follower to count
    /// their forget delay from.
    spent_earlier: Vec<(ShortChannelId, u32)>,
}

fn outpoint_digest(outpoint: &OutPoint) -> u64 {
    let txid = outpoint.txid.as_byte_array();
    let mut head = [0u8; 8];
    head.copy_from_slice(&txid[..8]);
    u64::from_le_bytes(head).rotate_left(20) ^ u64::from(outpoint.vout)
}

impl WatchIndex {
    fn insert(&mut self, scid: ShortChannelId, outpoint: OutPoint) {
        if let Some(old) = self.by_scid.insert(scid, outpoint) {
            self.forget_outpoint(&old, scid);
        }
        let digest = outpoint_digest(&outpoint);
        match self.by_digest.get(&digest) {
            Some(holder) if self.by_scid.get(holder) != Some(&outpoint) => {
                self.colliding.insert(outpoint, scid);
            }
            _ => {
                self.by_digest.insert(digest, scid);
            }
        }
    }

    /// Drops `outpoint`'s entry if it still names `scid` (whose `by_scid` entry is gone or
    /// points elsewhere now).
    fn forget_outpoint(&mut self, outpoint: &OutPoint, scid: ShortChannelId) {
        if self.colliding.get(outpoint) == Some(&scid) {
            self.colliding.remove(outpoint);
            return;
        }
        let digest = outpoint_digest(outpoint);
        if self.by_digest.get(&digest) == Some(&scid) {
            self.by_digest.remove(&digest);
            // A colliding outpoint with this digest takes the freed place.
            let heir = self
                .colliding
                .iter()
                .find(|(o, _)| outpoint_digest(o) == digest)
                .map(|(o, s)| (*o, *s));
            if let Some((heir_outpoint, heir_scid)) = heir {
                self.colliding.remove(&heir_outpoint);
                self.by_digest.insert(digest, heir_scid);
            }
        }
    }

    fn scid_of(&self, outpoint: &OutPoint) -> Option<ShortChannelId> {
        match self.by_digest.get(&outpoint_digest(outpoint)) {
            Some(scid) if self.by_scid.get(scid) == Some(outpoint) => Some(*scid),
            _ => self.colliding.get(outpoint).copied(),
        }
    }
}

/// A cheap, thread-safe handle to add or remove watched channels (callable from any thread).
#[derive(Clone, Default)]
pub struct WatchHandle {
    index: Arc<Mutex<WatchIndex>>,
}

impl WatchHandle {
    /// Watches the funding output of an accepted channel.
    pub fn watch(&self, scid: ShortChannelId, outpoint: OutPoint) {
        self.index.lock().insert(scid, outpoint);
    }

    /// Watches a channel whose funding output was already spent at `spend_height` when we
    /// found it (loaded from the store after downtime): the follower forgets it once the
    /// forget delay counted from that height has passed (at its next poll if it already has).
    pub fn watch_spent(&self, scid: ShortChannelId, outpoint: OutPoint, spend_height: u32) {
        self.watch(scid, outpoint);
        self.index.lock().spent_earlier.push((scid, spend_height));
    }

    pub fn is_watched(&self, scid: ShortChannelId) -> bool {
        self.index.lock().by_scid.contains_key(&scid)
    }

    /// Stops watching (the channel was forgotten by other means).
    pub fn unwatch(&self, scid: ShortChannelId) {
        let mut index = self.index.lock();
        if let Some(outpoint) = index.by_scid.remove(&scid) {
            index.forget_outpoint(&outpoint, scid);
        }
        index.spent_earlier.retain(|(s, _)| *s != scid);
    }

    pub fn len(&self) -> usize {
        self.index.lock().by_scid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn scid_of(&self, outpoint: &OutPoint) -> Option<ShortChannelId> {
        self.index.lock().scid_of(outpoint)
    }

    /// The funding outpoint of a watched (validated, open) channel.
    pub fn outpoint_of(&self, scid: ShortChannelId) -> Option<OutPoint> {
        self.index.lock().by_scid.get(&scid).copied()
    }
}

/// Follows the best chain for one chain source.
pub struct TipFollower {
    source: Arc<dyn ChainSource>,
    config: FollowerConfig,
    watch: WatchHandle,
    /// Hashes of the blocks processed, by height (at most `history` of them).
    history: BTreeMap<u32, BlockHash>,
    closing: HashMap<ShortChannelId, Closing>,
    /// Round-robin position for backends that cannot list a block's spends.
    spent_cursor: usize,
}

impl TipFollower {
    pub fn new(source: Arc<dyn ChainSource>, config: FollowerConfig) -> Self {
        TipFollower {
            source,
            config,
            watch: WatchHandle::default(),
            history: BTreeMap::new(),
            closing: HashMap::new(),
            spent_cursor: 0,
        }
    }

    pub fn watch_handle(&self) -> WatchHandle {
        self.watch.clone()
    }

    /// Channels currently counting down to being forgotten.
    pub fn closing_count(&self) -> usize {
        self.closing.len()
    }

    /// One poll: follow the tip from the last processed block, unwinding a reorg if the chain
    /// we followed is no longer the best one.
    pub async fn poll(&mut self) -> Result<TipReport, ChainError> {
        let tip = self.source.tip().await?;
        let mut report = TipReport {
            tip: Some(tip),
            ..TipReport::default()
        };
        let Some((&last_height, &last_hash)) = self.history.iter().next_back() else {
            // First poll: start following at the tip, remembering the blocks below it so a
            // reorg reaching under our start is still unwound exactly. Spends before the tip
            // are caught by the validator's unspent check when channels are accepted.
            let oldest = tip.height.saturating_sub(self.config.history.max(1) - 1);
            for height in oldest..tip.height {
                if let Some(hash) = self.source.block_hash(height).await? {
                    self.history.insert(height, hash);
                }
            }
            self.history.insert(tip.height, tip.hash);
            return Ok(report);
        };
        if last_hash == tip.hash {
            self.collect_forgets(tip.height, &mut report);
            return Ok(report);
        }

        // Find the highest processed block still on the best chain.
        let mut fork = None;
        for (&height, &hash) in self.history.iter().rev() {
            if height > tip.height {
                continue;
            }
            if self.source.block_hash(height).await? == Some(hash) {
                fork = Some(height);
                break;
            }
        }
        let fork = match fork {
            Some(fork) => fork,
            None => {
                let oldest = *self.history.keys().next().unwrap_or(&tip.height);
                tracing::warn!(
                    oldest,
                    tip = tip.height,
                    "reorg deeper than the kept history"
                );
                oldest.saturating_sub(1)
            }
        };
        if fork < last_height {
            self.unwind_to(fork, tip.height, &mut report).await?;
        }

        // Connect the new blocks, a bounded number per poll.
        let first = fork + 1;
        let last = tip
            .height
            .min(first.saturating_add(self.config.max_blocks_per_poll.saturating_sub(1)));
        let mut ask_per_outpoint = None;
        for height in first..=last {
            let Some(hash) = self.source.block_hash(height).await? else {
                break;
            };
            match self.source.block_spends(hash).await? {
                Some(spends) => {
                    for outpoint in spends {
                        if let Some(scid) = self.watch.scid_of(&outpoint) {
                            self.close(scid, height, CloseCause::Spent, &mut report);
                        }
                    }
                }
                None => ask_per_outpoint = Some(height),
            }
            self.history.insert(height, hash);
        }
        // Once per poll, not per block: the batch is bounded, catching up must not multiply it.
        if let Some(height) = ask_per_outpoint {
            self.check_spent_by_outpoint(height, &mut report).await?;
        }
        while self.history.len() > self.config.history.max(1) as usize {
            self.history.pop_first();
        }
        let processed = self
            .history
            .keys()
            .next_back()
            .copied()
            .unwrap_or(tip.height);
        self.collect_forgets(processed, &mut report);
        Ok(report)
    }

    fn close(
        &mut self,
        scid: ShortChannelId,
        height: u32,
        cause: CloseCause,
        report: &mut TipReport,
    ) {
        if self.closing.contains_key(&scid) {
            return;
        }
        self.closing.insert(scid, Closing { height, cause });
        report.closed.push((scid, cause));
    }

    /// Backends without a block's spends: ask about a bounded batch of watched outpoints.
    async fn check_spent_by_outpoint(
        &mut self,
        height: u32,
        report: &mut TipReport,
    ) -> Result<(), ChainError> {
        let batch: Vec<(OutPoint, ShortChannelId)> = {
            let index = self.watch.index.lock();
            let total = index.by_scid.len();
            if total == 0 {
                return Ok(());
            }
            let start = self.spent_cursor % total;
            let take = self.config.spent_checks_per_poll.min(total);
            self.spent_cursor = start + take;
            index
                .by_scid
                .iter()
                .cycle()
                .skip(start)
                .take(take)
                .map(|(s, o)| (*o, *s))
                .collect()
        };
        for (outpoint, scid) in batch {
            if self.closing.contains_key(&scid) {
                continue;
            }
            if !self.source.is_unspent(outpoint).await? {
                self.close(scid, height, CloseCause::Spent, report);
            }
        }
        Ok(())
    }

    /// Unwinds processed blocks above `fork`: closes recorded in them are cancelled, and
    /// watched channels funded above the fork are re-checked on the new chain.
    async fn unwind_to(
        &mut self,
        fork: u32,
        tip_height: u32,
        report: &mut TipReport,
    ) -> Result<(), ChainError> {
        report.reorg_fork = Some(fork);
        self.history.retain(|height, _| *height <= fork);
        let mut reopened: Vec<ShortChannelId> = self
            .closing
            .iter()
            .filter(|(_, c)| c.height > fork && c.cause == CloseCause::Spent)
            .map(|(scid, _)| *scid)
            .collect();
        // Funding reorganised out earlier may be back: re-check those too.
        let reorged_out: Vec<ShortChannelId> = self
            .closing
            .iter()
            .filter(|(_, c)| c.cause == CloseCause::ReorganizedOut)
            .map(|(scid, _)| *scid)
            .collect();
        for scid in &reopened {
            self.closing.remove(scid);
        }
        for scid in reorged_out {
            if self.funding_still_there(scid).await? {
                self.closing.remove(&scid);
                reopened.push(scid);
            }
        }
        // Channels funded above the fork: is the funding output still where the scid says?
        let funded_above: Vec<ShortChannelId> = self
            .watch
            .index
            .lock()
            .by_scid
            .keys()
            .filter(|scid| scid.block > fork)
            .copied()
            .collect();
        for scid in funded_above {
            if !self.closing.contains_key(&scid) && !self.funding_still_there(scid).await? {
                self.close(scid, tip_height, CloseCause::ReorganizedOut, report);
            }
        }
        reopened.sort();
        report.reopened = reopened;
        Ok(())
    }

    /// Whether the watched funding outpoint of `scid` is still in the block and at the index
    /// its scid names on the best chain (and unspent there: a spend above the fork is found
    /// again when the new blocks are connected).
    async fn funding_still_there(&self, scid: ShortChannelId) -> Result<bool, ChainError> {
        let Some(outpoint) = self.watch.outpoint_of(scid) else {
            return Ok(false);
        };
        let Some(hash) = self.source.block_hash(scid.block).await? else {
            return Ok(false);
        };
        let outputs = self.source.block_outputs(hash, scid.tx_index).await?;
        Ok(matches!(outputs.tx(scid.tx_index), Ok(Some(tx)) if tx.txid == outpoint.txid))
    }

    fn collect_forgets(&mut self, tip_height: u32, report: &mut TipReport) {
        let spent_earlier = std::mem::take(&mut self.watch.index.lock().spent_earlier);
        for (scid, height) in spent_earlier {
            self.close(scid, height, CloseCause::Spent, report);
        }
        let delay = self.config.forget_delay;
        let due: Vec<ShortChannelId> = self
            .closing
            .iter()
            .filter(|(_, c)| tip_height >= c.height.saturating_add(delay))
            .map(|(scid, _)| *scid)
            .collect();
        for scid in due {
            self.closing.remove(&scid);
            self.watch.unwatch(scid);
            report.forget.push(scid);
        }
        report.forget.sort();
    }
}

/// The heights at which `outpoints` were spent, searching the `depth` blocks up to `tip`
/// (newest first, stopping once all are found). An outpoint not found there was spent deeper.
/// `None` when the backend cannot list a block's spends (Esplora).
pub async fn find_spend_heights(
    source: &dyn ChainSource,
    outpoints: &[OutPoint],
    tip: u32,
    depth: u32,
) -> Result<Option<HashMap<OutPoint, u32>>, ChainError> {
    let wanted: std::collections::HashSet<OutPoint> = outpoints.iter().copied().collect();
    let mut found = HashMap::new();
    let lowest = tip.saturating_sub(depth.saturating_sub(1));
    for height in (lowest..=tip).rev() {
        if found.len() == wanted.len() {
            break;
        }
        let Some(hash) = source.block_hash(height).await? else {
            continue;
        };
        let Some(spends) = source.block_spends(hash).await? else {
            return Ok(None);
        };
        for outpoint in spends {
            if wanted.contains(&outpoint) {
                found.entry(outpoint).or_insert(height);
            }
        }
    }
    Ok(Some(found))
}

impl TipFollower {
    /// Polls every `interval` until `shutdown` turns true: feeds the validator the tip (which
    /// retries parked claims) and reorgs, updates the metrics, and sends every report that
    /// closes, reopens or forgets a channel to `reports` (bounded: a slow consumer slows the
    /// follower, never grows a queue).
    pub async fn run(
        mut self,
        validator: Option<super::validator::ChainValidator>,
        metrics: super::metrics::ChainMetrics,
        interval: std::time::Duration,
        reports: tokio::sync::mpsc::Sender<TipReport>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            match self.poll().await {
                Ok(report) => {
                    if let Some(fork) = report.reorg_fork {
                        metrics.reorgs.inc();
                        if let Some(v) = &validator {
                            v.on_reorg(fork);
                        }
                    }
                    if let (Some(v), Some(tip)) = (&validator, report.tip) {
                        v.on_tip(tip);
                    } else if let Some(tip) = report.tip {
                        metrics.tip_height.set(i64::from(tip.height));
                        metrics.source_up.set(1);
                    }
                    metrics.channels_closed.inc_by(report.closed.len() as u64);
                    metrics
                        .channels_forgotten
                        .inc_by(report.forget.len() as u64);
                    let news = !(report.closed.is_empty()
                        && report.reopened.is_empty()
                        && report.forget.is_empty());
                    if news && reports.send(report).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "chain tip poll failed");
                    match &validator {
                        Some(v) => v.on_source_error(&e),
                        None => metrics.count_error(&e),
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::memory::{MemoryChain, SparseBlock};
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

    fn tx(spending: OutPoint) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: spending,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(50_000),
                script_pubkey: ScriptBuf::new_op_return([9u8; 4]),
            }],
        }
    }

    fn block_with(tx: Transaction) -> SparseBlock {
        SparseBlock {
            txs: vec![(1, tx)],
            tx_count: 2,
        }
    }

    /// A chain with a funding transaction at 101x1x0 and tip 110; returns the outpoint.
    fn setup() -> (Arc<MemoryChain>, ShortChannelId, OutPoint) {
        let chain = Arc::new(MemoryChain::new(100));
        chain.push_empty(1);
        let funding = tx(OutPoint::null());
        let outpoint = OutPoint {
            txid: funding.compute_txid(),
            vout: 0,
        };
        chain.push_block(block_with(funding));
        chain.push_empty(9);
        (chain, ShortChannelId::new(101, 1, 0).unwrap(), outpoint)
    }

    /// Two outpoints with one digest (same first txid bytes, same vout): both found, each
    /// removal leaves the other findable, and re-watching moves a channel cleanly.
    #[test]
    fn outpoints_whose_digests_collide_are_both_watched() {
        let outpoint = |last: u8| {
            let mut bytes = [7u8; 32];
            bytes[31] = last;
            OutPoint {
                txid: bitcoin::Txid::from_byte_array(bytes),
                vout: 1,
            }
        };
        let (a, b, c) = (outpoint(1), outpoint(2), outpoint(3));
        assert_eq!(outpoint_digest(&a), outpoint_digest(&b));
        let scid = |n| ShortChannelId::new(500, n, 0).unwrap();
        let watch = WatchHandle::default();
        watch.watch(scid(1), a);
        watch.watch(scid(2), b);
        assert_eq!(watch.scid_of(&a), Some(scid(1)));
        assert_eq!(watch.scid_of(&b), Some(scid(2)));
        assert_eq!(watch.scid_of(&c), None);
        watch.unwatch(scid(1));
        assert_eq!(watch.scid_of(&a), None);
        assert_eq!(
            watch.scid_of(&b),
            Some(scid(2)),
            "the colliding one took its place"
        );
        watch.watch(scid(1), a);
        watch.watch(scid(2), c);
        assert_eq!(watch.scid_of(&b), None, "re-watched elsewhere");
        assert_eq!(watch.scid_of(&c), Some(scid(2)));
        assert_eq!(watch.scid_of(&a), Some(scid(1)));
        assert_eq!(watch.outpoint_of(scid(2)), Some(c));
        assert_eq!(watch.len(), 2);
    }

    fn follower(chain: &Arc<MemoryChain>) -> TipFollower {
        let config = FollowerConfig {
            forget_delay: 3,
            history: 10,
            ..FollowerConfig::default()
        };
        TipFollower::new(Arc::clone(chain) as Arc<dyn ChainSource>, config)
    }

    #[tokio::test]
    async fn a_spend_is_forgotten_after_the_delay() {
        let (chain, scid, outpoint) = setup();
        let mut follower = follower(&chain);
        follower.watch_handle().watch(scid, outpoint);
        assert_eq!(follower.poll().await.unwrap().tip.unwrap().height, 110);
        chain.push_block(block_with(tx(outpoint))); // 111 spends it
        let report = follower.poll().await.unwrap();
        assert_eq!(report.closed, vec![(scid, CloseCause::Spent)]);
        chain.push_empty(2); // 113: two blocks after the spend
        assert!(follower.poll().await.unwrap().forget.is_empty());
        chain.push_empty(1); // 114 = 111 + 3
        assert_eq!(follower.poll().await.unwrap().forget, vec![scid]);
        assert!(follower.watch_handle().is_empty());
    }

    #[tokio::test]
    async fn a_reorged_away_spend_keeps_the_channel() {
        let (chain, scid, outpoint) = setup();
        let mut follower = follower(&chain);
        follower.watch_handle().watch(scid, outpoint);
        follower.poll().await.unwrap();
        chain.push_block(block_with(tx(outpoint))); // 111 spends it
        assert_eq!(follower.poll().await.unwrap().closed.len(), 1);
        // A longer branch from 110 without the spend.
        chain.disconnect_above(110);
        chain.push_empty(3);
        let report = follower.poll().await.unwrap();
        assert_eq!(report.reorg_fork, Some(110));
        assert_eq!(report.reopened, vec![scid]);
        chain.push_empty(10);
        let report = follower.poll().await.unwrap();
        assert!(
            report.forget.is_empty() && report.closed.is_empty(),
            "{report:?}"
        );
        assert_eq!(
            follower.watch_handle().len(),
            1,
            "still open, still watched"
        );
        assert_eq!(follower.closing_count(), 0);
    }

    #[tokio::test]
    async fn funding_reorganised_out_is_forgotten_after_the_delay() {
        let (chain, scid, outpoint) = setup();
        let mut follower = follower(&chain);
        follower.watch_handle().watch(scid, outpoint);
        follower.poll().await.unwrap();
        // Replace everything from 101: the funding transaction is gone.
        chain.disconnect_above(100);
        chain.push_empty(11); // tip 111
        let report = follower.poll().await.unwrap();
        assert_eq!(report.reorg_fork, Some(100));
        assert_eq!(report.closed, vec![(scid, CloseCause::ReorganizedOut)]);
        chain.push_empty(3);
        assert_eq!(follower.poll().await.unwrap().forget, vec![scid]);
    }

    #[tokio::test]
    async fn a_channel_spent_before_it_was_watched_counts_its_delay_from_the_spend() {
        let (chain, scid, outpoint) = setup();
        let mut follower = follower(&chain);
        follower.poll().await.unwrap(); // tip 110
                                        // Found spent at 109 (after a restart): forgotten at 112, not 113 (110 + 3).
        follower.watch_handle().watch_spent(scid, outpoint, 109);
        let report = follower.poll().await.unwrap();
        assert_eq!(report.closed, vec![(scid, CloseCause::Spent)]);
        assert!(report.forget.is_empty());
        chain.push_empty(1);
        assert!(follower.poll().await.unwrap().forget.is_empty());
        chain.push_empty(1); // 112
        assert_eq!(follower.poll().await.unwrap().forget, vec![scid]);
        // One spent long ago goes at the next poll.
        let old = ShortChannelId::new(101, 1, 1).unwrap();
        follower.watch_handle().watch_spent(
            old,
            OutPoint {
                vout: 1,
                ..outpoint
            },
            100,
        );
        assert_eq!(follower.poll().await.unwrap().forget, vec![old]);
        assert!(follower.watch_handle().is_empty());
    }

    #[tokio::test]
    async fn spend_heights_are_found_in_the_recent_blocks_only() {
        let (chain, _, outpoint) = setup();
        chain.push_block(block_with(tx(outpoint))); // 111
        chain.push_empty(4); // 115
        let other = OutPoint {
            vout: 7,
            ..outpoint
        };
        let found = find_spend_heights(chain.as_ref(), &[outpoint, other], 115, 5)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.get(&outpoint), Some(&111));
        assert_eq!(found.get(&other), None);
        let shallow = find_spend_heights(chain.as_ref(), &[outpoint], 115, 4)
            .await
            .unwrap()
            .unwrap();
        assert!(shallow.is_empty(), "111 is below the 4 blocks searched");
    }

    #[tokio::test]
    async fn catching_up_is_spread_over_polls() {
        let (chain, _, _) = setup();
        let mut follower = TipFollower::new(
            Arc::clone(&chain) as Arc<dyn ChainSource>,
            FollowerConfig {
                forget_delay: 3,
                history: 10,
                max_blocks_per_poll: 4,
                ..FollowerConfig::default()
            },
        );
        follower.poll().await.unwrap();
        chain.push_empty(10);
        follower.poll().await.unwrap();
        assert_eq!(follower.history.keys().next_back(), Some(&114));
        follower.poll().await.unwrap();
        follower.poll().await.unwrap();
        assert_eq!(follower.history.keys().next_back(), Some(&120));
        assert!(follower.history.len() <= 10, "history bounded");
    }
}
