//! `deepq plot`: redraw a run's plots from its CSV logs.

use deepq::run_dir::RunDir;

use crate::cli::PlotArgs;
use crate::commands::train::RunSummary;
use crate::error::CliResult;
use deepq_plots::draw_run;

/// Runs `deepq plot`.
pub fn run(args: &PlotArgs) -> CliResult<()> {
    let run = RunDir::open(&args.run)?;
    let (config, _) = run.read_config()?;
    // The threshold line needs the env's spec; an unfinished run has no summary yet.
    let threshold = std::fs::read(run.summary())
        .ok()
        .and_then(|b| serde_json::from_slice::<RunSummary>(&b).ok())
        .map(|s| s.reward_threshold)
        .or_else(|| {
            deepq::envs::make(&config.env, &config.env_kwargs)
                .ok()
                .map(|e| e.spec().reward_threshold)
        });
    for path in draw_run(&run, args.format, config.rolling_window, threshold)? {
        println!("{}", path.display());
    }
    Ok(())
}
