//! What a training run reports while it runs: the [`Observer`] trait and its records. The CLI
//! writes CSV logs, progress bars and TensorBoard files through it; the Python package calls
//! back into Python.

use serde::Serialize;

use crate::eval::{EvalProgress, EvalStats};
use crate::model::Model;
use crate::replay::ReplayFill;

/// One finished training episode.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpisodeRecord {
    /// 1-based episode number.
    pub episode: u64,
    /// The environment copy that played it.
    pub env: usize,
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
    /// Steps of the longest training episode under way, once it has run past
    /// `eval_max_episode_steps`: a policy that never ends an episode in an environment
    /// without a time limit, made visible.
    pub long_episode_steps: Option<u64>,
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
    /// Called during every evaluation (periodic, final, or a front end's own) every
    /// [`EVAL_PROGRESS_INTERVAL`](crate::eval::EVAL_PROGRESS_INTERVAL) steps and after each
    /// episode.
    fn on_eval_progress(&mut self, _progress: &EvalProgress) {}
    /// Polled once per environment step; returning true ends training early (a
    /// checkpoint is written first).
    fn should_stop(&mut self) -> bool {
        false
    }
    /// Polled after every evaluation step; returning true abandons the evaluation. During
    /// training this ends the run as [`Observer::should_stop`] does (an interrupted periodic
    /// evaluation is done again when the run resumes). A separate poll from `should_stop`,
    /// which observers may count as training steps.
    fn should_stop_evaluating(&mut self) -> bool {
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

    /// [`Observer::should_stop`], with the run to read from (between two steps): an
    /// observer that reads the model or replay buffer while it trains implements this one
    /// (SB3's callbacks evaluate and save the model during training).
    fn should_stop_at(&mut self, _run: &dyn RunView) -> bool {
        self.should_stop()
    }

    /// The learning rate for the gradient steps about to run, when the observer schedules
    /// it (SB3's callable `learning_rate`) instead of the config: asked once per training
    /// phase with SB3's `progress_remaining`, `1 − steps / total_timesteps`.
    fn learning_rate(&mut self, _progress_remaining: f64) -> Option<f64> {
        None
    }
}

/// An observer that ignores everything.
impl Observer for () {}

/// What an observer may read of a run between two steps.
pub trait RunView {
    /// Gradient steps taken since the counters last started: the model changes only when
    /// this does.
    fn updates(&self) -> u64;
    /// The model as it is now.
    fn model(&self) -> Model;
    /// The target network as it is now, if the algorithm keeps one apart from the model.
    fn target_model(&self) -> Option<Model>;
    /// The replay buffer as bytes ([`crate::checkpoint::encode_replay`]), if the algorithm
    /// has one.
    fn replay_bytes(&self) -> Option<Vec<u8>>;
    /// How full the replay buffer is, if the algorithm has one.
    fn replay_fill(&self) -> Option<ReplayFill>;
    /// The last vector step, if the algorithm steps its copies one step at a time.
    fn last_step(&self) -> Option<LastStep<'_>>;
}

/// The last vector step of every environment copy (SB3's callbacks read it as `new_obs`,
/// `actions` and `rewards`).
#[derive(Clone, Copy, Debug)]
pub struct LastStep<'a> {
    /// The observation each copy acts on next (the first of a new episode where one ended),
    /// flat, one row per copy.
    pub new_obs: &'a [f32],
    /// The action each copy took.
    pub actions: &'a [usize],
    /// The reward each copy received (0 for a copy that only reset).
    pub rewards: &'a [f64],
}

/// Two observers that both receive every report: a run's logs beside a front end's own
/// reporting (progress bars, Python callbacks). Training stops when either asks; both are
/// polled every step, since an observer may count its polls.
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn on_episode(&mut self, record: &EpisodeRecord) {
        self.0.on_episode(record);
        self.1.on_episode(record);
    }
    fn on_update(&mut self, record: &UpdateRecord) {
        self.0.on_update(record);
        self.1.on_update(record);
    }
    fn on_eval(&mut self, record: &EvalRecord) {
        self.0.on_eval(record);
        self.1.on_eval(record);
    }
    fn on_progress(&mut self, progress: &Progress) {
        self.0.on_progress(progress);
        self.1.on_progress(progress);
    }
    fn on_eval_progress(&mut self, progress: &EvalProgress) {
        self.0.on_eval_progress(progress);
        self.1.on_eval_progress(progress);
    }
    fn should_stop_at(&mut self, run: &dyn RunView) -> bool {
        let first = self.0.should_stop_at(run);
        let second = self.1.should_stop_at(run);
        first || second
    }

    fn should_stop(&mut self) -> bool {
        let first = self.0.should_stop();
        let second = self.1.should_stop();
        first || second
    }
    fn should_stop_evaluating(&mut self) -> bool {
        let first = self.0.should_stop_evaluating();
        let second = self.1.should_stop_evaluating();
        first || second
    }
    fn wants_checkpoints(&self) -> bool {
        self.0.wants_checkpoints() || self.1.wants_checkpoints()
    }
    fn learning_rate(&mut self, progress_remaining: f64) -> Option<f64> {
        self.0
            .learning_rate(progress_remaining)
            .or_else(|| self.1.learning_rate(progress_remaining))
    }

    fn on_checkpoint(&mut self, checkpoint: &[u8], step: u64) {
        if self.0.wants_checkpoints() {
            self.0.on_checkpoint(checkpoint, step);
        }
        if self.1.wants_checkpoints() {
            self.1.on_checkpoint(checkpoint, step);
        }
    }
}
