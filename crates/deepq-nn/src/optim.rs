//! PyTorch's optimizers over one flat parameter buffer.
//!
//! Each update follows the single-tensor (`foreach=False`) code path of `torch.optim`
//! operation by operation: hyper-parameter arithmetic (bias corrections, NAdam's momentum
//! schedule) in `f64` as Python does it, then rounded to the parameter type, and every
//! tensor operation in the parameter type in the same order as PyTorch's CPU kernels. The
//! only differences are where PyTorch's vectorised kernels fuse a multiply-add into one
//! rounding (`add(alpha=…)`, `lerp`): those round twice here, a last-bit difference.

use serde::{Deserialize, Serialize};

use crate::kernels::simd_dispatch;
use crate::scalar::Scalar;

/// Which optimizer to use and its hyper-parameters, named as in `torch.optim`. The
/// constructors fill in PyTorch's defaults for everything but the learning rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerConfig {
    /// `torch.optim.Adam` (L2 penalty `weight_decay` added to the gradient).
    Adam {
        /// Learning rate (PyTorch default 1e-3).
        lr: f64,
        /// First-moment decay (0.9).
        beta1: f64,
        /// Second-moment decay (0.999).
        beta2: f64,
        /// Denominator term (1e-8).
        eps: f64,
        /// L2 penalty (0).
        weight_decay: f64,
    },
    /// `torch.optim.AdamW` (decoupled weight decay: parameters shrink by `lr·weight_decay`).
    AdamW {
        /// Learning rate (1e-3).
        lr: f64,
        /// First-moment decay (0.9).
        beta1: f64,
        /// Second-moment decay (0.999).
        beta2: f64,
        /// Denominator term (1e-8).
        eps: f64,
        /// Decoupled weight decay (0.01).
        weight_decay: f64,
    },
    /// `torch.optim.NAdam` (Adam with Nesterov momentum and a momentum schedule).
    NAdam {
        /// Learning rate (2e-3).
        lr: f64,
        /// First-moment decay (0.9).
        beta1: f64,
        /// Second-moment decay (0.999).
        beta2: f64,
        /// Denominator term (1e-8).
        eps: f64,
        /// L2 penalty (0).
        weight_decay: f64,
        /// Momentum schedule rate (4e-3).
        momentum_decay: f64,
    },
    /// `torch.optim.RAdam` (Liu et al. 2020: Adam whose adaptive step is rectified by the
    /// variance of its second-moment estimate; while that variance is intractable, in the
    /// first steps (`ρ_t ≤ 5`, the first 5 steps with β₂ = 0.999), the step is plain
    /// bias-corrected momentum SGD). L2 penalty `weight_decay` added to the gradient (PyTorch's
    /// `decoupled_weight_decay=False`).
    RAdam {
        /// Learning rate (1e-3).
        lr: f64,
        /// First-moment decay (0.9).
        beta1: f64,
        /// Second-moment decay (0.999).
        beta2: f64,
        /// Denominator term (1e-8).
        eps: f64,
        /// L2 penalty (0).
        weight_decay: f64,
    },
    /// `torch.optim.RMSprop`.
    RmsProp {
        /// Learning rate (1e-2).
        lr: f64,
        /// Smoothing constant of the squared-gradient average (0.99).
        alpha: f64,
        /// Denominator term (1e-8).
        eps: f64,
        /// L2 penalty (0).
        weight_decay: f64,
        /// Momentum (0).
        momentum: f64,
        /// Normalise by the centered second moment (variance) instead (false).
        centered: bool,
    },
    /// `torch.optim.SGD`.
    Sgd {
        /// Learning rate (1e-3).
        lr: f64,
        /// Momentum (0).
        momentum: f64,
        /// Dampening of the gradient added to the momentum buffer (0).
        dampening: f64,
        /// L2 penalty (0).
        weight_decay: f64,
        /// Nesterov momentum (false; needs `momentum > 0` and `dampening == 0`).
        nesterov: bool,
    },
}

impl OptimizerConfig {
    /// Adam with PyTorch's defaults and learning rate `lr`.
    pub fn adam(lr: f64) -> Self {
        Self::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// AdamW with PyTorch's defaults (weight decay 0.01) and learning rate `lr`.
    pub fn adamw(lr: f64) -> Self {
        Self::AdamW {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }

    /// NAdam with PyTorch's defaults and learning rate `lr` (PyTorch's default is 2e-3).
    pub fn nadam(lr: f64) -> Self {
        Self::NAdam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
        }
    }

    /// RAdam with PyTorch's defaults and learning rate `lr` (PyTorch's default is 1e-3).
    pub fn radam(lr: f64) -> Self {
        Self::RAdam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// RMSprop with PyTorch's defaults and learning rate `lr` (PyTorch's default is 1e-2).
    pub fn rmsprop(lr: f64) -> Self {
        Self::RmsProp {
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
        }
    }

    /// Plain SGD (no momentum) with learning rate `lr`.
    pub fn sgd(lr: f64) -> Self {
        Self::Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            Self::Adam { lr, .. }
            | Self::AdamW { lr, .. }
            | Self::NAdam { lr, .. }
            | Self::RAdam { lr, .. }
            | Self::RmsProp { lr, .. }
            | Self::Sgd { lr, .. } => lr,
        }
    }

    fn lr_mut(&mut self) -> &mut f64 {
        match self {
            Self::Adam { lr, .. }
            | Self::AdamW { lr, .. }
            | Self::NAdam { lr, .. }
            | Self::RAdam { lr, .. }
            | Self::RmsProp { lr, .. }
            | Self::Sgd { lr, .. } => lr,
        }
    }

    /// Checks the hyper-parameters the way PyTorch's constructors do.
    pub fn validate(&self) -> Result<(), String> {
        let check = |ok: bool, what: &str, value: f64| {
            if ok {
                Ok(())
            } else {
                Err(format!("invalid {what}: {value}"))
            }
        };
        let non_negative = |what, v: f64| check(v >= 0.0, what, v);
        let beta = |what, v: f64| check((0.0..1.0).contains(&v), what, v);
        non_negative("learning rate", self.lr())?;
        match *self {
            Self::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            }
            | Self::AdamW {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            }
            | Self::RAdam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                beta("beta1", beta1)?;
                beta("beta2", beta2)?;
                non_negative("eps", eps)?;
                non_negative("weight_decay", weight_decay)
            }
            Self::NAdam {
                beta1,
                beta2,
                eps,
                weight_decay,
                momentum_decay,
                ..
            } => {
                beta("beta1", beta1)?;
                beta("beta2", beta2)?;
                non_negative("eps", eps)?;
                non_negative("weight_decay", weight_decay)?;
                non_negative("momentum_decay", momentum_decay)
            }
            Self::RmsProp {
                alpha,
                eps,
                weight_decay,
                momentum,
                ..
            } => {
                non_negative("alpha", alpha)?;
                non_negative("eps", eps)?;
                non_negative("weight_decay", weight_decay)?;
                non_negative("momentum", momentum)
            }
            Self::Sgd {
                momentum,
                dampening,
                weight_decay,
                nesterov,
                ..
            } => {
                non_negative("momentum", momentum)?;
                non_negative("weight_decay", weight_decay)?;
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    return Err("Nesterov momentum requires a momentum and zero dampening".into());
                }
                Ok(())
            }
        }
    }
}

/// An optimizer with its state (moment estimates, momentum buffers, step count), for one
/// flat parameter buffer. Serialisable, so checkpoints can resume training exactly.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "", try_from = "UncheckedOptimizer<T>")]
pub struct Optimizer<T: Scalar> {
    config: OptimizerConfig,
    steps: u64,
    n_params: usize,
    state: State<T>,
}

/// An optimizer as decoded, before its `TryFrom` into [`Optimizer`] has vetted it: a corrupt
/// checkpoint must give an error, not a panic in the next `step`.
#[derive(Deserialize)]
#[serde(bound = "")]
struct UncheckedOptimizer<T: Scalar> {
    config: OptimizerConfig,
    steps: u64,
    n_params: usize,
    state: State<T>,
}

impl<T: Scalar> TryFrom<UncheckedOptimizer<T>> for Optimizer<T> {
    type Error = String;

    fn try_from(u: UncheckedOptimizer<T>) -> Result<Self, String> {
        let opt = Optimizer {
            config: u.config,
            steps: u.steps,
            n_params: u.n_params,
            state: u.state,
        };
        opt.config.validate()?;
        // The state must have exactly the buffers a fresh optimizer of this config has.
        let fresh = Optimizer::<T>::new(opt.config.clone(), opt.n_params);
        if fresh.buffer_lens() != opt.buffer_lens() {
            return Err("optimizer state does not match its configuration".into());
        }
        Ok(opt)
    }
}

/// Per-parameter state, named as in PyTorch's `state_dict`. Buffers an option does not use
/// are empty.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum State<T> {
    /// Adam, AdamW and RAdam: PyTorch keeps the same two moments for all three.
    Adam {
        exp_avg: Vec<T>,
        exp_avg_sq: Vec<T>,
    },
    NAdam {
        exp_avg: Vec<T>,
        exp_avg_sq: Vec<T>,
        mu_product: T,
    },
    RmsProp {
        square_avg: Vec<T>,
        grad_avg: Vec<T>,
        momentum_buffer: Vec<T>,
    },
    Sgd {
        momentum_buffer: Vec<T>,
    },
}

impl<T: Scalar> Optimizer<T> {
    /// A fresh optimizer (zero state, step 0) for `n_params` parameters.
    ///
    /// # Panics
    /// If the configuration is invalid (see [`OptimizerConfig::validate`]).
    pub fn new(config: OptimizerConfig, n_params: usize) -> Self {
        if let Err(e) = config.validate() {
            panic!("{e}");
        }
        let zeros = |used: bool| vec![T::ZERO; if used { n_params } else { 0 }];
        let state = match config {
            OptimizerConfig::Adam { .. }
            | OptimizerConfig::AdamW { .. }
            | OptimizerConfig::RAdam { .. } => State::Adam {
                exp_avg: zeros(true),
                exp_avg_sq: zeros(true),
            },
            OptimizerConfig::NAdam { .. } => State::NAdam {
                exp_avg: zeros(true),
                exp_avg_sq: zeros(true),
                mu_product: T::ONE,
            },
            OptimizerConfig::RmsProp {
                momentum, centered, ..
            } => State::RmsProp {
                square_avg: zeros(true),
                grad_avg: zeros(centered),
                momentum_buffer: zeros(momentum > 0.0),
            },
            OptimizerConfig::Sgd { momentum, .. } => State::Sgd {
                momentum_buffer: zeros(momentum != 0.0),
            },
        };
        Self {
            config,
            steps: 0,
            n_params,
            state,
        }
    }

    /// Number of parameters this optimizer updates.
    pub fn n_params(&self) -> usize {
        self.n_params
    }

    /// Variant and lengths of the state buffers, to compare shapes.
    fn buffer_lens(&self) -> (u8, Vec<usize>) {
        match &self.state {
            State::Adam {
                exp_avg,
                exp_avg_sq,
            } => (0, vec![exp_avg.len(), exp_avg_sq.len()]),
            State::NAdam {
                exp_avg,
                exp_avg_sq,
                ..
            } => (1, vec![exp_avg.len(), exp_avg_sq.len()]),
            State::RmsProp {
                square_avg,
                grad_avg,
                momentum_buffer,
            } => (
                2,
                vec![square_avg.len(), grad_avg.len(), momentum_buffer.len()],
            ),
            State::Sgd { momentum_buffer } => (3, vec![momentum_buffer.len()]),
        }
    }

    /// The hyper-parameters (with the current learning rate).
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.config.lr()
    }

    /// Changes the learning rate for later steps (for schedules).
    pub fn set_lr(&mut self, lr: f64) {
        *self.config.lr_mut() = lr;
    }

    /// Number of steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update of `params` with gradients `grads`, PyTorch's rule for the configured
    /// optimizer.
    ///
    /// # Panics
    /// If `params` or `grads` does not have the length given to [`new`](Self::new).
    pub fn step(&mut self, params: &mut [T], grads: &[T]) {
        let n = self.n_params;
        assert_eq!(params.len(), n, "params length");
        assert_eq!(grads.len(), n, "grads length");
        self.steps += 1;
        let t = self.steps as f64;
        let c = |x: f64| T::from_f64(x);
        let penalty = |wd: f64| (wd != 0.0).then(|| c(wd));
        match (&self.config, &mut self.state) {
            (
                &OptimizerConfig::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                }
                | &OptimizerConfig::AdamW {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                },
                State::Adam {
                    exp_avg,
                    exp_avg_sq,
                },
            ) => {
                let decoupled = matches!(self.config, OptimizerConfig::AdamW { .. });
                let step_size = lr / (1.0 - beta1.powf(t));
                let coefs = AdamCoefs {
                    penalty: if decoupled {
                        None
                    } else {
                        penalty(weight_decay)
                    },
                    shrink: (decoupled && weight_decay != 0.0).then(|| c(1.0 - lr * weight_decay)),
                    m: Lerp::new(1.0 - beta1),
                    beta2: c(beta2),
                    one_minus_beta2: c(1.0 - beta2),
                    neg_step_size: c(-step_size),
                    bias_correction2_sqrt: c((1.0 - beta2.powf(t)).powf(0.5)),
                    eps: c(eps),
                };
                check_len(n, [exp_avg.len(), exp_avg_sq.len()]);
                adam(params, grads, exp_avg, exp_avg_sq, coefs);
            }
            (
                &OptimizerConfig::NAdam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    momentum_decay,
                },
                State::NAdam {
                    exp_avg,
                    exp_avg_sq,
                    mu_product,
                },
            ) => {
                let mu = beta1 * (1.0 - 0.5 * 0.96f64.powf(t * momentum_decay));
                let mu_next = beta1 * (1.0 - 0.5 * 0.96f64.powf((t + 1.0) * momentum_decay));
                // PyTorch keeps the running product in a tensor of the parameter type.
                *mu_product = *mu_product * c(mu);
                let mu_product = mu_product.to_f64();
                let mu_product_next = mu_product * mu_next;
                let coefs = NAdamCoefs {
                    penalty: penalty(weight_decay),
                    m: Lerp::new(1.0 - beta1),
                    beta2: c(beta2),
                    one_minus_beta2: c(1.0 - beta2),
                    bias_correction2: c(1.0 - beta2.powf(t)),
                    eps: c(eps),
                    grad_coef: c(-lr * (1.0 - mu) / (1.0 - mu_product)),
                    avg_coef: c((-lr * mu_next) / (1.0 - mu_product_next)),
                };
                check_len(n, [exp_avg.len(), exp_avg_sq.len()]);
                nadam(params, grads, exp_avg, exp_avg_sq, coefs);
            }
            (
                &OptimizerConfig::RAdam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                },
                State::Adam {
                    exp_avg,
                    exp_avg_sq,
                },
            ) => {
                let bias_correction1 = 1.0 - beta1.powf(t);
                let bias_correction2 = 1.0 - beta2.powf(t);
                // The length of the approximated simple moving average (ρ∞ its limit): the
                // adaptive step's variance is tractable only for ρ_t > 5.
                let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
                let rho_t = rho_inf - 2.0 * t * beta2.powf(t) / bias_correction2;
                let rectified = (rho_t > 5.0).then(|| RAdamRect {
                    rect: c((((rho_t - 4.0) * (rho_t - 2.0) * rho_inf)
                        / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                        .powf(0.5)),
                    bias_correction2_sqrt: c(bias_correction2.powf(0.5)),
                    eps: c(eps),
                });
                let coefs = RAdamCoefs {
                    penalty: penalty(weight_decay),
                    m: Lerp::new(1.0 - beta1),
                    beta2: c(beta2),
                    one_minus_beta2: c(1.0 - beta2),
                    bias_correction1: c(bias_correction1),
                    lr: c(lr),
                    rectified,
                };
                check_len(n, [exp_avg.len(), exp_avg_sq.len()]);
                radam(params, grads, exp_avg, exp_avg_sq, coefs);
            }
            (
                &OptimizerConfig::RmsProp {
                    lr,
                    alpha,
                    eps,
                    weight_decay,
                    momentum,
                    centered,
                },
                State::RmsProp {
                    square_avg,
                    grad_avg,
                    momentum_buffer,
                },
            ) => {
                let coefs = RmsPropCoefs {
                    penalty: penalty(weight_decay),
                    alpha: c(alpha),
                    one_minus_alpha: c(1.0 - alpha),
                    grad_avg: centered.then(|| Lerp::new(1.0 - alpha)),
                    eps: c(eps),
                    momentum: (momentum > 0.0).then(|| c(momentum)),
                    neg_lr: c(-lr),
                };
                check_len(n, [square_avg.len()]);
                check_len(if centered { n } else { 0 }, [grad_avg.len()]);
                check_len(if momentum > 0.0 { n } else { 0 }, [momentum_buffer.len()]);
                rmsprop(params, grads, square_avg, grad_avg, momentum_buffer, coefs);
            }
            (
                &OptimizerConfig::Sgd {
                    lr,
                    momentum,
                    dampening,
                    weight_decay,
                    nesterov,
                },
                State::Sgd { momentum_buffer },
            ) => {
                let coefs = SgdCoefs {
                    penalty: penalty(weight_decay),
                    momentum: (momentum != 0.0).then(|| Momentum {
                        momentum: c(momentum),
                        one_minus_dampening: c(1.0 - dampening),
                        first_step: self.steps == 1,
                        nesterov,
                    }),
                    neg_lr: c(-lr),
                };
                check_len(if momentum != 0.0 { n } else { 0 }, [momentum_buffer.len()]);
                sgd(params, grads, momentum_buffer, coefs);
            }
            _ => panic!("optimizer state does not match its configuration"),
        }
    }
}

/// Guards against a deserialised optimizer whose buffers do not fit its parameter count
/// (the kernels zip buffers, which would silently skip parameters).
fn check_len<const N: usize>(expected: usize, lens: [usize; N]) {
    assert!(
        lens.iter().all(|&l| l == expected),
        "optimizer state has the wrong length"
    );
}

/// `torch.lerp(start, end, weight)` with a scalar weight: PyTorch switches formula at 0.5
/// to stay accurate near both ends.
#[derive(Clone, Copy)]
struct Lerp<T> {
    weight: T,
    one_minus_weight: T,
    small: bool,
}

impl<T: Scalar> Lerp<T> {
    fn new(weight: f64) -> Self {
        let weight = T::from_f64(weight);
        Self {
            weight,
            one_minus_weight: T::ONE - weight,
            small: weight.abs() < T::from_f64(0.5),
        }
    }

    #[inline(always)]
    fn apply(self, start: T, end: T) -> T {
        if self.small {
            start + self.weight * (end - start)
        } else {
            end - (end - start) * self.one_minus_weight
        }
    }
}

/// `grad.add(param, alpha=weight_decay)` when there is an L2 penalty.
#[inline(always)]
fn penalised<T: Scalar>(g: T, p: T, penalty: Option<T>) -> T {
    match penalty {
        Some(wd) => g + wd * p,
        None => g,
    }
}

/// One step's constants for [`adam`], rounded to `T` as PyTorch rounds Python scalars.
#[derive(Clone, Copy)]
struct AdamCoefs<T> {
    penalty: Option<T>,
    shrink: Option<T>,
    m: Lerp<T>,
    beta2: T,
    one_minus_beta2: T,
    neg_step_size: T,
    bias_correction2_sqrt: T,
    eps: T,
}

simd_dispatch! {
    /// Adam/AdamW over all parameters, operation by operation as `_single_tensor_adam`.
    fn adam<T: Scalar>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: AdamCoefs<T>) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            if let Some(shrink) = c.shrink {
                *p = *p * shrink;
            }
            let g = penalised(g, *p, c.penalty);
            *m = c.m.apply(*m, g);
            *v = *v * c.beta2 + c.one_minus_beta2 * g * g;
            let denom = v.sqrt() / c.bias_correction2_sqrt + c.eps;
            *p = *p + c.neg_step_size * *m / denom;
        }
    }
}

/// One step's constants for [`nadam`], rounded to `T`.
#[derive(Clone, Copy)]
struct NAdamCoefs<T> {
    penalty: Option<T>,
    m: Lerp<T>,
    beta2: T,
    one_minus_beta2: T,
    bias_correction2: T,
    eps: T,
    grad_coef: T,
    avg_coef: T,
}

simd_dispatch! {
    /// NAdam over all parameters, as `_single_tensor_nadam`.
    fn nadam<T: Scalar>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: NAdamCoefs<T>) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            let g = penalised(g, *p, c.penalty);
            *m = c.m.apply(*m, g);
            *v = *v * c.beta2 + c.one_minus_beta2 * g * g;
            let denom = (*v / c.bias_correction2).sqrt() + c.eps;
            *p = *p + c.grad_coef * g / denom;
            *p = *p + c.avg_coef * *m / denom;
        }
    }
}

/// The rectified branch of an [`radam`] step (`ρ_t > 5`).
#[derive(Clone, Copy)]
struct RAdamRect<T> {
    rect: T,
    bias_correction2_sqrt: T,
    eps: T,
}

/// One step's constants for [`radam`], rounded to `T`.
#[derive(Clone, Copy)]
struct RAdamCoefs<T> {
    penalty: Option<T>,
    m: Lerp<T>,
    beta2: T,
    one_minus_beta2: T,
    bias_correction1: T,
    lr: T,
    /// `None` in the early steps, which take the un-rectified (SGD with momentum) step.
    rectified: Option<RAdamRect<T>>,
}

simd_dispatch! {
    /// RAdam over all parameters, as `_single_tensor_radam`. Python evaluates
    /// `bias_correction2 ** 0.5 / exp_avg_sq_sqrt` as `reciprocal(denominator) * scalar`
    /// (`Tensor.__rtruediv__`), so the adaptive learning rate is rounded twice here too.
    fn radam<T: Scalar>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: RAdamCoefs<T>) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
            let g = penalised(g, *p, c.penalty);
            *m = c.m.apply(*m, g);
            *v = *v * c.beta2 + c.one_minus_beta2 * g * g;
            let update = *m / c.bias_correction1 * c.lr;
            let update = match c.rectified {
                Some(r) => {
                    let adaptive_lr = T::ONE / (v.sqrt() + r.eps) * r.bias_correction2_sqrt;
                    update * adaptive_lr * r.rect
                }
                None => update,
            };
            *p = *p - update;
        }
    }
}

/// One step's constants for [`rmsprop`], rounded to `T`.
#[derive(Clone, Copy)]
struct RmsPropCoefs<T> {
    penalty: Option<T>,
    alpha: T,
    one_minus_alpha: T,
    /// Present iff centered.
    grad_avg: Option<Lerp<T>>,
    eps: T,
    momentum: Option<T>,
    neg_lr: T,
}

simd_dispatch! {
    /// RMSprop over all parameters, as `_single_tensor_rmsprop`. `grad_avg` and `buf` are
    /// empty when centering or momentum is off, and indexed only when on.
    fn rmsprop<T: Scalar>(
        p: &mut [T],
        g: &[T],
        square_avg: &mut [T],
        grad_avg: &mut [T],
        buf: &mut [T],
        c: RmsPropCoefs<T>,
    ) {
        for (i, (p, &g)) in p.iter_mut().zip(g).enumerate() {
            let g = penalised(g, *p, c.penalty);
            let sa = &mut square_avg[i];
            *sa = *sa * c.alpha + c.one_minus_alpha * g * g;
            let avg = match c.grad_avg {
                Some(lerp) => {
                    let ga = &mut grad_avg[i];
                    *ga = lerp.apply(*ga, g);
                    (*sa + -T::ONE * *ga * *ga).sqrt()
                }
                None => sa.sqrt(),
            } + c.eps;
            match c.momentum {
                Some(momentum) => {
                    let b = &mut buf[i];
                    *b = *b * momentum + g / avg;
                    *p = *p + c.neg_lr * *b;
                }
                None => *p = *p + c.neg_lr * g / avg,
            }
        }
    }
}

/// SGD's momentum settings.
#[derive(Clone, Copy)]
struct Momentum<T> {
    momentum: T,
    one_minus_dampening: T,
    /// PyTorch creates the buffer as a copy of the first gradient.
    first_step: bool,
    nesterov: bool,
}

/// One step's constants for [`sgd`], rounded to `T`.
#[derive(Clone, Copy)]
struct SgdCoefs<T> {
    penalty: Option<T>,
    momentum: Option<Momentum<T>>,
    neg_lr: T,
}

simd_dispatch! {
    /// SGD over all parameters, as `_single_tensor_sgd`. `buf` is empty without momentum
    /// and indexed only with it.
    fn sgd<T: Scalar>(p: &mut [T], g: &[T], buf: &mut [T], c: SgdCoefs<T>) {
        for (i, (p, &g)) in p.iter_mut().zip(g).enumerate() {
            let mut g = penalised(g, *p, c.penalty);
            if let Some(m) = c.momentum {
                let b = &mut buf[i];
                *b = if m.first_step {
                    g
                } else {
                    *b * m.momentum + m.one_minus_dampening * g
                };
                g = if m.nesterov { g + m.momentum * *b } else { *b };
            }
            *p = *p + c.neg_lr * g;
        }
    }
}
