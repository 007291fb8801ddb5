//! Channels loaded from the store at start: their funding outputs are checked on chain again,
//! in the background, and then watched for their close like the channels accepted in this run.
//!
//! The store holds what an earlier run accepted, possibly without a chain source
//! (`--chain none`), and the chain moved on while we were down. So once, at start, every
//! channel the store loaded is re-checked through the chain source (through the validator's
//! block cache, so the channels of one block cost one fetch):
//!
//! - **still unspent**: its funding outpoint joins the tip follower's index, which then sees
//!   its spend and forgets it `forget_delay_blocks` later;
//! - **not found / wrong script**: it should never have been accepted; it is forgotten at once
//!   (graph and store), counted under the same reasons as a rejected announcement;
//! - **spent while we were down**: the spend's height is searched in the last
//!   `forget_delay_blocks` blocks and the channel is forgotten that many blocks after it (at
//!   the follower's next poll when that is already past; backends that cannot list a block's
//!   spends count the delay from the current tip: late, never early);
//! - **the source cannot answer** (down, or its tip below the channel's block): nothing is
//!   forgotten; the channel is asked about again later.
//!
//! Paced and bounded: the store file is read back in batches up to its length at load (the
//! records appended since are this run's, already checked), a few lookups at a time, and
//! rechecks take no slot of the lookup queue, so intake never waits for this pass. Progress is
//! `gossip_sieve_chain_revalidation_pending` and `gossip_sieve_chain_revalidated_total{result}`.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use crate::chain::follower::find_spend_heights;
use crate::chain::{ChainValidator, FundingClaim, FundingRejection, Recheck, WatchHandle};
use crate::graph::Graph;
use crate::store::reader::StoreReader;
use crate::store::record::RecordKind;
use crate::wire::gossip::ChannelAnnouncement;

use super::chain_stage::claim_of;
use super::forget::{ForgetCause, Forgetter};

/// The store as it was loaded: records past `len` were written by this run.
#[derive(Clone, Debug)]
pub struct LoadedStore {
    pub path: PathBuf,
    pub len: u64,
    /// Channels the load put in the graph.
    pub channels: usize,
}

/// The pass's knobs.
#[derive(Clone, Copy, Debug)]
pub struct RevalidationConfig {
    /// Blocks from a spend to forgetting the channel (the follower's delay).
    pub forget_delay: u32,
    /// Rechecks in flight at once: enough to overlap round trips, few enough that intake's
    /// lookups on the same chain runtime are never far behind.
    pub concurrency: usize,
    /// Announcements read from the file per batch.
    pub batch: usize,
    /// Wait before asking again about channels the source could not answer for.
    pub retry_after: Duration,
}

impl Default for RevalidationConfig {
    fn default() -> Self {
        RevalidationConfig {
            forget_delay: 72,
            concurrency: 4,
            batch: 256,
            retry_after: Duration::from_secs(10),
        }
    }
}

/// What the pass needs from the running node.
pub struct Revalidation {
    pub validator: ChainValidator,
    pub watch: WatchHandle,
    pub forgetter: Forgetter,
    pub graph: Arc<Graph>,
    pub config: RevalidationConfig,
}

/// A channel found spent, and where its funding was.
type Spent = (FundingClaim, bitcoin::OutPoint);

impl Revalidation {
    /// Runs the pass over `store` until every loaded channel is settled or `shutdown` turns
    /// true.
    pub async fn run(self, store: LoadedStore, mut shutdown: watch::Receiver<bool>) {
        let metrics = self.validator.metrics().clone();
        metrics.revalidation_pending.set(store.channels as i64);
        let mut claims = match ClaimReader::open(&store) {
            Ok(reader) => reader,
            Err(e) => {
                tracing::warn!(error = %e, "re-validating loaded channels: cannot read the store");
                metrics.revalidation_pending.set(0);
                return;
            }
        };
        let mut deferred: Vec<FundingClaim> = Vec::new();
        let mut spent: Vec<Spent> = Vec::new();
        let started = std::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                return;
            }
            let batch_size = self.config.batch;
            let (reader, batch) =
                match tokio::task::spawn_blocking(move || claims.next_batch(batch_size)).await {
                    Ok(read) => read,
                    Err(_) => return,
                };
            claims = reader;
            let Some(batch) = batch else { break };
            self.check(batch, &mut deferred, &mut spent).await;
        }
        self.settle_spent(&mut spent, &mut deferred).await;
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            deferred = deferred.len(),
            "loaded channels re-validated"
        );
        while !deferred.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(self.config.retry_after) => {}
                _ = shutdown.changed() => return,
            }
            let again = std::mem::take(&mut deferred);
            for batch in again.chunks(self.config.batch) {
                self.check(batch.to_vec(), &mut deferred, &mut spent).await;
            }
            self.settle_spent(&mut spent, &mut deferred).await;
        }
        metrics.revalidation_pending.set(0);
    }

    /// Rechecks one batch, a few at a time; settles what it can at once.
    async fn check(
        &self,
        batch: Vec<FundingClaim>,
        deferred: &mut Vec<FundingClaim>,
        spent: &mut Vec<Spent>,
    ) {
        let metrics = self.validator.metrics().clone();
        let wanted: Vec<FundingClaim> = batch
            .into_iter()
            .filter(|claim| {
                let open = self.graph.has_channel(claim.scid.to_u64())
                    && !self.watch.is_watched(claim.scid);
                if !open {
                    // Forgotten or accepted again (and watched) meanwhile: nothing to do.
                    metrics.revalidation_pending.dec();
                }
                open
            })
            .collect();
        let mut answers = futures::stream::iter(wanted)
            .map(|claim| {
                let answer = self.validator.recheck(claim);
                async move { (claim, answer.await) }
            })
            .buffer_unordered(self.config.concurrency.max(1));
        while let Some((claim, answer)) = answers.next().await {
            let scid = claim.scid;
            let result = match answer {
                Ok(Ok(Recheck::Unspent(funding))) => {
                    self.watch.watch(scid, funding.outpoint);
                    "open"
                }
                Ok(Ok(Recheck::Spent(funding))) => {
                    spent.push((claim, funding.outpoint));
                    FundingRejection::Spent.as_str()
                }
                Ok(Ok(Recheck::Rejected(rejection))) => match rejection {
                    FundingRejection::NotFound | FundingRejection::ScriptMismatch => {
                        let cause = if rejection == FundingRejection::NotFound {
                            ForgetCause::FundingNotFound
                        } else {
                            ForgetCause::FundingScriptMismatch
                        };
                        tracing::info!(
                            short_channel_id = %scid,
                            reason = rejection.as_str(),
                            "loaded channel forgotten: its funding does not back it"
                        );
                        self.forgetter.forget(scid.to_u64(), cause).await;
                        rejection.as_str()
                    }
                    FundingRejection::Spent | FundingRejection::Unconfirmed => {
                        deferred.push(claim);
                        "deferred"
                    }
                },
                Ok(Ok(Recheck::AboveTip(_))) | Ok(Err(_)) | Err(_) => {
                    deferred.push(claim);
                    "deferred"
                }
            };
            metrics.revalidated.with_label_values(&[result]).inc();
            if result != "deferred" {
                metrics.revalidation_pending.dec();
            }
        }
    }

    /// Channels found spent: find when, and hand them to the follower to forget
    /// `forget_delay` blocks after that. One backwards scan of at most `forget_delay` blocks
    /// for all of them, on the chain runtime.
    async fn settle_spent(&self, spent: &mut Vec<Spent>, deferred: &mut Vec<FundingClaim>) {
        if spent.is_empty() {
            return;
        }
        let validator = self.validator.clone();
        let outpoints: Vec<bitcoin::OutPoint> = spent.iter().map(|(_, o)| *o).collect();
        let delay = self.config.forget_delay;
        let scan = self.validator.runtime().spawn(async move {
            let source = validator.source();
            let tip = source.tip().await?;
            let heights =
                find_spend_heights(source.as_ref(), &outpoints, tip.height, delay).await?;
            Ok::<_, crate::chain::ChainError>((tip.height, heights))
        });
        let (tip, heights) = match scan.await {
            Ok(Ok(found)) => found,
            failed => {
                tracing::warn!(
                    ?failed,
                    "finding when loaded channels were closed; will retry"
                );
                // Asked again later (and found spent again).
                deferred.extend(spent.drain(..).map(|(claim, _)| claim));
                return;
            }
        };
        for (claim, outpoint) in spent.drain(..) {
            let scid = claim.scid;
            if !self.graph.has_channel(scid.to_u64()) {
                continue;
            }
            let height = match &heights {
                Some(found) => found
                    .get(&outpoint)
                    .copied()
                    // Spent below the blocks searched: its delay is over.
                    .unwrap_or_else(|| tip.saturating_sub(delay)),
                // The backend cannot say where: count from now (late, never early).
                None => tip,
            };
            self.watch.watch_spent(scid, outpoint, height);
        }
    }
}

/// Reads the funding claims of the live channel_announcements in the store, in batches, up to
/// the length the store had when it was loaded. Blocking: run it off the async threads.
struct ClaimReader {
    reader: Option<StoreReader<std::io::Take<File>>>,
}

impl ClaimReader {
    fn open(store: &LoadedStore) -> Result<Self, crate::store::error::StoreError> {
        let file = File::open(&store.path)?;
        Ok(ClaimReader {
            reader: Some(StoreReader::new(file.take(store.len))?),
        })
    }

    /// The next claims (at most `max`), `None` at the end. A record that cannot be read ends
    /// the pass early: what was loaded from it is left as it is.
    fn next_batch(mut self, max: usize) -> (Self, Option<Vec<FundingClaim>>) {
        let mut batch = Vec::new();
        while batch.len() < max {
            let Some(reader) = self.reader.as_mut() else {
                break;
            };
            match reader.next_record() {
                Ok(Some(rec)) => {
                    if rec.is_deleted() || rec.kind() != Some(RecordKind::ChannelAnnouncement) {
                        continue;
                    }
                    if let Ok(ann) = ChannelAnnouncement::parse(&rec.msg) {
                        batch.push(claim_of(&ann));
                    }
                }
                Ok(None) => self.reader = None,
                Err(e) => {
                    tracing::warn!(error = %e, "re-validating loaded channels: store read failed");
                    self.reader = None;
                }
            }
        }
        let done = batch.is_empty() && self.reader.is_none();
        (self, (!done).then_some(batch))
    }
}
