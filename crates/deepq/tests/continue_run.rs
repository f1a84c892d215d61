//! A run kept between calls ([`Trainer`]), as SB3's `learn()` keeps a model's: going on
//! trains what one call trains, only the keys read at every step may change, and the replay
//! buffer saves and loads.

use deepq::config::Algorithm;
use deepq::train::{TrainError, Trainer};
use deepq::{DqnConfig, Preset, train};

/// CartPole with a constant ε, so that nothing depends on the step budget.
fn cartpole(total_timesteps: u64) -> DqnConfig {
    let mut cfg = DqnConfig::default();
    cfg.run.total_timesteps = total_timesteps;
    cfg.run.seed = 4;
    cfg.replay.learning_starts.n = 100;
    cfg.replay.train_freq.n = 1;
    cfg.target.update_interval = 200;
    cfg.exploration.initial_eps = 0.2;
    cfg.exploration.final_eps = 0.2;
    cfg.eval.final_episodes = 2;
    cfg
}

#[test]
fn going_on_trains_what_one_call_trains() {
    let whole = train(&cartpole(1500), &mut ()).unwrap();
    let mut trainer = Trainer::new(&cartpole(600)).unwrap();
    let first = trainer.learn(&mut ()).unwrap();
    assert_eq!(first.summary.env_steps, 600);
    trainer
        .continue_with(&cartpole(1500), false, false)
        .unwrap();
    let split = trainer.learn(&mut ()).unwrap();
    assert_eq!(split.summary.env_steps, 1500);
    assert_eq!(split.summary.episodes, whole.summary.episodes);
    assert_eq!(split.summary.updates, whole.summary.updates);
    assert_eq!(split.model.to_safetensors(), whole.model.to_safetensors());
}

#[test]
fn restarting_the_counters_keeps_the_weights_and_starts_new_episodes() {
    let mut trainer = Trainer::new(&cartpole(800)).unwrap();
    let trained = trainer.learn(&mut ()).unwrap();
    // learning_starts = budget: the next call only acts.
    let mut again = cartpole(100);
    again.replay.learning_starts.n = 100;
    trainer.continue_with(&again, true, false).unwrap();
    let acted = trainer.learn(&mut ()).unwrap();
    assert_eq!(acted.summary.env_steps, 100);
    assert_eq!(acted.summary.updates, 0);
    assert_eq!(trainer.num_timesteps(), 100);
    assert_eq!(acted.model.to_safetensors(), trained.model.to_safetensors());
}

#[test]
fn only_keys_read_at_every_step_may_change() {
    let mut trainer = Trainer::new(&cartpole(300)).unwrap();
    trainer.learn(&mut ()).unwrap();
    let mut live = cartpole(900);
    live.exploration.final_eps = 0.3;
    live.optimizer.learning_rate = 3e-4;
    live.replay.gradient_steps = 2;
    live.eval.freq.n = 500;
    trainer.check_config(&live).unwrap();
    for (key, change) in [
        (
            "gamma",
            (|c: &mut DqnConfig| c.returns.gamma = 0.9) as fn(&mut DqnConfig),
        ),
        ("batch_size", |c| c.replay.batch_size = 64),
        ("net_arch", |c| c.network.net_arch = vec![32]),
        ("seed", |c| c.run.seed = 5),
    ] {
        let mut cfg = cartpole(900);
        change(&mut cfg);
        let err = trainer.continue_with(&cfg, false, false).unwrap_err();
        assert!(matches!(&err, TrainError::FixedKey(k) if k == key), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("'{key}' cannot change"))
        );
    }
    trainer.continue_with(&live, false, false).unwrap();
    let out = trainer.learn(&mut ()).unwrap();
    assert_eq!(out.summary.env_steps, 900);
}

#[test]
fn a_replay_buffer_loads_into_a_run_of_the_same_settings_only() {
    let mut trainer = Trainer::new(&cartpole(400)).unwrap();
    trainer.learn(&mut ()).unwrap();
    let saved = trainer.replay_bytes().unwrap();
    let mut other = Trainer::new(&cartpole(400)).unwrap();
    other.load_replay(&saved).unwrap();
    assert_eq!(other.replay_bytes().unwrap(), saved);

    let mut cfg = cartpole(400);
    cfg.replay.buffer_size = 500;
    let mut smaller = Trainer::new(&cfg).unwrap();
    let err = smaller.load_replay(&saved).unwrap_err().to_string();
    assert!(
        err.contains("CartPole-v1") && err.contains("buffer_size 500"),
        "{err}"
    );
    let err = smaller.load_replay(&saved[..saved.len() - 3]).unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
    let err = smaller.load_replay(b"DEEPQCK4 not a replay").unwrap_err();
    assert!(
        err.to_string().contains("not a deepq replay buffer"),
        "{err}"
    );
}

#[test]
fn weights_load_when_they_fit() {
    let donor = train(&cartpole(500), &mut ()).unwrap();
    let mut cfg = cartpole(100);
    cfg.run.seed = 9;
    let mut trainer = Trainer::new(&cfg).unwrap();
    trainer.load_model(&donor.model).unwrap();
    let acted = trainer.learn(&mut ()).unwrap();
    assert_eq!(acted.summary.updates, 0);
    assert_eq!(acted.model.to_safetensors(), donor.model.to_safetensors());

    let mut wide = cartpole(100);
    wide.network.net_arch = vec![32];
    let err = Trainer::new(&wide)
        .unwrap()
        .load_model(&donor.model)
        .unwrap_err();
    assert!(
        err.to_string().contains("do not fit this run's network"),
        "{err}"
    );
}

#[test]
fn pqn_goes_on_from_whole_rollouts() {
    let pqn = |total_timesteps| {
        let mut cfg = Preset::find("pqn-cartpole").unwrap().config().unwrap();
        cfg.run.total_timesteps = total_timesteps;
        cfg.eval.freq.n = 0;
        cfg.eval.final_episodes = 1;
        cfg.optimizer.learning_rate_schedule = deepq::config::LearningRateSchedule::Constant;
        cfg.exploration.initial_eps = 0.2;
        cfg
    };
    let rollout = 32 * 64;
    let whole = train(&pqn(3 * rollout), &mut ()).unwrap();
    let mut trainer = Trainer::new(&pqn(rollout)).unwrap();
    trainer.learn(&mut ()).unwrap();
    trainer
        .continue_with(&pqn(3 * rollout), false, false)
        .unwrap();
    let split = trainer.learn(&mut ()).unwrap();
    assert_eq!(split.summary.updates, whole.summary.updates);
    assert_eq!(split.model.to_safetensors(), whole.model.to_safetensors());
    // Starting the count again keeps the weights and starts new episodes.
    trainer.continue_with(&pqn(rollout), true, false).unwrap();
    let again = trainer.learn(&mut ()).unwrap();
    assert_eq!(again.summary.env_steps, rollout);
    assert_ne!(again.model.to_safetensors(), split.model.to_safetensors());
}

#[test]
fn tabular_runs_say_they_cannot_go_on() {
    let mut cfg = Preset::find("frozenlake-tabular")
        .unwrap()
        .config()
        .unwrap();
    cfg.run.total_timesteps = 500;
    assert_eq!(cfg.algorithm, Algorithm::Tabular);
    let mut trainer = Trainer::new(&cfg).unwrap();
    trainer.learn(&mut ()).unwrap();
    let err = trainer.continue_with(&cfg, true, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "algorithm tabular cannot continue a run or load weights into one: each run starts afresh"
    );
    assert!(trainer.replay_bytes().is_none());
}
