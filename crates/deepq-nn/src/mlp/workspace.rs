//! Preallocated buffers for a network's passes.

use super::{Arch, Mlp, widths};
use crate::bf16::Precision;
use crate::conv::{self, ConvGeom, ConvTorso};
use crate::scalar::Scalar;

/// Preallocated buffers for one network shape: the activations of a batch of up to
/// `max_batch` rows (kept between [`Mlp::forward`] and [`Mlp::backward`]), the
/// back-propagated gradients, and separate scratch for single-observation inference.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    pub(super) sizes: Vec<usize>,
    pub(super) arch: Arch,
    pub(super) conv_torso: Option<ConvTorso>,
    /// The conv layers' buffers (empty for an MLP).
    pub(super) conv: ConvBuffers<T>,
    pub(super) max_batch: usize,
    /// Rows of the last forward pass, `None` before the first.
    pub(super) batch: Option<usize>,
    /// Input copy, then each layer's output (then the dueling output), each region
    /// `max_batch × width`.
    pub(super) acts: Vec<T>,
    pub(super) act_offsets: Vec<usize>,
    pub(super) grad_a: Vec<T>,
    pub(super) grad_b: Vec<T>,
    /// Gradient w.r.t. a dueling output layer's raw output.
    pub(super) grad_head: Vec<T>,
    /// LayerNorm cache of the last forward pass: each hidden layer's normalised output `ẑ`,
    /// laid out like that layer's activations in `acts` (offset `act_offsets[l + 1] −
    /// act_offsets[1]`), and its `1/√(σ² + ε)` per row (`max_batch` per hidden layer).
    /// Empty without LayerNorm.
    pub(super) ln_xhat: Vec<T>,
    pub(super) ln_rstd: Vec<T>,
    /// Each hidden layer's pre-activations from the last forward pass, laid out as
    /// `ln_xhat`, for an activation other than ReLU (whose gradient needs only the output);
    /// empty with ReLU.
    pub(super) pre_acts: Vec<T>,
    /// Acting's scratch (the `single_*` buffers here and in `conv`), sized for this many
    /// observations at once; grown by [`Workspace::reserve_rows`].
    pub(super) single_rows: usize,
    pub(super) single_a: Vec<T>,
    pub(super) single_b: Vec<T>,
    pub(super) single_q: Vec<T>,
}

/// The conv layers' part of a [`Workspace`]. Batched buffers hold up to `max_batch` images.
#[derive(Clone, Debug, Default)]
pub(super) struct ConvBuffers<T> {
    /// Each padded layer's im2col matrix (`batch · pixels × patch`) at `col_offsets[l]`,
    /// made by the forward pass for the weight gradient (a direct layer has none).
    pub(super) cols: Vec<T>,
    pub(super) col_offsets: Vec<usize>,
    /// The im2col matrix of each layer that keeps it as bf16 pairs ([`conv::keeps_pairs`]),
    /// `batch · pixels × patch / 2` lanes at `pair_offsets[l]`, instead of in `cols`; and the
    /// scratch for building them: one patch row, and a layer's input as pairs (see
    /// [`conv::im2col_pairs`]).
    pub(super) pairs: Vec<u32>,
    pub(super) pair_offsets: Vec<usize>,
    pub(super) patch_row: Vec<T>,
    pub(super) input_pairs: Vec<u32>,
    /// Each layer's channels-last output (after ReLU) at `act_offsets[l]`.
    pub(super) acts: Vec<T>,
    pub(super) act_offsets: Vec<usize>,
    /// Gradients w.r.t. conv outputs, alternating between layers (the largest output each).
    pub(super) grad_a: Vec<T>,
    pub(super) grad_b: Vec<T>,
    /// The im2col-shaped input gradient of a layer after the first.
    pub(super) dcols: Vec<T>,
    /// The conv weights permuted to the im2col column order (at their offsets in the
    /// parameters), and one layer's weight gradient in that order.
    pub(super) weights: Vec<T>,
    /// One direct layer's weight as [`conv::conv_direct`] reads it, or its weight gradient
    /// in that layout.
    pub(super) weights_t: Vec<T>,
    /// The observations of the last forward pass, when the first layer is direct.
    pub(super) input: Vec<T>,
    pub(super) weight_grad: Vec<T>,
    /// LayerNorm cache of the last forward pass (empty without LayerNorm): each layer's
    /// normalised conv output `ẑ`, laid out like its activations (at `act_offsets[l]`), and
    /// `1/√(σ² + ε)` per output pixel at `ln_rstd_offsets[l]`.
    pub(super) ln_xhat: Vec<T>,
    pub(super) ln_rstd: Vec<T>,
    pub(super) ln_rstd_offsets: Vec<usize>,
    /// Acting's scratch, per observation (times the workspace's `single_rows`): one
    /// image's im2col matrix, layer outputs, features.
    pub(super) single_cols: Vec<T>,
    pub(super) single_a: Vec<T>,
    pub(super) single_b: Vec<T>,
    pub(super) single_features: Vec<T>,
}

impl<T: Scalar> ConvBuffers<T> {
    fn new(convs: &[ConvGeom], precision: Precision, max_batch: usize) -> Self {
        let mut out = Self::default();
        let (mut cols, mut acts, mut rstd, mut pairs) = (0, 0, 0, 0);
        let (mut max_out, mut max_cols, mut max_dcols) = (0, 0, 0);
        for (l, g) in convs.iter().enumerate() {
            let (pixel_cols, outputs) = (g.output.pixels() * g.patch(), g.output.size());
            out.col_offsets.push(cols);
            out.pair_offsets.push(pairs);
            out.act_offsets.push(acts);
            out.ln_rstd_offsets.push(rstd);
            if g.ln.is_some() {
                rstd += max_batch * g.output.pixels();
            }
            // A direct layer never builds its im2col matrix.
            if conv::keeps_pairs(g, precision) {
                pairs += max_batch * pixel_cols / 2;
            } else if !conv::is_direct::<T>(g, precision) {
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
            .filter(|g| conv::is_direct::<T>(g, precision))
            .map(|g| g.patch() * conv::padded_filters(g.spec.filters))
            .max()
            .unwrap_or(0);
        out.weights_t = vec![T::ZERO; max_t];
        if convs
            .first()
            .is_some_and(|g| conv::is_direct::<T>(g, precision))
        {
            out.input = vec![T::ZERO; max_batch * convs[0].input.size()];
        }
        out.weight_grad = vec![T::ZERO; max_weight];
        out.cols = vec![T::ZERO; cols];
        out.pairs = vec![0; pairs];
        if pairs > 0 {
            out.patch_row = vec![T::ZERO; convs.iter().map(ConvGeom::patch).max().unwrap_or(0)];
            let largest_input = convs
                .iter()
                .filter(|g| conv::keeps_pairs(g, precision))
                .map(|g| g.input.size())
                .max()
                .unwrap_or(0);
            out.input_pairs = vec![0; max_batch * largest_input / 2];
        }
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
        let pre_acts = if arch.activation.is_relu() {
            0
        } else {
            act_offsets[n_hidden + 1] - act_offsets[1]
        };
        Self {
            sizes,
            arch,
            conv_torso: mlp.conv.clone(),
            conv: ConvBuffers::new(&mlp.layout.conv, mlp.arch.precision, max_batch),
            max_batch,
            batch: None,
            acts: vec![T::ZERO; total],
            act_offsets,
            grad_a: vec![T::ZERO; max_batch * hidden_max],
            grad_b: vec![T::ZERO; max_batch * hidden_max],
            ln_xhat: vec![T::ZERO; ln_xhat],
            ln_rstd: vec![T::ZERO; ln_rstd],
            pre_acts: vec![T::ZERO; pre_acts],
            grad_head: vec![
                T::ZERO;
                if arch.dueling {
                    max_batch * raw_width
                } else {
                    0
                }
            ],
            single_rows: 1,
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

    /// Grows acting's scratch to hold `rows` observations at once (it allocates only when
    /// `rows` exceeds every earlier call's).
    pub(super) fn reserve_rows(&mut self, rows: usize) {
        if rows <= self.single_rows {
            return;
        }
        let old = self.single_rows;
        let c = &mut self.conv;
        for buffer in [
            &mut self.single_a,
            &mut self.single_b,
            &mut self.single_q,
            &mut c.single_cols,
            &mut c.single_a,
            &mut c.single_b,
            &mut c.single_features,
        ] {
            buffer.resize(buffer.len() / old * rows, T::ZERO);
        }
        self.single_rows = rows;
    }

    /// The largest batch this workspace can hold.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    pub(super) fn check(&self, mlp: &Mlp<T>) {
        assert!(
            self.sizes == mlp.sizes && self.arch == mlp.arch && self.conv_torso == mlp.conv,
            "workspace made for a network of different sizes"
        );
    }
}
