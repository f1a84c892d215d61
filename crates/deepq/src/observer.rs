//! What a training run reports while it runs: the [`Observer`] trait and its records. The CLI
//! writes CSV logs, progress bars and TensorBoard files through it; the Python package calls
//! back into Python.

use serde::Serialize;

use crate::eval::EvalStats;

/// One finished training episode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpisodeRecord {
    /// 1-based episode number.
    pub episode: u64,
    /// Environment steps taken when it ended.
    pub step: u64,
    /// Undiscounted return.
    pub ret: f64,
    /// Length in steps.
    pub length: u64,
    /// ε when it ended.
    pub epsilon: f64,
    /// Seconds since training started.
    pub wall_s: f64,
}

/// A sampled record of the learner's state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UpdateRecord {
    /// Environment steps taken.
    pub step: u64,
    /// Gradient steps taken.
    pub updates: u64,
    /// Loss of the latest update.
    pub loss: f64,
    /// Mean Q(s, a) of the latest batch.
    pub mean_q: f64,
    /// Current learning rate.
    pub learning_rate: f64,
}

/// One periodic greedy evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalRecord {
    /// Environment steps taken.
    pub step: u64,
    /// The evaluation's returns.
    pub stats: EvalStats,
}

/// A periodic progress report, for progress bars.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Progress {
    /// Environment steps taken.
    pub step: u64,
    /// The step budget.
    pub total_timesteps: u64,
    /// Finished episodes.
    pub episodes: u64,
    /// The episode budget, if any.
    pub max_episodes: Option<u64>,
    /// Current ε.
    pub epsilon: f64,
    /// Mean return of the last 100 episodes, once one has finished.
    pub mean_return_100: Option<f64>,
    /// Seconds since training started.
    pub wall_s: f64,
}

/// Receives what the training loop reports; the CLI writes CSVs, progress bars and
/// TensorBoard files through it. Every method has a do-nothing default.
pub trait Observer {
    /// Called when a training episode ends.
    fn on_episode(&mut self, _record: &EpisodeRecord) {}
    /// Called every `log_interval` gradient steps.
    fn on_update(&mut self, _record: &UpdateRecord) {}
    /// Called after each periodic evaluation.
    fn on_eval(&mut self, _record: &EvalRecord) {}
    /// Called every few hundred environment steps.
    fn on_progress(&mut self, _progress: &Progress) {}
    /// Polled once per environment step; returning true ends training early (a
    /// checkpoint is written first).
    fn should_stop(&mut self) -> bool {
        false
    }
    /// Whether to encode checkpoints for [`Observer::on_checkpoint`] at all; encoding a large
    /// replay buffer takes time, so observers that do not save them say no.
    fn wants_checkpoints(&self) -> bool {
        false
    }
    /// Receives an encoded checkpoint every `checkpoint_freq`, when training stops early, and
    /// at the end of training (if [`Observer::wants_checkpoints`]); [`crate::train::resume`] continues from
    /// it bit for bit.
    fn on_checkpoint(&mut self, _checkpoint: &[u8], _step: u64) {}
}

/// An observer that ignores everything.
impl Observer for () {}
