//! `deepq aggregate RUN_DIR... --out DIR`: the multi-seed summary and plot of `deepq train
//! --seeds`, from run directories trained independently (one `deepq train --seed N` per task
//! of a Slurm or Kubernetes job array).

use deepq::run_dir::RunDir;
use deepq::summary::{FinishedRun, aggregate_runs};

use crate::cli::AggregateArgs;
use crate::commands::train::print_seeds_summary;
use crate::error::CliResult;

/// Runs `deepq aggregate`.
pub fn run(args: &AggregateArgs) -> CliResult<()> {
    let runs = args
        .runs
        .iter()
        .map(|dir| FinishedRun::read(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let summary = aggregate_runs(&runs)?;
    RunDir::create(&args.out)?;
    let window = runs[0].config.run.rolling_window;
    let dirs: Vec<RunDir> = runs.into_iter().map(|r| r.dir).collect();
    deepq_plots::report_seeds(&args.out, &summary, &dirs, window)?;
    print_seeds_summary(&summary, &args.out);
    Ok(())
}
