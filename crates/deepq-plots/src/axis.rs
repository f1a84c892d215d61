//! The y axis of a chart (linear, or symmetric log for losses) and the tick labels of both
//! axes.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// How values map onto the y axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Equal steps of value take equal space.
    Linear,
    /// Symmetric log: each decade takes equal space, so early spikes of a loss do not flatten
    /// the rest of the run; a linear stretch around zero keeps zero and negative values
    /// (which a plain log axis cannot show) on the chart.
    Symlog,
}

/// A y axis fitted to a chart's values: its scale and its padded range.
#[derive(Clone, Debug)]
pub struct YAxis {
    scale: Scale,
    /// The symlog axis is linear within ±`linear_width`, a power of ten.
    linear_width: f64,
    range: Range<f64>,
}

impl YAxis {
    /// The axis covering every finite value, padded by 5% of its height on each side (in
    /// the scale's own terms) so lines do not touch the frame.
    pub fn fit(scale: Scale, values: impl Iterator<Item = f64> + Clone) -> Self {
        let mut axis = YAxis {
            scale,
            linear_width: linear_width(values.clone()),
            range: 0.0..1.0,
        };
        let (lo, hi) = span(values.map(|v| axis.position(v)));
        let pad = (hi - lo) * 0.05;
        axis.range = axis.value_at(lo - pad)..axis.value_at(hi + pad);
        axis
    }

    /// Position of `v` on the axis, in units where a linear axis is the value itself and a
    /// symlog axis counts decades beyond its linear stretch.
    fn position(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Symlog => v.signum() * (v.abs() / self.linear_width).ln_1p() / 10f64.ln(),
        }
    }

    /// The value at position `t` on the axis: the inverse of [`YAxis::position`].
    fn value_at(&self, t: f64) -> f64 {
        match self.scale {
            Scale::Linear => t,
            Scale::Symlog => t.signum() * self.linear_width * (10f64.powf(t.abs()) - 1.0),
        }
    }

    /// Ticks of a symlog axis: zero and the powers of ten within range, with their doubles
    /// and fives when few decades leave room for them (1-2-5 steps), or every other (or
    /// fewer) decade when there are more than `max` of them.
    fn decade_ticks(&self, max: usize) -> Vec<f64> {
        if max == 0 {
            return vec![];
        }
        let Range { start, end } = self.range;
        let first = self.linear_width.log10().round() as i32;
        let last = (start.abs().max(end.abs()).log10().floor() as i32).max(first);
        let decades: Vec<i32> = (first..=last).collect();
        let (stride, mantissas): (usize, &[f64]) = if decades.len() * 3 <= max {
            (1, &[1.0, 2.0, 5.0])
        } else {
            (decades.len().div_ceil(max), &[1.0])
        };
        let mut ticks: Vec<f64> = decades
            .iter()
            .step_by(stride)
            .flat_map(|&e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .flat_map(|v| [v, -v])
            .chain([0.0])
            .filter(|v| (start..=end).contains(v))
            .collect();
        ticks.sort_by(f64::total_cmp);
        ticks
    }
}

impl Ranged for YAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (t0, t1) = (
            self.position(self.range.start),
            self.position(self.range.end),
        );
        let fraction = (self.position(*value) - t0) / (t1 - t0);
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match self.scale {
            Scale::Linear => RangedCoordf64::from(self.range.clone()).key_points(hint),
            Scale::Symlog => self.decade_ticks(hint.max_num_points()),
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// The smallest and largest finite value; a unit span around a single value, and 0–1 when
/// there is none, so the axis always has a height.
pub fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 1.0, hi + 1.0)
    } else {
        (lo, hi)
    }
}

/// The power of ten at or below the smallest nonzero magnitude, but no more than six
/// decades below the largest, so one near-zero value does not stretch the axis.
fn linear_width(values: impl Iterator<Item = f64>) -> f64 {
    let (smallest, largest) = values
        .filter(|v| v.is_finite() && *v != 0.0)
        .map(f64::abs)
        .fold((f64::INFINITY, 0.0f64), |(s, l), v| (s.min(v), l.max(v)));
    if smallest.is_infinite() {
        return 1.0;
    }
    10f64.powf(smallest.max(largest * 1e-6).log10().floor())
}

/// A tick label or a score in a title: at most four significant digits, no trailing `.0`, thousands as `k`,
/// millions as `M`, billions as `G` (20000 → `20k`, 1500000 → `1.5M`, 1.0 → `1`), and tiny
/// magnitudes in exponent form (0.0001 → `1e-4`).
pub fn format_number(v: f64) -> String {
    // Rounding through the exponent form drops float noise: 0.30000000000000004 → 0.3.
    let v: f64 = format!("{v:.3e}").parse().unwrap_or(v);
    let magnitude = v.abs();
    if magnitude == 0.0 {
        // Also -0, which would print as "-0".
        return "0".into();
    }
    for (scale, suffix) in [(1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if magnitude >= scale {
            return format!("{}{suffix}", v / scale);
        }
    }
    if magnitude < 1e-3 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short_and_have_no_trailing_zero() {
        for (value, label) in [
            (20000.0, "20k"),
            (1.0, "1"),
            (1_500_000.0, "1.5M"),
            (2.5e9, "2.5G"),
            (12_500.0, "12.5k"),
            (475.0, "475"),
            (-200.0, "-200"),
            (0.30000000000000004, "0.3"),
            (0.25, "0.25"),
            (-0.0, "0"),
            (0.0, "0"),
            (1e-4, "1e-4"),
            (123_456.0, "123.5k"),
        ] {
            assert_eq!(format_number(value), label, "{value}");
        }
    }

    #[test]
    fn a_linear_axis_pads_the_data_range() {
        let axis = YAxis::fit(Scale::Linear, [0.0, 100.0].into_iter());
        assert_eq!(axis.range(), -5.0..105.0);
        assert_eq!(axis.map(&-5.0, (0, 100)), 0);
        assert_eq!(axis.map(&50.0, (0, 100)), 50);
    }

    #[test]
    fn a_symlog_axis_gives_each_decade_equal_room() {
        let losses = [0.01, 0.1, 1.0, 10.0, 100.0];
        let axis = YAxis::fit(Scale::Symlog, losses.into_iter());
        let pixels: Vec<i32> = losses.iter().map(|v| axis.map(v, (0, 1000))).collect();
        let gaps: Vec<i32> = pixels.windows(2).map(|w| w[1] - w[0]).collect();
        // Far from the linear stretch the decades are evenly spaced.
        assert!((gaps[2] - gaps[3]).abs() <= 2, "{gaps:?}");
        assert!(gaps.iter().all(|&g| g > 100), "{gaps:?}");
        let ticks = axis.key_points(10);
        for decade in [0.01, 0.1, 1.0, 10.0, 100.0] {
            assert!(ticks.contains(&decade), "{ticks:?}");
        }
    }

    #[test]
    fn a_symlog_axis_shows_zero_and_negative_values() {
        let axis = YAxis::fit(Scale::Symlog, [-10.0, 0.0, 1000.0].into_iter());
        assert!(axis.range().start < -10.0 && axis.range().end > 1000.0);
        let ticks = axis.key_points(10);
        assert!(ticks.contains(&0.0) && ticks.contains(&-10.0), "{ticks:?}");
        assert!(axis.map(&-10.0, (0, 100)) < axis.map(&0.0, (0, 100)));
    }

    #[test]
    fn a_symlog_axis_within_two_decades_ticks_in_1_2_5_steps() {
        let axis = YAxis::fit(Scale::Symlog, [0.003, 0.04].into_iter());
        let labels: Vec<String> = axis.key_points(8).into_iter().map(format_number).collect();
        assert_eq!(labels, ["0.005", "0.01", "0.02"]);
    }

    #[test]
    fn a_symlog_axis_thins_its_ticks_to_the_limit() {
        let axis = YAxis::fit(Scale::Symlog, [1e-6, 1e6].into_iter());
        assert!(
            axis.key_points(5).len() <= 6,
            "five decades and zero at most"
        );
    }
}
