//! The nonlinearity after each hidden linear layer: PyTorch's `nn.ReLU`, `nn.Tanh`, `nn.ELU`,
//! `nn.LeakyReLU`, `nn.SiLU` and `nn.GELU` with their default arguments (ELU's α = 1,
//! LeakyReLU's slope 0.01, GELU's exact erf form), as SB3's `policy_kwargs.activation_fn`
//! passes them (a class, built without arguments).
//!
//! Each forward and backward formula is PyTorch CPU kernel's, in its order of operations, so
//! the results agree with PyTorch's to the last bits of the transcendental functions (its
//! vectorised `tanh`, `exp`, `expm1` and `erf` and libm's may differ by an ulp).
//!
//! ReLU stays fused into the linear kernels (its gradient needs only the output); the others
//! run as a separate pass over the layer's output and keep its input for the backward pass.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::kernels;
use crate::scalar::Scalar;

/// The nonlinearity after each hidden linear layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(x, 0)` (`nn.ReLU`).
    #[default]
    Relu,
    /// `tanh(x)` (`nn.Tanh`).
    Tanh,
    /// `x` for `x > 0`, else `eˣ − 1` (`nn.ELU()`, α = 1).
    Elu,
    /// `x` for `x > 0`, else `0.01·x` (`nn.LeakyReLU()`).
    LeakyRelu,
    /// `x·σ(x)` (`nn.SiLU`, also called swish).
    Silu,
    /// `x·Φ(x)`, Φ the standard normal CDF through `erf` (`nn.GELU()`, `approximate="none"`).
    Gelu,
}

/// `nn.LeakyReLU`'s default negative slope.
const LEAKY_SLOPE: f64 = 0.01;

impl Activation {
    /// Every activation, in the order the docs list them.
    pub const ALL: [Activation; 6] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::Elu,
        Activation::LeakyRelu,
        Activation::Silu,
        Activation::Gelu,
    ];

    /// The name the `activation` key takes.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Elu => "elu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Silu => "silu",
            Activation::Gelu => "gelu",
        }
    }

    /// The PyTorch module computing it (`torch.nn.<name>`).
    pub fn torch_name(self) -> &'static str {
        match self {
            Activation::Relu => "ReLU",
            Activation::Tanh => "Tanh",
            Activation::Elu => "ELU",
            Activation::LeakyRelu => "LeakyReLU",
            Activation::Silu => "SiLU",
            Activation::Gelu => "GELU",
        }
    }

    /// Whether this is the default, ReLU (networks and files from before the choice existed).
    pub fn is_relu(&self) -> bool {
        *self == Activation::Relu
    }

    /// The activation of one pre-activation `x`. NaN passes through.
    #[inline]
    pub fn apply<T: Scalar>(self, x: T) -> T {
        let one = T::ONE;
        match self {
            Activation::Relu => kernels::activation(x, true),
            Activation::Tanh => x.tanh(),
            Activation::Elu => {
                if x > T::ZERO {
                    x
                } else {
                    x.exp_m1()
                }
            }
            Activation::LeakyRelu => {
                if x > T::ZERO {
                    x
                } else {
                    x * T::from_f64(LEAKY_SLOPE)
                }
            }
            Activation::Silu => x / (one + (-x).exp()),
            Activation::Gelu => {
                x * T::from_f64(0.5)
                    * (one + (x * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf())
            }
        }
    }

    /// The gradient w.r.t. the pre-activation `x`, given the gradient `g` w.r.t. the output
    /// `y = apply(x)`.
    #[inline]
    pub fn backward<T: Scalar>(self, g: T, x: T, y: T) -> T {
        let one = T::ONE;
        match self {
            Activation::Relu => {
                if y <= T::ZERO {
                    T::ZERO
                } else {
                    g
                }
            }
            Activation::Tanh => g * (one - y * y),
            Activation::Elu => {
                if x > T::ZERO {
                    g
                } else {
                    g * x.exp()
                }
            }
            Activation::LeakyRelu => {
                if x > T::ZERO {
                    g
                } else {
                    g * T::from_f64(LEAKY_SLOPE)
                }
            }
            Activation::Silu => {
                let sigmoid = one / (one + (-x).exp());
                g * sigmoid * (one + x * (one - sigmoid))
            }
            Activation::Gelu => {
                // PyTorch's kBeta = 2/√π · 1/√2 · 1/2 = 1/√(2π).
                let beta = T::from_f64(
                    std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2 * 0.5,
                );
                let half = T::from_f64(0.5);
                let cdf = half * (one + (x * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf());
                let pdf = beta * (x * x * -half).exp();
                g * (cdf + x * pdf)
            }
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                let names: Vec<String> = Activation::ALL
                    .iter()
                    .map(|a| format!("{:?}", a.name()))
                    .collect();
                format!(
                    "unknown activation {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Applies `act` to every element of `z` in place, keeping the pre-activations in `pre`
/// (same length) for [`activation_backward`].
pub(crate) fn activate_keeping_input<T: Scalar>(act: Activation, z: &mut [T], pre: &mut [T]) {
    pre.copy_from_slice(z);
    activate_in_place(act, z);
}

/// Applies `act` to every element of `z` in place.
pub(crate) fn activate_in_place<T: Scalar>(act: Activation, z: &mut [T]) {
    for v in z {
        *v = act.apply(*v);
    }
}

/// Turns the gradient `g` w.r.t. a layer's activations `post` (computed from `pre`) into
/// the gradient w.r.t. its pre-activations, and writes that gradient's column sums (the
/// layer's bias gradient) into `bias_grad`.
pub(crate) fn activation_backward<T: Scalar>(
    act: Activation,
    g: &mut [T],
    pre: &[T],
    post: &[T],
    bias_grad: &mut [T],
) {
    for ((g, &x), &y) in g.iter_mut().zip(pre).zip(post) {
        *g = act.backward(*g, x, y);
    }
    kernels::column_sums(g, bias_grad);
}
