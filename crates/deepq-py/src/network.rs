//! `Network`: a Q-network ([`QNetwork`]) as a Python object: greedy actions and Q-values for
//! batches of flat float32 observations, and safetensors bytes in and out.

use deepq::QNetwork;
use deepq::config::Dtype;
use deepq::envs::{ElementType, Space};
use deepq::network::q_network;
use deepq::nn::{Mlp, Scalar, Workspace};
use deepq::rng::{Stream, stream_rng};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::config::Config;
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
    /// The network `config` starts training from (its architecture, precision and seed) for
    /// observations of `n_inputs` values, or images of `image = (height, width, channels)`,
    /// and `n_actions` actions. A config that does not fit the observations (an image without
    /// `cnn` layers, `cnn` on flat ones) raises ValueError naming the fix.
    #[staticmethod]
    #[pyo3(signature = (config, n_inputs, n_actions, image=None))]
    fn init(
        config: &Config,
        n_inputs: usize,
        n_actions: usize,
        image: Option<[usize; 3]>,
    ) -> Result<Self> {
        if n_inputs == 0 || n_actions == 0 {
            return Err(Error::usage(format!(
                "a network needs inputs and actions; got {n_inputs} inputs and {n_actions} actions"
            )));
        }
        let space = match image {
            Some(shape) => Space::Image {
                shape,
                dtype: ElementType::F32,
            },
            None => Space::Box {
                low: vec![f32::NEG_INFINITY; n_inputs],
                high: vec![f32::INFINITY; n_inputs],
                shape: vec![n_inputs],
            },
        };
        let cfg = &config.inner;
        let mut rng = stream_rng(cfg.run.seed, Stream::Init);
        let net = match cfg.network.dtype {
            Dtype::F32 => QNetwork::F32(q_network(cfg, &space, n_actions, &mut rng)?),
            Dtype::F64 => QNetwork::F64(q_network(cfg, &space, n_actions, &mut rng)?),
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

    /// Widths of the linear layers, inputs first (for a convolutional network the first is
    /// the flattened conv output, not the observation: see `n_inputs`).
    #[getter]
    fn sizes(&self) -> Vec<usize> {
        self.net.sizes().to_vec()
    }

    /// Width of the flat observation the network reads.
    #[getter(n_inputs)]
    fn py_n_inputs(&self) -> usize {
        self.n_inputs()
    }

    /// Number of actions.
    #[getter(n_outputs)]
    fn py_n_outputs(&self) -> usize {
        self.n_outputs()
    }

    /// `(height, width, channels)` of the images a convolutional network reads; None for
    /// an MLP.
    #[getter]
    fn input_shape(&self) -> Option<(usize, usize, usize)> {
        let shape = match &self.net {
            QNetwork::F32(m) => m.input_shape(),
            QNetwork::F64(m) => m.input_shape(),
        }?;
        Some((shape.height, shape.width, shape.channels))
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
