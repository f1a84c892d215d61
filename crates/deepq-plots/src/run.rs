//! The charts of one run: `returns`, `eval`, `loss` and `epsilon` in its `plots/` folder.

use std::path::Path;

use deepq::DqnConfig;
use deepq::config::Unit;
use deepq::run_dir::{RunDir, RunDirError, write_atomic};
use deepq::summary::RunSummary;

use crate::axis::{Scale, format_number};
use crate::chart::{Band, Chart, Series, Style, render};
use crate::{
    BLUE, Drawn, Format, GREEN, GREY, ORANGE, Result, Table, create_dir, read_summary,
    rolling_mean, threshold_line,
};

/// Points of the loss curve averaged by its smoothed line.
const LOSS_WINDOW: usize = 20;
/// Beyond this many training episodes their raw returns are left out: side by side they fill
/// the chart with a grey wall that hides the curves.
const MAX_RAW_EPISODES: usize = 1000;

/// Redraws every chart of a run into its `plots/` folder, and writes a note instead of each
/// chart whose data the run does not have (`eval.txt` for a run without periodic
/// evaluations); returns what it wrote. The reward threshold comes from the run's
/// `summary.json`, or from its environment while it has none (unfinished).
pub fn draw_run(run: &RunDir, format: Format) -> Result<Vec<Drawn>> {
    let logs = RunLogs::read(run)?;
    let dir = run.plots();
    create_dir(&dir)?;
    [
        ("returns", Planned::Chart(returns_chart(&logs))),
        ("eval", eval_chart(&logs)),
        ("loss", loss_chart(&logs)),
        ("epsilon", epsilon_chart(&logs)),
    ]
    .into_iter()
    .map(|(name, planned)| save(&dir, name, planned, format))
    .collect()
}

/// A chart, or why there is none.
enum Planned {
    Chart(Chart),
    Note(String),
}

/// Writes a chart as `<name>.<format>` or a note as `<name>.txt`, removing what an earlier
/// drawing left under the other name, so the folder never holds both.
fn save(dir: &Path, name: &str, planned: Planned, format: Format) -> Result<Drawn> {
    let image = dir.join(format!("{name}.{}", format.extension()));
    let note = dir.join(format!("{name}.txt"));
    match planned {
        Planned::Chart(chart) => {
            remove_stale(&note)?;
            render(&chart, &image, format)?;
            Ok(Drawn::Chart(image))
        }
        Planned::Note(text) => {
            remove_stale(&image)?;
            write_atomic(&note, format!("{text}\n").as_bytes())?;
            Ok(Drawn::Note { path: note, text })
        }
    }
}

fn remove_stale(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(RunDirError::io("remove", path, e).into())
        }
        _ => Ok(()),
    }
}

/// What a run directory holds for its charts.
struct RunLogs {
    config: DqnConfig,
    /// Absent while the run is unfinished.
    summary: Option<RunSummary>,
    threshold: f64,
    episodes: Table,
    train: Table,
    evals: Table,
}

impl RunLogs {
    fn read(run: &RunDir) -> Result<Self> {
        let (config, _) = run.read_config()?;
        let summary = read_summary(run)?;
        let threshold = summary
            .as_ref()
            .map_or_else(|| env_threshold(&config), |s| s.reward_threshold);
        Ok(RunLogs {
            summary,
            threshold,
            episodes: Table::read(&run.episodes_csv())?,
            train: Table::read(&run.train_csv())?,
            evals: Table::read(&run.eval_csv())?,
            config,
        })
    }

    /// The final greedy evaluation as a point `(step, mean)`, with its episode count.
    fn final_eval(&self) -> Option<((f64, f64), usize)> {
        let s = self.summary.as_ref()?;
        Some(((s.env_steps as f64, s.eval_mean?), s.eval_episodes))
    }

    fn env(&self) -> &str {
        &self.config.run.env
    }
}

/// The reward threshold registered for the run's environment; none (infinite) when it
/// cannot be made here (a Python environment).
fn env_threshold(config: &DqnConfig) -> f64 {
    deepq::envs::make(&config.run.env, &config.run.env_kwargs)
        .map_or(f64::INFINITY, |e| e.spec().reward_threshold)
}

/// Returns over training: the greedy evaluations as the headline when the run has any,
/// training episodes (made while exploring, so usually lower) as context; titled with the
/// verdict.
fn returns_chart(logs: &RunLogs) -> Chart {
    let window = logs.config.run.rolling_window;
    let steps = logs.episodes.column("step");
    let returns = logs.episodes.column("return");
    let evaluated = !logs.evals.column("step").is_empty() || logs.final_eval().is_some();
    let (training_color, training_style) = if evaluated {
        (GREY, Style::Context)
    } else {
        (BLUE, Style::Headline)
    };
    let mut series = Vec::new();
    if returns.len() <= MAX_RAW_EPISODES {
        series.push(Series {
            label: "training episode".into(),
            xs: steps.to_vec(),
            ys: returns.to_vec(),
            color: training_color,
            style: Style::Faint,
        });
    }
    series.extend([Series {
        label: format!("training, mean of last {window} episodes"),
        xs: steps.to_vec(),
        ys: rolling_mean(returns, window),
        color: training_color,
        style: training_style,
    }]);
    series.extend(evaluation_series(logs));
    let subtitle = if evaluated {
        "Greedy evaluations (no exploration) are the score; training returns, made while exploring, are context."
    } else {
        "No greedy evaluation yet: these training returns were made while exploring."
    };
    Chart {
        title: verdict(logs),
        subtitle: subtitle.into(),
        x_label: "environment step".into(),
        y_label: "return".into(),
        y_scale: Scale::Linear,
        integer_x: false,
        bands: vec![],
        series,
        reference: threshold_line(logs.threshold),
    }
}

/// The periodic evaluations as the headline curve, and the final evaluation as a point.
fn evaluation_series(logs: &RunLogs) -> Vec<Series> {
    let mut series = Vec::new();
    let steps = logs.evals.column("step");
    if !steps.is_empty() {
        series.push(Series {
            label: format!(
                "greedy evaluation ({} episodes each)",
                logs.config.eval.episodes
            ),
            xs: steps.to_vec(),
            ys: logs.evals.column("mean").to_vec(),
            color: BLUE,
            style: Style::Headline,
        });
    }
    if let Some(((step, mean), episodes)) = logs.final_eval() {
        series.push(Series {
            label: format!(
                "final evaluation ({episodes} episodes): {}",
                format_number(mean)
            ),
            xs: vec![step],
            ys: vec![mean],
            color: ORANGE,
            style: Style::Points,
        });
    }
    series
}

/// The title of a run's returns: its environment and whether its final evaluation solved it.
fn verdict(logs: &RunLogs) -> String {
    let env = logs.env();
    let Some(summary) = &logs.summary else {
        return format!("{env} · unfinished: no final evaluation yet");
    };
    let Some(mean) = summary.eval_mean else {
        return format!("{env} · interrupted before its final evaluation");
    };
    let score = format_number(mean);
    let optimum = summary.optimal_return.map_or(String::new(), |o| {
        format!(" (best possible {})", format_number(o))
    });
    if !logs.threshold.is_finite() {
        return format!("{env} · final greedy evaluation {score}{optimum}");
    }
    let threshold = format_number(logs.threshold);
    if summary.solved {
        format!("{env} · solved: final greedy evaluation {score} ≥ {threshold}{optimum}")
    } else {
        format!("{env} · not solved: final greedy evaluation {score} < {threshold}{optimum}")
    }
}

/// The periodic evaluations with their spread, or a note when the run made none.
fn eval_chart(logs: &RunLogs) -> Planned {
    let steps = logs.evals.column("step");
    if steps.is_empty() {
        return Planned::Note(no_evaluations(logs));
    }
    let mean = logs.evals.column("mean");
    let std = logs.evals.column("std");
    Planned::Chart(Chart {
        title: format!("{} · greedy evaluations", logs.env()),
        subtitle: "Each point is the mean return of greedy episodes; the band is ± 1 std.".into(),
        x_label: "environment step".into(),
        y_label: "return".into(),
        y_scale: Scale::Linear,
        integer_x: false,
        bands: vec![Band {
            label: "± 1 std".into(),
            xs: steps.to_vec(),
            lo: mean.iter().zip(std).map(|(m, s)| m - s).collect(),
            hi: mean.iter().zip(std).map(|(m, s)| m + s).collect(),
            color: BLUE,
        }],
        series: evaluation_series(logs),
        reference: threshold_line(logs.threshold),
    })
}

/// Why a run has no evaluation chart, and where its final evaluation is instead.
fn no_evaluations(logs: &RunLogs) -> String {
    let every = logs.config.eval.freq;
    let unit = match every.unit {
        Unit::Step => "steps",
        Unit::Episode => "episodes",
    };
    let why = match &logs.summary {
        _ if every.n == 0 => "this run makes no periodic greedy evaluations (eval_freq = 0)".into(),
        Some(s) => format!(
            "this run made no periodic greedy evaluation (one every {} {unit}; it ran {} steps)",
            every.n, s.env_steps
        ),
        None => format!(
            "this run has made no periodic greedy evaluation yet (one every {} {unit})",
            every.n
        ),
    };
    match logs.final_eval() {
        Some(((_, mean), episodes)) => format!(
            "no eval chart: {why}; its final evaluation ({episodes} episodes: {}) is on the returns chart and in summary.json",
            format_number(mean)
        ),
        None => format!("no eval chart: {why}"),
    }
}

/// The training loss on a symlog axis, so early spikes do not flatten the rest of the run.
fn loss_chart(logs: &RunLogs) -> Planned {
    let steps = logs.train.column("step");
    let loss = logs.train.column("loss");
    if !loss.iter().any(|l| l.is_finite()) {
        return Planned::Note("no loss chart: this run logged no loss".into());
    }
    Planned::Chart(Chart {
        title: format!("{} · training loss", logs.env()),
        subtitle: "Log scale: each decade takes the same room.".into(),
        x_label: "environment step".into(),
        y_label: "loss".into(),
        y_scale: Scale::Symlog,
        integer_x: false,
        bands: vec![],
        series: vec![
            Series {
                label: "logged loss".into(),
                xs: steps.to_vec(),
                ys: loss.to_vec(),
                color: GREEN,
                style: Style::Faint,
            },
            Series {
                label: format!("mean of last {LOSS_WINDOW}"),
                xs: steps.to_vec(),
                ys: rolling_mean(loss, LOSS_WINDOW),
                color: GREEN,
                style: Style::Headline,
            },
        ],
        reference: None,
    })
}

/// The exploration rate of the training episodes, or a note when none finished.
fn epsilon_chart(logs: &RunLogs) -> Planned {
    let epsilon = logs.episodes.column("epsilon");
    if epsilon.is_empty() {
        return Planned::Note("no epsilon chart: no training episode finished".into());
    }
    Planned::Chart(Chart {
        title: format!("{} · exploration rate", logs.env()),
        subtitle: String::new(),
        x_label: "environment step".into(),
        y_label: "ε (chance of a random action)".into(),
        y_scale: Scale::Linear,
        integer_x: false,
        bands: vec![],
        series: vec![Series {
            label: String::new(),
            xs: logs.episodes.column("step").to_vec(),
            ys: epsilon.to_vec(),
            color: ORANGE,
            style: Style::Headline,
        }],
        reference: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use deepq::config::EvalSettings;
    use deepq::run_dir::{EPISODES_HEADER, EVAL_HEADER, TRAIN_HEADER, config_text};

    /// A run directory with the given log lines (after the headers) and, when `eval_mean` is
    /// set, a finished summary whose final evaluation has that mean.
    fn fake_run(dir: &Path, eval_freq: u64, evals: &str, eval_mean: Option<f64>) -> RunDir {
        let run = RunDir::create(dir).unwrap();
        let config = DqnConfig {
            eval: EvalSettings {
                freq: deepq::config::Count::steps(eval_freq),
                ..EvalSettings::default()
            },
            ..DqnConfig::default()
        };
        run.write_config(&config_text(&config, Some("default")))
            .unwrap();
        let write = |path: PathBuf, header: &str, rows: &str| {
            std::fs::write(path, format!("{header}\n{rows}")).unwrap()
        };
        write(
            run.episodes_csv(),
            EPISODES_HEADER,
            "1,20,20,20,1.0,0.1\n2,60,40,40,0.5,0.2\n3,100,40,40,0.05,0.3\n",
        );
        write(
            run.train_csv(),
            TRAIN_HEADER,
            "50,2.5,1,0.001\n100,0.01,2,0.001\n",
        );
        write(run.eval_csv(), EVAL_HEADER, evals);
        if let Some(mean) = eval_mean {
            let summary = RunSummary {
                env: config.run.env.clone(),
                preset: "default".into(),
                seed: 0,
                total_timesteps: 100,
                env_steps: 100,
                episodes: 3,
                updates: 50,
                wall_s: 1.0,
                steps_per_s: 100.0,
                updates_per_s: 50.0,
                eval_episodes: 100,
                eval_mean: Some(mean),
                eval_std: Some(0.0),
                eval_min: Some(mean),
                eval_max: Some(mean),
                eval_capped_episodes: 0,
                reward_threshold: 475.0,
                solved: mean >= 475.0,
                optimal_return: None,
                solved_at_step: None,
                interrupted: false,
                long_episode_steps: None,
                matmul_path: None,
                deepq_version: "test".into(),
            };
            deepq::summary::write(&run, &summary).unwrap();
        }
        run
    }

    /// The files in a run's plots folder, sorted.
    fn plot_files(run: &RunDir) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(run.plots())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    }

    fn headline(chart: &Chart) -> &Series {
        chart
            .series
            .iter()
            .find(|s| s.style == Style::Headline)
            .expect("a headline")
    }

    #[test]
    fn evaluations_are_the_headline_and_a_solved_run_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let run = fake_run(
            dir.path(),
            50,
            "50,300,10,290,310\n100,500,0,500,500\n",
            Some(500.0),
        );
        let chart = returns_chart(&RunLogs::read(&run).unwrap());
        let top = headline(&chart);
        assert!(top.label.starts_with("greedy evaluation"), "{}", top.label);
        assert_eq!(top.ys, [300.0, 500.0]);
        assert_eq!(
            chart.title,
            "CartPole-v1 · solved: final greedy evaluation 500 ≥ 475"
        );
        let last = chart.series.last().unwrap();
        assert_eq!(
            (last.style, last.label.as_str(), last.ys.as_slice()),
            (
                Style::Points,
                "final evaluation (100 episodes): 500",
                &[500.0][..]
            )
        );
        assert_eq!(chart.reference.as_ref().unwrap().label, "solved at 475");
        let training = &chart.series[1];
        assert_eq!(
            training.style,
            Style::Context,
            "training returns are context"
        );
        assert_eq!(
            chart.series[0].style,
            Style::Faint,
            "behind their raw values"
        );
    }

    #[test]
    fn without_evaluations_training_returns_are_the_headline() {
        let dir = tempfile::tempdir().unwrap();
        let run = fake_run(dir.path(), 0, "", None);
        let chart = returns_chart(&RunLogs::read(&run).unwrap());
        assert!(headline(&chart).label.starts_with("training, mean of last"));
        assert!(chart.title.contains("unfinished"), "{}", chart.title);
    }

    #[test]
    fn a_run_without_periodic_evaluations_gets_a_note_not_an_empty_chart() {
        let dir = tempfile::tempdir().unwrap();
        let run = fake_run(dir.path(), 0, "", Some(12.5));
        // An empty chart drawn by an earlier version goes.
        std::fs::create_dir_all(run.plots()).unwrap();
        std::fs::write(run.plots().join("eval.png"), b"old").unwrap();
        let drawn = draw_run(&run, Format::Png).unwrap();
        let plots = run.plots();
        assert_eq!(
            plot_files(&run),
            ["epsilon.png", "eval.txt", "loss.png", "returns.png"].map(|f| plots.join(f))
        );
        let note = std::fs::read_to_string(plots.join("eval.txt")).unwrap();
        assert!(
            note.contains("eval_freq = 0") && note.contains("12.5"),
            "{note}"
        );
        assert!(drawn.contains(&Drawn::Note {
            path: plots.join("eval.txt"),
            text: note.trim_end().into()
        }));
    }

    #[test]
    fn a_run_with_evaluations_gets_every_chart() {
        let dir = tempfile::tempdir().unwrap();
        let run = fake_run(
            dir.path(),
            50,
            "50,30,1,29,31\n100,40,2,38,42\n",
            Some(41.0),
        );
        std::fs::create_dir_all(run.plots()).unwrap();
        std::fs::write(run.plots().join("eval.txt"), b"stale note").unwrap();
        draw_run(&run, Format::Svg).unwrap();
        let plots = run.plots();
        assert_eq!(
            plot_files(&run),
            ["epsilon.svg", "eval.svg", "loss.svg", "returns.svg"].map(|f| plots.join(f))
        );
        let returns = std::fs::read_to_string(plots.join("returns.svg")).unwrap();
        assert!(returns.contains("not solved: final greedy evaluation 41 &lt; 475"));
        assert!(returns.contains("solved at 475"));
    }
}
