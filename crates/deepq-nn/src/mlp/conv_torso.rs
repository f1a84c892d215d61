//! The conv layers' passes in front of the linear ones: batched forward and backward,
//! and one observation by dot products.

use super::Mlp;
use super::workspace::{ConvBuffers, Workspace};
use crate::bf16::{self, Operand};
use crate::conv;
use crate::dense;
use crate::kernels::{self, MatRef};
use crate::layer_norm;
use crate::scalar::Scalar;

impl<T: Scalar> Mlp<T> {
    /// The conv layers of [`forward`](Self::forward): each one's im2col matrix, its
    /// channels-last output and its LayerNorm cache stay in `ws.conv` for the backward pass,
    /// and the last output, flattened `(channel, y, x)`, becomes the MLP's input.
    #[inline(never)]
    pub(super) fn conv_forward(&self, input: &[T], batch: usize, ws: &mut Workspace<T>) {
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
            if conv::keeps_pairs(g, self.arch.precision) {
                // bf16: the im2col matrix as pairs, read in place by the product.
                let lanes = &mut cb.pairs[cb.pair_offsets[l]..][..rows * patch / 2];
                let scratch = (&mut cb.patch_row[..], &mut cb.input_pairs[..]);
                conv::im2col_pairs(x, g, batch, scratch, lanes);
                let w = &mut cb.weights[g.weight_range()];
                conv::permute_weight(&self.params[g.weight_range()], g, w);
                let w = MatRef::row_major(&w[..], filters, patch);
                let cols = Operand::Pairs {
                    data: lanes,
                    rows,
                    pairs: patch / 2,
                };
                bf16::matmul(cols, kernels::as_f32(w.t()), kernels::f32s_mut(out));
                kernels::bias_activation(out, &self.params[g.bias_range()], relu);
            } else if conv::is_direct::<T>(g, self.arch.precision) {
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
                kernels::matmul_in(
                    self.arch.precision,
                    MatRef::row_major(cols, rows, patch),
                    w.t(),
                    out,
                );
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
    pub(super) fn conv_backward(
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
            pairs,
            pair_offsets,
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
            if conv::keeps_pairs(c, self.arch.precision) {
                let x = Operand::Pairs {
                    data: &pairs[pair_offsets[l]..][..rows * patch / 2],
                    rows,
                    pairs: patch / 2,
                };
                let weight_grad = &mut weight_grad[..filters * patch];
                bf16::matmul(kernels::as_f32(g.t()), x, kernels::f32s_mut(weight_grad));
                conv::unpermute_weight(weight_grad, c, &mut grads[c.weight_range()]);
            } else if conv::is_direct::<T>(c, self.arch.precision) {
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
                kernels::matmul_in(self.arch.precision, g.t(), x, weight_grad);
                conv::unpermute_weight(weight_grad, c, &mut grads[c.weight_range()]);
            }
            if l > 0 {
                // The first layer's input is the observation: no gradient needed.
                let dcols = &mut dcols[..rows * patch];
                // The current weights, as the linear layers' input gradients use.
                let w = &mut weights[c.weight_range()];
                conv::permute_weight(&self.params[c.weight_range()], c, w);
                let w = MatRef::row_major(w, filters, patch);
                kernels::matmul_in(self.arch.precision, g, w, dcols);
                conv::col2im(dcols, c, batch, dx_buf);
                std::mem::swap(&mut g_buf, &mut dx_buf);
            }
        }
    }

    /// The conv layers on `rows` observations, by dot products (no matrix product, which
    /// would allocate its packing buffer); returns each row's flattened features.
    pub(super) fn conv_forward_rows<'w>(
        &self,
        obs: &[T],
        rows: usize,
        cb: &'w mut ConvBuffers<T>,
    ) -> &'w [T] {
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
            let x = if l == 0 {
                obs
            } else {
                &src[..rows * g.input.size()]
            };
            let (pixels, patch, filters) = (rows * g.output.pixels(), g.patch(), g.spec.filters);
            let cols = &mut single_cols[..pixels * patch];
            conv::im2col(x, g, rows, cols);
            let w = &mut weights[g.weight_range()];
            conv::permute_weight(&self.params[g.weight_range()], g, w);
            let z = &mut dst[..pixels * filters];
            dense::dense_rows_in(
                self.arch.precision,
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
        let features = &mut single_features[..rows * pixels * filters];
        conv::hwc_to_chw(
            &src[..rows * pixels * filters],
            pixels,
            filters,
            rows,
            features,
        );
        features
    }
}
