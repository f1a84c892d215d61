//! Where each layer's parameters, noisy effective weights and noise factors sit in the
//! flat buffers of a network.

use super::Arch;
use crate::conv::ConvGeom;

/// Where a noisy layer's σ parameters, effective weights and noise factors sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NoisyLayer {
    /// Offset of the `n_out × n_in` weight σ in the parameters (the bias σ follows it).
    pub(crate) weight_sigma: usize,
    /// Offset of the `n_out` bias σ.
    pub(crate) bias_sigma: usize,
    /// Offset of the effective weight in the noise buffer (the effective bias follows it).
    pub(crate) eff: usize,
    /// Offset of the input noise factors (`groups × n_in`) in the factor buffer.
    pub(crate) eps_in: usize,
    /// Offset of the output noise factors (`n_out`) in the factor buffer.
    pub(crate) eps_out: usize,
    /// Output rows before this index use the first input-noise group, the rest the second
    /// (the value and advantage streams of a dueling head are two layers in PyTorch, each
    /// with its own input noise); `n_out` when there is one group.
    pub(crate) split: usize,
}

/// Where one linear layer's parameters sit in the flat buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layer {
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
    /// Offset of the `n_out × n_in` row-major weight (μ of a noisy layer).
    pub(crate) weight: usize,
    /// Offset of the `n_out` bias (μ), right after the weight.
    pub(crate) bias: usize,
    pub(crate) noisy: Option<NoisyLayer>,
    /// Offset of the `n_out` weight γ of the LayerNorm after this (hidden) layer, right after
    /// the layer's own parameters; its bias β follows it.
    pub(crate) ln: Option<usize>,
}

impl Layer {
    pub(crate) fn weight_range(&self) -> std::ops::Range<usize> {
        self.weight..self.bias
    }

    pub(crate) fn bias_range(&self) -> std::ops::Range<usize> {
        self.bias..self.bias + self.n_out
    }

    /// The LayerNorm's weight γ and bias β, if this layer has one.
    pub(crate) fn ln_ranges(&self) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        self.ln
            .map(|w| (w..w + self.n_out, w + self.n_out..w + 2 * self.n_out))
    }

    pub(crate) fn sigma_ranges(&self) -> Option<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        self.noisy.map(|n| {
            (
                n.weight_sigma..n.bias_sigma,
                n.bias_sigma..n.bias_sigma + self.n_out,
            )
        })
    }
}

/// The parameter layout of a network.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layout {
    pub(crate) layers: Vec<Layer>,
    pub(crate) n_params: usize,
    /// Length of the effective-weight buffer of the noisy layers.
    pub(crate) n_eff: usize,
    /// Length of the noise-factor buffer.
    pub(crate) n_factors: usize,
    /// The conv layers in front of the linear ones (their parameters come first); empty
    /// for an MLP.
    pub(crate) conv: Vec<ConvGeom>,
}

/// Lays out the layers of a network with layer widths `widths` (the last being the output
/// layer's raw width); `None` if there are fewer than two widths, a width is zero, or a count
/// overflows. Each layer holds its weight then its bias; a noisy layer then its weight σ and
/// bias σ; with `layer_norm`, a hidden layer then its LayerNorm's weight γ and bias β.
/// `value_rows` splits a noisy output layer's input noise into two groups. The first layer
/// starts at offset `base` (after the conv layers' parameters; 0 without them).
pub(crate) fn layout(
    widths: &[usize],
    noisy: bool,
    value_rows: Option<usize>,
    layer_norm: bool,
    base: usize,
) -> Option<Layout> {
    if widths.len() < 2 || widths.contains(&0) {
        return None;
    }
    let mut out = Layout {
        layers: Vec::with_capacity(widths.len() - 1),
        ..Layout::default()
    };
    let mut offset = base;
    let n_layers = widths.len() - 1;
    for (l, pair) in widths.windows(2).enumerate() {
        let (n_in, n_out) = (pair[0], pair[1]);
        let size = n_in.checked_mul(n_out)?;
        let bias = offset.checked_add(size)?;
        offset = bias.checked_add(n_out)?;
        let noisy = if noisy {
            let weight_sigma = offset;
            let bias_sigma = weight_sigma.checked_add(size)?;
            offset = bias_sigma.checked_add(n_out)?;
            let split = match value_rows {
                Some(v) if l + 1 == n_layers && v < n_out => v,
                _ => n_out,
            };
            let groups = if split < n_out { 2 } else { 1 };
            let eff = out.n_eff;
            out.n_eff = eff.checked_add(size)?.checked_add(n_out)?;
            let eps_in = out.n_factors;
            let eps_out = eps_in.checked_add(groups * n_in)?;
            out.n_factors = eps_out.checked_add(n_out)?;
            Some(NoisyLayer {
                weight_sigma,
                bias_sigma,
                eff,
                eps_in,
                eps_out,
                split,
            })
        } else {
            None
        };
        let ln = if layer_norm && l + 1 < n_layers {
            let gamma = offset;
            offset = gamma.checked_add(n_out.checked_mul(2)?)?;
            Some(gamma)
        } else {
            None
        };
        out.layers.push(Layer {
            n_in,
            n_out,
            weight: bias - size,
            bias,
            noisy,
            ln,
        });
    }
    out.n_params = offset;
    Some(out)
}

/// Internal layer widths: the input and hidden widths, then the output layer's raw width.
pub(super) fn widths(sizes: &[usize], arch: &Arch) -> Option<Vec<usize>> {
    let (&n_actions, rest) = sizes.split_last()?;
    let mut w = rest.to_vec();
    w.push(arch.raw_width(n_actions));
    Some(w)
}
