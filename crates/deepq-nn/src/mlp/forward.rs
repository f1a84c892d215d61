//! The forward passes: batched (activations kept for the backward pass) and single
//! observation (acting).

use super::{Layer, Mlp, Workspace, dueling_combine};
use crate::activation;
use crate::bf16::Precision;
use crate::dense;
use crate::kernels::{self, MatRef};
use crate::layer_norm;
use crate::qvalues::argmax;
use crate::scalar::Scalar;

impl<T: Scalar> Mlp<T> {
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
            let hidden = l + 1 < n_layers;
            let relu = self.arch.activation.is_relu();
            linear_batch(
                self.arch.precision,
                layer,
                w,
                bias,
                batch,
                x,
                z,
                hidden && relu,
            );
            if hidden && !relu {
                let off = ws.act_offsets[l + 1] - ws.act_offsets[1];
                activation::activate_keeping_input(
                    self.arch.activation,
                    z,
                    &mut ws.pre_acts[off..off + batch * layer.n_out],
                );
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
        linear_batch(self.arch.precision, layer, w, bias, batch, x, xhat, false);
        layer_norm::layer_norm_forward(
            xhat,
            &self.params[gamma],
            &self.params[beta],
            self.arch.layer_norm_eps,
            &mut ws.ln_rstd[l * ws.max_batch..][..batch],
            z,
        );
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

    /// Q-values of several observations, `obs` holding them row after row, into `out`
    /// (`rows × n_outputs`): each row the bits [`predict_one`](Self::predict_one) gives it
    /// (every row is summed in the same order), in one pass of the network. Allocates only
    /// to grow `scratch` for more rows than before.
    ///
    /// # Panics
    /// If `scratch` was made for another network shape, or the lengths do not hold the same
    /// number of rows.
    pub fn predict_rows(&self, obs: &[T], scratch: &mut Workspace<T>, out: &mut [T]) {
        assert!(
            out.len().is_multiple_of(self.n_outputs()),
            "output length is not whole rows"
        );
        out.copy_from_slice(self.forward_rows(obs, out.len() / self.n_outputs(), scratch));
    }

    /// Greedy actions of several observations, `obs` holding them row after row: each the
    /// action [`argmax_action`](Self::argmax_action) gives its row, from one pass as
    /// [`predict_rows`](Self::predict_rows).
    ///
    /// # Panics
    /// If `scratch` was made for another network shape, or `obs.len()` is not
    /// `actions.len()` observations.
    pub fn argmax_actions(&self, obs: &[T], scratch: &mut Workspace<T>, actions: &mut [usize]) {
        let q = self.forward_rows(obs, actions.len(), scratch);
        for (action, row) in actions.iter_mut().zip(q.chunks_exact(self.n_outputs())) {
            *action = argmax(row);
        }
    }

    fn forward_one<'w>(&self, obs: &[T], ws: &'w mut Workspace<T>) -> &'w [T] {
        self.forward_rows(obs, 1, ws)
    }

    /// Q-values of `rows` observations (`rows × n_outputs`) through the dot-product
    /// kernels, row by row in each layer.
    fn forward_rows<'w>(&self, obs: &[T], rows: usize, ws: &'w mut Workspace<T>) -> &'w [T] {
        ws.check(self);
        assert_eq!(obs.len(), rows * self.n_inputs(), "observation length");
        ws.reserve_rows(rows);
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
            self.conv_forward_rows(obs, rows, cb)
        };
        let precision = self.arch.precision;
        let (mut src, mut dst) = (&mut single_a[..], &mut single_b[..]);
        for (l, layer) in layers.iter().enumerate() {
            let x = if l == 0 {
                input
            } else {
                &src[..rows * layer.n_in]
            };
            let (w, bias) = self.weights(layer);
            let z = &mut dst[..rows * layer.n_out];
            match layer.ln_ranges() {
                None if l < last && !self.arch.activation.is_relu() => {
                    dense::dense_rows_in(precision, w, bias, layer.n_in, x, z, false);
                    activation::activate_in_place(self.arch.activation, z);
                }
                None => dense::dense_rows_in(precision, w, bias, layer.n_in, x, z, l < last),
                Some((gamma, beta)) => {
                    dense::dense_rows_in(precision, w, bias, layer.n_in, x, z, false);
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
                &src[..rows * layers[last].n_out],
                self.arch.atoms,
                &mut dst[..rows * width],
            );
            std::mem::swap(&mut src, &mut dst);
        }
        if self.arch.outputs_per_action() == 1 {
            return &src[..rows * width];
        }
        let q = &mut single_q[..rows * self.n_outputs()];
        if self.arch.quantiles > 1 {
            crate::quantile::mean_over_quantiles(
                &src[..rows * width],
                self.arch.quantiles,
                self.n_outputs(),
                q,
            );
            return q;
        }
        for (q, logits) in q
            .iter_mut()
            .zip(src[..rows * width].chunks_exact(self.arch.atoms))
        {
            *q = crate::distributional::expected_value(logits, &self.support);
        }
        q
    }
}

/// One linear layer on a batch, `z = x·wᵀ + bias` (then ReLU with `relu`) in `precision`:
/// narrow `f32` layers by row kernels, the others by one matrix product.
#[allow(clippy::too_many_arguments)]
#[inline]
fn linear_batch<T: Scalar>(
    precision: Precision,
    layer: &Layer,
    w: &[T],
    bias: &[T],
    batch: usize,
    x: &[T],
    z: &mut [T],
    relu: bool,
) {
    if layer.n_out < dense::NARROW && precision == Precision::F32 {
        dense::dense_rows(w, bias, layer.n_in, x, z, relu);
    } else {
        let w = MatRef::row_major(w, layer.n_out, layer.n_in);
        kernels::matmul_in(precision, MatRef::row_major(x, batch, layer.n_in), w.t(), z);
        kernels::bias_activation(z, bias, relu);
    }
}
