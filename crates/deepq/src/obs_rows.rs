//! Observations as replay stores them: rows of one flat observation each, kept in the
//! observation's own element type rather than as `f32`. MinAtar's boolean channels take one
//! bit per value (a 10×10×10 Seaquest frame is 125 bytes instead of 4,000), `u8` images one
//! byte (their flat values are `byte / 255`), everything else `f32`.
//!
//! The replay buffer keeps all its observations in one [`ObsRows`], a pool of frames that
//! transitions refer to by row: it appends a row only when no freed one can be overwritten
//! ([`ObsRows::set`]), and asks [`ObsRows::row_eq`] whether a frame already holds an
//! observation before storing it again. Each encoding is exact for the values it stores, so
//! equal encodings mean equal values for the network.

use std::ops::Range;

use deepq_envs::{ElementType, Space};
use deepq_nn::Scalar;
use serde::{Deserialize, Serialize};

/// How an observation space's values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    /// One `f32` per value.
    F32,
    /// One byte per value: the `u8` whose flat encoding is the value (`byte / 255`).
    Bytes,
    /// One bit per value (0 or 1), eight to a byte.
    Bits,
}

impl Encoding {
    /// The compact encoding of `space`'s values.
    pub fn of(space: &Space) -> Self {
        match space {
            Space::Image {
                dtype: ElementType::Bool,
                ..
            } => Encoding::Bits,
            Space::Image {
                dtype: ElementType::U8,
                ..
            } => Encoding::Bytes,
            _ => Encoding::F32,
        }
    }
}

/// Rows of `dim` observation values in one [`Encoding`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ObsRows {
    /// `dim` floats per row.
    F32(Vec<f32>),
    /// `dim` bytes per row.
    Bytes(Vec<u8>),
    /// `⌈dim / 8⌉` bytes per row, value `j` in bit `j % 8` of byte `j / 8`.
    Bits(Vec<u8>),
}

fn packed_len(dim: usize) -> usize {
    dim.div_ceil(8)
}

impl ObsRows {
    /// No rows, in `encoding`.
    pub fn new(encoding: Encoding) -> Self {
        match encoding {
            Encoding::F32 => ObsRows::F32(Vec::new()),
            Encoding::Bytes => ObsRows::Bytes(Vec::new()),
            Encoding::Bits => ObsRows::Bits(Vec::new()),
        }
    }

    /// The encoding of the rows.
    pub fn encoding(&self) -> Encoding {
        match self {
            ObsRows::F32(_) => Encoding::F32,
            ObsRows::Bytes(_) => Encoding::Bytes,
            ObsRows::Bits(_) => Encoding::Bits,
        }
    }

    /// Storage units (floats or bytes) one row of `dim` values takes.
    fn row_units(&self, dim: usize) -> usize {
        match self {
            ObsRows::F32(_) | ObsRows::Bytes(_) => dim,
            ObsRows::Bits(_) => packed_len(dim),
        }
    }

    fn units(&self) -> usize {
        match self {
            ObsRows::F32(v) => v.len(),
            ObsRows::Bytes(v) | ObsRows::Bits(v) => v.len(),
        }
    }

    /// Whether the storage holds exactly `rows` rows of `dim` values.
    pub fn holds(&self, rows: usize, dim: usize) -> bool {
        rows.checked_mul(self.row_units(dim)) == Some(self.units())
    }

    /// Makes room for `rows` more rows of `dim` values, and no more.
    pub fn reserve_rows(&mut self, rows: usize, dim: usize) {
        let units = rows * self.row_units(dim);
        match self {
            ObsRows::F32(v) => v.reserve_exact(units),
            ObsRows::Bytes(v) | ObsRows::Bits(v) => v.reserve_exact(units),
        }
    }

    /// Where row `i` of `dim` values lies in the storage.
    fn row_range(&self, i: usize, dim: usize) -> Range<usize> {
        let units = self.row_units(dim);
        i * units..(i + 1) * units
    }

    /// Appends one row.
    pub fn push(&mut self, row: &[f32]) {
        match self {
            ObsRows::F32(v) => v.extend_from_slice(row),
            ObsRows::Bytes(v) => v.extend(row.iter().map(|&x| ElementType::byte_from_flat(x))),
            ObsRows::Bits(v) => v.extend(packed_bits(row)),
        }
    }

    /// Overwrites row `i`.
    pub fn set(&mut self, i: usize, row: &[f32]) {
        let range = self.row_range(i, row.len());
        match self {
            ObsRows::F32(v) => v[range].copy_from_slice(row),
            ObsRows::Bytes(v) => {
                for (b, &x) in v[range].iter_mut().zip(row) {
                    *b = ElementType::byte_from_flat(x);
                }
            }
            ObsRows::Bits(v) => {
                for (b, packed) in v[range].iter_mut().zip(packed_bits(row)) {
                    *b = packed;
                }
            }
        }
    }

    /// Whether row `i` holds what storing `row` would: the same floats bit for bit, the same
    /// bytes, or the same bits. Compares in place, without encoding `row` into a buffer.
    pub fn row_eq(&self, i: usize, row: &[f32]) -> bool {
        let range = self.row_range(i, row.len());
        match self {
            ObsRows::F32(v) => v[range]
                .iter()
                .zip(row)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            ObsRows::Bytes(v) => v[range]
                .iter()
                .copied()
                .eq(row.iter().map(|&x| ElementType::byte_from_flat(x))),
            ObsRows::Bits(v) => v[range].iter().copied().eq(packed_bits(row)),
        }
    }

    /// Appends row `i` (of `dim` values) to `out`, converted to the network's scalar type.
    pub fn extend_row<T: Scalar>(&self, i: usize, dim: usize, out: &mut Vec<T>) {
        let range = self.row_range(i, dim);
        match self {
            ObsRows::F32(v) => out.extend(v[range].iter().map(|&x| T::from_f64(f64::from(x)))),
            ObsRows::Bytes(v) => out.extend(
                v[range]
                    .iter()
                    .map(|&b| T::from_f64(f64::from(ElementType::flat_from_byte(b)))),
            ),
            ObsRows::Bits(v) => {
                let bytes = &v[range];
                out.extend((0..dim).map(|j| {
                    if bytes[j / 8] >> (j % 8) & 1 == 1 {
                        T::ONE
                    } else {
                        T::ZERO
                    }
                }));
            }
        }
    }

    /// Bytes allocated.
    pub fn allocated_bytes(&self) -> usize {
        match self {
            ObsRows::F32(v) => v.capacity() * 4,
            ObsRows::Bytes(v) | ObsRows::Bits(v) => v.capacity(),
        }
    }
}

/// The bytes of 0/1 values packed into bits, value `j` into bit `j % 8` of byte `j / 8`.
fn packed_bits(row: &[f32]) -> impl Iterator<Item = u8> + '_ {
    row.chunks(8).map(|chunk| {
        chunk
            .iter()
            .enumerate()
            .filter(|&(_, &x)| x != 0.0)
            .fold(0, |byte, (k, _)| byte | 1 << k)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_gives_back_what_it_stored() {
        let row: Vec<f32> = (0..13).map(|j| f32::from(u8::from(j % 3 == 0))).collect();
        let bytes: Vec<f32> = (0..13u8)
            .map(|j| ElementType::flat_from_byte(j * 19))
            .collect();
        let other: Vec<f32> = row.iter().map(|x| 1.0 - x).collect();
        for encoding in [Encoding::F32, Encoding::Bytes, Encoding::Bits] {
            let mut rows = ObsRows::new(encoding);
            rows.push(&row);
            rows.push(&row);
            rows.set(0, &other);
            assert!(rows.holds(2, 13));
            let mut out = Vec::<f32>::new();
            rows.extend_row(0, 13, &mut out);
            rows.extend_row(1, 13, &mut out);
            assert_eq!(out, [other.clone(), row.clone()].concat(), "{encoding:?}");
        }
        for encoding in [Encoding::F32, Encoding::Bytes] {
            let mut rows = ObsRows::new(encoding);
            rows.push(&bytes);
            let mut out = Vec::<f32>::new();
            rows.extend_row(0, 13, &mut out);
            assert_eq!(out, bytes, "{encoding:?} keeps every u8 level");
        }
        let mut bits = ObsRows::new(Encoding::Bits);
        bits.push(&row);
        assert_eq!(bits.units(), 2, "13 values take 2 bytes");
    }

    #[test]
    fn row_eq_compares_what_storing_would_keep() {
        let row: Vec<f32> = (0..13).map(|j| f32::from(u8::from(j % 3 == 0))).collect();
        let mut flipped = row.clone();
        flipped[12] = 1.0 - flipped[12];
        for encoding in [Encoding::F32, Encoding::Bytes, Encoding::Bits] {
            let mut rows = ObsRows::new(encoding);
            rows.push(&flipped);
            rows.push(&row);
            assert!(rows.row_eq(1, &row), "{encoding:?}");
            assert!(
                !rows.row_eq(0, &row),
                "{encoding:?}: the last value differs"
            );
        }
        // Floats compare bit for bit: -0.0 is not stored as 0.0, and NaN matches itself.
        let mut floats = ObsRows::new(Encoding::F32);
        floats.push(&[0.0, f32::NAN]);
        assert!(floats.row_eq(0, &[0.0, f32::NAN]));
        assert!(!floats.row_eq(0, &[-0.0, f32::NAN]));
        // Bytes and bits compare encodings: values that store alike are alike.
        let mut bytes = ObsRows::new(Encoding::Bytes);
        bytes.push(&[0.5]);
        assert!(bytes.row_eq(0, &[ElementType::flat_from_byte(128)]));
        let mut bits = ObsRows::new(Encoding::Bits);
        bits.push(&[1.0, 0.0]);
        assert!(bits.row_eq(0, &[2.0, 0.0]));
    }

    #[test]
    fn images_are_stored_compactly() {
        let bool_image = Space::Image {
            shape: [10, 10, 10],
            dtype: ElementType::Bool,
        };
        assert_eq!(Encoding::of(&bool_image), Encoding::Bits);
        let frame = Space::Image {
            shape: [84, 84, 4],
            dtype: ElementType::U8,
        };
        assert_eq!(Encoding::of(&frame), Encoding::Bytes);
        assert_eq!(Encoding::of(&Space::Discrete { n: 3 }), Encoding::F32);
    }
}
