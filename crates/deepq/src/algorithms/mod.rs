//! The learning algorithms. Each is one type implementing [`crate::core::Algorithm`]: it owns
//! its environments, model and buffers and supplies its own step; the shared training core
//! does everything else.
//!
//! The value-based learners ([`dqn`], [`qrdqn`], [`iqn`]) are [`off_policy::Learner`]s on one
//! [`off_policy::OffPolicy`] loop, which acts, steps the vector env, stores into replay,
//! trains when `train_freq` says so and moves the target network; a learner supplies only its
//! network, its TD target and loss, and the priorities it reports. To add one: write its
//! module here (the learner, its `KEYS`), name it in [`crate::config::Algorithm`] and
//! `own_keys`, and start it in `train.rs`'s dispatch. [`pqn`] and [`tabular`] supply their
//! own steps.

pub mod dqn;
pub mod iqn;
pub mod munchausen;
pub mod off_policy;
pub mod pqn;
pub mod qrdqn;
pub mod tabular;

pub use dqn::Dqn;
pub use iqn::Iqn;
pub use pqn::Pqn;
pub use qrdqn::QrDqn;
pub use tabular::Tabular;

use crate::config::Algorithm;

/// The config keys an algorithm reads that not every algorithm reads: a run refuses such a
/// key, set away from its default, when its own algorithm does not read it.
pub(crate) fn own_keys(algorithm: Algorithm) -> Vec<&'static str> {
    match algorithm {
        Algorithm::Dqn => [off_policy::KEYS, dqn::KEYS, munchausen::KEYS].concat(),
        Algorithm::QrDqn => [off_policy::KEYS, qrdqn::KEYS].concat(),
        Algorithm::Iqn => [off_policy::KEYS, iqn::KEYS, munchausen::KEYS].concat(),
        Algorithm::Pqn => pqn::KEYS.to_vec(),
        Algorithm::Tabular => Vec::new(),
    }
}
