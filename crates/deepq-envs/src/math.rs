//! libm calls whose exact bits the golden trajectories depend on.

/// Python's `x ** 2`, which is libm `pow(x, 2.0)`: glibc rounds it differently
/// from `x * x` on about 0.1 % of inputs. The exponent goes through
/// `black_box` because LLVM rewrites `powf(x, 2.0)` into `x * x` otherwise.
#[inline]
pub(crate) fn pow2(x: f64) -> f64 {
    x.powf(std::hint::black_box(2.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// Guards the `black_box`: without it optimised builds would compute
    /// `x * x`, which differs from glibc's pow on some of these inputs.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn pow2_is_libm_pow() {
        let mut rng = Pcg64::seed_from_u64(3);
        let differs = (0..100_000)
            .map(|_| (rng.random::<f64>() - 0.5) * 20.0)
            .filter(|&x| pow2(x) != x * x)
            .count();
        assert!(differs > 0, "pow(x, 2) never differed from x * x");
    }
}
