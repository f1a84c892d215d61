//! Reports over several runs, shared with the `deepq` command: the multi-seed summary of
//! `deepq aggregate` and the chart of a sweep's objective.

use std::path::PathBuf;

use deepq::run_dir::RunDir;
use deepq::summary::{FinishedRun, aggregate_runs};
use pyo3::prelude::*;

use crate::errors::{Error, Result};

/// Aggregates finished run directories of one config with different seeds into `out` as
/// `deepq aggregate RUNS... --out OUT` does (`summary.json` with mean, median, IQM and
/// bootstrap CI of the final evaluations, solve rate; `plots/returns.png`); returns that
/// summary as JSON. Runs of different configs, repeated seeds and unfinished runs are refused.
#[pyfunction]
pub fn aggregate(py: Python<'_>, runs: Vec<PathBuf>, out: PathBuf) -> Result<String> {
    py.detach(|| {
        let runs = runs
            .iter()
            .map(|dir| FinishedRun::read(dir))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let summary = aggregate_runs(&runs)?;
        RunDir::create(&out)?;
        let window = runs[0].config.run.rolling_window;
        let dirs: Vec<RunDir> = runs.into_iter().map(|r| r.dir).collect();
        deepq_plots::report_seeds(&out, &summary, &dirs, window)?;
        serde_json::to_string(&summary)
            .map_err(|e| Error::runtime(format!("cannot encode the summary: {e}")))
    })
}

/// Draws a sweep's objective over its trials into the PNG file `path`: `trials` holds
/// `(trial number, value)` in trial order; `reference` an optional `(value, label)` line,
/// such as the untuned config's value.
#[pyfunction]
#[pyo3(signature = (path, objective, trials, reference=None))]
pub fn plot_sweep(
    path: PathBuf,
    objective: &str,
    trials: Vec<(f64, f64)>,
    reference: Option<(f64, String)>,
) -> Result<()> {
    Ok(deepq_plots::draw_sweep(
        &path, objective, &trials, reference,
    )?)
}
