//! The AMX kernel: bf16 products in tile registers (`tdpbf16ps`), `f32` sums.
//!
//! A tile register holds 16 rows of 64 bytes. `tdpbf16ps` multiplies a tile of 16 rows × 16
//! bf16 pairs of `a` by a tile of 16 pairs × 16 columns of `b` (each row of it 16 columns'
//! pairs, the layout [`avx512::pack_b`]'s panels already have) into a tile of 16 × 16 `f32`
//! sums. `c` is computed in blocks of [`KC`] inner elements × [`NC`] columns: the block of
//! `b` is packed once as panels of [`NR`] columns, each panel padded with zero pairs to a
//! whole number of tiles; each [`MR`] rows of `a` are packed as rows of pairs, likewise
//! padded; and up to 2 × 2 tiles of sums (32 rows × 32 columns) run through the block,
//! continuing in later inner blocks from the sums stored in `c`. Every element of `c` is
//! therefore one fixed sequence of tile products: the kernel repeats its bits.
//!
//! Linux hands a process the tile registers only on request (`arch_prctl`), which
//! [`tiles_granted`] makes once, when the kernel is detected.

use std::arch::asm;
use std::arch::x86_64::*;

use super::avx512::{self, NR};
use super::{MatRef, Operand, Scratch, bf16_pair};

/// Rows of `a` per block: two tiles of 16.
const MR: usize = 32;
/// Rows of a tile, and pairs in a tile's row of `a`.
pub(super) const TILE: usize = 16;
/// Inner elements per block (a multiple of `2 · TILE`, so blocks start on a tile).
const KC: usize = 1024;
/// Columns per block: a packed block of `b` is at most `KC · NC · 2` bytes (512 KiB).
const NC: usize = 256;

/// Whether this CPU has AMX's tiles and bf16 products (CPUID leaf 7: AMX-BF16 and AMX-TILE)
/// and the operating system grants this process the tile registers.
pub(super) fn tiles_granted() -> bool {
    // Leaf 7 is read only where the CPU has it.
    let has_amx = __cpuid(0).eax >= 7 && {
        let edx = __cpuid_count(7, 0).edx;
        edx & (1 << 22) != 0 && edx & (1 << 24) != 0
    };
    has_amx && request_tile_data()
}

/// Asks Linux for the tile registers' state (`ARCH_REQ_XCOMP_PERM` for `XFEATURE_XTILEDATA`),
/// which every thread of the process then has; without it the first tile instruction
/// faults.
#[cfg(target_os = "linux")]
fn request_tile_data() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: the request only changes which state the kernel saves for this process.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

/// Other systems: not asked, so not used.
#[cfg(not(target_os = "linux"))]
fn request_tile_data() -> bool {
    false
}

/// The tile configuration (palette 1): all eight tiles 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

const CONFIG: TileConfig = TileConfig {
    palette: 1,
    start_row: 0,
    reserved: [0; 14],
    bytes_per_row: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
    rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
};

/// `c ← a · b`.
///
/// # Safety
/// The CPU must have AMX-TILE, AMX-BF16, AVX-512F/BW/VL and AVX512-BF16, with the tile
/// registers granted ([`tiles_granted`]); `a` and `b` must have matching inner dimensions
/// and `c` at least `a.rows · b.cols` elements.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
pub(super) unsafe fn matmul(a: Operand<'_>, b: Operand<'_>, c: &mut [f32], scratch: &mut Scratch) {
    let (m, k, n) = (a.rows(), a.cols(), b.cols());
    if k == 0 {
        c[..m * n].fill(0.0);
        return;
    }
    // SAFETY: the CPU has AMX and the process its tiles (the caller's contract).
    unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
    let Scratch {
        a: a_lanes,
        b: b_lanes,
        ..
    } = scratch;
    for j0 in (0..n).step_by(NC) {
        let nc = NC.min(n - j0);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let pairs = kc.div_ceil(2);
            let panel_pairs = pairs.next_multiple_of(TILE);
            let panels = nc.div_ceil(NR);
            let b_packed = aligned(b_lanes, panels * panel_pairs * NR);
            avx512::pack_b(b, k0, kc, j0, nc, panel_pairs, b_packed);
            for panel in b_packed.chunks_exact_mut(panel_pairs * NR) {
                panel[pairs * NR..].fill(0);
            }
            for i0 in (0..m).step_by(MR) {
                let rows = MR.min(m - i0);
                let (a_tiles, a_stride) = match a {
                    // Rows of pairs that fill whole tiles: the tiles read them in place.
                    Operand::Pairs {
                        data, pairs: row, ..
                    } if rows % TILE == 0 && pairs % TILE == 0 => (&data[i0 * row + k0 / 2..], row),
                    _ => {
                        let a_packed = aligned(a_lanes, MR * panel_pairs);
                        pack_a(a, i0, rows, k0, kc, panel_pairs, a_packed);
                        (&a_packed[..], panel_pairs)
                    }
                };
                for (q, panel) in b_packed.chunks_exact(panel_pairs * NR).enumerate() {
                    let block = Block {
                        row: i0,
                        rows,
                        col: j0 + q * NR,
                        cols: NR.min(nc - q * NR),
                        n,
                    };
                    // SAFETY: the block lies inside `c` (`m × n`), both operands hold
                    // `panel_pairs` pairs for every row and column the tiles read.
                    unsafe { block.run(a_tiles, a_stride, panel, panel_pairs, k0 > 0, c) };
                }
            }
        }
    }
    // SAFETY: releasing the tiles returns them to their initial state.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// A 64-byte-aligned run of `len` lanes of `buffer` (grown as needed), so that each row of
/// a tile (64 bytes) is one cache line.
fn aligned(buffer: &mut Vec<u32>, len: usize) -> &mut [u32] {
    avx512::grow(buffer, len + TILE);
    let offset = buffer.as_ptr().align_offset(64);
    &mut buffer[offset..offset + len]
}

/// Rows `i0..i0 + rows`, inner elements `k0..k0 + kc` of `a` as rows of bf16 pairs, each
/// `panel_pairs` lanes long (the pairs past the block's zero), into the [`MR`] rows of
/// `out`; rows past `rows` are zero.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
fn pack_a(
    a: Operand<'_>,
    i0: usize,
    rows: usize,
    k0: usize,
    kc: usize,
    panel_pairs: usize,
    out: &mut [u32],
) {
    let pairs = kc.div_ceil(2);
    let (filled, zero) = out.split_at_mut(rows * panel_pairs);
    zero.fill(0);
    match a {
        Operand::Pairs {
            data, pairs: row, ..
        } => {
            for (r, out) in filled.chunks_exact_mut(panel_pairs).enumerate() {
                out[..pairs].copy_from_slice(&data[(i0 + r) * row + k0 / 2..][..pairs]);
                out[pairs..].fill(0);
            }
        }
        Operand::F32(a) if a.col_stride == 1 => {
            for (r, out) in filled.chunks_exact_mut(panel_pairs).enumerate() {
                let base = (i0 + r) * a.row_stride + k0;
                avx512::convert_pairs(&a.data[base..base + kc], &mut out[..pairs]);
                out[pairs..].fill(0);
            }
        }
        Operand::F32(a) if a.row_stride == 1 => pack_transposed_a(a, i0, rows, k0, kc, filled),
        Operand::F32(a) => {
            for (r, out) in filled.chunks_exact_mut(panel_pairs).enumerate() {
                let at = |kk: usize| a.data[(i0 + r) * a.row_stride + kk * a.col_stride];
                for (p, o) in out.iter_mut().enumerate() {
                    let (even, odd) = (k0 + 2 * p, k0 + 2 * p + 1);
                    *o = match (2 * p < kc, 2 * p + 1 < kc) {
                        (true, true) => bf16_pair(at(even), at(odd)),
                        (true, false) => bf16_pair(at(even), 0.0),
                        _ => 0,
                    };
                }
            }
        }
    }
}

/// [`pack_a`] for the transpose of a row-major matrix (inner index `kk` is storage row `kk`,
/// rows of `a` its contiguous columns): blocks of 16 rows × 16 pairs are interleaved from
/// two storage rows at a time (one pair per row of `a`, across the rows), then transposed
/// through registers into rows of pairs.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
fn pack_transposed_a(
    a: MatRef<'_, f32>,
    i0: usize,
    rows: usize,
    k0: usize,
    kc: usize,
    out: &mut [u32],
) {
    let pairs = kc.div_ceil(2);
    let panel_pairs = out.len() / rows;
    let mut by_pair = [0u32; TILE * TILE];
    for r0 in (0..rows).step_by(TILE) {
        let strip = (rows - r0).min(TILE);
        for p0 in (0..panel_pairs).step_by(TILE) {
            by_pair.fill(0);
            for p in p0..pairs.min(p0 + TILE) {
                let row = |kk: usize| &a.data[kk * a.col_stride + i0 + r0..][..strip];
                let odd = (2 * p + 1 < kc).then(|| row(k0 + 2 * p + 1));
                avx512::interleave_rows(row(k0 + 2 * p), odd, &mut by_pair[(p - p0) * TILE..]);
            }
            // SAFETY: `by_pair` holds 16 rows of 16 lanes.
            let block = avx512::transpose16(std::array::from_fn(|t| unsafe {
                _mm512_loadu_si512(by_pair.as_ptr().add(t * TILE).cast())
            }));
            for (r, v) in block.iter().enumerate().take(strip) {
                let at = (r0 + r) * panel_pairs + p0;
                // SAFETY: 16 lanes from `at` lie inside row `r0 + r` (`panel_pairs` is a
                // multiple of 16).
                unsafe { _mm512_storeu_si512(out[at..at + TILE].as_mut_ptr().cast(), *v) };
            }
        }
    }
}

/// Up to 32 × 32 sums of `c`: rows `row..row + rows`, columns `col..col + cols`, `c` being
/// row-major with `n` columns.
struct Block {
    row: usize,
    rows: usize,
    col: usize,
    cols: usize,
    n: usize,
}

impl Block {
    /// Adds `a` (rows of `panel_pairs` pairs, `a_stride` lanes apart) times one panel of
    /// packed `b` (`panel_pairs` rows of 32 columns' pairs) to the block: to its sums in `c`
    /// if `accumulate`, else to zero. Tiles of rows or columns wholly past the block are not
    /// computed; `a` holds every row of the tiles that are (zero past the block's rows).
    ///
    /// # Safety
    /// The tiles must be configured ([`CONFIG`]); the block must lie inside `c`.
    #[target_feature(enable = "avx512f")]
    unsafe fn run(
        &self,
        a: &[u32],
        a_stride: usize,
        panel: &[u32],
        panel_pairs: usize,
        accumulate: bool,
        c: &mut [f32],
    ) {
        let a_rows = self.rows.next_multiple_of(TILE);
        assert!(a.len() >= (a_rows - 1) * a_stride + panel_pairs);
        assert!(panel.len() >= panel_pairs * NR);
        assert!(c.len() >= (self.row + self.rows - 1) * self.n + self.col + self.cols);
        // SAFETY: forwarded; the asserts above cover every packed read.
        unsafe {
            match (self.rows > TILE, self.cols > TILE) {
                (true, true) => {
                    self.run_tiles::<2, 2>(a, a_stride, panel, panel_pairs, accumulate, c)
                }
                (true, false) => {
                    self.run_tiles::<2, 1>(a, a_stride, panel, panel_pairs, accumulate, c)
                }
                (false, true) => {
                    self.run_tiles::<1, 2>(a, a_stride, panel, panel_pairs, accumulate, c)
                }
                (false, false) => {
                    self.run_tiles::<1, 1>(a, a_stride, panel, panel_pairs, accumulate, c)
                }
            }
        }
    }

    /// [`Block::run`] with `TR` tiles of rows and `TC` of columns: sums in tiles
    /// `2·r + c` (0–3), `a`'s tiles in 4–5, `b`'s in 6–7.
    ///
    /// # Safety
    /// As [`Block::run`], with `TR`, `TC` covering the block.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_tiles<const TR: usize, const TC: usize>(
        &self,
        a: &[u32],
        a_stride: usize,
        panel: &[u32],
        panel_pairs: usize,
        accumulate: bool,
        c: &mut [f32],
    ) {
        let (a_lanes, a_stride) = (a_stride, a_stride * 4);
        let b_stride = NR * 4;
        // SAFETY: the sums' tiles are loaded from and stored to the block (inside `c`), or
        // through a full-tile copy; each step reads 16 rows of `a` at `a_stride` and 16 pair
        // rows of the panel at `b_stride`, inside the lengths the caller asserted.
        unsafe {
            for r in 0..TR {
                for t in 0..TC {
                    self.load_sums(r, t, accumulate, c);
                }
            }
            for step in 0..panel_pairs / TILE {
                let a0 = a.as_ptr().add(step * TILE);
                let a1 = a0.add(TILE * a_lanes);
                let b0 = panel.as_ptr().add(step * TILE * NR);
                asm!("tileloadd tmm4, [{p} + {s}*1]", p = in(reg) a0, s = in(reg) a_stride, options(nostack, readonly));
                if TR == 2 {
                    asm!("tileloadd tmm5, [{p} + {s}*1]", p = in(reg) a1, s = in(reg) a_stride, options(nostack, readonly));
                }
                asm!("tileloadd tmm6, [{p} + {s}*1]", p = in(reg) b0, s = in(reg) b_stride, options(nostack, readonly));
                if TC == 2 {
                    asm!("tileloadd tmm7, [{p} + {s}*1 + 64]", p = in(reg) b0, s = in(reg) b_stride, options(nostack, readonly));
                }
                asm!("tdpbf16ps tmm0, tmm4, tmm6", options(nostack, nomem));
                if TC == 2 {
                    asm!("tdpbf16ps tmm1, tmm4, tmm7", options(nostack, nomem));
                }
                if TR == 2 {
                    asm!("tdpbf16ps tmm2, tmm5, tmm6", options(nostack, nomem));
                    if TC == 2 {
                        asm!("tdpbf16ps tmm3, tmm5, tmm7", options(nostack, nomem));
                    }
                }
            }
            for r in 0..TR {
                for t in 0..TC {
                    self.store_sums(r, t, c);
                }
            }
        }
    }

    /// Rows and columns of tile (`r`, `t`) inside the block, and where it starts in `c`.
    fn tile(&self, r: usize, t: usize) -> (usize, usize, usize) {
        let rows = self.rows.saturating_sub(TILE * r).min(TILE);
        let cols = self.cols.saturating_sub(TILE * t).min(TILE);
        (
            rows,
            cols,
            (self.row + TILE * r) * self.n + self.col + TILE * t,
        )
    }

    /// Tile `2·r + t` ← its sums in `c` (`accumulate`) or zero. A tile that covers fewer
    /// than 16 × 16 elements of `c` goes through a zero-padded copy.
    ///
    /// # Safety
    /// As [`Block::run`].
    #[inline]
    unsafe fn load_sums(&self, r: usize, t: usize, accumulate: bool, c: &[f32]) {
        let (rows, cols, at) = self.tile(r, t);
        let mut copy = Sums([0.0; TILE * TILE]);
        let (ptr, stride) = if !accumulate {
            (copy.0.as_ptr(), TILE * 4)
        } else if rows == TILE && cols == TILE {
            (c[at..].as_ptr(), self.n * 4)
        } else {
            for i in 0..rows {
                copy.0[i * TILE..][..cols].copy_from_slice(&c[at + i * self.n..][..cols]);
            }
            (copy.0.as_ptr(), TILE * 4)
        };
        // SAFETY: 16 rows of 64 bytes at `stride` from `ptr`: a whole tile of `c` (checked
        // above) or of `copy`.
        unsafe {
            match 2 * r + t {
                0 => {
                    asm!("tileloadd tmm0, [{p} + {s}*1]", p = in(reg) ptr, s = in(reg) stride, options(nostack, readonly))
                }
                1 => {
                    asm!("tileloadd tmm1, [{p} + {s}*1]", p = in(reg) ptr, s = in(reg) stride, options(nostack, readonly))
                }
                2 => {
                    asm!("tileloadd tmm2, [{p} + {s}*1]", p = in(reg) ptr, s = in(reg) stride, options(nostack, readonly))
                }
                _ => {
                    asm!("tileloadd tmm3, [{p} + {s}*1]", p = in(reg) ptr, s = in(reg) stride, options(nostack, readonly))
                }
            }
        }
    }

    /// `c` ← tile `2·r + t`'s sums inside the block.
    ///
    /// # Safety
    /// As [`Block::run`].
    #[inline]
    unsafe fn store_sums(&self, r: usize, t: usize, c: &mut [f32]) {
        let (rows, cols, at) = self.tile(r, t);
        let mut copy = Sums([0.0; TILE * TILE]);
        let whole = rows == TILE && cols == TILE;
        let (ptr, stride) = if whole {
            (c[at..].as_mut_ptr(), self.n * 4)
        } else {
            (copy.0.as_mut_ptr(), TILE * 4)
        };
        // SAFETY: 16 rows of 64 bytes at `stride` from `ptr`: a whole tile of `c` or `copy`.
        unsafe {
            match 2 * r + t {
                0 => {
                    asm!("tilestored [{p} + {s}*1], tmm0", p = in(reg) ptr, s = in(reg) stride, options(nostack))
                }
                1 => {
                    asm!("tilestored [{p} + {s}*1], tmm1", p = in(reg) ptr, s = in(reg) stride, options(nostack))
                }
                2 => {
                    asm!("tilestored [{p} + {s}*1], tmm2", p = in(reg) ptr, s = in(reg) stride, options(nostack))
                }
                _ => {
                    asm!("tilestored [{p} + {s}*1], tmm3", p = in(reg) ptr, s = in(reg) stride, options(nostack))
                }
            }
        }
        if !whole {
            for i in 0..rows {
                c[at + i * self.n..][..cols].copy_from_slice(&copy.0[i * TILE..][..cols]);
            }
        }
    }
}

/// One tile of `f32` sums, on a cache line.
#[repr(C, align(64))]
struct Sums([f32; TILE * TILE]);
