//! Neural-network core for deep Q-learning: small fully connected ReLU networks (MLPs)
//! with hand-scheduled forward and backward passes, optionally with LayerNorm after each
//! hidden layer (PQN's network), a dueling head, noisy layers (factorised Gaussian
//! NoisyLinear) and distributional C51 outputs ([`Arch`]), optionally behind `Conv2d` + ReLU
//! layers (with LayerNorm over the channels between them, as PQN's MinAtar network) that read
//! channels-last images ([`Mlp::with_conv`], for DQN from pixels and MinAtar), TD losses, C51's categorical projection and cross-entropy, target-network
//! updates, gradient clipping, PyTorch's optimizers (RAdam included), and safetensors
//! exchange with PyTorch.
//!
//! DQN trains tiny networks (e.g. 4-64-64-2) on small batches, where general frameworks
//! spend most of their time in dispatch. Here parameters and gradients are flat buffers,
//! activations live in a preallocated [`Workspace`], matrix products go to this crate's own
//! AVX-512 or AVX2 kernel where the CPU has one and the operands are small enough, else to
//! `matrixmultiply` (narrow ones to dot-product and row kernels), with the same bits either
//! way, and the elementwise loops are compiled for AVX2 and AVX-512 and chosen at run time.
//! No threads are used and every result is bit-for-bit reproducible on one machine. This
//! crate allocates nothing per update or action; `matrixmultiply`, where it is used,
//! allocates and frees one packing buffer inside each product it computes.
//!
//! One update, as a DQN agent does it:
//! ```
//! use deepq_nn::*;
//! use rand::SeedableRng;
//!
//! let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
//! let mut online = Mlp::<f32>::new(&[4, 64, 64, 2], &mut rng);
//! let mut target = online.clone();
//! let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), online.n_params());
//! let (batch, gamma) = (32, 0.99f32);
//! let mut ws = Workspace::new(&online, batch);
//! let mut target_ws = Workspace::new(&target, batch);
//! let mut grads = vec![0.0; online.n_params()];
//! let mut grad_q = vec![0.0; batch * 2];
//! let mut next_max = vec![0.0; batch];
//!
//! let (obs, next_obs) = (vec![0.1f32; batch * 4], vec![0.2f32; batch * 4]);
//! let (actions, rewards, dones) = (vec![1u32; batch], vec![1.0f32; batch], vec![0.0f32; batch]);
//!
//! max_per_row(target.forward(&next_obs, batch, &mut target_ws), 2, &mut next_max);
//! let targets: Vec<f32> = (0..batch)
//!     .map(|i| rewards[i] + gamma * (1.0 - dones[i]) * next_max[i])
//!     .collect();
//! let q = online.forward(&obs, batch, &mut ws);
//! let loss = q_loss(Loss::Huber, q, 2, &actions, &targets, None, &mut grad_q, None);
//! online.backward(&mut ws, &grad_q, &mut grads);
//! clip_grad_norm(&mut grads, 10.0);
//! opt.step(online.params_mut(), &grads);
//! polyak_update(target.params_mut(), online.params(), 0.005);
//! assert!(loss.is_finite());
//! let action = online.argmax_action(&[0.0, 0.1, 0.0, -0.1], &mut ws);
//! assert!(action < 2);
//! ```

#![warn(missing_docs)]

mod activation;
mod bf16;
mod conv;
mod dense;
mod distributional;
mod error;
mod io;
mod iqn;
mod kernels;
mod layer_norm;
mod loss;
mod mlp;
mod optim;
mod panels;
mod quantile;
mod qvalues;
mod scalar;
mod update;

pub use activation::Activation;
pub use bf16::{Bf16Kernel, KERNEL_VAR, Precision, round_to_bf16};
pub use conv::{ConvLayer, ImageShape, conv_output_shapes};
pub use distributional::{
    categorical_loss, categorical_projection, expected_q, expected_q_from_probs, expected_value,
    softmax, softmax_rows,
};
pub use error::NnError;
pub use io::{
    ACTIVATION_KEY, CONV_INPUT_SHAPE_KEY, CONV_PADDINGS_KEY, CONV_STRIDES_KEY, LAYER_NORM_EPS_KEY,
    N_QUANTILES_KEY, PRECISION_KEY, from_safetensors, from_safetensors_with_conv,
    safetensors_metadata, state_dict_names, to_safetensors, to_safetensors_with_metadata,
};
pub use iqn::{
    IQN_EMBEDDING_DIM_KEY, IQN_GREEDY_FRACTIONS, IQN_GREEDY_FRACTIONS_KEY, ImplicitQuantileNet,
    IqnWorkspace, iqn_from_safetensors, iqn_state_dict_names, iqn_to_safetensors, is_iqn_file,
};
pub use loss::{Loss, q_loss};
pub use mlp::{Arch, Mlp, Workspace};
pub use optim::{Optimizer, OptimizerConfig};
pub use quantile::{mean_over_quantiles, quantile_huber_loss, quantile_midpoints};
pub use qvalues::{
    argmax, argmax_per_row, gather, max_per_row, scaled_log_policy, soft_value, soft_value_under,
};
pub use scalar::Scalar;
pub use update::{clip_grad_norm, polyak_update};
