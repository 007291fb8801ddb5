//! Byte pacing shared by the inbound side (a peer over its rate is read more slowly) and the
//! serving side (per-peer stream budget, per-peer and global query-reply rates).

use std::time::{Duration, Instant};

/// Token bucket over bytes: what goes over the rate is paced (the caller waits), never cut off.
pub struct ByteBucket {
    rate: u64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl ByteBucket {
    pub fn new(rate: u64, burst: u64) -> Self {
        let burst = burst.max(rate).max(1) as f64;
        ByteBucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Charges `bytes` and returns how long to wait before reading on.
    pub fn charge(&mut self, bytes: u64) -> Option<Duration> {
        if self.rate == 0 {
            return None;
        }
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate as f64;
        self.last = now;
        self.tokens = (self.tokens + refill).min(self.burst) - bytes as f64;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.rate as f64))
    }
}
