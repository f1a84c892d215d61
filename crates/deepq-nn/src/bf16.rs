//! Matrix products in bf16 (a network's [`Precision::Bf16`]): both operands rounded to
//! bfloat16 (round to nearest even, as PyTorch's `autocast` and the CPU's conversion
//! instructions do), their products summed in `f32`. Everything else (master weights,
//! gradients, optimizer state, losses, TD targets, elementwise layers) stays `f32`.
//!
//! Three kernels compute the same products, chosen once per process ([`Bf16Kernel::detect`]):
//! AMX's tile products (`tdpbf16ps`) where the CPU has them, AVX512-BF16's pairwise dot
//! products (`vdpbf16ps`) where it has those, else a portable path that rounds the operands
//! to bf16 values held in `f32` and runs the `f32` product (a product of two bf16 values is
//! exact in `f32`, so only the order of the sums differs). Each is deterministic on its
//! machine; they may differ from each other in the last bits.

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
    /// AMX: tiles of 16 rows × 16 bf16 pairs multiplied into tiles of 16 × 16 `f32` sums
    /// (`tdpbf16ps`); operands packed with AVX512-BF16, which every AMX CPU has.
    Amx,
    /// AVX512-BF16: operands packed as bf16 pairs, `vdpbf16ps` sums pairs of products into
    /// `f32` lanes.
    Avx512Bf16,
    /// Any CPU: operands rounded to bf16 values held in `f32`, then the `f32` product.
    Portable,
}

/// The environment variable that names the bf16 kernel to run instead of the fastest (for
/// example to continue, bit for bit, a run trained on another machine's kernel).
pub const KERNEL_VAR: &str = "DEEPQ_BF16_KERNEL";

/// The kernel this process runs, once [`Bf16Kernel::detect`] has chosen it.
static DETECTED: OnceLock<Bf16Kernel> = OnceLock::new();

impl Bf16Kernel {
    /// The kernel [`KERNEL_VAR`] names if it names one this CPU runs, else the fastest this
    /// CPU runs (the same answer for the whole process). Runs check the variable first
    /// ([`Bf16Kernel::requested`]), so a bad name is an error, not a fallback.
    pub fn detect() -> Self {
        *DETECTED.get_or_init(|| match Self::requested() {
            Ok(Some(kernel)) => kernel,
            _ => Self::available()[0],
        })
    }

    /// The kernel [`KERNEL_VAR`] asks for: `None` when it is unset; an error naming the
    /// kernels this CPU runs when it names another, or when it names another kernel than the
    /// one this process already chose (the variable is read once, at the first bf16 product).
    pub fn requested() -> Result<Option<Self>, String> {
        let Some(name) = std::env::var_os(KERNEL_VAR) else {
            return Ok(None);
        };
        let available = Self::available();
        let kernel = available
            .iter()
            .find(|kernel| name.to_str() == Some(kernel.name()))
            .ok_or_else(|| {
                let names: Vec<_> = available.iter().map(|k| k.name()).collect();
                format!(
                    "invalid value {name:?} for {KERNEL_VAR}: this CPU runs the bf16 kernels {}",
                    names.join(", ")
                )
            })?;
        match DETECTED.get() {
            Some(chosen) if chosen != kernel => Err(format!(
                "invalid value {name:?} for {KERNEL_VAR}: this process already runs the {} \
                 kernel; set the variable before its first bf16 run",
                chosen.name()
            )),
            _ => Ok(Some(*kernel)),
        }
    }

    /// Every kernel this CPU runs, fastest first (the portable one last).
    pub fn available() -> &'static [Self] {
        static KERNELS: OnceLock<Vec<Bf16Kernel>> = OnceLock::new();
        KERNELS.get_or_init(|| {
            let mut kernels = Vec::new();
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512bf16")
            {
                if amx::tiles_granted() {
                    kernels.push(Bf16Kernel::Amx);
                }
                kernels.push(Bf16Kernel::Avx512Bf16);
            }
            kernels.push(Bf16Kernel::Portable);
            kernels
        })
    }

    /// Whether the CPU has AVX512-BF16's conversions and dot products: true of every kernel
    /// but the portable one.
    #[cfg(target_arch = "x86_64")]
    fn has_avx512_bf16(self) -> bool {
        self != Bf16Kernel::Portable
    }

    /// Panics unless this CPU runs `self` (the kernels' one check before unsafe code).
    fn assert_available(self) {
        assert!(
            Self::available().contains(&self),
            "this CPU does not run the {} kernel",
            self.name()
        );
    }

    /// The name progress output, benchmarks and `summary.json` give it.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Kernel::Amx => "bf16-amx",
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

/// An operand of a bf16 product: `f32` values (rounded when packed), or values already
/// rounded and stored as bf16.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Operand<'a> {
    /// An `f32` matrix view.
    F32(MatRef<'a, f32>),
    /// A row-major `rows × 2·pairs` matrix of bf16 values, each row `pairs` 32-bit lanes of
    /// two values (the even column in the low half), as [`to_pairs`] writes them.
    Pairs {
        /// The lanes, row after row.
        data: &'a [u32],
        /// Rows.
        rows: usize,
        /// Lanes per row (half the columns).
        pairs: usize,
    },
}

impl Operand<'_> {
    fn rows(&self) -> usize {
        match self {
            Operand::F32(m) => m.rows,
            Operand::Pairs { rows, .. } => *rows,
        }
    }

    fn cols(&self) -> usize {
        match self {
            Operand::F32(m) => m.cols,
            Operand::Pairs { pairs, .. } => 2 * pairs,
        }
    }
}

impl<'a> From<MatRef<'a, f32>> for Operand<'a> {
    fn from(m: MatRef<'a, f32>) -> Self {
        Operand::F32(m)
    }
}

/// `x` as bf16 pairs (`out.len()` = half of `x.len()`, rounded up; an odd last value paired
/// with zero): [`Operand::Pairs`]' rows.
pub(crate) fn to_pairs(x: &[f32], out: &mut [u32]) {
    assert_eq!(out.len(), x.len().div_ceil(2), "one lane per two values");
    #[cfg(target_arch = "x86_64")]
    if Bf16Kernel::detect().has_avx512_bf16() {
        // SAFETY: the CPU has AVX-512F, AVX-512BW and AVX512-BF16 (the kernel's check).
        unsafe { avx512::convert_pairs(x, out) };
        return;
    }
    for (o, v) in out.iter_mut().zip(x.chunks(2)) {
        *o = bf16_pair(v[0], v.get(1).copied().unwrap_or(0.0));
    }
}

/// `c ← a · b` in bf16 with this process's kernel.
pub(crate) fn matmul<'a>(a: impl Into<Operand<'a>>, b: impl Into<Operand<'a>>, c: &mut [f32]) {
    matmul_with(Bf16Kernel::detect(), a.into(), b.into(), c);
}

/// `c ← a · b` in bf16 with `kernel`, which the CPU must run ([`Bf16Kernel::available`]).
///
/// # Panics
/// If the inner dimensions differ, `c` is too short, or the CPU lacks `kernel`.
pub(crate) fn matmul_with(kernel: Bf16Kernel, a: Operand<'_>, b: Operand<'_>, c: &mut [f32]) {
    assert_eq!(
        a.cols(),
        b.rows(),
        "inner dimensions of a matrix product differ"
    );
    assert!(c.len() >= a.rows() * b.cols(), "product output too short");
    kernel.assert_available();
    SCRATCH.with_borrow_mut(|scratch| match kernel {
        Bf16Kernel::Portable => portable(a, b, c, scratch),
        // SAFETY (both): the CPU runs the kernel (checked above); the views address elements
        // inside their slices and `c` holds `m × n` elements.
        #[cfg(target_arch = "x86_64")]
        Bf16Kernel::Amx => unsafe { amx::matmul(a, b, c, scratch) },
        #[cfg(target_arch = "x86_64")]
        Bf16Kernel::Avx512Bf16 => unsafe { avx512::matmul(a, b, c, scratch) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable kernel runs off x86-64"),
    });
}

/// A linear layer row by row in bf16, as [`crate::dense::dense_rows`] computes it in `f32`:
/// each output is `bias` plus the dot product of its weight row with the input row, both
/// rounded to bf16, summed in `f32` (then ReLU with `relu`). Acting runs one row through
/// every layer; reading each weight row once, converted on the fly, costs far less than
/// packing the weights for a product. The AMX kernel runs a tile's worth of rows or more
/// (a conv layer's pixels, the copies of a large vector env) as a product of tiles instead.
/// `kernel` must be one the CPU runs.
///
/// # Panics
/// If the lengths do not fit, or the CPU lacks `kernel`.
pub(crate) fn dense_rows_with(
    kernel: Bf16Kernel,
    w: &[f32],
    bias: &[f32],
    n_in: usize,
    xs: &[f32],
    zs: &mut [f32],
    relu: bool,
) {
    crate::dense::check_shapes(w, bias.len(), n_in, xs, zs);
    kernel.assert_available();
    let rows = xs.len() / n_in;
    #[cfg(target_arch = "x86_64")]
    if kernel == Bf16Kernel::Amx && rows >= amx::TILE {
        let n_out = bias.len();
        let wt = MatRef::row_major(w, n_out, n_in).t();
        let xs = MatRef::row_major(xs, rows, n_in);
        // SAFETY: the CPU runs the kernel (checked above); `zs` holds `rows × n_out`
        // elements (checked above).
        SCRATCH
            .with_borrow_mut(|scratch| unsafe { amx::matmul(xs.into(), wt.into(), zs, scratch) });
        kernels::bias_activation(zs, bias, relu);
        return;
    }
    SCRATCH.with_borrow_mut(|scratch| match kernel {
        // Fewer rows than a tile: dot products, which the AMX kernel's CPU runs with
        // AVX512-BF16, as the AVX512-BF16 kernel does.
        #[cfg(target_arch = "x86_64")]
        Bf16Kernel::Amx | Bf16Kernel::Avx512Bf16 => {
            // SAFETY: the CPU has the kernel's features (checked above), and the lengths
            // fit (checked above).
            unsafe {
                avx512::dense_rows(w, bias, n_in, xs, zs, relu, &mut scratch.a, &mut scratch.b)
            }
        }
        _ => {
            let Scratch { a_f32, b_f32, .. } = scratch;
            rounded_copy(MatRef::row_major(w, bias.len(), n_in).into(), a_f32);
            rounded_copy(MatRef::row_major(xs, rows, n_in).into(), b_f32);
            crate::dense::dense_rows(a_f32, bias, n_in, b_f32, zs, relu);
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
fn portable(a: Operand<'_>, b: Operand<'_>, c: &mut [f32], scratch: &mut Scratch) {
    let Scratch { a_f32, b_f32, .. } = scratch;
    rounded_copy(a, a_f32);
    rounded_copy(b, b_f32);
    kernels::matmul(
        MatRef::row_major(a_f32, a.rows(), a.cols()),
        MatRef::row_major(b_f32, b.rows(), b.cols()),
        c,
    );
}

/// `m` as a row-major matrix of bf16-rounded values in `out`.
fn rounded_copy(m: Operand<'_>, out: &mut Vec<f32>) {
    let m = match m {
        Operand::F32(m) => m,
        Operand::Pairs { data, rows, pairs } => {
            out.clear();
            out.extend(
                data[..rows * pairs]
                    .iter()
                    .flat_map(|&v| [f32::from_bits(v << 16), f32::from_bits(v & 0xffff_0000)]),
            );
            return;
        }
    };
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
mod amx;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    //! The AVX512-BF16 kernel. `c` is computed in blocks of [`KC`] inner elements × [`NC`]
    //! columns: the block of `b` is packed once as panels of [`NR`] columns, each panel row a
    //! pair of inner indices (`[pair][NR]` 32-bit lanes); each [`MR`] rows of `a` are packed
    //! as pairs along the inner dimension ([`PackedA`]), and a register tile of `MR × NR`
    //! sums runs through the block. Later inner blocks continue from the sums in `c`, so every
    //! element of `c` is one sequence of `vdpbf16ps` steps in inner order.
    //!
    //! The layers hand operands over row-major or as the transpose of a row-major matrix;
    //! both pack with full-register conversions (transposes through registers), and any
    //! other layout element by element.

    use std::arch::x86_64::*;

    use crate::kernels::tile_dispatch;

    use super::{MatRef, Operand, Scratch, bf16_pair};

    /// Rows of a register tile.
    const MR: usize = 8;
    /// Columns of a register tile: two registers of 16 `f32` sums.
    pub(super) const NR: usize = 32;
    /// Inner elements per block (even, so pairs never straddle blocks).
    const KC: usize = 512;
    /// Columns per block: a packed block of `b` is at most `KC · NC · 2` bytes (512 KiB).
    const NC: usize = 512;

    /// Up to [`MR`] rows of `a` packed as bf16 pairs: pair `p` of row `r` at
    /// `r · row_stride + p · pair_stride`.
    struct PackedA {
        row_stride: usize,
        pair_stride: usize,
    }

    /// # Safety
    /// The CPU must have AVX-512F, -BW, -VL and AVX512-BF16; `a` and `b` must have matching
    /// inner dimensions and `c` at least `a.rows · b.cols` elements.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn matmul(
        a: Operand<'_>,
        b: Operand<'_>,
        c: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let (m, k, n) = (a.rows(), a.cols(), b.cols());
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
                let panel_lanes = panels * pairs * NR;
                grow(&mut scratch.b, panel_lanes);
                pack_b(b, k0, kc, j0, nc, pairs, &mut scratch.b[..panel_lanes]);
                for i0 in (0..m).step_by(MR) {
                    let rows = MR.min(m - i0);
                    let (lanes, layout) = match a {
                        // Already pairs: the tile reads the rows in place.
                        Operand::Pairs {
                            data, pairs: row, ..
                        } => (
                            &data[i0 * row + k0 / 2..],
                            PackedA {
                                row_stride: row,
                                pair_stride: 1,
                            },
                        ),
                        Operand::F32(a) => {
                            grow(&mut scratch.a, MR * pairs);
                            let layout = pack_a(a, i0, rows, k0, kc, &mut scratch.a);
                            (&scratch.a[..], layout)
                        }
                    };
                    for q in 0..panels {
                        let cols = NR.min(nc - q * NR);
                        let panel = &scratch.b[q * pairs * NR..][..pairs * NR];
                        let out = &mut c[i0 * n + j0 + q * NR..];
                        // SAFETY: the tile writes `rows` rows of `cols` elements at row
                        // stride `n`, inside `c` (the last row ends at `(m−1)·n + n`); the
                        // tile checks that `lanes` holds every pair `layout` addresses.
                        unsafe {
                            tile(rows, pairs, lanes, &layout, panel, out, n, cols, k0 > 0);
                        }
                    }
                }
            }
        }
    }

    /// `buffer` with at least `len` lanes. Packing writes every lane a tile reads, so old
    /// contents need no clearing.
    pub(super) fn grow(buffer: &mut Vec<u32>, len: usize) {
        if buffer.len() < len {
            buffer.resize(len, 0);
        }
    }

    /// Rows `i0..i0 + rows`, inner elements `k0..k0 + kc` of `a` as bf16 pairs into `out`
    /// (at least `MR · pairs` lanes), an odd block's last pair padded with zero; returns
    /// where each pair went. Row-major `a` packs row after row, a transposed one pair after
    /// pair (two rows of its storage interleaved).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    fn pack_a(
        a: MatRef<'_, f32>,
        i0: usize,
        rows: usize,
        k0: usize,
        kc: usize,
        out: &mut [u32],
    ) -> PackedA {
        let pairs = kc.div_ceil(2);
        if a.row_stride == 1 && a.col_stride != 1 {
            // Inner index `kk` of rows `i0..` is storage row `kk`, columns `i0..` contiguous.
            for p in 0..pairs {
                let even = &a.data[(k0 + 2 * p) * a.col_stride + i0..][..rows];
                let odd = (2 * p + 1 < kc)
                    .then(|| &a.data[(k0 + 2 * p + 1) * a.col_stride + i0..][..rows]);
                interleave_rows(even, odd, &mut out[p * MR..][..MR]);
            }
            return PackedA {
                row_stride: 1,
                pair_stride: MR,
            };
        }
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
        PackedA {
            row_stride: pairs,
            pair_stride: 1,
        }
    }

    /// [`super::dense_rows_with`]: each input row converted to pairs once (into `pairs`), then
    /// four weight rows at a time converted as they are read, one `vdpbf16ps` chain each,
    /// each chain's 16 lanes added at the end. Several rows go through [`dense_tiles`],
    /// which gives each output the same chain from weights converted once.
    ///
    /// # Safety
    /// The CPU must have the kernel's features; `w` must hold `bias.len() · n_in` values and
    /// `zs` `bias.len()` per row of `xs`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) unsafe fn dense_rows(
        w: &[f32],
        bias: &[f32],
        n_in: usize,
        xs: &[f32],
        zs: &mut [f32],
        relu: bool,
        pairs: &mut Vec<u32>,
        weight_pairs: &mut Vec<u32>,
    ) {
        let n_out = bias.len();
        let lanes = n_in.div_ceil(2);
        assert!(w.len() >= n_out * n_in);
        if xs.len() > n_in {
            // SAFETY: the caller's shapes and CPU.
            unsafe { dense_tiles(w, bias, n_in, xs, zs, relu, pairs, weight_pairs) };
            return;
        }
        grow(pairs, lanes.next_multiple_of(16));
        for (x, z) in xs.chunks_exact(n_in).zip(zs.chunks_exact_mut(n_out)) {
            convert_pairs(x, &mut pairs[..lanes]);
            // The last register reads lanes past the row: zero, as the weights masked there.
            pairs[lanes..lanes.next_multiple_of(16)].fill(0);
            let mut out = 0;
            while out < n_out {
                let rows = (n_out - out).min(4);
                let mut acc = [_mm512_setzero_ps(); 4];
                for start in (0..n_in).step_by(32) {
                    let values = (n_in - start).min(32);
                    let mask = if values == 32 {
                        u32::MAX
                    } else {
                        (1 << values) - 1
                    };
                    // SAFETY: `pairs` holds lanes up to a multiple of 16 past `start / 2`;
                    // the masked loads read `values` weights inside row `out + r`.
                    unsafe {
                        let xv: __m512bh = std::mem::transmute(_mm512_loadu_si512(
                            pairs.as_ptr().add(start / 2).cast(),
                        ));
                        for (r, a) in acc.iter_mut().enumerate().take(rows) {
                            let row = w.as_ptr().add((out + r) * n_in + start);
                            let wv: __m512bh = std::mem::transmute(pairs_of(row, mask));
                            *a = _mm512_dpbf16_ps(*a, wv, xv);
                        }
                    }
                }
                for (r, a) in acc.iter().enumerate().take(rows) {
                    let v = _mm512_reduce_add_ps(*a) + bias[out + r];
                    z[out + r] = if relu && v < 0.0 { 0.0 } else { v };
                }
                out += rows;
            }
        }
    }

    /// [`dense_rows`] on several rows: every weight row and input row converted to pairs
    /// once (zero-padded to whole registers, as the masked loads of the one-row path read
    /// them), then tiles of 4 outputs × 4 rows, each output the same `vdpbf16ps` chain and
    /// the same sum of its lanes as there.
    ///
    /// # Safety
    /// As [`dense_rows`].
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    unsafe fn dense_tiles(
        w: &[f32],
        bias: &[f32],
        n_in: usize,
        xs: &[f32],
        zs: &mut [f32],
        relu: bool,
        pairs: &mut Vec<u32>,
        weight_pairs: &mut Vec<u32>,
    ) {
        let (n_out, rows) = (bias.len(), xs.len() / n_in);
        let stride = n_in.div_ceil(2).next_multiple_of(16);
        for (matrix, count, buffer) in [(w, n_out, &mut *weight_pairs), (xs, rows, &mut *pairs)] {
            grow(buffer, count * stride);
            for (row, out) in matrix[..count * n_in]
                .chunks_exact(n_in)
                .zip(buffer.chunks_exact_mut(stride))
            {
                let lanes = n_in.div_ceil(2);
                convert_pairs(row, &mut out[..lanes]);
                out[lanes..].fill(0);
            }
        }
        let tiles = Tiles {
            w: &weight_pairs[..n_out * stride],
            x: &pairs[..rows * stride],
            stride,
            bias,
            relu,
        };
        for r in (0..rows).step_by(4) {
            for o in (0..n_out).step_by(4) {
                let shape = ((n_out - o).min(4), (rows - r).min(4));
                // SAFETY: the CPU has the features; the tile lies within outputs and rows.
                unsafe { tile_dispatch!(shape, tiles.tile(o, r, zs)) };
            }
        }
    }

    /// Weights and inputs as padded rows of bf16 pairs, for [`dense_tiles`].
    struct Tiles<'a> {
        w: &'a [u32],
        x: &'a [u32],
        /// Lanes per row (a multiple of 16).
        stride: usize,
        bias: &'a [f32],
        relu: bool,
    }

    impl Tiles<'_> {
        /// Outputs `o..o + NO` of rows `r..r + NR` into `zs`.
        ///
        /// # Safety
        /// The CPU must have the kernel's features; the tile must lie within the outputs and
        /// rows.
        #[inline]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
        unsafe fn tile<const NO: usize, const NR: usize>(
            &self,
            o: usize,
            r: usize,
            zs: &mut [f32],
        ) {
            let (w, x, stride) = (self.w.as_ptr(), self.x.as_ptr(), self.stride);
            let mut acc = [[_mm512_setzero_ps(); NR]; NO];
            for lane in (0..stride).step_by(16) {
                // SAFETY: rows `r + j` and `o + i` hold `stride` lanes each.
                unsafe {
                    let xv: [__m512bh; NR] = std::array::from_fn(|j| {
                        std::mem::transmute(_mm512_loadu_si512(
                            x.add((r + j) * stride + lane).cast(),
                        ))
                    });
                    for (i, acc) in acc.iter_mut().enumerate() {
                        let wv: __m512bh = std::mem::transmute(_mm512_loadu_si512(
                            w.add((o + i) * stride + lane).cast(),
                        ));
                        for (a, &xv) in acc.iter_mut().zip(&xv) {
                            *a = _mm512_dpbf16_ps(*a, wv, xv);
                        }
                    }
                }
            }
            let n_out = self.bias.len();
            for (i, acc) in acc.iter().enumerate() {
                for (j, a) in acc.iter().enumerate() {
                    let v = _mm512_reduce_add_ps(*a) + self.bias[o + i];
                    zs[(r + j) * n_out + o + i] = if self.relu && v < 0.0 { 0.0 } else { v };
                }
            }
        }
    }

    /// Consecutive `f32` values as bf16 pairs (`out.len()` = half of `x.len()`, rounded up;
    /// an odd last value paired with zero), 32 values per conversion.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) fn convert_pairs(x: &[f32], out: &mut [u32]) {
        let mut chunks = x.chunks_exact(32);
        let mut o = 0;
        for chunk in &mut chunks {
            // SAFETY: `chunk` has 32 elements and `out` 16 from `o` (half of `x`'s length).
            unsafe {
                let v = pairs_of(chunk.as_ptr(), 0xffff_ffff);
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

    /// The 16 bf16 pairs of up to 32 consecutive values at `x` (`mask` bit `i`: value `i` is
    /// read; unread values are zero).
    ///
    /// # Safety
    /// Every value `mask` selects must be readable.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    unsafe fn pairs_of(x: *const f32, mask: u32) -> __m512i {
        // SAFETY: masked loads read only the selected values.
        unsafe {
            let lo = _mm512_maskz_loadu_ps(mask as __mmask16, x);
            let hi = _mm512_maskz_loadu_ps((mask >> 16) as __mmask16, x.add(16));
            std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo))
        }
    }

    /// Inner elements `k0..k0 + kc`, columns `j0..j0 + nc` of `b` as panels of [`NR`]
    /// columns (`[panel][pair][NR]`, a panel every `panel_pairs` pairs), an odd block's last
    /// pair padded with zero. Lanes of columns past `nc`, and pairs past the block's in each
    /// panel, keep whatever they held: tiles never store those sums.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) fn pack_b(
        b: Operand<'_>,
        k0: usize,
        kc: usize,
        j0: usize,
        nc: usize,
        panel_pairs: usize,
        out: &mut [u32],
    ) {
        let pairs = kc.div_ceil(2);
        debug_assert!(panel_pairs >= pairs);
        let b = match b {
            Operand::F32(b) => b,
            Operand::Pairs {
                data, pairs: row, ..
            } => {
                // Rows of bf16 values: interleave two rows' values, no conversion. Each
                // pair of rows is read once, left to right, across every panel.
                let at = |r: usize| &data[r * row..][..row];
                let panels = nc.div_ceil(NR);
                for p in 0..pairs {
                    let (even, odd) =
                        (at(k0 + 2 * p), (2 * p + 1 < kc).then(|| at(k0 + 2 * p + 1)));
                    for q in 0..panels {
                        let first = j0 + q * NR;
                        let cols = NR.min(j0 + nc - first);
                        let out = &mut out[(q * panel_pairs + p) * NR..][..NR];
                        interleave_bf16_rows(even, odd, first, cols, out);
                    }
                }
                return;
            }
        };
        if b.col_stride == 1 {
            // Row-major: each pair of rows is read once, left to right, across every panel.
            let row = |r: usize| &b.data[r * b.row_stride + j0..][..nc];
            let panels = nc.div_ceil(NR);
            for p in 0..pairs {
                let (even, odd) = (
                    row(k0 + 2 * p),
                    (2 * p + 1 < kc).then(|| row(k0 + 2 * p + 1)),
                );
                for q in 0..panels {
                    let cols = q * NR..nc.min((q + 1) * NR);
                    let out = &mut out[(q * panel_pairs + p) * NR..][..NR];
                    interleave_rows(&even[cols.clone()], odd.map(|o| &o[cols]), out);
                }
            }
            return;
        }
        for (q, panel) in out.chunks_exact_mut(panel_pairs * NR).enumerate() {
            let first = j0 + q * NR;
            let cols = NR.min(j0 + nc - first);
            if b.row_stride == 1 {
                // The transpose of a row-major matrix: column `j`'s inner values are
                // consecutive, so 16 columns × 16 pairs convert as rows and transpose.
                for half in 0..cols.div_ceil(16) {
                    let columns = (cols - 16 * half).min(16);
                    for p0 in (0..pairs).step_by(16) {
                        let values = (kc - 2 * p0).min(32);
                        let mask = if values == 32 {
                            u32::MAX
                        } else {
                            (1 << values) - 1
                        };
                        let mut block = [_mm512_setzero_si512(); 16];
                        for (j, row) in block.iter_mut().enumerate().take(columns) {
                            let start = (first + 16 * half + j) * b.col_stride + k0 + 2 * p0;
                            assert!(start + values <= b.data.len());
                            // SAFETY: the mask reads `values` elements from `start`, checked
                            // to lie inside `b`.
                            *row = unsafe { pairs_of(b.data.as_ptr().add(start), mask) };
                        }
                        let block = transpose16(block);
                        for (t, v) in block.iter().enumerate().take((pairs - p0).min(16)) {
                            let at = (p0 + t) * NR + 16 * half;
                            // SAFETY: 16 lanes from `at` lie inside the panel (`pairs · NR`).
                            unsafe {
                                _mm512_storeu_si512(panel[at..at + 16].as_mut_ptr().cast(), *v)
                            };
                        }
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

    /// The transpose of a 16 × 16 block of 32-bit lanes (`rows[i]` lane `j` becomes
    /// `out[j]` lane `i`): lanes interleaved in pairs, then quadruples, then 128-bit
    /// quarters swapped twice.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn transpose16(r: [__m512i; 16]) -> [__m512i; 16] {
        let mut a = [_mm512_setzero_si512(); 16];
        for k in 0..8 {
            a[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
            a[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
        }
        // b[4k + c], quarter L: column 4L + c of rows 4k..4k + 4.
        let mut b = [_mm512_setzero_si512(); 16];
        for k in 0..4 {
            b[4 * k] = _mm512_unpacklo_epi64(a[4 * k], a[4 * k + 2]);
            b[4 * k + 1] = _mm512_unpackhi_epi64(a[4 * k], a[4 * k + 2]);
            b[4 * k + 2] = _mm512_unpacklo_epi64(a[4 * k + 1], a[4 * k + 3]);
            b[4 * k + 3] = _mm512_unpackhi_epi64(a[4 * k + 1], a[4 * k + 3]);
        }
        let mut out = [_mm512_setzero_si512(); 16];
        for c in 0..4 {
            let s0 = _mm512_shuffle_i32x4::<0x88>(b[c], b[4 + c]);
            let s1 = _mm512_shuffle_i32x4::<0xdd>(b[c], b[4 + c]);
            let s2 = _mm512_shuffle_i32x4::<0x88>(b[8 + c], b[12 + c]);
            let s3 = _mm512_shuffle_i32x4::<0xdd>(b[8 + c], b[12 + c]);
            out[c] = _mm512_shuffle_i32x4::<0x88>(s0, s2);
            out[4 + c] = _mm512_shuffle_i32x4::<0x88>(s1, s3);
            out[8 + c] = _mm512_shuffle_i32x4::<0xdd>(s0, s2);
            out[12 + c] = _mm512_shuffle_i32x4::<0xdd>(s1, s3);
        }
        out
    }

    /// Two rows of up to [`NR`] values as bf16 pairs, column by column (`odd` `None`: zeros),
    /// into the first `even.len()` lanes of `out` rounded up to 16 (the rest untouched).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    pub(super) fn interleave_rows(even: &[f32], odd: Option<&[f32]>, out: &mut [u32]) {
        for half in 0..2 {
            let start = 16 * half;
            let len = even.len().saturating_sub(start).min(16);
            if len == 0 {
                break;
            }
            let mask = lane_mask(len);
            // SAFETY: the masked loads read `len` elements from `start`, inside both rows.
            unsafe {
                let lo = _mm512_maskz_loadu_ps(mask, even.as_ptr().add(start));
                let hi = match odd {
                    Some(row) => _mm512_maskz_loadu_ps(mask, row.as_ptr().add(start)),
                    None => _mm512_setzero_ps(),
                };
                let lo: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(lo));
                let hi: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(hi));
                store_pairs(lo, hi, mask, &mut out[start..]);
            }
        }
    }

    /// Columns `first..first + cols` (`cols` ≤ [`NR`]) of two rows of bf16 pairs, column by
    /// column as pairs of the two rows (`odd` `None`: zeros), into the first `cols` lanes of
    /// `out`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    fn interleave_bf16_rows(
        even: &[u32],
        odd: Option<&[u32]>,
        first: usize,
        cols: usize,
        out: &mut [u32],
    ) {
        // Column `j` is the 16-bit value `j` of a row's storage.
        let halves = |row: &[u32]| -> &[u16] {
            // SAFETY: every `u32` is two initialised `u16`, and `u16` needs less alignment.
            unsafe { std::slice::from_raw_parts(row.as_ptr().cast::<u16>(), 2 * row.len()) }
        };
        let even = &halves(even)[first..first + cols];
        let odd = odd.map(|row| &halves(row)[first..first + cols]);
        for start in (0..cols).step_by(16) {
            let len = (cols - start).min(16);
            let mask = lane_mask(len);
            // SAFETY: the masked loads read `len` values from `start` inside both rows.
            unsafe {
                let lo = _mm256_maskz_loadu_epi16(mask, even.as_ptr().add(start).cast());
                let hi = match odd {
                    Some(row) => _mm256_maskz_loadu_epi16(mask, row.as_ptr().add(start).cast()),
                    None => _mm256_setzero_si256(),
                };
                store_pairs(lo, hi, mask, &mut out[start..]);
            }
        }
    }

    /// The first `n` (at most 16) of 16 lanes.
    fn lane_mask(n: usize) -> __mmask16 {
        if n >= 16 { 0xffff } else { (1 << n) - 1 }
    }

    /// Lanes `j` that `mask` selects of `out` ← the pair of bf16 values `even[j]` (low half)
    /// and `odd[j]` (high half), from two registers of 16 bf16 values each.
    ///
    /// # Panics
    /// If `out` is shorter than the highest selected lane.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    fn store_pairs(even: __m256i, odd: __m256i, mask: __mmask16, out: &mut [u32]) {
        assert!(out.len() >= 16 - mask.leading_zeros() as usize);
        let pairs = _mm512_or_si512(
            _mm512_cvtepu16_epi32(even),
            _mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(odd)),
        );
        // SAFETY: the masked store writes only the selected lanes, inside `out` (checked).
        unsafe { _mm512_mask_storeu_epi32(out.as_mut_ptr().cast(), mask, pairs) };
    }

    /// One register tile: `rows` (≤ [`MR`]) rows of packed `a` times a packed panel, into
    /// `cols` (≤ [`NR`]) columns of `c` at row stride `rsc`, starting from `c`'s values if
    /// `accumulate`, else from zero.
    ///
    /// # Safety
    /// As [`matmul`]; `a` must hold every pair `layout` addresses for `rows` rows and
    /// `pairs` pairs, and `c` `(rows − 1) · rsc + cols` elements.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    unsafe fn tile(
        rows: usize,
        pairs: usize,
        a: &[u32],
        layout: &PackedA,
        panel: &[u32],
        c: &mut [f32],
        rsc: usize,
        cols: usize,
        accumulate: bool,
    ) {
        debug_assert!(c.len() >= (rows - 1) * rsc + cols);
        let args = (pairs, a, layout, panel, c, rsc, cols, accumulate);
        // A tile of at most 16 columns sums one register per row, not two.
        macro_rules! by_shape {
            ($($r:literal)*) => {
                match (rows, cols > 16) {
                    $(
                        ($r, false) => tile_rows::<$r, 1>(args),
                        ($r, true) => tile_rows::<$r, 2>(args),
                    )*
                    _ => unreachable!("a tile has 1 to {MR} rows"),
                }
            };
        }
        // SAFETY: forwarded; each arm's `R` is `rows` and `H` covers `cols`.
        unsafe { by_shape!(1 2 3 4 5 6 7 8) }
    }

    /// [`tile`]'s arguments after `rows`.
    type TileArgs<'a> = (
        usize,
        &'a [u32],
        &'a PackedA,
        &'a [u32],
        &'a mut [f32],
        usize,
        usize,
        bool,
    );

    /// [`tile`] for `R` rows and at most `16·H` columns, its sums in `H·R` registers.
    ///
    /// # Safety
    /// As [`tile`] with `rows = R` and `cols ≤ 16·H`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
    unsafe fn tile_rows<const R: usize, const H: usize>(
        (pairs, a, layout, panel, c, rsc, cols, accumulate): TileArgs<'_>,
    ) {
        let (ars, aps) = (layout.row_stride, layout.pair_stride);
        assert!(pairs > 0 && a.len() > (R - 1) * ars + (pairs - 1) * aps);
        assert!(panel.len() >= pairs * NR);
        let masks = [lane_mask(cols), lane_mask(cols.saturating_sub(16))];
        debug_assert!(cols <= 16 * H);
        let (a, panel, c) = (a.as_ptr(), panel.as_ptr(), c.as_mut_ptr());
        // SAFETY: packed reads stay within the lengths asserted above; `c`'s masked loads
        // and stores touch `cols` elements of each of the `R` rows (the caller's contract).
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); H]; R];
            if accumulate {
                for (r, row) in acc.iter_mut().enumerate() {
                    for (h, v) in row.iter_mut().enumerate() {
                        *v = _mm512_maskz_loadu_ps(masks[h], c.add(r * rsc + 16 * h));
                    }
                }
            }
            for p in 0..pairs {
                let mut b: [__m512bh; H] =
                    [std::mem::transmute::<__m512i, __m512bh>(_mm512_setzero_si512()); H];
                for (h, v) in b.iter_mut().enumerate() {
                    let lanes = _mm512_loadu_si512(panel.add(p * NR + 16 * h).cast());
                    *v = std::mem::transmute::<__m512i, __m512bh>(lanes);
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    let pair = *a.add(r * ars + p * aps) as i32;
                    let pair: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                    for (v, &bh) in row.iter_mut().zip(&b) {
                        *v = _mm512_dpbf16_ps(*v, pair, bh);
                    }
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
