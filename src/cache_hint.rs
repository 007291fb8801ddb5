//! A hint to the CPU to start loading a cache line, so that a lookup a little later finds it
//! there instead of waiting on memory. The duplicate path uses it to overlap the misses of a
//! whole read's messages (see `Sieve::prefetch`).

/// Starts loading the cache line holding `address` into every cache level. A hint only: it
/// never faults (any address will do, a stale or wrong one merely wastes the load) and
/// changes nothing the program can see.
#[inline]
pub fn prefetch_line<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: PREFETCHT0 cannot fault, whatever the address, and has no architectural
        // effect; SSE is part of the x86_64 baseline.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
