//! A small, fixed pseudo-random generator: splitmix64 to seed, xoshiro256** to draw.
//!
//! Written out here (instead of taking a crate) so the generated data never changes with a
//! dependency's version. Only integer arithmetic and IEEE-exact float operations are used, so the
//! same seed gives the same numbers on every platform.

/// FNV-1a over the bytes of a name: turns a stream name into 64 bits.
fn fnv1a(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// splitmix64: used to expand one 64-bit value into a well-mixed seed state.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// xoshiro256**: the generator every table draws from.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// An independent stream for (seed, name): each table (and each planted anomaly) has its own,
    /// so adding or changing one table never shifts the numbers another one sees.
    pub fn stream(seed: u64, name: &str) -> Rng {
        let mut mix = SplitMix64(seed);
        let seed_mixed = mix.next_u64();
        let mut sm = SplitMix64(seed_mixed ^ fnv1a(name));
        let mut s = [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()];
        if s == [0; 4] {
            s[0] = 1;
        }
        Rng { s }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (n > 0), by the multiply-shift method.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform index into a slice of length `n`.
    #[inline]
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    #[inline]
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(hi >= lo);
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// Uniform in [0, 1), 53 bits.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    #[inline]
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    #[inline]
    pub fn pick_str<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.index(items.len())]
    }

    /// Picks a value from (value, weight) pairs.
    pub fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (v, w) in items {
            let w = u64::from(*w);
            if x < w {
                return *v;
            }
            x -= w;
        }
        items[items.len() - 1].0
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

/// How many rows of `n` get a planted anomaly at `rate`: round(rate * n), but at least one as
/// soon as the table has two rows, so every kind of dirt is present even at tiny scales.
pub fn planted_count(n: usize, rate: f64) -> usize {
    if rate <= 0.0 || n < 2 {
        return 0;
    }
    let k = (rate * n as f64).round() as usize;
    k.clamp(1, n)
}

/// Chooses exactly `k` of `n` rows, in order, with every subset equally likely (Knuth's
/// selection sampling). Call `next()` once per row.
#[derive(Debug, Clone)]
pub struct Planter {
    rng: Rng,
    left_k: u64,
    left_n: u64,
}

impl Planter {
    pub fn new(rng: Rng, n: usize, k: usize) -> Planter {
        Planter {
            rng,
            left_k: k.min(n) as u64,
            left_n: n as u64,
        }
    }

    #[inline]
    pub fn next(&mut self) -> bool {
        if self.left_n == 0 {
            return false;
        }
        let hit = self.left_k > 0 && self.rng.below(self.left_n) < self.left_k;
        self.left_n -= 1;
        if hit {
            self.left_k -= 1;
        }
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_stable_and_independent() {
        let mut a = Rng::stream(42, "tasks");
        let mut b = Rng::stream(42, "tasks");
        let mut c = Rng::stream(42, "orders");
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn splitmix_reference_values() {
        // Reference output of splitmix64 seeded with 0 (from the original C implementation).
        let mut sm = SplitMix64(0);
        assert_eq!(sm.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(sm.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn planter_picks_exactly_k() {
        for (n, k) in [(10, 3), (1000, 5), (7, 7), (5, 0)] {
            let mut p = Planter::new(Rng::stream(1, "p"), n, k);
            let hits = (0..n).filter(|_| p.next()).count();
            assert_eq!(hits, k);
        }
        assert_eq!(planted_count(1, 0.5), 0);
        assert_eq!(planted_count(5, 0.002), 1);
        assert_eq!(planted_count(23050, 0.003), 69);
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = Rng::stream(7, "x");
        for n in [1u64, 2, 3, 10, 1 << 40] {
            for _ in 0..1000 {
                assert!(r.below(n) < n);
            }
        }
    }
}
