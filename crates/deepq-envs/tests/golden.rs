//! Conformance with trajectories and transition tables recorded from Gymnasium.
//!
//! Reads every `*.json` file in `$DEEPQ_GOLDEN_DIR` (default: the nearest
//! `shared/golden` above this crate, normally `/work/shared/golden`; see its
//! README for the format) and in this crate's own `golden/` folder (Taxi,
//! CliffWalking and LunarLander, recorded by `golden/gen_golden.py`). Relies
//! only on the format, not on file names or top-level keys:
//! - a trajectory is any object with `env_id` and `actions` inside a top-level
//!   array; it is replayed from its recorded initial state and every step's
//!   observation, state, reward and flags must match exactly. A `dispersion`
//!   column (LunarLander's engine noise) is fed to the environment instead of
//!   its own draws; an `info_action_mask` column (Taxi) must match
//!   `taxi::action_mask` of each observation;
//! - every object with `P` under a top-level `tables` map is a transition
//!   table, compared entry by entry: with `map` it is FrozenLake's (the key
//!   ends in `/slippery` or `/not_slippery`), with `env_id` (and
//!   `make_kwargs`) it is the table of the environment `make` builds from
//!   them, and its `initial_state_distrib`, if recorded, must match too;
//! - every entry of a top-level `specs` map must match the registry; entries
//!   of a `registration` map must match where they hold a number (`null`
//!   means Gymnasium registers none, and this crate chose its own value).

use std::path::{Path, PathBuf};

use deepq_envs::toy_text::taxi;
use deepq_envs::{
    AnyEnv, Env, EnvSpec, EnvVisitor, KwValue, Kwargs, Observation, Transition, make,
};
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

/// This crate's own recordings.
fn crate_golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

/// Every golden directory, without repeats.
fn golden_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![golden_dir()];
    let own = crate_golden_dir();
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    if !same(&dirs[0], &own) {
        dirs.push(own);
    }
    dirs
}

fn golden_files() -> Vec<(String, Value)> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in golden_dirs() {
        let mut in_dir: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read golden dir {}: {e}", dir.display()))
            .map(|entry| entry.expect("readable dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        in_dir.sort();
        paths.extend(in_dir);
    }
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", p.display()));
            (p.display().to_string(), json)
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

/// The FrozenLake table `make` builds for a recorded `map` and key.
fn frozen_lake_table(label: &str, key: &str, table: &Value) -> Vec<Vec<Vec<Transition>>> {
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
    env.inner().transitions().to_vec()
}

/// The table and start distribution of the environment a recorded table
/// names with `env_id` and `make_kwargs`.
fn env_table(label: &str, table: &Value) -> (Vec<Vec<Vec<Transition>>>, Vec<f64>) {
    let env_id = table["env_id"].as_str().expect("env_id is a string");
    let env = make(env_id, &kwargs_of(table, label))
        .unwrap_or_else(|e| panic!("{label}: make failed: {e}"));
    match env {
        AnyEnv::Taxi(env) => (
            env.inner().transitions().to_vec(),
            deepq_envs::Taxi::initial_state_distribution(),
        ),
        AnyEnv::CliffWalking(env) => {
            let mut start = vec![0.0; env.inner().transitions().len()];
            start[deepq_envs::toy_text::cliff_walking::START] = 1.0;
            (env.inner().transitions().to_vec(), start)
        }
        AnyEnv::FrozenLake(env) => {
            let n = env.inner().n_states();
            let start: Vec<f64> = (0..n)
                .map(|s| if env.inner().cell(s) == 'S' { 1.0 } else { 0.0 })
                .collect();
            (env.inner().transitions().to_vec(), start)
        }
        _ => panic!("{label}: {env_id} has no transition table"),
    }
}

/// Compares one recorded table (`P[s][a]` = list of `[prob, next_state,
/// reward, terminated]`) with ours, entry by entry; returns the number of entries.
fn compare_table(label: &str, ours: &[Vec<Vec<Transition>>], table: &Value) -> usize {
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

/// Checks one recorded table of either kind; returns the number of entries.
fn check_table(label: &str, key: &str, table: &Value) -> usize {
    if table.get("env_id").is_some() {
        let (ours, start) = env_table(label, table);
        if let Some(expected) = table.get("initial_state_distrib") {
            assert!(
                f64s(expected, "initial_state_distrib") == start,
                "{label}: initial state distribution differs"
            );
        }
        compare_table(label, &ours, table)
    } else {
        compare_table(label, &frozen_lake_table(label, key, table), table)
    }
}

/// Checks a recorded `info_action_mask` column (Taxi) against
/// `taxi::action_mask` of the observations; returns the number of masks.
fn check_action_masks(label: &str, traj: &Value) -> usize {
    let Some(masks) = traj.get("info_action_mask").and_then(Value::as_array) else {
        return 0;
    };
    let as_mask = |v: &Value| -> Vec<bool> {
        v.as_array()
            .expect("a mask is a list")
            .iter()
            .map(|m| m.as_u64() == Some(1))
            .collect()
    };
    let mut pairs = vec![(&traj["initial_obs"], &traj["initial_action_mask"])];
    pairs.extend(traj["obs"].as_array().expect("obs").iter().zip(masks));
    for (t, (obs, mask)) in pairs.iter().enumerate() {
        let state = obs.as_u64().expect("integer obs") as usize;
        assert_eq!(
            taxi::action_mask(state).to_vec(),
            as_mask(mask),
            "{label}: action mask of state {state} (entry {t})"
        );
    }
    pairs.len()
}

/// Feeds a recorded `dispersion` column to a LunarLander before its replay.
fn script_randomness(env: &mut AnyEnv, traj: &Value, label: &str) {
    let Some(draws) = traj.get("dispersion") else {
        return;
    };
    let draws: Vec<[f64; 2]> = draws
        .as_array()
        .expect("dispersion is a list")
        .iter()
        .map(|d| {
            let d = f64s(d, "dispersion");
            [d[0], d[1]]
        })
        .collect();
    match env {
        AnyEnv::LunarLander(env) => env.inner_mut().script_dispersion(draws),
        _ => panic!("{label}: only LunarLander takes a dispersion column"),
    }
}

#[test]
fn golden_conformance() {
    let files = golden_files();
    let (mut n_traj, mut n_steps, mut n_tables, mut n_entries, mut n_specs) = (0, 0, 0, 0, 0);
    let mut n_masks = 0;
    for (file, json) in &files {
        for (i, traj) in trajectories(json).into_iter().enumerate() {
            let env_id = traj["env_id"].as_str().expect("env_id is a string");
            let label = format!(
                "{file}: trajectory {i} ({env_id}, seed {})",
                traj["reset_seed"]
            );
            let mut env = make(env_id, &kwargs_of(traj, &label))
                .unwrap_or_else(|e| panic!("{label}: make failed: {e}"));
            script_randomness(&mut env, traj, &label);
            n_masks += check_action_masks(&label, traj);
            n_steps += env.visit(Replay {
                traj,
                label: label.clone(),
            });
            n_traj += 1;
        }
        if let Some(tables) = json.get("tables").and_then(Value::as_object) {
            for (key, table) in tables {
                if table.get("P").is_some() {
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
        if let Some(registrations) = json.get("registration").and_then(Value::as_object) {
            for (id, expected) in registrations {
                let ours = deepq_envs::spec(id).unwrap_or_else(|e| panic!("{file}: {e}"));
                if let Some(steps) = expected["max_episode_steps"].as_u64() {
                    assert_eq!(ours.max_episode_steps as u64, steps, "{file}: {id} steps");
                }
                if let Some(threshold) = expected["reward_threshold"].as_f64() {
                    assert_eq!(ours.reward_threshold, threshold, "{file}: {id} threshold");
                }
                n_specs += 1;
            }
        }
    }
    println!(
        "golden: {n_traj} trajectories ({n_steps} steps, {n_masks} action masks), {n_tables} \
         tables ({n_entries} transitions), {n_specs} specs, from {} files in {:?}",
        files.len(),
        golden_dirs()
    );
    assert!(
        n_traj > 0,
        "no golden trajectory found in {}",
        golden_dir().display()
    );
}
