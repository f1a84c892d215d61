//! The convolutional torso: `Conv2d` + ReLU layers in front of the MLP, as DQN uses on
//! pixels (Mnih et al. 2015) and on MinAtar (Young & Tian 2019), or `Conv2d` + LayerNorm
//! over the channels + ReLU, as PQN uses on MinAtar (Gallici et al. 2025).
//!
//! Observations arrive as environments give them, `[N, H, W, C]` (channels last), and every
//! conv activation is kept in that layout. In general a layer is one matrix product of its
//! im2col matrix (one row per output pixel of every image, `(n, y, x)`-major, one column per
//! `(ky, kx, in_channel)`, so that rows are built from contiguous runs) with the transposed
//! weight, permuted from PyTorch's `[out, in, kh, kw]` into that column order in the
//! workspace (a few thousand values); the product comes out channels-last. One product per
//! layer for the whole batch, rather than one per image, because `matrixmultiply` packs (and
//! allocates) per product and the per-image products of MinAtar's network are tiny
//! (64 × 36 × 16). Only the flatten into the MLP permutes, into PyTorch's `(channel, y, x)`
//! order. Backward: the weight gradient is `gᵀ · cols`, the input gradient `g · W` scattered
//! back through col2im (skipped for the first layer, whose input is the observation).
//!
//! A LayerNorm after a conv layer normalises each pixel over its channels (flax's
//! `nn.LayerNorm()` on NHWC, as PQN's network applies it). Channels-last, those are the
//! contiguous rows of the layer's output, so the linear layers' LayerNorm kernels
//! ([`crate::layer_norm`]) serve unchanged, one row per output pixel.
//!
//! `f32` layers without padding (MinAtar's, Nature DQN's) on CPUs with AVX-512 skip the
//! im2col matrix altogether: [`conv_direct`] and [`conv_weight_grad_direct`] read the patches
//! in place and keep blocks of results in registers. Building the matrix and packing it for
//! `matrixmultiply` moved more memory than the product computes: in profiles of MinAtar's
//! DQN update (C = 10) the conv layer's forward passes fell from about a quarter of the time
//! to a tenth, and the whole update from about 670 to 580 µs.

use serde::{Deserialize, Serialize};

use crate::bf16::{self, Precision};
use crate::kernels::{self, simd_dispatch};
use crate::scalar::Scalar;

/// The shape of one image observation, stored `[height, width, channels]` row-major
/// (channels last, as environments such as MinAtar and Atari wrappers give it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageShape {
    /// Rows (y).
    pub height: usize,
    /// Columns (x).
    pub width: usize,
    /// Channels (the fastest-varying index of an observation).
    pub channels: usize,
}

impl ImageShape {
    /// Values in one image: `height · width · channels`.
    pub fn size(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Pixels in one channel: `height · width`.
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }
}

/// One `nn.Conv2d(in, filters, kernel, stride, padding)` layer (square kernel, equal stride
/// and zero padding in both directions), followed by ReLU, or, in a network with
/// [`Arch::layer_norm`](crate::Arch::layer_norm), by a LayerNorm over the `filters` channels
/// of each pixel and then ReLU. The input channel count is the previous layer's `filters` (or
/// the image's channels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConvLayer {
    /// Output channels.
    pub filters: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Step between kernel positions.
    pub stride: usize,
    /// Zeros added on every side of the input.
    pub padding: usize,
}

/// The output shape of every layer of the conv stack `conv` applied to `input` images
/// (`(in + 2·padding − kernel) / stride + 1` per dimension, rounded down, as PyTorch), or a
/// one-line message naming the first layer (counted from 1) that is invalid: a zero filter
/// count, kernel or stride, or a kernel larger than its padded input ("conv layer 2
/// (kernel 5, stride 1, padding 0) would shrink 3×3 to below 1×1").
pub fn conv_output_shapes(
    input: ImageShape,
    conv: &[ConvLayer],
) -> Result<Vec<ImageShape>, String> {
    if input.height == 0 || input.width == 0 || input.channels == 0 {
        return Err(format!(
            "image shape {}×{}×{} (height × width × channels) has a zero dimension",
            input.height, input.width, input.channels
        ));
    }
    let mut shape = input;
    let mut out = Vec::with_capacity(conv.len());
    for (i, c) in conv.iter().enumerate() {
        let name = format!(
            "conv layer {} (kernel {}, stride {}, padding {})",
            i + 1,
            c.kernel,
            c.stride,
            c.padding
        );
        if c.filters == 0 || c.kernel == 0 || c.stride == 0 {
            return Err(format!(
                "{name} needs at least one filter ({}), a kernel and a stride of at least 1",
                c.filters
            ));
        }
        let dim = |n: usize| {
            n.checked_add(c.padding.checked_mul(2)?)?
                .checked_sub(c.kernel)
                .map(|d| d / c.stride + 1)
        };
        let (Some(height), Some(width)) = (dim(shape.height), dim(shape.width)) else {
            return Err(format!(
                "{name} would shrink {}×{} to below 1×1",
                shape.height, shape.width
            ));
        };
        let patch = c
            .kernel
            .checked_mul(c.kernel)
            .and_then(|kk| kk.checked_mul(shape.channels));
        let size = height
            .checked_mul(width)
            .and_then(|p| p.checked_mul(c.filters));
        if patch.is_none() || size.is_none() {
            return Err(format!("{name} is too large"));
        }
        shape = ImageShape {
            height,
            width,
            channels: c.filters,
        };
        out.push(shape);
    }
    Ok(out)
}

/// The convolutional part of a network's description: what a state_dict does not say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConvTorso {
    pub(crate) input: ImageShape,
    pub(crate) layers: Vec<ConvLayer>,
}

/// Where one conv layer's parameters sit and the shapes around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub(crate) input: ImageShape,
    pub(crate) output: ImageShape,
    pub(crate) spec: ConvLayer,
    /// Offset of the `[filters, in, k, k]` weight; the `filters` bias follows it.
    pub(crate) weight: usize,
    pub(crate) bias: usize,
    /// Offset of the `filters` weight γ of the LayerNorm after this layer, right after the
    /// bias; its bias β follows it.
    pub(crate) ln: Option<usize>,
}

impl ConvGeom {
    /// Columns of the im2col matrix: `in_channels · k · k`, the weight's row length.
    pub(crate) fn patch(&self) -> usize {
        self.input.channels * self.spec.kernel * self.spec.kernel
    }

    pub(crate) fn weight_range(&self) -> std::ops::Range<usize> {
        self.weight..self.bias
    }

    pub(crate) fn bias_range(&self) -> std::ops::Range<usize> {
        self.bias..self.bias + self.spec.filters
    }

    /// The LayerNorm's weight γ and bias β, if this layer has one.
    pub(crate) fn ln_ranges(&self) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let f = self.spec.filters;
        self.ln.map(|w| (w..w + f, w + f..w + 2 * f))
    }
}

/// Lays out the conv layers' parameters from offset 0 (weight then bias, then with
/// `layer_norm` the LayerNorm's γ and β, layer by layer); returns them and the parameter
/// count, or the validation message.
pub(crate) fn conv_layout(
    torso: &ConvTorso,
    layer_norm: bool,
) -> Result<(Vec<ConvGeom>, usize), String> {
    if torso.layers.is_empty() {
        return Err("a convolutional network needs at least one conv layer".into());
    }
    let shapes = conv_output_shapes(torso.input, &torso.layers)?;
    let mut offset = 0usize;
    let mut input = torso.input;
    let mut geoms = Vec::with_capacity(shapes.len());
    for (&spec, &output) in torso.layers.iter().zip(&shapes) {
        let patch = input.channels * spec.kernel * spec.kernel;
        let weight = offset;
        let bias = spec
            .filters
            .checked_mul(patch)
            .and_then(|s| weight.checked_add(s))
            .ok_or("conv parameters overflow")?;
        offset = bias
            .checked_add(spec.filters)
            .ok_or("conv parameters overflow")?;
        let ln = if layer_norm {
            let gamma = offset;
            offset = spec
                .filters
                .checked_mul(2)
                .and_then(|n| gamma.checked_add(n))
                .ok_or("conv parameters overflow")?;
            Some(gamma)
        } else {
            None
        };
        geoms.push(ConvGeom {
            input,
            output,
            spec,
            weight,
            bias,
            ln,
        });
        input = output;
    }
    Ok((geoms, offset))
}

simd_dispatch! {
    /// im2col of a batch of channels-last images `x` (`n × H × W × C`) into `cols`
    /// (`n · OH · OW` rows of `k · k · C`, columns ordered `(ky, kx, c)`); padding reads as
    /// zero. Rows run `(n, oy, ox)`, so `cols · W'ᵀ` (with `W'` the weight permuted to
    /// `[out, ky, kx, in]`, see [`permute_weight`]) is channels-last. In this column order
    /// the `k` pixels of one kernel row are `k · C` contiguous values in both `x` and the
    /// row, so a row is `k` slice copies; PyTorch's `(c, ky, kx)` order would scatter every
    /// value (it made im2col about 2× slower on MinAtar's network).
    pub(crate) fn im2col<T: Scalar>(x: &[T], g: &ConvGeom, n: usize, cols: &mut [T]) {
        let (image, patch) = (g.input.size(), g.patch());
        let mut rows = cols[..n * g.output.pixels() * patch].chunks_exact_mut(patch);
        for img in x[..n * image].chunks_exact(image) {
            for oy in 0..g.output.height {
                for ox in 0..g.output.width {
                    let row = rows.next().expect("cols holds every output pixel");
                    patch_row(img, g, oy, ox, row);
                }
            }
        }
    }

    /// col2im, the transpose of [`im2col`]: `dx` (`n × H × W × C`) is overwritten with the sum,
    /// over every patch that read a pixel, of that patch's gradient `dcols`.
    pub(crate) fn col2im<T: Scalar>(dcols: &[T], g: &ConvGeom, n: usize, dx: &mut [T]) {
        let (inp, out, k, s, p) = (g.input, g.output, g.spec.kernel, g.spec.stride, g.spec.padding);
        let (c_in, patch) = (inp.channels, g.patch());
        let (image, run) = (inp.size(), k * c_in);
        dx[..n * image].fill(T::ZERO);
        let mut rows = dcols[..n * out.pixels() * patch].chunks_exact(patch);
        for img in dx[..n * image].chunks_exact_mut(image) {
            for oy in 0..out.height {
                for ox in 0..out.width {
                    let row = rows.next().expect("dcols holds every output pixel");
                    let x0 = ox * s;
                    let lo = p.saturating_sub(x0).min(k);
                    let hi = (inp.width + p).saturating_sub(x0).min(k).max(lo);
                    for (ky, src) in row.chunks_exact(run).enumerate() {
                        let iy = (oy * s + ky).wrapping_sub(p);
                        if iy >= inp.height || hi == lo {
                            continue;
                        }
                        let from = (iy * inp.width + x0 + lo - p) * c_in;
                        let dst = &mut img[from..from + (hi - lo) * c_in];
                        for (d, &v) in dst.iter_mut().zip(&src[lo * c_in..hi * c_in]) {
                            *d = *d + v;
                        }
                    }
                }
            }
        }
    }

    /// Flatten: channels-last images `x` (`n × P × C`, `P` pixels) into PyTorch's
    /// `(channel, y, x)` order, `out` (`n × C × P`): one transpose per image (a few percent of a
    /// MinAtar update; 8 × 8 tiles measured no faster).
    pub(crate) fn hwc_to_chw<T: Scalar>(x: &[T], pixels: usize, channels: usize, n: usize, out: &mut [T]) {
        let image = pixels * channels;
        for (src, dst) in x[..n * image].chunks_exact(image).zip(out[..n * image].chunks_exact_mut(image)) {
            transpose(src, pixels, channels, dst);
        }
    }

    /// The inverse of [`hwc_to_chw`], for the gradient of the flatten.
    pub(crate) fn chw_to_hwc<T: Scalar>(x: &[T], pixels: usize, channels: usize, n: usize, out: &mut [T]) {
        let image = pixels * channels;
        for (src, dst) in x[..n * image].chunks_exact(image).zip(out[..n * image].chunks_exact_mut(image)) {
            transpose(src, channels, pixels, dst);
        }
    }
}

/// One row of [`im2col`]: the patch of output pixel `(oy, ox)` of the image `img`.
#[inline(always)]
fn patch_row<T: Scalar>(img: &[T], g: &ConvGeom, oy: usize, ox: usize, row: &mut [T]) {
    write_patch(img, g, g.input.channels, (oy, ox), row, |from, to| {
        to.copy_from_slice(from);
    });
}

/// Writes the patch of output pixel `(oy, ox)` of the channels-last image `img`, which holds
/// `per_pixel` values a pixel, into `dst`: `copy` moves each kernel row's run inside the
/// image, and the rest is zeros (padding).
#[inline(always)]
fn write_patch<V: Copy + Default>(
    img: &[V],
    g: &ConvGeom,
    per_pixel: usize,
    (oy, ox): (usize, usize),
    dst: &mut [V],
    copy: impl Fn(&[V], &mut [V]),
) {
    let (inp, k, s, p) = (g.input, g.spec.kernel, g.spec.stride, g.spec.padding);
    // Kernel columns kx in [lo, hi) read inside the image.
    let x0 = ox * s;
    let lo = p.saturating_sub(x0).min(k);
    let hi = (inp.width + p).saturating_sub(x0).min(k).max(lo);
    let (lo_at, hi_at) = (lo * per_pixel, hi * per_pixel);
    for (ky, dst) in dst.chunks_exact_mut(k * per_pixel).enumerate() {
        // Wrapped (negative) rows are out of range too.
        let iy = (oy * s + ky).wrapping_sub(p);
        if iy >= inp.height {
            dst.fill(V::default());
            continue;
        }
        if hi > lo {
            let from = (iy * inp.width + x0 + lo - p) * per_pixel;
            copy(&img[from..from + hi_at - lo_at], &mut dst[lo_at..hi_at]);
        }
        // Most runs lie inside the image: no zeros to write, and no call to write none.
        if lo > 0 {
            dst[..lo_at].fill(V::default());
        }
        if hi < k {
            dst[hi_at..].fill(V::default());
        }
    }
}

/// Whether a layer in `precision` keeps its im2col matrix as bf16 pairs
/// ([`im2col_pairs`]): bf16 layers whose patch length is even, so that rows hold whole pairs.
/// Their products read the pairs in place (half the bytes of `f32`, converted once).
pub(crate) fn keeps_pairs(g: &ConvGeom, precision: Precision) -> bool {
    precision == Precision::Bf16 && g.patch().is_multiple_of(2)
}

/// [`im2col`] rounded to bf16, stored as `patch / 2` pair lanes per row in `pairs` (see
/// [`crate::bf16::Operand::Pairs`]). With an even number of input channels every run of a
/// patch starts on a pair, so the input is rounded to pairs once, into `input_pairs`, and the
/// patches copy runs of pairs: a value several patches share is rounded once and half the
/// bytes move. Otherwise each row is built in `row` (one patch long) and then rounded. The
/// lanes are the same either way (rounding is per value).
///
/// # Panics
/// Unless `T` is `f32`, or if a slice is too short.
pub(crate) fn im2col_pairs<T: Scalar>(
    x: &[T],
    g: &ConvGeom,
    n: usize,
    (row, input_pairs): (&mut [T], &mut [u32]),
    pairs: &mut [u32],
) {
    let (x, row) = (kernels::f32s(x), kernels::f32s_mut(row));
    let (image, patch) = (g.input.size(), g.patch());
    let mut lanes = pairs[..n * g.output.pixels() * patch / 2].chunks_exact_mut(patch / 2);
    if g.input.channels.is_multiple_of(2) {
        let input_pairs = &mut input_pairs[..n * image / 2];
        bf16::to_pairs(&x[..n * image], input_pairs);
        for img in input_pairs.chunks_exact(image / 2) {
            for oy in 0..g.output.height {
                for ox in 0..g.output.width {
                    let dst = lanes.next().expect("pairs holds every output pixel");
                    patch_pairs(img, g, oy, ox, dst);
                }
            }
        }
        return;
    }
    let row = &mut row[..patch];
    for img in x[..n * image].chunks_exact(image) {
        for oy in 0..g.output.height {
            for ox in 0..g.output.width {
                patch_row(img, g, oy, ox, row);
                bf16::to_pairs(row, lanes.next().expect("pairs holds every output pixel"));
            }
        }
    }
}

/// [`patch_row`] on an image of bf16 pairs with an even number of channels: the patch of
/// output pixel (`oy`, `ox`) as pairs (zero where it leaves the image).
fn patch_pairs(img: &[u32], g: &ConvGeom, oy: usize, ox: usize, dst: &mut [u32]) {
    write_patch(img, g, g.input.channels / 2, (oy, ox), dst, copy_lanes);
}

/// `dst ← src` for the short runs of a patch, in blocks of 16 lanes (one 512-bit register)
/// that compile to moves in place, not to a call of `memcpy` per run.
#[inline(always)]
fn copy_lanes(src: &[u32], dst: &mut [u32]) {
    let mut blocks = dst.chunks_exact_mut(16);
    let mut from = src.chunks_exact(16);
    for (d, s) in (&mut blocks).zip(&mut from) {
        let block: [u32; 16] = s.try_into().expect("a block of 16 lanes");
        d.copy_from_slice(&block);
    }
    for (d, s) in blocks.into_remainder().iter_mut().zip(from.remainder()) {
        *d = *s;
    }
}

/// `dst` (`cols × rows`) ← the transpose of `src` (`rows × cols`), both row-major; writes
/// run along `dst`.
#[inline(always)]
fn transpose<T: Scalar>(src: &[T], rows: usize, cols: usize, dst: &mut [T]) {
    for (j, out) in dst[..rows * cols].chunks_exact_mut(rows).enumerate() {
        for (i, d) in out.iter_mut().enumerate() {
            *d = src[i * cols + j];
        }
    }
}

/// Output pixels per block of [`conv_direct`]: 8 accumulators of 16 `f32` hide the
/// fused multiply-add latency.
const PIXELS: usize = 8;

/// Filters per block of [`conv_direct`]: one AVX-512 register of `f32`.
const FILTERS: usize = 16;

/// Whether a layer's forward pass runs through [`conv_direct`] rather than im2col and a
/// matrix product: `f32` layers in `f32` precision without padding (whose patches never
/// leave the image) on CPUs with AVX-512. The same answer every time in one process, so
/// that the backward pass knows which forward ran.
pub(crate) fn is_direct<T: Scalar>(g: &ConvGeom, precision: Precision) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        precision == Precision::F32
            && g.spec.padding == 0
            && kernels::is_f32::<T>()
            && std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (g, precision);
        false
    }
}

/// A conv layer without padding computed directly from channels-last images `x`
/// (`n × H × W × C`) into `out` (`n · OH · OW` rows of `filters`, channels-last), with bias,
/// and ReLU if `relu` (without, for a LayerNorm to come between): no im2col matrix and no
/// packing, which on MinAtar's network moved more memory than the product computes (a row
/// of the im2col matrix is `k` runs of `k · C` values, read here in place). `wt` is the
/// weight as `[k, k, in, out]`, `out` padded with zeros to a multiple of 16
/// ([`permute_weight_t`]). Blocks of [`PIXELS`] output pixels × 16 filters accumulate in
/// registers, each weight vector loaded once per block.
///
/// # Panics
/// Unless [`is_direct`] holds for `T` and `g`, or if a slice is too short.
pub(crate) fn conv_direct<T: Scalar>(
    x: &[T],
    g: &ConvGeom,
    n: usize,
    wt: &[T],
    bias: &[T],
    out: &mut [T],
    relu: bool,
) {
    assert!(
        is_direct::<T>(g, Precision::F32),
        "conv_direct on a layer it does not handle"
    );
    let (inp, o) = (g.input, g.output);
    let (k, filters) = (g.spec.kernel, g.spec.filters);
    assert!(x.len() >= n * inp.size(), "input too short");
    assert!(
        wt.len() >= g.patch() * padded_filters(filters),
        "weight too short"
    );
    assert!(bias.len() == filters, "bias length");
    assert!(out.len() >= n * o.pixels() * filters, "output too short");
    // The last output pixel reads at most this far into its image: the patches fit.
    debug_assert!(((o.height - 1) * g.spec.stride + k - 1) < inp.height);
    debug_assert!(((o.width - 1) * g.spec.stride + k - 1) < inp.width);
    #[cfg(target_arch = "x86_64")]
    {
        let (cast, out) = (kernels::f32s, kernels::f32s_mut(out));
        // SAFETY: the CPU has AVX-512F (`is_direct`); the lengths are checked above.
        unsafe { avx512::conv_direct(cast(x), g, n, cast(wt), cast(bias), out, relu) };
    }
}

/// The weight gradient of a layer [`conv_direct`] handles, from its input `x` and the
/// gradient `grad` w.r.t. its pre-activation output (`n · OH · OW` rows of `filters`), into
/// `out` as `[k, k, in, out]` with `out` padded to [`padded_filters`] (undo with
/// [`unpermute_weight_t`]). Reads the patches in place, like the forward pass, instead of
/// building the im2col matrix and packing it for a matrix product.
///
/// # Panics
/// As [`conv_direct`].
pub(crate) fn conv_weight_grad_direct<T: Scalar>(
    x: &[T],
    g: &ConvGeom,
    n: usize,
    grad: &[T],
    out: &mut [T],
) {
    assert!(
        is_direct::<T>(g, Precision::F32),
        "conv_weight_grad_direct on a layer it does not handle"
    );
    assert!(x.len() >= n * g.input.size(), "input too short");
    assert!(
        grad.len() >= n * g.output.pixels() * g.spec.filters,
        "gradient too short"
    );
    assert!(
        out.len() >= g.patch() * padded_filters(g.spec.filters),
        "output too short"
    );
    #[cfg(target_arch = "x86_64")]
    {
        let (cast, out) = (kernels::f32s, kernels::f32s_mut(out));
        // SAFETY: the CPU has AVX-512F (`is_direct`); the lengths are checked above.
        unsafe { avx512::conv_weight_grad(cast(x), g, n, cast(grad), out) };
    }
}

/// Patch columns per block of [`conv_weight_grad_direct`] (accumulator registers).
const COLUMNS: usize = 8;

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{COLUMNS, ConvGeom, FILTERS, PIXELS, padded_filters};

    /// # Safety
    /// The CPU must have AVX-512F and the slices the lengths
    /// [`super::conv_weight_grad_direct`] checks, for a layer without padding.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn conv_weight_grad(
        x: &[f32],
        g: &ConvGeom,
        n: usize,
        grad: &[f32],
        out: &mut [f32],
    ) {
        let (inp, o, k, s) = (g.input, g.output, g.spec.kernel, g.spec.stride);
        let (c_in, filters, patch) = (inp.channels, g.spec.filters, g.patch());
        let (run, row_len, image) = (k * c_in, inp.width * c_in, inp.size());
        let stride_f = padded_filters(filters);
        let (x, grad, out) = (x.as_ptr(), grad.as_ptr(), out.as_mut_ptr());
        let mut f0 = 0;
        while f0 < filters {
            let fw = FILTERS.min(filters - f0);
            let mask: __mmask16 = if fw == FILTERS { !0 } else { (1 << fw) - 1 };
            let mut j0 = 0;
            while j0 < patch {
                let jn = COLUMNS.min(patch - j0);
                // Where patch column `j0 + c` sits relative to a patch's corner (a short last
                // block repeats its last column; only `jn` are stored).
                let offsets: [usize; COLUMNS] = std::array::from_fn(|c| {
                    let j = j0 + c.min(jn - 1);
                    (j / run) * row_len + j % run
                });
                let mut acc = [_mm512_setzero_ps(); COLUMNS];
                let mut r = 0;
                for img in 0..n {
                    for oy in 0..o.height {
                        for ox in 0..o.width {
                            let corner = img * image + (oy * s * inp.width + ox * s) * c_in;
                            // SAFETY: row `r` of `grad` has `f0 + fw <= filters` lanes, and
                            // every patch lies inside its image (no padding).
                            unsafe {
                                let gv = _mm512_maskz_loadu_ps(mask, grad.add(r * filters + f0));
                                for (a, &off) in acc.iter_mut().zip(&offsets) {
                                    *a = _mm512_fmadd_ps(
                                        _mm512_set1_ps(*x.add(corner + off)),
                                        gv,
                                        *a,
                                    );
                                }
                            }
                            r += 1;
                        }
                    }
                }
                for (c, &a) in acc.iter().enumerate().take(jn) {
                    // SAFETY: row `j0 + c < patch` of `out` has `stride_f ≥ f0 + 16` lanes.
                    unsafe { _mm512_storeu_ps(out.add((j0 + c) * stride_f + f0), a) };
                }
                j0 += COLUMNS;
            }
            f0 += FILTERS;
        }
    }

    /// # Safety
    /// The CPU must have AVX-512F and the slices the lengths [`super::conv_direct`] checks,
    /// for a layer without padding.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn conv_direct(
        x: &[f32],
        g: &ConvGeom,
        n: usize,
        wt: &[f32],
        bias: &[f32],
        out: &mut [f32],
        relu: bool,
    ) {
        let (inp, o, k, s) = (g.input, g.output, g.spec.kernel, g.spec.stride);
        let (c_in, filters) = (inp.channels, g.spec.filters);
        let (run, row_len, image) = (k * c_in, inp.width * c_in, inp.size());
        let stride_f = padded_filters(filters);
        let total = n * o.pixels();
        let base = |r: usize| {
            let (img, p) = (r / o.pixels(), r % o.pixels());
            let (oy, ox) = (p / o.width, p % o.width);
            img * image + (oy * s * inp.width + ox * s) * c_in
        };
        let (x, wt, out) = (x.as_ptr(), wt.as_ptr(), out.as_mut_ptr());
        let mut r0 = 0;
        while r0 < total {
            let rn = PIXELS.min(total - r0);
            // A short last block repeats its last pixel; only `rn` rows are stored.
            let bases: [usize; PIXELS] = std::array::from_fn(|r| base(r0 + r.min(rn - 1)));
            let mut f0 = 0;
            while f0 < filters {
                let fw = FILTERS.min(filters - f0);
                let mask: __mmask16 = if fw == FILTERS { !0 } else { (1 << fw) - 1 };
                let mut acc = [_mm512_setzero_ps(); PIXELS];
                for ky in 0..k {
                    // SAFETY: pixel `r`'s kernel row `ky` is `run` values inside its image
                    // (no padding, the output shape fits), and the weight rows of `ky` are
                    // `run` rows of `stride_f ≥ f0 + 16` values.
                    unsafe {
                        let xs: [*const f32; PIXELS] =
                            std::array::from_fn(|r| x.add(bases[r] + ky * row_len));
                        let w_rows = wt.add(ky * run * stride_f + f0);
                        for j in 0..run {
                            let w = _mm512_loadu_ps(w_rows.add(j * stride_f));
                            for r in 0..PIXELS {
                                acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(*xs[r].add(j)), w, acc[r]);
                            }
                        }
                    }
                }
                // SAFETY: `f0 + fw <= filters` lanes of the bias and of output row `r0 + r`.
                unsafe {
                    let b = _mm512_maskz_loadu_ps(mask, bias.as_ptr().add(f0));
                    for (r, &a) in acc.iter().enumerate().take(rn) {
                        let v = _mm512_add_ps(a, b);
                        // ReLU that lets NaN through and keeps −0, like `activation`: `max`
                        // returns its second operand when either is NaN or both are zero.
                        let v = if relu {
                            _mm512_max_ps(_mm512_setzero_ps(), v)
                        } else {
                            v
                        };
                        _mm512_mask_storeu_ps(out.add((r0 + r) * filters + f0), mask, v);
                    }
                }
                f0 += FILTERS;
            }
            r0 += PIXELS;
        }
    }
}

/// `filters` rounded up to whole blocks of [`FILTERS`].
pub(crate) fn padded_filters(filters: usize) -> usize {
    filters.div_ceil(FILTERS) * FILTERS
}

/// PyTorch's conv weight `w` (`[out, in, k, k]`) as [`conv_direct`] reads it,
/// `[k, k, in, out]` with `out` padded with zeros to [`padded_filters`], into the start of
/// `out` (`patch · padded_filters` values).
pub(crate) fn permute_weight_t<T: Scalar>(w: &[T], g: &ConvGeom, out: &mut [T]) {
    let (c_in, kk) = (g.input.channels, g.spec.kernel * g.spec.kernel);
    let stride = padded_filters(g.spec.filters);
    let out = &mut out[..g.patch() * stride];
    out.fill(T::ZERO);
    for (f, src) in w.chunks_exact(c_in * kk).enumerate() {
        for c in 0..c_in {
            for at in 0..kk {
                out[(at * c_in + c) * stride + f] = src[c * kk + at];
            }
        }
    }
}

/// PyTorch's conv weight `w` (`[out, in, k, k]`) permuted to [`im2col`]'s column order,
/// `[out, k, k, in]`, into `out`.
pub(crate) fn permute_weight<T: Scalar>(w: &[T], g: &ConvGeom, out: &mut [T]) {
    let (c_in, kk) = (g.input.channels, g.spec.kernel * g.spec.kernel);
    for (src, dst) in w
        .chunks_exact(c_in * kk)
        .zip(out.chunks_exact_mut(c_in * kk))
    {
        for c in 0..c_in {
            for at in 0..kk {
                dst[at * c_in + c] = src[c * kk + at];
            }
        }
    }
}

/// The inverse of [`permute_weight_t`] (its padding dropped): a `[k, k, in, out]` weight
/// gradient back to PyTorch's `[out, in, k, k]`.
pub(crate) fn unpermute_weight_t<T: Scalar>(w: &[T], g: &ConvGeom, out: &mut [T]) {
    let (c_in, kk) = (g.input.channels, g.spec.kernel * g.spec.kernel);
    let stride = padded_filters(g.spec.filters);
    for (f, dst) in out.chunks_exact_mut(c_in * kk).enumerate() {
        for c in 0..c_in {
            for at in 0..kk {
                dst[c * kk + at] = w[(at * c_in + c) * stride + f];
            }
        }
    }
}

/// The inverse of [`permute_weight`]: a `[out, k, k, in]` weight gradient back to
/// PyTorch's `[out, in, k, k]`.
pub(crate) fn unpermute_weight<T: Scalar>(w: &[T], g: &ConvGeom, out: &mut [T]) {
    let (c_in, kk) = (g.input.channels, g.spec.kernel * g.spec.kernel);
    for (src, dst) in w
        .chunks_exact(c_in * kk)
        .zip(out.chunks_exact_mut(c_in * kk))
    {
        for c in 0..c_in {
            for at in 0..kk {
                dst[c * kk + at] = src[at * c_in + c];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// Both ways of building the bf16 im2col matrix (runs of pairs from an input rounded once,
    /// for even channels; rows rounded one by one, for odd) give the lanes of the f32 im2col
    /// matrix rounded row by row: strides, padding, kernels larger than the stride, odd sizes.
    #[test]
    fn im2col_pairs_are_the_rounded_im2col_matrix() {
        let mut rng = Pcg64::seed_from_u64(5);
        for (height, width, channels, kernel, stride, padding) in [
            (84, 84, 4, 8, 4, 0),
            (9, 7, 2, 3, 2, 1),
            (10, 10, 6, 4, 1, 2),
            (5, 6, 1, 2, 1, 1),
            (7, 5, 3, 4, 3, 2),
        ] {
            let input = ImageShape {
                height,
                width,
                channels,
            };
            let layers = vec![ConvLayer {
                filters: 3,
                kernel,
                stride,
                padding,
            }];
            let (geoms, _) = conv_layout(&ConvTorso { input, layers }, false).unwrap();
            let g = &geoms[0];
            let (n, patch) = (3, g.patch());
            assert!(patch % 2 == 0, "a pair layer's patch is even");
            let x: Vec<f32> = (0..n * input.size())
                .map(|_| rng.random_range(-2.0..2.0))
                .collect();
            let rows = n * g.output.pixels();
            let mut cols = vec![0.0f32; rows * patch];
            im2col(&x, g, n, &mut cols);
            let mut want = vec![0u32; rows * patch / 2];
            bf16::to_pairs(&cols, &mut want);
            let mut got = vec![u32::MAX; rows * patch / 2];
            let (mut row, mut input_pairs) =
                (vec![0.0f32; patch], vec![0u32; n * input.size() / 2]);
            im2col_pairs(&x, g, n, (&mut row, &mut input_pairs), &mut got);
            assert_eq!(
                got, want,
                "{height}x{width}x{channels}, k{kernel} s{stride} p{padding}"
            );
        }
    }
}
