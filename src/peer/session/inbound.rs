//! Inbound byte accounting: a token bucket over the bytes a peer sends (frame overhead
//! included), so a peer over its rate is paced, not cut off.

/// Frame overhead on the wire (encrypted length + two MACs), charged to the inbound byte rate.
pub(super) const FRAME_OVERHEAD: u64 = 2 + 16 + 16;

pub(super) use crate::peer::pacing::ByteBucket;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
