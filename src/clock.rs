//! The wall clock, read one way everywhere: gossip timestamps (BOLT 7 `u32` seconds), ban
//! expiry and corpus generation all use [`unix_now`]; the per-message timestamp window uses
//! [`coarse_unix_now`].

/// Seconds since the Unix epoch from the kernel's coarse clock (a few ns instead of ~25 ns:
/// this runs for every received update, and the window it feeds is a day wide).
#[cfg(target_os = "linux")]
#[inline]
pub fn coarse_unix_now() -> u32 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own; the clock id is valid on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if rc == 0 {
        u32::try_from(ts.tv_sec).unwrap_or(u32::MAX)
    } else {
        unix_now()
    }
}

#[cfg(not(target_os = "linux"))]
pub fn coarse_unix_now() -> u32 {
    unix_now()
}

/// Seconds since the Unix epoch, saturating into BOLT 7's `u32` timestamps.
pub fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The coarse clock is the precise one as of the kernel's last tick: never ahead of it,
    /// and it catches up (polled against a generous deadline, not timed).
    #[test]
    fn coarse_clock_follows_the_precise_one() {
        let before = unix_now();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let coarse = coarse_unix_now();
            let after = unix_now();
            assert!(coarse <= after, "coarse {coarse} ahead of precise {after}");
            if coarse >= before {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "coarse clock stuck at {coarse}, precise {before}..{after}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}
