//! The chart of several seeds of one configuration, or of several configurations side by
//! side (an ablation): mean curves over seeds with 95% bootstrap confidence bands, and each
//! seed's final evaluation.

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use deepq::run_dir::{CONFIG_FILE, RunDir, SUMMARY_FILE, write_json};
use deepq::summary::{RunSummary, SeedsSummary};

use crate::axis::{Scale, format_number};
use crate::chart::{Band, Chart, Series, Style, render};
use crate::{
    BLUE, Drawn, Format, GREEN, GREY, ORANGE, Result, Table, create_dir, read_summary,
    rolling_mean, threshold_line,
};

/// A mean curve over runs with its 95% confidence band.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Steps.
    pub xs: Vec<f64>,
    /// Mean over runs at each step.
    pub mean: Vec<f64>,
    /// Lower edge of the 95% bootstrap confidence interval of the mean.
    pub lo: Vec<f64>,
    /// Upper edge.
    pub hi: Vec<f64>,
}

/// Points on the step axis of an aggregate training curve.
const GRID_POINTS: usize = 100;

/// The rolling-mean return of several runs `(steps, returns)` on a shared grid of
/// `GRID_POINTS` (100) evenly spaced steps: their mean and a 95% bootstrap confidence band.
/// Each run's value at a step is its rolling mean after the last episode finished by then; a
/// run counts from its first finished episode on.
pub fn aggregate_curve(runs: &[(Vec<f64>, Vec<f64>)], window: usize) -> Curve {
    let max_step = runs
        .iter()
        .filter_map(|(steps, _)| steps.last().copied())
        .fold(0.0, f64::max);
    let grid: Vec<f64> = (1..=GRID_POINTS)
        .map(|k| max_step * k as f64 / GRID_POINTS as f64)
        .collect();
    let smoothed: Vec<(Vec<f64>, Vec<f64>)> = runs
        .iter()
        .map(|(steps, returns)| (steps.clone(), rolling_mean(returns, window)))
        .collect();
    aggregate_on(&grid, &smoothed)
}

/// The mean and 95% band of runs `(steps, values)` at each step of `grid`, each run taking
/// its latest value at or before that step; steps before any run has a value are skipped.
fn aggregate_on(grid: &[f64], runs: &[(Vec<f64>, Vec<f64>)]) -> Curve {
    let mut curve = Curve {
        xs: Vec::new(),
        mean: Vec::new(),
        lo: Vec::new(),
        hi: Vec::new(),
    };
    for &x in grid {
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|(steps, values)| {
                let done = steps.partition_point(|&s| s <= x);
                done.checked_sub(1).map(|i| values[i])
            })
            .collect();
        if values.is_empty() {
            continue;
        }
        let agg = deepq::stats::Aggregate::of(&values);
        curve.xs.push(x);
        curve.mean.push(agg.mean);
        curve.lo.push(agg.ci95[0]);
        curve.hi.push(agg.ci95[1]);
    }
    curve
}

/// What one seed's run directory holds for the chart.
struct SeedLogs {
    env: String,
    episodes: Table,
    evals: Table,
    /// Absent while the run is unfinished.
    summary: Option<RunSummary>,
}

impl SeedLogs {
    fn read(run: &RunDir) -> Result<Self> {
        Ok(SeedLogs {
            env: run.read_config()?.0.run.env,
            episodes: Table::read(&run.episodes_csv())?,
            evals: Table::read(&run.eval_csv())?,
            summary: read_summary(run)?,
        })
    }

    /// The final greedy evaluation as a point `(step, mean)`.
    fn final_eval(&self) -> Option<(f64, f64)> {
        let s = self.summary.as_ref()?;
        Some((s.env_steps as f64, s.eval_mean?))
    }
}

/// The colours of one group's curves.
struct Palette {
    evaluation: RGBColor,
    training: RGBColor,
    final_eval: RGBColor,
}

/// One colour per configuration when several share a chart.
const GROUP_COLORS: [RGBColor; 8] = [
    BLUE,
    ORANGE,
    GREEN,
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Draws the returns of groups of runs (the seeds of one configuration each) into
/// `out/plots/returns.<format>`: per group, the mean greedy evaluation over seeds with its
/// 95% confidence band as the headline (the mean training return where the runs have no
/// evaluations), and each seed's final evaluation as a dot. One group also shows its
/// training returns as context; several are told apart by colour, one legend entry each.
pub fn draw_seeds(
    out: &Path,
    groups: &[(&str, &[RunDir])],
    window: usize,
    threshold: f64,
    format: Format,
) -> Result<PathBuf> {
    let logs: Vec<(&str, Vec<SeedLogs>)> = groups
        .iter()
        .map(|(label, runs)| {
            Ok((
                *label,
                runs.iter().map(SeedLogs::read).collect::<Result<_>>()?,
            ))
        })
        .collect::<Result<_>>()?;
    let chart = if let [(_, seeds)] = logs.as_slice() {
        one_configuration(seeds, window, threshold)
    } else {
        several_configurations(&logs, window, threshold)
    };
    let dir = out.join("plots");
    create_dir(&dir)?;
    let path = dir.join(format!("returns.{}", format.extension()));
    render(&chart, &path, format)?;
    Ok(path)
}

/// The chart of one configuration's seeds, titled with how many solved.
fn one_configuration(seeds: &[SeedLogs], window: usize, threshold: f64) -> Chart {
    let palette = Palette {
        evaluation: BLUE,
        training: GREY,
        final_eval: ORANGE,
    };
    let (bands, series) = group_curves(seeds, window, &palette, "");
    let env = seeds.first().map_or("", |s| s.env.as_str());
    let n = seeds.len();
    let solved = seeds
        .iter()
        .filter(|s| s.summary.as_ref().is_some_and(|s| s.solved))
        .count();
    let title = if threshold.is_finite() {
        format!("{env} · {solved} of {n} seeds solved")
    } else {
        format!("{env} · {n} seeds")
    };
    Chart {
        title,
        subtitle: final_evals_line(seeds),
        x_label: "environment step".into(),
        y_label: "return".into(),
        y_scale: Scale::Linear,
        integer_x: false,
        bands,
        series,
        reference: threshold_line(threshold),
    }
}

/// The seeds' final evaluations in one line, and why the training curve is lower.
fn final_evals_line(seeds: &[SeedLogs]) -> String {
    let finals: Vec<f64> = seeds
        .iter()
        .filter_map(|s| s.final_eval())
        .map(|p| p.1)
        .collect();
    let context = "training returns, made while exploring, are context";
    if finals.is_empty() {
        return format!("No final evaluation yet; {context}.");
    }
    let mean = finals.iter().sum::<f64>() / finals.len() as f64;
    let min = finals.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = if finals.len() > 1 && min == max {
        " on every seed".to_string()
    } else if finals.len() > 1 {
        format!(" (min {}, max {})", format_number(min), format_number(max))
    } else {
        String::new()
    };
    format!(
        "Final greedy evaluations: mean {}{range}; {context}.",
        format_number(mean)
    )
}

/// The chart of several configurations' seeds, one colour each.
fn several_configurations(
    groups: &[(&str, Vec<SeedLogs>)],
    window: usize,
    threshold: f64,
) -> Chart {
    let (mut bands, mut series) = (Vec::new(), Vec::new());
    for (k, (label, seeds)) in groups.iter().enumerate() {
        let color = GROUP_COLORS[k % GROUP_COLORS.len()];
        let palette = Palette {
            evaluation: color,
            training: color,
            final_eval: color,
        };
        let (b, s) = group_curves(seeds, window, &palette, label);
        bands.extend(b);
        series.extend(s);
    }
    let env = groups
        .iter()
        .find_map(|(_, seeds)| seeds.first())
        .map_or("", |s| s.env.as_str());
    let seeds = groups.first().map_or(0, |(_, seeds)| seeds.len());
    Chart {
        title: format!("{env} · {} variants, {seeds} seeds each", groups.len()),
        subtitle: "Lines: mean greedy evaluation over seeds with its 95% CI; dots: each seed's final evaluation.".into(),
        x_label: "environment step".into(),
        y_label: "return".into(),
        y_scale: Scale::Linear,
        integer_x: false,
        bands,
        series,
        reference: threshold_line(threshold),
    }
}

/// One group's band and curves: the mean evaluation (the headline, when the seeds have
/// evaluations), the mean rolling training return, and each seed's final evaluation.
/// With a `group` name (several groups share the chart) only the headline is in the legend,
/// named after the group, and the training curve is left out (it would pass for another
/// headline in the same colour).
fn group_curves(
    seeds: &[SeedLogs],
    window: usize,
    palette: &Palette,
    group: &str,
) -> (Vec<Band>, Vec<Series>) {
    let n = seeds.len();
    let legend = |label: String| {
        if group.is_empty() {
            label
        } else {
            String::new()
        }
    };
    let training = aggregate_curve(
        &seeds
            .iter()
            .map(|s| {
                (
                    s.episodes.column("step").to_vec(),
                    s.episodes.column("return").to_vec(),
                )
            })
            .collect::<Vec<_>>(),
        window,
    );
    let evaluation = evaluation_curve(seeds);
    let (headline, headline_label, context) = match evaluation {
        Some(curve) => (
            curve,
            format!("greedy evaluation, mean over {n} seeds"),
            Some(training),
        ),
        None => (
            training,
            format!("training, mean of last {window} episodes over {n} seeds"),
            None,
        ),
    };
    let band = Band {
        label: legend("95% confidence interval".into()),
        xs: headline.xs.clone(),
        lo: headline.lo,
        hi: headline.hi,
        color: palette.evaluation,
    };
    let mut series = Vec::new();
    if let (Some(curve), true) = (context, group.is_empty()) {
        series.push(Series {
            label: format!("training, mean of last {window} episodes"),
            xs: curve.xs,
            ys: curve.mean,
            color: palette.training,
            style: Style::Context,
        });
    }
    series.push(Series {
        label: if group.is_empty() {
            headline_label
        } else {
            group.to_string()
        },
        xs: headline.xs,
        ys: headline.mean,
        color: palette.evaluation,
        style: Style::Headline,
    });
    let (xs, ys) = seeds.iter().filter_map(SeedLogs::final_eval).unzip();
    series.push(Series {
        label: legend("final evaluation of each seed".into()),
        xs,
        ys,
        color: palette.final_eval,
        style: Style::Points,
    });
    (vec![band], series)
}

/// The mean periodic evaluation over seeds at every step any of them evaluated; none when
/// no seed has evaluations.
fn evaluation_curve(seeds: &[SeedLogs]) -> Option<Curve> {
    let runs: Vec<(Vec<f64>, Vec<f64>)> = seeds
        .iter()
        .map(|s| {
            (
                s.evals.column("step").to_vec(),
                s.evals.column("mean").to_vec(),
            )
        })
        .collect();
    let mut grid: Vec<f64> = runs
        .iter()
        .flat_map(|(steps, _)| steps.iter().copied())
        .collect();
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    (!grid.is_empty()).then(|| aggregate_on(&grid, &runs))
}

/// Writes the report of one configuration's seeds into `out`: the multi-seed
/// `summary.json` and the chart of their returns (`plots/returns.png`), as `deepq train
/// --seeds`, `deepq aggregate` and sweep trials all leave them.
pub fn report_seeds(
    out: &Path,
    summary: &SeedsSummary,
    runs: &[RunDir],
    window: usize,
) -> Result<()> {
    write_json(&out.join(SUMMARY_FILE), summary)?;
    draw_seeds(
        out,
        &[("", runs)],
        window,
        seeds_threshold(summary),
        Format::Png,
    )?;
    Ok(())
}

/// The reward threshold of a multi-seed summary; infinite (no line) when it has no runs.
fn seeds_threshold(summary: &SeedsSummary) -> f64 {
    summary
        .runs
        .first()
        .map_or(f64::INFINITY, |r| r.reward_threshold)
}

/// Redraws the charts of a run directory ([`draw_run`](crate::draw_run)), or the chart of
/// a `deepq train --seeds` directory (its multi-seed `summary.json` and a `seed-N` run
/// directory per seed); returns what it wrote.
pub fn draw_dir(dir: &Path, format: Format) -> Result<Vec<Drawn>> {
    let Some(summary) = seeds_summary(dir) else {
        return crate::draw_run(&RunDir::open(dir)?, format);
    };
    let runs = summary
        .seeds
        .iter()
        .map(|seed| RunDir::open(&dir.join(format!("seed-{seed}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let window = match runs.first() {
        Some(run) => run.read_config()?.0.run.rolling_window,
        None => 1,
    };
    let path = draw_seeds(
        dir,
        &[("", &runs)],
        window,
        seeds_threshold(&summary),
        format,
    )?;
    Ok(vec![Drawn::Chart(path)])
}

/// The multi-seed summary of `dir`, when it holds one and is not a run itself.
fn seeds_summary(dir: &Path) -> Option<SeedsSummary> {
    if dir.join(CONFIG_FILE).is_file() {
        return None;
    }
    let bytes = std::fs::read(dir.join(SUMMARY_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_curve_averages_runs_on_a_shared_grid() {
        let a = (vec![10.0, 20.0], vec![1.0, 3.0]);
        let b = (vec![5.0, 20.0], vec![5.0, 5.0]);
        let curve = aggregate_curve(&[a, b], 1);
        assert_eq!(
            curve.xs.len(),
            GRID_POINTS - 24,
            "grid points before any episode are skipped"
        );
        assert_eq!(*curve.xs.last().unwrap(), 20.0);
        assert_eq!(*curve.mean.last().unwrap(), 4.0);
        assert!(
            curve
                .lo
                .iter()
                .zip(&curve.mean)
                .zip(&curve.hi)
                .all(|((l, m), h)| l <= m && m <= h)
        );
        // At step 6 only run b has finished an episode.
        assert_eq!(curve.mean[0], 5.0);
    }

    #[test]
    fn evaluations_are_averaged_at_the_steps_they_were_made() {
        let runs = [
            (vec![100.0, 200.0], vec![10.0, 500.0]),
            (vec![100.0, 200.0], vec![30.0, 400.0]),
        ];
        let curve = aggregate_on(&[100.0, 200.0], &runs);
        assert_eq!(curve.xs, [100.0, 200.0]);
        assert_eq!(curve.mean, [20.0, 450.0]);
    }
}
