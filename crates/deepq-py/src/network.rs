//! `Network`: a Q-network ([`QNetwork`]) as a Python object: greedy actions and Q-values for
//! batches of flat float32 observations, and safetensors bytes in and out.

use deepq::QNetwork;
use deepq::config::Dtype;
use deepq::nn::{Mlp, Scalar, Workspace};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rand::SeedableRng;

use crate::errors::{Error, Result};

/// A trained (or freshly initialised) Q-network.
#[pyclass(name = "Network", module = "deepq._native")]
pub struct Network {
    /// The network.
    pub net: QNetwork,
    scratch32: Option<Workspace<f32>>,
    scratch64: Option<Workspace<f64>>,
}

impl Network {
    /// Wraps a network.
    pub fn new(net: QNetwork) -> Self {
        Network {
            net,
            scratch32: None,
            scratch64: None,
        }
    }

    /// Number of inputs (the flat observation width).
    pub fn n_inputs(&self) -> usize {
        self.net.n_inputs()
    }

    /// Number of outputs (actions).
    pub fn n_outputs(&self) -> usize {
        self.net.n_outputs()
    }

    /// Checks that the network fits an environment with `inputs` flat observation values
    /// and `outputs` actions; the error reads like the CLI's.
    pub fn check_fits(&self, env: &str, inputs: usize, outputs: usize) -> Result<()> {
        if self.n_inputs() == inputs && self.n_outputs() == outputs {
            return Ok(());
        }
        Err(Error::usage(format!(
            "the model has layer sizes {:?}, but {env} needs {inputs} inputs and {outputs} outputs",
            self.net.sizes()
        )))
    }

    /// Reads `obs` (a buffer of float32, e.g. a C-contiguous NumPy array) as rows of
    /// `n_inputs` values.
    fn rows(&self, py: Python<'_>, obs: &Bound<'_, PyAny>) -> Result<Vec<f32>> {
        let buffer = PyBuffer::<f32>::get(obs).map_err(|_| {
            Error::usage("observations must be a float32 array (numpy.float32) of flat rows")
        })?;
        let values = buffer.to_vec(py)?;
        let width = self.n_inputs();
        if values.is_empty() || !values.len().is_multiple_of(width) {
            return Err(Error::usage(format!(
                "expected rows of {width} observation values, got {} values",
                values.len()
            )));
        }
        Ok(values)
    }
}

/// Runs `f` on each row with the network in its own precision.
fn each_row<T: Scalar, R>(
    mlp: &Mlp<T>,
    scratch: &mut Option<Workspace<T>>,
    rows: &[f32],
    mut f: impl FnMut(&Mlp<T>, &[T], &mut Workspace<T>) -> R,
) -> Vec<R> {
    let ws = scratch.get_or_insert_with(|| Workspace::new(mlp, 1));
    let mut input = Vec::with_capacity(mlp.n_inputs());
    rows.chunks_exact(mlp.n_inputs())
        .map(|row| {
            input.clear();
            input.extend(row.iter().map(|&x| T::from_f64(f64::from(x))));
            f(mlp, &input, ws)
        })
        .collect()
}

/// Q-values of one row.
fn q_row<T: Scalar>(mlp: &Mlp<T>, obs: &[T], ws: &mut Workspace<T>) -> Vec<f64> {
    let mut out = vec![T::ZERO; mlp.n_outputs()];
    mlp.predict_one(obs, ws, &mut out);
    out.into_iter().map(Scalar::to_f64).collect()
}

#[pymethods]
impl Network {
    /// A freshly initialised network with layer sizes `sizes` (inputs first) in the config's
    /// precision (`"f32"` or `"f64"`), seeded with `seed`.
    #[staticmethod]
    fn init(sizes: Vec<usize>, dtype: &str, seed: u64) -> Result<Self> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(Error::usage(format!(
                "invalid layer sizes {sizes:?}: need at least inputs and outputs, each > 0"
            )));
        }
        let dtype: Dtype = toml::Value::String(dtype.to_owned())
            .try_into()
            .map_err(|_| {
                Error::usage(format!(
                    "invalid dtype '{dtype}': expected \"f32\" or \"f64\""
                ))
            })?;
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let net = match dtype {
            Dtype::F32 => QNetwork::F32(Mlp::new(&sizes, &mut rng)),
            Dtype::F64 => QNetwork::F64(Mlp::new(&sizes, &mut rng)),
        };
        Ok(Network::new(net))
    }

    /// A network read from safetensors bytes (deepq's `model.safetensors`, or PyTorch's
    /// `nn.Sequential` of Linear and ReLU layers).
    #[staticmethod]
    fn from_safetensors(data: &[u8]) -> Result<Self> {
        QNetwork::from_safetensors(data)
            .map(Network::new)
            .map_err(|e| Error::runtime(format!("cannot load model: {e}")))
    }

    /// The network as safetensors bytes, as `deepq train` writes `model.safetensors`.
    fn to_safetensors<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.net.to_safetensors())
    }

    /// Layer sizes, inputs first.
    #[getter]
    fn sizes(&self) -> Vec<usize> {
        self.net.sizes().to_vec()
    }

    /// The floating-point type, `"f32"` or `"f64"`.
    #[getter]
    fn dtype(&self) -> &'static str {
        match self.net {
            QNetwork::F32(_) => "f32",
            QNetwork::F64(_) => "f64",
        }
    }

    /// Greedy actions (the first largest Q-value) for float32 observations, one row of
    /// `sizes[0]` values each.
    fn predict(&mut self, py: Python<'_>, obs: &Bound<'_, PyAny>) -> Result<Vec<usize>> {
        let rows = self.rows(py, obs)?;
        Ok(match &self.net {
            QNetwork::F32(m) => each_row(m, &mut self.scratch32, &rows, |m, x, ws| {
                m.argmax_action(x, ws)
            }),
            QNetwork::F64(m) => each_row(m, &mut self.scratch64, &rows, |m, x, ws| {
                m.argmax_action(x, ws)
            }),
        })
    }

    /// Q-values for float32 observations: one list of `sizes[-1]` values per row.
    fn q_values(&mut self, py: Python<'_>, obs: &Bound<'_, PyAny>) -> Result<Vec<Vec<f64>>> {
        let rows = self.rows(py, obs)?;
        Ok(match &self.net {
            QNetwork::F32(m) => each_row(m, &mut self.scratch32, &rows, q_row),
            QNetwork::F64(m) => each_row(m, &mut self.scratch64, &rows, q_row),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Network(sizes={:?}, dtype={:?})",
            self.net.sizes(),
            self.dtype()
        )
    }
}
