//! The multi-layer perceptron: parameters, initialisation, batched forward and backward
//! passes, and single-observation inference.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::dense;
use crate::kernels::{self, MatRef};
use crate::qvalues::argmax;
use crate::scalar::Scalar;

/// Where one linear layer's parameters sit in the flat buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layer {
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
    /// Offset of the `n_out × n_in` row-major weight.
    pub(crate) weight: usize,
    /// Offset of the `n_out` bias, right after the weight.
    pub(crate) bias: usize,
}

impl Layer {
    pub(crate) fn weight_range(&self) -> std::ops::Range<usize> {
        self.weight..self.bias
    }

    pub(crate) fn bias_range(&self) -> std::ops::Range<usize> {
        self.bias..self.bias + self.n_out
    }
}

/// Lays out the layers of a network with widths `sizes`; `None` if there are fewer than two
/// widths, a width is zero, or the parameter count overflows.
pub(crate) fn layout(sizes: &[usize]) -> Option<(Vec<Layer>, usize)> {
    if sizes.len() < 2 || sizes.contains(&0) {
        return None;
    }
    let mut layers = Vec::with_capacity(sizes.len() - 1);
    let mut offset = 0usize;
    for pair in sizes.windows(2) {
        let (n_in, n_out) = (pair[0], pair[1]);
        let bias = offset.checked_add(n_in.checked_mul(n_out)?)?;
        layers.push(Layer {
            n_in,
            n_out,
            weight: offset,
            bias,
        });
        offset = bias.checked_add(n_out)?;
    }
    Some((layers, offset))
}

/// A fully connected network: linear layers with ReLU between them and a linear output.
///
/// All parameters live in one flat buffer, layer by layer: the weight (`out × in`,
/// row-major, exactly PyTorch `nn.Linear`'s layout) then the bias (`out`). Optimizers,
/// gradient clipping and target-network updates work on that buffer as a whole.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "MlpData<T>", bound = "")]
pub struct Mlp<T: Scalar> {
    sizes: Vec<usize>,
    params: Vec<T>,
    #[serde(skip)]
    layers: Vec<Layer>,
}

/// The serialised form of [`Mlp`], validated on the way in.
#[derive(Deserialize)]
struct MlpData<T> {
    sizes: Vec<usize>,
    params: Vec<T>,
}

impl<T: Scalar> TryFrom<MlpData<T>> for Mlp<T> {
    type Error = String;

    fn try_from(data: MlpData<T>) -> Result<Self, String> {
        let (layers, n_params) =
            layout(&data.sizes).ok_or_else(|| format!("invalid layer sizes {:?}", data.sizes))?;
        if data.params.len() != n_params {
            return Err(format!(
                "layer sizes {:?} need {n_params} parameters, got {}",
                data.sizes,
                data.params.len()
            ));
        }
        Ok(Self {
            sizes: data.sizes,
            params: data.params,
            layers,
        })
    }
}

impl<T: Scalar> Mlp<T> {
    /// A network with widths `sizes = [n_inputs, hidden..., n_outputs]`, initialised like
    /// PyTorch's `nn.Linear`: every weight and bias of a layer with fan-in `n` is drawn from
    /// U(−1/√n, 1/√n) (PyTorch's `kaiming_uniform_(a=√5)` for weights), layer by layer,
    /// weights before biases, row-major.
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries or contains a zero.
    pub fn new(sizes: &[usize], rng: &mut impl Rng) -> Self {
        let mut mlp = Self::zeros(sizes);
        for layer in &mlp.layers {
            let bound = 1.0 / (layer.n_in as f64).sqrt();
            for p in &mut mlp.params[layer.weight..layer.bias + layer.n_out] {
                *p = T::from_f64(rng.random_range(-bound..bound));
            }
        }
        mlp
    }

    /// A network with widths `sizes` and every parameter zero (for loading weights into).
    ///
    /// # Panics
    /// If `sizes` has fewer than two entries or contains a zero.
    pub fn zeros(sizes: &[usize]) -> Self {
        let (layers, n_params) = layout(sizes)
            .unwrap_or_else(|| panic!("an MLP needs ≥ 2 non-zero layer sizes, got {sizes:?}"));
        Self {
            sizes: sizes.to_vec(),
            params: vec![T::ZERO; n_params],
            layers,
        }
    }

    /// Builds a network from widths and a flat parameter buffer in this crate's layout.
    pub(crate) fn from_parts(sizes: Vec<usize>, params: Vec<T>) -> Result<Self, String> {
        Self::try_from(MlpData { sizes, params })
    }

    pub(crate) fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The layer widths `[n_inputs, hidden..., n_outputs]`.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Length of one input row (observation size).
    pub fn n_inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Length of one output row (number of actions for a Q-network).
    pub fn n_outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// Total number of weights and biases.
    pub fn n_params(&self) -> usize {
        self.params.len()
    }

    /// The flat parameter buffer (see the type's docs for the layout).
    pub fn params(&self) -> &[T] {
        &self.params
    }

    /// The flat parameter buffer, for optimizers and target-network updates.
    pub fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }

    /// Hard target-network sync: copies `other`'s parameters into `self`.
    ///
    /// # Panics
    /// If the two networks have different sizes.
    pub fn copy_params_from(&mut self, other: &Self) {
        assert_eq!(
            self.sizes, other.sizes,
            "copying between different networks"
        );
        self.params.copy_from_slice(&other.params);
    }

    /// Batched forward pass. `input` is `batch × n_inputs`, row-major; returns the
    /// `batch × n_outputs` row-major outputs. The activations stay in `ws` for
    /// [`backward`](Self::backward).
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
        ws.acts[..input.len()].copy_from_slice(input);
        let n_layers = self.layers.len();
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = ws.acts.split_at_mut(ws.act_offsets[l + 1]);
            let x = &before[ws.act_offsets[l]..ws.act_offsets[l] + batch * layer.n_in];
            let z = &mut after[..batch * layer.n_out];
            let (w, bias) = (
                &self.params[layer.weight_range()],
                &self.params[layer.bias_range()],
            );
            let relu = l + 1 < n_layers;
            if layer.n_out < dense::NARROW {
                dense::dense_rows(w, bias, layer.n_in, x, z, relu);
            } else {
                let w = MatRef::row_major(w, layer.n_out, layer.n_in);
                kernels::matmul(MatRef::row_major(x, batch, layer.n_in), w.t(), z);
                kernels::bias_activation(z, bias, relu);
            }
        }
        let out = ws.act_offsets[n_layers];
        &ws.acts[out..out + batch * self.n_outputs()]
    }

    /// Backward pass for the batch of the last [`forward`](Self::forward) on `ws`:
    /// given `grad_output` = d loss / d output (`batch × n_outputs`), OVERWRITES `grads`
    /// (same length and layout as the parameters) with d loss / d parameters.
    ///
    /// # Panics
    /// If `ws` was made for another network shape or has seen no forward pass, or a length
    /// does not match.
    pub fn backward(&self, ws: &mut Workspace<T>, grad_output: &[T], grads: &mut [T]) {
        ws.check(self);
        let batch = ws
            .batch
            .expect("backward needs a forward pass on the same workspace first");
        assert_eq!(
            grad_output.len(),
            batch * self.n_outputs(),
            "grad_output length"
        );
        assert_eq!(grads.len(), self.n_params(), "grads length");
        let last = self.layers.len() - 1;
        kernels::column_sums(grad_output, &mut grads[self.layers[last].bias_range()]);
        for (l, layer) in self.layers.iter().enumerate().rev() {
            // The gradient w.r.t. this layer's pre-activation alternates between the two
            // buffers; the one it is read from receives the next layer down's gradient.
            let (g, dx): (&[T], &mut [T]) = if l == last {
                (grad_output, &mut ws.grad_a)
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
                let w =
                    MatRef::row_major(&self.params[layer.weight_range()], layer.n_out, layer.n_in);
                let dx = &mut dx[..batch * layer.n_in];
                kernels::matmul(g, w, dx);
                kernels::relu_backward(dx, x, &mut grads[self.layers[l - 1].bias_range()]);
            }
        }
    }

    /// Q-values for one observation into `out` (length `n_outputs`). Uses dot-product
    /// kernels instead of the batched path, so the result may differ from
    /// [`forward`](Self::forward) in the last bits; it does not touch the activations kept
    /// for [`backward`](Self::backward). Allocation-free.
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
        let last = self.layers.len() - 1;
        let Workspace {
            single_a, single_b, ..
        } = ws;
        let (mut src, mut dst) = (&mut single_a[..], &mut single_b[..]);
        for (l, layer) in self.layers.iter().enumerate() {
            let x = if l == 0 { obs } else { &src[..layer.n_in] };
            dense::dense_rows(
                &self.params[layer.weight_range()],
                &self.params[layer.bias_range()],
                layer.n_in,
                x,
                &mut dst[..layer.n_out],
                l < last,
            );
            std::mem::swap(&mut src, &mut dst);
        }
        &src[..self.n_outputs()]
    }
}

/// Preallocated buffers for one network shape: the activations of a batch of up to
/// `max_batch` rows (kept between [`Mlp::forward`] and [`Mlp::backward`]), the
/// back-propagated gradients, and separate scratch for single-observation inference.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    sizes: Vec<usize>,
    max_batch: usize,
    /// Rows of the last forward pass, `None` before the first.
    batch: Option<usize>,
    /// Input copy, then each layer's output, each region `max_batch × width`.
    acts: Vec<T>,
    act_offsets: Vec<usize>,
    grad_a: Vec<T>,
    grad_b: Vec<T>,
    single_a: Vec<T>,
    single_b: Vec<T>,
}

impl<T: Scalar> Workspace<T> {
    /// Buffers for running `mlp` (or any network of the same sizes) on batches of up to
    /// `max_batch` rows.
    pub fn new(mlp: &Mlp<T>, max_batch: usize) -> Self {
        let sizes = mlp.sizes().to_vec();
        let mut act_offsets = Vec::with_capacity(sizes.len() + 1);
        let mut total = 0;
        for &width in &sizes {
            act_offsets.push(total);
            total += max_batch * width;
        }
        act_offsets.push(total);
        let hidden_max = sizes[1..sizes.len() - 1].iter().copied().max().unwrap_or(0);
        let width_max = sizes.iter().copied().max().unwrap_or(0);
        Self {
            sizes,
            max_batch,
            batch: None,
            acts: vec![T::ZERO; total],
            act_offsets,
            grad_a: vec![T::ZERO; max_batch * hidden_max],
            grad_b: vec![T::ZERO; max_batch * hidden_max],
            single_a: vec![T::ZERO; width_max],
            single_b: vec![T::ZERO; width_max],
        }
    }

    /// The largest batch this workspace can hold.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn check(&self, mlp: &Mlp<T>) {
        assert_eq!(
            self.sizes, mlp.sizes,
            "workspace made for a network of different sizes"
        );
    }
}
