//! Conformance with trajectories and transition tables recorded from Gymnasium.
//!
//! Reads every `*.json` file in `$DEEPQ_GOLDEN_DIR` (default: the nearest
//! `shared/golden` above this crate, normally `/work/shared/golden`; see its
//! README for the format). Relies only on the format, not on file names or
//! top-level keys:
//! - a trajectory is any object with `env_id` and `actions` inside a top-level
//!   array; it is replayed from its recorded initial state and every step's
//!   observation, state, reward and flags must match exactly;
//! - every object with `map` and `P` under a top-level `tables` map is a
//!   FrozenLake transition table, compared entry by entry;
//! - every entry of a top-level `specs` map must match the registry.

use std::path::{Path, PathBuf};

use deepq_envs::{AnyEnv, Env, EnvSpec, EnvVisitor, KwValue, Kwargs, Observation, make};
use serde_json::Value;

/// The golden directory: `$DEEPQ_GOLDEN_DIR`, else the first `shared/golden`
/// found walking up from this crate (the workspace keeps `shared/` beside
/// its checkout, wherever that is).
fn golden_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEEPQ_GOLDEN_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared").join("golden"))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| manifest.join("../../../shared/golden"))
}

fn golden_files() -> Vec<(String, Value)> {
    let dir = golden_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read golden dir {}: {e}", dir.display()))
        .map(|entry| entry.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect()
}

/// Objects with `env_id` and `actions` inside the file's top-level arrays.
fn trajectories(json: &Value) -> Vec<&Value> {
    let arrays: Vec<&Vec<Value>> = match json {
        Value::Array(items) => vec![items],
        Value::Object(map) => map.values().filter_map(Value::as_array).collect(),
        _ => vec![],
    };
    arrays
        .into_iter()
        .flatten()
        .filter(|v| v.get("env_id").is_some() && v.get("actions").is_some())
        .collect()
}

/// Distance in f32 units in the last place (adjacent floats are 1 apart).
fn ulps(a: f32, b: f32) -> u32 {
    let key = |x: f32| {
        let bits = x.to_bits() as i32;
        if bits < 0 { i32::MIN - bits } else { bits }
    };
    key(a).abs_diff(key(b))
}

fn f64s(v: &Value, what: &str) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not an array"))
        .iter()
        .map(|x| {
            x.as_f64()
                .unwrap_or_else(|| panic!("{what} holds a non-number"))
        })
        .collect()
}

/// The flat f32 encoding of a recorded observation: a float array as is, an
/// integer (discrete observation) one-hot of width `dim`.
fn flat_obs(v: &Value, dim: usize, what: &str) -> Vec<f32> {
    match v.as_u64() {
        Some(i) => {
            let mut out = vec![0.0; dim];
            out[i as usize] = 1.0;
            out
        }
        None => f64s(v, what).into_iter().map(|x| x as f32).collect(),
    }
}

/// A readable form of a flat observation: the index for a one-hot.
fn show(flat: &[f32], discrete: bool) -> String {
    if discrete {
        format!(
            "{}",
            flat.iter().position(|&x| x == 1.0).unwrap_or(usize::MAX)
        )
    } else {
        format!("{flat:?}")
    }
}

/// Replays one trajectory; returns the number of steps checked.
struct Replay<'a> {
    traj: &'a Value,
    label: String,
}

impl Replay<'_> {
    fn field(&self, key: &str) -> &Value {
        self.traj
            .get(key)
            .unwrap_or_else(|| panic!("{}: missing field '{key}'", self.label))
    }

    fn column(&self, key: &str, len: usize) -> &Vec<Value> {
        let col = self
            .field(key)
            .as_array()
            .unwrap_or_else(|| panic!("{}: '{key}' is not an array", self.label));
        assert_eq!(
            col.len(),
            len,
            "{}: '{key}' has the wrong length",
            self.label
        );
        col
    }
}

impl EnvVisitor for Replay<'_> {
    type Output = usize;

    fn visit<E: Env + Clone + 'static>(self, mut env: E, _spec: EnvSpec) -> usize {
        let label = &self.label;
        let space = env.observation_space();
        let dim = space.flat_dim();
        let discrete = space.n().is_some();
        let mut flat = vec![0.0f32; dim];

        let initial_state = match self.traj.get("initial_state") {
            Some(s) => f64s(s, "initial_state"),
            None => vec![
                self.field("initial_obs")
                    .as_f64()
                    .expect("integer initial_obs"),
            ],
        };
        env.reset_to_state(&initial_state).write_flat(&mut flat);
        let expected = flat_obs(self.field("initial_obs"), dim, "initial_obs");
        // Gymnasium computes an f32 reset state's observation in f32
        // arithmetic, this port in f64 then rounds (see the README).
        let tolerance = match self.traj.get("initial_state_dtype").and_then(Value::as_str) {
            Some("float32") => 1,
            _ => 0,
        };
        assert!(
            flat.len() == expected.len()
                && flat
                    .iter()
                    .zip(&expected)
                    .all(|(&a, &b)| ulps(a, b) <= tolerance),
            "{label}: reset observation differs: got {}, expected {} (tolerance {tolerance} ulp)",
            show(&flat, discrete),
            show(&expected, discrete),
        );

        let actions = self.field("actions").as_array().expect("actions array");
        let n = actions.len();
        let obs = self.column("obs", n);
        let reward = self.column("reward", n);
        let terminated = self.column("terminated", n);
        let truncated = self.column("truncated", n);
        let state = self.traj.get("state").map(|_| self.column("state", n));
        for t in 0..n {
            let action = actions[t].as_u64().expect("integer action") as usize;
            let step = env.step(action);
            step.obs.write_flat(&mut flat);
            let expected = flat_obs(&obs[t], dim, "obs");
            assert!(
                flat == expected,
                "{label}: step {t} (action {action}): obs got {}, expected {}",
                show(&flat, discrete),
                show(&expected, discrete),
            );
            if let Some(state) = state {
                let expected = f64s(&state[t], "state");
                assert!(
                    env.state() == expected,
                    "{label}: step {t} (action {action}): state got {:?}, expected {expected:?}",
                    env.state(),
                );
            }
            let expected = reward[t].as_f64().expect("numeric reward");
            assert!(
                step.reward == expected,
                "{label}: step {t} (action {action}): reward got {}, expected {expected}",
                step.reward,
            );
            for (name, got, col) in [
                ("terminated", step.terminated, terminated),
                ("truncated", step.truncated, truncated),
            ] {
                let expected = col[t].as_bool().expect("boolean flag");
                assert_eq!(
                    got, expected,
                    "{label}: step {t} (action {action}): {name} got {got}, expected {expected}"
                );
            }
        }
        n
    }
}

fn kwargs_of(traj: &Value, label: &str) -> Kwargs {
    let mut kwargs: Kwargs = match traj.get("make_kwargs") {
        Some(v) => serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("{label}: make_kwargs not understood: {e}")),
        None => Kwargs::new(),
    };
    if let Some(steps) = traj.get("max_episode_steps").and_then(Value::as_i64) {
        kwargs.insert("max_episode_steps".into(), KwValue::Int(steps));
    }
    kwargs
}

/// Compares one recorded FrozenLake table with the one `make` builds.
fn check_table(label: &str, key: &str, table: &Value) -> usize {
    let slippery = match key.rsplit('/').next() {
        Some("slippery") => true,
        Some("not_slippery") => false,
        _ => panic!("{label}: table key '{key}' ends neither in /slippery nor /not_slippery"),
    };
    let map: Vec<KwValue> = table["map"]
        .as_array()
        .expect("map is a list of rows")
        .iter()
        .map(|row| KwValue::Str(row.as_str().expect("map rows are strings").to_owned()))
        .collect();
    let kwargs = Kwargs::from([
        ("desc".to_owned(), KwValue::List(map)),
        ("is_slippery".to_owned(), KwValue::Bool(slippery)),
    ]);
    let AnyEnv::FrozenLake(env) = make("FrozenLake-v1", &kwargs).unwrap() else {
        panic!("FrozenLake-v1 made another environment");
    };
    let ours = env.inner().transitions();
    let theirs = table["P"].as_array().expect("P is a list of states");
    assert_eq!(ours.len(), theirs.len(), "{label}: number of states");
    let mut entries = 0;
    for (s, (our_actions, their_actions)) in ours.iter().zip(theirs).enumerate() {
        let their_actions = their_actions.as_array().expect("P[s] is a list");
        assert_eq!(
            our_actions.len(),
            their_actions.len(),
            "{label}: actions of state {s}"
        );
        for (a, (our_list, their_list)) in our_actions.iter().zip(their_actions).enumerate() {
            let their_list = their_list.as_array().expect("P[s][a] is a list");
            assert_eq!(
                our_list.len(),
                their_list.len(),
                "{label}: P[{s}][{a}] length: got {our_list:?}, expected {their_list:?}"
            );
            for (i, (ours, theirs)) in our_list.iter().zip(their_list).enumerate() {
                let expected = (
                    theirs[0].as_f64().expect("prob"),
                    theirs[1].as_u64().expect("next state") as usize,
                    theirs[2].as_f64().expect("reward"),
                    theirs[3].as_bool().expect("terminated"),
                );
                let got = (ours.prob, ours.next_state, ours.reward, ours.terminated);
                assert!(
                    got == expected,
                    "{label}: P[{s}][{a}][{i}] got {got:?}, expected {expected:?}"
                );
                entries += 1;
            }
        }
    }
    entries
}

#[test]
fn golden_conformance() {
    let files = golden_files();
    let (mut n_traj, mut n_steps, mut n_tables, mut n_entries, mut n_specs) = (0, 0, 0, 0, 0);
    for (file, json) in &files {
        for (i, traj) in trajectories(json).into_iter().enumerate() {
            let env_id = traj["env_id"].as_str().expect("env_id is a string");
            let label = format!(
                "{file}: trajectory {i} ({env_id}, seed {})",
                traj["reset_seed"]
            );
            let env = make(env_id, &kwargs_of(traj, &label))
                .unwrap_or_else(|e| panic!("{label}: make failed: {e}"));
            n_steps += env.visit(Replay {
                traj,
                label: label.clone(),
            });
            n_traj += 1;
        }
        if let Some(tables) = json.get("tables").and_then(Value::as_object) {
            for (key, table) in tables {
                if table.get("map").is_some() && table.get("P").is_some() {
                    n_entries += check_table(&format!("{file}: table {key}"), key, table);
                    n_tables += 1;
                }
            }
        }
        if let Some(specs) = json.get("specs").and_then(Value::as_object) {
            for (id, expected) in specs {
                let ours = deepq_envs::spec(id).unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(
                    Some(ours.max_episode_steps as u64),
                    expected["max_episode_steps"].as_u64(),
                    "{file}: {id} max_episode_steps"
                );
                assert_eq!(
                    Some(ours.reward_threshold),
                    expected["reward_threshold"].as_f64(),
                    "{file}: {id} reward_threshold"
                );
                n_specs += 1;
            }
        }
    }
    println!(
        "golden: {n_traj} trajectories ({n_steps} steps), {n_tables} FrozenLake tables \
         ({n_entries} transitions), {n_specs} specs, from {} files in {}",
        files.len(),
        golden_dir().display()
    );
    assert!(
        n_traj > 0,
        "no golden trajectory found in {}",
        golden_dir().display()
    );
}
