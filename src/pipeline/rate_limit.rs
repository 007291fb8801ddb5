//! The per-channel-direction spam limit for channel_updates: a token bucket per
//! `(short_channel_id, direction)`. The sieve *looks* at the bucket after every dedup step and
//! before admission, so a duplicate never touches it and an update over the limit never costs
//! a signature check; the shard *spends* a token only once the update's signature verified, as
//! LND rate-limits after validation. A forgery therefore cannot drain a real channel's bucket
//! and get the genuine updates that follow dropped as `rate_limited` (and relayed by honest
//! peers who would then have been charged for them).
//!
//! Policy (after LND's gossiper, `ratelimit` 1/min, burst 10):
//! - each direction refills `rate_per_minute` tokens a minute up to `burst`; an update that
//!   finds the bucket empty is dropped as `rate_limited` (never charged to the peer);
//! - **keep-alive rule**: BOLT 7 lets a node re-sign an unchanged channel_update so the channel
//!   is not pruned after two weeks without one. An update whose timestamp is at least
//!   `keepalive_after` (default one day, LND's rebroadcast interval) newer than the one the graph
//!   holds for that direction bypasses the bucket and spends no token. A direction whose bucket
//!   is empty therefore still takes its genuine refresh;
//! - forged updates that are not over the limit cost one signature check each: the same as
//!   LND, bounded per peer by its inbound byte rate and by the shards' admission (backpressure);
//!   a byte-identical resend costs nothing (the rejected cache);
//! - the buckets live in the graph, in each channel direction's slot (`graph::RateBucket`, 8
//!   bytes): they exist exactly for the channels in the graph, so they need no cap of their own
//!   and no eviction a spammer could cycle through. Updates for unknown channels are parked,
//!   not admitted, except those queued behind their channel's in-flight announcement: for those
//!   at most `burst` per direction may be in flight ([`UpdateRateLimiter::allows_in_flight`]).
//!
//! Time is passed in (`now: Instant`), so tests drive the clock.

use std::time::{Duration, Instant};

use crate::graph::RateBucket;

/// What one update costs in [`RateBucket::spent`] units (1/60 of a token).
const TOKEN: u32 = 60;

/// Settings of the limiter (filled from `PipelineConfig`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitConfig {
    /// Tokens added per minute; 0 turns the limit off (replays of historical dumps).
    pub rate_per_minute: u32,
    /// Bucket size: updates a direction may send back to back.
    pub burst: u32,
    /// An update this much newer than the stored one is a keep-alive and bypasses the bucket.
    pub keepalive_after: Duration,
}

/// What the limiter decided about one update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    /// A token is available ([`UpdateRateLimiter::peek`]) or was spent
    /// ([`UpdateRateLimiter::spend`]).
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

/// The policy; the state is one [`RateBucket`] per direction, kept by the caller (the graph).
/// Copies share the epoch, so the sieve (which looks) and the shards (which spend) agree.
#[derive(Clone, Copy, Debug)]
pub struct UpdateRateLimiter {
    config: RateLimitConfig,
    /// Bucket times are whole seconds since this instant. Whole seconds lose nothing over
    /// time: each refill moves `refilled_at` to the truncated now, so the truncations telescope
    /// and a bucket is never more than one second's refill behind.
    epoch: Instant,
}

impl UpdateRateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        UpdateRateLimiter {
            config,
            epoch: Instant::now(),
        }
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Whether a channel_update carrying `timestamp` may be admitted, when its direction
    /// holds `bucket` and the graph holds `stored` for it, at time `now`. Spends nothing: only
    /// [`Self::spend`], after the update verified, does.
    pub fn peek(
        &self,
        bucket: &RateBucket,
        timestamp: u32,
        stored: Option<u32>,
        now: Instant,
    ) -> RateDecision {
        let mut copy = *bucket;
        self.spend(&mut copy, timestamp, stored, now)
    }

    /// The same decision as [`Self::peek`], spending the token it allows (unless the update
    /// is a keep-alive or the limiter is off). For updates whose signature verified.
    pub fn spend(
        &self,
        bucket: &mut RateBucket,
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
        let capacity = self.config.burst.max(1).saturating_mul(TOKEN);
        let now =
            u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX);
        // A clock going backwards refills nothing (`saturating_sub`, `max`).
        let elapsed = now.saturating_sub(bucket.refilled_at);
        let refill = elapsed.saturating_mul(self.config.rate_per_minute);
        bucket.spent = bucket.spent.saturating_sub(refill);
        bucket.refilled_at = bucket.refilled_at.max(now);
        if bucket.spent.saturating_add(TOKEN) <= capacity {
            bucket.spent += TOKEN;
            RateDecision::Allowed
        } else {
            RateDecision::Limited
        }
    }

    /// For an update queued behind its channel's announcement (no bucket yet): whether
    /// `in_flight` distinct updates of its direction, itself included, are within the burst.
    pub fn allows_in_flight(&self, in_flight: usize) -> bool {
        self.config.rate_per_minute == 0
            || u32::try_from(in_flight).is_ok_and(|n| n <= self.config.burst.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limiter with a map of buckets standing in for the graph's direction slots.
    struct Limiter {
        policy: UpdateRateLimiter,
        buckets: std::collections::HashMap<(u64, u8), RateBucket>,
    }

    impl Limiter {
        fn check(
            &mut self,
            scid: u64,
            direction: u8,
            timestamp: u32,
            stored: Option<u32>,
            now: Instant,
        ) -> RateDecision {
            let bucket = self.buckets.entry((scid, direction)).or_default();
            self.policy.spend(bucket, timestamp, stored, now)
        }
    }

    fn limiter(rate: u32, burst: u32) -> Limiter {
        Limiter {
            policy: UpdateRateLimiter::new(RateLimitConfig {
                rate_per_minute: rate,
                burst,
                keepalive_after: Duration::from_secs(24 * 3600),
            }),
            buckets: Default::default(),
        }
    }

    const T0: u32 = 1_700_000_000;

    #[test]
    fn burst_then_one_per_minute() {
        let mut rl = limiter(1, 10);
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
        let mut rl = limiter(1, 2);
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
        let mut rl = limiter(1, 1);
        assert!(rl.check(2, 0, T0, None, now).is_allowed());
        assert_eq!(
            rl.check(2, 0, T0 + 100_000, None, now),
            RateDecision::Limited
        );
    }

    #[test]
    fn peeking_spends_nothing() {
        let rl = limiter(1, 1);
        let now = Instant::now();
        let mut bucket = RateBucket::default();
        for i in 0..5 {
            assert_eq!(
                rl.policy.peek(&bucket, T0 + i, Some(T0), now),
                RateDecision::Allowed
            );
        }
        assert_eq!(bucket, RateBucket::default());
        assert_eq!(
            rl.policy.spend(&mut bucket, T0 + 1, Some(T0), now),
            RateDecision::Allowed
        );
        assert_eq!(
            rl.policy.peek(&bucket, T0 + 2, Some(T0), now),
            RateDecision::Limited
        );
    }

    #[test]
    fn zero_rate_disables() {
        let mut rl = limiter(0, 10);
        let now = Instant::now();
        for i in 0..100 {
            assert_eq!(
                rl.check(1, 0, T0 + i, Some(T0), now),
                RateDecision::Disabled
            );
        }
        assert!(rl.buckets.values().all(|b| *b == RateBucket::default()));
    }

    #[test]
    fn in_flight_updates_of_an_unknown_channel_are_capped_at_the_burst() {
        let rl = limiter(1, 3);
        assert!(rl.policy.allows_in_flight(3));
        assert!(!rl.policy.allows_in_flight(4));
        assert!(limiter(0, 3).policy.allows_in_flight(100), "limit off");
    }

    /// Through the real sieve: duplicates and forgeries spend no token, updates over the
    /// limit are dropped before any signature check, and a keep-alive still gets through an
    /// empty bucket.
    #[test]
    fn sieve_limits_before_verification_and_only_verified_updates_spend() {
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
        let Ok(Summary::ChannelUpdate {
            timestamp,
            short_channel_id,
            channel_flags,
            ..
        }) = summarize(&update)
        else {
            panic!("update summary");
        };
        let direction = usize::from(channel_flags & 1);
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
            let graph = Arc::new(Graph::new());
            let pipeline = Pipeline::start(config, graph.clone(), metrics.clone());
            let sieve = pipeline.sieve.clone();
            let spent = || graph.with_rate_bucket(short_channel_id, direction, |b| b.spent);
            assert_eq!(sieve.offer(announcement).await, Outcome::Admitted);
            pipeline.drained().await;
            assert_eq!(spent(), Some(0));
            // The genuine update verifies and spends one token of two.
            assert_eq!(sieve.offer(update.clone()).await, Outcome::Admitted);
            pipeline.drained().await;
            assert_eq!(spent(), Some(TOKEN));
            // Duplicates of the accepted update spend no token.
            for _ in 0..5 {
                assert_eq!(
                    sieve.offer(update.clone()).await,
                    Outcome::Dropped(DropReason::Duplicate)
                );
            }
            // Forgeries are checked (and fail), but spend nothing: the bucket is still there
            // for the channel's genuine updates.
            let invalid_before = metrics.signature_invalid.get();
            for delta in 1..6 {
                assert_eq!(sieve.offer(forged(delta)).await, Outcome::Admitted);
            }
            pipeline.drained().await;
            assert_eq!(metrics.signature_invalid.get(), invalid_before + 5);
            assert_eq!(spent(), Some(TOKEN));
            // Once verified updates have emptied the bucket, the next is dropped before any
            // signature check.
            graph.with_rate_bucket(short_channel_id, direction, |b| b.spent = 2 * TOKEN);
            let invalid_before = metrics.signature_invalid.get();
            for delta in 6..10 {
                assert_eq!(
                    sieve.offer(forged(delta)).await,
                    Outcome::Dropped(DropReason::RateLimited)
                );
            }
            pipeline.drained().await;
            assert_eq!(metrics.signature_invalid.get(), invalid_before);
            // A replay of a checked forgery is caught by dedup (the rejected cache).
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
        let mut rl = limiter(1, 1);
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
