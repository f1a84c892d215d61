//! Initialisation follows PyTorch's `nn.Linear` defaults.

mod common;

use common::rng;
use deepq_nn::Mlp;

/// Every weight and bias of a layer with fan-in `n` lies in [−1/√n, 1/√n], and their sample
/// mean and variance match U(−b, b) (mean 0, variance b²/3).
#[test]
fn weights_and_biases_are_uniform_within_pytorch_bounds() {
    let sizes = [100, 400, 300, 50];
    let mlp = Mlp::<f64>::new(&sizes, &mut rng(2024));
    let mut offset = 0;
    for pair in sizes.windows(2) {
        let (n_in, n_out) = (pair[0], pair[1]);
        let bound = 1.0 / (n_in as f64).sqrt();
        let weights = &mlp.params()[offset..offset + n_in * n_out];
        let biases = &mlp.params()[offset + n_in * n_out..offset + n_in * n_out + n_out];
        offset += n_in * n_out + n_out;
        for (what, values) in [("weight", weights), ("bias", biases)] {
            assert!(
                values.iter().all(|v| v.abs() <= bound),
                "{what} out of bounds"
            );
            let n = values.len() as f64;
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            let expected_var = bound * bound / 3.0;
            // Standard errors: mean √(b²/3n); variance √(4b⁴/45n) (the variance of a
            // squared U(−b, b) sample is 4b⁴/45). Five of them: a false alarm is ~1e-6.
            let se_mean = (expected_var / n).sqrt();
            let se_var = (4.0 * bound.powi(4) / 45.0 / n).sqrt();
            assert!(
                mean.abs() < 5.0 * se_mean,
                "{what} {n_in}→{n_out}: mean {mean}"
            );
            assert!(
                (var - expected_var).abs() < 5.0 * se_var,
                "{what} {n_in}→{n_out}: variance {var} vs {expected_var}"
            );
            // The extremes of many uniform samples approach the bounds.
            if values.len() >= 300 {
                let max = values.iter().cloned().fold(f64::MIN, f64::max);
                let min = values.iter().cloned().fold(f64::MAX, f64::min);
                assert!(
                    max > 0.95 * bound && min < -0.95 * bound,
                    "{what} range too narrow"
                );
            }
        }
    }
    assert_eq!(offset, mlp.n_params());
}

#[test]
fn initialisation_is_reproducible_and_seed_dependent() {
    let a = Mlp::<f32>::new(&[4, 64, 2], &mut rng(1));
    let b = Mlp::<f32>::new(&[4, 64, 2], &mut rng(1));
    let c = Mlp::<f32>::new(&[4, 64, 2], &mut rng(2));
    assert_eq!(a.params(), b.params());
    assert_ne!(a.params(), c.params());
}

#[test]
#[should_panic(expected = "non-zero layer sizes")]
fn zero_width_is_rejected() {
    Mlp::<f32>::new(&[4, 0, 2], &mut rng(0));
}
