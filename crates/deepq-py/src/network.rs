//! `Network`: a Q-network ([`QNetwork`]) or an implicit quantile network
//! ([`ImplicitNetwork`]) as a Python object: greedy actions and Q-values for batches of flat
//! float32 observations, and safetensors bytes in and out.

use deepq::config::{Algorithm, Dtype};
use deepq::envs::{ElementType, Space};
use deepq::model::{ImplicitNetwork, Policy};
use deepq::network::{fits, iqn_fits, iqn_network, q_network};
use deepq::nn::{Mlp, Scalar, Workspace};
use deepq::rng::{Stream, stream_rng};
use deepq::{Model, QNetwork};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::config::Config;
use crate::errors::{Error, Result};

/// The models the Python package holds: every trained model but a Q-table.
// One per Python object: its size on the stack does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Net {
    /// DQN's, QR-DQN's or PQN's network.
    Q(QNetwork),
    /// IQN's network.
    Implicit(ImplicitNetwork),
}

impl Net {
    /// The model as a network; a Q-table's error says where tables are used.
    pub fn from_model(model: Model, what: impl FnOnce() -> String) -> Result<Self> {
        match model {
            Model::Network(net) => Ok(Net::Q(net)),
            Model::Implicit(net) => Ok(Net::Implicit(net)),
            Model::Table(_) => Err(Error::usage(format!(
                "{} is a tabular Q-table, and the Python package holds networks only \
                 (use deepq eval and deepq play)",
                what()
            ))),
        }
    }

    /// The network as `model.safetensors` holds it.
    pub fn to_safetensors(&self) -> Vec<u8> {
        match self {
            Net::Q(net) => net.to_safetensors(),
            Net::Implicit(net) => net.to_safetensors(),
        }
    }

    /// Its tensors' PyTorch names in `state_dict` order.
    pub fn state_dict_names(&self) -> Vec<String> {
        match self {
            Net::Q(net) => net.state_dict_names(),
            Net::Implicit(net) => net.state_dict_names(),
        }
    }

    /// The network as the library's model.
    pub fn to_model(&self) -> Model {
        match self {
            Net::Q(net) => Model::Network(net.clone()),
            Net::Implicit(net) => Model::Implicit(net.clone()),
        }
    }

    /// Its greedy policy over flat observations.
    pub fn greedy_policy(&self) -> Policy<'_> {
        match self {
            Net::Q(net) => Box::new(net.greedy_policy()),
            Net::Implicit(net) => net.greedy_policy(),
        }
    }

    fn sizes(&self) -> Vec<usize> {
        match self {
            Net::Q(net) => net.sizes().to_vec(),
            Net::Implicit(net) => net.sizes(),
        }
    }
}

/// A trained (or freshly initialised) network.
#[pyclass(name = "Network", module = "deepq._native")]
pub struct Network {
    /// The network.
    pub net: Net,
    scratch32: Option<Workspace<f32>>,
    scratch64: Option<Workspace<f64>>,
}

impl Network {
    /// Wraps a network.
    pub fn new(net: Net) -> Self {
        Network {
            net,
            scratch32: None,
            scratch64: None,
        }
    }

    /// Number of inputs (the flat observation width).
    pub fn n_inputs(&self) -> usize {
        match &self.net {
            Net::Q(net) => net.n_inputs(),
            Net::Implicit(net) => net.shape().0,
        }
    }

    /// Number of outputs (actions).
    pub fn n_outputs(&self) -> usize {
        match &self.net {
            Net::Q(net) => net.n_outputs(),
            Net::Implicit(net) => net.shape().1,
        }
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

/// The observation space of a network reading `n_inputs` values, or images of `image`
/// (height, width, channels).
fn input_space(n_inputs: usize, image: Option<[usize; 3]>) -> Space {
    match image {
        Some(shape) => Space::Image {
            shape,
            dtype: ElementType::F32,
        },
        None => Space::Box {
            low: vec![f32::NEG_INFINITY; n_inputs],
            high: vec![f32::INFINITY; n_inputs],
            shape: vec![n_inputs],
        },
    }
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
        let space = input_space(n_inputs, image);
        let cfg = &config.inner;
        let mut rng = stream_rng(cfg.run.seed, Stream::Init);
        let net = match (cfg.algorithm, cfg.network.dtype) {
            (Algorithm::Iqn, Dtype::F32) => Net::Implicit(ImplicitNetwork::F32(iqn_network(
                cfg, &space, n_actions, &mut rng,
            )?)),
            (Algorithm::Iqn, Dtype::F64) => Net::Implicit(ImplicitNetwork::F64(iqn_network(
                cfg, &space, n_actions, &mut rng,
            )?)),
            (_, Dtype::F32) => Net::Q(QNetwork::F32(q_network(cfg, &space, n_actions, &mut rng)?)),
            (_, Dtype::F64) => Net::Q(QNetwork::F64(q_network(cfg, &space, n_actions, &mut rng)?)),
        };
        Ok(Network::new(net))
    }

    /// Whether `config` asks for this network: its algorithm's network, architecture, heads,
    /// conv layers and precision.
    fn fits(&self, config: &Config) -> bool {
        let cfg = &config.inner;
        let image = self.input_shape().map(|(h, w, c)| [h, w, c]);
        let space = input_space(self.n_inputs(), image);
        let n_actions = self.n_outputs();
        let iqn = cfg.algorithm == Algorithm::Iqn;
        match (&self.net, cfg.network.dtype) {
            (Net::Q(QNetwork::F32(m)), Dtype::F32) => !iqn && fits(m, cfg, &space, n_actions),
            (Net::Q(QNetwork::F64(m)), Dtype::F64) => !iqn && fits(m, cfg, &space, n_actions),
            (Net::Implicit(ImplicitNetwork::F32(m)), Dtype::F32) => {
                iqn && iqn_fits(m, cfg, &space, n_actions)
            }
            (Net::Implicit(ImplicitNetwork::F64(m)), Dtype::F64) => {
                iqn && iqn_fits(m, cfg, &space, n_actions)
            }
            _ => false,
        }
    }

    /// A network read from safetensors bytes (deepq's `model.safetensors`, or PyTorch's
    /// `nn.Sequential` of Linear and ReLU layers).
    #[staticmethod]
    fn from_safetensors(data: &[u8]) -> Result<Self> {
        let model = Model::from_safetensors(data)
            .map_err(|e| Error::runtime(format!("cannot load model: {e}")))?;
        Net::from_model(model, || "the model".to_string()).map(Network::new)
    }

    /// The network as safetensors bytes, as `deepq train` writes `model.safetensors`.
    fn to_safetensors<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.net.to_safetensors())
    }

    /// The tensors' PyTorch names in `state_dict` order (the safetensors bytes list them
    /// sorted by name).
    fn state_dict_names(&self) -> Vec<String> {
        self.net.state_dict_names()
    }

    /// Widths of the linear layers, inputs first (for a convolutional network the first is
    /// the flattened conv output, not the observation: see `n_inputs`).
    #[getter]
    fn sizes(&self) -> Vec<usize> {
        self.net.sizes()
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
            Net::Q(QNetwork::F32(m)) => m.input_shape(),
            Net::Q(QNetwork::F64(m)) => m.input_shape(),
            Net::Implicit(net) => net.input_shape(),
        }?;
        Some((shape.height, shape.width, shape.channels))
    }

    /// The floating-point type, `"f32"` or `"f64"`.
    #[getter]
    fn dtype(&self) -> &'static str {
        match self.net {
            Net::Q(QNetwork::F32(_)) | Net::Implicit(ImplicitNetwork::F32(_)) => "f32",
            Net::Q(QNetwork::F64(_)) | Net::Implicit(ImplicitNetwork::F64(_)) => "f64",
        }
    }

    /// Greedy actions (the first largest Q-value) for float32 observations, one row of
    /// `n_inputs` values each.
    fn predict(&mut self, py: Python<'_>, obs: &Bound<'_, PyAny>) -> Result<Vec<usize>> {
        let rows = self.rows(py, obs)?;
        let width = self.n_inputs();
        Ok(match &self.net {
            Net::Q(QNetwork::F32(m)) => each_row(m, &mut self.scratch32, &rows, |m, x, ws| {
                m.argmax_action(x, ws)
            }),
            Net::Q(QNetwork::F64(m)) => each_row(m, &mut self.scratch64, &rows, |m, x, ws| {
                m.argmax_action(x, ws)
            }),
            Net::Implicit(net) => {
                let mut greedy = net.greedy_policy();
                rows.chunks_exact(width).map(&mut greedy).collect()
            }
        })
    }

    /// Q-values for float32 observations: one list of `n_outputs` values per row (for IQN,
    /// each action's mean quantile over its greedy fractions).
    fn q_values(&mut self, py: Python<'_>, obs: &Bound<'_, PyAny>) -> Result<Vec<Vec<f64>>> {
        let rows = self.rows(py, obs)?;
        Ok(match &self.net {
            Net::Q(QNetwork::F32(m)) => each_row(m, &mut self.scratch32, &rows, q_row),
            Net::Q(QNetwork::F64(m)) => each_row(m, &mut self.scratch64, &rows, q_row),
            Net::Implicit(net) => net.q_values(&rows),
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
