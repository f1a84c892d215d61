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
//! Every output is summed exactly as `matrixmultiply`'s FMA kernel sums it, so the two give
//! the same bits and a network trains to the same weights through either: products are
//! accumulated with fused multiply-adds from +0 in order of the inner index, in blocks of
//! [`DEPTH`] (its `KC`), and each block's sum is added to the output in block order.
//!
//! One kernel, written once (`panel_kernel!`), is compiled for AVX-512 (16 lanes) and for
//! AVX2 with FMA (8 lanes); a CPU with neither computes through `matrixmultiply`.

#[cfg(target_arch = "x86_64")]
/// The inner-dimension block whose sums are added to the output one at a time: 256, as
/// `matrixmultiply`'s `KC` for `f32`.
const DEPTH: usize = 256;

#[cfg(target_arch = "x86_64")]
/// The largest transposed right operand (in elements) copied into panels here: beyond it
/// (MinAtar's 1024 → 128 layer) the scalar copy costs more than `matrixmultiply`'s packing of
/// both operands saves, measured on `deepq bench updates --preset minatar-breakout`.
const PACKED_MAX: usize = 64 * 64;

#[cfg(target_arch = "x86_64")]
/// Output rows whose sums stay in registers while a panel (two registers wide) is swept: 6 ×
/// 2 accumulators, and 8 × 1 for a panel at most one register wide (the last of an odd
/// width, or a layer of as many channels as lanes), which would otherwise waste half its
/// products.
const ROWS_WIDE: usize = 6;
#[cfg(target_arch = "x86_64")]
const ROWS_NARROW: usize = 8;

/// `matrixmultiply::sgemm`'s contract (`C ← α A·B + β C`, each matrix a base pointer and
/// row and column strides in elements), computed here for the products deepq asks for
/// (α = 1, β = 0, contiguous output rows) where the CPU has AVX-512 (a right operand with
/// contiguous rows or at most [`PACKED_MAX`] elements) or AVX2 with FMA (a right operand of
/// at most [`PACKED_MAX`] elements), and by `matrixmultiply` otherwise.
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
    if alpha == 1.0 && beta == 0.0 && csc == 1 && k > 0 {
        let a = Strided {
            ptr: a,
            row_stride: rsa,
            col_stride: csa,
        };
        let b_view = Strided {
            ptr: b,
            row_stride: rsb,
            col_stride: csb,
        };
        let small = k * n <= PACKED_MAX;
        if (csb == 1 || small) && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F; the caller upholds the addressing contract.
            unsafe { avx512::matmul(m, k, n, a, b_view, c, rsc) };
            return;
        }
        // With AVX2 a large right operand read in place lost to `matrixmultiply`'s packed
        // kernel (a 4-256-256-2 update: 10% slower), so only small ones come here.
        if small
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA; the caller upholds the addressing contract.
            unsafe { avx2::matmul(m, k, n, a, b_view, c, rsc) };
            return;
        }
    }
    // SAFETY: forwarded verbatim under the same contract.
    unsafe { matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
}

#[cfg(target_arch = "x86_64")]
/// A read-only matrix: base pointer and strides in elements.
#[derive(Clone, Copy)]
struct Strided {
    ptr: *const f32,
    row_stride: isize,
    col_stride: isize,
}

#[cfg(target_arch = "x86_64")]
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

/// The kernel, for an instruction set whose module defines `Vector` and `Mask` (a register
/// of `LANES` floats and a lane mask) and, compiled for `$features`, `zero`, `splat`,
/// `fmadd` (`a·b + c`, one rounding), `add`, `mask` (the first `lanes` lanes), `load`/`store`,
/// which touch only the lanes their mask enables, and `load_all`/`store_all`, every lane.
macro_rules! panel_kernel {
    ($features:literal) => {
        use std::mem::MaybeUninit;

        use super::{DEPTH, ROWS_NARROW, ROWS_WIDE, Strided};

        /// Output columns per panel: two registers.
        const PANEL: usize = 2 * LANES;

        /// One block of the product: `depth` inner indices from `p0` against the output
        /// columns from `j0`, whose rows of B are read from `b`, `b_stride` elements apart.
        struct Block {
            p0: usize,
            depth: usize,
            j0: usize,
            /// B's row `p0` at column `j0`: in B itself or in the packed panel.
            b: *const f32,
            b_stride: usize,
            /// The lanes of each register of a B row that are output columns.
            masks: [Mask; 2],
            /// The first inner block writes the output; later ones add to it.
            first: bool,
        }

        /// `C ← A·B`, with A `m × k`, B `k × n` and C `m × n` with contiguous rows `rsc`
        /// apart.
        ///
        /// # Safety
        /// The CPU must have the module's instruction set, `k > 0`, and every element the
        /// shapes and strides address must lie inside its allocation, with C not aliasing A
        /// or B.
        #[target_feature(enable = $features)]
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
            // as large as its first: a weight gradient's activations); a transposed B (a
            // weight matrix, in a layer's forward pass) is copied into panels of contiguous
            // rows.
            let in_place = b.col_stride == 1;
            // Each block writes the panel rows it then reads.
            let mut panel = MaybeUninit::<[f32; DEPTH * PANEL]>::uninit();
            let panel = panel.as_mut_ptr().cast::<f32>();
            for j0 in (0..n).step_by(PANEL) {
                let width = PANEL.min(n - j0);
                let masks = [mask(width.min(LANES)), mask(width.saturating_sub(LANES))];
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
                    // SAFETY: the block's rows of B lie in B or were written to the panel
                    // above.
                    unsafe {
                        match width {
                            PANEL => sweep::<ROWS_WIDE, 2, true>(m, a, &block, c, rsc),
                            LANES => sweep::<ROWS_NARROW, 1, true>(m, a, &block, c, rsc),
                            w if w > LANES => sweep::<ROWS_WIDE, 2, false>(m, a, &block, c, rsc),
                            _ => sweep::<ROWS_NARROW, 1, false>(m, a, &block, c, rsc),
                        }
                    }
                }
            }
        }

        /// All `m` output rows against one block, `R` at a time, using the first `V`
        /// registers of each B row: all their lanes if `FULL`, else the block's masks (full
        /// registers need no masks, whose loads and stores are slower on some CPUs).
        ///
        /// # Safety
        /// As [`matmul`], with the block's rows of B readable under its masks.
        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn sweep<const R: usize, const V: usize, const FULL: bool>(
            m: usize,
            a: Strided,
            block: &Block,
            c: *mut f32,
            rsc: isize,
        ) {
            let mut i = 0;
            // SAFETY: rows i..i + R, and at the end the remaining m - i < R rows, lie in A
            // and C.
            unsafe {
                while i + R <= m {
                    rows::<R, V, FULL>(a, i, block, c, rsc);
                    i += R;
                }
                // The remainder in one pass too: row by row, each row's few sums would wait
                // on each other's fused multiply-adds.
                match m - i {
                    0 => {}
                    1 => rows::<1, V, FULL>(a, i, block, c, rsc),
                    2 => rows::<2, V, FULL>(a, i, block, c, rsc),
                    3 => rows::<3, V, FULL>(a, i, block, c, rsc),
                    4 => rows::<4, V, FULL>(a, i, block, c, rsc),
                    5 => rows::<5, V, FULL>(a, i, block, c, rsc),
                    6 => rows::<6, V, FULL>(a, i, block, c, rsc),
                    rest => {
                        debug_assert_eq!(rest, 7, "R is at most 8");
                        rows::<7, V, FULL>(a, i, block, c, rsc)
                    }
                }
            }
        }

        /// `R` output rows from `i0` against one block, their sums held in registers.
        ///
        /// # Safety
        /// As [`matmul`], with rows `i0..i0 + R` inside A and C and the block's rows of B
        /// readable under its masks.
        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn rows<const R: usize, const V: usize, const FULL: bool>(
            a: Strided,
            i0: usize,
            block: &Block,
            c: *mut f32,
            rsc: isize,
        ) {
            let mut acc = [[zero(); V]; R];
            for p in 0..block.depth {
                let b_row = block.b.wrapping_add(p * block.b_stride);
                // Masked-off lanes are not read, so a register past B's last column (or the
                // panel's unwritten columns) touches no memory.
                // SAFETY: the enabled lanes are elements of B's row p0 + p (or the panel's).
                let b: [Vector; V] = std::array::from_fn(|v| unsafe {
                    let ptr = b_row.wrapping_add(LANES * v);
                    if FULL {
                        load_all(ptr)
                    } else {
                        load(block.masks[v], ptr)
                    }
                });
                for (r, acc_row) in acc.iter_mut().enumerate() {
                    // SAFETY: row i0 + r < m and column p0 + p < k of A.
                    let x = splat(unsafe { a.at(i0 + r, block.p0 + p) });
                    for (s, &y) in acc_row.iter_mut().zip(&b) {
                        *s = fmadd(x, y, *s);
                    }
                }
            }
            for (r, acc_row) in acc.iter().enumerate() {
                let row = c.wrapping_offset((i0 + r) as isize * rsc + block.j0 as isize);
                for (v, (&s, &mask)) in acc_row.iter().zip(&block.masks).enumerate() {
                    // As for loads, masked-off lanes touch no memory.
                    let dst = row.wrapping_add(LANES * v);
                    // SAFETY: the lanes `mask` enables are output columns of row i0 + r.
                    unsafe {
                        if FULL {
                            let sum = if block.first {
                                s
                            } else {
                                add(load_all(dst), s)
                            };
                            store_all(dst, sum);
                        } else {
                            let sum = if block.first {
                                s
                            } else {
                                add(load(mask, dst), s)
                            };
                            store(dst, mask, sum);
                        }
                    }
                }
            }
        }
    };
}

/// A module's unmasked register operations, for `panel_kernel!`: `zero`, `splat`, `fmadd`,
/// `add`, and `load_all`/`store_all` of a whole register, each compiled for `$features`.
macro_rules! register_ops {
    ($features:literal, $setzero:ident, $set1:ident, $fmadd:ident, $add:ident, $loadu:ident,
     $storeu:ident) => {
        #[target_feature(enable = $features)]
        #[inline]
        fn zero() -> Vector {
            $setzero()
        }

        #[target_feature(enable = $features)]
        #[inline]
        fn splat(x: f32) -> Vector {
            $set1(x)
        }

        #[target_feature(enable = $features)]
        #[inline]
        fn fmadd(a: Vector, b: Vector, c: Vector) -> Vector {
            $fmadd(a, b, c)
        }

        #[target_feature(enable = $features)]
        #[inline]
        fn add(a: Vector, b: Vector) -> Vector {
            $add(a, b)
        }

        /// # Safety
        /// `LANES` floats from `ptr` must be readable.
        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn load_all(ptr: *const f32) -> Vector {
            // SAFETY: the caller's contract.
            unsafe { $loadu(ptr) }
        }

        /// # Safety
        /// `LANES` floats from `ptr` must be writable.
        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn store_all(ptr: *mut f32, value: Vector) {
            // SAFETY: the caller's contract.
            unsafe { $storeu(ptr, value) }
        }
    };
}

/// The kernel on AVX-512F: 16 lanes, `k`-masks.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    const LANES: usize = 16;
    type Vector = __m512;
    type Mask = __mmask16;

    register_ops!(
        "avx512f",
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps
    );

    /// The first `lanes` (at most 16) lanes.
    fn mask(lanes: usize) -> Mask {
        ((1u32 << lanes) - 1) as Mask
    }

    /// # Safety
    /// The lanes `mask` enables, from `ptr`, must be readable.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn load(mask: Mask, ptr: *const f32) -> Vector {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm512_maskz_loadu_ps(mask, ptr) }
    }

    /// # Safety
    /// The lanes `mask` enables, from `ptr`, must be writable.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn store(ptr: *mut f32, mask: Mask, value: Vector) {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm512_mask_storeu_ps(ptr, mask, value) }
    }

    panel_kernel!("avx512f");
}

/// The kernel on AVX2 with FMA: 8 lanes, masks as integer vectors (a lane is enabled by its
/// sign bit).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    const LANES: usize = 8;
    type Vector = __m256;
    type Mask = __m256i;

    register_ops!(
        "avx2,fma",
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps
    );

    /// The first `lanes` (at most 8) lanes.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn mask(lanes: usize) -> Mask {
        // Lane i is enabled when lanes > i: the comparison's all-ones lanes set the sign bit.
        let index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes as i32), index)
    }

    /// # Safety
    /// The lanes `mask` enables, from `ptr`, must be readable.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load(mask: Mask, ptr: *const f32) -> Vector {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm256_maskload_ps(ptr, mask) }
    }

    /// # Safety
    /// The lanes `mask` enables, from `ptr`, must be writable.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store(ptr: *mut f32, mask: Mask, value: Vector) {
        // SAFETY: the caller's contract; masked-off lanes are not accessed.
        unsafe { _mm256_maskstore_ps(ptr, mask, value) }
    }

    panel_kernel!("avx2,fma");
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

    /// One of the kernels called directly, whatever the shape, with `sgemm`'s signature
    /// (α = 1, β = 0 and contiguous output rows assumed).
    #[cfg(target_arch = "x86_64")]
    macro_rules! direct {
        ($kernel:path) => {{
            #[allow(clippy::too_many_arguments)]
            unsafe fn direct(
                m: usize,
                k: usize,
                n: usize,
                _alpha: f32,
                a: *const f32,
                rsa: isize,
                csa: isize,
                b: *const f32,
                rsb: isize,
                csb: isize,
                _beta: f32,
                c: *mut f32,
                rsc: isize,
                _csc: isize,
            ) {
                let strided = |ptr, row_stride, col_stride| super::Strided {
                    ptr,
                    row_stride,
                    col_stride,
                };
                // SAFETY: the caller checked the CPU; the test's strides address its buffers.
                unsafe { $kernel(m, k, n, strided(a, rsa, csa), strided(b, rsb, csb), c, rsc) }
            }
            direct as Sgemm
        }};
    }

    /// What is checked against `matrixmultiply`: the dispatcher, and each kernel the CPU can
    /// run on every shape (so a CPU with AVX-512 checks the AVX2 kernel too).
    fn candidates() -> Vec<(&'static str, Sgemm)> {
        #[allow(unused_mut)]
        let mut found: Vec<(&'static str, Sgemm)> = vec![("sgemm", super::sgemm)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                found.push(("avx512", direct!(super::avx512::matmul)));
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                found.push(("avx2", direct!(super::avx2::matmul)));
            }
        }
        found
    }

    /// The same bits as `matrixmultiply` for every layout deepq multiplies: plain,
    /// transposed left or right operand, with row and column remainders and more than one
    /// inner block.
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
            // Last panels exactly one register wide: 8 lanes (AVX2), 16 lanes (AVX-512).
            (9, 40, 24),
            (10, 20, 48),
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
                let expected = product(matrixmultiply::sgemm);
                for (name, gemm) in candidates() {
                    assert_eq!(
                        product(gemm),
                        expected,
                        "{name}: {m}×{k}×{n}, strides {a_strides:?} {b_strides:?}"
                    );
                }
            }
        }
    }
}
