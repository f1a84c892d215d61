//! `deepq train`: one seed into a run directory, or several seeds in parallel with an
//! aggregate summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use deepq::run_dir::{self, RunDir};
use deepq::run_log;
pub use deepq::summary::{RunSummary, SeedsSummary};
use deepq::{DqnConfig, TrainSummary};
use deepq_plots::{self as plots, Format};
use rayon::prelude::*;

use crate::cli::{TrainArgs, describe_seeds, parse_seeds};
use crate::error::{CliResult, Failure};
use crate::observer::{RunObserver, progress_bar};
use crate::settings::{self, Sources};

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
        .unwrap_or_else(|| default_dir(&cfg.run.env, &preset, &cfg.run.seed.to_string()));
    let bar = (!args.quiet).then(|| progress_bar(cfg.run.total_timesteps, cfg.network.precision));
    let summary = train_one(
        &cfg,
        &preset,
        &out,
        bar,
        args.tensorboard,
        &stop_on_ctrl_c(),
    )?;
    print_summary(&summary, &out, cfg.eval.max_episode_steps);
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
        .unwrap_or_else(|| default_dir(&cfg.run.env, &preset, &tag));
    if !args.quiet {
        // A range's end is excluded (`0..4` is 4 seeds): say what will run before it starts.
        match jobs.min(seeds.len()) {
            1 => println!("{}", describe_seeds(&seeds)),
            parallel => println!("{}, {parallel} in parallel", describe_seeds(&seeds)),
        }
    }
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
    let mut trainer = deepq::train::Trainer::resume(&bytes).map_err(Failure::from)?;
    // The run holds what it needs: the checkpoint's bytes (as large as its replay buffer)
    // are not kept while it trains.
    drop(bytes);
    let bar = (!args.quiet).then(|| {
        let bar = progress_bar(cfg.run.total_timesteps, cfg.network.precision);
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
        trainer
            .learn(obs)
            .map(|o| (o.summary, o.model.to_safetensors()))
    })?;
    print_summary(&summary, dir, cfg.eval.max_episode_steps);
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
    let summary = run_log::save(run, cfg, preset, trained, &model)?;
    plots::draw_run(run, Format::Png)?;
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
                {
                    let mut config = cfg.clone();
                    config.run.seed = seed;
                    config
                },
                out.join(format!("seed-{seed}")),
            )
        })
        .collect();
    let summaries = train_parallel(&runs, preset, jobs, args.quiet, args.tensorboard, stop)?;
    let dirs: Vec<RunDir> = runs.iter().map(|(_, dir)| RunDir::at(dir)).collect();
    let summary = SeedsSummary::of(&cfg.run.env, preset, summaries);
    plots::report_seeds(out, &summary, &dirs, cfg.run.rolling_window)?;
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

/// The preset a run started from, as its config file records it.
fn preset_of(run: &RunDir) -> String {
    run.read_config_text()
        .ok()
        .and_then(|text| run_dir::preset_of(&text).map(str::to_string))
        .unwrap_or_else(|| "custom".into())
}

/// `runs/<env>-<preset>-<tag>-<timestamp>`, one folder even for an id like
/// `MinAtar/Breakout-v1`: its `/` becomes `-`.
fn default_dir(env: &str, preset: &str, tag: &str) -> PathBuf {
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    let env = env.replace('/', "-");
    PathBuf::from("runs").join(format!("{env}-{preset}-{tag}-{stamp}"))
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

/// Prints a run's summary; `max_episode_steps` is its `eval_max_episode_steps`.
fn print_summary(s: &RunSummary, out: &Path, max_episode_steps: u64) {
    println!("{} · preset {} · seed {}", s.env, s.preset, s.seed);
    println!(
        "  trained {} steps, {} episodes, {} updates in {:.2} s ({:.0} steps/s, {:.0} updates/s)",
        s.env_steps, s.episodes, s.updates, s.wall_s, s.steps_per_s, s.updates_per_s
    );
    if let Some(path) = s.matmul_path.as_deref().filter(|p| p.starts_with("bf16")) {
        println!("  matrix products in bf16 ({path} kernel)");
    }
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
    if s.eval_capped_episodes > 0 {
        println!(
            "  {}",
            super::eval::capped_text(s.eval_capped_episodes, s.eval_episodes, max_episode_steps)
        );
    }
    if let Some(steps) = s.long_episode_steps {
        println!(
            "  a training episode was still running after {steps} steps when training ended: the policy may never end an episode, and the environment sets no time limit"
        );
    }
    if let Some(best) = s.optimal_return {
        println!("  optimum (value iteration within the step limit): {best:.4}");
    }
    println!("  run directory: {}", out.display());
}

/// Prints a multi-seed summary and where it was written.
pub fn print_seeds_summary(s: &SeedsSummary, out: &Path) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_run_dirs_are_one_folder_under_runs() {
        let dir = default_dir("MinAtar/Breakout-v1", "dqn-minatar-breakout", "0");
        assert_eq!(dir.parent(), Some(Path::new("runs")));
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("MinAtar-Breakout-v1-dqn-minatar-breakout-0-"),
            "{name}"
        );
    }
}
