//! Replays `minatar.json` from the shared golden directory (`$DEEPQ_GOLDEN_DIR`, else the
//! first `shared/golden` above this crate; its README, section "MinAtar trajectories", and
//! `gen_minatar_golden.py` say how it was recorded with the reference package, minatar
//! 1.0.15). For each of the 15 trajectories (five games × seeds 0, 1, 2) the port must
//! reproduce every observation, reward and terminal, resetting without reseeding after each
//! terminal step as the recorder did.
//!
//! Run with `--nocapture` to see a line per trajectory.

use std::path::{Path, PathBuf};

use deepq_minatar::{Environment, Game};
use serde::Deserialize;

#[derive(Deserialize)]
struct GoldenFile {
    trajectories: Vec<Trajectory>,
}

#[derive(Deserialize)]
struct Trajectory {
    game: String,
    seed: u64,
    sticky_action_prob: f64,
    difficulty_ramping: bool,
    state_shape: [usize; 3],
    initial_obs: String,
    actions: Vec<usize>,
    reward: Vec<f64>,
    terminal: Vec<bool>,
    obs: Vec<String>,
    reset_obs: Vec<String>,
}

/// The golden directory: `$DEEPQ_GOLDEN_DIR`, else the first `shared/golden` found walking
/// up from this crate.
fn golden_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DEEPQ_GOLDEN_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared").join("golden"))
        .find(|d| d.join("minatar.json").is_file())
        .unwrap_or_else(|| manifest.join("../../../shared/golden"))
}

fn load() -> GoldenFile {
    let path = golden_dir().join("minatar.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The state as `np.packbits(state.reshape(-1)).hex()` writes it (MSB first).
fn pack_hex(cells: &[bool]) -> String {
    cells
        .chunks(8)
        .map(|chunk| {
            let byte = chunk
                .iter()
                .enumerate()
                .fold(0u8, |acc, (i, &b)| acc | (u8::from(b) << (7 - i)));
            format!("{byte:02x}")
        })
        .collect()
}

/// Describes the cells where two packed observations differ, as `(y, x, channel name)`.
fn diff(game: Game, expected_hex: &str, got: &[bool]) -> String {
    let bytes: Vec<u8> = (0..expected_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&expected_hex[i..i + 2], 16).unwrap())
        .collect();
    let c = game.n_channels();
    let mut out = Vec::new();
    for (i, &g) in got.iter().enumerate() {
        let e = bytes[i / 8] >> (7 - i % 8) & 1 == 1;
        if e != g {
            let (y, x, ch) = (i / c / 10, i / c % 10, i % c);
            out.push(format!(
                "({y},{x},{}) expected {e}",
                game.channel_names()[ch]
            ));
        }
    }
    out.join(", ")
}

/// Replays one trajectory; `Err` describes the first mismatch.
fn replay(t: &Trajectory) -> Result<(), String> {
    let game = Game::from_name(&t.game).ok_or_else(|| format!("unknown game {}", t.game))?;
    let mut env = Environment::new(game, t.sticky_action_prob, t.difficulty_ramping, t.seed);
    assert_eq!(env.state_shape(), t.state_shape);
    let mut obs = vec![false; env.state_len()];
    env.state_into(&mut obs);
    if pack_hex(&obs) != t.initial_obs {
        return Err(format!(
            "initial observation differs: {}",
            diff(game, &t.initial_obs, &obs)
        ));
    }
    let mut resets = t.reset_obs.iter();
    for (step, &action) in t.actions.iter().enumerate() {
        let (reward, terminal) = env.act(action);
        env.state_into(&mut obs);
        if reward != t.reward[step] || terminal != t.terminal[step] {
            return Err(format!(
                "step {step} (action {action}): got reward {reward} terminal {terminal}, \
                 expected {} {}",
                t.reward[step], t.terminal[step]
            ));
        }
        if pack_hex(&obs) != t.obs[step] {
            return Err(format!(
                "step {step} (action {action}): observation differs: {}",
                diff(game, &t.obs[step], &obs)
            ));
        }
        if terminal {
            env.reset();
            env.state_into(&mut obs);
            let expected = resets.next().ok_or("more resets than recorded")?;
            if pack_hex(&obs) != *expected {
                return Err(format!(
                    "reset after step {step}: observation differs: {}",
                    diff(game, expected, &obs)
                ));
            }
        }
    }
    if resets.next().is_some() {
        return Err("fewer resets than recorded".into());
    }
    Ok(())
}

#[test]
fn all_trajectories_match_the_reference() {
    let file = load();
    assert_eq!(file.trajectories.len(), 15, "5 games x 3 seeds");
    let mut failures = Vec::new();
    for t in &file.trajectories {
        let result = replay(t);
        let episodes = t.terminal.iter().filter(|&&x| x).count();
        let total: f64 = t.reward.iter().sum();
        match &result {
            Ok(()) => println!(
                "ok   {:<15} seed {} ({} steps, {episodes} episodes, reward {total})",
                t.game,
                t.seed,
                t.actions.len()
            ),
            Err(e) => println!("FAIL {:<15} seed {}: {e}", t.game, t.seed),
        }
        if let Err(e) = result {
            failures.push(format!("{} seed {}: {e}", t.game, t.seed));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 15 trajectories differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Checkpointing mid-episode through serde resumes the identical trajectory.
#[test]
fn serde_checkpoint_resumes_identically() {
    let file = load();
    for t in file.trajectories.iter().filter(|t| t.seed == 0) {
        let game = Game::from_name(&t.game).unwrap();
        let mut env = Environment::new(game, t.sticky_action_prob, t.difficulty_ramping, t.seed);
        let half = t.actions.len() / 2;
        for &a in &t.actions[..half] {
            if env.act(a).1 {
                env.reset();
            }
        }
        let json = serde_json::to_string(&env).unwrap();
        let mut resumed: Environment = serde_json::from_str(&json).unwrap();
        assert_eq!(resumed, env);
        for &a in &t.actions[half..] {
            let x = env.act(a);
            let y = resumed.act(a);
            assert_eq!(x, y);
            assert_eq!(env.state(), resumed.state());
            if x.1 {
                env.reset();
                resumed.reset();
            }
        }
    }
}
