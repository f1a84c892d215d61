//! `deepq eval`: greedy evaluation of a saved agent.

use std::path::Path;

use deepq::Model;
use deepq::envs::{Env, EnvSpec, EnvVisitor};
use deepq::run_dir::{self, LoadedRun};
use deepq::{EvalStats, evaluate};
use serde::Serialize;

use crate::cli::EvalArgs;
use crate::error::{CliResult, Failure};
use deepq::summary::optimum;

/// Loads the run at `path` (config and model) and checks the model against the run's
/// environment; a missing or foreign directory is a usage error, corrupt files and models
/// whose shapes do not fit the environment are runtime errors.
pub fn open_run(path: &Path) -> CliResult<LoadedRun> {
    let loaded = run_dir::load_run(path)?;
    let env = deepq::envs::make(&loaded.config.env, &loaded.config.env_kwargs)?;
    loaded.check_fits(
        env.observation_space().flat_dim(),
        env.action_space().flat_dim(),
    )?;
    Ok(loaded)
}

#[derive(Serialize)]
struct EvalJson {
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
    episodes: usize,
    mean_length: f64,
    env: String,
    reward_threshold: f64,
    optimal_return: Option<f64>,
    returns: Vec<f64>,
}

/// Runs `deepq eval`.
pub fn run(args: &EvalArgs) -> CliResult<()> {
    if args.episodes == 0 {
        return Err(Failure::Usage(
            "invalid value 0 for '--episodes': must be at least 1".into(),
        ));
    }
    let loaded = open_run(&args.run)?;
    let env = deepq::envs::make(&loaded.config.env, &loaded.config.env_kwargs)?;
    let spec = env.spec().clone();
    let stats = env.visit(Evaluate {
        model: &loaded.model,
        episodes: args.episodes,
        seed: args.seed,
    });
    if args.json {
        let json = EvalJson {
            mean: stats.mean,
            std: stats.std,
            min: stats.min,
            max: stats.max,
            episodes: stats.episodes,
            mean_length: stats.mean_length,
            env: spec.id.clone(),
            reward_threshold: spec.reward_threshold,
            optimal_return: optimum(&loaded.config),
            returns: stats.returns,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("eval result serializes")
        );
    } else {
        let verdict = if stats.mean >= spec.reward_threshold {
            "solved"
        } else {
            "not solved"
        };
        println!(
            "{}: greedy mean return {:.2} ± {:.2} over {} episodes (min {:.2}, max {:.2}, mean length {:.1}); {}: {verdict}",
            spec.id,
            stats.mean,
            stats.std,
            stats.episodes,
            stats.min,
            stats.max,
            stats.mean_length,
            super::train::threshold_text(spec.reward_threshold)
        );
        if let Some(best) = optimum(&loaded.config) {
            println!("optimum (value iteration within the step limit): {best:.4}");
        }
    }
    Ok(())
}

struct Evaluate<'a> {
    model: &'a Model,
    episodes: usize,
    seed: u64,
}

impl EnvVisitor for Evaluate<'_> {
    type Output = EvalStats;

    fn visit<E: Env + Clone + 'static>(self, mut env: E, _spec: EnvSpec) -> EvalStats {
        evaluate(
            &mut env,
            self.episodes,
            Some(self.seed),
            self.model.greedy_policy(),
        )
    }
}
