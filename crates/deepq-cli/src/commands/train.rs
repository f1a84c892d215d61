//! `deepq train`: one seed into a run directory, or several seeds in parallel with an
//! aggregate summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deepq::run_dir::{self, RunDir, write_json};
use deepq::stats::Aggregate;
use deepq::{DqnConfig, TrainSummary};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cli::{TrainArgs, parse_seeds};
use crate::error::{CliResult, Failure};
use crate::observer::{RunObserver, progress_bar};
use crate::plots::{self, Format};
use crate::settings::{self, Sources};

/// `summary.json` of one run (a contract: scripts read these keys).
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
    /// The environment's reward threshold.
    pub reward_threshold: f64,
    /// Whether the final evaluation mean reached the threshold.
    pub solved: bool,
    /// The best expected return any policy can reach within the step limit, where the env's
    /// transition table is known (FrozenLake): value iteration's benchmark.
    pub optimal_return: Option<f64>,
    /// Step of the first periodic evaluation that reached the threshold.
    pub solved_at_step: Option<u64>,
    /// Whether training was interrupted (Ctrl-C) before its budget.
    pub interrupted: bool,
    /// Version of deepq that trained it.
    pub deepq_version: String,
}

impl RunSummary {
    fn new(preset: &str, s: TrainSummary) -> Self {
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
            reward_threshold: s.reward_threshold,
            solved: s.solved,
            optimal_return: None,
            solved_at_step: s.solved_at_step,
            interrupted: s.interrupted,
            deepq_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Aggregate `summary.json` of a multi-seed run.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// Version of deepq that trained them.
    pub deepq_version: String,
}

/// Runs `deepq train`.
pub fn run(args: &TrainArgs) -> CliResult<()> {
    if let Some(dir) = &args.resume {
        return resume(dir, args);
    }
    if args.seeds.is_some() {
        let (summary, out) = run_seeds(args)?;
        print_seeds_summary(&summary, &out);
        return match summary.runs.iter().find(|r| r.interrupted) {
            Some(r) => interrupted(r, &out),
            None => Ok(()),
        };
    }
    let (preset, cfg) = resolve(args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_dir(&cfg, &preset, &cfg.seed.to_string()));
    let bar = (!args.quiet).then(|| progress_bar(cfg.total_timesteps));
    let summary = train_one(
        &cfg,
        &preset,
        &out,
        bar,
        args.tensorboard,
        &stop_on_ctrl_c(),
    )?;
    print_summary(&summary, &out);
    interrupted(&summary, &out)
}

fn resolve(args: &TrainArgs) -> CliResult<(String, DqnConfig)> {
    settings::resolve(&Sources {
        preset: args.preset.as_deref(),
        config_file: args.config.as_deref(),
        sets: &args.set,
        env: args.env.as_deref(),
        seed: args.seed,
        total_timesteps: args.total_timesteps,
    })
}

/// Trains every seed of `--seeds` in parallel into `DIR/seed-<n>/` and writes the aggregate
/// summary and plot; returns the summary and `DIR`.
pub fn run_seeds(args: &TrainArgs) -> CliResult<(SeedsSummary, PathBuf)> {
    let (preset, cfg) = resolve(args)?;
    let spec = args.seeds.as_deref().unwrap_or("0");
    let seeds = parse_seeds(spec).map_err(Failure::Usage)?;
    let jobs = crate::cli::jobs(args.jobs).map_err(Failure::Usage)?;
    let tag = format!("seeds{}-{}", seeds[0], seeds[seeds.len() - 1]);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_dir(&cfg, &preset, &tag));
    let summary = train_seeds(&cfg, &preset, &seeds, jobs, &out, args, &stop_on_ctrl_c())?;
    Ok((summary, out))
}

/// Trains one seed into `out`: config, CSV logs, checkpoints, model, summary, plots.
pub fn train_one(
    cfg: &DqnConfig,
    preset: &str,
    out: &Path,
    bar: Option<indicatif::ProgressBar>,
    tensorboard: bool,
    stop: &Arc<AtomicBool>,
) -> CliResult<RunSummary> {
    let run = RunDir::create(out)?;
    run.write_config(&run_dir::config_text(cfg, Some(preset)))?;
    let observer = RunObserver::new(&run, bar, tensorboard, None, Arc::clone(stop))?;
    finish_run(&run, cfg, preset, observer, |obs| {
        deepq::train(cfg, obs).map(|o| (o.summary, o.model.to_safetensors()))
    })
}

/// `deepq train --resume DIR`: continues a run from `DIR/checkpoint/` to its configured end,
/// appending to its logs.
fn resume(dir: &Path, args: &TrainArgs) -> CliResult<()> {
    let run = RunDir::open(dir).map_err(|e| match Failure::from(e) {
        Failure::Usage(m) => Failure::Usage(format!("cannot resume: {m}")),
        other => other,
    })?;
    let bytes = std::fs::read(run.checkpoint()).map_err(|e| {
        Failure::Usage(format!(
            "cannot resume '{}': no readable checkpoint at '{}' ({e})",
            dir.display(),
            run.checkpoint().display()
        ))
    })?;
    let (header, _) = deepq::checkpoint::read_header(&bytes).map_err(|e| {
        Failure::Runtime(format!(
            "cannot resume from '{}': {e}",
            run.checkpoint().display()
        ))
    })?;
    let cfg = header.config;
    let preset = preset_of(&run);
    let bar = (!args.quiet).then(|| {
        let bar = progress_bar(cfg.total_timesteps);
        bar.set_position(header.steps);
        bar
    });
    let observer = RunObserver::new(
        &run,
        bar,
        args.tensorboard,
        Some(header.steps),
        stop_on_ctrl_c(),
    )?;
    let summary = finish_run(&run, &cfg, &preset, observer, |obs| {
        deepq::train::resume(&bytes, obs).map(|o| (o.summary, o.model.to_safetensors()))
    })?;
    print_summary(&summary, dir);
    interrupted(&summary, dir)
}

/// Runs training through `observer`, then saves the model, summary and plots.
fn finish_run(
    run: &RunDir,
    cfg: &DqnConfig,
    preset: &str,
    mut observer: RunObserver,
    train: impl FnOnce(&mut RunObserver) -> Result<(TrainSummary, Vec<u8>), deepq::TrainError>,
) -> CliResult<RunSummary> {
    let outcome = train(&mut observer);
    let last_checkpoint = observer.last_checkpoint();
    observer.finish()?;
    let outcome = outcome.map_err(|e| match e {
        deepq::TrainError::Diverged { .. } => {
            let kept = match last_checkpoint {
                Some(step) => format!(
                    "the last good checkpoint (step {step}) is kept in '{}'",
                    run.checkpoint().display()
                ),
                None => "no checkpoint had been written yet".to_string(),
            };
            Failure::Runtime(format!("{e}; {kept}"))
        }
        other => other.into(),
    })?;
    let (trained, model) = outcome;
    run.write_model(&model)?;
    let mut summary = RunSummary::new(preset, trained);
    summary.optimal_return = optimum(cfg);
    write_json(&run.summary(), &summary)?;
    plots::draw_run(
        run,
        Format::Png,
        cfg.rolling_window,
        Some(summary.reward_threshold),
    )?;
    Ok(summary)
}

fn train_seeds(
    cfg: &DqnConfig,
    preset: &str,
    seeds: &[u64],
    jobs: usize,
    out: &Path,
    args: &TrainArgs,
    stop: &Arc<AtomicBool>,
) -> CliResult<SeedsSummary> {
    let runs: Vec<(DqnConfig, PathBuf)> = seeds
        .iter()
        .map(|&seed| {
            (
                DqnConfig {
                    seed,
                    ..cfg.clone()
                },
                out.join(format!("seed-{seed}")),
            )
        })
        .collect();
    let summaries = train_parallel(&runs, preset, jobs, args.quiet, args.tensorboard, stop)?;
    let summary = aggregate(cfg, preset, seeds, summaries);
    write_json(&out.join("summary.json"), &summary)?;
    let dirs: Vec<RunDir> = runs.iter().map(|(_, dir)| RunDir::at(dir)).collect();
    let threshold = summary.runs[0].reward_threshold;
    plots::draw_seeds(
        out,
        &[("mean over seeds", dirs.as_slice())],
        cfg.rolling_window,
        threshold,
    )?;
    Ok(summary)
}

/// Trains every `(config, directory)` pair on a pool of `jobs` threads, with a progress bar
/// over runs unless `quiet`; returns the summaries in the order given.
pub fn train_parallel(
    runs: &[(DqnConfig, PathBuf)],
    preset: &str,
    jobs: usize,
    quiet: bool,
    tensorboard: bool,
    stop: &Arc<AtomicBool>,
) -> CliResult<Vec<RunSummary>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start {jobs} worker threads: {e}")))?;
    let bar = (!quiet).then(|| {
        let bar = indicatif::ProgressBar::new(runs.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {elapsed}  {msg}")
                .expect("valid progress template"),
        );
        bar
    });
    let summaries = pool.install(|| {
        runs.par_iter()
            .map(|(cfg, dir)| {
                let summary = train_one(cfg, preset, dir, None, tensorboard, stop);
                if let (Some(bar), Ok(s)) = (&bar, &summary) {
                    bar.inc(1);
                    let eval = s.eval_mean.map_or("-".into(), |m| format!("{m:.1}"));
                    bar.set_message(format!("last: {} eval {eval}", dir.display()));
                }
                summary
            })
            .collect::<CliResult<Vec<_>>>()
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    summaries
}

/// Aggregates the summaries of one configuration's seeds.
pub fn aggregate(
    cfg: &DqnConfig,
    preset: &str,
    seeds: &[u64],
    runs: Vec<RunSummary>,
) -> SeedsSummary {
    let solved_steps: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.solved_at_step.map(|s| s as f64))
        .collect();
    SeedsSummary {
        env: cfg.env.clone(),
        preset: preset.to_string(),
        seeds: seeds.to_vec(),
        solve_rate: runs.iter().filter(|r| r.solved).count() as f64 / runs.len() as f64,
        eval_mean: aggregate_of(runs.iter().filter_map(|r| r.eval_mean)),
        wall_s: Aggregate::of(&runs.iter().map(|r| r.wall_s).collect::<Vec<_>>()),
        solved_at_step: (!solved_steps.is_empty()).then(|| Aggregate::of(&solved_steps)),
        runs,
        deepq_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Value iteration's optimum for the run's env, when its dynamics are known.
pub fn optimum(cfg: &DqnConfig) -> Option<f64> {
    let env = deepq::envs::make(&cfg.env, &cfg.env_kwargs).ok()?;
    deepq::tabular::env_optimum(&env)
}

/// The preset a run started from, as its config file records it.
fn preset_of(run: &RunDir) -> String {
    run.read_config_text()
        .ok()
        .and_then(|text| run_dir::preset_of(&text).map(str::to_string))
        .unwrap_or_else(|| "custom".into())
}

fn aggregate_of(values: impl Iterator<Item = f64>) -> Option<Aggregate> {
    let values: Vec<f64> = values.collect();
    (!values.is_empty()).then(|| Aggregate::of(&values))
}

/// `runs/<env>-<preset>-<tag>-<timestamp>`.
fn default_dir(cfg: &DqnConfig, preset: &str, tag: &str) -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("runs").join(format!("{}-{preset}-{tag}-{stamp}", cfg.env))
}

/// A flag set by Ctrl-C; training polls it and stops after the current step.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // If a handler cannot be installed (e.g. one already is), Ctrl-C keeps its default effect.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    stop
}

fn interrupted(summary: &RunSummary, out: &Path) -> CliResult<()> {
    if summary.interrupted {
        return Err(Failure::Interrupted(format!(
            "interrupted at step {}; the run so far is saved in {}",
            summary.env_steps,
            out.display()
        )));
    }
    Ok(())
}

/// "threshold 475", or "no reward threshold" for an env that registers none (MinAtar).
pub fn threshold_text(threshold: f64) -> String {
    if threshold.is_finite() {
        format!("threshold {threshold}")
    } else {
        "no reward threshold".into()
    }
}

fn print_summary(s: &RunSummary, out: &Path) {
    println!("{} · preset {} · seed {}", s.env, s.preset, s.seed);
    println!(
        "  trained {} steps, {} episodes, {} updates in {:.2} s ({:.0} steps/s, {:.0} updates/s)",
        s.env_steps, s.episodes, s.updates, s.wall_s, s.steps_per_s, s.updates_per_s
    );
    let verdict = if s.solved { "solved" } else { "not solved" };
    let first = s.solved_at_step.map_or(String::new(), |step| {
        format!(", first reached at step {step}")
    });
    if let (Some(mean), Some(std)) = (s.eval_mean, s.eval_std) {
        println!(
            "  greedy eval over {} episodes: {mean:.2} ± {std:.2} ({}): {verdict}{first}",
            s.eval_episodes,
            threshold_text(s.reward_threshold)
        );
    }
    if let Some(best) = s.optimal_return {
        println!("  optimum (value iteration within the step limit): {best:.4}");
    }
    println!("  run directory: {}", out.display());
}

fn print_seeds_summary(s: &SeedsSummary, out: &Path) {
    println!("{} · preset {} · {} seeds", s.env, s.preset, s.seeds.len());
    if let Some(e) = &s.eval_mean {
        println!(
            "  final eval mean: mean {:.2}, median {:.2}, IQM {:.2}, 95% CI [{:.2}, {:.2}]",
            e.mean, e.median, e.iqm, e.ci95[0], e.ci95[1]
        );
    }
    println!(
        "  solve rate {:.0}% · wall time median {:.2} s, IQM {:.2} s",
        s.solve_rate * 100.0,
        s.wall_s.median,
        s.wall_s.iqm
    );
    println!("  run directory: {}", out.display());
}
