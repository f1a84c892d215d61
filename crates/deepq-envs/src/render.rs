//! Drawing helpers shared by the environments' text and RGB renderers.

use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Stroke, Transform};

use crate::env::RgbFrame;

/// An RGB colour.
pub(crate) type Rgb = [u8; 3];

pub(crate) const WHITE: Rgb = [255, 255, 255];
pub(crate) const BLACK: Rgb = [0, 0, 0];

/// An anti-aliased drawing surface with an opaque background.
///
/// Gymnasium's classic-control renderers draw with y pointing up and flip the
/// surface at the end; [`Canvas::y_up`] does the same with a transform, so
/// their coordinates can be used unchanged.
pub(crate) struct Canvas {
    pixmap: Pixmap,
    transform: Transform,
}

impl Canvas {
    /// A canvas whose y axis points up from the bottom edge.
    pub(crate) fn y_up(width: u32, height: u32, background: Rgb) -> Self {
        let transform = Transform::from_row(1.0, 0.0, 0.0, -1.0, 0.0, height as f32);
        Self::with_transform(width, height, background, transform)
    }

    /// A canvas whose y axis points down from the top edge.
    pub(crate) fn y_down(width: u32, height: u32, background: Rgb) -> Self {
        Self::with_transform(width, height, background, Transform::identity())
    }

    fn with_transform(width: u32, height: u32, background: Rgb, transform: Transform) -> Self {
        let mut pixmap = Pixmap::new(width, height).expect("frame size must be non-zero");
        let [r, g, b] = background;
        pixmap.fill(tiny_skia::Color::from_rgba8(r, g, b, 255));
        Self { pixmap, transform }
    }

    fn paint(color: Rgb) -> Paint<'static> {
        let mut paint = Paint::default();
        let [r, g, b] = color;
        paint.set_color_rgba8(r, g, b, 255);
        paint.anti_alias = true;
        paint
    }

    /// Fills the polygon with the given corners.
    pub(crate) fn polygon(&mut self, corners: &[(f32, f32)], color: Rgb) {
        if let Some(path) = path_through(corners, true) {
            self.pixmap.fill_path(
                &path,
                &Self::paint(color),
                FillRule::Winding,
                self.transform,
                None,
            );
        }
    }

    /// Fills a circle.
    pub(crate) fn circle(&mut self, cx: f32, cy: f32, radius: f32, color: Rgb) {
        if let Some(path) = PathBuilder::from_circle(cx, cy, radius) {
            self.pixmap.fill_path(
                &path,
                &Self::paint(color),
                FillRule::Winding,
                self.transform,
                None,
            );
        }
    }

    /// Strokes an open polyline through `points`.
    pub(crate) fn polyline(&mut self, points: &[(f32, f32)], width: f32, color: Rgb) {
        if let Some(path) = path_through(points, false) {
            let stroke = Stroke {
                width,
                ..Stroke::default()
            };
            self.pixmap
                .stroke_path(&path, &Self::paint(color), &stroke, self.transform, None);
        }
    }

    /// The picture as an RGB frame.
    pub(crate) fn finish(self) -> RgbFrame {
        let (width, height) = (self.pixmap.width(), self.pixmap.height());
        // The background is opaque, so premultiplied RGBA is plain RGBA here.
        let data = self
            .pixmap
            .data()
            .chunks_exact(4)
            .flat_map(|px| [px[0], px[1], px[2]])
            .collect();
        RgbFrame {
            width,
            height,
            data,
        }
    }
}

/// The path through `points`, closed into a polygon if `close`; `None` when
/// it has no area or length to draw.
fn path_through(points: &[(f32, f32)], close: bool) -> Option<tiny_skia::Path> {
    let mut pb = PathBuilder::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        if i == 0 {
            pb.move_to(x, y);
        } else {
            pb.line_to(x, y);
        }
    }
    if close {
        pb.close();
    }
    pb.finish()
}

/// A fixed-size grid of characters for text frames, row 0 at the top.
pub(crate) struct TextGrid {
    width: usize,
    cells: Vec<char>,
}

impl TextGrid {
    /// A grid of spaces.
    pub(crate) fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            cells: vec![' '; width * height],
        }
    }

    fn height(&self) -> usize {
        self.cells.len() / self.width
    }

    /// Sets one cell; positions outside the grid are ignored, so callers can
    /// draw shapes that stick out of the frame.
    pub(crate) fn put(&mut self, col: i64, row: i64, ch: char) {
        if (0..self.width as i64).contains(&col) && (0..self.height() as i64).contains(&row) {
            self.cells[row as usize * self.width + col as usize] = ch;
        }
    }

    /// Writes `text` from `(col, row)` rightwards, clipped like [`TextGrid::put`].
    pub(crate) fn text(&mut self, col: i64, row: i64, text: &str) {
        for (i, ch) in text.chars().enumerate() {
            self.put(col + i as i64, row, ch);
        }
    }

    /// Marks the cells along the segment between two points given in cell
    /// units (fractional positions round to the nearest cell).
    pub(crate) fn segment(&mut self, from: (f64, f64), to: (f64, f64), ch: char) {
        let steps = (to.0 - from.0)
            .abs()
            .max((to.1 - from.1).abs())
            .ceil()
            .max(1.0) as usize;
        for i in 0..=steps {
            let t = i as f64 / steps as f64;
            let col = from.0 + (to.0 - from.0) * t;
            let row = from.1 + (to.1 - from.1) * t;
            self.put(col.round() as i64, row.round() as i64, ch);
        }
    }

    /// The grid as lines joined by `'\n'`, each exactly `width` characters.
    pub(crate) fn into_string(self) -> String {
        let mut out = String::with_capacity(self.cells.len() + self.height());
        for (i, row) in self.cells.chunks(self.width).enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.extend(row);
        }
        out
    }
}

/// `p` rotated counter-clockwise by `angle` radians about the origin, like
/// pygame's `Vector2.rotate_rad` that Gymnasium's renderers use.
pub(crate) fn rotate((x, y): (f32, f32), angle: f32) -> (f32, f32) {
    let (s, c) = angle.sin_cos();
    (x * c - y * s, x * s + y * c)
}
