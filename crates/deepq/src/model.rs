//! What training produces: a Q-network ([`QNetwork`], in the precision it was trained in) or a
//! Q-table, behind one [`Model`] type that saves to and loads from `model.safetensors`.

use deepq_nn::{
    ImageShape, ImplicitQuantileNet, IqnWorkspace, Mlp, NnError, Scalar, iqn_from_safetensors,
    iqn_state_dict_names, iqn_to_safetensors, is_iqn_file,
};

use crate::tabular::QTable;

/// A trained Q-network in the precision it was trained in.
#[derive(Clone, Debug)]
pub enum QNetwork {
    /// A float32 network.
    F32(Mlp<f32>),
    /// A float64 network.
    F64(Mlp<f64>),
}

impl QNetwork {
    /// Its tensors' PyTorch names in `state_dict` order.
    pub fn state_dict_names(&self) -> Vec<String> {
        match self {
            QNetwork::F32(m) => deepq_nn::state_dict_names(m),
            QNetwork::F64(m) => deepq_nn::state_dict_names(m),
        }
    }

    /// The network as safetensors bytes (`0.weight`, `0.bias`, `2.weight`, ...).
    pub fn to_safetensors(&self) -> Vec<u8> {
        match self {
            QNetwork::F32(m) => deepq_nn::to_safetensors(m),
            QNetwork::F64(m) => deepq_nn::to_safetensors(m),
        }
    }

    /// Reads a network saved by [`QNetwork::to_safetensors`] (or by PyTorch), in either precision.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, NnError> {
        deepq_nn::from_safetensors::<f32>(bytes)
            .map(QNetwork::F32)
            .or_else(|e32| {
                deepq_nn::from_safetensors::<f64>(bytes)
                    .map(QNetwork::F64)
                    .map_err(|_| e32)
            })
    }

    /// Width of the flat observation it takes (an image's `height · width · channels`).
    pub fn n_inputs(&self) -> usize {
        match self {
            QNetwork::F32(m) => m.n_inputs(),
            QNetwork::F64(m) => m.n_inputs(),
        }
    }

    /// Number of actions it values.
    pub fn n_outputs(&self) -> usize {
        match self {
            QNetwork::F32(m) => m.n_outputs(),
            QNetwork::F64(m) => m.n_outputs(),
        }
    }

    /// Layer sizes of the MLP part, its input first (after the conv torso's flatten, if any).
    pub fn sizes(&self) -> &[usize] {
        match self {
            QNetwork::F32(m) => m.sizes(),
            QNetwork::F64(m) => m.sizes(),
        }
    }

    /// A greedy policy over flat observations.
    pub fn greedy_policy(&self) -> impl FnMut(&[f32]) -> usize + '_ {
        let mut scratch32 = (Vec::new(), None);
        let mut scratch64 = (Vec::new(), None);
        move |obs| match self {
            QNetwork::F32(m) => greedy(m, obs, &mut scratch32),
            QNetwork::F64(m) => greedy(m, obs, &mut scratch64),
        }
    }
}

impl From<Mlp<f32>> for QNetwork {
    fn from(net: Mlp<f32>) -> Self {
        QNetwork::F32(net)
    }
}

impl From<Mlp<f64>> for QNetwork {
    fn from(net: Mlp<f64>) -> Self {
        QNetwork::F64(net)
    }
}

fn greedy<T: Scalar>(
    net: &Mlp<T>,
    obs: &[f32],
    (input, ws): &mut (Vec<T>, Option<deepq_nn::Workspace<T>>),
) -> usize {
    input.clear();
    input.extend(obs.iter().map(|&x| T::from_f64(f64::from(x))));
    let ws = ws.get_or_insert_with(|| deepq_nn::Workspace::new(net, 1));
    net.argmax_action(input, ws)
}

/// A greedy policy over flat observations.
pub type Policy<'a> = Box<dyn FnMut(&[f32]) -> usize + 'a>;

/// A trained implicit quantile network (IQN) in the precision it was trained in.
#[derive(Clone, Debug)]
pub enum ImplicitNetwork {
    /// A float32 network.
    F32(ImplicitQuantileNet<f32>),
    /// A float64 network.
    F64(ImplicitQuantileNet<f64>),
}

impl ImplicitNetwork {
    /// Its tensors' PyTorch names in `state_dict` order.
    pub fn state_dict_names(&self) -> Vec<String> {
        match self {
            ImplicitNetwork::F32(n) => iqn_state_dict_names(n),
            ImplicitNetwork::F64(n) => iqn_state_dict_names(n),
        }
    }

    /// The network as safetensors bytes (`torso.*`, `embedding.*`, `head.*`).
    pub fn to_safetensors(&self) -> Vec<u8> {
        match self {
            ImplicitNetwork::F32(n) => iqn_to_safetensors(n),
            ImplicitNetwork::F64(n) => iqn_to_safetensors(n),
        }
    }

    /// Reads a network saved by [`ImplicitNetwork::to_safetensors`], in either precision.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, NnError> {
        iqn_from_safetensors::<f32>(bytes)
            .map(ImplicitNetwork::F32)
            .or_else(|e32| {
                iqn_from_safetensors::<f64>(bytes)
                    .map(ImplicitNetwork::F64)
                    .map_err(|_| e32)
            })
    }

    /// (inputs, actions): the flat observation size and the number of actions.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            ImplicitNetwork::F32(n) => (n.n_inputs(), n.n_actions()),
            ImplicitNetwork::F64(n) => (n.n_inputs(), n.n_actions()),
        }
    }

    /// Widths of the linear layers an observation passes through: the torso's (after its
    /// conv layers' flatten, if any), then the head's; the τ-embedding's product keeps the
    /// torso's width.
    pub fn sizes(&self) -> Vec<usize> {
        fn sizes<T: Scalar>(net: &ImplicitQuantileNet<T>) -> Vec<usize> {
            let [torso, _, head] = net.parts();
            torso
                .sizes()
                .iter()
                .chain(&head.sizes()[1..])
                .copied()
                .collect()
        }
        match self {
            ImplicitNetwork::F32(n) => sizes(n),
            ImplicitNetwork::F64(n) => sizes(n),
        }
    }

    /// The image shape the torso's conv layers read; None for an MLP torso.
    pub fn input_shape(&self) -> Option<ImageShape> {
        match self {
            ImplicitNetwork::F32(n) => n.parts()[0].input_shape(),
            ImplicitNetwork::F64(n) => n.parts()[0].input_shape(),
        }
    }

    /// Q-values of flat observation rows (`n_inputs` values each): each action's mean
    /// quantile over the network's evenly spaced greedy fractions, the values its greedy
    /// policy maximises.
    pub fn q_values(&self, rows: &[f32]) -> Vec<Vec<f64>> {
        fn q_values<T: Scalar>(net: &ImplicitQuantileNet<T>, rows: &[f32]) -> Vec<Vec<f64>> {
            let taus = net.greedy_taus();
            let mut ws = IqnWorkspace::new(net, 1, taus.len());
            let mut input = Vec::with_capacity(net.n_inputs());
            let mut q = vec![T::ZERO; net.n_actions()];
            rows.chunks_exact(net.n_inputs())
                .map(|row| {
                    input.clear();
                    input.extend(row.iter().map(|&x| T::from_f64(f64::from(x))));
                    net.q_values(&input, &taus, &mut ws, &mut q);
                    q.iter().map(|v| v.to_f64()).collect()
                })
                .collect()
        }
        match self {
            ImplicitNetwork::F32(n) => q_values(n, rows),
            ImplicitNetwork::F64(n) => q_values(n, rows),
        }
    }

    /// The greedy policy: the action of the largest mean over the network's evenly spaced
    /// greedy fractions.
    pub fn greedy_policy(&self) -> Policy<'_> {
        fn policy<T: Scalar>(net: &ImplicitQuantileNet<T>) -> Policy<'_> {
            let taus = net.greedy_taus();
            let mut ws = IqnWorkspace::new(net, 1, taus.len());
            let mut input = Vec::new();
            Box::new(move |obs: &[f32]| {
                input.clear();
                input.extend(obs.iter().map(|&x| T::from_f64(f64::from(x))));
                net.greedy_action(&input, &taus, &mut ws)
            })
        }
        match self {
            ImplicitNetwork::F32(n) => policy(n),
            ImplicitNetwork::F64(n) => policy(n),
        }
    }
}

impl From<ImplicitQuantileNet<f32>> for ImplicitNetwork {
    fn from(net: ImplicitQuantileNet<f32>) -> Self {
        ImplicitNetwork::F32(net)
    }
}

impl From<ImplicitQuantileNet<f64>> for ImplicitNetwork {
    fn from(net: ImplicitQuantileNet<f64>) -> Self {
        ImplicitNetwork::F64(net)
    }
}

/// A trained model: what `model.safetensors` of a run directory holds.
// One model per run or file: its size on the stack does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Model {
    /// A Q-network (DQN, QR-DQN, PQN).
    Network(QNetwork),
    /// An implicit quantile network (IQN).
    Implicit(ImplicitNetwork),
    /// A Q-table (tabular Q-learning).
    Table(QTable),
}

impl Model {
    /// The model as safetensors bytes, with PyTorch names for a network.
    pub fn to_safetensors(&self) -> Vec<u8> {
        match self {
            Model::Network(net) => net.to_safetensors(),
            Model::Implicit(net) => net.to_safetensors(),
            Model::Table(table) => table.to_safetensors(),
        }
    }

    /// Reads a saved network or table; the error describes why the bytes are neither.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, String> {
        if is_iqn_file(bytes) {
            return ImplicitNetwork::from_safetensors(bytes)
                .map(Model::Implicit)
                .map_err(|e| e.to_string());
        }
        QNetwork::from_safetensors(bytes)
            .map(Model::Network)
            .or_else(|net_error| {
                QTable::from_safetensors(bytes)
                    .map(Model::Table)
                    .map_err(|_| net_error.to_string())
            })
    }

    /// (inputs, outputs): the flat observation size and the number of actions it expects.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Model::Network(n) => (n.n_inputs(), n.n_outputs()),
            Model::Implicit(n) => n.shape(),
            Model::Table(t) => (t.n_states(), t.n_actions()),
        }
    }

    /// A greedy policy over flat observations (one-hot for a table).
    pub fn greedy_policy(&self) -> Policy<'_> {
        match self {
            Model::Network(n) => Box::new(n.greedy_policy()),
            Model::Implicit(n) => n.greedy_policy(),
            Model::Table(t) => Box::new(t.greedy_policy()),
        }
    }
}
