//! The per-channel-direction spam limit for channel_updates: a token bucket per
//! `(short_channel_id, direction)`, checked by the sieve after every dedup step and before
//! admission, so a duplicate never spends a token and a rate-limited update never costs a
//! signature check.
//!
//! Policy (after LND's gossiper, `ratelimit` 1/min, burst 10):
//! - each direction refills `rate_per_minute` tokens a minute up to `burst`; an update that
//!   finds the bucket empty is dropped as `rate_limited`;
//! - **keep-alive rule**: BOLT 7 lets a node re-sign an unchanged channel_update so the channel
//!   is not pruned after two weeks without one. An update whose timestamp is at least
//!   `keepalive_after` (default one day, LND's rebroadcast interval) newer than the one the graph
//!   holds for that direction bypasses the bucket and spends no token. A direction that has been
//!   spammed down to zero tokens therefore still takes its genuine refresh. A forged update can
//!   use the same bypass, but it then fails its signature check, which counts against the peer
//!   that sent it (`peer::score`), and the next such update needs yet another day of timestamp
//!   headroom, which the future-skew check caps;
//! - the buckets live in a bounded LRU (`keys_cap`), split into a few locked shards so peers'
//!   tasks rarely contend. An evicted direction starts again with a full bucket: that gives a
//!   spammer cycling through more directions than the cap at most `burst` extra updates per
//!   direction per cycle, and only for channels already in the graph (updates for unknown
//!   channels are parked, not admitted), while memory stays fixed.
//!
//! Time is passed in (`now: Instant`), so tests drive the clock.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;
use parking_lot::Mutex;

/// Lock shards: enough that two cores' worth of peer tasks rarely meet on one lock.
const SHARDS: usize = 16;

/// Settings of the limiter (filled from `PipelineConfig`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitConfig {
    /// Tokens added per minute; 0 turns the limit off (replays of historical dumps).
    pub rate_per_minute: u32,
    /// Bucket size: updates a direction may send back to back.
    pub burst: u32,
    /// Directions tracked at once (LRU).
    pub keys_cap: usize,
    /// An update this much newer than the stored one is a keep-alive and bypasses the bucket.
    pub keepalive_after: Duration,
}

/// What the limiter decided about one update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// A token was spent.
    Allowed,
    /// A keep-alive refresh: let through without spending a token.
    KeepAlive,
    /// The bucket is empty.
    Limited,
    /// The limiter is off.
    Disabled,
}

impl RateDecision {
    pub fn is_allowed(self) -> bool {
        self != RateDecision::Limited
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

type Key = (u64, u8);

pub struct UpdateRateLimiter {
    config: RateLimitConfig,
    shards: Vec<Mutex<LruCache<Key, Bucket>>>,
}

impl UpdateRateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        let per_shard =
            NonZeroUsize::new(config.keys_cap.div_ceil(SHARDS).max(1)).unwrap_or(NonZeroUsize::MIN);
        UpdateRateLimiter {
            config,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
        }
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Decides for a channel_update of `(short_channel_id, direction)` carrying `timestamp`,
    /// when the graph holds `stored` for that direction, at time `now`. Spends a token unless
    /// the update is a keep-alive or the limiter is off.
    pub fn check(
        &self,
        short_channel_id: u64,
        direction: u8,
        timestamp: u32,
        stored: Option<u32>,
        now: Instant,
    ) -> RateDecision {
        if self.config.rate_per_minute == 0 {
            return RateDecision::Disabled;
        }
        let keepalive_secs = self.config.keepalive_after.as_secs();
        if let Some(stored) = stored {
            if u64::from(timestamp.saturating_sub(stored)) >= keepalive_secs {
                return RateDecision::KeepAlive;
            }
        }
        let burst = f64::from(self.config.burst.max(1));
        let per_second = f64::from(self.config.rate_per_minute) / 60.0;
        let key = (short_channel_id, direction & 1);
        let Some(shard) = self.shards.get(shard_of(short_channel_id)) else {
            return RateDecision::Allowed;
        };
        let mut buckets = shard.lock();
        let bucket = buckets.get_or_insert_mut(key, || Bucket {
            tokens: burst,
            refilled_at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled_at);
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * per_second).min(burst);
        bucket.refilled_at = bucket.refilled_at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            RateDecision::Allowed
        } else {
            RateDecision::Limited
        }
    }

    /// Directions currently tracked.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn shard_of(short_channel_id: u64) -> usize {
    let mixed = short_channel_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59;
    usize::try_from(mixed).unwrap_or(0) % SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, burst: u32, cap: usize) -> UpdateRateLimiter {
        UpdateRateLimiter::new(RateLimitConfig {
            rate_per_minute: rate,
            burst,
            keys_cap: cap,
            keepalive_after: Duration::from_secs(24 * 3600),
        })
    }

    const T0: u32 = 1_700_000_000;

    #[test]
    fn burst_then_one_per_minute() {
        let rl = limiter(1, 10, 1000);
        let start = Instant::now();
        for i in 0..10 {
            assert_eq!(
                rl.check(7, 0, T0 + i, Some(T0), start),
                RateDecision::Allowed,
                "{i}"
            );
        }
        assert_eq!(
            rl.check(7, 0, T0 + 10, Some(T0), start),
            RateDecision::Limited
        );
        // The other direction and other channels have their own buckets.
        assert_eq!(rl.check(7, 1, T0, Some(T0), start), RateDecision::Allowed);
        assert_eq!(rl.check(8, 0, T0, Some(T0), start), RateDecision::Allowed);
        // 59 s: still less than one token; 60 s: exactly one.
        let t = start + Duration::from_secs(59);
        assert_eq!(rl.check(7, 0, T0 + 11, Some(T0), t), RateDecision::Limited);
        let t = start + Duration::from_secs(60);
        assert_eq!(rl.check(7, 0, T0 + 12, Some(T0), t), RateDecision::Allowed);
        assert_eq!(rl.check(7, 0, T0 + 13, Some(T0), t), RateDecision::Limited);
        // A long quiet spell refills only up to the burst.
        let t = start + Duration::from_secs(3600);
        let allowed = (0..20)
            .filter(|i| rl.check(7, 0, T0 + 20 + i, Some(T0), t).is_allowed())
            .count();
        assert_eq!(allowed, 10);
    }

    #[test]
    fn keepalive_refresh_bypasses_an_empty_bucket() {
        let rl = limiter(1, 2, 1000);
        let now = Instant::now();
        let stored = T0;
        assert!(rl.check(1, 0, stored + 1, Some(stored), now).is_allowed());
        assert!(rl.check(1, 0, stored + 2, Some(stored), now).is_allowed());
        assert_eq!(
            rl.check(1, 0, stored + 3, Some(stored), now),
            RateDecision::Limited
        );
        // One second short of a day newer than the stored update: still limited.
        assert_eq!(
            rl.check(1, 0, stored + 86_399, Some(stored), now),
            RateDecision::Limited
        );
        // A day newer (BOLT 7 keep-alive, re-signed unchanged): let through, no token spent.
        assert_eq!(
            rl.check(1, 0, stored + 86_400, Some(stored), now),
            RateDecision::KeepAlive
        );
        assert_eq!(
            rl.check(1, 0, stored + 3, Some(stored), now),
            RateDecision::Limited
        );
        // Without a stored update there is nothing to be a keep-alive of.
        let rl = limiter(1, 1, 1000);
        assert!(rl.check(2, 0, T0, None, now).is_allowed());
        assert_eq!(
            rl.check(2, 0, T0 + 100_000, None, now),
            RateDecision::Limited
        );
    }

    #[test]
    fn zero_rate_disables() {
        let rl = limiter(0, 10, 1000);
        let now = Instant::now();
        for i in 0..100 {
            assert_eq!(
                rl.check(1, 0, T0 + i, Some(T0), now),
                RateDecision::Disabled
            );
        }
        assert!(rl.is_empty());
    }

    #[test]
    fn tracked_directions_are_bounded() {
        let rl = limiter(1, 1, 64);
        let now = Instant::now();
        for scid in 0..10_000u64 {
            rl.check(scid, (scid % 2) as u8, T0, Some(T0), now);
        }
        // Each of the 16 shards holds at most ceil(64 / 16) directions.
        assert!(rl.len() <= 64, "{}", rl.len());
        assert!(rl.len() >= 16);
    }

    /// Through the real sieve: duplicates spend no token, updates over the limit are dropped
    /// before any signature check, and a keep-alive still gets through an empty bucket.
    #[test]
    fn sieve_limits_before_verification_and_after_dedup() {
        use std::sync::Arc;

        use crate::config::PipelineConfig;
        use crate::graph::Graph;
        use crate::metrics::Metrics;
        use crate::pipeline::{DropReason, Outcome, Pipeline};
        use crate::sim::corpus::{generate, CorpusSpec};
        use crate::wire::gossip::{summarize, Summary};

        // type, signature, chain_hash, short_channel_id, then the timestamp.
        const TIMESTAMP_AT: usize = 2 + 64 + 32 + 8;
        let spec = CorpusSpec {
            nodes: 2,
            channels: 1,
            invalid_rate: 0.0,
            ..CorpusSpec::default()
        };
        let mut messages = Vec::new();
        generate(&spec, |m| messages.push(m));
        let kind_of = |m: &Vec<u8>| summarize(m).map(|s| s.kind());
        let announcement = messages
            .iter()
            .find(|m| kind_of(m) == Ok(crate::wire::GossipKind::ChannelAnnouncement))
            .cloned()
            .expect("announcement");
        let update = messages
            .iter()
            .find(|m| kind_of(m) == Ok(crate::wire::GossipKind::ChannelUpdate))
            .cloned()
            .expect("update");
        let Ok(Summary::ChannelUpdate { timestamp, .. }) = summarize(&update) else {
            panic!("update summary");
        };
        // Same channel direction, later timestamp, signature no longer valid.
        let template = update.clone();
        let forged = move |delta: u32| {
            let mut m = template.clone();
            m[TIMESTAMP_AT..TIMESTAMP_AT + 4].copy_from_slice(&(timestamp + delta).to_be_bytes());
            m
        };
        actix::System::new().block_on(async move {
            let metrics = Arc::new(Metrics::new(1).expect("metrics"));
            let config = PipelineConfig {
                shards: 1,
                update_rate_per_minute: 1,
                update_burst: 2,
                update_keepalive_after: Duration::from_secs(3600),
                ..PipelineConfig::default()
            };
            let pipeline = Pipeline::start(config, Arc::new(Graph::new()), metrics.clone());
            let sieve = pipeline.sieve.clone();
            assert_eq!(sieve.offer(announcement).await, Outcome::Admitted);
            pipeline.drained().await;
            assert_eq!(sieve.offer(update.clone()).await, Outcome::Admitted);
            pipeline.drained().await;
            // Duplicates of the accepted update spend no token.
            for _ in 0..5 {
                assert_eq!(
                    sieve.offer(update.clone()).await,
                    Outcome::Dropped(DropReason::Duplicate)
                );
            }
            let invalid_before = metrics.signature_invalid.get();
            assert_eq!(sieve.offer(forged(1)).await, Outcome::Admitted);
            for delta in 2..6 {
                assert_eq!(
                    sieve.offer(forged(delta)).await,
                    Outcome::Dropped(DropReason::RateLimited)
                );
            }
            pipeline.drained().await;
            // Only the one admitted forgery cost a signature check.
            assert_eq!(metrics.signature_invalid.get(), invalid_before + 1);
            // Its replay is caught by dedup (the rejected cache), not the limiter.
            assert_eq!(
                sieve.offer(forged(1)).await,
                Outcome::Dropped(DropReason::RecentlyRejected)
            );
            // An hour newer than the stored update: a keep-alive, let through the empty bucket.
            assert_eq!(sieve.offer(forged(3600)).await, Outcome::Admitted);
            pipeline.drained().await;
            assert_eq!(
                metrics
                    .dropped(
                        crate::wire::GossipKind::ChannelUpdate,
                        DropReason::RateLimited
                    )
                    .get(),
                4
            );
            pipeline.stop();
        });
    }

    #[test]
    fn clock_going_backwards_does_not_mint_tokens() {
        let rl = limiter(1, 1, 100);
        let later = Instant::now() + Duration::from_secs(600);
        assert!(rl.check(3, 1, T0, Some(T0), later).is_allowed());
        let earlier = later - Duration::from_secs(300);
        assert_eq!(
            rl.check(3, 1, T0 + 1, Some(T0), earlier),
            RateDecision::Limited
        );
        assert_eq!(
            rl.check(3, 1, T0 + 2, Some(T0), later),
            RateDecision::Limited
        );
    }
}
