//! Observations as replay stores them: rows of one flat observation each, kept in the
//! observation's own element type rather than as `f32`. MinAtar's boolean channels take one
//! bit per value (a 10×10×10 Seaquest frame is 125 bytes instead of 4,000), `u8` images one
//! byte (their flat values are `byte / 255`), everything else `f32`.
//!
//! The replay buffer keeps all its observations in one [`ObsRows`], a pool of frames that
//! transitions refer to by row. It encodes a frame to store into a one-row [`ObsRows`] first,
//! asks [`ObsRows::row_eq`] whether a frame of the pool already holds it, and otherwise
//! copies it over a freed row ([`ObsRows::set_row`]) or appends it. Each encoding is exact
//! for the values it stores, so equal encodings mean equal values for the network.

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

impl Default for ObsRows {
    /// No `f32` rows (allocating nothing).
    fn default() -> Self {
        ObsRows::F32(Vec::new())
    }
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

    /// Empties the rows, keeping their allocation (a scratch row is reused this way).
    pub fn clear(&mut self) {
        match self {
            ObsRows::F32(v) => v.clear(),
            ObsRows::Bytes(v) | ObsRows::Bits(v) => v.clear(),
        }
    }

    /// Appends one row of `values`, encoded.
    pub fn push_values(&mut self, values: impl Iterator<Item = f32>) {
        match self {
            ObsRows::F32(v) => v.extend(values),
            ObsRows::Bytes(v) => v.extend(values.map(ElementType::byte_from_flat)),
            ObsRows::Bits(v) => push_packed_bits(values, v),
        }
    }

    /// Appends one row.
    pub fn push(&mut self, row: &[f32]) {
        self.push_values(row.iter().copied());
    }

    /// Appends the `planes` rows that observation `obs` splits into, row `c` holding its
    /// values `c`, `c + planes`, `c + 2·planes`, … (the channels of a (height, width,
    /// channels) image). Bytes are written in one pass over the observation.
    pub fn push_planes(&mut self, obs: &[f32], planes: usize) {
        match self {
            ObsRows::Bytes(v) if planes == 4 => {
                // Encoded in order first, after the rows, then dealt out to them.
                let start = v.len();
                v.resize(start + 2 * obs.len(), 0);
                let (rows, encoded) = v[start..].split_at_mut(obs.len());
                encode_bytes(obs, encoded);
                deal_four(encoded, rows);
                v.truncate(start + obs.len());
            }
            _ => {
                for c in 0..planes {
                    self.push_values(obs[c..].iter().step_by(planes).copied());
                }
            }
        }
    }

    /// Appends row `j` of `src` (rows of `dim` values, in this encoding).
    pub fn push_row(&mut self, src: &ObsRows, j: usize, dim: usize) {
        let range = src.row_range(j, dim);
        match (self, src) {
            (ObsRows::F32(v), ObsRows::F32(w)) => v.extend_from_slice(&w[range]),
            (ObsRows::Bytes(v), ObsRows::Bytes(w)) | (ObsRows::Bits(v), ObsRows::Bits(w)) => {
                v.extend_from_slice(&w[range])
            }
            _ => unreachable!("rows of one pool share its encoding"),
        }
    }

    /// Overwrites row `i` with row `j` of `src` (see [`ObsRows::push_row`]).
    pub fn set_row(&mut self, i: usize, src: &ObsRows, j: usize, dim: usize) {
        let (to, from) = (self.row_range(i, dim), src.row_range(j, dim));
        match (self, src) {
            (ObsRows::F32(v), ObsRows::F32(w)) => v[to].copy_from_slice(&w[from]),
            (ObsRows::Bytes(v), ObsRows::Bytes(w)) | (ObsRows::Bits(v), ObsRows::Bits(w)) => {
                v[to].copy_from_slice(&w[from])
            }
            _ => unreachable!("rows of one pool share its encoding"),
        }
    }

    /// Whether row `i` holds what row `j` of `src` holds (see [`ObsRows::push_row`]): the same
    /// floats bit for bit, the same bytes, or the same bits. Encoding the candidate once and
    /// comparing stored units makes each comparison a plain slice comparison.
    pub fn row_eq(&self, i: usize, src: &ObsRows, j: usize, dim: usize) -> bool {
        let (mine, theirs) = (self.row_range(i, dim), src.row_range(j, dim));
        match (self, src) {
            (ObsRows::F32(v), ObsRows::F32(w)) => v[mine]
                .iter()
                .zip(&w[theirs])
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            (ObsRows::Bytes(v), ObsRows::Bytes(w)) | (ObsRows::Bits(v), ObsRows::Bits(w)) => {
                v[mine] == w[theirs]
            }
            _ => unreachable!("rows of one pool share its encoding"),
        }
    }

    /// Writes row `i` (of `dim` values), converted to the network's scalar type, to every
    /// `stride`-th element of `out` from the first: a frame of a stacked image goes to its
    /// channel of the interleaved (height, width, channels) observation.
    pub fn write_row<T: Scalar>(&self, i: usize, dim: usize, out: &mut [T], stride: usize) {
        let range = self.row_range(i, dim);
        let out = out.iter_mut().step_by(stride);
        match self {
            ObsRows::F32(v) => {
                for (o, &x) in out.zip(&v[range]) {
                    *o = T::from_f64(f64::from(x));
                }
            }
            ObsRows::Bytes(v) => {
                // A frame has thousands of pixels and a byte only 256 values.
                let values: [T; 256] = std::array::from_fn(|b| {
                    T::from_f64(f64::from(ElementType::flat_from_byte(b as u8)))
                });
                for (o, &b) in out.zip(&v[range]) {
                    *o = values[usize::from(b)];
                }
            }
            ObsRows::Bits(v) => {
                let bytes = &v[range];
                for (j, o) in out.take(dim).enumerate() {
                    *o = if bytes[j / 8] >> (j % 8) & 1 == 1 {
                        T::ONE
                    } else {
                        T::ZERO
                    };
                }
            }
        }
    }

    /// Appends row `i` (of `dim` values) to `out`, converted to the network's scalar type.
    pub fn extend_row<T: Scalar>(&self, i: usize, dim: usize, out: &mut Vec<T>) {
        let start = out.len();
        out.resize(start + dim, T::ZERO);
        self.write_row(i, dim, &mut out[start..], 1);
    }

    /// Bytes allocated.
    pub fn allocated_bytes(&self) -> usize {
        match self {
            ObsRows::F32(v) => v.capacity() * 4,
            ObsRows::Bytes(v) | ObsRows::Bits(v) => v.capacity(),
        }
    }
}

/// Encodes `values` as bytes ([`ElementType::byte_from_flat`]) into `out`; with AVX2 where the
/// CPU has it (the same arithmetic, eight values at a time, so the same bytes). Replay encodes
/// every pixel of every Atari frame it stores here.
fn encode_bytes(values: &[f32], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { encode_bytes_avx2(values, out) };
        return;
    }
    encode_bytes_in(values, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn encode_bytes_avx2(values: &[f32], out: &mut [u8]) {
    encode_bytes_in(values, out);
}

#[inline(always)]
fn encode_bytes_in(values: &[f32], out: &mut [u8]) {
    for (byte, &x) in out.iter_mut().zip(values) {
        *byte = ElementType::byte_from_flat(x);
    }
}

/// Deals the bytes of a stack of four frames, pixel by pixel, out to four rows, one frame
/// after the other.
fn deal_four(pixels: &[u8], rows: &mut [u8]) {
    let dim = pixels.len() / 4;
    let (r0, rest) = rows.split_at_mut(dim);
    let (r1, rest) = rest.split_at_mut(dim);
    let (r2, r3) = rest.split_at_mut(dim);
    let rows = r0.iter_mut().zip(r1).zip(r2.iter_mut().zip(r3));
    for (((b0, b1), (b2, b3)), pixel) in rows.zip(pixels.chunks_exact(4)) {
        [*b0, *b1, *b2, *b3] = [pixel[0], pixel[1], pixel[2], pixel[3]];
    }
}

/// Appends 0/1 values packed into bits to `out`, value `j` into bit `j % 8` of byte `j / 8`.
fn push_packed_bits(values: impl Iterator<Item = f32>, out: &mut Vec<u8>) {
    let (mut byte, mut filled) = (0u8, 0);
    for x in values {
        if x != 0.0 {
            byte |= 1 << filled;
        }
        filled += 1;
        if filled == 8 {
            out.push(byte);
            (byte, filled) = (0, 0);
        }
    }
    if filled > 0 {
        out.push(byte);
    }
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
            let mut one = ObsRows::new(encoding);
            one.push(&other);
            rows.set_row(0, &one, 0, 13);
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
            assert!(
                rows.row_eq(1, &encoded(encoding, &row), 0, 13),
                "{encoding:?}"
            );
            assert!(
                !rows.row_eq(0, &encoded(encoding, &row), 0, 13),
                "{encoding:?}: the last value differs"
            );
        }
        // Floats compare bit for bit: -0.0 is not stored as 0.0, and NaN matches itself.
        let mut floats = ObsRows::new(Encoding::F32);
        floats.push(&[0.0, f32::NAN]);
        assert!(floats.row_eq(0, &encoded(Encoding::F32, &[0.0, f32::NAN]), 0, 2));
        assert!(!floats.row_eq(0, &encoded(Encoding::F32, &[-0.0, f32::NAN]), 0, 2));
        // Bytes and bits compare encodings: values that store alike are alike.
        let mut bytes = ObsRows::new(Encoding::Bytes);
        bytes.push(&[0.5]);
        let byte_128 = [ElementType::flat_from_byte(128)];
        assert!(bytes.row_eq(0, &encoded(Encoding::Bytes, &byte_128), 0, 1));
        let mut bits = ObsRows::new(Encoding::Bits);
        bits.push(&[1.0, 0.0]);
        assert!(bits.row_eq(0, &encoded(Encoding::Bits, &[2.0, 0.0]), 0, 2));
    }

    /// `row` encoded as the one row of an [`ObsRows`].
    fn encoded(encoding: Encoding, row: &[f32]) -> ObsRows {
        let mut one = ObsRows::new(encoding);
        one.push(row);
        one
    }

    #[test]
    fn an_observation_splits_into_its_channels() {
        // A 3-pixel image of 4 channels: value 4p + c is pixel p's channel c.
        let obs: Vec<f32> = (0..12u8)
            .map(|v| ElementType::flat_from_byte(v * 7))
            .collect();
        for encoding in [Encoding::F32, Encoding::Bytes, Encoding::Bits] {
            let mut rows = ObsRows::new(encoding);
            rows.push_planes(&obs, 4);
            assert!(rows.holds(4, 3));
            for c in 0..4 {
                let channel: Vec<f32> = obs[c..].iter().step_by(4).copied().collect();
                assert!(
                    rows.row_eq(c, &encoded(encoding, &channel), 0, 3),
                    "{encoding:?} {c}"
                );
            }
        }
    }

    #[test]
    fn a_row_writes_to_every_stride_th_value() {
        let row: Vec<f32> = (0..9).map(|j| f32::from(u8::from(j % 2 == 0))).collect();
        for encoding in [Encoding::F32, Encoding::Bytes, Encoding::Bits] {
            let rows = encoded(encoding, &row);
            let mut out = [-1.0f32; 27];
            rows.write_row(0, 9, &mut out[2..], 3);
            for (j, &x) in out.iter().enumerate() {
                let want = if j % 3 == 2 { row[j / 3] } else { -1.0 };
                assert_eq!(x, want, "{encoding:?}, value {j}");
            }
        }
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
