//! `deepq eval`: greedy evaluation of a saved agent.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deepq::envs::{Env, EnvSpec, EnvVisitor};
use deepq::eval::EvalProgress;
use deepq::run_dir::{self, LoadedRun};
use deepq::train::Observer;
use deepq::{EvalPlan, EvalStats, Model, evaluate};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::EvalArgs;
use crate::error::{CliResult, Failure};
use crate::observer::evaluation_message;
use deepq::summary::optimum;

/// Loads the run at `path` (config and model) and checks the model against the run's
/// environment; a missing or foreign directory is a usage error, corrupt files and models
/// whose shapes do not fit the environment are runtime errors.
pub fn open_run(path: &Path) -> CliResult<LoadedRun> {
    let loaded = run_dir::load_run(path)?;
    let env = deepq::envs::make(&loaded.config.run.env, &loaded.config.run.env_kwargs)?;
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
    capped: usize,
    max_episode_steps: u64,
    env: String,
    reward_threshold: f64,
    optimal_return: Option<f64>,
    returns: Vec<f64>,
}

/// Runs `deepq eval`.
pub fn run(args: &EvalArgs) -> CliResult<()> {
    if args.episodes == Some(0) {
        return Err(Failure::Usage(
            "invalid value 0 for '--episodes': must be at least 1".into(),
        ));
    }
    let loaded = open_run(&args.run)?;
    // As many episodes as the run's own final evaluation, unless asked.
    let episodes = args.episodes.unwrap_or(loaded.config.eval.final_episodes);
    let env = deepq::envs::make(&loaded.config.run.env, &loaded.config.run.env_kwargs)?;
    let spec = env.spec().clone();
    let plan = EvalPlan {
        episodes,
        seed: Some(args.seed),
        max_episode_steps: loaded.config.eval.max_episode_steps,
    };
    let mut watch = Watch {
        bar: episodes_bar(episodes),
        stop: super::train::stop_on_ctrl_c(),
    };
    let stats = env.visit(Evaluate {
        model: &loaded.model,
        plan: &plan,
        watch: &mut watch,
    });
    watch.bar.finish_and_clear();
    let Some(stats) = stats else {
        return Err(Failure::Interrupted(
            "evaluation interrupted; nothing was written".into(),
        ));
    };
    if args.json {
        let json = EvalJson {
            mean: stats.mean,
            std: stats.std,
            min: stats.min,
            max: stats.max,
            episodes: stats.episodes,
            mean_length: stats.mean_length,
            capped: stats.capped,
            max_episode_steps: plan.max_episode_steps,
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
        if stats.capped > 0 {
            println!(
                "{}",
                capped_text(stats.capped, stats.episodes, plan.max_episode_steps)
            );
        }
        if let Some(best) = optimum(&loaded.config) {
            println!("optimum (value iteration within the step limit): {best:.4}");
        }
    }
    Ok(())
}

/// "1 of 100 episodes reached the 27000-step cap (eval_max_episode_steps) without ending;
/// they count as truncated".
pub fn capped_text(capped: usize, episodes: usize, max_episode_steps: u64) -> String {
    format!(
        "{capped} of {episodes} episodes reached the {max_episode_steps}-step cap (eval_max_episode_steps) without ending; they count as truncated"
    )
}

/// A progress bar over the evaluation's episodes (drawn only on a terminal).
fn episodes_bar(episodes: usize) -> ProgressBar {
    let bar = ProgressBar::new(episodes as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {msg}").expect("valid progress template"));
    bar
}

/// Shows the evaluation's progress and stops it on Ctrl-C.
struct Watch {
    bar: ProgressBar,
    stop: Arc<AtomicBool>,
}

impl Observer for Watch {
    fn on_eval_progress(&mut self, p: &EvalProgress) {
        self.bar.set_position(p.episodes_done as u64);
        self.bar.set_message(evaluation_message(p));
    }

    fn should_stop_evaluating(&mut self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

struct Evaluate<'a> {
    model: &'a Model,
    plan: &'a EvalPlan,
    watch: &'a mut Watch,
}

impl EnvVisitor for Evaluate<'_> {
    type Output = Option<EvalStats>;

    fn visit<E: Env + Clone + 'static>(self, mut env: E, _spec: EnvSpec) -> Option<EvalStats> {
        evaluate(&mut env, self.plan, self.model.greedy_policy(), self.watch)
    }
}
