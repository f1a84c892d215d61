//! The Q-network: an MLP torso (linear layers with ReLU between them, optionally each
//! followed by LayerNorm before its ReLU) and a linear output head, optionally dueling, noisy
//! (factorised Gaussian NoisyLinear layers) and distributional (C51 atom logits); parameters,
//! initialisation, batched forward and backward passes, and single-observation inference.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::conv::{self, ConvGeom, ConvLayer, ConvTorso, ImageShape};
use crate::dense;
use crate::kernels::{self, MatRef};
use crate::layer_norm;
use crate::qvalues::argmax;
use crate::scalar::Scalar;

/// What the network computes on top of the plain MLP. The default is the plain MLP: one
/// Q-value per action from a linear output layer, no LayerNorm.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arch {
    /// Every hidden linear layer is followed by a LayerNorm over its output features (affine
    /// weight initialised to 1, bias to 0; biased variance, as PyTorch's `nn.LayerNorm`) and
    /// then the ReLU: `Linear → LayerNorm → ReLU`, repeated, then the output layer, as PQN
    /// (Gallici et al. 2025) uses. In a convolutional network every conv layer is followed
    /// by one too, over the channels of each output pixel (`Conv2d → LayerNorm → ReLU`, flax's
    /// `nn.LayerNorm()` on PQN's NHWC activations), with the same ε. Works with every head.
    /// Default false (absent in configurations saved before it existed).
    #[serde(default)]
    pub layer_norm: bool,
    /// The ε added to the variance inside the LayerNorm's square root. Default 1e-5,
    /// PyTorch's; PQN's flax networks use 1e-6. Ignored (and reset to the default) without
    /// [`layer_norm`](Self::layer_norm).
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Dueling head: the output layer has a value stream (`atoms` outputs) and an advantage
    /// stream (`n_actions · atoms` outputs), combined as `V + (A − mean_a A)` per atom.
    pub dueling: bool,
    /// Every linear layer is a NoisyLinear layer with factorised Gaussian noise (Fortunato et
    /// al. 2018): weight `μ + σ ⊙ f(ε_out) f(ε_in)ᵀ`, bias `μ_b + σ_b ⊙ f(ε_out)`,
    /// `f(x) = sgn(x)·√|x|`. The noise is whatever [`Mlp::sample_noise`] drew last, or off.
    pub noisy: bool,
    /// Atoms of a categorical return distribution per action (C51); 1 for scalar Q-values.
    pub atoms: usize,
    /// The smallest atom (C51).
    pub v_min: f64,
    /// The largest atom (C51).
    pub v_max: f64,
    /// Quantiles of the return distribution per action (QR-DQN, Dabney et al. 2018); 1 for
    /// scalar Q-values. The output layer has `n_quantiles · n_actions` units read as
    /// `[n_quantiles, n_actions]` (unit `i·n_actions + a` is quantile `i` of action `a`), as
    /// sb3-contrib's `QuantileNetwork` views its last Linear layer, and an action's Q-value
    /// is the mean of its quantiles. Excludes `dueling` and `atoms > 1`.
    #[serde(default = "one")]
    pub quantiles: usize,
}

/// A scalar head's quantile count.
fn one() -> usize {
    1
}

/// PyTorch's `nn.LayerNorm` default ε.
fn default_layer_norm_eps() -> f64 {
    1e-5
}

impl Default for Arch {
    fn default() -> Self {
        Arch {
            layer_norm: false,
            layer_norm_eps: default_layer_norm_eps(),
            dueling: false,
            noisy: false,
            atoms: 1,
            v_min: -10.0,
            v_max: 10.0,
            quantiles: 1,
        }
    }
}

impl Arch {
    /// A plain output layer: no dueling, no noise, no C51 atoms (LayerNorm in the torso may
    /// be on or off). A quantile head is plain: one Linear layer whose outputs are read as
    /// quantiles, as sb3-contrib's `QuantileNetwork` reads them.
    pub fn is_plain(&self) -> bool {
        !self.dueling && !self.noisy && self.atoms == 1
    }

    /// Whether the outputs are atom logits of a return distribution (C51).
    pub fn is_distributional(&self) -> bool {
        self.atoms > 1
    }

    /// The same architecture with the support of a scalar head and the ε of a network
    /// without LayerNorm (both unused) reset to the default, so that equal networks compare
    /// equal; networks store their head this way.
    pub fn canonical(mut self) -> Self {
        let plain = Arch::default();
        if self.atoms == 1 {
            (self.v_min, self.v_max) = (plain.v_min, plain.v_max);
        }
        if !self.layer_norm {
            self.layer_norm_eps = plain.layer_norm_eps;
        }
        self
    }

    /// Checks the fields; the error names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.atoms == 0 {
            return Err("atoms must be at least 1".into());
        }
        if self.quantiles == 0 {
            return Err("quantiles must be at least 1".into());
        }
        if self.quantiles > 1 && (self.dueling || self.atoms > 1) {
            return Err(
                "a quantile head (quantiles > 1) is neither dueling nor categorical (atoms = 1)"
                    .into(),
            );
        }
        if self.atoms > 1
            && !(self.v_min.is_finite() && self.v_max.is_finite() && self.v_min < self.v_max)
        {
            return Err(format!(
                "v_min ({}) and v_max ({}) must be finite with v_min < v_max",
                self.v_min, self.v_max
            ));
        }
        if self.layer_norm && !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!(
                "layer_norm_eps ({}) must be finite and positive",
                self.layer_norm_eps
            ));
        }
        Ok(())
    }

    /// Outputs per action: C51's atoms, or QR-DQN's quantiles (1 for scalar Q-values).
    pub fn outputs_per_action(&self) -> usize {
        self.atoms * self.quantiles
    }

    /// Width of the output layer for `n_actions` actions: `n_actions · atoms` (or
    /// `n_actions · quantiles`), plus `atoms` value outputs for a dueling head.
    pub fn raw_width(&self, n_actions: usize) -> usize {
        let adv = n_actions * self.outputs_per_action();
        if self.dueling { adv + self.atoms } else { adv }
    }

    /// The atoms `v_min + j·(v_max − v_min)/(atoms − 1)`, computed in f64 (`[0]` for scalar
    /// Q-values).
    pub fn support<T: Scalar>(&self) -> Vec<T> {
        if self.atoms == 1 {
            return vec![T::ZERO];
        }
        let dz = (self.v_max - self.v_min) / (self.atoms - 1) as f64;
        (0..self.atoms)
            .map(|j| T::from_f64(self.v_min + j as f64 * dz))
            .collect()
    }
}

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

/// The current noise of a noisy network: the factors `f(ε)` and the effective weights built
/// from them. Not part of the saved state: a network starts (and is loaded) with noise off.
#[derive(Clone, Debug, Default)]
struct Noise<T> {
    active: bool,
    eff: Vec<T>,
    factors: Vec<T>,
}

/// A Q-network: linear layers with ReLU between them and a linear output layer, plus the
/// optional dueling, noisy and distributional parts described by [`Arch`].
///
/// All parameters live in one flat buffer, layer by layer: the weight (`out × in`,
/// row-major, exactly PyTorch `nn.Linear`'s layout) then the bias (`out`); a noisy layer
/// follows them with its weight σ and bias σ; with [`Arch::layer_norm`], each hidden layer
/// then has its LayerNorm's weight γ (`out`) and bias β (`out`), so a plain LayerNorm network
/// is laid out in the order of PyTorch's `state_dict` (`0.weight`, `0.bias`, `1.weight`,
/// `1.bias`, `3.weight`, …). A dueling output layer holds the value rows (`atoms`) first,
/// then the advantage rows (`n_actions · atoms`, action-major). Optimizers, gradient clipping
/// and target-network updates work on that buffer as a whole.
///
/// A convolutional network ([`Mlp::with_conv`]) has `Conv2d` + ReLU layers in front of the
/// linear ones, and their parameters come first in the buffer, layer by layer: the weight
/// (`[filters, in_channels, k, k]`, PyTorch `nn.Conv2d`'s layout) then the bias (`filters`).
/// It reads channels-last images (`[N, H, W, C]`, as environments give them) and flattens
/// the last conv output in PyTorch's `(channel, y, x)` order, so it computes what
/// `nn.Sequential(Conv2d, ReLU, …, Flatten, Linear, ReLU, …)` computes on
/// `obs.permute(0, 3, 1, 2)`. Conv layers are never noisy; the heads apply to the linear
/// layers as in an MLP. With [`Arch::layer_norm`] each conv layer's bias is followed by its
/// LayerNorm's γ (`filters`) and β (`filters`), and the layer computes `Conv2d → LayerNorm
/// over the channels of each pixel → ReLU` (in PyTorch, `nn.LayerNorm(filters)` applied to
/// the output permuted to channels-last and back), while the linear layers keep theirs.
///
/// `sizes` are `[n_inputs, hidden..., n_actions]` whatever the head (for a convolutional
/// network `n_inputs` there is the flattened conv output's length); [`Mlp::forward`] returns
/// `n_actions · atoms` values per row (Q-values, or C51 atom logits per action), and the
/// single-observation methods ([`Mlp::predict_one`], [`Mlp::argmax_action`]) work on
/// Q-values (the expectation over the atoms for C51, the mean of the quantiles for a
/// quantile head, whose forward rows are `n_quantiles × n_actions`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "MlpData<T>", bound = "")]
pub struct Mlp<T: Scalar> {
    sizes: Vec<usize>,
    arch: Arch,
    params: Vec<T>,
    /// The conv layers in front of the MLP and the image shape they read; `None` for an MLP.
    /// Always serialised: checkpoints are postcard, which cannot skip a field.
    #[serde(default)]
    conv: Option<ConvTorso>,
    #[serde(skip)]
    layout: Layout,
    #[serde(skip)]
    support: Vec<T>,
    #[serde(skip)]
    noise: Noise<T>,
}

/// The serialised form of [`Mlp`], validated on the way in.
#[derive(Deserialize)]
struct MlpData<T> {
    sizes: Vec<usize>,
    #[serde(default)]
    arch: Arch,
    params: Vec<T>,
    #[serde(default)]
    conv: Option<ConvTorso>,
}

/// Internal layer widths: the input and hidden widths, then the output layer's raw width.
fn widths(sizes: &[usize], arch: &Arch) -> Option<Vec<usize>> {
    let (&n_actions, rest) = sizes.split_last()?;
    let mut w = rest.to_vec();
    w.push(arch.raw_width(n_actions));
    Some(w)
}

impl<T: Scalar> TryFrom<MlpData<T>> for Mlp<T> {
    type Error = String;

    fn try_from(mut data: MlpData<T>) -> Result<Self, String> {
        data.arch.validate()?;
        data.arch = data.arch.canonical();
        let (conv, conv_params) = match &data.conv {
            None => (Vec::new(), 0),
            Some(torso) => {
                let (geoms, n) = conv::conv_layout(torso, data.arch.layer_norm)?;
                let features = geoms.last().expect("conv layers").output.size();
                if data.sizes.first() != Some(&features) {
                    return Err(format!(
                        "the conv layers give {features} features, but the first linear layer takes {:?}",
                        data.sizes.first()
                    ));
                }
                (geoms, n)
            }
        };
        let mut layout = widths(&data.sizes, &data.arch)
            .and_then(|w| {
                layout(
                    &w,
                    data.arch.noisy,
                    data.arch.dueling.then_some(data.arch.atoms),
                    data.arch.layer_norm,
                    conv_params,
                )
            })
            .ok_or_else(|| format!("invalid layer sizes {:?}", data.sizes))?;
        layout.conv = conv;
        if data.params.len() != layout.n_params {
            return Err(format!(
                "layer sizes {:?} need {} parameters, got {}",
                data.sizes,
                layout.n_params,
                data.params.len()
            ));
        }
        Ok(Self {
            noise: Noise {
                active: false,
                eff: vec![T::ZERO; layout.n_eff],
                factors: vec![T::ZERO; layout.n_factors],
            },
            support: if data.arch.atoms > 1 {
                data.arch.support()
            } else {
                Vec::new()
            },
            sizes: data.sizes,
            arch: data.arch,
            params: data.params,
            conv: data.conv,
            layout,
        })
    }
}

impl<T: Scalar> Mlp<T> {
    /// A plain MLP with widths `sizes = [n_inputs, hidden..., n_outputs]`, initialised like
    /// PyTorch's `nn.Linear`: every weight and bias of a layer with fan-in `n` is drawn from
    /// U(−1/√n, 1/√n) (PyTorch's `kaiming_uniform_(a=√5)` for weights), layer by layer,
    /// weights before biases, row-major.
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries or contains a zero.
    pub fn new(sizes: &[usize], rng: &mut impl Rng) -> Self {
        Self::with_arch(sizes, Arch::default(), 0.5, rng)
    }

    /// A network with widths `sizes = [n_inputs, hidden..., n_actions]` and head `arch`.
    /// Linear layers are initialised as in [`Mlp::new`]; noisy layers as in Fortunato et
    /// al.'s factorised scheme: μ (weight, then bias) from U(−1/√n, 1/√n) and every σ set to
    /// `sigma0/√n`, for fan-in `n`. A dueling output layer draws its value rows then its
    /// advantage rows, as one layer. LayerNorm weights are set to 1 and biases to 0, drawing
    /// nothing, so a network draws the same numbers with LayerNorm on or off.
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries or contains a zero, or `arch` is invalid.
    pub fn with_arch(sizes: &[usize], arch: Arch, sigma0: f64, rng: &mut impl Rng) -> Self {
        let mut mlp = Self::zeros_with_arch(sizes, arch);
        mlp.init_linear(sigma0, rng);
        mlp
    }

    /// Draws the linear layers' parameters as [`with_arch`](Self::with_arch) describes.
    fn init_linear(&mut self, sigma0: f64, rng: &mut impl Rng) {
        for layer in &self.layout.layers {
            let bound = 1.0 / (layer.n_in as f64).sqrt();
            for p in &mut self.params[layer.weight..layer.bias + layer.n_out] {
                *p = T::from_f64(rng.random_range(-bound..bound));
            }
            if let Some((w, b)) = layer.sigma_ranges() {
                let sigma = T::from_f64(sigma0 / (layer.n_in as f64).sqrt());
                self.params[w.start..b.end].fill(sigma);
            }
            if let Some((gamma, _)) = layer.ln_ranges() {
                // β stays at the zero `zeros_with_arch` gave it.
                self.params[gamma].fill(T::ONE);
            }
        }
    }

    /// A convolutional Q-network: the conv layers `conv` (each `Conv2d` then ReLU) read
    /// channels-last images of shape `input`, their last output is flattened in PyTorch's
    /// `(channel, y, x)` order and feeds linear layers of widths `hidden` and an output layer
    /// for `n_actions` actions with head `arch`, exactly as [`with_arch`](Self::with_arch)
    /// builds them on `[features, hidden..., n_actions]`. MinAtar's network is
    /// `with_conv(ImageShape { height: 10, width: 10, channels: c }, &[ConvLayer { filters:
    /// 16, kernel: 3, stride: 1, padding: 0 }], &[128], n_actions, Arch::default(), 0.5, rng)`.
    ///
    /// Initialised as PyTorch's `nn.Conv2d` then `nn.Linear`: conv layer by conv layer, the
    /// weight (`[filters, in, k, k]` row-major) then the bias from U(−1/√n, 1/√n) with fan-in
    /// `n = in · k · k`; then the linear layers draw as in [`with_arch`](Self::with_arch).
    /// The conv layers' LayerNorms (with [`Arch::layer_norm`]) get weights 1 and biases 0 and
    /// draw nothing, so the network draws the same numbers with LayerNorm on or off.
    ///
    /// # Panics
    /// If the description is invalid; [`try_with_conv`](Self::try_with_conv) returns the
    /// message instead (see [`conv_output_shapes`](crate::conv_output_shapes)).
    pub fn with_conv(
        input: ImageShape,
        conv: &[ConvLayer],
        hidden: &[usize],
        n_actions: usize,
        arch: Arch,
        sigma0: f64,
        rng: &mut impl Rng,
    ) -> Self {
        Self::try_with_conv(input, conv, hidden, n_actions, arch, sigma0, rng)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`with_conv`](Self::with_conv), returning a one-line message if the description is
    /// invalid: no conv layers, a layer that would shrink the image below 1×1 (named, counted
    /// from 1), a zero width, or an invalid `arch`. Draws nothing then.
    pub fn try_with_conv(
        input: ImageShape,
        conv: &[ConvLayer],
        hidden: &[usize],
        n_actions: usize,
        arch: Arch,
        sigma0: f64,
        rng: &mut impl Rng,
    ) -> Result<Self, String> {
        let mut mlp = Self::try_zeros_with_conv(input, conv, hidden, n_actions, arch)?;
        for g in &mlp.layout.conv {
            let bound = 1.0 / (g.patch() as f64).sqrt();
            for p in &mut mlp.params[g.weight..g.bias + g.spec.filters] {
                *p = T::from_f64(rng.random_range(-bound..bound));
            }
            if let Some((gamma, _)) = g.ln_ranges() {
                // β stays at the zero `try_zeros_with_conv` gave it.
                mlp.params[gamma].fill(T::ONE);
            }
        }
        mlp.init_linear(sigma0, rng);
        Ok(mlp)
    }

    /// A convolutional network as [`with_conv`](Self::with_conv) describes, with every
    /// parameter zero (LayerNorm weights included, the conv layers' as the linear layers'),
    /// or the message saying why the description is invalid.
    pub fn try_zeros_with_conv(
        input: ImageShape,
        conv: &[ConvLayer],
        hidden: &[usize],
        n_actions: usize,
        arch: Arch,
    ) -> Result<Self, String> {
        arch.validate()?;
        let torso = ConvTorso {
            input,
            layers: conv.to_vec(),
        };
        let (geoms, n_conv) = conv::conv_layout(&torso, arch.layer_norm)?;
        let features = geoms.last().expect("conv layers").output.size();
        let mut sizes = Vec::with_capacity(hidden.len() + 2);
        sizes.push(features);
        sizes.extend_from_slice(hidden);
        sizes.push(n_actions);
        let n_params = widths(&sizes, &arch)
            .and_then(|w| {
                layout(
                    &w,
                    arch.noisy,
                    arch.dueling.then_some(arch.atoms),
                    arch.layer_norm,
                    n_conv,
                )
            })
            .map(|l| l.n_params)
            .ok_or_else(|| {
                format!(
                    "hidden widths {hidden:?} and {n_actions} actions: every width must be non-zero"
                )
            })?;
        Self::from_parts_conv(sizes, arch, Some(torso), vec![T::ZERO; n_params])
    }

    /// A plain MLP with widths `sizes` and every parameter zero (for loading weights into).
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries or contains a zero.
    pub fn zeros(sizes: &[usize]) -> Self {
        Self::zeros_with_arch(sizes, Arch::default())
    }

    /// A network with widths `sizes`, head `arch` and every parameter zero (LayerNorm weights
    /// included).
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries or contains a zero, or `arch` is invalid.
    pub fn zeros_with_arch(sizes: &[usize], arch: Arch) -> Self {
        let n = widths(sizes, &arch)
            .and_then(|w| {
                layout(
                    &w,
                    arch.noisy,
                    arch.dueling.then_some(arch.atoms),
                    arch.layer_norm,
                    0,
                )
            })
            .map(|l| l.n_params)
            .unwrap_or_else(|| panic!("a network needs ≥ 2 non-zero layer sizes, got {sizes:?}"));
        Self::from_parts(sizes.to_vec(), arch, vec![T::ZERO; n]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Builds a network from widths, head and a flat parameter buffer in this crate's layout.
    pub(crate) fn from_parts(
        sizes: Vec<usize>,
        arch: Arch,
        params: Vec<T>,
    ) -> Result<Self, String> {
        Self::from_parts_conv(sizes, arch, None, params)
    }

    /// As [`from_parts`](Self::from_parts), with conv layers in front (their parameters
    /// first in `params`).
    pub(crate) fn from_parts_conv(
        sizes: Vec<usize>,
        arch: Arch,
        conv: Option<ConvTorso>,
        params: Vec<T>,
    ) -> Result<Self, String> {
        Self::try_from(MlpData {
            sizes,
            arch,
            params,
            conv,
        })
    }

    /// The same network with its `n_actions · n_quantiles` scalar outputs read as a quantile
    /// head of `n_quantiles` (the parameters stay as they are: the layouts coincide).
    pub(crate) fn with_quantiles(self, n_quantiles: usize) -> Result<Self, String> {
        let outputs = self.n_outputs();
        if self.arch.outputs_per_action() != 1
            || self.arch.dueling
            || n_quantiles == 0
            || !outputs.is_multiple_of(n_quantiles)
        {
            return Err(format!(
                "{n_quantiles} quantiles do not fit a network with {outputs} scalar outputs"
            ));
        }
        let mut sizes = self.sizes;
        *sizes.last_mut().expect("layers") = outputs / n_quantiles;
        let arch = Arch {
            quantiles: n_quantiles,
            ..self.arch
        };
        Self::from_parts_conv(sizes, arch, self.conv, self.params)
    }

    pub(crate) fn conv_geoms(&self) -> &[ConvGeom] {
        &self.layout.conv
    }

    /// The shape of the images a convolutional network reads (`None` for an MLP, which
    /// reads flat vectors of [`n_inputs`](Self::n_inputs) values).
    pub fn input_shape(&self) -> Option<ImageShape> {
        self.conv.as_ref().map(|c| c.input)
    }

    /// The conv layers in front of the linear ones, first to last (empty for an MLP).
    pub fn conv_layers(&self) -> &[ConvLayer] {
        self.conv.as_ref().map_or(&[], |c| &c.layers[..])
    }

    pub(crate) fn layers(&self) -> &[Layer] {
        &self.layout.layers
    }

    /// The linear layer widths `[n_inputs, hidden..., n_actions]` (for a convolutional
    /// network the first is the flattened conv output's length, not the observation's).
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The head: dueling, noisy, atoms.
    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// The C51 atoms (empty for scalar Q-values).
    pub fn support(&self) -> &[T] {
        &self.support
    }

    /// Length of one input row (observation size; `height · width · channels` for a
    /// convolutional network).
    pub fn n_inputs(&self) -> usize {
        match &self.conv {
            None => self.sizes[0],
            Some(c) => c.input.size(),
        }
    }

    /// Number of Q-values per observation (actions, for a Q-network).
    pub fn n_outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// Length of one row of [`forward`](Self::forward)'s output: `n_outputs · atoms` (or
    /// `n_outputs · quantiles`).
    pub fn output_width(&self) -> usize {
        self.n_outputs() * self.arch.outputs_per_action()
    }

    /// Total number of parameters (weights, biases, the σ of noisy layers, LayerNorm
    /// weights and biases, and the conv layers' weights, biases and LayerNorms).
    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// The flat parameter buffer (see the type's docs for the layout).
    pub fn params(&self) -> &[T] {
        &self.params
    }

    /// The flat parameter buffer, for optimizers and target-network updates. Noise drawn
    /// before a change is not rebuilt: draw it again (or remove it) before the next pass.
    pub fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }

    /// Hard target-network sync: copies `other`'s parameters into `self`.
    ///
    /// # Panics
    /// If the two networks have different sizes or heads.
    pub fn copy_params_from(&mut self, other: &Self) {
        assert!(
            self.sizes == other.sizes && self.arch == other.arch && self.conv == other.conv,
            "copying between different networks"
        );
        self.params.copy_from_slice(&other.params);
    }

    /// Draws fresh factorised noise for every noisy layer from `rng` and builds the effective
    /// weights the following passes use. Per layer, in order: `n_in` standard normals for the
    /// input factors (twice for a dueling output layer: value stream, then advantage stream),
    /// then `n_out` for the output factors, each passed through `f(x) = sgn(x)·√|x|`. Does
    /// nothing (and draws nothing) for a network without noisy layers. Allocation-free.
    pub fn sample_noise(&mut self, rng: &mut impl Rng) {
        if !self.arch.noisy {
            return;
        }
        for v in &mut self.noise.factors {
            let x: f64 = StandardNormal.sample(rng);
            *v = T::from_f64(x.signum() * x.abs().sqrt());
        }
        let Noise { eff, factors, .. } = &mut self.noise;
        for layer in &self.layout.layers {
            let Some(n) = layer.noisy else { continue };
            let (n_in, n_out) = (layer.n_in, layer.n_out);
            let (eff_w, eff_b) =
                eff[n.eff..n.eff + n_in * n_out + n_out].split_at_mut(n_in * n_out);
            for i in 0..n_out {
                let group = usize::from(i >= n.split);
                let eps_in = &factors[n.eps_in + group * n_in..][..n_in];
                let scale = factors[n.eps_out + i];
                let row = i * n_in..(i + 1) * n_in;
                kernels::noisy_row(
                    &self.params[layer.weight..][row.clone()],
                    &self.params[n.weight_sigma..][row.clone()],
                    scale,
                    eps_in,
                    &mut eff_w[row],
                );
                eff_b[i] = self.params[layer.bias + i] + self.params[n.bias_sigma + i] * scale;
            }
        }
        self.noise.active = true;
    }

    /// Switches the noise off: the following passes use the mean weights μ (greedy
    /// evaluation of a noisy network).
    pub fn remove_noise(&mut self) {
        self.noise.active = false;
    }

    /// Whether the passes currently use noisy effective weights.
    pub fn noise_active(&self) -> bool {
        self.noise.active
    }

    /// The noise factors `f(ε)` in use, in the order [`sample_noise`](Self::sample_noise)
    /// draws them (per noisy layer: the input factors of each group, then the output
    /// factors); `None` with noise off.
    pub fn noise_factors(&self) -> Option<&[T]> {
        self.noise.active.then_some(&self.noise.factors[..])
    }

    /// The weight and bias a pass uses: the effective ones of a noisy layer with noise on,
    /// else the (mean) parameters.
    #[inline]
    fn weights(&self, layer: &Layer) -> (&[T], &[T]) {
        match layer.noisy {
            Some(n) if self.noise.active => {
                let size = layer.n_in * layer.n_out;
                let (w, b) = self.noise.eff[n.eff..n.eff + size + layer.n_out].split_at(size);
                (w, b)
            }
            _ => (
                &self.params[layer.weight_range()],
                &self.params[layer.bias_range()],
            ),
        }
    }

    /// Batched forward pass. `input` is `batch × n_inputs`, row-major (for a convolutional
    /// network, `batch` channels-last images `[batch, height, width, channels]`); returns the
    /// `batch × output_width` row-major outputs (Q-values, or per action `atoms` logits).
    /// The activations stay in `ws` for [`backward`](Self::backward).
    ///
    /// # Panics
    /// If `ws` was made for another network shape, `batch` exceeds its `max_batch`, or
    /// `input.len() != batch * n_inputs`.
    pub fn forward<'w>(&self, input: &[T], batch: usize, ws: &'w mut Workspace<T>) -> &'w [T] {
        ws.check(self);
        assert!(
            batch <= ws.max_batch,
            "batch {batch} exceeds the workspace's max_batch {}",
            ws.max_batch
        );
        assert_eq!(input.len(), batch * self.n_inputs(), "input length");
        ws.batch = Some(batch);
        if self.layout.conv.is_empty() {
            ws.acts[..input.len()].copy_from_slice(input);
        } else {
            self.conv_forward(input, batch, ws);
        }
        let layers = &self.layout.layers;
        let n_layers = layers.len();
        for (l, layer) in layers.iter().enumerate() {
            if layer.ln.is_some() {
                self.forward_layer_norm(l, layer, batch, ws);
                continue;
            }
            let (before, after) = ws.acts.split_at_mut(ws.act_offsets[l + 1]);
            let x = &before[ws.act_offsets[l]..ws.act_offsets[l] + batch * layer.n_in];
            let z = &mut after[..batch * layer.n_out];
            let (w, bias) = self.weights(layer);
            let relu = l + 1 < n_layers;
            if layer.n_out < dense::NARROW {
                dense::dense_rows(w, bias, layer.n_in, x, z, relu);
            } else {
                let w = MatRef::row_major(w, layer.n_out, layer.n_in);
                kernels::matmul(MatRef::row_major(x, batch, layer.n_in), w.t(), z);
                kernels::bias_activation(z, bias, relu);
            }
        }
        let raw = ws.act_offsets[n_layers];
        let width = self.output_width();
        if self.arch.dueling {
            let out = ws.act_offsets[n_layers + 1];
            let (before, after) = ws.acts.split_at_mut(out);
            let raw_width = layers[n_layers - 1].n_out;
            dueling_combine(
                &before[raw..raw + batch * raw_width],
                self.arch.atoms,
                &mut after[..batch * width],
            );
            &ws.acts[out..out + batch * width]
        } else {
            &ws.acts[raw..raw + batch * width]
        }
    }

    /// The conv layers of [`forward`](Self::forward): each one's im2col matrix, its
    /// channels-last output and its LayerNorm cache stay in `ws.conv` for the backward pass,
    /// and the last output, flattened `(channel, y, x)`, becomes the MLP's input.
    #[inline(never)]
    fn conv_forward(&self, input: &[T], batch: usize, ws: &mut Workspace<T>) {
        let cb = &mut ws.conv;
        for (l, g) in self.layout.conv.iter().enumerate() {
            let (before, after) = cb.acts.split_at_mut(cb.act_offsets[l]);
            let x = if l == 0 {
                input
            } else {
                &before[cb.act_offsets[l - 1]..][..batch * g.input.size()]
            };
            let (rows, patch, filters) = (batch * g.output.pixels(), g.patch(), g.spec.filters);
            // A layer with LayerNorm leaves its conv output (before ReLU) in the LayerNorm
            // cache, where it is normalised in place, and its activations come from there.
            let relu = g.ln.is_none();
            let out = if relu {
                &mut after[..rows * filters]
            } else {
                &mut cb.ln_xhat[cb.act_offsets[l]..][..rows * filters]
            };
            if conv::is_direct::<T>(g) {
                // The backward pass builds the im2col matrix from the input; keep the
                // observation for it (the other layers' inputs are in `acts`).
                if l == 0 {
                    cb.input[..input.len()].copy_from_slice(input);
                }
                conv::permute_weight_t(&self.params[g.weight_range()], g, &mut cb.weights_t);
                let b = &self.params[g.bias_range()];
                conv::conv_direct(x, g, batch, &cb.weights_t, b, out, relu);
            } else {
                let cols = &mut cb.cols[cb.col_offsets[l]..][..rows * patch];
                conv::im2col(x, g, batch, cols);
                let w = &mut cb.weights[g.weight_range()];
                conv::permute_weight(&self.params[g.weight_range()], g, w);
                let w = MatRef::row_major(w, filters, patch);
                kernels::matmul(MatRef::row_major(cols, rows, patch), w.t(), out);
                kernels::bias_activation(out, &self.params[g.bias_range()], relu);
            }
            if let Some((gamma, beta)) = g.ln_ranges() {
                // One row per output pixel: its channels, contiguous in this layout.
                layer_norm::layer_norm_forward(
                    &mut cb.ln_xhat[cb.act_offsets[l]..][..rows * filters],
                    &self.params[gamma],
                    &self.params[beta],
                    self.arch.layer_norm_eps,
                    &mut cb.ln_rstd[cb.ln_rstd_offsets[l]..][..rows],
                    &mut after[..rows * filters],
                );
            }
        }
        let last = self.layout.conv.last().expect("conv layers");
        let (pixels, filters) = (last.output.pixels(), last.spec.filters);
        let out =
            &cb.acts[cb.act_offsets[self.layout.conv.len() - 1]..][..batch * pixels * filters];
        conv::hwc_to_chw(out, pixels, filters, batch, &mut ws.acts);
    }

    /// The conv layers of [`backward`](Self::backward): `d_features` is d loss / d the
    /// flattened conv output (`batch × features`, `(channel, y, x)` order).
    #[inline(never)]
    fn conv_backward(
        &self,
        d_features: &[T],
        batch: usize,
        cb: &mut ConvBuffers<T>,
        grads: &mut [T],
    ) {
        let convs = &self.layout.conv;
        let last = convs.last().expect("conv layers");
        let ConvBuffers {
            cols,
            col_offsets,
            acts,
            act_offsets,
            grad_a,
            grad_b,
            dcols,
            weights,
            weights_t,
            weight_grad,
            input,
            ln_xhat,
            ln_rstd,
            ln_rstd_offsets,
            ..
        } = cb;
        let (mut g_buf, mut dx_buf) = (&mut grad_a[..], &mut grad_b[..]);
        conv::chw_to_hwc(
            d_features,
            last.output.pixels(),
            last.spec.filters,
            batch,
            g_buf,
        );
        for (l, c) in convs.iter().enumerate().rev() {
            let (rows, patch, filters) = (batch * c.output.pixels(), c.patch(), c.spec.filters);
            let g = &mut g_buf[..rows * filters];
            // Through the ReLU; the column sums are the bias gradient (one column per filter).
            let act = &acts[act_offsets[l]..][..rows * filters];
            match c.ln_ranges() {
                None => kernels::relu_backward(g, act, &mut grads[c.bias_range()]),
                Some((gamma, beta)) => {
                    // Through the ReLU (β's gradient is the column sums there), the
                    // LayerNorm of each pixel (γ's gradient), then the conv bias's sums.
                    kernels::relu_backward(g, act, &mut grads[beta]);
                    layer_norm::layer_norm_backward(
                        g,
                        &ln_xhat[act_offsets[l]..][..rows * filters],
                        &ln_rstd[ln_rstd_offsets[l]..][..rows],
                        &self.params[gamma.clone()],
                        &mut grads[gamma],
                    );
                    kernels::column_sums(g, &mut grads[c.bias_range()]);
                }
            }
            let g_rows: &[T] = g;
            let g = MatRef::row_major(g_rows, rows, filters);
            if conv::is_direct::<T>(c) {
                // Read the patches in place, as the forward pass did.
                let x = if l == 0 {
                    &input[..]
                } else {
                    &acts[act_offsets[l - 1]..][..batch * c.input.size()]
                };
                conv::conv_weight_grad_direct(x, c, batch, g_rows, weights_t);
                conv::unpermute_weight_t(weights_t, c, &mut grads[c.weight_range()]);
            } else {
                let x = MatRef::row_major(&cols[col_offsets[l]..], rows, patch);
                let weight_grad = &mut weight_grad[..filters * patch];
                kernels::matmul(g.t(), x, weight_grad);
                conv::unpermute_weight(weight_grad, c, &mut grads[c.weight_range()]);
            }
            if l > 0 {
                // The first layer's input is the observation: no gradient needed.
                let dcols = &mut dcols[..rows * patch];
                // The current weights, as the linear layers' input gradients use.
                let w = &mut weights[c.weight_range()];
                conv::permute_weight(&self.params[c.weight_range()], c, w);
                let w = MatRef::row_major(w, filters, patch);
                kernels::matmul(g, w, dcols);
                conv::col2im(dcols, c, batch, dx_buf);
                std::mem::swap(&mut g_buf, &mut dx_buf);
            }
        }
    }

    /// One hidden layer `l` of [`forward`](Self::forward) with its LayerNorm: the linear
    /// output goes to the LayerNorm cache and is normalised there in place, and the
    /// activations get ReLU(LayerNorm(·)). Out of line, so that the loop of a network without
    /// LayerNorm compiles as it did before LayerNorm existed.
    #[inline(never)]
    fn forward_layer_norm(&self, l: usize, layer: &Layer, batch: usize, ws: &mut Workspace<T>) {
        let (gamma, beta) = layer.ln_ranges().expect("a LayerNorm layer");
        let (before, after) = ws.acts.split_at_mut(ws.act_offsets[l + 1]);
        let x = &before[ws.act_offsets[l]..ws.act_offsets[l] + batch * layer.n_in];
        let z = &mut after[..batch * layer.n_out];
        let (w, bias) = self.weights(layer);
        let off = ws.act_offsets[l + 1] - ws.act_offsets[1];
        let xhat = &mut ws.ln_xhat[off..off + batch * layer.n_out];
        if layer.n_out < dense::NARROW {
            dense::dense_rows(w, bias, layer.n_in, x, xhat, false);
        } else {
            let w = MatRef::row_major(w, layer.n_out, layer.n_in);
            kernels::matmul(MatRef::row_major(x, batch, layer.n_in), w.t(), xhat);
            kernels::bias_activation(xhat, bias, false);
        }
        layer_norm::layer_norm_forward(
            xhat,
            &self.params[gamma],
            &self.params[beta],
            self.arch.layer_norm_eps,
            &mut ws.ln_rstd[l * ws.max_batch..][..batch],
            z,
        );
    }

    /// Backward pass for the batch of the last [`forward`](Self::forward) on `ws`:
    /// given `grad_output` = d loss / d output (`batch × output_width`), OVERWRITES `grads`
    /// (same length and layout as the parameters) with d loss / d parameters, σ included.
    ///
    /// # Panics
    /// If `ws` was made for another network shape or has seen no forward pass, or a length
    /// does not match.
    pub fn backward(&self, ws: &mut Workspace<T>, grad_output: &[T], grads: &mut [T]) {
        self.backward_to_input(ws, grad_output, grads, None);
    }

    /// As [`backward`](Self::backward), and with `grad_input` also d loss / d input
    /// (`batch × n_inputs`), for a network that reads another's output (an MLP only: a
    /// convolutional network's input is an observation).
    ///
    /// # Panics
    /// As [`backward`](Self::backward), or if `grad_input` does not fit the batch or the
    /// network is convolutional.
    pub fn backward_to_input(
        &self,
        ws: &mut Workspace<T>,
        grad_output: &[T],
        grads: &mut [T],
        mut grad_input: Option<&mut [T]>,
    ) {
        ws.check(self);
        let batch = ws
            .batch
            .expect("backward needs a forward pass on the same workspace first");
        assert_eq!(
            grad_output.len(),
            batch * self.output_width(),
            "grad_output length"
        );
        assert_eq!(grads.len(), self.n_params(), "grads length");
        let layers = &self.layout.layers;
        let last = layers.len() - 1;
        let grad_raw: &[T] = if self.arch.dueling {
            let raw = &mut ws.grad_head[..batch * layers[last].n_out];
            dueling_backward(grad_output, self.arch.atoms, raw);
            raw
        } else {
            grad_output
        };
        kernels::column_sums(grad_raw, &mut grads[layers[last].bias_range()]);
        for (l, layer) in layers.iter().enumerate().rev() {
            // The gradient w.r.t. this layer's pre-activation alternates between the two
            // buffers; the one it is read from receives the next layer down's gradient.
            let (g, dx): (&[T], &mut [T]) = if l == last {
                (grad_raw, &mut ws.grad_a)
            } else if (last - l) % 2 == 1 {
                (&ws.grad_a, &mut ws.grad_b)
            } else {
                (&ws.grad_b, &mut ws.grad_a)
            };
            let g = MatRef::row_major(g, batch, layer.n_out);
            let x = &ws.acts[ws.act_offsets[l]..ws.act_offsets[l] + batch * layer.n_in];
            kernels::matmul(
                g.t(),
                MatRef::row_major(x, batch, layer.n_in),
                &mut grads[layer.weight_range()],
            );
            if l > 0 {
                let w = MatRef::row_major(self.weights(layer).0, layer.n_out, layer.n_in);
                let dx = &mut dx[..batch * layer.n_in];
                kernels::matmul(g, w, dx);
                let below = &layers[l - 1];
                match below.ln_ranges() {
                    None => kernels::relu_backward(dx, x, &mut grads[below.bias_range()]),
                    Some((gamma, beta)) => {
                        // Through the ReLU (β's gradient is the column sums there), the
                        // LayerNorm (γ's gradient), then the linear bias's column sums.
                        kernels::relu_backward(dx, x, &mut grads[beta]);
                        let off = ws.act_offsets[l] - ws.act_offsets[1];
                        layer_norm::layer_norm_backward(
                            dx,
                            &ws.ln_xhat[off..off + batch * below.n_out],
                            &ws.ln_rstd[(l - 1) * ws.max_batch..][..batch],
                            &self.params[gamma.clone()],
                            &mut grads[gamma],
                        );
                        kernels::column_sums(dx, &mut grads[below.bias_range()]);
                    }
                }
            } else if !self.layout.conv.is_empty() {
                // The gradient w.r.t. the flattened conv output, for the conv layers.
                let w = MatRef::row_major(self.weights(layer).0, layer.n_out, layer.n_in);
                kernels::matmul(g, w, &mut dx[..batch * layer.n_in]);
            } else if let Some(grad_input) = grad_input.as_deref_mut() {
                assert_eq!(grad_input.len(), batch * layer.n_in, "grad_input length");
                let w = MatRef::row_major(self.weights(layer).0, layer.n_out, layer.n_in);
                kernels::matmul(g, w, grad_input);
            }
        }
        assert!(
            grad_input.is_none() || self.layout.conv.is_empty(),
            "a convolutional network has no input gradient"
        );
        if !self.layout.conv.is_empty() {
            // Layer 0 wrote its input gradient where the alternation above put it.
            let d_features = if last.is_multiple_of(2) {
                &ws.grad_a
            } else {
                &ws.grad_b
            };
            let n = batch * self.sizes[0];
            self.conv_backward(&d_features[..n], batch, &mut ws.conv, grads);
        }
        if self.arch.noisy {
            self.sigma_gradients(grads);
        }
    }

    /// d loss / d σ from d loss / d μ: the effective weight is `μ + σ·ε`, so the σ gradient is
    /// the μ gradient times the noise (zero with noise off).
    fn sigma_gradients(&self, grads: &mut [T]) {
        for layer in &self.layout.layers {
            let Some(n) = layer.noisy else { continue };
            let (n_in, n_out) = (layer.n_in, layer.n_out);
            let (mu, sigma) = grads[layer.weight..n.bias_sigma + n_out]
                .split_at_mut(n.weight_sigma - layer.weight);
            if !self.noise.active {
                sigma.fill(T::ZERO);
                continue;
            }
            let f = &self.noise.factors;
            for i in 0..n_out {
                let group = usize::from(i >= n.split);
                let eps_in = &f[n.eps_in + group * n_in..][..n_in];
                let scale = f[n.eps_out + i];
                let row = i * n_in..(i + 1) * n_in;
                kernels::noise_scaled_row(&mu[row.clone()], scale, eps_in, &mut sigma[row]);
            }
            let bias_mu = &mu[n_in * n_out..n_in * n_out + n_out];
            let bias_sigma = &mut sigma[n_in * n_out..n_in * n_out + n_out];
            for ((s, &g), &e) in bias_sigma
                .iter_mut()
                .zip(bias_mu)
                .zip(&f[n.eps_out..n.eps_out + n_out])
            {
                *s = g * e;
            }
        }
    }

    /// Q-values for one observation into `out` (length `n_outputs`): the outputs of a scalar
    /// head, the expectation over the atoms of a distributional one. Uses dot-product
    /// kernels instead of the batched path, so the result may differ from
    /// [`forward`](Self::forward) in the last bits; it does not touch the activations kept
    /// for [`backward`](Self::backward). Uses the current noise of a noisy network.
    /// Allocation-free.
    ///
    /// # Panics
    /// If `scratch` was made for another network shape or a length does not match.
    pub fn predict_one(&self, obs: &[T], scratch: &mut Workspace<T>, out: &mut [T]) {
        out.copy_from_slice(self.forward_one(obs, scratch));
    }

    /// Greedy action for one observation: the index of the largest Q-value (the first on
    /// ties). Allocation-free.
    ///
    /// # Panics
    /// As [`predict_one`](Self::predict_one).
    pub fn argmax_action(&self, obs: &[T], scratch: &mut Workspace<T>) -> usize {
        argmax(self.forward_one(obs, scratch))
    }

    fn forward_one<'w>(&self, obs: &[T], ws: &'w mut Workspace<T>) -> &'w [T] {
        ws.check(self);
        assert_eq!(obs.len(), self.n_inputs(), "observation length");
        let layers = &self.layout.layers;
        let last = layers.len() - 1;
        let Workspace {
            single_a,
            single_b,
            single_q,
            conv: cb,
            ..
        } = ws;
        let input = if self.layout.conv.is_empty() {
            obs
        } else {
            self.conv_forward_one(obs, cb)
        };
        let (mut src, mut dst) = (&mut single_a[..], &mut single_b[..]);
        for (l, layer) in layers.iter().enumerate() {
            let x = if l == 0 { input } else { &src[..layer.n_in] };
            let (w, bias) = self.weights(layer);
            let z = &mut dst[..layer.n_out];
            match layer.ln_ranges() {
                None => dense::dense_rows(w, bias, layer.n_in, x, z, l < last),
                Some((gamma, beta)) => {
                    dense::dense_rows(w, bias, layer.n_in, x, z, false);
                    layer_norm::layer_norm_relu_in_place(
                        z,
                        &self.params[gamma],
                        &self.params[beta],
                        self.arch.layer_norm_eps,
                    );
                }
            }
            std::mem::swap(&mut src, &mut dst);
        }
        let width = self.output_width();
        if self.arch.dueling {
            dueling_combine(
                &src[..layers[last].n_out],
                self.arch.atoms,
                &mut dst[..width],
            );
            std::mem::swap(&mut src, &mut dst);
        }
        if self.arch.outputs_per_action() == 1 {
            return &src[..width];
        }
        let q = &mut single_q[..self.n_outputs()];
        if self.arch.quantiles > 1 {
            crate::quantile::mean_over_quantiles(
                &src[..width],
                self.arch.quantiles,
                self.n_outputs(),
                q,
            );
            return q;
        }
        for (q, logits) in q.iter_mut().zip(src[..width].chunks_exact(self.arch.atoms)) {
            *q = crate::distributional::expected_value(logits, &self.support);
        }
        q
    }
}

impl<T: Scalar> Mlp<T> {
    /// The conv layers on one observation, by dot products (no matrix product, which would
    /// allocate its packing buffer); returns the flattened features.
    fn conv_forward_one<'w>(&self, obs: &[T], cb: &'w mut ConvBuffers<T>) -> &'w [T] {
        let ConvBuffers {
            single_cols,
            single_a,
            single_b,
            single_features,
            weights,
            ..
        } = cb;
        let (mut src, mut dst) = (&mut single_a[..], &mut single_b[..]);
        for (l, g) in self.layout.conv.iter().enumerate() {
            let x = if l == 0 { obs } else { &src[..g.input.size()] };
            let (pixels, patch, filters) = (g.output.pixels(), g.patch(), g.spec.filters);
            let cols = &mut single_cols[..pixels * patch];
            conv::im2col(x, g, 1, cols);
            let w = &mut weights[g.weight_range()];
            conv::permute_weight(&self.params[g.weight_range()], g, w);
            let z = &mut dst[..pixels * filters];
            dense::dense_rows(
                w,
                &self.params[g.bias_range()],
                patch,
                cols,
                z,
                g.ln.is_none(),
            );
            if let Some((gamma, beta)) = g.ln_ranges() {
                // The batched pass's LayerNorm arithmetic, one pixel (row) at a time.
                layer_norm::layer_norm_relu_in_place(
                    z,
                    &self.params[gamma],
                    &self.params[beta],
                    self.arch.layer_norm_eps,
                );
            }
            std::mem::swap(&mut src, &mut dst);
        }
        let last = self.layout.conv.last().expect("conv layers");
        let (pixels, filters) = (last.output.pixels(), last.spec.filters);
        let features = &mut single_features[..pixels * filters];
        conv::hwc_to_chw(&src[..pixels * filters], pixels, filters, 1, features);
        features
    }
}

/// The dueling aggregation of rows `[V (atoms) | A (n_actions · atoms)]` into
/// `out[a, z] = (V[z] + A[a, z]) − mean_a A[a, z]` (PyTorch's `v + a - a.mean(1, keepdim=True)`).
pub(crate) fn dueling_combine<T: Scalar>(raw: &[T], atoms: usize, out: &mut [T]) {
    let n_rows = count_rows(raw.len(), out.len(), atoms);
    if n_rows > 0 {
        dueling_combine_kernel(raw, atoms, out, n_rows);
    }
}

/// Atoms per block of the dueling loops (the per-atom means of one block live on the stack).
const DUELING_BLOCK: usize = 64;

kernels::simd_dispatch! {
    /// [`dueling_combine`] on `n_rows` rows: per block of atoms, the sums over actions, then
    /// every action's row, all along contiguous atoms.
    fn dueling_combine_kernel<T: Scalar>(raw: &[T], atoms: usize, out: &mut [T], n_rows: usize) {
        let raw_w = raw.len() / n_rows;
        let out_w = out.len() / n_rows;
        let n_actions = out_w / atoms;
        let count = T::from_f64(n_actions as f64);
        for (r, o) in raw.chunks_exact(raw_w).zip(out.chunks_exact_mut(out_w)) {
            let (v, adv) = r.split_at(atoms);
            for start in (0..atoms).step_by(DUELING_BLOCK) {
                let len = DUELING_BLOCK.min(atoms - start);
                let mut mean = [T::ZERO; DUELING_BLOCK];
                let mean = &mut mean[..len];
                for a in 0..n_actions {
                    let row = &adv[a * atoms + start..][..len];
                    for (m, &x) in mean.iter_mut().zip(row) {
                        *m = *m + x;
                    }
                }
                for m in mean.iter_mut() {
                    *m = *m / count;
                }
                let v = &v[start..start + len];
                for a in 0..n_actions {
                    let row = &adv[a * atoms + start..][..len];
                    let dst = &mut o[a * atoms + start..][..len];
                    for (((d, &x), &vz), &m) in dst.iter_mut().zip(row).zip(v).zip(mean.iter()) {
                        *d = (vz + x) - m;
                    }
                }
            }
        }
    }

    /// [`dueling_backward`] on `n_rows` rows.
    fn dueling_backward_kernel<T: Scalar>(g: &[T], atoms: usize, raw: &mut [T], n_rows: usize) {
        let out_w = g.len() / n_rows;
        let n_actions = out_w / atoms;
        let count = T::from_f64(n_actions as f64);
        for (gr, r) in g.chunks_exact(out_w).zip(raw.chunks_exact_mut(out_w + atoms)) {
            let (v, adv) = r.split_at_mut(atoms);
            v.fill(T::ZERO);
            for a in 0..n_actions {
                for (s, &x) in v.iter_mut().zip(&gr[a * atoms..(a + 1) * atoms]) {
                    *s = *s + x;
                }
            }
            for a in 0..n_actions {
                let src = &gr[a * atoms..(a + 1) * atoms];
                let dst = &mut adv[a * atoms..(a + 1) * atoms];
                for ((d, &x), &s) in dst.iter_mut().zip(src).zip(v.iter()) {
                    *d = x - s / count;
                }
            }
        }
    }
}

/// Rows of a dueling combine: the raw rows are `out_w + atoms` wide where out rows are `out_w`.
fn count_rows(raw_len: usize, out_len: usize, atoms: usize) -> usize {
    // raw_len = rows · (out_w + atoms), out_len = rows · out_w  ⇒  rows = (raw_len − out_len) / atoms.
    (raw_len - out_len) / atoms
}

/// The gradient of [`dueling_combine`]: d/dV[z] = Σ_a g[a, z], d/dA[a, z] = g[a, z] − Σ_a' g[a', z] / n_actions.
pub(crate) fn dueling_backward<T: Scalar>(g: &[T], atoms: usize, raw: &mut [T]) {
    let n_rows = count_rows(raw.len(), g.len(), atoms);
    if n_rows > 0 {
        dueling_backward_kernel(g, atoms, raw, n_rows);
    }
}

/// Preallocated buffers for one network shape: the activations of a batch of up to
/// `max_batch` rows (kept between [`Mlp::forward`] and [`Mlp::backward`]), the
/// back-propagated gradients, and separate scratch for single-observation inference.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    sizes: Vec<usize>,
    arch: Arch,
    conv_torso: Option<ConvTorso>,
    /// The conv layers' buffers (empty for an MLP).
    conv: ConvBuffers<T>,
    max_batch: usize,
    /// Rows of the last forward pass, `None` before the first.
    batch: Option<usize>,
    /// Input copy, then each layer's output (then the dueling output), each region
    /// `max_batch × width`.
    acts: Vec<T>,
    act_offsets: Vec<usize>,
    grad_a: Vec<T>,
    grad_b: Vec<T>,
    /// Gradient w.r.t. a dueling output layer's raw output.
    grad_head: Vec<T>,
    /// LayerNorm cache of the last forward pass: each hidden layer's normalised output `ẑ`,
    /// laid out like that layer's activations in `acts` (offset `act_offsets[l + 1] −
    /// act_offsets[1]`), and its `1/√(σ² + ε)` per row (`max_batch` per hidden layer).
    /// Empty without LayerNorm.
    ln_xhat: Vec<T>,
    ln_rstd: Vec<T>,
    single_a: Vec<T>,
    single_b: Vec<T>,
    single_q: Vec<T>,
}

/// The conv layers' part of a [`Workspace`]. Batched buffers hold up to `max_batch` images.
#[derive(Clone, Debug, Default)]
struct ConvBuffers<T> {
    /// Each padded layer's im2col matrix (`batch · pixels × patch`) at `col_offsets[l]`,
    /// made by the forward pass for the weight gradient (a direct layer has none).
    cols: Vec<T>,
    col_offsets: Vec<usize>,
    /// Each layer's channels-last output (after ReLU) at `act_offsets[l]`.
    acts: Vec<T>,
    act_offsets: Vec<usize>,
    /// Gradients w.r.t. conv outputs, alternating between layers (the largest output each).
    grad_a: Vec<T>,
    grad_b: Vec<T>,
    /// The im2col-shaped input gradient of a layer after the first.
    dcols: Vec<T>,
    /// The conv weights permuted to the im2col column order (at their offsets in the
    /// parameters), and one layer's weight gradient in that order.
    weights: Vec<T>,
    /// One direct layer's weight as [`conv::conv_direct`] reads it, or its weight gradient
    /// in that layout.
    weights_t: Vec<T>,
    /// The observations of the last forward pass, when the first layer is direct.
    input: Vec<T>,
    weight_grad: Vec<T>,
    /// LayerNorm cache of the last forward pass (empty without LayerNorm): each layer's
    /// normalised conv output `ẑ`, laid out like its activations (at `act_offsets[l]`), and
    /// `1/√(σ² + ε)` per output pixel at `ln_rstd_offsets[l]`.
    ln_xhat: Vec<T>,
    ln_rstd: Vec<T>,
    ln_rstd_offsets: Vec<usize>,
    /// Single-observation scratch: one image's im2col matrix, layer outputs, features.
    single_cols: Vec<T>,
    single_a: Vec<T>,
    single_b: Vec<T>,
    single_features: Vec<T>,
}

impl<T: Scalar> ConvBuffers<T> {
    fn new(convs: &[ConvGeom], max_batch: usize) -> Self {
        let mut out = Self::default();
        let (mut cols, mut acts, mut rstd) = (0, 0, 0);
        let (mut max_out, mut max_cols, mut max_dcols) = (0, 0, 0);
        for (l, g) in convs.iter().enumerate() {
            let (pixel_cols, outputs) = (g.output.pixels() * g.patch(), g.output.size());
            out.col_offsets.push(cols);
            out.act_offsets.push(acts);
            out.ln_rstd_offsets.push(rstd);
            if g.ln.is_some() {
                rstd += max_batch * g.output.pixels();
            }
            // A direct layer never builds its im2col matrix.
            if !conv::is_direct::<T>(g) {
                cols += max_batch * pixel_cols;
            }
            acts += max_batch * outputs;
            max_out = max_out.max(outputs);
            max_cols = max_cols.max(pixel_cols);
            if l > 0 {
                max_dcols = max_dcols.max(pixel_cols);
            }
        }
        let features = convs.last().map_or(0, |g| g.output.size());
        let n_weights = convs.last().map_or(0, |g| g.bias);
        let max_weight = convs.iter().map(|g| g.bias - g.weight).max().unwrap_or(0);
        out.weights = vec![T::ZERO; n_weights];
        let max_t = convs
            .iter()
            .filter(|g| conv::is_direct::<T>(g))
            .map(|g| g.patch() * conv::padded_filters(g.spec.filters))
            .max()
            .unwrap_or(0);
        out.weights_t = vec![T::ZERO; max_t];
        if convs.first().is_some_and(conv::is_direct::<T>) {
            out.input = vec![T::ZERO; max_batch * convs[0].input.size()];
        }
        out.weight_grad = vec![T::ZERO; max_weight];
        out.cols = vec![T::ZERO; cols];
        out.acts = vec![T::ZERO; acts];
        if convs.iter().any(|g| g.ln.is_some()) {
            out.ln_xhat = vec![T::ZERO; acts];
        }
        out.ln_rstd = vec![T::ZERO; rstd];
        out.grad_a = vec![T::ZERO; max_batch * max_out];
        out.grad_b = vec![T::ZERO; max_batch * max_out];
        out.dcols = vec![T::ZERO; max_batch * max_dcols];
        out.single_cols = vec![T::ZERO; max_cols];
        out.single_a = vec![T::ZERO; max_out];
        out.single_b = vec![T::ZERO; max_out];
        out.single_features = vec![T::ZERO; features];
        out
    }
}

impl<T: Scalar> Workspace<T> {
    /// Buffers for running `mlp` (or any network of the same sizes and head) on batches of up
    /// to `max_batch` rows.
    pub fn new(mlp: &Mlp<T>, max_batch: usize) -> Self {
        let sizes = mlp.sizes().to_vec();
        let arch = *mlp.arch();
        let mut widths = widths(&sizes, &arch).expect("a valid network");
        // `widths` now lists the input and every layer's output; a dueling head adds its
        // combined output.
        let raw_width = *widths.last().expect("layers");
        if arch.dueling {
            widths.push(mlp.output_width());
        }
        let mut act_offsets = Vec::with_capacity(widths.len() + 1);
        let mut total = 0;
        for &width in &widths {
            act_offsets.push(total);
            total += max_batch * width;
        }
        act_offsets.push(total);
        let mut hidden_max = sizes[1..sizes.len() - 1].iter().copied().max().unwrap_or(0);
        if !mlp.layout.conv.is_empty() {
            // The first linear layer's input gradient feeds the conv layers.
            hidden_max = hidden_max.max(sizes[0]);
        }
        let width_max = widths.iter().copied().max().unwrap_or(0);
        let n_hidden = sizes.len() - 2;
        let (ln_xhat, ln_rstd) = if arch.layer_norm {
            (
                act_offsets[n_hidden + 1] - act_offsets[1],
                max_batch * n_hidden,
            )
        } else {
            (0, 0)
        };
        Self {
            sizes,
            arch,
            conv_torso: mlp.conv.clone(),
            conv: ConvBuffers::new(&mlp.layout.conv, max_batch),
            max_batch,
            batch: None,
            acts: vec![T::ZERO; total],
            act_offsets,
            grad_a: vec![T::ZERO; max_batch * hidden_max],
            grad_b: vec![T::ZERO; max_batch * hidden_max],
            ln_xhat: vec![T::ZERO; ln_xhat],
            ln_rstd: vec![T::ZERO; ln_rstd],
            grad_head: vec![
                T::ZERO;
                if arch.dueling {
                    max_batch * raw_width
                } else {
                    0
                }
            ],
            single_a: vec![T::ZERO; width_max],
            single_b: vec![T::ZERO; width_max],
            single_q: vec![
                T::ZERO;
                if arch.outputs_per_action() > 1 {
                    mlp.n_outputs()
                } else {
                    0
                }
            ],
        }
    }

    /// The largest batch this workspace can hold.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn check(&self, mlp: &Mlp<T>) {
        assert!(
            self.sizes == mlp.sizes && self.arch == mlp.arch && self.conv_torso == mlp.conv,
            "workspace made for a network of different sizes"
        );
    }
}
