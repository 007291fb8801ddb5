//! Inbound byte accounting: a token bucket over the bytes a peer sends (frame overhead
//! included), so a peer over its rate is paced, not cut off.

use std::time::{Duration, Instant};

/// Frame overhead on the wire (encrypted length + two MACs), charged to the inbound byte rate.
pub(super) const FRAME_OVERHEAD: u64 = 2 + 16 + 16;

/// Token bucket over inbound bytes: a peer over its rate is paced, not cut off.
pub(super) struct ByteBucket {
    rate: u64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl ByteBucket {
    pub(super) fn new(rate: u64, burst: u64) -> Self {
        let burst = burst.max(rate).max(1) as f64;
        ByteBucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Charges `bytes` and returns how long to wait before reading on.
    pub(super) fn charge(&mut self, bytes: u64) -> Option<Duration> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_bucket_paces_after_the_burst() {
        let mut bucket = ByteBucket::new(1000, 2000);
        assert_eq!(bucket.charge(1500), None);
        let wait = bucket.charge(1500).expect("over the burst");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_millis(1000));
        let mut unlimited = ByteBucket::new(0, 0);
        assert_eq!(unlimited.charge(u64::MAX / 2), None);
    }
}
