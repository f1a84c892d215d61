use super::*;
use deepq_nn::Loss;
use proptest::prelude::Strategy;

fn table(s: &str) -> toml::Table {
    s.parse().unwrap()
}

#[test]
fn defaults_validate_and_round_trip_through_toml() {
    let cfg = DqnConfig::default();
    cfg.validate().unwrap();
    let mut again = DqnConfig::default();
    again.apply_toml(&table(&cfg.to_toml())).unwrap();
    assert_eq!(again, cfg);
}

#[test]
fn overrides_apply_with_sb3_names_and_tuple_train_freq() {
    let mut cfg = DqnConfig::default();
    cfg.apply_toml(&table(
        "learning_rate = 1e-3\nnet_arch = [128, 64]\ndouble_q = true\ntrain_freq = [2, \"episode\"]\nenv_kwargs = { max_episode_steps = 1000 }\nloss = \"mse\"\noptimizer = \"nadam\"",
    ))
    .unwrap();
    assert_eq!(cfg.optimizer.learning_rate, 1e-3);
    assert_eq!(cfg.network.net_arch, vec![128, 64]);
    assert!(cfg.dqn.double_q);
    assert_eq!(cfg.replay.train_freq, Count::episodes(2));
    assert_eq!(cfg.dqn.loss, Loss::Mse);
    assert_eq!(cfg.optimizer.kind, OptimizerKind::NAdam);
    assert!(cfg.to_toml().contains("train_freq = [2, \"episode\"]"));
}

#[test]
fn unknown_key_suggests_the_closest() {
    let err = DqnConfig::default()
        .apply_toml(&table("lerning_rate = 0.1"))
        .unwrap_err();
    assert_eq!(
        err.0,
        "unknown config key 'lerning_rate'; did you mean 'learning_rate'?"
    );
    let err = DqnConfig::default()
        .apply_toml(&table("zzzzzzzz = 1"))
        .unwrap_err();
    assert!(
        err.0.contains("allowed keys:") && err.0.contains("gamma"),
        "{err}"
    );
}

#[test]
fn wrong_type_names_key_and_value() {
    let err = DqnConfig::default()
        .apply_toml(&table("batch_size = \"big\""))
        .unwrap_err();
    assert!(
        err.0.starts_with("invalid value \"big\" for 'batch_size'"),
        "{err}"
    );
    assert!(!err.0.contains('\n'));
}

#[test]
fn out_of_range_values_are_refused() {
    let cases = [
        ("learning_rate = 0.0", "learning_rate"),
        ("learning_rate = -1.0", "learning_rate"),
        ("gamma = 1.5", "gamma"),
        ("tau = 0.0", "tau"),
        ("tau = 1.5", "tau"),
        ("net_arch = []", "net_arch"),
        ("n_envs = 0", "n_envs"),
        ("batch_size = 64\nbuffer_size = 32", "batch_size"),
        (
            "learning_starts = 200\ntotal_timesteps = 100",
            "learning_starts",
        ),
        ("gradient_steps = -2", "gradient_steps"),
        ("max_grad_norm = 0.0", "max_grad_norm"),
        (
            "optimizer = \"rmsprop\"\nrmsprop_alpha = 5.0",
            "rmsprop_alpha",
        ),
        ("stop_reward_threshold = nan", "stop_reward_threshold"),
        ("stop_reward_threshold = -inf", "stop_reward_threshold"),
    ];
    for (src, key) in cases {
        let mut cfg = DqnConfig::default();
        cfg.apply_toml(&table(src)).unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(err.0.contains(&format!("'{key}'")), "{src}: {err}");
    }
    let err = DqnConfig::default()
        .apply_toml(&table("total_timesteps = -5"))
        .unwrap_err();
    assert!(err.0.contains("'total_timesteps'"), "{err}");
}

#[test]
fn rainbow_shorthand_expands_when_read() {
    let mut cfg = DqnConfig::default();
    cfg.apply_toml(&table("rainbow = true\nn_steps = 5"))
        .unwrap();
    assert!(
        cfg.is_rainbow()
            && cfg.dqn.dueling
            && cfg.dqn.noisy
            && cfg.replay.prioritized
            && cfg.dqn.double_q
    );
    assert_eq!((cfg.replay.n_steps, cfg.dqn.atoms), (5, 51));
    cfg.validate().unwrap();
    // The resolved config spells the components out, not the shorthand, and reloads to itself.
    let text = cfg.to_toml();
    assert!(!text.contains("rainbow"), "{text}");
    let mut again = DqnConfig::default();
    again.apply_toml(&table(&text)).unwrap();
    assert_eq!(again, cfg);
    // Run directories written before the shorthand expanded on reading still load.
    let mut old = DqnConfig::default();
    old.apply_toml(&table(&format!("rainbow = true\n{text}")))
        .unwrap();
    assert_eq!(old, cfg);
    // The same table cannot switch a component off under rainbow = true…
    for (src, key) in [
        ("rainbow = true\ndueling = false", "dueling"),
        ("rainbow = true\nn_steps = 1", "n_steps"),
        ("rainbow = true\natoms = 1", "atoms"),
    ] {
        let err = DqnConfig::default().apply_toml(&table(src)).unwrap_err();
        assert!(
            err.0.starts_with("invalid value") && err.0.contains(&format!("'{key}'")),
            "{err}"
        );
    }
    // …but a later table may: the shorthand is not remembered.
    let mut off = cfg.clone();
    off.apply_toml(&table("dueling = false")).unwrap();
    assert!(!off.dqn.dueling && off.dqn.noisy);
    off.validate().unwrap();
    // rainbow = false switches a Rainbow config's six components off…
    let mut off = cfg.clone();
    off.apply_toml(&table("rainbow = false\ndueling = true"))
        .unwrap();
    assert!(off.dqn.dueling && !off.dqn.noisy && !off.replay.prioritized && !off.dqn.double_q);
    assert_eq!((off.replay.n_steps, off.dqn.atoms), (1, 1));
    off.validate().unwrap();
    // …and leaves any other config alone.
    let mut plain = DqnConfig {
        dqn: DqnSettings {
            double_q: true,
            ..DqnSettings::default()
        },
        ..DqnConfig::default()
    };
    plain.apply_toml(&table("rainbow = false")).unwrap();
    assert!(plain.dqn.double_q);
    let err = DqnConfig::default()
        .apply_toml(&table("rainbow = 1"))
        .unwrap_err();
    assert!(err.0.contains("'rainbow'"), "{err}");
}

#[test]
fn keys_of_another_algorithm_are_refused() {
    let cases = [
        ("rollout_steps = 32", "rollout_steps", "pqn"),
        ("q_lambda = 0.5", "q_lambda", "pqn"),
        (
            "algorithm = \"tabular\"\nlearning_rate_schedule = \"linear\"",
            "learning_rate_schedule",
            "pqn",
        ),
        ("n_quantiles = 50", "n_quantiles", "\"qrdqn\" only"),
        ("num_tau_samples = 8", "num_tau_samples", "\"iqn\" only"),
        (
            "algorithm = \"iqn\"\nnum_tau_prime_samples = 0",
            "num_tau_prime_samples",
            "must be 1 to",
        ),
        (
            "algorithm = \"iqn\"\nlayer_norm = true",
            "layer_norm",
            "no LayerNorm",
        ),
        (
            "algorithm = \"iqn\"\ndueling = true",
            "dueling",
            "\"dqn\" only (this run is \"iqn\")",
        ),
        ("munchausen = true\natoms = 51", "munchausen", "atoms = 1"),
        ("munchausen = true\ndouble_q = true", "munchausen", "double"),
        (
            "algorithm = \"pqn\"\nmunchausen = true",
            "munchausen",
            "\"dqn\" or \"iqn\" only (this run is \"pqn\")",
        ),
        (
            "algorithm = \"qrdqn\"\nmunchausen = true",
            "munchausen",
            "\"dqn\" or \"iqn\" only (this run is \"qrdqn\")",
        ),
        ("munchausen_tau = 0.0", "munchausen_tau", "> 0"),
        ("munchausen_tau = -1.0", "munchausen_tau", "> 0"),
        ("munchausen_clip = 0.5", "munchausen_clip", "< 0"),
        (
            "algorithm = \"qrdqn\"\nn_quantiles = 0",
            "n_quantiles",
            "must be 1 to",
        ),
        (
            "algorithm = \"qrdqn\"\ndouble_q = true",
            "double_q",
            "algorithm = \"dqn\" only (this run is \"qrdqn\")",
        ),
        ("algorithm = \"qrdqn\"\natoms = 51", "atoms", "\"dqn\" only"),
        (
            "algorithm = \"pqn\"\nn_quantiles = 5",
            "n_quantiles",
            "\"qrdqn\" only",
        ),
        (
            "algorithm = \"pqn\"\nbuffer_size = 1000",
            "buffer_size",
            "dqn",
        ),
        ("algorithm = \"pqn\"\ndouble_q = true", "double_q", "dqn"),
        (
            "algorithm = \"pqn\"\nn_minibatches = 7",
            "n_minibatches",
            "divide",
        ),
        ("algorithm = \"pqn\"\nq_lambda = 1.5", "q_lambda", "[0, 1]"),
        (
            "algorithm = \"pqn\"\nreward_scale = 0.0",
            "reward_scale",
            "> 0",
        ),
        (
            "algorithm = \"tabular\"\nlayer_norm = true",
            "layer_norm",
            "tabular",
        ),
        (
            "activation = \"tanh\"\ncnn = [[16, 3, 1]]",
            "activation",
            "conv layers",
        ),
        (
            "activation = \"gelu\"\nlayer_norm = true",
            "activation",
            "LayerNorm",
        ),
        (
            "algorithm = \"iqn\"\nactivation = \"silu\"",
            "activation",
            "IQN",
        ),
        (
            "algorithm = \"tabular\"\nactivation = \"elu\"",
            "activation",
            "tabular",
        ),
        ("cnn = [[16, 3]]", "cnn", "[filters, kernel, stride]"),
        ("cnn = [[16, 0, 1]]", "cnn", "> 0"),
    ];
    for (src, key, says) in cases {
        let mut cfg = DqnConfig::default();
        cfg.apply_toml(&table(src)).unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(
            err.0.contains(&format!("'{key}'")) && err.0.contains(says),
            "{src}: {err}"
        );
        assert!(!err.0.contains('\n'));
    }
    // Each PQN preset validates, and PQN keys are documented with their PQN names.
    for name in [
        "pqn-cartpole",
        "pqn-acrobot",
        "pqn-minatar-asterix",
        "pqn-minatar-breakout",
        "pqn-minatar-freeway",
        "pqn-minatar-seaquest",
        "pqn-minatar-space-invaders",
    ] {
        crate::Preset::find(name)
            .unwrap()
            .config()
            .unwrap()
            .validate()
            .unwrap();
    }
    // Every key an algorithm declares as its own is a config key.
    for algorithm in Algorithm::ALL {
        for key in crate::algorithms::own_keys(algorithm) {
            assert!(config_keys().iter().any(|k| k == key), "{key}");
        }
    }
}

#[test]
fn rainbow_component_values_are_checked() {
    let cases = [
        ("atoms = 0", "atoms"),
        ("atoms = 5000", "atoms"),
        ("v_min = 5.0\nv_max = 1.0", "v_max"),
        ("v_min = nan", "v_min"),
        ("n_steps = 0", "n_steps"),
        (
            "n_steps = 3\nsample_vector_steps = true",
            "sample_vector_steps",
        ),
        (
            "prioritized_replay = true\nreplay = false",
            "prioritized_replay",
        ),
        (
            "prioritized_replay = true\nreplay_with_replacement = false",
            "prioritized_replay",
        ),
        (
            "prioritized_replay_alpha = -1.0",
            "prioritized_replay_alpha",
        ),
        ("prioritized_replay_beta0 = 1.5", "prioritized_replay_beta0"),
        ("prioritized_replay_eps = 0.0", "prioritized_replay_eps"),
        ("noisy_sigma0 = -0.5", "noisy_sigma0"),
        ("atoms = 51\nregress_max_q = true", "regress_max_q"),
    ];
    for (src, key) in cases {
        let mut cfg = DqnConfig::default();
        cfg.apply_toml(&table(src)).unwrap();
        let err = cfg.validate().unwrap_err();
        assert!(err.0.contains(&format!("'{key}'")), "{src}: {err}");
        assert!(!err.0.contains('\n'));
    }
}

proptest::proptest! {
    /// The config loader never panics: arbitrary text either fails to parse as TOML or
    /// yields a config that is applied and validated, or refused with an error.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        if let Ok(table) = text.parse::<toml::Table>() {
            let mut cfg = DqnConfig::default();
            if cfg.apply_toml(&table).is_ok() {
                let _ = cfg.validate();
            }
        }
    }

    /// Known keys with values of any TOML type and range.
    #[test]
    fn any_value_for_any_key_never_panics(
        key in proptest::sample::select(config_keys()),
        value in proptest::prop_oneof![
            proptest::num::i64::ANY.prop_map(|v| v.to_string()),
            proptest::num::f64::ANY.prop_map(|v| format!("{v:?}")),
            proptest::bool::ANY.prop_map(|v| v.to_string()),
            "\\PC{0,20}".prop_map(|v| format!("{v:?}")),
            proptest::collection::vec(-5i64..5000, 0..4).prop_map(|v| format!("{v:?}")),
            (0u64..100, proptest::sample::select(vec!["step", "episode", "year"]))
                .prop_map(|(n, u)| format!("[{n}, \"{u}\"]")),
        ],
    ) {
        if let Ok(table) = format!("{key} = {value}").parse::<toml::Table>() {
            let mut cfg = DqnConfig::default();
            if cfg.apply_toml(&table).is_ok() && cfg.validate().is_ok() {
                deepq_nn::Optimizer::<f32>::new(cfg.optimizer_config(), 10);
            }
        }
    }
}

#[test]
fn optimizer_options_reach_the_optimizer() {
    let mut cfg = DqnConfig::default();
    cfg.apply_toml(&table(
        "optimizer = \"rmsprop\"\nmomentum = 0.5\noptimizer_eps = 1e-5",
    ))
    .unwrap();
    match cfg.optimizer_config() {
        OptimizerConfig::RmsProp { momentum, eps, .. } => {
            assert_eq!((momentum, eps), (0.5, 1e-5));
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// QR-DQN's Adam takes sb3-contrib's ε = 0.01/batch_size unless `optimizer_eps` is set; DQN's
/// keeps PyTorch's.
#[test]
fn qrdqn_adam_epsilon_is_sb3_contribs() {
    let eps = |src: &str| {
        let mut cfg = DqnConfig::default();
        cfg.apply_toml(&table(src)).unwrap();
        match cfg.optimizer_config() {
            deepq_nn::OptimizerConfig::Adam { eps, .. } => eps,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(eps("algorithm = \"qrdqn\"\nbatch_size = 64"), 0.01 / 64.0);
    assert_eq!(eps("algorithm = \"qrdqn\"\noptimizer_eps = 1e-5"), 1e-5);
    assert_eq!(eps("batch_size = 64"), 1e-8);
}

/// The groups partition the keys: every key is in exactly one group (two flattened groups
/// with one key name would both read it), and the flat keys are the SB3-style names.
#[test]
fn every_key_is_in_exactly_one_group() {
    fn keys<G: Serialize>(group: &G) -> Vec<String> {
        match toml::Value::try_from(group) {
            Ok(toml::Value::Table(t)) => t.keys().cloned().collect(),
            _ => panic!("a group serializes to a table"),
        }
    }
    let all_set = to_table(&{
        let mut cfg = DqnConfig::default();
        // Optional keys are left out while unset.
        cfg.run.episodes = Some(1);
        cfg.optimizer.betas = Some([0.9, 0.999]);
        cfg.optimizer.eps = Some(1e-8);
        cfg.optimizer.weight_decay = Some(0.0);
        cfg.optimizer.rmsprop_alpha = Some(0.99);
        cfg.eval.stop_reward_threshold = Some(0.0);
        cfg
    });
    let c = DqnConfig::default();
    let mut groups = [
        keys(&c.run),
        keys(&c.network),
        keys(&c.optimizer),
        keys(&c.returns),
        keys(&c.replay),
        keys(&c.target),
        keys(&c.dqn),
        keys(&c.qrdqn),
        keys(&c.iqn),
        keys(&c.munchausen),
        keys(&c.pqn),
        keys(&c.exploration),
        keys(&c.eval),
    ]
    .concat();
    groups.push("algorithm".into());
    let unset = [
        "episodes",
        "optimizer_betas",
        "optimizer_eps",
        "weight_decay",
        "rmsprop_alpha",
        "stop_reward_threshold",
    ];
    groups.extend(unset.iter().map(|k| k.to_string()));
    let total = groups.len();
    groups.sort();
    groups.dedup();
    assert_eq!(groups.len(), total, "a key in two groups");
    let mut flat: Vec<String> = all_set.keys().cloned().collect();
    flat.sort();
    assert_eq!(groups, flat);
    for key in [
        "learning_rate",
        "replay",
        "munchausen",
        "optimizer",
        "target_network",
    ] {
        assert!(flat.iter().any(|k| k == key), "{key}");
    }
}

#[test]
fn precision_is_read_checked_and_reaches_the_network() {
    let mut cfg = DqnConfig::default();
    assert_eq!(cfg.arch().precision, deepq_nn::Precision::F32);
    cfg.apply_toml(&table("precision = \"bf16\"")).unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.arch().precision, deepq_nn::Precision::Bf16);
    assert!(cfg.to_toml().contains("precision = \"bf16\""));
    let err = DqnConfig::default()
        .apply_toml(&table("precision = \"fp16\""))
        .unwrap_err();
    assert_eq!(
        err.0,
        "invalid value \"fp16\" for 'precision': unknown variant `fp16`, expected `f32` or `bf16`"
    );
    let mut f64_net = cfg.clone();
    f64_net.network.dtype = Dtype::F64;
    assert_eq!(
        f64_net.validate().unwrap_err().0,
        "invalid value \"bf16\" for 'precision': bf16 products need dtype = \"f32\" (this run's dtype is \"f64\")"
    );
    let mut tabular = cfg;
    tabular.algorithm = Algorithm::Tabular;
    tabular.run.env = "FrozenLake-v1".into();
    assert!(
        tabular
            .validate()
            .unwrap_err()
            .0
            .starts_with("invalid value \"bf16\" for 'precision': a tabular run has no network")
    );
}

#[test]
fn the_activation_key_reaches_the_network() {
    let mut cfg = DqnConfig::default();
    assert_eq!(cfg.arch().activation, deepq_nn::Activation::Relu);
    cfg.apply_toml(&table("activation = \"leaky_relu\""))
        .unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.arch().activation, deepq_nn::Activation::LeakyRelu);
    assert!(cfg.to_toml().contains("activation = \"leaky_relu\""));
    let err = DqnConfig::default()
        .apply_toml(&table("activation = \"swish\""))
        .unwrap_err();
    assert!(
        err.0.contains("'activation'") && err.0.contains("gelu"),
        "{err}"
    );
}
