//! What a network computes: LayerNorm in the torso, and the head (dueling, noisy, C51,
//! quantiles).

use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::bf16::Precision;
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
    /// `f(x) = sgn(x)·√|x|`. The noise is whatever [`Mlp::sample_noise`](crate::Mlp::sample_noise) drew last, or off.
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
    /// The arithmetic of the conv and linear layers' matrix products, forward and backward
    /// (acting included): `f32`, or bf16 operands with `f32` sums. The parameters and
    /// everything else stay `f32`.
    #[serde(default)]
    pub precision: Precision,
    /// The nonlinearity after each hidden linear layer (ReLU unless set). Another than ReLU
    /// needs a network without conv layers and without LayerNorm, whose nonlinearities are
    /// ReLU as in the networks they reproduce (NatureCNN, MinAtar's, PQN's).
    #[serde(default)]
    pub activation: Activation,
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
            precision: Precision::F32,
            activation: Activation::Relu,
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
        if self.layer_norm && !self.activation.is_relu() {
            return Err(format!(
                "activation {} needs a network without LayerNorm (LayerNorm networks use ReLU)",
                self.activation
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
