//! What training produces: a Q-network ([`QNetwork`], in the precision it was trained in) or a
//! Q-table, behind one [`Model`] type that saves to and loads from `model.safetensors`.

use deepq_nn::{Mlp, NnError, Scalar};

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

/// A trained model: what `model.safetensors` of a run directory holds.
// One model per run or file: its size on the stack does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Model {
    /// A Q-network (DQN, PQN).
    Network(QNetwork),
    /// A Q-table (tabular Q-learning).
    Table(QTable),
}

impl Model {
    /// The model as safetensors bytes, with PyTorch names for a network.
    pub fn to_safetensors(&self) -> Vec<u8> {
        match self {
            Model::Network(net) => net.to_safetensors(),
            Model::Table(table) => table.to_safetensors(),
        }
    }

    /// Reads a saved network or table; the error describes why the bytes are neither.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, String> {
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
            Model::Table(t) => (t.n_states(), t.n_actions()),
        }
    }

    /// The network, if the model is one.
    pub fn into_network(self) -> Option<QNetwork> {
        match self {
            Model::Network(net) => Some(net),
            Model::Table(_) => None,
        }
    }

    /// A greedy policy over flat observations (one-hot for a table).
    pub fn greedy_policy(&self) -> impl FnMut(&[f32]) -> usize + '_ {
        let (mut network, mut table) = match self {
            Model::Network(n) => (Some(n.greedy_policy()), None),
            Model::Table(t) => (None, Some(t.greedy_policy())),
        };
        move |obs| match (&mut network, &mut table) {
            (Some(policy), _) => policy(obs),
            (_, Some(policy)) => policy(obs),
            (None, None) => unreachable!("a model is a network or a table"),
        }
    }
}
