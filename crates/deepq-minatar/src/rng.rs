//! numpy's legacy `np.random.RandomState`, as far as MinAtar uses it.
//!
//! MinAtar draws every random number from one `RandomState`: the wrapper's sticky-action draw
//! and the games' spawn draws interleave in a single MT19937 stream. To replay the reference
//! package step for step this module reproduces, bit for bit:
//!
//! * seeding with an integer (`RandomState(s)`): the classic `init_genrand(s)`;
//! * `rand()` / `random_sample()`: two 32-bit outputs `a >> 5`, `b >> 6` combined into a
//!   53-bit double;
//! * `randint(low, high)` for the default `int64` dtype with a range below 2³²: masked
//!   rejection sampling on 32-bit outputs (a range of a single value draws nothing).
//!
//! Array forms such as `randint(1, 6, 8)` or `rand(8)` are the scalar draws repeated in order.

use serde::{Deserialize, Serialize};

/// Words of MT19937 state.
const N: usize = 624;
/// MT19937's middle word offset.
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// numpy's legacy `RandomState` with the MT19937 bit generator.
///
/// Serializes its whole state (624 words and the position), so a checkpoint taken mid-episode
/// resumes the same stream.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RandomStateRepr", into = "RandomStateRepr")]
pub struct RandomState {
    key: Box<[u32; N]>,
    pos: usize,
}

/// The serialized form of [`RandomState`]; validated on the way back in.
#[derive(Serialize, Deserialize)]
struct RandomStateRepr {
    key: Vec<u32>,
    pos: usize,
}

impl From<RandomState> for RandomStateRepr {
    fn from(r: RandomState) -> Self {
        Self {
            key: r.key.to_vec(),
            pos: r.pos,
        }
    }
}

impl TryFrom<RandomStateRepr> for RandomState {
    type Error = String;

    fn try_from(r: RandomStateRepr) -> Result<Self, String> {
        let len = r.key.len();
        let key: Box<[u32; N]> = r
            .key
            .into_boxed_slice()
            .try_into()
            .map_err(|_| format!("MT19937 state needs {N} words, got {len}"))?;
        if r.pos > N {
            return Err(format!("MT19937 position {} is past {N}", r.pos));
        }
        Ok(Self { key, pos: r.pos })
    }
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("pos", &self.pos)
            .field("key[0..4]", &&self.key[..4])
            .finish_non_exhaustive()
    }
}

impl RandomState {
    /// `np.random.RandomState(seed)` for an integer seed (`init_genrand`).
    pub fn new(seed: u32) -> Self {
        let mut key = Box::new([0u32; N]);
        let mut s = seed;
        for (i, word) in key.iter_mut().enumerate() {
            *word = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(i as u32 + 1);
        }
        Self { key, pos: N }
    }

    /// Refills the state with the next 624 words (MT19937's twist).
    fn twist(&mut self) {
        let k = &mut self.key;
        let mix = |hi: u32, lo: u32, far: u32| {
            let y = (hi & UPPER_MASK) | (lo & LOWER_MASK);
            far ^ (y >> 1) ^ if y & 1 == 1 { MATRIX_A } else { 0 }
        };
        for i in 0..N - M {
            k[i] = mix(k[i], k[i + 1], k[i + M]);
        }
        for i in N - M..N - 1 {
            k[i] = mix(k[i], k[i + 1], k[i + M - N]);
        }
        k[N - 1] = mix(k[N - 1], k[0], k[M - 1]);
        self.pos = 0;
    }

    /// The next raw 32-bit output (`genrand_int32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.twist();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `rand()`: a uniform double in `[0, 1)` with 53 random bits (two 32-bit outputs).
    pub fn rand(&mut self) -> f64 {
        let a = u64::from(self.next_u32() >> 5);
        let b = u64::from(self.next_u32() >> 6);
        (a * 67_108_864 + b) as f64 / 9_007_199_254_740_992.0
    }

    /// `randint(low, high)`: a uniform integer in `[low, high)` (numpy's legacy masked
    /// rejection sampling; `high - low == 1` draws nothing).
    ///
    /// # Panics
    /// If `high <= low` (numpy raises `ValueError`) or the range is 2³² or more (MinAtar
    /// never asks for one; numpy would switch to 64-bit draws).
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        assert!(high > low, "randint: low >= high ({low} >= {high})");
        let span = u64::try_from(high - low - 1)
            .ok()
            .and_then(|s| u32::try_from(s).ok())
            .expect("randint: ranges of 2^32 or more are not supported");
        low + i64::from(self.bounded_u32(span))
    }

    /// A uniform integer in `[0, max]`, as numpy's `buffered_bounded_masked_uint32`.
    fn bounded_u32(&mut self, max: u32) -> u32 {
        if max == 0 {
            return 0;
        }
        let mask = u32::MAX >> max.leading_zeros();
        loop {
            let v = self.next_u32() & mask;
            if v <= max {
                return v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rand_matches_numpy() {
        // np.random.RandomState(0).rand(3)
        let mut r = RandomState::new(0);
        assert_eq!(r.rand(), 0.5488135039273248);
        assert_eq!(r.rand(), 0.7151893663724195);
        assert_eq!(r.rand(), 0.6027633760716439);
        // np.random.RandomState(1).rand()
        assert_eq!(RandomState::new(1).rand(), 0.417022004702574);
    }

    #[test]
    fn raw_outputs_match_reference_mt19937() {
        // The first outputs of init_genrand(5489), MT19937's reference default.
        let mut r = RandomState::new(5489);
        assert_eq!(r.next_u32(), 3_499_211_612);
        assert_eq!(r.next_u32(), 581_869_302);
        assert_eq!(r.next_u32(), 3_890_346_734);
        // The 10000th output of the reference generator.
        let mut r = RandomState::new(5489);
        let last = (0..10_000).map(|_| r.next_u32()).last().unwrap();
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn randint_matches_numpy() {
        // np.random.RandomState(0).randint(0, 10, 5)
        let mut r = RandomState::new(0);
        let v: Vec<i64> = (0..5).map(|_| r.randint(0, 10)).collect();
        assert_eq!(v, [5, 0, 3, 3, 7]);
    }

    #[test]
    fn freeway_style_draws_match_numpy() {
        // r = np.random.RandomState(123); r.randint(1, 6, 8); r.rand(8); r.randint(1, 9); r.randint(7)
        let mut r = RandomState::new(123);
        let speeds: Vec<i64> = (0..8).map(|_| r.randint(1, 6)).collect();
        assert_eq!(speeds, [3, 5, 3, 2, 4, 3, 4, 2]);
        let u: Vec<f64> = (0..8).map(|_| r.rand()).collect();
        assert_eq!(
            u,
            [
                0.9807641983846155,
                0.6848297385848633,
                0.48093190148436094,
                0.3921175181941505,
                0.3431780161508694,
                0.7290497073840416,
                0.4385722446796244,
                0.05967789660956835
            ]
        );
        assert_eq!(r.randint(1, 9), 1);
        assert_eq!(r.randint(0, 7), 0);
    }

    #[test]
    fn single_value_range_draws_nothing() {
        let mut a = RandomState::new(7);
        let mut b = a.clone();
        assert_eq!(a.randint(3, 4), 3);
        assert_eq!(a.next_u32(), b.next_u32());
    }

    #[test]
    fn serde_roundtrip_resumes_the_stream() {
        let mut r = RandomState::new(42);
        for _ in 0..1000 {
            r.next_u32();
        }
        let json = serde_json::to_string(&r).unwrap();
        let mut back: RandomState = serde_json::from_str(&json).unwrap();
        for _ in 0..1000 {
            assert_eq!(r.next_u32(), back.next_u32());
        }
        assert!(serde_json::from_str::<RandomState>(r#"{"key":[1,2],"pos":0}"#).is_err());
    }
}
