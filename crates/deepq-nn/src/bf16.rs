//! Matrix products in bf16 (a network's [`Precision::Bf16`]): both operands rounded to
//! bfloat16 (round to nearest even, as PyTorch's `autocast` and the CPU's conversion
//! instructions do), their products summed in `f32`. Everything else (master weights,
//! gradients, optimizer state, losses, TD targets, elementwise layers) stays `f32`.
//!
//! Two kernels compute the same products, chosen once per process ([`Bf16Kernel::detect`]):
//! AVX512-BF16's pairwise dot products (`vdpbf16ps`) where the CPU has them, else a portable
//! path that rounds the operands to bf16 values held in `f32` and runs the `f32` product
//! (a product of two bf16 values is exact in `f32`, so only the order of the sums differs).
//! Each is deterministic on its machine; they may differ from each other in the last bits.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::kernels::{self, MatRef, simd_dispatch};

/// The arithmetic of a network's matrix products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// `f32` operands and sums: PyTorch's default, bit-exact against it.
    #[default]
    F32,
    /// bf16 operands, `f32` sums (conv and linear layers, forward and backward).
    Bf16,
}

impl Precision {
    /// Every precision, in the order the docs list them.
    pub const ALL: [Precision; 2] = [Precision::F32, Precision::Bf16];

    /// The name the `precision` key takes.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// Whether this is the default, `f32` (files written before the key existed have none).
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// Which kernel computes this precision's products on this CPU: `"f32"`, or the bf16
    /// kernel's [`Bf16Kernel::name`].
    pub fn matmul_path(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => Bf16Kernel::detect().name(),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown precision {s:?}: expected \"f32\" or \"bf16\""))
    }
}

/// A kernel for bf16 products.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AVX512-BF16: operands packed as bf16 pairs, `vdpbf16ps` sums pairs of products into
    /// `f32` lanes.
    Avx512Bf16,
    /// Any CPU: operands rounded to bf16 values held in `f32`, then the `f32` product.
    Portable,
}

impl Bf16Kernel {
    /// The fastest kernel this CPU runs (the same answer for the whole process).
    pub fn detect() -> Self {
        static KERNEL: OnceLock<Bf16Kernel> = OnceLock::new();
        *KERNEL.get_or_init(|| {
            *Self::available()
                .first()
                .expect("the portable kernel runs everywhere")
        })
    }

    /// Every kernel this CPU runs, fastest first (the portable one last).
    pub fn available() -> Vec<Self> {
        let mut kernels = Vec::new();
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
        {
            kernels.push(Bf16Kernel::Avx512Bf16);
        }
        kernels.push(Bf16Kernel::Portable);
        kernels
    }

    /// The name progress output, benchmarks and `summary.json` give it.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Kernel::Avx512Bf16 => "bf16-avx512",
            Bf16Kernel::Portable => "bf16-portable",
        }
    }
}

/// `x` rounded to the nearest bfloat16 (ties to even), returned as the `f32` of that value.
/// As the CPU's conversion instructions: subnormal inputs become zero of the same sign, NaN
/// stays NaN (quiet), and values past bf16's largest finite round to infinity.
pub fn round_to_bf16(x: f32) -> f32 {
    f32::from_bits(u32::from(bf16_bits(x)) << 16)
}

/// The bfloat16 encoding of [`round_to_bf16`]'s result.
#[inline(always)]
fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = if x.is_nan() {
        (bits >> 16) | 0x40
    } else if bits & 0x7f80_0000 == 0 {
        (bits >> 16) & 0x8000
    } else {
        (bits + 0x7fff + ((bits >> 16) & 1)) >> 16
    };
    rounded as u16
}

/// A bf16 pair as one 32-bit lane: `even` in the low half, `odd` in the high half, the order
/// `vdpbf16ps` pairs its operands in.
#[inline(always)]
fn bf16_pair(even: f32, odd: f32) -> u32 {
    u32::from(bf16_bits(even)) | (u32::from(bf16_bits(odd)) << 16)
}

/// `c ← a · b` in bf16 with this process's kernel.
pub(crate) fn matmul(a: MatRef<'_, f32>, b: MatRef<'_, f32>, c: &mut [f32]) {
    matmul_with(Bf16Kernel::detect(), a, b, c);
}

/// `c ← a · b` in bf16 with `kernel`, which the CPU must run ([`Bf16Kernel::available`]).
///
/// # Panics
/// If the inner dimensions differ, `c` is too short, or the CPU lacks `kernel`.
pub(crate) fn matmul_with(
    kernel: Bf16Kernel,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    c: &mut [f32],
) {
    assert_eq!(
        a.cols, b.rows,
        "inner dimensions of a matrix product differ"
    );
    assert!(c.len() >= a.rows * b.cols, "product output too short");
    SCRATCH.with_borrow_mut(|scratch| match kernel {
        Bf16Kernel::Portable => portable(a, b, c, scratch),
        Bf16Kernel::Avx512Bf16 => {
            #[cfg(target_arch = "x86_64")]
            {
                assert!(
                    Bf16Kernel::available().contains(&kernel),
                    "this CPU has no AVX512-BF16"
                );
                // SAFETY: the CPU has AVX-512F and AVX512-BF16 (checked above); the views
                // address elements inside their slices and `c` holds `m × n` elements.
                unsafe { avx512::matmul(a, b, c, scratch) }
            }
            #[cfg(not(target_arch = "x86_64"))]
            panic!("this CPU has no AVX512-BF16");
        }
    });
}

/// Packing buffers, kept per thread so that products allocate only while they grow.
#[derive(Default)]
struct Scratch {
    a: Vec<u32>,
    b: Vec<u32>,
    a_f32: Vec<f32>,
    b_f32: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The portable kernel: both operands rounded into row-major `f32` copies, then the `f32`
/// product (exact products, `f32` sums).
fn portable(a: MatRef<'_, f32>, b: MatRef<'_, f32>, c: &mut [f32], scratch: &mut Scratch) {
    let Scratch { a_f32, b_f32, .. } = scratch;
    rounded_copy(a, a_f32);
    rounded_copy(b, b_f32);
    kernels::matmul(
        MatRef::row_major(a_f32, a.rows, a.cols),
        MatRef::row_major(b_f32, b.rows, b.cols),
        c,
    );
}

/// `m` as a row-major matrix of bf16-rounded values in `out`.
fn rounded_copy(m: MatRef<'_, f32>, out: &mut Vec<f32>) {
    out.clear();
    out.resize(m.rows * m.cols, 0.0);
    if m.col_stride == 1 {
        for (r, row) in out.chunks_exact_mut(m.cols.max(1)).take(m.rows).enumerate() {
            round_slice(&m.data[r * m.row_stride..][..m.cols], row);
        }
    } else {
        for (r, row) in out.chunks_exact_mut(m.cols.max(1)).take(m.rows).enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = round_to_bf16(m.data[r * m.row_stride + j * m.col_stride]);
            }
        }
    }
}

simd_dispatch! {
    /// `out[i] = round_to_bf16(x[i])`.
    fn round_slice(x: &[f32], out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = round_to_bf16(v);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! The AVX512-BF16 kernel. `c` is computed in blocks of [`KC`] inner elements × [`NC`]
    //! columns: the block of `b` is packed once as panels of [`NR`] columns, each panel row a
    //! pair of inner indices (`[k_pair][NR]` 32-bit lanes); each [`MR`] rows of `a` are
    //! packed as pairs along the inner dimension (`[row][k_pair]`), and a register tile of
    //! `MR × NR` sums runs through the block. Later inner blocks continue from the sums in
    //! `c`, so every element of `c` is one sequence of `vdpbf16ps` steps in inner order.

    use std::arch::x86_64::*;

    use super::{MatRef, Scratch, bf16_pair};

    /// Rows of a register tile.
    const MR: usize = 8;
    /// Columns of a register tile: two registers of 16 `f32` sums.
    const NR: usize = 32;
    /// Inner elements per block (even, so pairs never straddle blocks).
    const KC: usize = 512;
    /// Columns per block: a packed block of `b` is at most `KC · NC · 2` bytes (512 KiB).
    const NC: usize = 512;

    /// # Safety
    /// The CPU must have AVX-512F and AVX512-BF16; `a` and `b` must have matching inner
    /// dimensions and `c` at least `a.rows · b.cols` elements.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn matmul(
        a: MatRef<'_, f32>,
        b: MatRef<'_, f32>,
        c: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        if k == 0 {
            c[..m * n].fill(0.0);
            return;
        }
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let pairs = kc.div_ceil(2);
            for j0 in (0..n).step_by(NC) {
                let nc = NC.min(n - j0);
                let panels = nc.div_ceil(NR);
                scratch.b.clear();
                scratch.b.resize(panels * pairs * NR, 0);
                pack_b(b, k0, kc, j0, nc, &mut scratch.b);
                for i0 in (0..m).step_by(MR) {
                    let rows = MR.min(m - i0);
                    scratch.a.clear();
                    scratch.a.resize(rows * pairs, 0);
                    pack_a(a, i0, rows, k0, kc, &mut scratch.a);
                    for q in 0..panels {
                        let cols = NR.min(nc - q * NR);
                        let panel = &scratch.b[q * pairs * NR..][..pairs * NR];
                        let out = &mut c[i0 * n + j0 + q * NR..];
                        // SAFETY: the tile writes `rows` rows of `cols` elements at row
                        // stride `n`, inside `c` (the last row ends at `(m−1)·n + n`).
                        unsafe {
                            tile(rows, pairs, &scratch.a, panel, out, n, cols, k0 > 0);
                        }
                    }
                }
            }
        }
    }

    /// Rows `i0..i0 + rows`, inner elements `k0..k0 + kc` of `a` as bf16 pairs, row after
    /// row (`[row][pair]`), an odd block's last pair padded with zero.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn pack_a(a: MatRef<'_, f32>, i0: usize, rows: usize, k0: usize, kc: usize, out: &mut [u32]) {
        let pairs = kc.div_ceil(2);
        for r in 0..rows {
            let out = &mut out[r * pairs..][..pairs];
            let base = (i0 + r) * a.row_stride + k0 * a.col_stride;
            if a.col_stride == 1 {
                convert_pairs(&a.data[base..base + kc], out);
            } else {
                for (p, o) in out.iter_mut().enumerate() {
                    let even = a.data[base + 2 * p * a.col_stride];
                    let odd = if 2 * p + 1 < kc {
                        a.data[base + (2 * p + 1) * a.col_stride]
                    } else {
                        0.0
                    };
                    *o = bf16_pair(even, odd);
                }
            }
        }
    }

    /// Consecutive `f32` values as bf16 pairs (`out.len()` = half of `x.len()`, rounded up;
    /// an odd last value paired with zero), 32 values per conversion.
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) fn convert_pairs(x: &[f32], out: &mut [u32]) {
        let mut chunks = x.chunks_exact(32);
        let mut o = 0;
        for chunk in &mut chunks {
            // SAFETY: `chunk` has 32 elements and `out` 16 from `o` (half of `x`'s length).
            unsafe {
                let lo = _mm512_loadu_ps(chunk.as_ptr());
                let hi = _mm512_loadu_ps(chunk.as_ptr().add(16));
                let v: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
                _mm512_storeu_si512(out.as_mut_ptr().add(o).cast(), v);
            }
            o += 16;
        }
        let rest = chunks.remainder();
        for (p, v) in out[o..].iter_mut().enumerate() {
            let odd = rest.get(2 * p + 1).copied().unwrap_or(0.0);
            *v = bf16_pair(rest[2 * p], odd);
        }
    }

    /// Inner elements `k0..k0 + kc`, columns `j0..j0 + nc` of `b` as panels of [`NR`]
    /// columns (`[panel][pair][NR]`); columns past `nc` and an odd block's last pair stay
    /// zero (`out` arrives zeroed).
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn pack_b(b: MatRef<'_, f32>, k0: usize, kc: usize, j0: usize, nc: usize, out: &mut [u32]) {
        let pairs = kc.div_ceil(2);
        for (q, panel) in out.chunks_exact_mut(pairs * NR).enumerate() {
            let first = j0 + q * NR;
            let cols = NR.min(j0 + nc - first);
            if b.col_stride == 1 {
                for p in 0..pairs {
                    let even = &b.data[(k0 + 2 * p) * b.row_stride + first..][..cols];
                    let odd = (2 * p + 1 < kc)
                        .then(|| &b.data[(k0 + 2 * p + 1) * b.row_stride + first..][..cols]);
                    interleave_rows(even, odd, &mut panel[p * NR..][..NR]);
                }
            } else if b.row_stride == 1 {
                // The transpose of a row-major matrix: each column's pairs are consecutive.
                let mut column = vec![0u32; pairs];
                for j in 0..cols {
                    let start = (first + j) * b.col_stride + k0;
                    convert_pairs(&b.data[start..start + kc], &mut column);
                    for (p, &v) in column.iter().enumerate() {
                        panel[p * NR + j] = v;
                    }
                }
            } else {
                for p in 0..pairs {
                    for j in 0..cols {
                        let at = |kk: usize| b.data[kk * b.row_stride + (first + j) * b.col_stride];
                        let odd = if 2 * p + 1 < kc {
                            at(k0 + 2 * p + 1)
                        } else {
                            0.0
                        };
                        panel[p * NR + j] = bf16_pair(at(k0 + 2 * p), odd);
                    }
                }
            }
        }
    }

    /// Two rows of up to [`NR`] values as bf16 pairs, column by column (`odd` `None`: zeros).
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    fn interleave_rows(even: &[f32], odd: Option<&[f32]>, out: &mut [u32]) {
        for half in 0..2 {
            let start = 16 * half;
            let len = even.len().saturating_sub(start).min(16);
            if len == 0 {
                break;
            }
            let mask: __mmask16 = if len == 16 { 0xffff } else { (1 << len) - 1 };
            // SAFETY: the masked loads read `len` elements from `start`, inside both rows;
            // the store writes 16 lanes from `start` inside `out` (NR lanes).
            unsafe {
                let lo = _mm512_maskz_loadu_ps(mask, even.as_ptr().add(start));
                let hi = match odd {
                    Some(row) => _mm512_maskz_loadu_ps(mask, row.as_ptr().add(start)),
                    None => _mm512_setzero_ps(),
                };
                let lo: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(lo));
                let hi: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(hi));
                let pairs = _mm512_or_si512(
                    _mm512_cvtepu16_epi32(lo),
                    _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(hi)),
                );
                _mm512_storeu_si512(out.as_mut_ptr().add(start).cast(), pairs);
            }
        }
    }

    /// One register tile: `rows` (≤ [`MR`]) rows of packed `a` times a packed panel, into
    /// `cols` (≤ [`NR`]) columns of `c` at row stride `rsc`, starting from `c`'s values if
    /// `accumulate`, else from zero.
    ///
    /// # Safety
    /// As [`matmul`]; `c` must hold `(rows − 1) · rsc + cols` elements.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn tile(
        rows: usize,
        pairs: usize,
        a: &[u32],
        panel: &[u32],
        c: &mut [f32],
        rsc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        debug_assert!(c.len() >= (rows - 1) * rsc + cols);
        // SAFETY: forwarded; each arm's `R` is `rows`.
        unsafe {
            match rows {
                1 => tile_rows::<1>(pairs, a, panel, c, rsc, cols, accumulate),
                2 => tile_rows::<2>(pairs, a, panel, c, rsc, cols, accumulate),
                3 => tile_rows::<3>(pairs, a, panel, c, rsc, cols, accumulate),
                4 => tile_rows::<4>(pairs, a, panel, c, rsc, cols, accumulate),
                5 => tile_rows::<5>(pairs, a, panel, c, rsc, cols, accumulate),
                6 => tile_rows::<6>(pairs, a, panel, c, rsc, cols, accumulate),
                7 => tile_rows::<7>(pairs, a, panel, c, rsc, cols, accumulate),
                8 => tile_rows::<8>(pairs, a, panel, c, rsc, cols, accumulate),
                _ => unreachable!("a tile has 1 to {MR} rows"),
            }
        }
    }

    /// [`tile`] for `R` rows, its sums in `2·R` registers.
    ///
    /// # Safety
    /// As [`tile`] with `rows = R`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    unsafe fn tile_rows<const R: usize>(
        pairs: usize,
        a: &[u32],
        panel: &[u32],
        c: &mut [f32],
        rsc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        assert!(a.len() >= R * pairs && panel.len() >= pairs * NR);
        let lanes = |n: usize| -> __mmask16 { if n >= 16 { 0xffff } else { (1 << n) - 1 } };
        let masks = [lanes(cols), lanes(cols.saturating_sub(16))];
        let (a, panel, c) = (a.as_ptr(), panel.as_ptr(), c.as_mut_ptr());
        // SAFETY: packed reads stay within the lengths asserted above; `c`'s masked loads
        // and stores touch `cols` elements of each of the `R` rows (the caller's contract).
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); 2]; R];
            if accumulate {
                for (r, row) in acc.iter_mut().enumerate() {
                    for (h, v) in row.iter_mut().enumerate() {
                        *v = _mm512_maskz_loadu_ps(masks[h], c.add(r * rsc + 16 * h));
                    }
                }
            }
            for p in 0..pairs {
                let b0: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(panel.add(p * NR).cast()));
                let b1: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(panel.add(p * NR + 16).cast()));
                for (r, row) in acc.iter_mut().enumerate() {
                    let pair: __m512bh =
                        std::mem::transmute(_mm512_set1_epi32(*a.add(r * pairs + p) as i32));
                    row[0] = _mm512_dpbf16_ps(row[0], pair, b0);
                    row[1] = _mm512_dpbf16_ps(row[1], pair, b1);
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (h, &v) in row.iter().enumerate() {
                    if masks[h] != 0 {
                        _mm512_mask_storeu_ps(c.add(r * rsc + 16 * h), masks[h], v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
