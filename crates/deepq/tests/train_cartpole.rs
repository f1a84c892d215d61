//! End-to-end: the default preset trains CartPole-v1 to a greedy 100-episode mean ≥ 475,
//! and the same seed gives bit-identical weights.

use deepq::train::{EpisodeRecord, EvalRecord, Observer};
use deepq::{Preset, QNetwork, train};

#[derive(Default)]
struct Recorder {
    episodes: Vec<EpisodeRecord>,
    evals: Vec<EvalRecord>,
}

impl Observer for Recorder {
    fn on_episode(&mut self, r: &EpisodeRecord) {
        self.episodes.push(r.clone());
    }
    fn on_eval(&mut self, r: &EvalRecord) {
        self.evals.push(r.clone());
    }
}

#[test]
fn default_preset_solves_cartpole_v1() {
    let cfg = Preset::find("default").unwrap().config().unwrap();
    let mut recorder = Recorder::default();
    let outcome = train(&cfg, &mut recorder).unwrap();
    let s = &outcome.summary;
    let eval = s.eval.as_ref().expect("an uninterrupted run evaluates");
    assert_eq!(eval.episodes, 100);
    assert!(
        eval.mean >= 475.0,
        "greedy mean {} after {} steps",
        eval.mean,
        s.env_steps
    );
    assert!(s.solved);
    assert!(s.solved_at_step.is_some());
    // The observer saw every episode, in order, with consistent step counts.
    assert_eq!(recorder.episodes.len() as u64, s.episodes);
    assert!(
        recorder
            .episodes
            .windows(2)
            .all(|w| w[0].step < w[1].step && w[1].episode == w[0].episode + 1)
    );
    assert!(!recorder.evals.is_empty());
}

#[test]
fn same_seed_same_weights_different_seed_different_weights() {
    let mut cfg = Preset::find("default").unwrap().config().unwrap();
    cfg.run.total_timesteps = 3_000;
    cfg.replay.learning_starts = deepq::config::Count::steps(500);
    cfg.eval.final_episodes = 2;
    let params = |cfg: &deepq::DqnConfig| match train(cfg, &mut ()).unwrap().model {
        deepq::Model::Network(QNetwork::F32(m)) => m.params().to_vec(),
        other => unreachable!("the default preset trains an f32 network, not {other:?}"),
    };
    let a = params(&cfg);
    let b = params(&cfg);
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "same seed must be bit-identical"
    );
    cfg.run.seed = 1;
    assert_ne!(a, params(&cfg));
}

/// n-step returns store nothing during the first steps of an episode; training that starts
/// at once (`learning_starts = 0`) waits for the first stored transition, with uniform,
/// prioritized or no replay.
#[test]
fn n_step_training_can_start_before_the_first_transition_is_stored() {
    for (replay, prioritized) in [(true, false), (true, true), (false, false)] {
        let cfg = {
            let mut config = deepq::DqnConfig::default();
            config.replay.n_steps = 5;
            config.replay.learning_starts = deepq::config::Count::steps(0);
            config.replay.train_freq = deepq::config::Count::steps(1);
            config.replay.enabled = replay;
            config.replay.prioritized = prioritized;
            config.run.total_timesteps = 300;
            config.eval.freq = deepq::config::Count::steps(0);
            config.eval.final_episodes = 1;
            config.network.net_arch = vec![8];
            config
        };
        let outcome = deepq::train(&cfg, &mut ()).unwrap();
        assert!(outcome.summary.updates > 250, "{:?}", outcome.summary);
    }
}

/// `stop_reward_threshold` replaces the environment's threshold as the stop criterion: training
/// ends at the first periodic evaluation whose mean reaches it, and not before.
#[test]
fn stop_reward_threshold_ends_training_at_the_first_evaluation_reaching_it() {
    let cfg = {
        let mut config = Preset::find("default").unwrap().config().unwrap();
        config.eval.stop_reward_threshold = Some(100.0);
        config.eval.final_episodes = 5;
        config
    };
    let mut recorder = Recorder::default();
    let s = train(&cfg, &mut recorder).unwrap().summary;
    let (last, earlier) = recorder
        .evals
        .split_last()
        .expect("periodic evaluations ran");
    assert!(
        last.stats.mean >= 100.0,
        "stopped at a mean of {}",
        last.stats.mean
    );
    assert!(earlier.iter().all(|e| e.stats.mean < 100.0));
    assert_eq!(s.env_steps, last.step);
    assert!(s.env_steps < cfg.run.total_timesteps);
    // Solving still means the environment's threshold.
    assert_eq!(s.reward_threshold, 475.0);
    assert_eq!(s.solved_at_step.is_some(), last.stats.mean >= 475.0);
}

/// `eval_epsilon` makes evaluations ε-greedy from a stream of their own: training is the
/// same, each evaluation is reproducible, and a fully random evaluation scores like a random
/// policy rather than like the trained greedy one.
#[test]
fn eval_epsilon_changes_evaluation_only() {
    let mut cfg = Preset::find("default").unwrap().config().unwrap();
    cfg.run.total_timesteps = 20_000;
    cfg.eval.final_episodes = 20;
    // Stopping on a periodic evaluation would let evaluation decide how long training runs.
    cfg.eval.stop_on_solve = false;
    let run = |epsilon: f64| {
        let mut cfg = cfg.clone();
        cfg.eval.epsilon = epsilon;
        let outcome = train(&cfg, &mut ()).unwrap();
        (
            outcome.model.to_safetensors(),
            outcome.summary.eval.unwrap().mean,
        )
    };
    let (greedy_weights, greedy_mean) = run(0.0);
    let (random_weights, random_mean) = run(1.0);
    assert!(
        greedy_weights == random_weights,
        "training does not see eval_epsilon"
    );
    assert!(
        greedy_mean > 150.0,
        "the trained policy balances: {greedy_mean}"
    );
    assert!(random_mean < 50.0, "ε = 1 acts at random: {random_mean}");
    assert_eq!(run(1.0).1, random_mean, "the evaluation stream is fixed");
    cfg.eval.epsilon = 1.5;
    let err = cfg.validate().unwrap_err().to_string();
    assert!(err.contains("'eval_epsilon'"), "{err}");
}
