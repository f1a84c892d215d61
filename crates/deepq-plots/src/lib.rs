//! Charts of deepq runs as PNG or SVG, drawn with plotters and an embedded font, so no
//! system fonts are needed: one run's returns, evaluations, loss and ε ([`draw_run`]), the
//! returns of several seeds with their confidence bands ([`draw_seeds`]), and a sweep's
//! objective over its trials ([`draw_sweep`]); and the report of several seeds
//! ([`report_seeds`]: their `summary.json` and plot); and episodes as GIFs ([`gif`]). Both
//! front ends draw with it: the `deepq`
//! command and the Python package (whose sweeps thus need no plotting library).
//!
//! Greedy evaluations are the headline wherever a run has them: training episodes explore,
//! so their returns lag behind what the policy can do, and a solved run must look solved.
//! A chart whose data does not exist is not drawn; a one-line note says why instead.

#![warn(missing_docs)]

mod axis;
mod chart;
pub mod gif;
mod run;
mod seeds;
mod sweep;

use std::fmt;
use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use deepq::run_dir::{RunDir, RunDirError, read_csv};
use deepq::summary::RunSummary;

pub use axis::{Scale, format_number};
pub use chart::{Band, Chart, HEIGHT, Reference, Series, Style, WIDTH, render};
pub use run::draw_run;
pub use seeds::{Curve, aggregate_curve, draw_dir, draw_seeds, report_seeds};
pub use sweep::draw_sweep;

/// Why a chart could not be drawn or saved; one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// Reading a run's logs or writing the image failed.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// plotters failed to draw.
    #[error("cannot draw '{}': {reason}", path.display())]
    Draw {
        /// The image file.
        path: PathBuf,
        /// plotters' error.
        reason: String,
    },
}

/// Shorthand for results of drawing.
pub type Result<T, E = PlotError> = std::result::Result<T, E>;

/// Image format of the plots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// Raster image.
    Png,
    /// Vector image.
    Svg,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// A file left in a plots folder: a chart, or the note written instead of a chart whose
/// data does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drawn {
    /// An image.
    Chart(PathBuf),
    /// A text file (`<chart>.txt`) saying why the chart is missing.
    Note {
        /// The text file.
        path: PathBuf,
        /// Its one line.
        text: String,
    },
}

impl fmt::Display for Drawn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drawn::Chart(path) => write!(f, "{}", path.display()),
            Drawn::Note { path, text } => write!(f, "{}: {text}", path.display()),
        }
    }
}

/// Creates a plots folder.
fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| RunDirError::io("create", dir, e).into())
}

/// A run's `summary.json`; none while the run is unfinished.
fn read_summary(run: &RunDir) -> Result<Option<RunSummary>> {
    if !run.summary().is_file() {
        return Ok(None);
    }
    Ok(Some(RunSummary::read(run)?))
}

/// A CSV log read whole: its header and one vector per column.
struct Table {
    header: Vec<String>,
    columns: Vec<Vec<f64>>,
}

impl Table {
    fn read(path: &Path) -> Result<Self> {
        let (header, columns) = read_csv(path)?;
        Ok(Table { header, columns })
    }

    /// The named column; empty when the log has no such column.
    fn column(&self, name: &str) -> &[f64] {
        self.header
            .iter()
            .position(|h| h == name)
            .map_or(&[], |i| &self.columns[i])
    }
}

/// Trailing rolling mean over `window` values (shorter at the start).
pub fn rolling_mean(values: &[f64], window: usize) -> Vec<f64> {
    let window = window.max(1);
    let mut sum = 0.0;
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            sum += v;
            if i >= window {
                sum -= values[i - window];
            }
            sum / (i + 1).min(window) as f64
        })
        .collect()
}

/// Evaluations: the colour of the headline.
const BLUE: RGBColor = RGBColor(31, 119, 180);
/// Final evaluations: points that must stand out from the curves.
const ORANGE: RGBColor = RGBColor(230, 110, 0);
/// Training episodes: context, deliberately quiet.
const GREY: RGBColor = RGBColor(120, 120, 120);
const GREEN: RGBColor = RGBColor(44, 160, 44);

/// The reference line of a reward threshold; none for an infinite one (MinAtar registers
/// none).
fn threshold_line(threshold: f64) -> Option<Reference> {
    threshold.is_finite().then(|| Reference {
        y: threshold,
        label: format!("solved at {}", format_number(threshold)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_mean_uses_a_trailing_window() {
        assert_eq!(
            rolling_mean(&[1.0, 2.0, 3.0, 4.0], 2),
            vec![1.0, 1.5, 2.5, 3.5]
        );
        assert_eq!(rolling_mean(&[], 5), Vec::<f64>::new());
    }

    #[test]
    fn a_threshold_line_is_labelled_as_one() {
        let line = threshold_line(475.0).unwrap();
        assert_eq!((line.y, line.label.as_str()), (475.0, "solved at 475"));
        assert!(threshold_line(f64::INFINITY).is_none());
    }
}
