//! Whole-buffer operations on parameters and gradients: target-network updates and
//! gradient-norm clipping.

use crate::kernels;
use crate::scalar::Scalar;

/// Soft target-network update `target ← (1 − tau)·target + tau·online`, in one pass over
/// the flat parameter buffers (Stable-Baselines3's `polyak_update`: the product with
/// `1 − tau` is rounded before `tau·online` is added).
///
/// # Panics
/// If the buffers differ in length.
pub fn polyak_update<T: Scalar>(target: &mut [T], online: &[T], tau: T) {
    assert_eq!(
        target.len(),
        online.len(),
        "parameter buffers differ in length"
    );
    kernels::blend(target, online, T::ONE - tau, tau);
}

/// PyTorch's `clip_grad_norm_` over one flat gradient buffer: if the L2 norm `total`
/// exceeds `max_norm`, scales the gradients by `max_norm / (total + 1e-6)`. Returns `total`
/// (before clipping). The sum of squares uses a fixed summation order, so the result is
/// deterministic but may differ from PyTorch's in the last bits.
pub fn clip_grad_norm<T: Scalar>(grads: &mut [T], max_norm: T) -> T {
    let total = kernels::sum_of_squares(grads).sqrt();
    let coef = max_norm / (total + T::from_f64(1e-6));
    if coef < T::ONE {
        kernels::scale(grads, coef);
    }
    total
}
