//! The corpus's one source of randomness.

/// SplitMix64: tiny, fast, and its output is fixed forever (unlike `rand`'s StdRng, which may
/// change between versions and would silently change every corpus).
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn stream(seed: u64, stream: u64, index: u64) -> Self {
        let mut mix = Rng(seed);
        let a = mix.next_u64() ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03);
        let mut mix = Rng(a);
        Rng(mix.next_u64() ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0), by multiply-shift.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    pub(super) fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    /// A uniform pick; callers pass non-empty constant slices (empty gives the default).
    pub(super) fn choose<T: Copy + Default>(&mut self, items: &[T]) -> T {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied().unwrap_or_default()
    }
}
