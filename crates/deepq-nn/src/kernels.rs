//! Matrix products (through `matrixmultiply`, or by rows for narrow shapes) and the
//! elementwise and reduction loops around them.
//!
//! The loops are compiled once per SIMD level and chosen at run time by `multiversion`,
//! because the default x86-64 target only has SSE2. Rust never contracts `a * b + c` into a
//! fused multiply-add on its own; where a kernel wants one it says so with `mul_add`, which
//! is exactly rounded on every CPU. So every SIMD level of these loops computes the same
//! bits, and reductions, which use a fixed order, are deterministic too. `matrixmultiply`
//! picks its own kernel per CPU (FMA or not), so its products repeat exactly on one machine
//! but may differ in the last bits between machines.

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

/// A read-only matrix view with element strides, as `matrixmultiply` takes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
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
    /// bias gradient of a linear layer whose output gradient is `g`.
    pub(crate) fn column_sums<T: Scalar>(g: &[T], sums: &mut [T]) {
        sums.fill(T::ZERO);
        for row in g.chunks_exact(sums.len()) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s = *s + v;
            }
        }
    }

    /// Turns the gradient w.r.t. a ReLU layer's output into the gradient w.r.t. its
    /// pre-activation (zero where the post-activation `act` is ≤ 0, as PyTorch's
    /// `threshold_backward`), and writes that gradient's column sums (the layer's bias
    /// gradient) into `bias_grad`. Fusing both saves a pass over `g`.
    pub(crate) fn relu_backward<T: Scalar>(g: &mut [T], act: &[T], bias_grad: &mut [T]) {
        let n = bias_grad.len();
        bias_grad.fill(T::ZERO);
        for (g_row, a_row) in g.chunks_exact_mut(n).zip(act.chunks_exact(n)) {
            for ((gv, &a), s) in g_row.iter_mut().zip(a_row).zip(bias_grad.iter_mut()) {
                // A select rather than a conditional store, so the loop vectorises.
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

/// ReLU if `relu`, else identity. NaN passes through, as in PyTorch.
#[inline(always)]
pub(crate) fn activation<T: Scalar>(z: T, relu: bool) -> T {
    if relu && z < T::ZERO { T::ZERO } else { z }
}
