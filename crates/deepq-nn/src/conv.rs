//! The convolutional torso: `Conv2d` + ReLU layers in front of the MLP, as DQN uses on
//! pixels (Mnih et al. 2015) and on MinAtar (Young & Tian 2019).
//!
//! Observations arrive as environments give them, `[N, H, W, C]` (channels last), and every
//! conv activation is kept in that layout: a layer is one matrix product of its im2col
//! matrix (one row per output pixel of every image, `(n, y, x)`-major, one column per
//! `(ky, kx, in_channel)`, so that rows are built from contiguous runs) with the transposed
//! weight, permuted from PyTorch's `[out, in, kh, kw]` to that column order into the
//! workspace (a few thousand values), which writes the output channels-last. One product per layer for
//! the whole batch, rather than one per image, because `matrixmultiply` packs (and
//! allocates) per product and the per-image products of MinAtar's network are tiny
//! (64 × 36 × 16). Only the flatten into the MLP permutes, into PyTorch's `(channel, y, x)`
//! order.
//!
//! Backward: the weight gradient is `gᵀ · cols`, the input gradient `g · W` scattered back
//! through col2im (skipped for the first layer, whose input is the observation).

use serde::{Deserialize, Serialize};

use crate::kernels::simd_dispatch;
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
/// and zero padding in both directions), followed by ReLU. The input channel count is the
/// previous layer's `filters` (or the image's channels).
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
}

/// Lays out the conv layers' parameters from offset 0 (weight then bias, layer by layer);
/// returns them and the parameter count, or the validation message.
pub(crate) fn conv_layout(torso: &ConvTorso) -> Result<(Vec<ConvGeom>, usize), String> {
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
        geoms.push(ConvGeom {
            input,
            output,
            spec,
            weight,
            bias,
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
    /// value (it made im2col 4× slower on MinAtar's network).
    pub(crate) fn im2col<T: Scalar>(x: &[T], g: &ConvGeom, n: usize, cols: &mut [T]) {
        let (inp, out, k, s, p) = (g.input, g.output, g.spec.kernel, g.spec.stride, g.spec.padding);
        let (c_in, patch) = (inp.channels, g.patch());
        let (image, run) = (inp.size(), k * c_in);
        let mut rows = cols[..n * out.pixels() * patch].chunks_exact_mut(patch);
        for img in x[..n * image].chunks_exact(image) {
            for oy in 0..out.height {
                for ox in 0..out.width {
                    let row = rows.next().expect("cols holds every output pixel");
                    // Kernel columns kx in [lo, hi) read inside the image.
                    let x0 = ox * s;
                    let lo = p.saturating_sub(x0).min(k);
                    let hi = (inp.width + p).saturating_sub(x0).min(k).max(lo);
                    for (ky, dst) in row.chunks_exact_mut(run).enumerate() {
                        // Wrapped (negative) rows are out of range too.
                        let iy = (oy * s + ky).wrapping_sub(p);
                        if iy >= inp.height {
                            dst.fill(T::ZERO);
                            continue;
                        }
                        dst[..lo * c_in].fill(T::ZERO);
                        if hi > lo {
                            let from = (iy * inp.width + x0 + lo - p) * c_in;
                            dst[lo * c_in..hi * c_in]
                                .copy_from_slice(&img[from..from + (hi - lo) * c_in]);
                        }
                        dst[hi * c_in..].fill(T::ZERO);
                    }
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
    /// `(channel, y, x)` order, `out` (`n × C × P`).
    pub(crate) fn hwc_to_chw<T: Scalar>(x: &[T], pixels: usize, channels: usize, n: usize, out: &mut [T]) {
        let image = pixels * channels;
        for (src, dst) in x[..n * image].chunks_exact(image).zip(out[..n * image].chunks_exact_mut(image)) {
            // Contiguous writes, strided reads (gathers where the CPU has them): 3× faster
            // than the other way round on MinAtar's 64 × 16 images.
            for (c, plane) in dst.chunks_exact_mut(pixels).enumerate() {
                for (p, v) in plane.iter_mut().enumerate() {
                    *v = src[p * channels + c];
                }
            }
        }
    }

    /// The inverse of [`hwc_to_chw`], for the gradient of the flatten.
    pub(crate) fn chw_to_hwc<T: Scalar>(x: &[T], pixels: usize, channels: usize, n: usize, out: &mut [T]) {
        let image = pixels * channels;
        for (src, dst) in x[..n * image].chunks_exact(image).zip(out[..n * image].chunks_exact_mut(image)) {
            for (p, px) in dst.chunks_exact_mut(channels).enumerate() {
                for (c, v) in px.iter_mut().enumerate() {
                    *v = src[c * pixels + p];
                }
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
