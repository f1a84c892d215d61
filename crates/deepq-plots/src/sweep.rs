//! The chart of a hyperparameter sweep: its objective over the trials.

use std::path::Path;

use crate::axis::{Scale, format_number};
use crate::chart::{Chart, Reference, Series, Style, render};
use crate::{BLUE, Format, ORANGE, Result, create_dir};

/// Draws a sweep's objective over its trials into `path` (PNG): each finished trial's value
/// as `(trial number, value)` in trial order as a dot, the best value so far as a step line, and
/// optionally a reference line such as the untuned config's value.
pub fn draw_sweep(
    path: &Path,
    objective: &str,
    trials: &[(f64, f64)],
    reference: Option<(f64, String)>,
) -> Result<()> {
    let xs: Vec<f64> = trials.iter().map(|&(x, _)| x).collect();
    let ys: Vec<f64> = trials.iter().map(|&(_, y)| y).collect();
    let (best_xs, best_ys) = steps(&xs, &best_so_far(&ys));
    let chart = Chart {
        title: format!("{objective} over {} trials", trials.len()),
        subtitle: best_trial(trials).map_or(String::new(), |(trial, value)| {
            format!(
                "Best: {} (trial {})",
                format_number(value),
                format_number(trial)
            )
        }),
        x_label: "trial".into(),
        y_label: objective.into(),
        y_scale: Scale::Linear,
        integer_x: true,
        bands: vec![],
        series: vec![
            Series {
                label: "best so far".into(),
                xs: best_xs,
                ys: best_ys,
                color: ORANGE,
                // Without dots: they would mark the corners of the steps, not trials.
                style: Style::Context,
            },
            Series {
                label: format!("each trial's {objective}"),
                xs,
                ys,
                color: BLUE,
                style: Style::Points,
            },
        ],
        reference: reference.map(|(y, label)| Reference {
            label: format!("{label}: {}", format_number(y)),
            y,
        }),
    };
    if let Some(dir) = path.parent() {
        create_dir(dir)?;
    }
    render(&chart, path, Format::Png)
}

/// The running maximum.
fn best_so_far(values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .scan(f64::NEG_INFINITY, |best, &y| {
            *best = best.max(y);
            Some(*best)
        })
        .collect()
}

/// A step line through `(xs, ys)`: each value holds until the next x.
fn steps(xs: &[f64], ys: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let corners = xs.iter().zip(ys).enumerate().flat_map(|(i, (&x, &y))| {
        let held = if i == 0 { y } else { ys[i - 1] };
        [(x, held), (x, y)]
    });
    corners.unzip()
}

/// The first trial with the highest value.
fn best_trial(trials: &[(f64, f64)]) -> Option<(f64, f64)> {
    trials
        .iter()
        .copied()
        .reduce(|best, t| if t.1 > best.1 { t } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_draw_into_a_new_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plots").join("objective.png");
        let trials = [(0.0, 100.0), (1.0, 300.0), (2.0, 200.0)];
        draw_sweep(&path, "IQM", &trials, Some((250.0, "untuned".into()))).unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
    }

    #[test]
    fn the_best_trial_is_the_first_to_reach_the_maximum() {
        let trials = [(0.0, 100.0), (1.0, 300.0), (2.0, 300.0), (3.0, 200.0)];
        assert_eq!(best_trial(&trials), Some((1.0, 300.0)));
        assert_eq!(best_so_far(&[1.0, 3.0, 2.0]), [1.0, 3.0, 3.0]);
        let (xs, ys) = steps(&[0.0, 1.0], &[1.0, 3.0]);
        assert_eq!(
            (xs, ys),
            (vec![0.0, 0.0, 1.0, 1.0], vec![1.0, 1.0, 1.0, 3.0])
        );
    }
}
