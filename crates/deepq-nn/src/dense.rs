//! Dot-product kernels: a linear layer applied row by row, each output one dot product.
//!
//! Single-observation inference (greedy actions) and layers narrower than a SIMD register
//! are too small for a packed matrix product: `matrixmultiply` took 2.0 µs for a
//! 64 × 64 → 2 layer at batch 64, these kernels 0.2 µs. Every output is a dot product of a
//! weight row (PyTorch's row-major layout) with the input, summed in one fixed order:
//! lane `l` of 16 accumulates, with fused multiply-adds, the products at indices ≡ `l`
//! (mod 16), then lanes are added pairwise (`l + 8`, `l + 4`, `l + 2`, `l + 1`). The portable
//! and the AVX-512 kernels both follow it, and a fused multiply-add is exact on every CPU, so
//! all of them produce the same bits. The AVX-512 kernel computes several rows (a conv
//! layer's pixels, the observations of a vector env's copies) in tiles of 4 outputs × 4 rows,
//! which changes what is loaded how often but not one output's order, so a row gets the same
//! bits alone or among others.

use crate::bf16::{self, Precision};
use crate::kernels::{self, activation, simd_dispatch};
use crate::scalar::Scalar;

/// Lanes per dot product: one 512-bit register of `f32`.
const LANES: usize = 16;

/// Layers with fewer outputs than this run batches through [`dense_rows`] rather than a
/// matrix product (whose tiles are at least this wide).
pub(crate) const NARROW: usize = LANES;

/// A linear layer applied row by row: for each `n_in`-long row `x` of `xs`, the matching row
/// of `zs` gets `W x + bias`, then ReLU if `relu`. `w` is `bias.len() × n_in`, row-major.
///
/// # Panics
/// If the slice lengths do not fit these shapes.
pub(crate) fn dense_rows<T: Scalar>(
    w: &[T],
    bias: &[T],
    n_in: usize,
    xs: &[T],
    zs: &mut [T],
    relu: bool,
) {
    check_shapes(w, bias.len(), n_in, xs, zs);
    T::dense_rows(w, bias, n_in, xs, zs, relu);
}

/// Checks that `w` is `n_out × n_in` and `zs` holds `n_out` outputs per `n_in`-long row of
/// `xs`.
///
/// # Panics
/// If not.
pub(crate) fn check_shapes<T>(w: &[T], n_out: usize, n_in: usize, xs: &[T], zs: &[T]) {
    assert!(n_in > 0 && w.len() == n_out * n_in, "weight shape");
    assert!(
        xs.len().is_multiple_of(n_in) && zs.len() == xs.len() / n_in * n_out,
        "row counts of input and output differ"
    );
}

/// [`dense_rows`] in `precision` ([`crate::bf16::dense_rows_with`] in bf16).
///
/// # Panics
/// As [`dense_rows`]; or for bf16 with `T` other than `f32`.
pub(crate) fn dense_rows_in<T: Scalar>(
    precision: Precision,
    w: &[T],
    bias: &[T],
    n_in: usize,
    xs: &[T],
    zs: &mut [T],
    relu: bool,
) {
    match precision {
        Precision::F32 => dense_rows(w, bias, n_in, xs, zs, relu),
        Precision::Bf16 => {
            let f = kernels::f32s;
            let kernel = bf16::Bf16Kernel::detect();
            bf16::dense_rows_with(
                kernel,
                f(w),
                f(bias),
                n_in,
                f(xs),
                kernels::f32s_mut(zs),
                relu,
            );
        }
    }
}

/// The dot product in this module's summation order.
#[inline(always)]
pub(crate) fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    let (ra, rb) = (ca.remainder(), cb.remainder());
    if !ra.is_empty() {
        // A zero-padded chunk rather than a loop over the remainder: writing lanes by a
        // run-time index forces the accumulators through memory (measured 1.6× slower).
        let pad = |r: &[T]| -> [T; LANES] {
            std::array::from_fn(|l| if l < r.len() { r[l] } else { T::ZERO })
        };
        let (x, y) = (pad(ra), pad(rb));
        for l in 0..LANES {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    // Fresh arrays per step rather than halving in place, which the compiler spilled.
    let s8: [T; 8] = std::array::from_fn(|l| acc[l] + acc[l + 8]);
    let s4: [T; 4] = std::array::from_fn(|l| s8[l] + s8[l + 4]);
    let s2: [T; 2] = std::array::from_fn(|l| s4[l] + s4[l + 2]);
    s2[0] + s2[1]
}

/// The sum of `a` in [`dot`]'s order (16 lanes, then pairwise).
#[inline(always)]
pub(crate) fn sum<T: Scalar>(a: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let mut chunks = a.chunks_exact(LANES);
    for x in &mut chunks {
        for l in 0..LANES {
            acc[l] = acc[l] + x[l];
        }
    }
    for (l, &x) in chunks.remainder().iter().enumerate() {
        acc[l] = acc[l] + x;
    }
    let s8: [T; 8] = std::array::from_fn(|l| acc[l] + acc[l + 8]);
    let s4: [T; 4] = std::array::from_fn(|l| s8[l] + s8[l + 4]);
    let s2: [T; 2] = std::array::from_fn(|l| s4[l] + s4[l + 2]);
    s2[0] + s2[1]
}

/// The largest element of a non-empty `a` (NaNs ignored unless all are NaN), 16 lanes at a
/// time: `max` is exact, so the order does not change the result.
#[inline(always)]
pub(crate) fn max<T: Scalar>(a: &[T]) -> T {
    let mut acc = [a[0]; LANES];
    let mut chunks = a.chunks_exact(LANES);
    for x in &mut chunks {
        for l in 0..LANES {
            acc[l] = acc[l].max(x[l]);
        }
    }
    for (l, &x) in chunks.remainder().iter().enumerate() {
        acc[l] = acc[l].max(x);
    }
    acc.iter().copied().fold(acc[0], T::max)
}

simd_dispatch! {
    /// [`dense_rows`] for any element type and CPU (shapes already checked).
    pub(crate) fn dense_rows_portable<T: Scalar>(
        w: &[T],
        bias: &[T],
        n_in: usize,
        xs: &[T],
        zs: &mut [T],
        relu: bool,
    ) {
        for (x, z) in xs.chunks_exact(n_in).zip(zs.chunks_exact_mut(bias.len())) {
            for ((z, row), &b) in z.iter_mut().zip(w.chunks_exact(n_in)).zip(bias) {
                *z = activation(dot(row, x) + b, relu);
            }
        }
    }
}

/// [`dense_rows`] for `f32` (shapes already checked): the AVX-512 kernel where the CPU has
/// it (a 4-64-64-2 greedy action took 0.18 µs with it, 0.65 µs with the portable one),
/// else the portable one.
pub(crate) fn dense_rows_f32(
    w: &[f32],
    bias: &[f32],
    n_in: usize,
    xs: &[f32],
    zs: &mut [f32],
    relu: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; the caller checked the shapes.
        unsafe { avx512::dense_rows(w, bias, n_in, xs, zs, relu) };
        return;
    }
    dense_rows_portable(w, bias, n_in, xs, zs, relu);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::LANES;
    use crate::kernels::tile_dispatch;

    /// Lane selectors for the four steps of [`reduce16`]: step `s` adds lane pairs `l`,
    /// `l + 8 >> s` within blocks of `16 >> s` lanes, for two registers at once, packing the
    /// first register's results into the low 8 lanes and the second's into the high 8.
    const fn selectors(step: u32, high: bool) -> [i32; 16] {
        let block = 16 >> step;
        let half = block / 2;
        let mut idx = [0; 16];
        let mut m = 0;
        while m < 16 {
            let (source, within) = (m / 8, m % 8);
            let (j, l) = (within / half, within % half);
            let lane = j * block + l + if high { half } else { 0 };
            idx[m] = (source * 16 + lane) as i32;
            m += 1;
        }
        idx
    }

    const SELECT: [[[i32; 16]; 2]; 4] = {
        let mut s = [[[0; 16]; 2]; 4];
        let mut step = 0;
        while step < 4 {
            s[step][0] = selectors(step as u32, false);
            s[step][1] = selectors(step as u32, true);
            step += 1;
        }
        s
    };

    /// Sums the lanes of each of 16 registers: lane `r` of the result is the sum of
    /// `acc[r]`, added in the module's pairwise order; 15 additions and 30 permutes in all
    /// instead of 16 separate 4-step reductions.
    #[target_feature(enable = "avx512f")]
    fn reduce16(mut acc: [__m512; 16]) -> __m512 {
        let mut count = 16;
        for select in &SELECT {
            // SAFETY: reading 16 i32 from a 16-element array.
            let (lo, hi) = unsafe {
                (
                    _mm512_loadu_si512(select[0].as_ptr().cast()),
                    _mm512_loadu_si512(select[1].as_ptr().cast()),
                )
            };
            for k in 0..count / 2 {
                let (a, b) = (acc[2 * k], acc[2 * k + 1]);
                acc[k] = _mm512_add_ps(
                    _mm512_permutex2var_ps(a, lo, b),
                    _mm512_permutex2var_ps(a, hi, b),
                );
            }
            count /= 2;
        }
        acc[0]
    }

    /// Sum of the lanes of `v` in the module's pairwise order.
    #[target_feature(enable = "avx512f")]
    fn reduce1(v: __m512) -> f32 {
        let v = _mm512_castps_pd(v);
        let lo8 = _mm256_castpd_ps(_mm512_castpd512_pd256(v));
        let hi8 = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(v));
        let s8 = _mm256_add_ps(lo8, hi8);
        let s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps::<1>(s8));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)))
    }

    /// ReLU that lets NaN through and keeps −0, like the portable `activation`.
    #[target_feature(enable = "avx512f")]
    fn relu(v: __m512) -> __m512 {
        // `max` returns its second operand when either is NaN or both are zero.
        _mm512_max_ps(_mm512_setzero_ps(), v)
    }

    /// # Safety
    /// The CPU must have AVX-512F, `w.len() == bias.len() * n_in`, `n_in > 0`, and `xs` and
    /// `zs` must hold the same number of rows of `n_in` and `bias.len()` elements.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dense_rows(
        w: &[f32],
        bias: &[f32],
        n_in: usize,
        xs: &[f32],
        zs: &mut [f32],
        relu_on: bool,
    ) {
        let (n_out, rows) = (bias.len(), xs.len() / n_in);
        let layer = Layer {
            w,
            bias,
            n_in,
            xs,
            relu_on,
        };
        if rows == 1 {
            // One observation: blocks of 16 outputs, then single ones.
            let blocks = n_out / LANES * LANES;
            for o in (0..blocks).step_by(LANES).chain(blocks..n_out) {
                // SAFETY: the CPU has AVX-512F; `o < n_out`; the caller's shapes.
                unsafe { layer.output_group(o, zs) };
            }
            return;
        }
        // Several rows (a conv layer's pixels, or observations acted on together): tiles
        // of 4 outputs × 4 rows, which load each weight chunk once for 4 rows and each input
        // chunk once for 4 outputs. Each output's sum is the same in any tile and loop
        // order; only what stays in cache differs.
        let mut tile = |o: usize, r: usize| {
            let shape = ((n_out - o).min(TILE), (rows - r).min(TILE));
            // SAFETY: the CPU has AVX-512F; the tile lies within the outputs and rows.
            unsafe { tile_dispatch!(shape, layer.tile(o, r, zs)) }
        };
        if exceeds_cache(w.len()) {
            // A large weight matrix (Nature DQN's 3136 → 512 layer) is read once for all
            // rows: 4 weight rows stay in cache while every input row passes.
            for o in (0..n_out).step_by(TILE) {
                for r in (0..rows).step_by(TILE) {
                    tile(o, r);
                }
            }
        } else {
            // A small one stays in cache whole while each input row passes once.
            for r in (0..rows).step_by(TILE) {
                for o in (0..n_out).step_by(TILE) {
                    tile(o, r);
                }
            }
        }
    }

    /// Outputs and rows of one tile of [`dense_rows`] on several rows.
    const TILE: usize = 4;

    /// [`dense_rows`]'s operands, for its tiles.
    struct Layer<'a> {
        w: &'a [f32],
        bias: &'a [f32],
        n_in: usize,
        xs: &'a [f32],
        relu_on: bool,
    }

    impl Layer<'_> {
        /// The mask of the last 16-lane chunk of a row: masked loads read nothing past the
        /// row and give zeros, which add nothing.
        fn tail(&self) -> __mmask16 {
            match self.n_in % LANES {
                0 => !0,
                t => (1 << t) - 1,
            }
        }

        /// Outputs `o..o + NO` of rows `r..r + NR` into `zs`: `NO · NR ≤ 16` accumulators,
        /// each the 16 lanes of one output's dot product, summed as [`reduce16`] sums.
        ///
        /// # Safety
        /// The CPU must have AVX-512F; the tile must lie within the outputs and rows, and
        /// the shapes be [`dense_rows`]'s.
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn tile<const NO: usize, const NR: usize>(
            &self,
            o: usize,
            r: usize,
            zs: &mut [f32],
        ) {
            let (n_in, n_out) = (self.n_in, self.bias.len());
            let (chunks, tail) = (n_in.div_ceil(LANES), self.tail());
            let (w, x) = (self.w.as_ptr(), self.xs.as_ptr());
            let mut acc = [_mm512_setzero_ps(); 16];
            for c in 0..chunks {
                let mask = if c + 1 == chunks { tail } else { !0 };
                // SAFETY: lanes enabled by `mask` lie within rows `r + j` of `xs` and rows
                // `o + i` of `w`, which the tile's bounds keep in range.
                unsafe {
                    let xv: [__m512; NR] = std::array::from_fn(|j| {
                        _mm512_maskz_loadu_ps(mask, x.add((r + j) * n_in + c * LANES))
                    });
                    for i in 0..NO {
                        let wv = _mm512_maskz_loadu_ps(mask, w.add((o + i) * n_in + c * LANES));
                        for j in 0..NR {
                            acc[i * NR + j] = _mm512_fmadd_ps(wv, xv[j], acc[i * NR + j]);
                        }
                    }
                }
            }
            let mut sums = [0.0f32; 16];
            // SAFETY: 16 f32 into a 16-element array.
            unsafe { _mm512_storeu_ps(sums.as_mut_ptr(), reduce16(acc)) };
            for i in 0..NO {
                for j in 0..NR {
                    zs[(r + j) * n_out + o + i] =
                        super::activation(sums[i * NR + j] + self.bias[o + i], self.relu_on);
                }
            }
        }

        /// Outputs `o..o + 16` (or output `o` alone where fewer than 16 remain) of
        /// [`dense_rows`] on one row.
        ///
        /// # Safety
        /// The CPU must have AVX-512F; `o < bias.len()`; the shapes must be [`dense_rows`]'s
        /// with one row.
        #[inline]
        #[target_feature(enable = "avx512f")]
        unsafe fn output_group(&self, o: usize, z: &mut [f32]) {
            let (n_in, n_out, bias, relu_on) =
                (self.n_in, self.bias.len(), self.bias, self.relu_on);
            let (chunks, tail) = (n_in.div_ceil(LANES), self.tail());
            let mask = |c: usize| if c + 1 == chunks { tail } else { !0 };
            let (w, x) = (self.w.as_ptr(), self.xs.as_ptr());
            if o + LANES <= n_out {
                let mut acc = [_mm512_setzero_ps(); 16];
                for c in 0..chunks {
                    // SAFETY: lanes enabled by `mask(c)` lie within row `o + i` of `w`
                    // (o + i < n_out) and within `x`.
                    unsafe {
                        let xv = _mm512_maskz_loadu_ps(mask(c), x.add(c * LANES));
                        for (i, acc) in acc.iter_mut().enumerate() {
                            let row = w.add((o + i) * n_in + c * LANES);
                            *acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask(c), row), xv, *acc);
                        }
                    }
                }
                // SAFETY: `o + 16 <= n_out` elements of `bias` and of `z`.
                unsafe {
                    let v = _mm512_add_ps(reduce16(acc), _mm512_loadu_ps(bias.as_ptr().add(o)));
                    let v = if relu_on { relu(v) } else { v };
                    _mm512_storeu_ps(z.as_mut_ptr().add(o), v);
                }
            } else {
                let mut acc = _mm512_setzero_ps();
                for c in 0..chunks {
                    // SAFETY: as above, for row `o` of `w`.
                    unsafe {
                        let xv = _mm512_maskz_loadu_ps(mask(c), x.add(c * LANES));
                        let wv = _mm512_maskz_loadu_ps(mask(c), w.add(o * n_in + c * LANES));
                        acc = _mm512_fmadd_ps(wv, xv, acc);
                    }
                }
                z[o] = super::activation(reduce1(acc) + bias[o], relu_on);
            }
        }
    }

    /// Whether `n` weights are more than a core's L2 cache keeps beside the inputs.
    fn exceeds_cache(n: usize) -> bool {
        n * std::mem::size_of::<f32>() > 512 << 10
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The AVX-512 kernel (where available) and the portable one agree bit for bit, on
    /// shapes covering full and partial chunks, 16-output blocks and 4 × 4 tiles with
    /// remainders, one row and several, and a weight matrix too large to stay in cache.
    #[test]
    fn kernels_agree_bitwise() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut shapes: Vec<(usize, usize, usize)> = Vec::new();
        for n_in in [1, 3, 4, 15, 16, 17, 33, 64] {
            for n_out in [1, 2, 15, 16, 17, 40] {
                shapes.extend([(n_in, n_out, 3), (n_in, n_out, 1)]);
            }
        }
        shapes.extend([(2100, 70, 6), (2100, 70, 1)]);
        for (n_in, n_out, rows) in shapes {
            let mut v =
                |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
            let (w, b, xs) = (v(n_out * n_in), v(n_out), v(rows * n_in));
            let mut fast = vec![0.0; rows * n_out];
            let mut portable = vec![0.0; rows * n_out];
            dense_rows(&w, &b, n_in, &xs, &mut fast, true);
            dense_rows_portable(&w, &b, n_in, &xs, &mut portable, true);
            assert_eq!(fast, portable, "{n_in} → {n_out}, {rows} rows");
            let reference: Vec<f32> = xs
                .chunks(n_in)
                .flat_map(|x| {
                    w.chunks(n_in)
                        .zip(&b)
                        .map(|(row, &b)| {
                            let s: f64 =
                                row.iter().zip(x).map(|(&a, &c)| a as f64 * c as f64).sum();
                            (s + b as f64).max(0.0) as f32
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let tolerance = 1e-5 + 1e-6 * n_in as f32;
            for (f, r) in fast.iter().zip(&reference) {
                assert!((f - r).abs() < tolerance, "{f} vs {r}");
            }
        }
    }
}
