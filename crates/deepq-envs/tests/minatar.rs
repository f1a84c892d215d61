//! MinAtar through deepq's environment API: the registry's ids and kwargs, and the recorded
//! episodes of the `minatar` package replayed through `make` and `reset(seed)` (see
//! `shared/golden/README.md`; the game logic itself is tested in `deepq-minatar`).
#![cfg(feature = "minatar")]

use std::path::PathBuf;

use deepq_envs::{AnyEnv, ElementType, Env, KwValue, Kwargs, Observation, Space, make};

fn golden_file() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("DEEPQ_GOLDEN_DIR") {
        return Some(PathBuf::from(dir).join("minatar.json"));
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|dir| dir.join("shared/golden/minatar.json"))
        .find(|path| path.is_file())
}

/// The packed (MSB first) bits of a recorded observation.
fn unpack(hex: &str, len: usize) -> Vec<f32> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    (0..len)
        .map(|j| f32::from((bytes[j / 8] >> (7 - j % 8)) & 1))
        .collect()
}

fn flat(env: &AnyEnv, obs: &impl Observation) -> Vec<f32> {
    let mut out = vec![0.0; env.observation_space().flat_dim()];
    obs.write_flat(&mut out);
    out
}

#[test]
fn ids_spaces_and_kwargs_follow_the_package() {
    let env = make("MinAtar/Breakout-v1", &Kwargs::new()).unwrap();
    assert_eq!(
        env.observation_space(),
        Space::Image {
            shape: [10, 10, 4],
            dtype: ElementType::Bool
        }
    );
    assert_eq!(env.n_actions(), 3);
    assert_eq!(
        make("MinAtar/Seaquest-v0", &Kwargs::new())
            .unwrap()
            .n_actions(),
        6
    );
    let bad: Kwargs = [("sticky_action_prob".to_string(), KwValue::Float(1.5))]
        .into_iter()
        .collect();
    let err = make("MinAtar/Breakout-v1", &bad).unwrap_err().to_string();
    assert!(err.contains("sticky_action_prob"), "{err}");
}

#[test]
fn recorded_episodes_replay_through_make_and_reset() {
    let Some(path) = golden_file() else {
        panic!(
            "minatar.json not found: set DEEPQ_GOLDEN_DIR or keep shared/golden beside the repository"
        );
    };
    let golden: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let trajectories = golden["trajectories"].as_array().unwrap();
    assert_eq!(trajectories.len(), 15);
    for t in trajectories {
        let game = t["game"].as_str().unwrap();
        let id = match game {
            "asterix" => "MinAtar/Asterix-v0",
            "breakout" => "MinAtar/Breakout-v0",
            "freeway" => "MinAtar/Freeway-v0",
            "seaquest" => "MinAtar/Seaquest-v0",
            "space_invaders" => "MinAtar/SpaceInvaders-v0",
            other => panic!("unknown game {other}"),
        };
        let kwargs: Kwargs = [
            (
                "sticky_action_prob".to_string(),
                KwValue::Float(t["sticky_action_prob"].as_f64().unwrap()),
            ),
            (
                "difficulty_ramping".to_string(),
                KwValue::Bool(t["difficulty_ramping"].as_bool().unwrap()),
            ),
        ]
        .into_iter()
        .collect();
        let AnyEnv::MinAtar(mut env) = make(id, &kwargs).unwrap() else {
            unreachable!("a MinAtar id makes a MinAtar env")
        };
        let any = make(id, &kwargs).unwrap();
        let len = any.observation_space().flat_dim();
        let seed = t["seed"].as_u64().unwrap();
        let first = env.reset(Some(seed));
        assert_eq!(
            flat(&any, &first),
            unpack(t["initial_obs"].as_str().unwrap(), len)
        );
        let mut resets = 0;
        for (step, action) in t["actions"].as_array().unwrap().iter().enumerate() {
            let out = env.step(action.as_u64().unwrap() as usize);
            let context = format!("{game} seed {seed} step {step}");
            assert_eq!(out.reward, t["reward"][step].as_f64().unwrap(), "{context}");
            assert_eq!(
                out.terminated,
                t["terminal"][step].as_bool().unwrap(),
                "{context}"
            );
            assert!(!out.truncated, "{context}: MinAtar has no time limit");
            assert_eq!(
                flat(&any, &out.obs),
                unpack(t["obs"][step].as_str().unwrap(), len),
                "{context}"
            );
            if out.terminated {
                let next = env.reset(None);
                let expected = unpack(t["reset_obs"][resets].as_str().unwrap(), len);
                assert_eq!(flat(&any, &next), expected, "{context}: reset {resets}");
                resets += 1;
            }
        }
    }
}
