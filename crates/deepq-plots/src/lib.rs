//! Charts of deepq runs as PNG or SVG, drawn with plotters and an embedded font, so no
//! system fonts are needed: one run's returns, ε, loss and evaluations ([`draw_run`]), the
//! mean return of several seeds with its confidence band ([`draw_seeds`]), and a sweep's
//! objective over its trials ([`draw_sweep`]); and the report of several seeds
//! ([`report_seeds`]: their `summary.json` and plot). Both front ends draw with it: the `deepq`
//! command and the Python package (whose sweeps thus need no plotting library).

#![warn(missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use deepq::run_dir::{RunDir, RunDirError, SUMMARY_FILE, read_csv, write_atomic, write_json};
use deepq::summary::SeedsSummary;

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

/// Creates a plots folder.
fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| RunDirError::io("create", dir, e).into())
}

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

/// One line of a chart.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// X values.
    pub xs: Vec<f64>,
    /// Y values.
    pub ys: Vec<f64>,
    /// Line colour.
    pub color: RGBColor,
    /// Thin and faint (raw data behind a smoothed line).
    pub faint: bool,
}

/// A shaded band between two curves (a confidence interval or ± one std).
pub struct Band {
    /// Legend label.
    pub label: String,
    /// X values.
    pub xs: Vec<f64>,
    /// Lower edge.
    pub lo: Vec<f64>,
    /// Upper edge.
    pub hi: Vec<f64>,
    /// Fill colour.
    pub color: RGBColor,
}

/// A line chart.
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Shaded bands, drawn first.
    pub bands: Vec<Band>,
    /// Lines, drawn over the bands.
    pub series: Vec<Series>,
    /// A horizontal reference line (e.g. the reward threshold) and its label.
    pub reference: Option<(f64, String)>,
}

const WIDTH: u32 = 900;
const HEIGHT: u32 = 500;
const FONT: &str = "sans-serif";

fn register_embedded_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        register_font(FONT, FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
            .unwrap_or_else(|_| panic!("the embedded font is a valid TTF"));
    });
}

/// Draws `chart` into `path` (written atomically) in `format`.
pub fn render(chart: &Chart, path: &Path, format: Format) -> Result<()> {
    register_embedded_font();
    let fail = |reason: String| PlotError::Draw {
        path: path.to_path_buf(),
        reason,
    };
    match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
                draw(&root, chart).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            Ok(write_atomic(path, svg.as_bytes())?)
        }
        Format::Png => {
            let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
            {
                let root =
                    BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
                draw(&root, chart).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            Ok(write_atomic(
                path,
                &encode_png(&rgb, WIDTH, HEIGHT).map_err(fail)?,
            )?)
        }
    }
}

/// Encodes an RGB8 image as PNG.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (x_range, y_range) = bounds(chart);
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, (FONT, 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range.clone(), y_range)
        .map_err(err)?;
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for band in &chart.bands {
        let color = band.color;
        let outline: Vec<(f64, f64)> = band
            .xs
            .iter()
            .zip(&band.hi)
            .map(|(&x, &y)| (x, y))
            .chain(band.xs.iter().zip(&band.lo).rev().map(|(&x, &y)| (x, y)))
            .collect();
        ctx.draw_series(std::iter::once(Polygon::new(
            outline,
            color.mix(0.2).filled(),
        )))
        .map_err(err)?
        .label(&band.label)
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.mix(0.2).filled())
        });
    }
    for s in &chart.series {
        let color = s.color;
        let style = if s.faint {
            color.mix(0.35).stroke_width(1)
        } else {
            color.stroke_width(2)
        };
        let points = s.xs.iter().zip(&s.ys).map(|(&x, &y)| (x, y));
        ctx.draw_series(LineSeries::new(points, style))
            .map_err(err)?
            .label(&s.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
    }
    if let Some((y, label)) = &chart.reference {
        let style = BLACK.mix(0.6).stroke_width(1);
        let line = PathElement::new([(x_range.start, *y), (x_range.end, *y)], style);
        ctx.draw_series(std::iter::once(line))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
    }
    ctx.configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Axis ranges covering every finite point, padded so lines do not touch the frame.
fn bounds(chart: &Chart) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.xs.iter())
        .chain(chart.bands.iter().flat_map(|b| b.xs.iter()));
    let ys = chart
        .series
        .iter()
        .flat_map(|s| s.ys.iter())
        .chain(chart.bands.iter().flat_map(|b| b.lo.iter().chain(&b.hi)))
        .chain(chart.reference.iter().map(|(y, _)| y));
    let span = |it: &mut dyn Iterator<Item = &f64>| {
        let (lo, hi) = it
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if lo > hi {
            (0.0, 1.0)
        } else if lo == hi {
            (lo - 1.0, hi + 1.0)
        } else {
            (lo, hi)
        }
    };
    let (x0, x1) = span(&mut { xs });
    let (y0, y1) = span(&mut { ys });
    let pad = (y1 - y0) * 0.05;
    (x0..x1, (y0 - pad)..(y1 + pad))
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

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);

fn column<'a>(header: &[String], columns: &'a [Vec<f64>], name: &str) -> &'a [f64] {
    header
        .iter()
        .position(|h| h == name)
        .map_or(&[], |i| &columns[i])
}

/// Redraws every plot of a run into its `plots/` folder; returns the files written.
pub fn draw_run(
    run: &RunDir,
    format: Format,
    window: usize,
    threshold: Option<f64>,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut save = |name: &str, chart: Chart| -> Result<()> {
        let path = run.plots().join(format!("{name}.{}", format.extension()));
        render(&chart, &path, format)?;
        written.push(path);
        Ok(())
    };
    create_dir(&run.plots())?;

    let (h, c) = read_csv(&run.episodes_csv())?;
    let steps = column(&h, &c, "step").to_vec();
    let returns = column(&h, &c, "return");
    save(
        "returns",
        Chart {
            title: "Episode return".into(),
            x_label: "environment step".into(),
            y_label: "return".into(),
            bands: vec![],
            series: vec![
                Series {
                    label: "episode return".into(),
                    xs: steps.clone(),
                    ys: returns.to_vec(),
                    color: BLUE_,
                    faint: true,
                },
                Series {
                    label: format!("rolling mean ({window} episodes)"),
                    xs: steps.clone(),
                    ys: rolling_mean(returns, window),
                    color: BLUE_,
                    faint: false,
                },
            ],
            reference: threshold
                .filter(|t| t.is_finite())
                .map(|t| (t, format!("threshold {t}"))),
        },
    )?;
    save(
        "epsilon",
        Chart {
            title: "Exploration rate".into(),
            x_label: "environment step".into(),
            y_label: "ε".into(),
            bands: vec![],
            series: vec![Series {
                label: "ε".into(),
                xs: steps,
                ys: column(&h, &c, "epsilon").to_vec(),
                color: ORANGE,
                faint: false,
            }],
            reference: None,
        },
    )?;

    let (h, c) = read_csv(&run.train_csv())?;
    let steps = column(&h, &c, "step");
    let loss = column(&h, &c, "loss");
    save(
        "loss",
        Chart {
            title: "TD loss".into(),
            x_label: "environment step".into(),
            y_label: "loss".into(),
            bands: vec![],
            series: vec![
                Series {
                    label: "loss".into(),
                    xs: steps.to_vec(),
                    ys: loss.to_vec(),
                    color: GREEN_,
                    faint: true,
                },
                Series {
                    label: "rolling mean (20)".into(),
                    xs: steps.to_vec(),
                    ys: rolling_mean(loss, 20),
                    color: GREEN_,
                    faint: false,
                },
            ],
            reference: None,
        },
    )?;

    let (h, c) = read_csv(&run.eval_csv())?;
    let steps = column(&h, &c, "step");
    let mean = column(&h, &c, "mean");
    let std = column(&h, &c, "std");
    let overall = if mean.is_empty() {
        0.0
    } else {
        mean.iter().sum::<f64>() / mean.len() as f64
    };
    save(
        "eval",
        Chart {
            title: "Greedy evaluation".into(),
            x_label: "environment step".into(),
            y_label: "mean return".into(),
            bands: vec![Band {
                label: "± 1 std".into(),
                xs: steps.to_vec(),
                lo: mean.iter().zip(std).map(|(m, s)| m - s).collect(),
                hi: mean.iter().zip(std).map(|(m, s)| m + s).collect(),
                color: BLUE_,
            }],
            series: vec![
                Series {
                    label: "eval mean".into(),
                    xs: steps.to_vec(),
                    ys: mean.to_vec(),
                    color: BLUE_,
                    faint: false,
                },
                Series {
                    label: format!("mean of evaluations ({overall:.1})"),
                    xs: vec![
                        steps.first().copied().unwrap_or(0.0),
                        steps.last().copied().unwrap_or(1.0),
                    ],
                    ys: vec![overall, overall],
                    color: ORANGE,
                    faint: false,
                },
            ],
            reference: threshold
                .filter(|t| t.is_finite())
                .map(|t| (t, format!("threshold {t}"))),
        },
    )?;
    Ok(written)
}

/// Points on the step axis of an aggregate curve.
const GRID_POINTS: usize = 100;

/// The rolling-mean return of several runs on a shared step grid: their mean and a 95%
/// bootstrap confidence band. Each run's value at a step is its rolling mean after the last
/// episode finished by then; a run counts from its first finished episode on.
pub fn aggregate_curve(
    runs: &[(Vec<f64>, Vec<f64>)],
    window: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let max_step = runs
        .iter()
        .filter_map(|(steps, _)| steps.last().copied())
        .fold(0.0, f64::max);
    let smoothed: Vec<(&[f64], Vec<f64>)> = runs
        .iter()
        .map(|(steps, returns)| (steps.as_slice(), rolling_mean(returns, window)))
        .collect();
    let (mut xs, mut mean, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for k in 1..=GRID_POINTS {
        let x = max_step * k as f64 / GRID_POINTS as f64;
        let values: Vec<f64> = smoothed
            .iter()
            .filter_map(|(steps, curve)| {
                let finished = steps.partition_point(|&s| s <= x);
                finished.checked_sub(1).map(|i| curve[i])
            })
            .collect();
        if values.is_empty() {
            continue;
        }
        let agg = deepq::stats::Aggregate::of(&values);
        xs.push(x);
        mean.push(agg.mean);
        lo.push(agg.ci95[0]);
        hi.push(agg.ci95[1]);
    }
    (xs, mean, lo, hi)
}

/// Draws mean return curves with 95% confidence bands, one per group of runs (seeds of one
/// configuration), into `out/plots/returns.png`.
pub fn draw_seeds(
    out: &Path,
    groups: &[(&str, &[RunDir])],
    window: usize,
    threshold: f64,
) -> Result<PathBuf> {
    const PALETTE: [RGBColor; 8] = [
        BLUE_,
        ORANGE,
        GREEN_,
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    let (mut bands, mut series) = (Vec::new(), Vec::new());
    for (k, (label, runs)) in groups.iter().enumerate() {
        let mut curves = Vec::new();
        for run in runs.iter() {
            let (h, c) = read_csv(&run.episodes_csv())?;
            curves.push((
                column(&h, &c, "step").to_vec(),
                column(&h, &c, "return").to_vec(),
            ));
        }
        let (xs, mean, lo, hi) = aggregate_curve(&curves, window);
        let color = PALETTE[k % PALETTE.len()];
        bands.push(Band {
            label: format!("{label}: 95% CI"),
            xs: xs.clone(),
            lo,
            hi,
            color,
        });
        series.push(Series {
            label: label.to_string(),
            xs,
            ys: mean,
            color,
            faint: false,
        });
    }
    let dir = out.join("plots");
    create_dir(&dir)?;
    let path = dir.join("returns.png");
    let seeds = groups.first().map_or(0, |(_, runs)| runs.len());
    let chart = Chart {
        title: format!("Episode return, mean over {seeds} seeds"),
        x_label: "environment step".into(),
        y_label: format!("rolling mean return ({window} episodes)"),
        bands,
        series,
        // MinAtar registers no threshold (infinite): no line then.
        reference: threshold
            .is_finite()
            .then(|| (threshold, format!("threshold {threshold}"))),
    };
    render(&chart, &path, Format::Png)?;
    Ok(path)
}

/// Writes the report of one configuration's seeds into `out`: the multi-seed
/// `summary.json` and the mean return curve with its band (`plots/returns.png`), as `deepq
/// train --seeds`, `deepq aggregate` and sweep trials all leave them.
pub fn report_seeds(
    out: &Path,
    summary: &SeedsSummary,
    runs: &[RunDir],
    window: usize,
) -> Result<()> {
    write_json(&out.join(SUMMARY_FILE), summary)?;
    let threshold = summary
        .runs
        .first()
        .map_or(f64::INFINITY, |r| r.reward_threshold);
    draw_seeds(out, &[("mean over seeds", runs)], window, threshold)?;
    Ok(())
}

/// Draws a sweep's objective over its trials into `path` (PNG): each finished trial's value
/// as `(trial number, value)` in trial order, the best value so far, and optionally a
/// reference line such as the untuned config's value.
pub fn draw_sweep(
    path: &Path,
    objective: &str,
    trials: &[(f64, f64)],
    reference: Option<(f64, String)>,
) -> Result<()> {
    let xs: Vec<f64> = trials.iter().map(|&(x, _)| x).collect();
    let ys: Vec<f64> = trials.iter().map(|&(_, y)| y).collect();
    let best: Vec<f64> = ys
        .iter()
        .scan(f64::NEG_INFINITY, |best, &y| {
            *best = best.max(y);
            Some(*best)
        })
        .collect();
    let chart = Chart {
        title: format!("{objective} over {} trials", trials.len()),
        x_label: "trial".into(),
        y_label: objective.into(),
        bands: vec![],
        series: vec![
            Series {
                label: format!("trial {objective}"),
                xs: xs.clone(),
                ys,
                color: BLUE_,
                faint: true,
            },
            Series {
                label: "best so far".into(),
                xs,
                ys: best,
                color: ORANGE,
                faint: false,
            },
        ],
        reference,
    };
    if let Some(dir) = path.parent() {
        create_dir(dir)?;
    }
    render(&chart, path, Format::Png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregate_curve_averages_runs_on_a_shared_grid() {
        let a = (vec![10.0, 20.0], vec![1.0, 3.0]);
        let b = (vec![5.0, 20.0], vec![5.0, 5.0]);
        let (xs, mean, lo, hi) = aggregate_curve(&[a, b], 1);
        assert_eq!(
            xs.len(),
            GRID_POINTS - 24,
            "grid points before any episode are skipped"
        );
        assert_eq!(*xs.last().unwrap(), 20.0);
        assert_eq!(*mean.last().unwrap(), 4.0);
        assert!(
            lo.iter()
                .zip(&mean)
                .zip(&hi)
                .all(|((l, m), h)| l <= m && m <= h)
        );
        // At step 6 only run b has finished an episode.
        assert_eq!(mean[0], 5.0);
    }

    #[test]
    fn rolling_mean_uses_a_trailing_window() {
        assert_eq!(
            rolling_mean(&[1.0, 2.0, 3.0, 4.0], 2),
            vec![1.0, 1.5, 2.5, 3.5]
        );
        assert_eq!(rolling_mean(&[], 5), Vec::<f64>::new());
    }

    #[test]
    fn renders_png_and_svg_with_the_embedded_font() {
        let dir = tempfile::tempdir().unwrap();
        let chart = Chart {
            title: "Test chart".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            bands: vec![Band {
                label: "band".into(),
                xs: vec![0.0, 1.0, 2.0],
                lo: vec![0.0; 3],
                hi: vec![2.0; 3],
                color: BLUE_,
            }],
            series: vec![Series {
                label: "line".into(),
                xs: vec![0.0, 1.0, 2.0],
                ys: vec![0.5, 1.5, 1.0],
                color: ORANGE,
                faint: false,
            }],
            reference: Some((1.8, "threshold".into())),
        };
        let png_path = dir.path().join("c.png");
        render(&chart, &png_path, Format::Png).unwrap();
        let bytes = std::fs::read(&png_path).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let pixels = &buf[..info.buffer_size()];
        let distinct: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
        assert!(
            distinct.len() > 20,
            "a real picture has many colours (text antialiasing, lines)"
        );
        // Dark text pixels exist: the title and labels were drawn with the embedded font.
        assert!(pixels.chunks(3).any(|p| p.iter().all(|&c| c < 60)));

        let svg_path = dir.path().join("c.svg");
        render(&chart, &svg_path, Format::Svg).unwrap();
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("Test chart"));
    }

    #[test]
    fn sweeps_draw_into_a_new_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plots").join("objective.png");
        let trials = [(0.0, 100.0), (1.0, 300.0), (2.0, 200.0)];
        draw_sweep(&path, "IQM", &trials, Some((250.0, "untuned".into()))).unwrap();
        assert!(std::fs::read(&path).unwrap().starts_with(b"\x89PNG"));
    }
}
