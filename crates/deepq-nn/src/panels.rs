//! `f32` matrix products for DQN's small layers, packing at most the right operand.
//!
//! At the sizes DQN trains (a batch of 32–256 rows through layers of 32–512 units),
//! `matrixmultiply` spent as long copying its operands into packed panels as multiplying
//! them: in a profile of CartPole's 4-32-32-2 update, packing took 22% of the whole run and
//! the products 20%. Here neither operand is packed when the right one has contiguous rows,
//! and otherwise (a transposed weight matrix) only the right one is copied, one
//! `DEPTH × PANEL` panel at a time into a buffer on the stack; each block of output rows
//! keeps its sums in registers while it reads its rows of the left operand in place.
//!
//! Every output is summed exactly as `matrixmultiply`'s AVX-512 kernel sums it, so the two
//! give the same bits and a network trains to the same weights through either: products are
//! accumulated with fused multiply-adds from +0 in order of the inner index, in blocks of
//! [`DEPTH`] (its `KC`), and each block's sum is added to the output in block order. On a
//! CPU without AVX-512 `matrixmultiply` computes the product as before.

/// The inner-dimension block whose sums are added to the output one at a time: 256, as
/// `matrixmultiply`'s `KC` for `f32`.
const DEPTH: usize = 256;

/// Output columns per panel: two AVX-512 registers.
const PANEL: usize = 32;

/// The largest transposed right operand (in elements) copied into panels here: beyond it
/// (MinAtar's 1024 → 128 layer) the scalar copy costs more than `matrixmultiply`'s packing of
/// both operands saves, measured on `deepq bench updates --preset minatar-breakout`.
const PACKED_MAX: usize = 64 * 64;

/// `matrixmultiply::sgemm`'s contract (`C ← α A·B + β C`, each matrix a base pointer and
/// row and column strides in elements), computed here for the products deepq asks for
/// (α = 1, β = 0, contiguous output rows; a right operand with contiguous rows or at most
/// [`PACKED_MAX`] elements) where the CPU has AVX-512, and by `matrixmultiply` otherwise.
///
/// # Safety
/// As `matrixmultiply::sgemm`: every element the shapes and strides address lies inside
/// its allocation, and C does not alias A or B.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    #[cfg(target_arch = "x86_64")]
    if alpha == 1.0
        && beta == 0.0
        && csc == 1
        && k > 0
        && (csb == 1 || k * n <= PACKED_MAX)
        && std::arch::is_x86_feature_detected!("avx512f")
    {
        let a = avx512::Strided {
            ptr: a,
            row_stride: rsa,
            col_stride: csa,
        };
        let b = avx512::Strided {
            ptr: b,
            row_stride: rsb,
            col_stride: csb,
        };
        // SAFETY: the CPU has AVX-512F; the caller upholds the addressing contract.
        unsafe { avx512::matmul(m, k, n, a, b, c, rsc) };
        return;
    }
    // SAFETY: forwarded verbatim under the same contract.
    unsafe { matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::{DEPTH, PANEL};

    /// Registers per panel row.
    const VECS: usize = PANEL / 16;

    /// Output rows whose sums stay in registers while a panel is swept: 6 × 2 accumulators
    /// for a full panel, 8 × 1 for one at most 16 columns wide (the last of an odd width,
    /// or a layer of 16 channels), which would otherwise waste half its products.
    const ROWS_WIDE: usize = 6;
    const ROWS_NARROW: usize = 8;

    /// A read-only matrix: base pointer and strides in elements.
    #[derive(Clone, Copy)]
    pub(super) struct Strided {
        pub(super) ptr: *const f32,
        pub(super) row_stride: isize,
        pub(super) col_stride: isize,
    }

    impl Strided {
        /// # Safety
        /// `(i, j)` must address an element of the matrix.
        #[inline(always)]
        unsafe fn at(self, i: usize, j: usize) -> f32 {
            // SAFETY: the caller's contract.
            unsafe {
                *self
                    .ptr
                    .offset(i as isize * self.row_stride + j as isize * self.col_stride)
            }
        }
    }

    /// One block of the product: `depth` inner indices from `p0` against the output columns
    /// from `j0`, whose rows of B are read from `b`, `b_stride` elements apart.
    struct Block {
        p0: usize,
        depth: usize,
        j0: usize,
        /// B's row `p0` at column `j0`: in B itself or in the packed panel.
        b: *const f32,
        b_stride: usize,
        /// The lanes of each register of a B row that are output columns.
        masks: [__mmask16; VECS],
        /// The first inner block writes the output; later ones add to it.
        first: bool,
    }

    /// `C ← A·B`, with A `m × k`, B `k × n` and C `m × n` with contiguous rows `rsc` apart.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, `k > 0`, and every element the shapes and strides address
    /// must lie inside its allocation, with C not aliasing A or B.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn matmul(
        m: usize,
        k: usize,
        n: usize,
        a: Strided,
        b: Strided,
        c: *mut f32,
        rsc: isize,
    ) {
        // B with contiguous rows is read in place (a product's second operand is often
        // as large as its first: a weight gradient's activations); a transposed B (a weight
        // matrix, in a layer's forward pass) is copied into panels of contiguous rows.
        let in_place = b.col_stride == 1;
        // Each block writes the panel rows it then reads.
        let mut panel = MaybeUninit::<[f32; DEPTH * PANEL]>::uninit();
        let panel = panel.as_mut_ptr().cast::<f32>();
        for j0 in (0..n).step_by(PANEL) {
            let width = PANEL.min(n - j0);
            let masks = std::array::from_fn(|v| {
                let lanes = width.saturating_sub(16 * v).min(16);
                ((1u32 << lanes) - 1) as __mmask16
            });
            for p0 in (0..k).step_by(DEPTH) {
                let depth = DEPTH.min(k - p0);
                let (b_start, b_stride) = if in_place {
                    let start = b
                        .ptr
                        .wrapping_offset(p0 as isize * b.row_stride + j0 as isize);
                    (start, b.row_stride as usize)
                } else {
                    for p in 0..depth {
                        for j in 0..width {
                            // SAFETY: (p0 + p, j0 + j) lies in B; the panel holds
                            // DEPTH × PANEL elements.
                            unsafe { panel.add(p * PANEL + j).write(b.at(p0 + p, j0 + j)) };
                        }
                    }
                    (panel.cast_const(), PANEL)
                };
                let block = Block {
                    p0,
                    depth,
                    j0,
                    b: b_start,
                    b_stride,
                    masks,
                    first: p0 == 0,
                };
                // SAFETY: the block's rows of B lie in B or were written to the panel above.
                unsafe {
                    if width > 16 {
                        sweep::<ROWS_WIDE, 2>(m, a, &block, c, rsc);
                    } else {
                        sweep::<ROWS_NARROW, 1>(m, a, &block, c, rsc);
                    }
                }
            }
        }
    }

    /// All `m` output rows against one block, `R` at a time, using the first `V` registers
    /// of each B row.
    ///
    /// # Safety
    /// As [`matmul`], with the block's rows of B readable under its masks.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn sweep<const R: usize, const V: usize>(
        m: usize,
        a: Strided,
        block: &Block,
        c: *mut f32,
        rsc: isize,
    ) {
        let mut i = 0;
        // SAFETY: rows i..i + R, and at the end the remaining m - i < R rows, lie in A and C.
        unsafe {
            while i + R <= m {
                rows::<R, V>(a, i, block, c, rsc);
                i += R;
            }
            // The remainder in one pass too: row by row, each row's few sums would wait on
            // each other's fused multiply-adds.
            match m - i {
                0 => {}
                1 => rows::<1, V>(a, i, block, c, rsc),
                2 => rows::<2, V>(a, i, block, c, rsc),
                3 => rows::<3, V>(a, i, block, c, rsc),
                4 => rows::<4, V>(a, i, block, c, rsc),
                5 => rows::<5, V>(a, i, block, c, rsc),
                6 => rows::<6, V>(a, i, block, c, rsc),
                rest => {
                    debug_assert_eq!(rest, 7, "R is at most 8");
                    rows::<7, V>(a, i, block, c, rsc)
                }
            }
        }
    }

    /// `R` output rows from `i0` against one block, their sums held in registers.
    ///
    /// # Safety
    /// As [`matmul`], with rows `i0..i0 + R` inside A and C and the block's rows of B
    /// readable under its masks.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn rows<const R: usize, const V: usize>(
        a: Strided,
        i0: usize,
        block: &Block,
        c: *mut f32,
        rsc: isize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); V]; R];
        for p in 0..block.depth {
            let b_row = block.b.wrapping_add(p * block.b_stride);
            // Masked-off lanes are not read, so a register past B's last column (or the
            // panel's unwritten columns) touches no memory.
            // SAFETY: the enabled lanes are elements of B's row p0 + p (or the panel's).
            let b: [__m512; V] = std::array::from_fn(|v| unsafe {
                _mm512_maskz_loadu_ps(block.masks[v], b_row.wrapping_add(16 * v))
            });
            for (r, acc_row) in acc.iter_mut().enumerate() {
                // SAFETY: row i0 + r < m and column p0 + p < k of A.
                let x = _mm512_set1_ps(unsafe { a.at(i0 + r, block.p0 + p) });
                for (s, &y) in acc_row.iter_mut().zip(&b) {
                    *s = _mm512_fmadd_ps(x, y, *s);
                }
            }
        }
        for (r, acc_row) in acc.iter().enumerate() {
            let row = c.wrapping_offset((i0 + r) as isize * rsc + block.j0 as isize);
            for (v, (&s, &mask)) in acc_row.iter().zip(&block.masks).enumerate() {
                // As for loads, masked-off lanes touch no memory.
                let dst = row.wrapping_add(16 * v);
                // SAFETY: the lanes `mask` enables are output columns of row i0 + r.
                unsafe {
                    let sum = if block.first {
                        s
                    } else {
                        _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst), s)
                    };
                    _mm512_mask_storeu_ps(dst, mask, sum);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    /// `matrixmultiply::sgemm`'s signature.
    type Sgemm = unsafe fn(
        usize,
        usize,
        usize,
        f32,
        *const f32,
        isize,
        isize,
        *const f32,
        isize,
        isize,
        f32,
        *mut f32,
        isize,
        isize,
    );

    /// The same bits as `matrixmultiply` (on CPUs with AVX-512 this checks the kernel, on
    /// others the fallback) for every layout deepq multiplies: plain, transposed left or
    /// right operand, with row and column remainders and more than one inner block.
    #[test]
    fn matches_matrixmultiply_bit_for_bit() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for (m, k, n) in [
            (1, 1, 1),
            (6, 16, 32),
            (50, 36, 16),
            (16, 700, 36),
            (7, 33, 17),
            (64, 32, 32),
            (13, 300, 40),
            (64, 600, 70),
            (5, 256, 33),
            (32, 512, 15),
            // A transposed B small enough for panels, over two inner blocks.
            (20, 300, 13),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
            // (row stride, column stride) of A as m × k and of B as k × n: row-major, or
            // the transpose of a row-major matrix.
            for (a_strides, b_strides) in [
                ((k, 1), (n, 1)),
                ((1, m), (n, 1)),
                ((k, 1), (1, k)),
                ((1, m), (1, k)),
            ] {
                let product = |gemm: Sgemm| {
                    let mut c = vec![f32::NAN; m * n];
                    // SAFETY: the strides address the m·k and k·n elements of `a` and `b`;
                    // `c` holds m·n.
                    unsafe {
                        gemm(
                            m,
                            k,
                            n,
                            1.0,
                            a.as_ptr(),
                            a_strides.0 as isize,
                            a_strides.1 as isize,
                            b.as_ptr(),
                            b_strides.0 as isize,
                            b_strides.1 as isize,
                            0.0,
                            c.as_mut_ptr(),
                            n as isize,
                            1,
                        )
                    };
                    c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                };
                assert_eq!(
                    product(super::sgemm),
                    product(matrixmultiply::sgemm),
                    "{m}×{k}×{n}, strides {a_strides:?} {b_strides:?}"
                );
            }
        }
    }
}
