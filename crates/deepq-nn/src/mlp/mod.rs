//! The Q-network: a torso (optional `Conv2d` layers, then linear layers with ReLU between
//! them, each optionally followed by LayerNorm before its ReLU) and an output head (scalar
//! Q-values, dueling, noisy, C51 atom logits or QR-DQN quantiles), described by [`Arch`].
//!
//! One module per part: [`arch`] the description, [`layout`](mod@layout) where every parameter sits in
//! the flat buffer, [`noise`] the noisy layers' factorised noise, [`conv_torso`] the conv
//! layers' passes, [`forward`] and [`backward`] the batched passes (and single-observation
//! inference), [`dueling`] the dueling head's aggregation, [`workspace`] the preallocated
//! buffers. This module holds the network itself: construction, initialisation, access.

mod arch;
mod backward;
mod conv_torso;
mod dueling;
mod forward;
mod layout;
mod noise;
mod workspace;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::bf16::Precision;
use crate::conv::{self, ConvGeom, ConvLayer, ConvTorso, ImageShape};
use crate::scalar::Scalar;

pub use arch::Arch;
pub(crate) use dueling::{dueling_backward, dueling_combine};
pub(crate) use layout::Layer;
use layout::{Layout, layout, widths};
use noise::Noise;
pub use workspace::Workspace;

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

impl<T: Scalar> TryFrom<MlpData<T>> for Mlp<T> {
    type Error = String;

    fn try_from(mut data: MlpData<T>) -> Result<Self, String> {
        data.arch.validate()?;
        data.arch = data.arch.canonical();
        if data.arch.precision == Precision::Bf16 && !crate::kernels::is_f32::<T>() {
            return Err("precision bf16 needs an f32 network (dtype f32)".into());
        }
        let (conv, conv_params) = match &data.conv {
            None => (Vec::new(), 0),
            Some(_) if !data.arch.activation.is_relu() => {
                return Err(format!(
                    "activation {} needs a network without conv layers (conv networks use ReLU)",
                    data.arch.activation
                ));
            }
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
        let torso = ConvTorso {
            input,
            layers: conv.to_vec(),
        };
        if hidden.contains(&0) || n_actions == 0 {
            return Err(format!(
                "hidden widths {hidden:?} and {n_actions} actions: every width must be non-zero"
            ));
        }
        // The first linear width is the conv output's, which `try_zeros` checks.
        let features = conv::conv_layout(&torso, arch.layer_norm)
            .map(|(geoms, _)| geoms.last().expect("conv layers").output.size())?;
        let mut sizes = Vec::with_capacity(hidden.len() + 2);
        sizes.push(features);
        sizes.extend_from_slice(hidden);
        sizes.push(n_actions);
        Self::try_zeros(sizes, arch, Some(torso))
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
        if sizes.len() < 2 || sizes.contains(&0) {
            panic!("a network needs ≥ 2 non-zero layer sizes, got {sizes:?}");
        }
        Self::try_zeros(sizes.to_vec(), arch, None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A network of linear widths `sizes`, head `arch` and conv layers `conv` in front (their
    /// output's length must be `sizes[0]`), every parameter zero; or the message saying why
    /// the description is invalid.
    pub(crate) fn try_zeros(
        sizes: Vec<usize>,
        arch: Arch,
        conv: Option<ConvTorso>,
    ) -> Result<Self, String> {
        arch.validate()?;
        let n_conv = match &conv {
            None => 0,
            Some(torso) => conv::conv_layout(torso, arch.layer_norm)?.1,
        };
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
            .ok_or_else(|| format!("invalid layer sizes {sizes:?}"))?;
        Self::from_parts_conv(sizes, arch, conv, vec![T::ZERO; n_params])
    }

    /// Builds a network from widths, head, conv layers in front (their parameters first in
    /// `params`) and a flat parameter buffer in this crate's layout.
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
}
