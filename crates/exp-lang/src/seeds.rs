//! Derived seeds. Every random stream in a run is seeded from a hash of what
//! it may depend on, never from a shared global generator.
//!
//! Why: the subset must depend only on (seed, data, budget) so every backbone
//! sees the same images; init, shuffle and augmentation derive from
//! (seed, cell, purpose, epoch, sample index) so results do not depend on the
//! number of loader threads or on the order cells run in.

/// What a derived seed is used for; part of the hash so two purposes never
/// share a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedPurpose {
    Subset,
    Init,
    Shuffle,
    Augment,
    Dropout,
    Bootstrap,
    Generate,
}

impl SeedPurpose {
    fn tag(self) -> &'static str {
        match self {
            SeedPurpose::Subset => "subset",
            SeedPurpose::Init => "init",
            SeedPurpose::Shuffle => "shuffle",
            SeedPurpose::Augment => "augment",
            SeedPurpose::Dropout => "dropout",
            SeedPurpose::Bootstrap => "bootstrap",
            SeedPurpose::Generate => "generate",
        }
    }
}

/// A 64-bit seed from the root seed, a purpose and any number of string or
/// integer parts (cell id, data name, epoch, sample index).
pub fn derive_seed(root: u64, purpose: SeedPurpose, parts: &[&dyn SeedPart]) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(b"exp-seed-v1\0");
    h.update(&root.to_le_bytes());
    h.update(purpose.tag().as_bytes());
    for p in parts {
        h.update(&[0xff]);
        p.feed(&mut h);
    }
    let out = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&out.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// Something that can be hashed into a seed.
pub trait SeedPart {
    fn feed(&self, h: &mut blake3::Hasher);
}

impl SeedPart for str {
    fn feed(&self, h: &mut blake3::Hasher) {
        h.update(b"s");
        h.update(&(self.len() as u64).to_le_bytes());
        h.update(self.as_bytes());
    }
}

impl SeedPart for &str {
    fn feed(&self, h: &mut blake3::Hasher) {
        (**self).feed(h)
    }
}

impl SeedPart for String {
    fn feed(&self, h: &mut blake3::Hasher) {
        self.as_str().feed(h)
    }
}

impl SeedPart for u64 {
    fn feed(&self, h: &mut blake3::Hasher) {
        h.update(b"u");
        h.update(&self.to_le_bytes());
    }
}

impl SeedPart for u32 {
    fn feed(&self, h: &mut blake3::Hasher) {
        u64::from(*self).feed(h)
    }
}

impl SeedPart for usize {
    fn feed(&self, h: &mut blake3::Hasher) {
        (*self as u64).feed(h)
    }
}

/// A small, fast, splittable generator (SplitMix64) for per-sample randomness.
/// Deterministic across platforms; never use it for anything cryptographic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleRng(u64);

impl SampleRng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The current state: draw `n` from here is the SplitMix64 mix of
    /// `state + n · 0x9E3779B97F4A7C15` (what the device erasing reproduces).
    pub fn state(&self) -> u64 {
        self.0
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `[0, n)`; `n` must be > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        // Lemire's multiply-shift; the tiny bias is irrelevant here and the
        // result is deterministic, which is what matters.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Gamma(shape, 1) by Marsaglia–Tsang; used for Beta draws (mixup).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform().max(f64::MIN_POSITIVE);
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(a, b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        x / (x + y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_and_parts_separate_streams() {
        let a = derive_seed(17, SeedPurpose::Subset, &[&"derm", &"screen"]);
        let b = derive_seed(17, SeedPurpose::Shuffle, &[&"derm", &"screen"]);
        let c = derive_seed(17, SeedPurpose::Subset, &[&"dermscreen"]);
        let d = derive_seed(18, SeedPurpose::Subset, &[&"derm", &"screen"]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert_eq!(
            a,
            derive_seed(17, SeedPurpose::Subset, &[&"derm", &"screen"])
        );
    }

    #[test]
    fn rng_is_deterministic_and_uniform_in_range() {
        let mut r = SampleRng::new(3);
        let mut s = SampleRng::new(3);
        for _ in 0..1000 {
            let x = r.uniform();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), s.uniform().to_bits());
        }
        let mut v: Vec<u32> = (0..10).collect();
        r.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        let m: f64 = (0..20_000).map(|_| r.beta(0.4, 0.4)).sum::<f64>() / 20_000.0;
        assert!((m - 0.5).abs() < 0.02, "beta mean {m}");
    }
}
