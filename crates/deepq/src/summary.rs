//! The summaries a run directory holds in `summary.json`: one run's ([`RunSummary`]) and the
//! aggregate over the seeds of one configuration ([`SeedsSummary`]), which `deepq train
//! --seeds`, `deepq aggregate` and the Python package's sweeps all write. Their keys are a
//! contract: scripts read them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::DqnConfig;
use crate::core::TrainSummary;
use crate::run_dir::{self, RunDir, RunDirError};
use crate::stats::Aggregate;

/// `summary.json` of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Environment id.
    pub env: String,
    /// Preset the run started from.
    pub preset: String,
    /// The run's seed.
    pub seed: u64,
    /// Configured step budget.
    pub total_timesteps: u64,
    /// Environment steps taken.
    pub env_steps: u64,
    /// Training episodes finished.
    pub episodes: u64,
    /// Gradient steps taken.
    pub updates: u64,
    /// Training wall time in seconds.
    pub wall_s: f64,
    /// Environment steps per second.
    pub steps_per_s: f64,
    /// Gradient steps per second.
    pub updates_per_s: f64,
    /// Episodes of the final greedy evaluation (0 when interrupted).
    pub eval_episodes: usize,
    /// Mean return of the final greedy evaluation (null when interrupted).
    pub eval_mean: Option<f64>,
    /// Standard deviation of those returns.
    pub eval_std: Option<f64>,
    /// Lowest of those returns.
    pub eval_min: Option<f64>,
    /// Highest of those returns.
    pub eval_max: Option<f64>,
    /// Episodes of the final evaluation cut by its step cap (`eval_max_episode_steps`)
    /// rather than ended by the environment.
    #[serde(default)]
    pub eval_capped_episodes: usize,
    /// The environment's reward threshold; JSON has no infinity, so an environment without
    /// one (MinAtar) is written as null, and null reads back as infinite.
    #[serde(deserialize_with = "infinite_if_null")]
    pub reward_threshold: f64,
    /// Whether the final evaluation mean reached the threshold.
    pub solved: bool,
    /// The best expected return any policy can reach within the step limit, where the env's
    /// transition table is known (FrozenLake): value iteration's benchmark.
    pub optimal_return: Option<f64>,
    /// Step of the first periodic evaluation that reached the threshold.
    pub solved_at_step: Option<u64>,
    /// Whether training, or its final evaluation, was interrupted (Ctrl-C).
    pub interrupted: bool,
    /// Steps of the longest training episode still under way when training ended, when it
    /// had run past `eval_max_episode_steps` (a policy that never ends an episode).
    #[serde(default)]
    pub long_episode_steps: Option<u64>,
    /// The kernel of the network's matrix products (`"f32"`, `"bf16-amx"`, `"bf16-avx512"`,
    /// `"bf16-portable"`; absent for tabular runs and in summaries written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matmul_path: Option<String>,
    /// Version of deepq that trained it.
    pub deepq_version: String,
}

impl RunSummary {
    /// The summary of a finished training run of `cfg`, started from `preset`.
    pub fn new(cfg: &DqnConfig, preset: &str, s: TrainSummary) -> Self {
        RunSummary {
            env: s.env,
            preset: preset.to_string(),
            seed: s.seed,
            total_timesteps: s.total_timesteps,
            env_steps: s.env_steps,
            episodes: s.episodes,
            updates: s.updates,
            wall_s: s.wall_s,
            steps_per_s: s.steps_per_s,
            updates_per_s: s.updates_per_s,
            eval_episodes: s.eval.as_ref().map_or(0, |e| e.episodes),
            eval_mean: s.eval.as_ref().map(|e| e.mean),
            eval_std: s.eval.as_ref().map(|e| e.std),
            eval_min: s.eval.as_ref().map(|e| e.min),
            eval_max: s.eval.as_ref().map(|e| e.max),
            eval_capped_episodes: s.eval.as_ref().map_or(0, |e| e.capped),
            reward_threshold: s.reward_threshold,
            solved: s.solved,
            optimal_return: optimum(cfg),
            solved_at_step: s.solved_at_step,
            interrupted: s.interrupted,
            long_episode_steps: s.long_episode_steps,
            matmul_path: s.matmul_path,
            deepq_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Reads a run's `summary.json`; a missing or unparsable file is an error naming it.
    pub fn read(run: &RunDir) -> Result<Self, RunDirError> {
        let path = run.summary();
        let bytes = run_dir::read_file(&path)?;
        serde_json::from_slice(&bytes).map_err(|e| RunDirError::InvalidSummary {
            path,
            reason: e.to_string(),
        })
    }
}

/// Reads a threshold that serde_json wrote as null because it was infinite.
fn infinite_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// Aggregate `summary.json` of one configuration trained on several seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedsSummary {
    /// Environment id.
    pub env: String,
    /// Preset the runs started from.
    pub preset: String,
    /// The seeds, in order.
    pub seeds: Vec<u64>,
    /// Fraction of seeds whose final evaluation reached the threshold.
    pub solve_rate: f64,
    /// The final evaluation mean across seeds (null if every seed was interrupted).
    pub eval_mean: Option<Aggregate>,
    /// Training wall time across seeds.
    pub wall_s: Aggregate,
    /// Steps of the first periodic evaluation at the threshold, over the seeds that got there.
    pub solved_at_step: Option<Aggregate>,
    /// Every seed's summary.
    pub runs: Vec<RunSummary>,
    /// Version of deepq that aggregated them.
    pub deepq_version: String,
}

impl SeedsSummary {
    /// Aggregates the summaries of one configuration's runs (at least one), in the order
    /// given; the seeds are the runs' own.
    pub fn of(env: &str, preset: &str, runs: Vec<RunSummary>) -> Self {
        let solved_steps: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.solved_at_step.map(|s| s as f64))
            .collect();
        let evals: Vec<f64> = runs.iter().filter_map(|r| r.eval_mean).collect();
        SeedsSummary {
            env: env.to_string(),
            preset: preset.to_string(),
            seeds: runs.iter().map(|r| r.seed).collect(),
            solve_rate: runs.iter().filter(|r| r.solved).count() as f64 / runs.len() as f64,
            eval_mean: (!evals.is_empty()).then(|| Aggregate::of(&evals)),
            wall_s: Aggregate::of(&runs.iter().map(|r| r.wall_s).collect::<Vec<_>>()),
            solved_at_step: (!solved_steps.is_empty()).then(|| Aggregate::of(&solved_steps)),
            runs,
            deepq_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Why runs could not be aggregated: one line naming the run.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// A run directory is missing, not a run, unreadable or corrupt.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// A run has no `summary.json`: its training has not finished.
    #[error("run directory '{}' has no summary.json: its training has not finished", .0.display())]
    Unfinished(PathBuf),
    /// The runs are not seeds of one configuration.
    #[error("{0}")]
    Mismatch(String),
}

/// A finished run read back from its directory: its config and its summary.
#[derive(Clone, Debug)]
pub struct FinishedRun {
    /// The run directory.
    pub dir: RunDir,
    /// Its config.
    pub config: DqnConfig,
    /// The preset its config records (`custom` if none).
    pub preset: String,
    /// Its `summary.json`.
    pub summary: RunSummary,
}

impl FinishedRun {
    /// Reads the finished run at `dir`.
    pub fn read(dir: &Path) -> Result<Self, AggregateError> {
        let run = RunDir::open(dir)?;
        let (config, text) = run.read_config()?;
        if !run.summary().is_file() {
            return Err(AggregateError::Unfinished(dir.to_path_buf()));
        }
        let summary = RunSummary::read(&run)?;
        if summary.seed != config.run.seed || summary.env != config.run.env {
            return Err(AggregateError::Mismatch(format!(
                "'{}' does not match '{}' (seed {} on {} against seed {} on {})",
                run.summary().display(),
                run.config().display(),
                summary.seed,
                summary.env,
                config.run.seed,
                config.run.env
            )));
        }
        Ok(FinishedRun {
            preset: run_dir::preset_of(&text).unwrap_or("custom").to_string(),
            dir: run,
            config,
            summary,
        })
    }
}

/// Aggregates finished runs (at least one) of one configuration with different seeds, in
/// seed order (so a shell glob's order does not matter); refuses runs whose configs differ
/// in anything but the seed, and repeated seeds: their aggregate would not describe one
/// configuration.
pub fn aggregate_runs(runs: &[FinishedRun]) -> Result<SeedsSummary, AggregateError> {
    let table = |cfg: &DqnConfig| -> toml::Table {
        {
            let mut config = cfg.clone();
            config.run.seed = 0;
            config
        }
        .to_toml()
        .parse()
        .expect("DqnConfig::to_toml produces valid TOML")
    };
    let first = runs
        .first()
        .ok_or_else(|| AggregateError::Mismatch("no runs to aggregate".into()))?;
    let reference = table(&first.config);
    for (i, run) in runs.iter().enumerate().skip(1) {
        let other = table(&run.config);
        let differing = reference
            .keys()
            .chain(other.keys())
            .find(|key| reference.get(*key) != other.get(*key));
        if let Some(key) = differing {
            let show = |t: &toml::Table| t.get(key).map_or("unset".into(), |v| v.to_string());
            return Err(AggregateError::Mismatch(format!(
                "cannot aggregate '{}' with '{}': their configs differ in '{key}' ({} against {}); aggregate runs of one config with different seeds",
                run.dir.root().display(),
                first.dir.root().display(),
                show(&other),
                show(&reference)
            )));
        }
        if let Some(twin) = runs[..i]
            .iter()
            .find(|r| r.config.run.seed == run.config.run.seed)
        {
            return Err(AggregateError::Mismatch(format!(
                "cannot aggregate '{}' with '{}': both were trained with seed {}",
                run.dir.root().display(),
                twin.dir.root().display(),
                run.config.run.seed
            )));
        }
    }
    let mut summaries: Vec<RunSummary> = runs.iter().map(|r| r.summary.clone()).collect();
    summaries.sort_by_key(|s| s.seed);
    Ok(SeedsSummary::of(
        &first.config.run.env,
        &first.preset,
        summaries,
    ))
}

/// Value iteration's optimum for the run's env, when its dynamics are known.
pub fn optimum(cfg: &DqnConfig) -> Option<f64> {
    let env = deepq_envs::make(&cfg.run.env, &cfg.run.env_kwargs).ok()?;
    crate::tabular::env_optimum(&env)
}

/// Writes a run's `summary.json` atomically.
pub fn write(run: &RunDir, summary: &RunSummary) -> Result<(), RunDirError> {
    run_dir::write_json(&run.summary(), summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seed: u64, eval: Option<f64>, solved_at: Option<u64>) -> RunSummary {
        RunSummary {
            env: "CartPole-v1".into(),
            preset: "default".into(),
            seed,
            total_timesteps: 100,
            env_steps: 100,
            episodes: 5,
            updates: 50,
            wall_s: seed as f64 + 1.0,
            steps_per_s: 100.0,
            updates_per_s: 50.0,
            eval_episodes: eval.map_or(0, |_| 10),
            eval_mean: eval,
            eval_std: eval.map(|_| 0.0),
            eval_min: eval,
            eval_max: eval,
            eval_capped_episodes: 0,
            reward_threshold: 475.0,
            solved: eval.is_some_and(|e| e >= 475.0),
            optimal_return: None,
            solved_at_step: solved_at,
            interrupted: eval.is_none(),
            long_episode_steps: None,
            matmul_path: None,
            deepq_version: "0".into(),
        }
    }

    #[test]
    fn seeds_aggregate_their_evaluations_and_solve_rate() {
        let s = SeedsSummary::of(
            "CartPole-v1",
            "default",
            vec![
                run(3, Some(500.0), Some(9000)),
                run(1, Some(100.0), None),
                run(2, None, None),
            ],
        );
        assert_eq!(s.seeds, [3, 1, 2]);
        assert!((s.solve_rate - 1.0 / 3.0).abs() < 1e-12);
        let e = s.eval_mean.unwrap();
        assert_eq!((e.n, e.mean), (2, 300.0));
        assert_eq!(s.solved_at_step.unwrap().n, 1);
        assert_eq!(s.wall_s.n, 3);
    }

    #[test]
    fn an_infinite_threshold_round_trips_through_null() {
        let summary = RunSummary {
            reward_threshold: f64::INFINITY,
            ..run(0, Some(1.0), None)
        };
        let json = serde_json::to_string(&summary).unwrap();
        assert!(json.contains("\"reward_threshold\":null"), "{json}");
        let back: RunSummary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn summaries_round_trip_and_bad_files_name_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let r = RunDir::create(dir.path()).unwrap();
        let s = run(0, Some(480.0), Some(1000));
        write(&r, &s).unwrap();
        assert_eq!(RunSummary::read(&r).unwrap(), s);
        std::fs::write(r.summary(), "{\"env\": 3}").unwrap();
        let e = RunSummary::read(&r).unwrap_err();
        assert!(e.to_string().starts_with(&format!(
            "'{}' is not a valid run summary: ",
            r.summary().display()
        )));
    }
}
