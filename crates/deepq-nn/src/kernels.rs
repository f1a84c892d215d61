//! Matrix products (through the element type's `gemm`: [`crate::panels`] or
//! `matrixmultiply`; or by rows for narrow shapes) and the elementwise and reduction loops
//! around them.
//!
//! The loops are compiled once per SIMD level and chosen at run time by `multiversion`,
//! because the default x86-64 target only has SSE2. Rust never contracts `a * b + c` into a
//! fused multiply-add on its own; where a kernel wants one it says so with `mul_add`, which
//! is exactly rounded on every CPU. So every SIMD level of these loops computes the same
//! bits, and reductions, which use a fixed order, are deterministic too. `matrixmultiply`
//! picks its own kernel per CPU (FMA or not), so its products repeat exactly on one machine
//! but may differ in the last bits between machines.

use crate::bf16::{self, Precision};
use crate::dense;
use crate::scalar::Scalar;

/// Compiles each function in it once per SIMD level (AVX-512, AVX2+FMA, baseline SSE2) and
/// dispatches on the CPU's features, detected once. Listed explicitly because
/// `multiversion`'s `"simd"` preset leaves out AVX-512, which doubles the width of the
/// elementwise loops on CPUs that have it.
macro_rules! simd_dispatch {
    ($($item:item)*) => {
        $(
            #[multiversion::multiversion(targets(
                "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl",
                "x86_64+avx2+fma",
            ))]
            $item
        )*
    };
}
pub(crate) use simd_dispatch;

/// Calls `tiles.tile::<NO, NR>(args)` for a tile `shape` of `(NO, NR)` outputs × rows, each
/// 1 to 4: the row kernels' tiles on several rows, compiled for every edge shape so that
/// their accumulators stay in registers.
macro_rules! tile_dispatch {
    ($shape:expr, $tiles:ident.$tile:ident($($arg:expr),*)) => {
        tile_dispatch!(@arms $shape, $tiles, $tile, ($($arg),*);
            (4, 4), (4, 3), (4, 2), (4, 1), (3, 4), (3, 3), (3, 2), (3, 1),
            (2, 4), (2, 3), (2, 2), (2, 1), (1, 4), (1, 3), (1, 2), (1, 1))
    };
    (@arms $shape:expr, $tiles:ident, $tile:ident, $args:tt; $(($no:literal, $nr:literal)),*) => {
        match $shape {
            $(($no, $nr) => tile_dispatch!(@call $tiles, $tile, $no, $nr, $args),)*
            _ => unreachable!("tiles have 1 to 4 outputs and rows"),
        }
    };
    (@call $tiles:ident, $tile:ident, $no:literal, $nr:literal, ($($arg:expr),*)) => {
        $tiles.$tile::<$no, $nr>($($arg),*)
    };
}
pub(crate) use tile_dispatch;

/// A read-only matrix view with element strides, as `matrixmultiply` takes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a, T> {
    pub(crate) data: &'a [T],
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) row_stride: usize,
    pub(crate) col_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A `rows × cols` row-major matrix stored at the start of `data`.
    ///
    /// # Panics
    /// If `data` is shorter than `rows * cols`.
    pub(crate) fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert!(
            data.len() >= rows * cols,
            "matrix of {rows}×{cols} needs {} elements, got {}",
            rows * cols,
            data.len()
        );
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose, without moving data.
    pub(crate) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// `c ← a · b`, with `c` row-major `a.rows × b.cols` at the start of the slice.
///
/// # Panics
/// If the inner dimensions differ or `c` is too short.
pub(crate) fn matmul<T: Scalar>(a: MatRef<'_, T>, b: MatRef<'_, T>, c: &mut [T]) {
    assert_eq!(
        a.cols, b.rows,
        "inner dimensions of a matrix product differ"
    );
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(c.len() >= m * n, "product output too short");
    if b.col_stride == 1 && (m < NARROW || k < NARROW) {
        return matmul_by_rows(a, b, c);
    }
    // Strides fit in isize: every view addresses elements inside a slice.
    let s = |x: usize| x as isize;
    // SAFETY: `MatRef::row_major` checked that each view's elements lie inside its slice and
    // transposing only permutes the same set of elements; `c` holds `m × n` row-major
    // elements; `c` is a unique borrow, so it cannot alias `a` or `b`.
    unsafe {
        T::gemm(
            m,
            k,
            n,
            a.data.as_ptr(),
            s(a.row_stride),
            s(a.col_stride),
            b.data.as_ptr(),
            s(b.row_stride),
            s(b.col_stride),
            c.as_mut_ptr(),
            s(n),
            1,
        );
    }
}

/// `c ← a · b` in `precision` (bf16 only for `f32`, which networks check when built).
///
/// # Panics
/// As [`matmul`]; or for bf16 with `T` other than `f32`.
pub(crate) fn matmul_in<T: Scalar>(
    precision: Precision,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
) {
    match precision {
        Precision::F32 => matmul(a, b, c),
        Precision::Bf16 => bf16::matmul(as_f32(a), as_f32(b), f32s_mut(c)),
    }
}

/// Whether `T` is `f32`.
pub(crate) fn is_f32<T: Scalar>() -> bool {
    std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()
}

/// `m` as the `f32` view it is.
///
/// # Panics
/// Unless `T` is `f32`.
pub(crate) fn as_f32<T: Scalar>(m: MatRef<'_, T>) -> MatRef<'_, f32> {
    MatRef {
        data: f32s(m.data),
        rows: m.rows,
        cols: m.cols,
        row_stride: m.row_stride,
        col_stride: m.col_stride,
    }
}

/// `x` as the `f32` slice it is.
///
/// # Panics
/// Unless `T` is `f32`.
pub(crate) fn f32s<T: Scalar>(x: &[T]) -> &[f32] {
    assert!(is_f32::<T>(), "bf16 products take f32 values");
    // SAFETY: `T` is `f32`, so the slice reinterprets exactly.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<f32>(), x.len()) }
}

/// `x` as the `f32` slice it is.
///
/// # Panics
/// Unless `T` is `f32`.
pub(crate) fn f32s_mut<T: Scalar>(x: &mut [T]) -> &mut [f32] {
    assert!(is_f32::<T>(), "bf16 products take f32 values");
    // SAFETY: `T` is `f32`, so the slice reinterprets exactly.
    unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<f32>(), x.len()) }
}

/// Products with fewer rows or a shorter inner dimension than this skip `matrixmultiply`,
/// whose packing and 16+-wide tiles dominate there: at batch 64 in a 4-64-64-2 network,
/// the output layer's weight gradient (2 × 64 × 64) took 1.0 µs and its input gradient
/// (64 × 2 × 64) 0.36 µs through `matrixmultiply`, and 0.2 µs and 0.1 µs by rows.
const NARROW: usize = dense::NARROW;

simd_dispatch! {
    /// [`matmul`] for a `b` with contiguous rows: each row of `c` is accumulated as a
    /// combination of rows of `b`, which vectorises along the rows with no packing.
    fn matmul_by_rows<T: Scalar>(a: MatRef<'_, T>, b: MatRef<'_, T>, c: &mut [T]) {
        let n = b.cols;
        for (i, c_row) in c.chunks_exact_mut(n).take(a.rows).enumerate() {
            c_row.fill(T::ZERO);
            for p in 0..a.cols {
                let scale = a.data[i * a.row_stride + p * a.col_stride];
                let b_row = &b.data[p * b.row_stride..][..n];
                for (c, &b) in c_row.iter_mut().zip(b_row) {
                    *c = scale.mul_add(b, *c);
                }
            }
        }
    }
}

simd_dispatch! {
    /// Adds `bias` to every row of the row-major matrix `z` (row length `bias.len()`), then
    /// applies ReLU if `relu`. NaN passes through ReLU, as in PyTorch.
    pub(crate) fn bias_activation<T: Scalar>(z: &mut [T], bias: &[T], relu: bool) {
        for row in z.chunks_exact_mut(bias.len()) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v = activation(*v + b, relu);
            }
        }
    }

    /// Column sums of the row-major matrix `g` (row length `sums.len()`) into `sums`: the
    /// bias gradient of a linear layer whose output gradient is `g`. Each column is summed
    /// over the rows in order; blocks of [`COLUMN_BLOCK`] columns keep their sums in registers
    /// rather than in `sums`, whose loads and stores otherwise dominate (and depend on how
    /// `sums` and `g` happen to align in memory).
    pub(crate) fn column_sums<T: Scalar>(g: &[T], sums: &mut [T]) {
        let n = sums.len();
        let mut start = 0;
        while start + COLUMN_BLOCK <= n {
            let mut acc = [T::ZERO; COLUMN_BLOCK];
            for row in g.chunks_exact(n) {
                let row = &row[start..start + COLUMN_BLOCK];
                for k in 0..COLUMN_BLOCK {
                    acc[k] = acc[k] + row[k];
                }
            }
            sums[start..start + COLUMN_BLOCK].copy_from_slice(&acc);
            start += COLUMN_BLOCK;
        }
        let rest = &mut sums[start..];
        rest.fill(T::ZERO);
        for row in g.chunks_exact(n) {
            for (s, &v) in rest.iter_mut().zip(&row[start..]) {
                *s = *s + v;
            }
        }
    }

    /// Turns the gradient w.r.t. a ReLU layer's output into the gradient w.r.t. its
    /// pre-activation (zero where the post-activation `act` is ≤ 0, as PyTorch's
    /// `threshold_backward`), and writes that gradient's column sums (the layer's bias
    /// gradient) into `bias_grad`. Fusing both saves a pass over `g`; the sums are blocked
    /// as in [`column_sums`].
    pub(crate) fn relu_backward<T: Scalar>(g: &mut [T], act: &[T], bias_grad: &mut [T]) {
        let n = bias_grad.len();
        let mut start = 0;
        while start + COLUMN_BLOCK <= n {
            let mut acc = [T::ZERO; COLUMN_BLOCK];
            for (g_row, a_row) in g.chunks_exact_mut(n).zip(act.chunks_exact(n)) {
                let g_row = &mut g_row[start..start + COLUMN_BLOCK];
                let a_row = &a_row[start..start + COLUMN_BLOCK];
                for k in 0..COLUMN_BLOCK {
                    // A select rather than a conditional store, so the loop vectorises.
                    let v = if a_row[k] <= T::ZERO { T::ZERO } else { g_row[k] };
                    g_row[k] = v;
                    acc[k] = acc[k] + v;
                }
            }
            bias_grad[start..start + COLUMN_BLOCK].copy_from_slice(&acc);
            start += COLUMN_BLOCK;
        }
        let rest = &mut bias_grad[start..];
        rest.fill(T::ZERO);
        for (g_row, a_row) in g.chunks_exact_mut(n).zip(act.chunks_exact(n)) {
            for ((gv, &a), s) in g_row[start..].iter_mut().zip(&a_row[start..]).zip(rest.iter_mut()) {
                *gv = if a <= T::ZERO { T::ZERO } else { *gv };
                *s = *s + *gv;
            }
        }
    }

    /// Sum of squares of `x`, for gradient norms.
    pub(crate) fn sum_of_squares<T: Scalar>(x: &[T]) -> T {
        dense::dot(x, x)
    }

    /// `x ← x · factor`.
    pub(crate) fn scale<T: Scalar>(x: &mut [T], factor: T) {
        for v in x {
            *v = *v * factor;
        }
    }

    /// `target ← target · keep + online · take`.
    pub(crate) fn blend<T: Scalar>(target: &mut [T], online: &[T], keep: T, take: T) {
        for (t, &o) in target.iter_mut().zip(online) {
            *t = *t * keep + o * take;
        }
    }
}

simd_dispatch! {
    /// One row of a noisy layer's effective weight: `out[j] = mu[j] + sigma[j] · (scale ·
    /// eps_in[j])`, with `scale` the row's output noise (PyTorch's `weight_mu + weight_sigma *
    /// epsilon_out.outer(epsilon_in)`, rounded the same way).
    pub(crate) fn noisy_row<T: Scalar>(mu: &[T], sigma: &[T], scale: T, eps_in: &[T], out: &mut [T]) {
        for (((o, &m), &s), &e) in out.iter_mut().zip(mu).zip(sigma).zip(eps_in) {
            *o = m + s * (scale * e);
        }
    }

    /// One row of a noisy layer's σ gradient: `out[j] = g[j] · (scale · eps_in[j])`.
    pub(crate) fn noise_scaled_row<T: Scalar>(g: &[T], scale: T, eps_in: &[T], out: &mut [T]) {
        for ((o, &gv), &e) in out.iter_mut().zip(g).zip(eps_in) {
            *o = gv * (scale * e);
        }
    }
}

simd_dispatch! {
    /// `x ← eˣ` for `f32`, vectorised (Cephes' `expf`): `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`,
    /// a degree-7 polynomial for `eʳ`, and `2ⁿ` built in the exponent bits. Separate
    /// multiplies and adds (no contraction), so every SIMD level gives the same bits; within
    /// 2 ulp of the correctly rounded value for normal results. Inputs below −87.3 give
    /// e^−87.3 (≈ 1.2e−38), above 88.7 give e^88.7; NaN stays NaN.
    pub(crate) fn exp_f32_slice(xs: &mut [f32]) {
        for x in xs {
            *x = exp_f32(*x);
        }
    }
}

/// One [`exp_f32_slice`] element.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    let nan = x.is_nan();
    let x = x.clamp(-87.3, 88.7);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * C1;
    let r = r - n * C2;
    let r2 = r * r;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r2 + r + 1.0;
    // 2ⁿ through the exponent field; n is in [−126, 128], so split it to stay normal. The
    // integer comes from adding 1.5·2²³ (whose unit in the last place is 1) and reading the
    // bits, which vectorises where `as i32` (saturating, NaN-checked) does not.
    let n = (n + 12_582_912.0).to_bits() as i32 - 0x4B40_0000;
    let (n1, n2) = (n >> 1, n - (n >> 1));
    let scale1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let scale2 = f32::from_bits(((n2 + 127) as u32) << 23);
    let out = y * scale1 * scale2;
    if nan { f32::NAN } else { out }
}

/// `x ← eˣ` for `f64`, with libm.
pub(crate) fn exp_f64_slice(xs: &mut [f64]) {
    for x in xs {
        *x = x.exp();
    }
}

/// Columns per register-resident block of [`column_sums`] and [`relu_backward`]: 64 `f32`
/// are four AVX-512 registers.
const COLUMN_BLOCK: usize = 64;

/// ReLU if `relu`, else identity. NaN passes through, as in PyTorch.
#[inline(always)]
pub(crate) fn activation<T: Scalar>(z: T, relu: bool) -> T {
    if relu && z < T::ZERO { T::ZERO } else { z }
}

#[cfg(test)]
mod exp_tests {
    use super::*;

    #[test]
    fn vector_exp_is_within_two_ulp_of_libm() {
        let mut xs: Vec<f32> = (0..200_001)
            .map(|i| -87.0 + i as f32 * (175.0 / 200_000.0))
            .collect();
        xs.extend([0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0]);
        let mut ys = xs.clone();
        exp_f32_slice(&mut ys);
        let mut scalar = xs.clone();
        for x in &mut scalar {
            *x = exp_f32(*x);
        }
        assert_eq!(
            ys.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            scalar.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "every SIMD level agrees with the scalar code"
        );
        for (&x, &y) in xs.iter().zip(&ys) {
            let exact = (x as f64).exp();
            let ulp = (exact as f32).to_bits().abs_diff(y.to_bits());
            assert!(ulp <= 2, "exp({x}) = {y}, expected {exact}");
        }
        let mut special = [f32::NAN, -1000.0, 1000.0, f32::NEG_INFINITY];
        exp_f32_slice(&mut special);
        assert!(special[0].is_nan());
        assert!(special[1] >= 0.0 && special[1] < 2e-38);
        assert!(special[2].is_finite() && special[2] > 1e38);
        assert!(special[3] < 2e-38);
    }
}
