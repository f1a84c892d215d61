//! Independent random streams derived from a run's one seed, so that e.g. exploration and
//! replay sampling never share draws and adding draws to one leaves the others unchanged.

use rand::{RngCore, SeedableRng};
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
    /// The reset that starts new episodes on a resumed run whose checkpoint could not hold
    /// its environment ([`restart_seed`]).
    Restart = 8,
}

/// The generator of `stream` for a run seeded with `seed`.
pub fn stream_rng(seed: u64, stream: Stream) -> Pcg64 {
    // SplitMix64 finalizer: nearby seeds and streams give unrelated PCG seeds.
    let mut z = seed ^ (stream as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Pcg64::seed_from_u64(z ^ (z >> 31))
}

/// The seed that resets fresh copies of an environment when a run seeded with `seed` resumes
/// at step `step` from a checkpoint that could not hold the environment (a Python env), so
/// that resuming the same checkpoint twice gives the same run. It stays below 2³⁰, so that
/// `seed + i` for each copy `i` fits the 32-bit seeds some environments take (ALE's).
pub fn restart_seed(seed: u64, step: u64) -> u64 {
    let mut rng = stream_rng(seed, Stream::Restart);
    rng.advance(u128::from(step));
    u64::from(rng.next_u32() >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_seeds_differ_by_run_and_step_and_fit_32_bit_seeds() {
        let seeds: Vec<u64> = (0..200).map(|step| restart_seed(3, step)).collect();
        assert!(seeds.iter().all(|&s| s < 1 << 30));
        let mut distinct = seeds.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), seeds.len());
        assert_eq!(restart_seed(3, 77), seeds[77]);
        assert_ne!(restart_seed(4, 77), seeds[77]);
    }
}
