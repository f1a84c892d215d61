//! Observations on their way to NumPy: [`Encoding`] says which dtype and shape Gymnasium
//! gives an env's observations, [`ObsRows`] collects the observations of several copies in
//! that dtype and hands them to NumPy without a copy.

use deepq::envs::{ElementType, Space};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{Element, PyArrayDyn};
use pyo3::prelude::*;

use crate::errors::{Error, Result};

/// How observations are stored: the dtype and per-copy shape Gymnasium gives them.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Encoding {
    /// A float32 box of this shape.
    Box(Vec<usize>),
    /// An int64 index (shape `()`).
    Discrete,
    /// A bool image (height, width, channels).
    BoolImage([usize; 3]),
}

impl Encoding {
    /// The encoding of observations from `space`.
    pub(super) fn of(space: &Space) -> Result<Self> {
        match space {
            Space::Box { shape, .. } => Ok(Encoding::Box(shape.clone())),
            Space::Discrete { .. } => Ok(Encoding::Discrete),
            Space::Image {
                shape,
                dtype: ElementType::Bool,
            } => Ok(Encoding::BoolImage(*shape)),
            Space::Image { dtype, .. } => Err(Error::usage(format!(
                "{} images are not supported as native observations",
                dtype.name()
            ))),
        }
    }

    /// The shape of one observation.
    pub(super) fn shape(&self) -> Vec<usize> {
        match self {
            Encoding::Box(shape) => shape.clone(),
            Encoding::Discrete => Vec::new(),
            Encoding::BoolImage(shape) => shape.to_vec(),
        }
    }

    /// Empty storage for `rows` observations.
    pub(super) fn rows(&self, rows: usize) -> ObsRows {
        let width: usize = self.shape().iter().product();
        match self {
            Encoding::Box(_) => ObsRows::F32(Vec::with_capacity(rows * width)),
            Encoding::Discrete => ObsRows::I64(Vec::with_capacity(rows)),
            Encoding::BoolImage(_) => ObsRows::Bool(Vec::with_capacity(rows * width)),
        }
    }
}

/// Observations of several copies, one after the other, in their NumPy dtype.
pub(super) enum ObsRows {
    F32(Vec<f32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl ObsRows {
    /// Appends one observation given in deepq's flat encoding (a one-hot row for a discrete
    /// observation, 0/1 values for a bool image).
    pub(super) fn push(&mut self, flat: &[f32]) {
        match self {
            ObsRows::F32(v) => v.extend_from_slice(flat),
            ObsRows::I64(v) => {
                let index = flat.iter().position(|&x| x == 1.0);
                v.push(index.expect("a discrete observation is one-hot") as i64);
            }
            ObsRows::Bool(v) => v.extend(flat.iter().map(|&x| x != 0.0)),
        }
    }

    /// Empty storage of the same dtype and capacity.
    pub(super) fn empty_like(&self) -> ObsRows {
        match self {
            ObsRows::F32(v) => ObsRows::F32(Vec::with_capacity(v.capacity())),
            ObsRows::I64(v) => ObsRows::I64(Vec::with_capacity(v.capacity())),
            ObsRows::Bool(v) => ObsRows::Bool(Vec::with_capacity(v.capacity())),
        }
    }

    /// Appends a placeholder observation (all zeros) for a copy that has none to report.
    pub(super) fn push_zeros(&mut self, width: usize) {
        match self {
            ObsRows::F32(v) => v.resize(v.len() + width, 0.0),
            ObsRows::I64(v) => v.push(0),
            ObsRows::Bool(v) => v.resize(v.len() + width, false),
        }
    }

    /// The observations as one NumPy array of shape `(rows, *shape)`.
    pub(super) fn into_array<'py>(
        self,
        py: Python<'py>,
        rows: usize,
        shape: &[usize],
    ) -> Bound<'py, PyAny> {
        let mut dims = vec![rows];
        dims.extend_from_slice(shape);
        match self {
            ObsRows::F32(v) => array(py, &dims, v),
            ObsRows::I64(v) => array(py, &dims, v),
            ObsRows::Bool(v) => array(py, &dims, v),
        }
    }
}

/// Hands `values` to NumPy as an array of shape `dims`, without copying them.
pub(super) fn array<'py, T: Element>(
    py: Python<'py>,
    dims: &[usize],
    values: Vec<T>,
) -> Bound<'py, PyAny> {
    let array = ArrayD::from_shape_vec(IxDyn(dims), values)
        .expect("the values fill the shape they were written for");
    PyArrayDyn::from_owned_array(py, array).into_any()
}
