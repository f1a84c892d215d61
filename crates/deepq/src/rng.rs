//! Independent random streams derived from a run's one seed, so that e.g. exploration and
//! replay sampling never share draws and adding draws to one leaves the others unchanged.

use rand::SeedableRng;
use rand_pcg::Pcg64;

/// What a stream is used for.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// Network initialisation.
    Init = 1,
    /// ε-greedy and warm-up actions.
    Explore = 2,
    /// Replay sampling and minibatch shuffling.
    Replay = 3,
    /// Noisy-net noise.
    Noise = 4,
    /// IQN's quantile fractions τ.
    Quantiles = 5,
    /// Data augmentation of replayed observations.
    Augment = 6,
    /// ε-greedy evaluation (`eval_epsilon`), drawn afresh for each evaluation.
    EvalExplore = 7,
}

/// The generator of `stream` for a run seeded with `seed`.
pub fn stream_rng(seed: u64, stream: Stream) -> Pcg64 {
    // SplitMix64 finalizer: nearby seeds and streams give unrelated PCG seeds.
    let mut z = seed ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Pcg64::seed_from_u64(z ^ (z >> 31))
}
