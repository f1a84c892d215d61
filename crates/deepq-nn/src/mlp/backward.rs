//! The batched backward pass: parameter gradients (and, for an MLP, input gradients).

use super::{Mlp, Workspace, dueling_backward};
use crate::activation;
use crate::kernels::{self, MatRef};
use crate::layer_norm;
use crate::scalar::Scalar;

impl<T: Scalar> Mlp<T> {
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
        let precision = self.arch.precision;
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
            kernels::matmul_in(
                precision,
                g.t(),
                MatRef::row_major(x, batch, layer.n_in),
                &mut grads[layer.weight_range()],
            );
            if l > 0 {
                let w = MatRef::row_major(self.weights(layer).0, layer.n_out, layer.n_in);
                let dx = &mut dx[..batch * layer.n_in];
                kernels::matmul_in(precision, g, w, dx);
                let below = &layers[l - 1];
                match below.ln_ranges() {
                    None if self.arch.activation.is_relu() => {
                        kernels::relu_backward(dx, x, &mut grads[below.bias_range()]);
                    }
                    None => {
                        let off = ws.act_offsets[l] - ws.act_offsets[1];
                        activation::activation_backward(
                            self.arch.activation,
                            dx,
                            &ws.pre_acts[off..off + batch * below.n_out],
                            x,
                            &mut grads[below.bias_range()],
                        );
                    }
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
                kernels::matmul_in(precision, g, w, &mut dx[..batch * layer.n_in]);
            } else if let Some(grad_input) = grad_input.as_deref_mut() {
                assert_eq!(grad_input.len(), batch * layer.n_in, "grad_input length");
                let w = MatRef::row_major(self.weights(layer).0, layer.n_out, layer.n_in);
                kernels::matmul_in(precision, g, w, grad_input);
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
}
