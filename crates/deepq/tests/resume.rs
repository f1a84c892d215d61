//! Interrupting a run at any step, checkpointing and resuming gives a run bit-identical to an
//! uninterrupted one: same weights, same episodes, same evaluations, same summary.

use deepq::config::Count;
use deepq::train::{EpisodeRecord, EvalRecord, Observer, resume};
use deepq::{DqnConfig, Preset, TrainOutcome, train};

#[derive(Default)]
struct Recorder {
    stop_after_polls: Option<u64>,
    polls: u64,
    stop_evaluating_after_polls: Option<u64>,
    eval_polls: u64,
    checkpoints: Vec<(u64, Vec<u8>)>,
    episodes: Vec<EpisodeRecord>,
    evals: Vec<EvalRecord>,
}

impl Observer for Recorder {
    fn on_episode(&mut self, r: &EpisodeRecord) {
        self.episodes.push(EpisodeRecord {
            wall_s: 0.0,
            ..r.clone()
        });
    }
    fn on_eval(&mut self, r: &EvalRecord) {
        self.evals.push(r.clone());
    }
    fn should_stop(&mut self) -> bool {
        self.polls += 1;
        self.stop_after_polls.is_some_and(|k| self.polls > k)
    }
    fn should_stop_evaluating(&mut self) -> bool {
        self.eval_polls += 1;
        self.stop_evaluating_after_polls
            .is_some_and(|k| self.eval_polls > k)
    }
    fn wants_checkpoints(&self) -> bool {
        true
    }
    fn on_checkpoint(&mut self, bytes: &[u8], step: u64) {
        self.checkpoints.push((step, bytes.to_vec()));
    }
}

/// The trained model, bit for bit: its saved file.
fn bits(outcome: &TrainOutcome) -> Vec<u8> {
    outcome.model.to_safetensors()
}

fn check_resume_is_exact(cfg: &DqnConfig, interruptions: &[u64]) {
    let cuts = interruptions.iter().map(|&k| Recorder {
        stop_after_polls: Some(k),
        ..Recorder::default()
    });
    check_resumes_after(cfg, cuts);
}

/// The same, for runs stopped during an evaluation after each of `eval_polls` evaluation steps.
fn check_resume_after_evaluation_stops(cfg: &DqnConfig, eval_polls: &[u64]) {
    let cuts = eval_polls.iter().map(|&k| Recorder {
        stop_evaluating_after_polls: Some(k),
        ..Recorder::default()
    });
    check_resumes_after(cfg, cuts);
}

/// Trains `cfg` whole, then once with each of `cuts` stopping it and once more resumed from
/// the checkpoint written when it stopped: the two must agree bit for bit.
fn check_resumes_after(cfg: &DqnConfig, cuts: impl Iterator<Item = Recorder>) {
    let mut whole = Recorder::default();
    let reference = train(cfg, &mut whole).unwrap();
    assert!(!reference.summary.interrupted);
    assert!(reference.summary.updates > 0);
    for mut first in cuts {
        let k = (first.stop_after_polls, first.stop_evaluating_after_polls);
        let k = format!("{k:?}");
        let cut = train(cfg, &mut first).unwrap();
        assert!(cut.summary.interrupted, "stop after {k} polls");
        assert!(cut.summary.eval.is_none());
        let (step, bytes) = first.checkpoints.last().unwrap().clone();
        assert_eq!(step, cut.summary.env_steps);

        let mut second = Recorder::default();
        let resumed = resume(&bytes, &mut second).unwrap();
        assert_eq!(
            bits(&resumed),
            bits(&reference),
            "{}: weights differ after an interruption at poll {k}",
            cfg.run.env
        );
        first.episodes.extend(second.episodes);
        first.evals.extend(second.evals);
        assert_eq!(
            first.episodes, whole.episodes,
            "episode history differs (interruption at {k})"
        );
        assert_eq!(
            first.evals, whole.evals,
            "evaluations differ (interruption at {k})"
        );
        let (a, b) = (&resumed.summary, &reference.summary);
        assert_eq!(
            (
                a.env_steps,
                a.episodes,
                a.updates,
                &a.eval,
                a.solved,
                a.solved_at_step
            ),
            (
                b.env_steps,
                b.episodes,
                b.updates,
                &b.eval,
                b.solved,
                b.solved_at_step
            )
        );
        assert!(
            a.wall_s >= cut.summary.wall_s,
            "wall time accumulates over sessions"
        );
    }
}

fn short(mut cfg: DqnConfig) -> DqnConfig {
    cfg.run.total_timesteps = 3_000;
    cfg.replay.learning_starts = Count::steps(400);
    cfg.eval.freq = Count::steps(1_000);
    cfg.eval.episodes = 2;
    cfg.eval.final_episodes = 3;
    cfg.eval.stop_on_solve = false;
    cfg.run.checkpoint_freq = Count::steps(700);
    cfg
}

/// A MinAtar Breakout preset shrunk to a short run: a 4-filter strided conv layer, 16 hidden
/// units, a 1,000-transition buffer, evaluations at 700 steps, checkpoints every 400.
#[cfg(feature = "minatar")]
fn small_minatar(preset: &str, total_timesteps: u64) -> DqnConfig {
    let mut cfg = Preset::find(preset).unwrap().config().unwrap();
    cfg.run.total_timesteps = total_timesteps;
    cfg.replay.learning_starts = Count::steps(300);
    cfg.replay.buffer_size = 1_000;
    cfg.network.cnn = vec![vec![4, 3, 2, 1]];
    cfg.network.net_arch = vec![16];
    cfg.eval.freq = Count::steps(700);
    cfg.eval.episodes = 2;
    cfg.eval.final_episodes = 2;
    cfg.run.checkpoint_freq = Count::steps(400);
    cfg
}

#[test]
fn default_preset_resumes_exactly_wherever_it_stops() {
    let cfg = short(Preset::find("default").unwrap().config().unwrap());
    check_resume_is_exact(&cfg, &[0, 1, 399, 400, 401, 1000, 1777, 2999]);
}

/// Ctrl-C during a periodic evaluation stops the run; the resumed run does that evaluation
/// again at the step it was due, so nothing differs. During the final evaluation, the resumed
/// run only evaluates.
#[test]
fn runs_stopped_during_an_evaluation_resume_exactly() {
    let cfg = short(Preset::find("default").unwrap().config().unwrap());
    let mut whole = Recorder::default();
    train(&cfg, &mut whole).unwrap();
    assert_eq!(whole.evals.len(), 3);
    // Evaluation steps are polled, except the one that ends an episode.
    let polls: Vec<u64> = whole
        .evals
        .iter()
        .map(|e| e.stats.lengths.iter().sum::<u64>() - e.stats.episodes as u64)
        .collect();
    let periodic: u64 = polls.iter().sum();
    // At the first evaluation's first and last polls, within the second, at the end of the
    // last periodic one (at the final step), and within the final evaluation.
    check_resume_after_evaluation_stops(
        &cfg,
        &[0, polls[0] - 1, polls[0] + 3, periodic - 1, periodic + 7],
    );
}

#[test]
fn vectorized_f64_episode_trained_runs_resume_exactly() {
    let mut cfg = short(
        Preset::find("cartpole-vectorized")
            .unwrap()
            .config()
            .unwrap(),
    );
    cfg.run.n_envs = 4;
    cfg.replay.batch_size = 8;
    cfg.replay.buffer_size = 4_000;
    cfg.eval.freq = Count::episodes(20);
    cfg.replay.train_freq = Count::episodes(2);
    check_resume_is_exact(&cfg, &[3, 250, 600]);
}

#[test]
fn discrete_observation_runs_resume_exactly() {
    let mut cfg = short(DqnConfig::default());
    cfg.run.env = "FrozenLake-v1".into();
    cfg.replay.train_freq = Count::steps(1);
    check_resume_is_exact(&cfg, &[5, 1500]);
}

#[test]
fn a_finished_run_resumes_to_the_same_result() {
    let cfg = short(Preset::find("default").unwrap().config().unwrap());
    let mut rec = Recorder::default();
    let done = train(&cfg, &mut rec).unwrap();
    let (_, last) = rec.checkpoints.last().unwrap();
    let again = resume(last, &mut Recorder::default()).unwrap();
    assert_eq!(bits(&again), bits(&done));
    assert_eq!(again.summary.env_steps, done.summary.env_steps);
    assert_eq!(again.summary.updates, done.summary.updates);
}

/// Every Rainbow component at once (sum trees, n-step queues, noise streams) survives a
/// checkpoint: interrupted anywhere, the run continues bit for bit.
#[test]
fn rainbow_runs_resume_exactly() {
    let mut cfg = short(Preset::find("cartpole-rainbow").unwrap().config().unwrap());
    assert!(cfg.is_rainbow());
    assert!(cfg.replay.n_steps > 1 && cfg.dqn.atoms > 1);
    cfg.network.net_arch = vec![32, 32];
    cfg.dqn.atoms = 11;
    cfg.replay.batch_size = 16;
    check_resume_is_exact(&cfg, &[0, 1, 401, 1000, 1777, 2999]);
}

/// The same with vectorized envs (one n-step queue per copy), f64 networks and many
/// truncations (a 40-step limit).
#[test]
fn vectorized_f64_rainbow_runs_resume_exactly() {
    let mut cfg = short(DqnConfig::default());
    cfg.set_rainbow_components(true);
    cfg.run.env = "CartPole-v0".into();
    cfg.run
        .env_kwargs
        .insert("max_episode_steps".into(), deepq::envs::KwValue::Int(40));
    cfg.network.dtype = deepq::config::Dtype::F64;
    cfg.run.n_envs = 3;
    cfg.replay.n_steps = 4;
    cfg.dqn.atoms = 5;
    cfg.dqn.v_min = 0.0;
    cfg.dqn.v_max = 100.0;
    cfg.network.net_arch = vec![16];
    cfg.replay.batch_size = 8;
    cfg.replay.buffer_size = 700;
    cfg.replay.train_freq = Count::steps(2);
    cfg.run.total_timesteps = 6_000;
    check_resume_is_exact(&cfg, &[2, 333, 1500]);
}

/// Components one at a time also resume exactly (each keeps its own state).
#[test]
fn single_components_resume_exactly() {
    let base = short(Preset::find("default").unwrap().config().unwrap());
    let variants: [fn(&mut DqnConfig); 4] = [
        |c| {
            // A support set for a scalar head (as the no-C51 ablation of a Rainbow preset
            // leaves it) is ignored, and does not stop the run from resuming.
            c.replay.n_steps = 3;
            c.dqn.v_min = 0.0;
            c.dqn.v_max = 100.0;
        },
        |c| c.replay.prioritized = true,
        |c| c.dqn.noisy = true,
        |c| {
            c.dqn.dueling = true;
            c.dqn.atoms = 7;
            c.dqn.v_min = 0.0;
            c.dqn.v_max = 100.0;
        },
    ];
    for set in variants {
        let mut cfg = base.clone();
        cfg.network.net_arch = vec![16, 16];
        set(&mut cfg);
        cfg.validate().unwrap();
        check_resume_is_exact(&cfg, &[600, 2100]);
    }
}

/// Tabular runs resume too: the table, the env mid-episode and the exploration stream.
#[test]
fn tabular_runs_resume_exactly() {
    let mut cfg = Preset::find("taxi-tabular").unwrap().config().unwrap();
    cfg.run.total_timesteps = 30_000;
    cfg.eval.freq = Count::steps(5_000);
    cfg.run.checkpoint_freq = Count::steps(7_000);
    cfg.eval.final_episodes = 5;
    check_resume_is_exact(&cfg, &[0, 1, 4_999, 12_345]);
}

/// PQN resumes exactly from a checkpoint written between rollouts.
#[test]
fn pqn_runs_resume_exactly() {
    check_resume_is_exact(&small_pqn(), &[0, 1, 5, 9]);
}

/// PQN on CartPole shrunk to 12 rollouts of 8 envs × 16 steps, checkpoints every 300 steps.
fn small_pqn() -> DqnConfig {
    let mut cfg = Preset::find("pqn-cartpole").unwrap().config().unwrap();
    cfg.run.total_timesteps = 8 * 16 * 12;
    cfg.run.n_envs = 8;
    cfg.pqn.rollout_steps = 16;
    cfg.pqn.n_minibatches = 4;
    cfg.pqn.n_epochs = 2;
    cfg.network.net_arch = vec![32, 32];
    cfg.eval.freq = Count::steps(512);
    cfg.eval.episodes = 2;
    cfg.eval.final_episodes = 2;
    cfg.run.checkpoint_freq = Count::steps(300);
    cfg
}

/// DQN on MinAtar with a convolutional network and bit-packed image replay resumes exactly.
#[cfg(feature = "minatar")]
#[test]
fn minatar_cnn_runs_resume_exactly() {
    let cfg = small_minatar("minatar-breakout", 1_500);
    check_resume_is_exact(&cfg, &[0, 350, 999]);
}

/// QR-DQN resumes exactly, with n-step returns, prioritized replay and a linear learning
/// rate, and on MinAtar with a convolutional torso.
#[test]
fn qrdqn_runs_resume_exactly() {
    let mut cfg = short(Preset::find("qrdqn-cartpole").unwrap().config().unwrap());
    cfg.qrdqn.n_quantiles = 7;
    cfg.network.net_arch = vec![32, 32];
    cfg.replay.train_freq = Count::steps(4);
    cfg.replay.gradient_steps = 1;
    cfg.replay.n_steps = 3;
    cfg.replay.prioritized = true;
    cfg.optimizer.learning_rate_schedule = deepq::config::LearningRateSchedule::Linear;
    check_resume_is_exact(&cfg, &[0, 401, 1777]);
    #[cfg(feature = "minatar")]
    {
        let mut cfg = small_minatar("minatar-breakout", 1_200);
        cfg.algorithm = deepq::config::Algorithm::QrDqn;
        cfg.qrdqn.n_quantiles = 5;
        check_resume_is_exact(&cfg, &[350]);
    }
}

/// Munchausen-DQN and M-IQN resume exactly.
#[test]
fn munchausen_runs_resume_exactly() {
    let mut cfg = short(Preset::find("default").unwrap().config().unwrap());
    cfg.munchausen.enabled = true;
    cfg.dqn.double_q = false;
    check_resume_is_exact(&cfg, &[0, 401, 1777]);
    let mut cfg = small_iqn();
    cfg.munchausen.enabled = true;
    check_resume_is_exact(&cfg, &[401, 1777]);
}

/// A short IQN run on CartPole with a small network and few fractions.
fn small_iqn() -> DqnConfig {
    let mut cfg = short(Preset::find("cartpole-zoo").unwrap().config().unwrap());
    cfg.algorithm = deepq::config::Algorithm::Iqn;
    cfg.network.net_arch = vec![16, 16];
    cfg.replay.train_freq = Count::steps(4);
    cfg.replay.gradient_steps = 1;
    cfg.replay.batch_size = 8;
    cfg.iqn.num_tau_samples = 8;
    cfg.iqn.num_tau_prime_samples = 8;
    cfg.iqn.num_quantile_samples = 4;
    cfg
}

/// IQN resumes exactly (its fraction stream travels in the checkpoint), on CartPole with
/// n-step returns and prioritized replay, and on MinAtar with its conv torso.
#[test]
fn iqn_runs_resume_exactly() {
    let mut cfg = small_iqn();
    cfg.replay.n_steps = 3;
    cfg.replay.prioritized = true;
    check_resume_is_exact(&cfg, &[0, 401, 1777]);
    #[cfg(feature = "minatar")]
    {
        let mut cfg = small_minatar("iqn-minatar-breakout", 1_000);
        cfg.replay.batch_size = 4;
        cfg.iqn.num_tau_samples = 4;
        cfg.iqn.num_tau_prime_samples = 4;
        cfg.iqn.num_quantile_samples = 2;
        check_resume_is_exact(&cfg, &[350]);
    }
}

/// bf16 products (PQN's LayerNorm network, IQN's three parts, Rainbow's dueling noisy C51
/// head, QR-DQN's quantiles, and on MinAtar a strided conv torso with padding): the checkpoint records the precision and the run continues bit for
/// bit on the same kernel.
#[test]
fn bf16_runs_resume_exactly() {
    let bf16 = |mut cfg: DqnConfig| {
        cfg.network.precision = deepq::nn::Precision::Bf16;
        cfg
    };
    check_resume_is_exact(&bf16(small_pqn()), &[1, 5]);
    check_resume_is_exact(&bf16(small_iqn()), &[401, 1777]);
    let mut rainbow = short(Preset::find("cartpole-rainbow").unwrap().config().unwrap());
    rainbow.network.net_arch = vec![32, 32];
    rainbow.dqn.atoms = 11;
    rainbow.replay.batch_size = 16;
    check_resume_is_exact(&bf16(rainbow), &[401, 1777]);
    let mut qrdqn = short(Preset::find("qrdqn-cartpole").unwrap().config().unwrap());
    qrdqn.qrdqn.n_quantiles = 7;
    qrdqn.network.net_arch = vec![32, 32];
    check_resume_is_exact(&bf16(qrdqn), &[777]);
    #[cfg(feature = "minatar")]
    check_resume_is_exact(
        &bf16(small_minatar("minatar-breakout", 1_500)),
        &[1, 700, 1_200],
    );
}

/// DrQ's augmentation draws from its own stream, which the checkpoint keeps; it changes
/// training (the same run without it ends with other weights) and is refused on flat
/// observations.
#[cfg(feature = "minatar")]
#[test]
fn augmented_runs_resume_exactly_and_augmentation_needs_images() {
    use deepq::config::Augmentation;
    let mut cfg = small_minatar("minatar-breakout", 1_500);
    cfg.replay.augmentation = Augmentation::RandomShift;
    check_resume_is_exact(&cfg, &[1, 700, 1_200]);
    let weights = |cfg: &DqnConfig| {
        deepq::train(cfg, &mut Recorder::default())
            .unwrap()
            .model
            .to_safetensors()
    };
    let mut plain = cfg.clone();
    plain.replay.augmentation = Augmentation::None;
    assert_ne!(weights(&cfg), weights(&plain));
    let mut flat = short(Preset::find("default").unwrap().config().unwrap());
    flat.replay.augmentation = Augmentation::RandomShift;
    let Err(err) = deepq::train(&flat, &mut Recorder::default()) else {
        panic!("flat observations are refused");
    };
    let err = err.to_string();
    assert!(
        err.contains("invalid value \"random_shift\" for 'augmentation'"),
        "{err}"
    );
}

/// A checkpoint resumed on fresh copies of its environment (as a Python env's is, which no
/// checkpoint holds) starts new episodes there, seeded from the run's seed and step: the run
/// goes on to its budget, the same way each time.
#[test]
fn a_run_resumed_on_fresh_episodes_goes_on_the_same_way_each_time() {
    use deepq::envs::{CartPole, TimeLimit, spec};
    use deepq::train::{Trainer, train_env};

    let cfg = short(Preset::find("default").unwrap().config().unwrap());
    let env = || TimeLimit::new(CartPole::default(), 500);
    let mut first = Recorder {
        stop_after_polls: Some(1_234),
        ..Recorder::default()
    };
    let cut = train_env(&cfg, env(), spec("CartPole-v1").unwrap(), &mut first).unwrap();
    let (step, bytes) = first.checkpoints.last().unwrap().clone();
    assert_eq!(step, cut.summary.env_steps);
    let resumed = || {
        let mut rec = Recorder::default();
        let mut trainer = Trainer::resume_on(&bytes, env(), spec("CartPole-v1").unwrap()).unwrap();
        (trainer.learn(&mut rec).unwrap(), rec)
    };
    let (a, rec) = resumed();
    let (b, _) = resumed();
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.summary.env_steps, cfg.run.total_timesteps);
    // The episode under way at the checkpoint was dropped: the first one reported after it
    // started there, and the episodes go on being numbered from the last one reported.
    let next = &rec.episodes[0];
    assert!(
        next.length <= next.step - step,
        "{next:?} began before step {step}"
    );
    assert_eq!(next.episode, first.episodes.last().unwrap().episode + 1);
    // It is another run than the exact resume, which went on with the episode under way.
    let exact = resume(&bytes, &mut Recorder::default()).unwrap();
    assert_ne!(bits(&a), bits(&exact));
}
