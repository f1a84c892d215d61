//! The groups of a [`DqnConfig`](super::DqnConfig), one per concern: the run, the network,
//! the optimizer, returns, replay, the target network, one group per algorithm's own keys,
//! exploration and evaluation. Each group's fields are config keys (a field named otherwise
//! carries its key in `serde(rename)`), and each group checks its own ranges
//! (`validate.rs`); relations between groups are checked on the whole config.

use deepq_envs::Kwargs;
use deepq_nn::{Activation, Loss, Precision};
use serde::{Deserialize, Serialize};

use super::{Count, DEFAULT_EVAL_MAX_EPISODE_STEPS, Dtype, LearningRateSchedule, OptimizerKind};
use crate::schedule::ExplorationKind;

/// The run: environment, seed, budget, and what it writes as it goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    /// Gymnasium id of the environment, e.g. `"CartPole-v1"`.
    pub env: String,
    /// Keyword arguments for `make`, e.g. `{ is_slippery = false }`.
    pub env_kwargs: Kwargs,
    /// Number of vectorized copies that collect experience (auto-reset).
    pub n_envs: usize,
    /// Seed for env resets, exploration, replay sampling and network initialisation.
    pub seed: u64,
    /// Stop after this many environment steps (every copy of a vector env counts).
    pub total_timesteps: u64,
    /// Also stop after this many finished episodes, when set.
    pub episodes: Option<u64>,
    /// Steps (or `[n, "episode"]`) between checkpoints; 0 writes one only when training
    /// stops (at its end or on Ctrl-C).
    pub checkpoint_freq: Count,
    /// Updates between two loss/Q-value records.
    pub log_interval: u64,
    /// Episodes in the rolling mean of the returns plots (a run's, and the mean over seeds
    /// that `--seeds` and `deepq ablate` draw). It does not change progress reports: their
    /// mean return ([`Progress::mean_return_100`](crate::observer::Progress::mean_return_100),
    /// shown by the progress bar) is always over the last 100 episodes.
    pub rolling_window: usize,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            env: "CartPole-v1".into(),
            env_kwargs: Kwargs::new(),
            n_envs: 1,
            seed: 0,
            total_timesteps: 100_000,
            episodes: None,
            checkpoint_freq: Count::steps(50_000),
            log_interval: 100,
            rolling_window: 100,
        }
    }
}

/// The network's torso: conv and hidden layers, LayerNorm, float type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkSettings {
    /// Convolutional layers in front of the MLP, for image observations: one
    /// `[filters, kernel, stride]` or `[filters, kernel, stride, padding]` per `Conv2d` + ReLU
    /// layer (square kernels; padding 0 when left out). Empty for flat observations.
    /// MinAtar's network is `cnn = [[16, 3, 1]]` with `net_arch = [128]`; Nature DQN's
    /// `cnn = [[32, 8, 4], [64, 4, 2], [64, 3, 1]]` with `net_arch = [512]`.
    pub cnn: Vec<Vec<usize>>,
    /// Hidden layer widths of the Q-network MLP.
    pub net_arch: Vec<usize>,
    /// LayerNorm (with affine weight and bias, ε = 1e-5 as PyTorch's) after each hidden
    /// linear layer, before its ReLU, and after each conv layer over each pixel's channels:
    /// PQN's networks.
    pub layer_norm: bool,
    /// The nonlinearity after each hidden linear layer: `"relu"`, `"tanh"`, `"elu"`,
    /// `"leaky_relu"`, `"silu"` or `"gelu"` (PyTorch's modules with their default
    /// arguments, as SB3's `policy_kwargs.activation_fn` builds them). Networks with conv
    /// layers or LayerNorm, and IQN's, use ReLU only.
    pub activation: Activation,
    /// Floating-point type of the network.
    pub dtype: Dtype,
    /// The arithmetic of the conv and linear layers' matrix products, forward and backward,
    /// acting and evaluation included: `"f32"` (PyTorch's, bit for bit), or `"bf16"`
    /// (operands rounded to bfloat16, products summed in f32, as PyTorch's CPU autocast;
    /// weights, gradients, optimizer state, losses and targets stay f32). Needs `dtype =
    /// "f32"`. Which kernel ran is in `summary.json` (`matmul_path`).
    pub precision: Precision,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            cnn: Vec::new(),
            net_arch: vec![64, 64],
            layer_norm: false,
            activation: Activation::Relu,
            dtype: Dtype::F32,
            precision: Precision::F32,
        }
    }
}

/// The optimizer, its learning rate and the gradient clip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimizerSettings {
    /// Optimizer family.
    #[serde(rename = "optimizer")]
    pub kind: OptimizerKind,
    /// Learning rate.
    pub learning_rate: f64,
    /// `"constant"`, or `"linear"` decay to 0 over the run (see [`LearningRateSchedule`]).
    pub learning_rate_schedule: LearningRateSchedule,
    /// Adam-family betas; PyTorch's (0.9, 0.999) when unset.
    #[serde(rename = "optimizer_betas")]
    pub betas: Option<[f64; 2]>,
    /// Optimizer epsilon; PyTorch's default when unset (for QR-DQN's Adam, sb3-contrib's
    /// 0.01/`batch_size`).
    #[serde(rename = "optimizer_eps")]
    pub eps: Option<f64>,
    /// L2 (or, for AdamW, decoupled) weight decay; PyTorch's default when unset.
    pub weight_decay: Option<f64>,
    /// Momentum for SGD and RMSprop.
    pub momentum: f64,
    /// RMSprop smoothing constant; PyTorch's 0.99 when unset.
    pub rmsprop_alpha: Option<f64>,
    /// PyTorch's `centered` RMSprop: normalise by the variance of the gradient (its squared
    /// average minus its squared mean) rather than its squared average, as DQN's and
    /// MinAtar's RMSprop do.
    pub rmsprop_centered: bool,
    /// Global gradient-norm clip; `inf` disables clipping.
    pub max_grad_norm: f64,
}

impl Default for OptimizerSettings {
    fn default() -> Self {
        OptimizerSettings {
            kind: OptimizerKind::Adam,
            learning_rate: 1e-4,
            learning_rate_schedule: LearningRateSchedule::Constant,
            betas: None,
            eps: None,
            weight_decay: None,
            momentum: 0.0,
            rmsprop_alpha: None,
            rmsprop_centered: false,
            max_grad_norm: 10.0,
        }
    }
}

/// What a return is: the discount and how time-limit truncation is treated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReturnSettings {
    /// Discount factor.
    pub gamma: f64,
    /// Bootstrap from the next state when an episode is truncated by a time limit. `false`
    /// treats truncation like termination, as set-ups built on the old `done` flag did.
    pub bootstrap_on_truncation: bool,
}

impl Default for ReturnSettings {
    fn default() -> Self {
        ReturnSettings {
            gamma: 0.99,
            bootstrap_on_truncation: true,
        }
    }
}

/// The off-policy learners' replay: capacity, sampling, warm-up, training frequency, n-step
/// returns and prioritized replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplaySettings {
    /// Replay capacity in transitions.
    pub buffer_size: usize,
    /// Learn from replayed transitions; `false` learns from the latest transition(s) only.
    #[serde(rename = "replay")]
    pub enabled: bool,
    /// Sample replay batches with replacement (SB3) or without (the PyTorch tutorials).
    #[serde(rename = "replay_with_replacement")]
    pub with_replacement: bool,
    /// Sample whole vector steps (all `n_envs` transitions stored together) instead of single
    /// transitions; `batch_size` must then be a multiple of `n_envs`.
    pub sample_vector_steps: bool,
    /// Transitions per gradient step.
    pub batch_size: usize,
    /// Steps (or `[n, "episode"]`) collected before the first gradient step.
    pub learning_starts: Count,
    /// Act uniformly at random until learning starts (SB3); `false` acts ε-greedily throughout.
    pub random_warmup: bool,
    /// How often to train: every `n` steps, or `[n, "episode"]`.
    pub train_freq: Count,
    /// Gradient steps per training phase; -1 means as many as environment steps collected.
    pub gradient_steps: i64,
    /// Steps summed into each return before bootstrapping (n-step returns).
    pub n_steps: usize,
    /// Proportional prioritized experience replay (Schaul et al. 2016).
    #[serde(rename = "prioritized_replay")]
    pub prioritized: bool,
    /// Priority exponent α (0 samples uniformly).
    #[serde(rename = "prioritized_replay_alpha")]
    pub priority_alpha: f64,
    /// Initial importance-sampling exponent β, annealed linearly to 1 over `total_timesteps`.
    #[serde(rename = "prioritized_replay_beta0")]
    pub priority_beta0: f64,
    /// Added to |TD error| (or to the C51 cross-entropy) to form a priority.
    #[serde(rename = "prioritized_replay_eps")]
    pub priority_eps: f64,
    /// Store each reward clipped to its sign (−1, 0 or 1), as DQN learns Atari (SB3's
    /// `AtariWrapper(clip_reward=True)`); episode returns are still logged unclipped.
    pub clip_reward: bool,
    /// Store a step on which the env lost a life (Atari's `lives` info) as terminal, so the
    /// TD target does not bootstrap across it, without ending the episode (Dopamine's
    /// `terminal_on_life_loss`, learning only: returns and evaluation count whole games).
    pub terminal_on_life_loss: bool,
    /// How replayed image observations are augmented before each update.
    pub augmentation: Augmentation,
}

/// Augmentation of replayed observations (see [`crate::augment`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augmentation {
    /// As stored.
    None,
    /// DrQ's random shifts by up to 4 pixels (edges replicated) with intensity scaling.
    RandomShift,
}

impl Default for ReplaySettings {
    fn default() -> Self {
        ReplaySettings {
            buffer_size: 1_000_000,
            enabled: true,
            with_replacement: true,
            sample_vector_steps: false,
            batch_size: 32,
            learning_starts: Count::steps(100),
            random_warmup: true,
            train_freq: Count::steps(4),
            gradient_steps: 1,
            n_steps: 1,
            prioritized: false,
            priority_alpha: 0.6,
            priority_beta0: 0.4,
            priority_eps: 1e-6,
            clip_reward: false,
            terminal_on_life_loss: false,
            augmentation: Augmentation::None,
        }
    }
}

/// The off-policy learners' target network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetSettings {
    /// Keep a separate target network; `false` computes targets with the online network.
    #[serde(rename = "target_network")]
    pub enabled: bool,
    /// Environment steps between target updates.
    #[serde(rename = "target_update_interval")]
    pub update_interval: u64,
    /// Polyak coefficient of target updates; 1.0 is a hard copy.
    pub tau: f64,
}

impl Default for TargetSettings {
    fn default() -> Self {
        TargetSettings {
            enabled: true,
            update_interval: 10_000,
            tau: 1.0,
        }
    }
}

/// DQN's own settings: double DQN, its TD loss, and Rainbow's heads (dueling, noisy, C51).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DqnSettings {
    /// Double DQN: the online network chooses the next action, the target network values it.
    pub double_q: bool,
    /// Regress max_a Q(s, a) instead of Q(s, a_taken): the naive learner's mistake, kept to
    /// demonstrate it.
    pub regress_max_q: bool,
    /// Loss on the TD error: `"huber"` (SB3's smooth L1) or `"mse"`.
    pub loss: Loss,
    /// Dueling head: value and advantage streams combined as V + (A − mean A).
    pub dueling: bool,
    /// Noisy nets: every linear layer becomes a factorised Gaussian NoisyLinear layer and
    /// exploration comes from its noise (resampled every step and every update) instead of
    /// ε-greedy; evaluation acts greedily on the mean weights.
    pub noisy: bool,
    /// σ0 of the noisy layers' initial σ = σ0/√fan_in.
    pub noisy_sigma0: f64,
    /// Atoms of the C51 return distribution; 1 means scalar Q-values. With more, the loss is
    /// the cross-entropy to the projected target distribution and `loss` is not used.
    pub atoms: usize,
    /// The smallest C51 atom.
    pub v_min: f64,
    /// The largest C51 atom.
    pub v_max: f64,
}

impl Default for DqnSettings {
    fn default() -> Self {
        DqnSettings {
            double_q: false,
            regress_max_q: false,
            loss: Loss::Huber,
            dueling: false,
            noisy: false,
            noisy_sigma0: 0.5,
            atoms: 1,
            v_min: -10.0,
            v_max: 10.0,
        }
    }
}

/// QR-DQN's own settings (Dabney et al. 2018).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QrDqnSettings {
    /// QR-DQN: quantiles of each action's return (sb3-contrib's `n_quantiles`).
    pub n_quantiles: usize,
}

impl Default for QrDqnSettings {
    fn default() -> Self {
        QrDqnSettings { n_quantiles: 200 }
    }
}

/// IQN's own settings (Dabney et al. 2018b; Dopamine's names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IqnSettings {
    /// IQN: fractions τ sampled for the online quantiles of each update (Dopamine's
    /// `num_tau_samples`, N).
    pub num_tau_samples: usize,
    /// IQN: fractions τ′ sampled for the target quantiles (`num_tau_prime_samples`, N′).
    pub num_tau_prime_samples: usize,
    /// IQN: fractions an action averages over (`num_quantile_samples`, K): sampled when
    /// acting in training and choosing the target's next action, evenly spaced in greedy
    /// evaluation.
    pub num_quantile_samples: usize,
    /// IQN: cosines of the τ-embedding, `cos(π·i·τ)` for `i = 1..=quantile_embedding_dim`.
    pub quantile_embedding_dim: usize,
}

impl Default for IqnSettings {
    fn default() -> Self {
        IqnSettings {
            num_tau_samples: 64,
            num_tau_prime_samples: 64,
            num_quantile_samples: 32,
            quantile_embedding_dim: 64,
        }
    }
}

/// Munchausen RL (Vieillard et al. 2020), on DQN (M-DQN) and IQN (M-IQN).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MunchausenSettings {
    /// Munchausen RL (Vieillard et al. 2020), M-DQN with `algorithm = "dqn"` and M-IQN with
    /// `"iqn"`: add `munchausen_alpha · clip(τ·log π(a|s), munchausen_clip, 0)` to the reward
    /// and bootstrap from the soft value `Σ π(a'|s′)·(q(s′, a') − τ·log π(a'|s′))`, with
    /// `π = softmax(q_target/τ)`.
    #[serde(rename = "munchausen")]
    pub enabled: bool,
    /// Munchausen: α, the scale of the log-policy bonus (the paper's 0.9).
    #[serde(rename = "munchausen_alpha")]
    pub alpha: f64,
    /// Munchausen: τ, the entropy temperature (the paper's 0.03).
    #[serde(rename = "munchausen_tau")]
    pub tau: f64,
    /// Munchausen: l₀, the lower clip of `τ·log π` (the paper's −1).
    #[serde(rename = "munchausen_clip")]
    pub clip: f64,
}

impl Default for MunchausenSettings {
    fn default() -> Self {
        MunchausenSettings {
            enabled: false,
            alpha: 0.9,
            tau: 0.03,
            clip: -1.0,
        }
    }
}

/// PQN's own settings (Gallici et al. 2025; purejaxql's names).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PqnSettings {
    /// PQN: steps each environment copy takes per rollout (PQN's `NUM_STEPS`).
    pub rollout_steps: usize,
    /// PQN: passes over each rollout (`NUM_EPOCHS`).
    pub n_epochs: usize,
    /// PQN: minibatches per pass; they must divide `n_envs × rollout_steps` (`NUM_MINIBATCHES`).
    pub n_minibatches: usize,
    /// PQN: λ of the Q(λ) returns (`LAMBDA`).
    pub q_lambda: f64,
    /// PQN: factor applied to rewards before they enter the targets (`REW_SCALE`); logged
    /// returns stay unscaled.
    pub reward_scale: f64,
}

impl Default for PqnSettings {
    fn default() -> Self {
        PqnSettings {
            rollout_steps: 64,
            n_epochs: 4,
            n_minibatches: 16,
            q_lambda: 0.95,
            reward_scale: 1.0,
        }
    }
}

/// The ε-greedy schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExplorationSettings {
    /// Shape of the exploration schedule.
    #[serde(rename = "exploration_schedule")]
    pub schedule: ExplorationKind,
    /// Initial ε (and the fixed ε of the constant schedule).
    #[serde(rename = "exploration_initial_eps")]
    pub initial_eps: f64,
    /// Final ε (the floor of the episode-linear schedule).
    #[serde(rename = "exploration_final_eps")]
    pub final_eps: f64,
    /// Fraction of `total_timesteps` over which the linear schedule anneals ε.
    #[serde(rename = "exploration_fraction")]
    pub fraction: f64,
    /// Time constant in steps of the exponential schedule.
    #[serde(rename = "exploration_decay_steps")]
    pub decay_steps: f64,
    /// Episodes over which the episode-linear schedule falls by 1.
    #[serde(rename = "exploration_decay_episodes")]
    pub decay_episodes: f64,
}

impl Default for ExplorationSettings {
    fn default() -> Self {
        ExplorationSettings {
            schedule: ExplorationKind::Linear,
            initial_eps: 1.0,
            final_eps: 0.05,
            fraction: 0.1,
            decay_steps: 1000.0,
            decay_episodes: 500.0,
        }
    }
}

/// Greedy evaluations, and stopping at the first that solves the environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalSettings {
    /// Steps (or `[n, "episode"]`) between periodic greedy evaluations; 0 disables them.
    #[serde(rename = "eval_freq")]
    pub freq: Count,
    /// Episodes per periodic evaluation.
    #[serde(rename = "eval_episodes")]
    pub episodes: usize,
    /// Episodes of the final greedy evaluation.
    #[serde(rename = "final_eval_episodes")]
    pub final_episodes: usize,
    /// Steps after which an evaluation episode is cut, if neither a terminal state nor the
    /// environment's own time limit has ended it; a cut episode counts as truncated, and
    /// evaluations report how many were cut. It bounds every evaluation (periodic, final,
    /// `deepq eval`, `deepq play`, `evaluate_policy`), which an environment without a time
    /// limit (MinAtar) and a policy that never ends an episode would otherwise never finish.
    /// The default, 27,000, is the longest published evaluation episode: Dopamine's and
    /// Machado et al.'s 108,000 Atari frames at 4 frames per agent step (MinAtar's gymnax
    /// port uses 1,000 steps). Training progress and the summary also flag a training episode
    /// that runs past it.
    #[serde(rename = "eval_max_episode_steps")]
    pub max_episode_steps: u64,
    /// End training at the first periodic evaluation whose mean reaches the environment's
    /// reward threshold, or `stop_reward_threshold` when set (SB3's
    /// `StopTrainingOnRewardThreshold`).
    pub stop_on_solve: bool,
    /// The mean a periodic evaluation must reach for `stop_on_solve` to end training; the
    /// environment's reward threshold when unset. A margin above the threshold makes it
    /// likelier that the final, longer evaluation passes too.
    pub stop_reward_threshold: Option<f64>,
    /// ε of the evaluations during and after training: 0 acts greedily; Atari protocols
    /// act ε-greedily with a small ε (Dopamine's `epsilon_eval = 0.001`). Each evaluation
    /// draws from a fresh evaluation stream, so evaluations stay comparable and training's
    /// streams are untouched.
    #[serde(rename = "eval_epsilon")]
    pub epsilon: f64,
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings {
            freq: Count::steps(10_000),
            episodes: 10,
            final_episodes: 100,
            max_episode_steps: DEFAULT_EVAL_MAX_EPISODE_STEPS,
            stop_on_solve: false,
            stop_reward_threshold: None,
            epsilon: 0.0,
        }
    }
}
