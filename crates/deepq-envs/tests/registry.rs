//! `make`, specs, keyword arguments and their errors.

use deepq_envs::{
    AnyEnv, Env, EnvError, EnvSpec, EnvVisitor, KwValue, Kwargs, Space, accepted_kwargs, env_ids,
    make, spec,
};

fn kwargs<const N: usize>(pairs: [(&str, KwValue); N]) -> Kwargs {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn make_err(id: &str, kw: &Kwargs) -> String {
    match make(id, kw) {
        Ok(_) => panic!("{id} with {kw:?} should not make"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_id_makes_with_its_registered_spec() {
    let expected = [
        ("CartPole-v0", 200, 195.0, 4, 2),
        ("CartPole-v1", 500, 475.0, 4, 2),
        ("Acrobot-v1", 500, -100.0, 6, 3),
        ("MountainCar-v0", 200, -110.0, 2, 3),
        ("FrozenLake-v1", 100, 0.70, 16, 4),
        ("FrozenLake8x8-v1", 200, 0.85, 64, 4),
        ("Taxi-v4", 200, 8.0, 500, 6),
        ("CliffWalking-v1", 200, -13.0, 48, 4),
        ("CliffWalkingSlippery-v1", 200, -13.0, 48, 4),
        ("LunarLander-v3", 1000, 200.0, 8, 4),
    ];
    // MinAtar's ids (with the `minatar` feature) follow the built-in ones.
    assert_eq!(env_ids()[..expected.len()], expected.map(|e| e.0));
    let minatar = env_ids().len() - expected.len();
    assert_eq!(minatar, if cfg!(feature = "minatar") { 10 } else { 0 });
    for (id, steps, threshold, obs_dim, n_actions) in expected {
        let env = make(id, &Kwargs::new()).unwrap();
        let want = EnvSpec {
            id: id.to_owned(),
            max_episode_steps: steps,
            reward_threshold: threshold,
        };
        assert_eq!(env.spec(), &want);
        assert_eq!(spec(id).unwrap(), want);
        assert_eq!(env.observation_space().flat_dim(), obs_dim, "{id}");
        assert_eq!(env.action_space(), Space::Discrete { n: n_actions }, "{id}");
        assert_eq!(env.n_actions(), n_actions, "{id}");
    }
}

#[test]
fn spaces_display_like_gymnasium() {
    let show = |id| {
        make(id, &Kwargs::new())
            .unwrap()
            .observation_space()
            .to_string()
    };
    assert_eq!(
        show("CartPole-v1"),
        "Box([-4.8, -inf, -0.41887903, -inf]..[4.8, inf, 0.41887903, inf], (4,))"
    );
    assert_eq!(
        show("MountainCar-v0"),
        "Box([-1.2, -0.07]..[0.6, 0.07], (2,))"
    );
    assert_eq!(show("FrozenLake-v1"), "Discrete(16)");
    assert_eq!(show("Taxi-v4"), "Discrete(500)");
    assert_eq!(show("CliffWalking-v1"), "Discrete(48)");
    assert_eq!(
        show("LunarLander-v3"),
        "Box([-2.5, -2.5, -10, -10, -6.2831855, -10, 0, 0]..\
         [2.5, 2.5, 10, 10, 6.2831855, 10, 1, 1], (8,))"
    );
}

/// Records what `visit` hands over.
struct Describe;

impl EnvVisitor for Describe {
    type Output = (String, usize, &'static str);
    fn visit<E: Env + Clone + 'static>(self, env: E, spec: EnvSpec) -> Self::Output {
        (spec.id, env.n_actions(), std::any::type_name::<E>())
    }
}

#[test]
fn visit_passes_the_concrete_env_and_spec() {
    let (id, n, ty) = make("Acrobot-v1", &Kwargs::new()).unwrap().visit(Describe);
    assert_eq!((id.as_str(), n), ("Acrobot-v1", 3));
    assert!(ty.contains("TimeLimit") && ty.contains("Acrobot"), "{ty}");
}

#[test]
fn max_episode_steps_overrides_the_limit() {
    for id in env_ids() {
        let env = make(id, &kwargs([("max_episode_steps", KwValue::Int(1000))])).unwrap();
        assert_eq!(env.spec().max_episode_steps, 1000, "{id}");
        let limit = match &env {
            AnyEnv::CartPole(e) => e.max_episode_steps(),
            AnyEnv::Acrobot(e) => e.max_episode_steps(),
            AnyEnv::MountainCar(e) => e.max_episode_steps(),
            AnyEnv::FrozenLake(e) => e.max_episode_steps(),
            AnyEnv::Taxi(e) => e.max_episode_steps(),
            AnyEnv::CliffWalking(e) => e.max_episode_steps(),
            AnyEnv::LunarLander(e) => e.max_episode_steps(),
            #[cfg(feature = "minatar")]
            AnyEnv::MinAtar(e) => e.max_episode_steps(),
        };
        assert_eq!(limit, 1000, "{id}");
    }
}

fn lake(kw: &Kwargs) -> (EnvSpec, deepq_envs::TimeLimit<deepq_envs::FrozenLake>) {
    let env = make("FrozenLake-v1", kw).unwrap();
    let spec = env.spec().clone();
    let AnyEnv::FrozenLake(lake) = env else {
        panic!("not a FrozenLake")
    };
    (spec, lake)
}

#[test]
fn frozen_lake_kwargs() {
    let (spec, env) = lake(&kwargs([("is_slippery", KwValue::Bool(false))]));
    assert!(!env.inner().is_slippery());
    assert!(
        env.inner()
            .transitions()
            .iter()
            .flatten()
            .all(|t| t.len() == 1)
    );
    assert_eq!((spec.max_episode_steps, spec.reward_threshold), (100, 0.70));

    let (spec, env) = lake(&kwargs([("map_name", KwValue::from("8x8"))]));
    assert_eq!(env.inner().n_states(), 64);
    assert!(env.inner().is_slippery());
    assert_eq!((spec.max_episode_steps, spec.reward_threshold), (200, 0.85));

    let custom = kwargs([
        ("desc", KwValue::from(vec!["SFH", "FFG"])),
        ("success_rate", KwValue::Float(0.8)),
    ]);
    let (spec, env) = lake(&custom);
    assert_eq!(env.inner().desc(), ["SFH", "FFG"]);
    assert_eq!(env.inner().transitions()[0][2][1].prob, 0.8);
    assert_eq!(env.inner().transitions()[0][2][0].prob, (1.0 - 0.8) / 2.0);
    assert_eq!(spec.max_episode_steps, 100);

    let small = make(
        "FrozenLake8x8-v1",
        &kwargs([("map_name", KwValue::from("4x4"))]),
    )
    .unwrap();
    assert_eq!(small.observation_space(), Space::Discrete { n: 16 });
    assert_eq!(small.spec().max_episode_steps, 100);
}

#[test]
fn cartpole_and_mountain_car_kwargs() {
    let AnyEnv::CartPole(mut env) = make(
        "CartPole-v1",
        &kwargs([("sutton_barto_reward", KwValue::Bool(true))]),
    )
    .unwrap() else {
        panic!("not a CartPole")
    };
    env.reset(Some(0));
    // Pushing right all the time topples the pole within a few dozen steps.
    let mut rewards = Vec::new();
    loop {
        let step = env.step(1);
        rewards.push(step.reward);
        if step.terminated {
            break;
        }
        assert!(!step.truncated);
    }
    assert_eq!(rewards.last(), Some(&-1.0), "-1 on termination");
    assert!(rewards[..rewards.len() - 1].iter().all(|&r| r == 0.0));

    let AnyEnv::MountainCar(env) = make(
        "MountainCar-v0",
        &kwargs([("goal_velocity", KwValue::Int(1))]),
    )
    .unwrap() else {
        panic!("not a MountainCar")
    };
    assert_eq!(env.inner().goal_velocity(), 1.0);
}

#[test]
fn taxi_kwargs() {
    let AnyEnv::Taxi(env) = make("Taxi-v4", &Kwargs::new()).unwrap() else {
        panic!("not a Taxi")
    };
    assert!(!env.inner().is_rainy() && !env.inner().fickle_passenger());
    assert!(
        env.inner()
            .transitions()
            .iter()
            .flatten()
            .all(|t| t.len() == 1)
    );
    let AnyEnv::Taxi(env) = make(
        "Taxi-v4",
        &kwargs([
            ("is_rainy", KwValue::Bool(true)),
            ("rainy_probability", KwValue::Float(0.6)),
            ("fickle_passenger", KwValue::Bool(true)),
            ("fickle_probability", KwValue::Int(1)),
        ]),
    )
    .unwrap() else {
        panic!("not a Taxi")
    };
    let taxi = env.inner();
    assert!(taxi.is_rainy() && taxi.fickle_passenger());
    assert_eq!(
        (taxi.rainy_probability(), taxi.fickle_probability()),
        (0.6, 1.0)
    );
    // A move from the middle of the grid: intended 0.6, each side 0.2.
    let middle = deepq_envs::toy_text::taxi::encode(2, 2, 0, 1);
    let probs: Vec<f64> = taxi.transitions()[middle][0]
        .iter()
        .map(|t| t.prob)
        .collect();
    assert_eq!(probs, [0.6, (1.0 - 0.6) / 2.0, (1.0 - 0.6) / 2.0]);
    assert_eq!(
        accepted_kwargs("Taxi-v4").unwrap(),
        [
            "fickle_passenger",
            "fickle_probability",
            "is_rainy",
            "max_episode_steps",
            "rainy_probability"
        ]
    );
}

#[test]
fn cliff_walking_kwargs() {
    let slippery = |id: &str, kw: &Kwargs| {
        let AnyEnv::CliffWalking(env) = make(id, kw).unwrap() else {
            panic!("not a CliffWalking")
        };
        env.inner().is_slippery()
    };
    assert!(!slippery("CliffWalking-v1", &Kwargs::new()));
    assert!(slippery("CliffWalkingSlippery-v1", &Kwargs::new()));
    let on = kwargs([("is_slippery", KwValue::Bool(true))]);
    assert!(slippery("CliffWalking-v1", &on));
    let off = kwargs([("is_slippery", KwValue::Bool(false))]);
    assert!(!slippery("CliffWalkingSlippery-v1", &off));
    assert_eq!(
        accepted_kwargs("CliffWalking-v1").unwrap(),
        ["is_slippery", "max_episode_steps"]
    );
}

#[test]
fn an_atari_id_says_where_atari_runs() {
    for id in ["ALE/Pong-v5", "BreakoutNoFrameskip-v4"] {
        let err = spec(id).unwrap_err();
        assert_eq!(err, EnvError::AtariId { id: id.into() });
        let line = err.to_string();
        assert!(line.contains("pip install \"deepq[atari]\""), "{line}");
        assert!(
            line.contains(&format!("python -m deepq train --env {id}")),
            "{line}"
        );
    }
    assert!(matches!(
        spec("CartPole-v9"),
        Err(EnvError::UnknownId { .. })
    ));
}

#[test]
fn unknown_id_lists_the_available_ids() {
    let msg = make_err("CartPole-v9", &Kwargs::new());
    assert!(
        msg.starts_with(
            "unknown environment id 'CartPole-v9'; available: CartPole-v0, CartPole-v1, \
             Acrobot-v1, MountainCar-v0, FrozenLake-v1, FrozenLake8x8-v1, Taxi-v4, \
             CliffWalking-v1, CliffWalkingSlippery-v1, LunarLander-v3"
        ),
        "{msg}"
    );
    assert_eq!(
        msg.contains("MinAtar/Breakout-v1"),
        cfg!(feature = "minatar")
    );
    assert!(matches!(spec("nope"), Err(EnvError::UnknownId { .. })));
}

#[test]
fn unknown_kwarg_names_it_and_lists_accepted_ones() {
    let msg = make_err("CartPole-v1", &kwargs([("map_name", KwValue::from("4x4"))]));
    assert_eq!(
        msg,
        "CartPole-v1 has no kwarg 'map_name'; it accepts: max_episode_steps, sutton_barto_reward"
    );
    assert_eq!(
        accepted_kwargs("Acrobot-v1").unwrap(),
        ["max_episode_steps"]
    );
}

#[test]
fn bad_values_name_the_value_and_what_is_allowed() {
    let cases = [
        (
            "CartPole-v1",
            "max_episode_steps",
            KwValue::Int(0),
            "0",
            "a positive integer",
        ),
        (
            "CartPole-v1",
            "max_episode_steps",
            KwValue::Float(10.0),
            "10.0",
            "a positive integer",
        ),
        (
            "CartPole-v1",
            "sutton_barto_reward",
            KwValue::from("yes"),
            "\"yes\"",
            "true or false",
        ),
        (
            "MountainCar-v0",
            "goal_velocity",
            KwValue::Bool(true),
            "true",
            "a finite number",
        ),
        (
            "FrozenLake-v1",
            "map_name",
            KwValue::from("9x9"),
            "\"9x9\"",
            "\"4x4\" or \"8x8\"",
        ),
        (
            "FrozenLake-v1",
            "is_slippery",
            KwValue::Int(1),
            "1",
            "true or false",
        ),
        (
            "FrozenLake-v1",
            "success_rate",
            KwValue::Float(1.5),
            "1.5",
            "a number in 0..=1",
        ),
        (
            "FrozenLake-v1",
            "desc",
            KwValue::from("SFFG"),
            "\"SFFG\"",
            "a list of strings",
        ),
        (
            "FrozenLake-v1",
            "desc",
            KwValue::from(vec!["SX"]),
            "[\"SX\"]",
            "cell (0, 1) is 'X'",
        ),
        (
            "Taxi-v4",
            "rainy_probability",
            KwValue::Float(-0.5),
            "-0.5",
            "a number in 0..=1",
        ),
        (
            "Taxi-v4",
            "fickle_passenger",
            KwValue::from("no"),
            "\"no\"",
            "true or false",
        ),
        (
            "CliffWalking-v1",
            "is_slippery",
            KwValue::Int(0),
            "0",
            "true or false",
        ),
        (
            "FrozenLake-v1",
            "desc",
            KwValue::from(vec!["FG"]),
            "[\"FG\"]",
            "no start cell",
        ),
    ];
    for (id, key, value, shown, allowed) in cases {
        let msg = make_err(id, &kwargs([(key, value)]));
        assert!(
            msg.contains(&format!("invalid value {shown} for kwarg '{key}'"))
                && msg.contains(allowed),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "{msg}");
    }
    let both = kwargs([
        ("desc", KwValue::from(vec!["SG"])),
        ("map_name", KwValue::from("4x4")),
    ]);
    assert!(make_err("FrozenLake-v1", &both).contains("no map_name when desc gives the map"));
}

#[test]
fn kwargs_deserialize_from_json() {
    let kw: Kwargs = serde_json::from_str(
        r#"{"is_slippery": false, "max_episode_steps": 50, "success_rate": 0.5,
            "desc": ["SF", "HG"], "map_name": "4x4"}"#,
    )
    .unwrap();
    assert_eq!(kw["is_slippery"], KwValue::Bool(false));
    assert_eq!(kw["max_episode_steps"], KwValue::Int(50));
    assert_eq!(kw["success_rate"], KwValue::Float(0.5));
    assert_eq!(kw["desc"], KwValue::from(vec!["SF", "HG"]));
    assert_eq!(kw["map_name"], KwValue::from("4x4"));
}
