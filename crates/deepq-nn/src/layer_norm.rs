//! Layer normalisation (Ba et al. 2016) over the features of each row, with an affine
//! weight γ and bias β, followed by ReLU: PyTorch's `nn.LayerNorm` (biased variance, ε
//! inside the square root) then `nn.ReLU`, as PQN's hidden layers use it.
//!
//! Per row `z` of `n` features: `μ = Σz/n`, `σ² = Σ(z − μ)²/n`, `r = 1/√(σ² + ε)`,
//! `ẑ = z·r + (−μ·r)` (PyTorch's CPU kernel's form), `y = ẑ·γ + β`, output `max(y, 0)`.
//! Sums run in [`dense::sum`]'s fixed order, so every SIMD level gives the same bits.

use crate::dense;
use crate::kernels::{activation, simd_dispatch};
use crate::scalar::Scalar;

/// Lanes of the variance sum, as in [`dense::sum`].
const LANES: usize = 16;

/// `Σ (x − mean)²` in [`dense::sum`]'s order (16 lanes, then pairwise). Two passes over the
/// row (mean first) rather than one-pass moments, which cancel catastrophically when the
/// mean is large next to the spread.
#[inline(always)]
fn sum_sq_dev<T: Scalar>(x: &[T], mean: T) -> T {
    let mut acc = [T::ZERO; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            let d = c[l] - mean;
            acc[l] = d.mul_add(d, acc[l]);
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        let d = v - mean;
        acc[l] = d.mul_add(d, acc[l]);
    }
    let s8: [T; 8] = std::array::from_fn(|l| acc[l] + acc[l + 8]);
    let s4: [T; 4] = std::array::from_fn(|l| s8[l] + s8[l + 4]);
    let s2: [T; 2] = std::array::from_fn(|l| s4[l] + s4[l + 2]);
    s2[0] + s2[1]
}

/// The normalisation of one row: `(r, −μ·r)`, so that `ẑ = z·r + shift`. `r` is computed
/// in `f64` and rounded once, as PyTorch's kernel does (its ε is a `double`, which promotes
/// `σ² + ε` and what follows).
#[inline(always)]
fn scale_shift<T: Scalar>(z: &[T], eps: f64) -> (T, T) {
    let n = T::from_f64(z.len() as f64);
    let mean = dense::sum(z) / n;
    let var = sum_sq_dev(z, mean) / n;
    let rstd = T::from_f64(1.0 / (var.to_f64() + eps).sqrt());
    (rstd, -mean * rstd)
}

simd_dispatch! {
    /// Batched forward: each row of `z` (row length `gamma.len()`, the linear layer's output)
    /// is normalised in place into `ẑ`, its `r` goes to `rstd` (one per row), and the matching
    /// row of `out` gets `max(ẑ·γ + β, 0)`. `ẑ` and `r` are what [`layer_norm_backward`] needs.
    pub(crate) fn layer_norm_forward<T: Scalar>(
        z: &mut [T],
        gamma: &[T],
        beta: &[T],
        eps: f64,
        rstd: &mut [T],
        out: &mut [T],
    ) {
        let n = gamma.len();
        for ((row, r), o) in z.chunks_exact_mut(n).zip(rstd.iter_mut()).zip(out.chunks_exact_mut(n)) {
            let (scale, shift) = scale_shift(row, eps);
            *r = scale;
            for (((x, o), &g), &b) in row.iter_mut().zip(o.iter_mut()).zip(gamma).zip(beta) {
                *x = *x * scale + shift;
                *o = activation(*x * g + b, true);
            }
        }
    }

    /// Forward in place for inference: each row of `z` (row length `gamma.len()`; one row
    /// for a linear layer's single observation, one per output pixel of a conv layer's)
    /// becomes `max(ẑ·γ + β, 0)`, the same arithmetic as [`layer_norm_forward`], so that
    /// both give the same bits from the same input.
    pub(crate) fn layer_norm_relu_in_place<T: Scalar>(z: &mut [T], gamma: &[T], beta: &[T], eps: f64) {
        for row in z.chunks_exact_mut(gamma.len()) {
            let (scale, shift) = scale_shift(row, eps);
            for ((x, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
                let xhat = *x * scale + shift;
                *x = activation(xhat * g + b, true);
            }
        }
    }

    /// Batched backward. On entry `g` holds d loss / d `y` (the LayerNorm's output, ReLU
    /// already back-propagated) and `xhat`, `rstd` what [`layer_norm_forward`] cached; on exit
    /// `g` holds d loss / d `z`, and `gamma_grad` the weight gradient `Σ_rows g·ẑ` (the bias
    /// gradient, `Σ_rows g`, is the caller's: it comes out of the ReLU backward). Per row,
    /// with `h = g·γ`: `dz = r·(h − mean(h) − ẑ·mean(h·ẑ))`.
    pub(crate) fn layer_norm_backward<T: Scalar>(
        g: &mut [T],
        xhat: &[T],
        rstd: &[T],
        gamma: &[T],
        gamma_grad: &mut [T],
    ) {
        let n = gamma.len();
        let count = T::from_f64(n as f64);
        gamma_grad.fill(T::ZERO);
        for ((g, x), &r) in g.chunks_exact_mut(n).zip(xhat.chunks_exact(n)).zip(rstd) {
            // Both row sums in one pass, in `dense::sum`'s lane order.
            let mut acc_h = [T::ZERO; LANES];
            let mut acc_hx = [T::ZERO; LANES];
            let (mut gc, mut xc, mut wc) = (g.chunks_exact(LANES), x.chunks_exact(LANES), gamma.chunks_exact(LANES));
            for ((gv, xv), wv) in (&mut gc).zip(&mut xc).zip(&mut wc) {
                for l in 0..LANES {
                    let h = gv[l] * wv[l];
                    acc_h[l] = acc_h[l] + h;
                    acc_hx[l] = h.mul_add(xv[l], acc_hx[l]);
                }
            }
            for (l, ((&gv, &xv), &wv)) in gc.remainder().iter().zip(xc.remainder()).zip(wc.remainder()).enumerate() {
                let h = gv * wv;
                acc_h[l] = acc_h[l] + h;
                acc_hx[l] = h.mul_add(xv, acc_hx[l]);
            }
            let reduce = |acc: [T; LANES]| {
                let s8: [T; 8] = std::array::from_fn(|l| acc[l] + acc[l + 8]);
                let s4: [T; 4] = std::array::from_fn(|l| s8[l] + s8[l + 4]);
                let s2: [T; 2] = std::array::from_fn(|l| s4[l] + s4[l + 2]);
                s2[0] + s2[1]
            };
            let mean_h = reduce(acc_h) / count;
            let mean_hx = reduce(acc_hx) / count;
            for (((gv, &xv), &wv), gg) in g.iter_mut().zip(x).zip(gamma).zip(gamma_grad.iter_mut()) {
                *gg = gv.mul_add(xv, *gg);
                *gv = r * ((*gv * wv - mean_h) - xv * mean_hx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batched and in-place forwards agree bit for bit, and match the definition in f64.
    #[test]
    fn forward_matches_definition() {
        let n = 37;
        let z: Vec<f64> = (0..2 * n)
            .map(|i| ((i * 7919) % 101) as f64 / 17.0 - 2.0)
            .collect();
        let gamma: Vec<f64> = (0..n).map(|i| 0.5 + i as f64 / n as f64).collect();
        let beta: Vec<f64> = (0..n).map(|i| 0.1 - 0.2 * i as f64 / n as f64).collect();
        let mut xhat = z.clone();
        let (mut rstd, mut out) = (vec![0.0; 2], vec![0.0; 2 * n]);
        layer_norm_forward(&mut xhat, &gamma, &beta, 1e-5, &mut rstd, &mut out);
        for (r, row) in z.chunks(n).enumerate() {
            let mean = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            for j in 0..n {
                let want = ((row[j] - mean) / (var + 1e-5).sqrt() * gamma[j] + beta[j]).max(0.0);
                assert!((out[r * n + j] - want).abs() < 1e-12);
            }
            let mut single = row.to_vec();
            layer_norm_relu_in_place(&mut single, &gamma, &beta, 1e-5);
            assert_eq!(single, out[r * n..(r + 1) * n]);
        }
        // Several rows in place at once, as a conv layer's pixels go.
        let mut rows = z.clone();
        layer_norm_relu_in_place(&mut rows, &gamma, &beta, 1e-5);
        assert_eq!(rows, out);
    }
}
