//! Observation and action spaces, after Gymnasium's `Discrete` and `Box`: a flat `Box` of
//! measurements, or an image `Box` of shape (height, width, channels) with its element type.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The set of values an observation or an action can take.
///
/// Learners use it to size their networks ([`Space::flat_dim`]) and to check
/// observations ([`Space::contains_flat`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Space {
    /// The integers `0..n`.
    Discrete {
        /// Number of values.
        n: usize,
    },
    /// A box of `f32` values, each between its bound in `low` and `high`
    /// (inclusive; infinite bounds allowed). `low` and `high` hold one bound
    /// per element in row-major order, so their length is the product of `shape`.
    Box {
        /// Lower bound of every element.
        low: Vec<f32>,
        /// Upper bound of every element.
        high: Vec<f32>,
        /// Dimensions of the box.
        shape: Vec<usize>,
    },
    /// An image: a box of shape (height, width, channels), channels last as environments give
    /// it (MinAtar, Atari through Gymnasium), whose elements have type `dtype`. Its flat
    /// encoding is the elements in (y, x, channel) order, as `f32`.
    Image {
        /// (height, width, channels).
        shape: [usize; 3],
        /// The element type, which bounds the values (bool: 0 or 1, u8: 0 to 255).
        dtype: ElementType,
    },
}

/// The element type of an image observation; replay buffers store images in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementType {
    /// 0 or 1 (MinAtar's channels).
    Bool,
    /// 0 to 255 (Atari frames). The flat encoding the network sees is the value divided by
    /// 255 ([`ElementType::flat_from_byte`]), the scaling Stable-Baselines3 and CleanRL apply
    /// to frames.
    U8,
    /// Any finite float.
    F32,
}

impl ElementType {
    /// numpy's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            ElementType::Bool => "bool",
            ElementType::U8 => "uint8",
            ElementType::F32 => "float32",
        }
    }

    /// Whether `x` is the flat encoding of a value of this type.
    pub fn contains(self, x: f32) -> bool {
        match self {
            ElementType::Bool => x == 0.0 || x == 1.0,
            ElementType::U8 => {
                (0.0..=1.0).contains(&x) && Self::flat_from_byte(Self::byte_from_flat(x)) == x
            }
            ElementType::F32 => x.is_finite(),
        }
    }

    /// The flat encoding of a `u8` image value: `value / 255`.
    #[inline]
    pub fn flat_from_byte(value: u8) -> f32 {
        f32::from(value) / 255.0
    }

    /// The `u8` value whose flat encoding ([`ElementType::flat_from_byte`]) is nearest `x`.
    #[inline]
    pub fn byte_from_flat(x: f32) -> u8 {
        // `(x * 255.0).round() as u8`, rounding halves away from zero and clamping to 0 or
        // 255 (NaN to 0) as the saturating cast does, but without branches or a call to
        // libm's `roundf`, so that encoding a frame vectorizes: replay encodes every pixel it
        // stores through here. Below 255 the truncated value and the fraction left are
        // exact, so adding one for a fraction of a half or more is the rounding.
        // `max` returns 0 for NaN; the value then fits in an i32, whose cast vectorizes
        // where a float-to-u8 cast does not.
        // (`clamp` would keep NaN.)
        #[allow(clippy::manual_clamp)]
        let y = (x * 255.0).max(0.0).min(255.0);
        let whole = y as i32;
        (whole + i32::from(y - whole as f32 >= 0.5)) as u8
    }
}

impl Space {
    /// A one-dimensional box with the given per-element bounds.
    ///
    /// # Panics
    /// If `low` and `high` differ in length or some `low[i] > high[i]`.
    pub fn box_1d(low: Vec<f32>, high: Vec<f32>) -> Self {
        assert_eq!(
            low.len(),
            high.len(),
            "Box bounds must have the same length"
        );
        assert!(
            low.iter().zip(&high).all(|(l, h)| l <= h),
            "Box lower bounds must not exceed the upper bounds"
        );
        let shape = vec![low.len()];
        Space::Box { low, high, shape }
    }

    /// Width of the flat `f32` vector an observation from this space is written
    /// into: `n` for `Discrete` (one-hot encoding), the number of elements for `Box`.
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { n } => *n,
            Space::Box { shape, .. } => shape.iter().product(),
            Space::Image { shape, .. } => shape.iter().product(),
        }
    }

    /// (height, width, channels) of an image space, `None` otherwise.
    pub fn image_shape(&self) -> Option<[usize; 3]> {
        match self {
            Space::Image { shape, .. } => Some(*shape),
            _ => None,
        }
    }

    /// Number of values of a `Discrete` space, `None` for a `Box`.
    pub fn n(&self) -> Option<usize> {
        match self {
            Space::Discrete { n } => Some(*n),
            Space::Box { .. } | Space::Image { .. } => None,
        }
    }

    /// Whether the integer `i` is a member of this `Discrete` space (always
    /// false for a `Box`).
    pub fn contains_index(&self, i: usize) -> bool {
        self.n().is_some_and(|n| i < n)
    }

    /// Whether `x` is the flat encoding of a member of this space: a one-hot
    /// vector of width `n` for `Discrete`, or `flat_dim` values within the
    /// bounds (NaN is never inside) for `Box`.
    pub fn contains_flat(&self, x: &[f32]) -> bool {
        match self {
            Space::Discrete { n } => {
                x.len() == *n
                    && x.iter().all(|&v| v == 0.0 || v == 1.0)
                    && x.iter().filter(|&&v| v == 1.0).count() == 1
            }
            Space::Box { low, high, .. } => {
                x.len() == self.flat_dim()
                    && x.iter()
                        .zip(low.iter().zip(high))
                        .all(|(v, (l, h))| l <= v && v <= h)
            }
            Space::Image { dtype, .. } => {
                x.len() == self.flat_dim() && x.iter().all(|&v| dtype.contains(v))
            }
        }
    }
}

/// Writes one bound: a single number when every element shares it, else a list.
fn fmt_bound(f: &mut fmt::Formatter<'_>, values: &[f32]) -> fmt::Result {
    match values.split_first() {
        // `+ 0.0` turns a bound of -0 (LunarLander's leg contacts) into 0.
        Some((first, rest)) if rest.iter().all(|v| v == first) => write!(f, "{}", first + 0.0),
        _ => {
            f.write_str("[")?;
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}", v + 0.0)?;
            }
            f.write_str("]")
        }
    }
}

/// `Discrete(2)`, `Box(-inf..inf, (4,))` or, with per-element bounds,
/// `Box([-4.8, -inf]..[4.8, inf], (2,))`; the shape is written as a Python tuple
/// like Gymnasium does. An image: `Box((10, 10, 4), bool)`.
impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Discrete { n } => write!(f, "Discrete({n})"),
            Space::Box { low, high, shape } => {
                f.write_str("Box(")?;
                fmt_bound(f, low)?;
                f.write_str("..")?;
                fmt_bound(f, high)?;
                f.write_str(", (")?;
                for (i, d) in shape.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{d}")?;
                }
                if shape.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str("))")
            }
            Space::Image {
                shape: [h, w, c],
                dtype,
            } => write!(f, "Box(({h}, {w}, {c}), {})", dtype.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_the_documented_forms() {
        assert_eq!(Space::Discrete { n: 2 }.to_string(), "Discrete(2)");
        let inf = f32::INFINITY;
        assert_eq!(
            Space::box_1d(vec![-inf; 4], vec![inf; 4]).to_string(),
            "Box(-inf..inf, (4,))"
        );
        assert_eq!(
            Space::box_1d(vec![-4.8, -inf], vec![4.8, inf]).to_string(),
            "Box([-4.8, -inf]..[4.8, inf], (2,))"
        );
        let square = Space::Box {
            low: vec![0.0; 4],
            high: vec![1.0; 4],
            shape: vec![2, 2],
        };
        assert_eq!(square.to_string(), "Box(0..1, (2, 2))");
        assert_eq!(
            Space::box_1d(vec![-0.0, -1.0], vec![1.0, 1.0]).to_string(),
            "Box([0, -1]..1, (2,))"
        );
        assert_eq!(square.flat_dim(), 4);
    }

    #[test]
    fn image_spaces_have_a_shape_and_an_element_type() {
        let image = Space::Image {
            shape: [10, 10, 4],
            dtype: ElementType::Bool,
        };
        assert_eq!(image.to_string(), "Box((10, 10, 4), bool)");
        assert_eq!(image.flat_dim(), 400);
        assert_eq!(image.image_shape(), Some([10, 10, 4]));
        assert_eq!(image.n(), None);
        let mut x = vec![0.0; 400];
        x[7] = 1.0;
        assert!(image.contains_flat(&x));
        x[8] = 0.5;
        assert!(!image.contains_flat(&x));
        assert!(ElementType::U8.contains(1.0) && ElementType::U8.contains(17.0 / 255.0));
        assert!(!ElementType::U8.contains(17.5 / 255.0) && !ElementType::U8.contains(255.0));
        for value in 0..=255 {
            let x = ElementType::flat_from_byte(value);
            assert_eq!(ElementType::byte_from_flat(x), value);
        }
    }

    #[test]
    fn byte_from_flat_rounds_and_clamps_as_round_then_cast() {
        let reference = |x: f32| (x * 255.0).round() as u8;
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            f32::MIN_POSITIVE,
            0.5 / 255.0,
            254.5 / 255.0,
            1.0 + f32::EPSILON,
            -1.0,
        ];
        // Every float from -2 to 2 in steps of 2⁻¹⁶, each also nudged one ulp either way,
        // covers every byte's rounding boundary and the clamped ends.
        let swept = (-(1 << 17)..=1 << 17)
            .map(|k| k as f32 / 65536.0)
            .flat_map(|x| {
                [
                    x,
                    f32::from_bits(x.to_bits() + 1),
                    f32::from_bits(x.to_bits().max(1) - 1),
                ]
            });
        for x in specials.into_iter().chain(swept) {
            assert_eq!(ElementType::byte_from_flat(x), reference(x), "{x:e}");
        }
    }

    #[test]
    fn contains_flat_checks_encoding_and_bounds() {
        let d = Space::Discrete { n: 3 };
        assert!(d.contains_flat(&[0.0, 1.0, 0.0]));
        assert!(!d.contains_flat(&[0.0, 0.0, 0.0]));
        assert!(!d.contains_flat(&[1.0, 1.0, 0.0]));
        assert!(!d.contains_flat(&[0.0, 1.0]));
        let b = Space::box_1d(vec![-1.0, 0.0], vec![1.0, 2.0]);
        assert!(b.contains_flat(&[1.0, 0.0]));
        assert!(!b.contains_flat(&[1.5, 0.0]));
        assert!(!b.contains_flat(&[f32::NAN, 0.0]));
        assert!(!b.contains_flat(&[0.0]));
        assert!(d.contains_index(2) && !d.contains_index(3) && !b.contains_index(0));
    }
}
