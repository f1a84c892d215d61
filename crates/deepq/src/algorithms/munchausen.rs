//! Munchausen RL (Vieillard et al., "Munchausen Reinforcement Learning", NeurIPS 2020), the
//! target change shared by M-DQN ([`super::dqn`]) and M-IQN ([`super::iqn`]): each sample's
//! reward gains the scaled log-policy of its action, `α·clip(τ·log π(a|s), l₀, 0)`, and the
//! bootstrap becomes the soft value `Σ_a' π(a'|s′)·(q(s′, a') − τ·log π(a'|s′))`, with the
//! Boltzmann policy `π = softmax(q/τ)` of the target network (google-research/munchausen_rl's
//! `m_dqn.py` and `m_iqn.py`).

use deepq_nn::{Scalar, scaled_log_policy};
use serde::{Deserialize, Serialize};

use crate::config::DqnConfig;

/// Config keys of the Munchausen target, read by the learners that support it.
pub(crate) const KEYS: &[&str] = &[
    "munchausen",
    "munchausen_alpha",
    "munchausen_tau",
    "munchausen_clip",
];

/// The Munchausen target's three constants.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Munchausen {
    /// α, the scale of the log-policy bonus (`munchausen_alpha`).
    pub alpha: f64,
    /// τ, the entropy temperature (`munchausen_tau`).
    pub tau: f64,
    /// l₀, the lower clip of `τ·log π` (`munchausen_clip`).
    pub clip: f64,
}

impl Munchausen {
    /// The target a config asks for (`munchausen = true`), if any.
    pub fn from_config(cfg: &DqnConfig) -> Option<Self> {
        cfg.munchausen.enabled.then_some(Munchausen {
            alpha: cfg.munchausen.alpha,
            tau: cfg.munchausen.tau,
            clip: cfg.munchausen.clip,
        })
    }

    /// The reward bonus `α·clip(τ·log π(action|s), l₀, 0)` of one sample, from the target
    /// network's Q-values `q_here` of its state. `scratch` has one slot per action.
    pub fn bonus<T: Scalar>(&self, q_here: &[T], action: usize, scratch: &mut [T]) -> T {
        scaled_log_policy(q_here, T::from_f64(self.tau), scratch);
        let tau_log_pi = scratch[action].max(T::from_f64(self.clip));
        let clipped = if tau_log_pi > T::ZERO {
            T::ZERO
        } else {
            tau_log_pi
        };
        T::from_f64(self.alpha) * clipped
    }
}
