//! The training core that every algorithm shares.
//!
//! An algorithm ([`Algorithm`]) supplies only its own step: collect some experience and learn
//! from it. Everything else lives here, once: the budget and stop-on-solve, episode
//! bookkeeping and the rolling mean return, periodic greedy evaluations and their seed,
//! progress reports, checkpoints and bit-exact resume, Ctrl-C (through
//! [`Observer::should_stop`]), divergence handling, and the summary.
//!
//! A [`Session`] is one run: the shared [`RunState`], the evaluation environment and the
//! algorithm. Serializing a session is checkpointing it.

use std::collections::VecDeque;
use std::time::Instant;

use deepq_envs::{Env, EnvSpec};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, CheckpointError, CheckpointHeader};
use crate::config::{Count, DqnConfig};
use crate::error::TrainError;
use crate::eval::{EvalPlan, EvalStats, evaluate};
use crate::model::Model;
use crate::observer::{
    EpisodeRecord, EvalRecord, LastStep, Observer, Progress, RunView, UpdateRecord,
};
use crate::replay::{Replay, ReplayFill};
use crate::rng::{Stream, restart_seed, stream_rng};
use crate::schedule::epsilon_greedy;

/// A learning algorithm, as the core runs it: it owns its environments, networks or table,
/// buffers and random streams, and advances them one step at a time.
pub trait Algorithm<E: Env>: Serialize + DeserializeOwned {
    /// A fresh run of `cfg` (already validated) on copies of `env`: environments reset with
    /// the run's seed, the model initialised.
    fn new(cfg: &DqnConfig, env: &E) -> Result<Self, TrainError>
    where
        Self: Sized;

    /// Environment copies that collect experience (episodes are tracked per copy).
    fn n_envs(&self) -> usize;

    /// One step of the algorithm: collect experience, reporting every environment step to
    /// `run` ([`RunState::env_step`]) and every gradient step ([`RunState::record_update`]),
    /// and learn from it. DQN steps its vector env once; PQN runs a whole rollout.
    fn step(&mut self, run: &mut RunState, observer: &mut dyn Observer) -> Result<(), TrainError>;

    /// ε of the behaviour policy now, for progress reports.
    fn epsilon(&self, run: &RunState) -> f64;

    /// The greedy policy over flat observations, for evaluation.
    fn greedy_policy(&mut self) -> impl FnMut(&[f32]) -> usize + '_;

    /// Whether a state decoded from a checkpoint fits `cfg` and a fresh `env`.
    fn fits(&self, cfg: &DqnConfig, env: &E) -> bool;

    /// The trained model.
    fn model(&self) -> Model;

    /// The target network as a model, if the algorithm keeps one apart from the model.
    fn target_model(&self) -> Option<Model> {
        None
    }

    /// Config keys the algorithm reads afresh at every step, which may therefore change
    /// between the calls of a continued run ([`Session::continue_with`]).
    const LIVE_KEYS: &'static [&'static str] = &[];

    /// Ends the episodes under way and starts new ones from a reset: without a seed (each
    /// copy goes on with its own random state), as SB3's `learn()` does when it resets its
    /// step count (`restart_counters`; what the algorithm counts itself restarts with it), or
    /// with `seed` for copy 0, `seed + 1` for copy 1, …. An algorithm that cannot continue a
    /// run says so.
    fn restart_episodes(
        &mut self,
        cfg: &DqnConfig,
        _restart_counters: bool,
        _seed: Option<u64>,
    ) -> Result<(), TrainError> {
        Err(TrainError::CannotContinue(cfg.algorithm.name()))
    }

    /// Replaces the weights of the online (and target) network with `model`'s, which must
    /// have the same architecture; the optimizer state is kept.
    fn load_model(&mut self, _model: &Model, cfg: &DqnConfig) -> Result<(), TrainError> {
        Err(TrainError::CannotContinue(cfg.algorithm.name()))
    }

    /// The replay buffer, if the algorithm has one.
    fn replay(&self) -> Option<&Replay> {
        None
    }

    /// The last vector step, if the algorithm steps its copies one step at a time.
    fn last_step(&self) -> Option<LastStep<'_>> {
        None
    }

    /// Replaces the replay buffer with `replay` if it fits the run's config and environment;
    /// returns whether it did.
    fn set_replay(&mut self, _replay: Replay, _cfg: &DqnConfig, _env: &E) -> bool {
        false
    }
}

/// Config keys read afresh at every step by the core (the budget, logging, checkpoints and
/// evaluation) and by every algorithm that continues (ε's schedule, through
/// `DqnConfig::exploration`).
const LIVE_KEYS: &[&str] = &[
    "exploration_schedule",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "exploration_decay_steps",
    "exploration_decay_episodes",
    "total_timesteps",
    "episodes",
    "log_interval",
    "checkpoint_freq",
    "eval_freq",
    "eval_episodes",
    "final_eval_episodes",
    "eval_max_episode_steps",
    "eval_epsilon",
    "stop_on_solve",
    "stop_reward_threshold",
    "rolling_window",
];

/// What a training run achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Environment id.
    pub env: String,
    /// The run's seed.
    pub seed: u64,
    /// The configured step budget.
    pub total_timesteps: u64,
    /// Environment steps taken.
    pub env_steps: u64,
    /// Finished training episodes.
    pub episodes: u64,
    /// Gradient steps taken.
    pub updates: u64,
    /// Wall-clock seconds of training, over every session of a resumed run (the final
    /// evaluation excluded).
    pub wall_s: f64,
    /// Environment steps per second.
    pub steps_per_s: f64,
    /// Gradient steps per second.
    pub updates_per_s: f64,
    /// The final greedy evaluation; none when training was interrupted.
    pub eval: Option<EvalStats>,
    /// The environment's reward threshold.
    pub reward_threshold: f64,
    /// Whether the final evaluation's mean reached the threshold (false when interrupted).
    pub solved: bool,
    /// Step of the first periodic evaluation whose mean reached the threshold.
    pub solved_at_step: Option<u64>,
    /// Whether training, or the final evaluation, was stopped early by the observer.
    pub interrupted: bool,
    /// Steps of the longest training episode still under way when training ended, when it
    /// had run past `eval_max_episode_steps`: in an environment without a time limit, a
    /// policy that never ends an episode.
    #[serde(default)]
    pub long_episode_steps: Option<u64>,
    /// The kernel of the network's matrix products (`"f32"`, `"bf16-amx"`, `"bf16-avx512"`,
    /// `"bf16-portable"`); none for tabular runs.
    #[serde(default)]
    pub matmul_path: Option<String>,
}

/// The evaluation env is reset with this offset from the run's seed, so it never replays
/// the training envs' episodes (those use `seed + i`).
const EVAL_SEED_OFFSET: u64 = 1_000_000_007;

/// Environment steps between two [`Observer::on_progress`] calls.
const PROGRESS_INTERVAL: u64 = 500;

/// Episodes in the rolling mean return reported with progress.
const ROLLING_EPISODES: usize = 100;

/// Returns and lengths of the episodes under way in each environment copy, and the count and
/// recent returns of the finished ones.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Episodes {
    returns: Vec<f64>,
    lengths: Vec<u64>,
    recent: VecDeque<f64>,
    finished: u64,
}

/// The state every algorithm shares: the config, the counters, episode bookkeeping and the
/// schedule of evaluations and checkpoints.
#[derive(Serialize, Deserialize)]
pub struct RunState {
    /// The run's config; it travels in the checkpoint header.
    #[serde(skip)]
    pub cfg: DqnConfig,
    /// The environment's id, step limit and reward threshold.
    pub spec: EnvSpec,
    /// Environment steps taken (every copy counts).
    pub steps: u64,
    /// Gradient steps taken.
    pub updates: u64,
    episodes: Episodes,
    next_eval: u64,
    next_checkpoint: u64,
    next_progress: u64,
    solved_at_step: Option<u64>,
    stop_reached: bool,
    /// Training seconds of earlier sessions of a resumed run.
    wall_before: f64,
    #[serde(skip, default = "Instant::now")]
    session_start: Instant,
}

impl RunState {
    fn new(cfg: DqnConfig, spec: EnvSpec, n_envs: usize) -> Self {
        RunState {
            spec,
            steps: 0,
            updates: 0,
            episodes: Episodes {
                returns: vec![0.0; n_envs],
                lengths: vec![0; n_envs],
                recent: VecDeque::with_capacity(ROLLING_EPISODES),
                finished: 0,
            },
            next_eval: cfg.eval.freq.n,
            next_checkpoint: cfg.run.checkpoint_freq.n,
            next_progress: PROGRESS_INTERVAL,
            solved_at_step: None,
            stop_reached: false,
            wall_before: 0.0,
            session_start: Instant::now(),
            cfg,
        }
    }

    /// Starts the counters, episode bookkeeping and schedules afresh for `cfg`, as a new run
    /// on the same environment copies.
    fn restart(&mut self, cfg: DqnConfig) {
        *self = RunState::new(cfg, self.spec.clone(), self.episodes.returns.len());
    }

    /// Forgets the returns and lengths of the episodes under way, which were cut.
    fn drop_episodes_under_way(&mut self) {
        self.episodes.returns.fill(0.0);
        self.episodes.lengths.fill(0);
    }

    /// Continues with `cfg` from the current counters; periodic events whose interval
    /// changed are next due at the interval's next multiple.
    fn reconfigure(&mut self, cfg: DqnConfig) {
        let (steps, episodes) = (self.steps, self.episodes());
        let next = |every: Count, current: u64| match every.n {
            0 => current,
            n => (every.of(steps, episodes) / n + 1) * n,
        };
        if cfg.eval.freq != self.cfg.eval.freq {
            self.next_eval = next(cfg.eval.freq, self.next_eval);
        }
        if cfg.run.checkpoint_freq != self.cfg.run.checkpoint_freq {
            self.next_checkpoint = next(cfg.run.checkpoint_freq, self.next_checkpoint);
        }
        self.stop_reached = false;
        self.cfg = cfg;
    }

    /// Finished episodes.
    pub fn episodes(&self) -> u64 {
        self.episodes.finished
    }

    /// Training seconds so far, over every session of a resumed run.
    pub fn wall_s(&self) -> f64 {
        self.wall_before + self.session_start.elapsed().as_secs_f64()
    }

    /// Records one step of environment copy `env`, the run's step number `step`: adds
    /// `reward` to its episode and, if the episode `ended`, reports it (with the `epsilon`
    /// it was played with) and starts the next. Returns `ended`.
    pub fn env_step(
        &mut self,
        env: usize,
        reward: f64,
        ended: bool,
        step: u64,
        epsilon: f64,
        observer: &mut dyn Observer,
    ) -> bool {
        let e = &mut self.episodes;
        e.returns[env] += reward;
        e.lengths[env] += 1;
        if ended {
            e.finished += 1;
            let record = EpisodeRecord {
                episode: e.finished,
                env,
                step,
                ret: e.returns[env],
                length: e.lengths[env],
                epsilon,
                wall_s: self.wall_before + self.session_start.elapsed().as_secs_f64(),
            };
            if e.recent.len() == ROLLING_EPISODES {
                e.recent.pop_front();
            }
            e.recent.push_back(record.ret);
            observer.on_episode(&record);
            e.returns[env] = 0.0;
            e.lengths[env] = 0;
        }
        ended
    }

    /// Counts one gradient step with its `loss` and mean Q-value, logs it every
    /// `log_interval` updates, and stops the run if either is NaN or infinite.
    pub fn record_update(
        &mut self,
        loss: f64,
        mean_q: f64,
        learning_rate: f64,
        observer: &mut dyn Observer,
    ) -> Result<(), TrainError> {
        self.updates += 1;
        if !loss.is_finite() || !mean_q.is_finite() {
            let loss = if loss.is_finite() { mean_q } else { loss };
            return Err(TrainError::Diverged {
                step: self.steps,
                loss,
            });
        }
        if self.updates.is_multiple_of(self.cfg.run.log_interval) {
            observer.on_update(&UpdateRecord {
                step: self.steps,
                updates: self.updates,
                loss,
                mean_q,
                learning_rate,
            });
        }
        Ok(())
    }

    /// The step or episode budget is spent, or a periodic evaluation met the stop criterion.
    fn finished(&self) -> bool {
        self.steps >= self.cfg.run.total_timesteps
            || self
                .cfg
                .run
                .episodes
                .is_some_and(|max| self.episodes() >= max)
            || self.stop_reached
    }

    /// Whether a periodic event counted by `every` is due now; if so, advances `next` past
    /// the current count. `every.n == 0` never fires.
    fn due(&self, every: Count, next: &mut u64) -> bool {
        let now = every.of(self.steps, self.episodes());
        if every.n == 0 || now < *next {
            return false;
        }
        while *next <= now {
            *next += every.n;
        }
        true
    }

    /// Steps of the longest training episode under way, if it has run past
    /// `eval_max_episode_steps`.
    fn long_episode_steps(&self) -> Option<u64> {
        let longest = self.episodes.lengths.iter().copied().max()?;
        (longest >= self.cfg.eval.max_episode_steps).then_some(longest)
    }

    fn progress(&self, epsilon: f64) -> Progress {
        let recent = &self.episodes.recent;
        Progress {
            step: self.steps,
            total_timesteps: self.cfg.run.total_timesteps,
            episodes: self.episodes(),
            max_episodes: self.cfg.run.episodes,
            epsilon,
            mean_return_100: (!recent.is_empty())
                .then(|| recent.iter().sum::<f64>() / recent.len() as f64),
            wall_s: self.wall_s(),
            long_episode_steps: self.long_episode_steps(),
        }
    }
}

impl<E, A> RunView for Session<E, A>
where
    E: Env + Clone + Serialize + DeserializeOwned,
    A: Algorithm<E>,
{
    fn updates(&self) -> u64 {
        self.run.updates
    }

    fn model(&self) -> Model {
        self.algorithm.model()
    }

    fn target_model(&self) -> Option<Model> {
        self.algorithm.target_model()
    }

    fn replay_bytes(&self) -> Option<Vec<u8>> {
        self.algorithm
            .replay()
            .map(|replay| checkpoint::encode_replay(&self.run.cfg, replay))
    }

    fn replay_fill(&self) -> Option<ReplayFill> {
        self.algorithm.replay().map(|r| r.storage().fill())
    }

    fn last_step(&self) -> Option<LastStep<'_>> {
        self.algorithm.last_step()
    }
}

/// One training run: the shared state, the evaluation environment and the algorithm.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "E: Serialize", deserialize = "E: DeserializeOwned"))]
pub struct Session<E: Env, A: Algorithm<E>> {
    run: RunState,
    eval_env: E,
    algorithm: A,
}

impl<E, A> Session<E, A>
where
    E: Env + Clone + Serialize + DeserializeOwned,
    A: Algorithm<E>,
{
    /// A fresh run of `cfg` (already validated) on `env`, described by `spec`.
    pub fn new(cfg: DqnConfig, env: E, spec: EnvSpec) -> Result<Self, TrainError> {
        let algorithm = A::new(&cfg, &env)?;
        Ok(Session {
            run: RunState::new(cfg, spec, algorithm.n_envs()),
            eval_env: env,
            algorithm,
        })
    }

    /// A run restored from checkpoint bytes; `env` is a fresh instance of the run's
    /// environment, which `spec` describes, used to check that the checkpoint fits it.
    pub fn restore(bytes: &[u8], env: &E, spec: &EnvSpec) -> Result<Self, CheckpointError> {
        let (header, state) = checkpoint::read_header(bytes)?;
        let mut session: Self = checkpoint::decode_state(state)?;
        if session.run.spec.id != spec.id {
            return Err(CheckpointError::OtherEnv {
                saved: session.run.spec.id.clone(),
                given: spec.id.clone(),
            });
        }
        let cfg = header.config;
        let episodes = &session.run.episodes;
        let n = session.algorithm.n_envs();
        let fits = session.algorithm.fits(&cfg, env)
            && session.run.steps == header.steps
            && episodes.finished == header.episodes
            && episodes.returns.len() == n
            && episodes.lengths.len() == n;
        if !fits {
            return Err(CheckpointError::Decode(format!(
                "its model, buffers or counters do not fit {} with this config",
                cfg.run.env
            )));
        }
        session.run.cfg = cfg;
        Ok(session)
    }

    /// The algorithm being trained.
    pub fn algorithm(&self) -> &A {
        &self.algorithm
    }

    /// The run's config.
    pub fn config(&self) -> &DqnConfig {
        &self.run.cfg
    }

    /// Environment steps taken since the counters last started.
    pub fn steps(&self) -> u64 {
        self.run.steps
    }

    /// Episodes finished since the counters last started.
    pub fn episodes(&self) -> u64 {
        self.run.episodes()
    }

    /// Whether the run could go on with `cfg`: it may differ from the run's config only in
    /// keys read afresh at every step (the budget, exploration, when and how fast to train,
    /// evaluation), not in what shapes the network, optimizer, replay or random streams.
    pub fn check_config(&self, cfg: &DqnConfig) -> Result<(), TrainError> {
        cfg.validate()?;
        let fixed = self.run.cfg.changed_keys(cfg).into_iter().find(|key| {
            !LIVE_KEYS.contains(&key.as_str()) && !A::LIVE_KEYS.contains(&key.as_str())
        });
        match fixed {
            Some(key) => Err(TrainError::FixedKey(key)),
            None => Ok(()),
        }
    }

    /// Prepares the run to go on with `cfg` (see [`Session::check_config`]) from its
    /// weights, optimizer state and replay, as SB3's `learn()` does on a model that has
    /// trained. With `restart_counters`, SB3's `reset_num_timesteps=True`: the step count,
    /// episodes, schedules and their evaluations start afresh, on episodes started anew;
    /// without it, the counters go on and `cfg`'s `total_timesteps` counts from the start.
    /// `restart_episodes` alone starts new episodes but keeps the counters (for an
    /// environment that the evaluation shares, whose episode it has ended).
    pub fn continue_with(
        &mut self,
        cfg: DqnConfig,
        restart_counters: bool,
        restart_episodes: bool,
    ) -> Result<(), TrainError> {
        self.check_config(&cfg)?;
        if restart_counters || restart_episodes {
            self.algorithm
                .restart_episodes(&cfg, restart_counters, None)?;
        }
        if restart_counters {
            self.run.restart(cfg);
        } else {
            if restart_episodes {
                self.run.drop_episodes_under_way();
            }
            self.run.reconfigure(cfg);
        }
        Ok(())
    }

    /// Starts new episodes on a run restored from a checkpoint that could not hold its
    /// environment (a Python env, whose place the checkpoint kept): its copies are fresh, so
    /// the episodes under way at the checkpoint are cut and forgotten (as when a continued
    /// run restarts its episodes: their n-step transitions still waiting for returns are
    /// dropped, and their returns are not logged), and new ones start from a reset seeded
    /// from the run's seed and step ([`restart_seed`]).
    pub fn restart_detached_episodes(&mut self) -> Result<(), TrainError> {
        let seed = restart_seed(self.run.cfg.run.seed, self.run.steps);
        self.algorithm
            .restart_episodes(&self.run.cfg, false, Some(seed))?;
        self.run.drop_episodes_under_way();
        Ok(())
    }

    /// Replaces the network's weights with `model`'s (same architecture); the optimizer
    /// state, replay and counters are kept.
    pub fn load_model(&mut self, model: &Model) -> Result<(), TrainError> {
        self.algorithm.load_model(model, &self.run.cfg)
    }

    /// Replaces the replay buffer with one saved by [`RunView::replay_bytes`] for the same
    /// environment and replay settings.
    pub fn load_replay(&mut self, bytes: &[u8]) -> Result<(), CheckpointError> {
        let (saved, replay) = checkpoint::decode_replay(bytes)?;
        if self
            .algorithm
            .set_replay(replay, &self.run.cfg, &self.eval_env)
        {
            return Ok(());
        }
        Err(CheckpointError::Decode(format!(
            "it holds {}'s transitions with other replay settings than this run's ({}, buffer_size {}, n_steps {})",
            saved.run.env,
            self.run.cfg.run.env,
            self.run.cfg.replay.buffer_size,
            self.run.cfg.replay.n_steps
        )))
    }

    /// The run as checkpoint bytes.
    pub fn checkpoint(&self) -> Vec<u8> {
        let header = CheckpointHeader {
            deepq_version: env!("CARGO_PKG_VERSION").to_string(),
            config: self.run.cfg.clone(),
            steps: self.run.steps,
            episodes: self.run.episodes(),
        };
        checkpoint::encode(&header, self)
    }

    /// Trains until the step or episode budget is spent (or the observer stops it), then
    /// evaluates the greedy policy. Returns the summary and the trained model.
    pub fn run(
        &mut self,
        observer: &mut dyn Observer,
    ) -> Result<(TrainSummary, Model), TrainError> {
        self.run.session_start = Instant::now();
        // A run stopped during a periodic evaluation left it due, so a resumed run does it
        // first, at the step it was due, as the uninterrupted run did.
        let mut interrupted = !self.periodic_evaluation(observer);
        while !interrupted && !self.run.finished() {
            if observer.should_stop_at(&*self) {
                interrupted = true;
                break;
            }
            self.algorithm.step(&mut self.run, observer)?;

            if !self.periodic_evaluation(observer) {
                interrupted = true;
                break;
            }

            let mut next = self.run.next_checkpoint;
            if self.run.due(self.run.cfg.run.checkpoint_freq, &mut next) {
                self.run.next_checkpoint = next;
                self.save(observer, self.run.wall_s());
            }

            let mut next = self.run.next_progress;
            if self.run.due(Count::steps(PROGRESS_INTERVAL), &mut next) {
                self.run.next_progress = next;
                observer.on_progress(&self.run.progress(self.algorithm.epsilon(&self.run)));
            }
        }
        observer.on_progress(&self.run.progress(self.algorithm.epsilon(&self.run)));
        // The last checkpoint records the summary's wall time, so a resumed run's total
        // continues from exactly what the interrupted run reported.
        let wall_s = self.run.wall_s();
        self.save(observer, wall_s);
        // A continued run's wall time goes on from here.
        self.run.wall_before = wall_s;

        let eval = if interrupted {
            None
        } else {
            self.evaluate(self.run.cfg.eval.final_episodes, observer)
        };
        interrupted |= eval.is_none();
        let run = &self.run;
        let summary = TrainSummary {
            env: run.spec.id.clone(),
            seed: run.cfg.run.seed,
            total_timesteps: run.cfg.run.total_timesteps,
            env_steps: run.steps,
            episodes: run.episodes(),
            updates: run.updates,
            wall_s,
            steps_per_s: run.steps as f64 / wall_s.max(1e-9),
            updates_per_s: run.updates as f64 / wall_s.max(1e-9),
            solved: eval
                .as_ref()
                .is_some_and(|e| e.mean >= run.spec.reward_threshold),
            eval,
            reward_threshold: run.spec.reward_threshold,
            solved_at_step: run.solved_at_step,
            interrupted,
            long_episode_steps: run.long_episode_steps(),
            matmul_path: (run.cfg.algorithm != crate::config::Algorithm::Tabular)
                .then(|| run.cfg.network.precision.matmul_path().to_string()),
        };
        Ok((summary, self.algorithm.model()))
    }

    /// Hands the observer a checkpoint recording `wall_s` seconds of training so far.
    fn save(&mut self, observer: &mut dyn Observer, wall_s: f64) {
        if !observer.wants_checkpoints() {
            return;
        }
        let before = self.run.wall_before;
        self.run.wall_before = wall_s;
        observer.on_checkpoint(&self.checkpoint(), self.run.steps);
        self.run.wall_before = before;
    }

    /// Runs the periodic evaluation if one is due, and reports it. Returns false if the
    /// observer stopped it; it then stays due, for a resumed run to do.
    fn periodic_evaluation(&mut self, observer: &mut dyn Observer) -> bool {
        let mut next = self.run.next_eval;
        if !self.run.due(self.run.cfg.eval.freq, &mut next) {
            return true;
        }
        let Some(stats) = self.evaluate(self.run.cfg.eval.episodes, observer) else {
            return false;
        };
        let run = &mut self.run;
        run.next_eval = next;
        if run.solved_at_step.is_none() && stats.mean >= run.spec.reward_threshold {
            run.solved_at_step = Some(run.steps);
        }
        run.stop_reached |= run.cfg.stops_at(stats.mean, run.spec.reward_threshold);
        observer.on_eval(&EvalRecord {
            step: run.steps,
            stats,
        });
        true
    }

    /// Greedy episodes on the evaluation env, always from the same seed so that
    /// evaluations over a run are comparable; `None` if the observer stopped them.
    fn evaluate(&mut self, episodes: usize, observer: &mut dyn Observer) -> Option<EvalStats> {
        let seed = self.run.cfg.run.seed.wrapping_add(EVAL_SEED_OFFSET);
        let plan = EvalPlan {
            episodes,
            seed: Some(seed),
            max_episode_steps: self.run.cfg.eval.max_episode_steps,
        };
        let epsilon = self.run.cfg.eval.epsilon;
        let n_actions = self.eval_env.n_actions();
        let mut greedy = self.algorithm.greedy_policy();
        if epsilon == 0.0 {
            return evaluate(&mut self.eval_env, &plan, greedy, observer);
        }
        let mut rng = stream_rng(seed, Stream::EvalExplore);
        let policy = |obs: &[f32]| epsilon_greedy(&mut rng, epsilon, n_actions, |_| greedy(obs));
        evaluate(&mut self.eval_env, &plan, policy, observer)
    }
}
