//! The wall clock, read one way everywhere: gossip timestamps (BOLT 7 `u32` seconds), ban
//! expiry and corpus generation all use [`unix_now`]; the per-message timestamp window uses
//! [`coarse_unix_now`].

/// Reads one of the kernel's clocks; `None` if it cannot (then callers use the std clock).
#[cfg(target_os = "linux")]
#[inline]
fn read_clock(clock: libc::clockid_t) -> Option<libc::timespec> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own; both clock ids used are valid
    // on Linux.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then_some(ts)
}

/// Seconds since the Unix epoch from the kernel's coarse clock (a few ns instead of ~25 ns:
/// this runs for every received update, and the window it feeds is a day wide).
#[cfg(target_os = "linux")]
#[inline]
pub fn coarse_unix_now() -> u32 {
    read_clock(libc::CLOCK_REALTIME_COARSE)
        .map_or_else(unix_now, |ts| u32::try_from(ts.tv_sec).unwrap_or(u32::MAX))
}

#[cfg(not(target_os = "linux"))]
pub fn coarse_unix_now() -> u32 {
    unix_now()
}

/// Milliseconds on the kernel's coarse monotonic clock (its resolution is one tick, 1-4 ms):
/// a few ns a read, for timing duplicates against their first copy on the duplicate path.
#[cfg(target_os = "linux")]
#[inline]
pub fn coarse_monotonic_ms() -> u64 {
    read_clock(libc::CLOCK_MONOTONIC_COARSE).map_or_else(monotonic_ms, |ts| {
        u64::try_from(ts.tv_sec).unwrap_or(0) * 1000
            + u64::try_from(ts.tv_nsec).unwrap_or(0) / 1_000_000
    })
}

#[cfg(not(target_os = "linux"))]
pub fn coarse_monotonic_ms() -> u64 {
    monotonic_ms()
}

/// Milliseconds since the first call in this process (the portable fallback).
fn monotonic_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
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
