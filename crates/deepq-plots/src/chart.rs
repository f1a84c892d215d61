//! A line chart and its drawing: the title and a one-line verdict on top, the legend in rows
//! under them (never over the data), a light grid, short tick labels, and a dashed reference
//! line labelled on the chart.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use deepq::run_dir::write_atomic;

use crate::axis::{Scale, YAxis, format_number, span};
use crate::{Format, PlotError, Result};

/// How a line is drawn, from background to headline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Thin and pale: raw data behind a smoothed line.
    Faint,
    /// Medium and muted: a curve that gives context to the headline.
    Context,
    /// Thick, with a dot on each point when there are few: what the chart is about.
    Headline,
    /// Large dots without a line: single results such as final evaluations.
    Points,
}

/// One line (or set of points) of a chart.
pub struct Series {
    /// Legend label; an empty label keeps the series out of the legend.
    pub label: String,
    /// X values.
    pub xs: Vec<f64>,
    /// Y values.
    pub ys: Vec<f64>,
    /// Colour.
    pub color: RGBColor,
    /// How it is drawn.
    pub style: Style,
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

/// A horizontal reference line, such as the reward threshold, drawn dashed with its label
/// written on the chart.
pub struct Reference {
    /// Its height.
    pub y: f64,
    /// Its label, e.g. "solved at 475".
    pub label: String,
}

/// A line chart.
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// A line under the title: the verdict or how to read the chart (may be empty).
    pub subtitle: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Scale of the y axis.
    pub y_scale: Scale,
    /// Whether the x values are whole numbers (trial numbers), so ticks fall on them.
    pub integer_x: bool,
    /// Shaded bands, drawn first.
    pub bands: Vec<Band>,
    /// Lines, drawn over the bands in order (the headline last, so it stays on top).
    pub series: Vec<Series>,
    /// A horizontal reference line.
    pub reference: Option<Reference>,
}

/// Image size in pixels.
pub const WIDTH: u32 = 900;
/// Image size in pixels.
pub const HEIGHT: u32 = 540;
const FONT: &str = "sans-serif";
const MARGIN: i32 = 14;
const Y_LABEL_AREA: i32 = 64;
const LEGEND_ROW: i32 = 22;
const TEXT: RGBColor = RGBColor(40, 40, 40);
const MUTED_TEXT: RGBColor = RGBColor(90, 90, 90);
const GRID: RGBColor = RGBColor(228, 228, 228);
/// Headlines with more points than this are drawn without dots (they would merge).
const MAX_DOTTED_POINTS: usize = 60;

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
    let bytes = match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
                draw(&root, chart).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            svg.into_bytes()
        }
        Format::Png => {
            let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
            {
                let root =
                    BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
                draw(&root, chart).map_err(fail)?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            encode_png(&rgb, WIDTH, HEIGHT).map_err(fail)?
        }
    };
    Ok(write_atomic(path, &bytes)?)
}

/// Encodes an RGB8 image as PNG, with the encoder's fast compression: every run draws its
/// charts when it ends, which took 40 ms of a 0.5 s CartPole run at the default level and
/// takes 17 ms at this one (the files are about 70% larger: 240 KB per run).
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

type Plot<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, YAxis>>;

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart) -> Result<(), String> {
    root.fill(&WHITE).map_err(area_error)?;
    let rows = legend_rows(root, &legend_entries(chart))?;
    let header_height = header_height(chart, rows.len());
    let (header, body) = root.split_vertically(header_height);
    draw_header(&header, chart, &rows)?;

    let mut plot = ChartBuilder::on(&body)
        .margin(MARGIN)
        .margin_top(4)
        .x_label_area_size(44)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x_range(chart), y_axis(chart))
        .map_err(area_error)?;
    draw_grid(&mut plot, chart)?;
    for band in &chart.bands {
        draw_band(&mut plot, band)?;
    }
    if let Some(reference) = &chart.reference {
        draw_reference(&mut plot, reference)?;
    }
    for series in &chart.series {
        draw_series(&mut plot, series)?;
    }
    Ok(())
}

fn area_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> String {
    e.to_string()
}

/// The x range of every point, padded so the last point (often a final evaluation's dot)
/// is not cut by the frame: by half a step on both sides for whole-number axes; other axes
/// (environment steps) start at zero, which also spreads a single point's axis.
fn x_range(chart: &Chart) -> std::ops::Range<f64> {
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.xs.iter())
        .chain(chart.bands.iter().flat_map(|b| b.xs.iter()))
        .copied();
    let (lo, hi) = span(xs);
    if chart.integer_x {
        (lo - 0.5)..(hi + 0.5)
    } else {
        let lo = lo.min(0.0);
        lo..hi + (hi - lo) * 0.02
    }
}

/// The y axis covering every point, band and the reference line.
fn y_axis(chart: &Chart) -> YAxis {
    let ys = chart
        .series
        .iter()
        .flat_map(|s| s.ys.iter())
        .chain(chart.bands.iter().flat_map(|b| b.lo.iter().chain(&b.hi)))
        .chain(chart.reference.iter().map(|r| &r.y))
        .copied();
    YAxis::fit(chart.y_scale, ys)
}

/// A light grid on the major ticks only, and short tick labels.
fn draw_grid<DB: DrawingBackend>(plot: &mut Plot<'_, DB>, chart: &Chart) -> Result<(), String> {
    let x_ticks = if chart.integer_x {
        // One tick per whole number (or fewer): the x range spans that many plus one.
        (plot.x_range().end - plot.x_range().start).round() as usize
    } else {
        8
    };
    plot.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .label_style((FONT, 14).into_font().color(&TEXT))
        .axis_desc_style((FONT, 15).into_font().color(&TEXT))
        .x_label_formatter(&|x| format_number(*x))
        .y_label_formatter(&|y| format_number(*y))
        .x_labels(x_ticks.clamp(2, 10))
        .y_labels(8)
        .bold_line_style(GRID)
        .max_light_lines(0)
        .axis_style(MUTED_TEXT)
        .draw()
        .map_err(area_error)
}

fn draw_band<DB: DrawingBackend>(plot: &mut Plot<'_, DB>, band: &Band) -> Result<(), String> {
    let outline: Vec<(f64, f64)> = band
        .xs
        .iter()
        .zip(&band.hi)
        .map(|(&x, &y)| (x, y))
        .chain(band.xs.iter().zip(&band.lo).rev().map(|(&x, &y)| (x, y)))
        .collect();
    plot.draw_series(std::iter::once(Polygon::new(
        outline,
        band_fill(band.color),
    )))
    .map_err(area_error)?;
    Ok(())
}

fn band_fill(color: RGBColor) -> ShapeStyle {
    color.mix(0.18).filled()
}

/// The stroke of a line in `style`.
fn stroke(color: RGBColor, style: Style) -> ShapeStyle {
    match style {
        Style::Faint => color.mix(0.2).stroke_width(1),
        Style::Context => color.mix(0.7).stroke_width(2),
        Style::Headline => color.stroke_width(3),
        Style::Points => color.filled(),
    }
}

fn draw_series<DB: DrawingBackend>(plot: &mut Plot<'_, DB>, s: &Series) -> Result<(), String> {
    let points: Vec<(f64, f64)> = s.xs.iter().copied().zip(s.ys.iter().copied()).collect();
    if s.style != Style::Points {
        plot.draw_series(LineSeries::new(points.clone(), stroke(s.color, s.style)))
            .map_err(area_error)?;
    }
    let radius = match s.style {
        Style::Headline if points.len() <= MAX_DOTTED_POINTS => 4,
        Style::Points => 7,
        _ => return Ok(()),
    };
    let color = s.color;
    plot.draw_series(points.into_iter().map(|p| {
        // A white ring keeps overlapping dots apart.
        EmptyElement::at(p)
            + Circle::new((0, 0), radius, color.filled())
            + Circle::new((0, 0), radius, WHITE.stroke_width(1))
    }))
    .map_err(area_error)?;
    Ok(())
}

/// The reference line dashed across the plot, its label at its left end, where learning
/// curves start far from a threshold: above the line, or below it when the line runs along
/// the top of the plot.
fn draw_reference<DB: DrawingBackend>(
    plot: &mut Plot<'_, DB>,
    reference: &Reference,
) -> Result<(), String> {
    let color = RGBColor(200, 30, 30);
    let x = plot.x_range();
    let y = reference.y;
    plot.draw_series(DashedLineSeries::new(
        [(x.start, y), (x.end, y)],
        10,
        6,
        color.stroke_width(2),
    ))
    .map_err(area_error)?;
    let font = (FONT, 15).into_font().color(&color);
    let (w, h) = plot
        .plotting_area()
        .estimate_text_size(&reference.label, &font)
        .map_err(area_error)?;
    let (w, h) = (w as i32, h as i32);
    let top = plot.plotting_area().get_pixel_range().1.start;
    let line = plot.backend_coord(&(x.start, y)).1;
    let dy = if line - top > h + 8 { -h - 5 } else { 5 };
    let dx = 8;
    plot.draw_series(std::iter::once(
        EmptyElement::at((x.start, y))
            + Rectangle::new(
                [(dx - 3, dy - 2), (dx + w + 3, dy + h + 2)],
                WHITE.mix(0.85).filled(),
            )
            + Text::new(reference.label.clone(), (dx, dy), font),
    ))
    .map_err(area_error)?;
    Ok(())
}

/// What a legend entry shows before its label.
#[derive(Clone, Copy)]
enum Glyph {
    Line(RGBColor, Style),
    Patch(RGBColor),
}

#[derive(Clone, Copy)]
struct LegendEntry<'a> {
    glyph: Glyph,
    label: &'a str,
}

/// A row of legend entries with their widths in pixels.
type LegendRow<'a> = Vec<(i32, LegendEntry<'a>)>;

/// The legend in drawing order: bands, then series; unlabelled ones are left out.
fn legend_entries(chart: &Chart) -> Vec<LegendEntry<'_>> {
    let bands = chart.bands.iter().map(|b| LegendEntry {
        glyph: Glyph::Patch(b.color),
        label: &b.label,
    });
    let series = chart.series.iter().map(|s| LegendEntry {
        glyph: Glyph::Line(s.color, s.style),
        label: &s.label,
    });
    bands
        .chain(series)
        .filter(|e| !e.label.is_empty())
        .collect()
}

const GLYPH_WIDTH: i32 = 26;
const GLYPH_GAP: i32 = 6;
const ENTRY_GAP: i32 = 22;

fn legend_font() -> FontDesc<'static> {
    (FONT, 14).into_font()
}

/// Legend entries with their widths, wrapped into rows that fit the plot's width.
fn legend_rows<'a, DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry<'a>],
) -> Result<Vec<LegendRow<'a>>, String> {
    let available = WIDTH as i32 - 2 * MARGIN - Y_LABEL_AREA;
    let mut rows: Vec<LegendRow<'a>> = Vec::new();
    let mut used = 0;
    for entry in entries {
        let (text, _) = root
            .estimate_text_size(entry.label, &legend_font().into())
            .map_err(area_error)?;
        let width = GLYPH_WIDTH + GLYPH_GAP + text as i32;
        match rows.last_mut() {
            Some(row) if used + ENTRY_GAP + width <= available => {
                used += ENTRY_GAP + width;
                row.push((width, *entry));
            }
            _ => {
                used = width;
                rows.push(vec![(width, *entry)]);
            }
        }
    }
    Ok(rows)
}

const TITLE_TOP: i32 = 10;
const TITLE_HEIGHT: i32 = 30;
const SUBTITLE_HEIGHT: i32 = 22;

fn header_height(chart: &Chart, legend_rows: usize) -> u32 {
    let subtitle = if chart.subtitle.is_empty() {
        0
    } else {
        SUBTITLE_HEIGHT
    };
    (TITLE_TOP + TITLE_HEIGHT + subtitle + LEGEND_ROW * legend_rows as i32 + 6) as u32
}

/// The title, the subtitle and the legend rows, each centred.
fn draw_header<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    rows: &[LegendRow<'_>],
) -> Result<(), String> {
    let centre = WIDTH as i32 / 2;
    let top = Pos::new(HPos::Center, VPos::Top);
    let title = (FONT, 22).into_font().color(&TEXT).pos(top);
    area.draw_text(&chart.title, &title, (centre, TITLE_TOP))
        .map_err(area_error)?;
    let mut y = TITLE_TOP + TITLE_HEIGHT;
    if !chart.subtitle.is_empty() {
        let subtitle = (FONT, 15).into_font().color(&MUTED_TEXT).pos(top);
        area.draw_text(&chart.subtitle, &subtitle, (centre, y))
            .map_err(area_error)?;
        y += SUBTITLE_HEIGHT;
    }
    for row in rows {
        let width: i32 =
            row.iter().map(|(w, _)| w).sum::<i32>() + ENTRY_GAP * (row.len() as i32 - 1);
        let mut x = centre - width / 2;
        for &(w, entry) in row {
            draw_legend_entry(area, (x, y + LEGEND_ROW / 2), entry)?;
            x += w + ENTRY_GAP;
        }
        y += LEGEND_ROW;
    }
    Ok(())
}

/// One legend entry, its glyph starting at `(x, y)` (y is the middle of the row).
fn draw_legend_entry<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    LegendEntry { glyph, label }: LegendEntry<'_>,
) -> Result<(), String> {
    let end = x + GLYPH_WIDTH;
    match glyph {
        Glyph::Patch(color) => area.draw(&Rectangle::new(
            [(x, y - 6), (end, y + 6)],
            band_fill(color),
        )),
        Glyph::Line(color, Style::Points) => {
            area.draw(&Circle::new((x + GLYPH_WIDTH / 2, y), 6, color.filled()))
        }
        Glyph::Line(color, style) => {
            area.draw(&PathElement::new([(x, y), (end, y)], stroke(color, style)))
        }
    }
    .map_err(area_error)?;
    let font = legend_font()
        .color(&TEXT)
        .pos(Pos::new(HPos::Left, VPos::Center));
    area.draw_text(label, &font, (end + GLYPH_GAP, y))
        .map_err(area_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BLUE;

    fn test_chart() -> Chart {
        Chart {
            title: "Test chart".into(),
            subtitle: "a subtitle".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            y_scale: Scale::Linear,
            integer_x: false,
            bands: vec![Band {
                label: "band".into(),
                xs: vec![0.0, 1.0, 2.0],
                lo: vec![0.0; 3],
                hi: vec![2.0; 3],
                color: BLUE,
            }],
            series: vec![Series {
                label: "line".into(),
                xs: vec![0.0, 1.0, 2.0],
                ys: vec![0.5, 1.5, 1.0],
                color: BLUE,
                style: Style::Headline,
            }],
            reference: Some(Reference {
                y: 1.8,
                label: "solved at 1.8".into(),
            }),
        }
    }

    #[test]
    fn renders_png_and_svg_with_the_embedded_font() {
        let dir = tempfile::tempdir().unwrap();
        let chart = test_chart();
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
        assert!(
            svg.contains("solved at 1.8"),
            "the reference is labelled on the chart"
        );
    }

    #[test]
    fn the_legend_wraps_into_rows_above_the_plot() {
        let mut chart = test_chart();
        let one_row = header_height(&chart, 1);
        chart.series = (0..12)
            .map(|k| Series {
                label: format!("a fairly long legend label number {k}"),
                xs: vec![0.0],
                ys: vec![0.0],
                color: BLUE,
                style: Style::Context,
            })
            .collect();
        let mut svg = String::new();
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        register_embedded_font();
        let rows = legend_rows(&root, &legend_entries(&chart)).unwrap();
        assert!(rows.len() >= 3, "{} rows", rows.len());
        assert!(header_height(&chart, rows.len()) > one_row);
        let available = WIDTH as i32 - 2 * MARGIN - Y_LABEL_AREA;
        for row in &rows {
            let width: i32 =
                row.iter().map(|e| e.0).sum::<i32>() + ENTRY_GAP * (row.len() as i32 - 1);
            assert!(width <= available, "a row overflows: {width}");
        }
    }
}
