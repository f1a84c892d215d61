//! The implicit quantile network of IQN (Dabney et al., "Implicit Quantile Networks for
//! Distributional Reinforcement Learning", ICML 2018), built from three [`Mlp`]s:
//!
//! - the **torso** reads the observation (conv layers, if any, then the first hidden layer)
//!   and gives the state features `φ(s) = ReLU(torso(s))` of width `d`;
//! - the **embedding** maps a quantile fraction τ to `ψ(τ) = ReLU(W·cos(π·i·τ) + b)`,
//!   `i = 1..=embedding_dim` (Dopamine's `quantile_embedding_dim`, 64), also of width `d`;
//! - the **head** (the remaining hidden layers, then the output layer) reads `φ(s) ⊙ ψ(τ)`
//!   and gives `Z_τ(s, a)` for every action.
//!
//! A forward pass takes `states` observations and `n_tau` fractions per state, and returns
//! `states · n_tau` rows (state-major: row `s·n_tau + k` is state `s` at its `k`-th τ) of
//! `n_actions` quantile values.
//!
//! Saved as the `state_dict` of a module with `torso` (the torso's `nn.Sequential`, conv
//! metadata as a plain network's), `embedding` (one `nn.Linear(embedding_dim, d)`) and `head`
//! (an `nn.Sequential`), so `torso.0.weight`, `embedding.weight`, `head.0.weight`, …, with
//! [`IQN_EMBEDDING_DIM_KEY`] in the metadata.

use std::collections::HashMap;
use std::f64::consts::PI;

use rand::Rng;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::error::NnError;
use crate::io::{
    PRECISION_KEY, from_safetensors, safetensors_metadata, to_safetensors_with_metadata,
    with_metadata,
};
use crate::mlp::{Arch, Mlp, Workspace};
use crate::qvalues::argmax;
use crate::scalar::Scalar;
use crate::update::polyak_update;

/// The `__metadata__` key of an implicit quantile network's file: its embedding width; its
/// presence marks the file as one.
pub const IQN_EMBEDDING_DIM_KEY: &str = "iqn_embedding_dim";

/// The parts of an implicit quantile network, in their order in parameter and gradient
/// buffers.
const PARTS: [&str; 3] = ["torso", "embedding", "head"];

/// IQN's network: torso, τ-embedding and head (see the module docs).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct ImplicitQuantileNet<T: Scalar> {
    torso: Mlp<T>,
    embedding: Mlp<T>,
    head: Mlp<T>,
    /// Fractions of a greedy action: the midpoints `(k + 0.5)/K` (Dopamine's
    /// `num_quantile_samples`, 32, sampled there; evenly spaced here, so that evaluations and
    /// a saved model's actions are deterministic).
    greedy_fractions: usize,
}

/// Dopamine's `num_quantile_samples`: the fractions a greedy action averages over.
pub const IQN_GREEDY_FRACTIONS: usize = 32;

/// The `__metadata__` key holding the number of fractions a greedy action averages over.
pub const IQN_GREEDY_FRACTIONS_KEY: &str = "iqn_greedy_fractions";

impl<T: Scalar> ImplicitQuantileNet<T> {
    /// A network on `torso` (any network whose outputs, after a ReLU, are the state
    /// features), with an embedding of `embedding_dim` cosines and a head of `head_sizes`
    /// (`[hidden..., n_actions]`), the embedding then the head drawn from `rng` as
    /// [`Mlp::new`] draws.
    ///
    /// # Panics
    /// If `embedding_dim` is 0 or `head_sizes` is empty or holds a zero.
    pub fn new(
        torso: Mlp<T>,
        embedding_dim: usize,
        head_sizes: &[usize],
        rng: &mut impl Rng,
    ) -> Self {
        let d = torso.n_outputs();
        // The parts compute in the torso's precision.
        let arch = Arch {
            precision: torso.arch().precision,
            ..Arch::default()
        };
        let embedding = Mlp::with_arch(&[embedding_dim, d], arch, 0.5, rng);
        let mut sizes = vec![d];
        sizes.extend(head_sizes);
        let head = Mlp::with_arch(&sizes, arch, 0.5, rng);
        ImplicitQuantileNet {
            torso,
            embedding,
            head,
            greedy_fractions: IQN_GREEDY_FRACTIONS,
        }
    }

    /// The same network, acting greedily on the mean over `k` evenly spaced fractions.
    ///
    /// # Panics
    /// If `k` is 0.
    pub fn with_greedy_fractions(mut self, k: usize) -> Self {
        assert!(k > 0, "a greedy action needs at least one fraction");
        self.greedy_fractions = k;
        self
    }

    /// The fractions a greedy action averages over: `(k + 0.5)/K`, `k = 0..K`.
    pub fn greedy_taus(&self) -> Vec<T> {
        crate::quantile::quantile_midpoints(self.greedy_fractions)
    }

    /// The network from its parts; the error says why they do not fit together.
    pub fn from_parts(torso: Mlp<T>, embedding: Mlp<T>, head: Mlp<T>) -> Result<Self, String> {
        let d = torso.n_outputs();
        let plain = |m: &Mlp<T>| m.arch().is_plain() && m.arch().quantiles == 1;
        if !(plain(&torso) && plain(&embedding) && plain(&head)) {
            return Err("an implicit quantile network's parts are plain networks".into());
        }
        if embedding.sizes().len() != 2 || embedding.n_outputs() != d || head.sizes()[0] != d {
            return Err(format!(
                "the torso gives {d} features, the embedding {:?} and the head reads {}",
                embedding.sizes(),
                head.sizes()[0]
            ));
        }
        if embedding.input_shape().is_some() || head.input_shape().is_some() {
            return Err("only the torso may have conv layers".into());
        }
        let precision = torso.arch().precision;
        if embedding.arch().precision != precision || head.arch().precision != precision {
            return Err("an implicit quantile network's parts share one precision".into());
        }
        Ok(ImplicitQuantileNet {
            torso,
            embedding,
            head,
            greedy_fractions: IQN_GREEDY_FRACTIONS,
        })
    }

    /// The torso, the embedding and the head.
    pub fn parts(&self) -> [&Mlp<T>; 3] {
        [&self.torso, &self.embedding, &self.head]
    }

    /// The parts' parameter buffers, in [`parts`](Self::parts) order.
    pub fn params_mut(&mut self) -> [&mut [T]; 3] {
        [
            self.torso.params_mut(),
            self.embedding.params_mut(),
            self.head.params_mut(),
        ]
    }

    /// Length of one flat observation.
    pub fn n_inputs(&self) -> usize {
        self.torso.n_inputs()
    }

    /// Number of actions.
    pub fn n_actions(&self) -> usize {
        self.head.n_outputs()
    }

    /// Number of cosines the embedding reads.
    pub fn embedding_dim(&self) -> usize {
        self.embedding.sizes()[0]
    }

    /// Parameters of every part.
    pub fn n_params(&self) -> usize {
        self.parts().iter().map(|p| p.n_params()).sum()
    }

    /// Hard target-network sync: copies `other`'s parameters into `self`.
    ///
    /// # Panics
    /// If the networks differ in shape.
    pub fn copy_params_from(&mut self, other: &Self) {
        self.torso.copy_params_from(&other.torso);
        self.embedding.copy_params_from(&other.embedding);
        self.head.copy_params_from(&other.head);
    }

    /// Polyak averaging towards `online`: `self ← τ·online + (1 − τ)·self`.
    pub fn polyak_towards(&mut self, online: &Self, tau: T) {
        for (target, source) in self.params_mut().into_iter().zip(online.parts()) {
            polyak_update(target, source.params(), tau);
        }
    }

    /// Forward pass of `states` observations (`states × n_inputs`) at `taus` (`states ×
    /// n_tau` fractions): returns the `states · n_tau × n_actions` quantile values, state-major.
    /// Keeps what [`backward`](Self::backward) needs in `ws`.
    ///
    /// # Panics
    /// If `ws` was made for another network, or the lengths do not fit its capacity.
    pub fn forward<'w>(
        &self,
        obs: &[T],
        states: usize,
        taus: &[T],
        ws: &'w mut IqnWorkspace<T>,
    ) -> &'w [T] {
        assert!(
            states > 0 && taus.len().is_multiple_of(states),
            "taus must hold n_tau fractions per state"
        );
        let n_tau = taus.len() / states;
        let rows = states * n_tau;
        let (d, e) = (self.torso.n_outputs(), self.embedding_dim());
        assert!(
            states <= ws.max_states && rows <= ws.max_rows,
            "batch exceeds the workspace"
        );
        ws.shape = Some((states, n_tau));
        let torso_out = self.torso.forward(obs, states, &mut ws.torso);
        for (phi, &z) in ws.phi.iter_mut().zip(torso_out) {
            *phi = z.max(T::ZERO);
        }
        cosine_features(taus, &mut ws.cosines[..rows * e], e);
        let embedded = self
            .embedding
            .forward(&ws.cosines[..rows * e], rows, &mut ws.embedding);
        for (psi, &z) in ws.psi.iter_mut().zip(embedded) {
            *psi = z.max(T::ZERO);
        }
        // Row r of the product is φ of state r / n_tau times ψ of row r.
        let state_rows = n_tau * d;
        let products = ws.product[..rows * d].chunks_exact_mut(state_rows);
        let psis = ws.psi[..rows * d].chunks_exact(state_rows);
        for ((product, psi), phi) in products.zip(psis).zip(ws.phi.chunks_exact(d)) {
            for (product, psi) in product.chunks_exact_mut(d).zip(psi.chunks_exact(d)) {
                for ((p, &f), &y) in product.iter_mut().zip(phi).zip(psi) {
                    *p = f * y;
                }
            }
        }
        self.head
            .forward(&ws.product[..rows * d], rows, &mut ws.head)
    }

    /// Backward pass of the last [`forward`](Self::forward) on `ws`, given `grad_output` =
    /// d loss / d output: OVERWRITES `grads` (the torso's, embedding's and head's parameter
    /// gradients, concatenated in [`parts`](Self::parts) order).
    ///
    /// # Panics
    /// If `ws` has seen no forward pass of this network, or a length does not match.
    pub fn backward(&self, ws: &mut IqnWorkspace<T>, grad_output: &[T], grads: &mut [T]) {
        let (states, n_tau) = ws.shape.expect("backward needs a forward pass first");
        let rows = states * n_tau;
        let d = self.torso.n_outputs();
        assert_eq!(grads.len(), self.n_params(), "grads length");
        let (g_torso, rest) = grads.split_at_mut(self.torso.n_params());
        let (g_embedding, g_head) = rest.split_at_mut(self.embedding.n_params());
        let grad_product = &mut ws.grad_product[..rows * d];
        self.head
            .backward_to_input(&mut ws.head, grad_output, g_head, Some(grad_product));
        // Through the product: d/dψ = g·φ and d/dφ = Σ_τ g·ψ, each through its ReLU (zero
        // where the activation is zero, as PyTorch's `threshold_backward`).
        // Written per state, then per τ in order, each a whole row, so that the compiler
        // vectorizes it; every entry sums its terms in the same order as row by row.
        let grad_phi = &mut ws.grad_phi[..states * d];
        grad_phi.fill(T::ZERO);
        let state_rows = n_tau * d;
        let per_state = grad_phi
            .chunks_exact_mut(d)
            .zip(ws.phi.chunks_exact(d))
            .zip(grad_product.chunks_exact(state_rows))
            .zip(ws.psi[..rows * d].chunks_exact(state_rows))
            .zip(ws.grad_psi[..rows * d].chunks_exact_mut(state_rows));
        for ((((grad_phi, phi), grad_product), psi), grad_psi) in per_state {
            let per_tau = grad_product
                .chunks_exact(d)
                .zip(psi.chunks_exact(d))
                .zip(grad_psi.chunks_exact_mut(d));
            for ((grad_product, psi), grad_psi) in per_tau {
                let entries = grad_phi
                    .iter_mut()
                    .zip(phi)
                    .zip(grad_product)
                    .zip(psi)
                    .zip(grad_psi.iter_mut());
                for ((((grad_phi, &phi), &g), &psi), grad_psi) in entries {
                    *grad_phi = *grad_phi + g * psi;
                    *grad_psi = if psi > T::ZERO { g * phi } else { T::ZERO };
                }
            }
        }
        for (g, &phi) in grad_phi.iter_mut().zip(&ws.phi) {
            if phi <= T::ZERO {
                *g = T::ZERO;
            }
        }
        self.embedding
            .backward(&mut ws.embedding, &ws.grad_psi[..rows * d], g_embedding);
        self.torso.backward(&mut ws.torso, grad_phi, g_torso);
    }

    /// Q-values of one observation: the mean over `taus` of its quantile values, written
    /// into `q` (`n_actions`).
    pub fn q_values(&self, obs: &[T], taus: &[T], ws: &mut IqnWorkspace<T>, q: &mut [T]) {
        let n_actions = self.n_actions();
        let z = self.forward(obs, 1, taus, ws);
        crate::quantile::mean_over_quantiles(z, taus.len(), n_actions, q);
    }

    /// The greedy action of one observation under [`q_values`](Self::q_values) (the first
    /// on ties).
    pub fn greedy_action(&self, obs: &[T], taus: &[T], ws: &mut IqnWorkspace<T>) -> usize {
        let mut q = std::mem::take(&mut ws.q);
        q.resize(self.n_actions(), T::ZERO);
        self.q_values(obs, taus, ws, &mut q);
        let best = argmax(&q);
        ws.q = q;
        best
    }
}

/// Row `r` of `cosines` (rows of `e`) gets `cos(π·i·τ_r)` for `i = 1..=e`, by the recurrence
/// `cos((i + 1)x) = 2·cos(x)·cos(ix) − cos((i − 1)x)` in f64 (one `cos` per row instead of
/// one per entry; the recurrence's error grows by about one f64 rounding per step, far below
/// f32's), each rounded once to `T`. Rows are taken eight at a time, so that their recurrences
/// run side by side in vector lanes; each lane computes exactly what a row alone would.
fn cosine_features<T: Scalar>(taus: &[T], cosines: &mut [T], e: usize) {
    const LANES: usize = 8;
    for (block, taus) in cosines.chunks_mut(LANES * e).zip(taus.chunks(LANES)) {
        let mut c1 = [0.0; LANES];
        for (c, tau) in c1.iter_mut().zip(taus) {
            *c = (PI * tau.to_f64()).cos();
        }
        let (mut previous, mut current) = ([1.0; LANES], c1);
        for i in 0..e {
            for (row, &c) in block.chunks_exact_mut(e).zip(&current) {
                row[i] = T::from_f64(c);
            }
            for lane in 0..LANES {
                let next = 2.0 * c1[lane] * current[lane] - previous[lane];
                (previous[lane], current[lane]) = (current[lane], next);
            }
        }
    }
}

/// Buffers for running an [`ImplicitQuantileNet`] on up to `max_states` observations and
/// `max_rows` (state, τ) rows.
#[derive(Clone, Debug)]
pub struct IqnWorkspace<T> {
    torso: Workspace<T>,
    embedding: Workspace<T>,
    head: Workspace<T>,
    max_states: usize,
    max_rows: usize,
    /// (states, n_tau) of the last forward pass.
    shape: Option<(usize, usize)>,
    phi: Vec<T>,
    cosines: Vec<T>,
    psi: Vec<T>,
    product: Vec<T>,
    grad_product: Vec<T>,
    grad_psi: Vec<T>,
    grad_phi: Vec<T>,
    q: Vec<T>,
}

impl<T: Scalar> IqnWorkspace<T> {
    /// Buffers for `net` on up to `max_states` observations with up to `max_tau` fractions
    /// each.
    pub fn new(net: &ImplicitQuantileNet<T>, max_states: usize, max_tau: usize) -> Self {
        let rows = max_states * max_tau;
        let d = net.torso.n_outputs();
        IqnWorkspace {
            torso: Workspace::new(&net.torso, max_states),
            embedding: Workspace::new(&net.embedding, rows),
            head: Workspace::new(&net.head, rows),
            max_states,
            max_rows: rows,
            shape: None,
            phi: vec![T::ZERO; max_states * d],
            cosines: vec![T::ZERO; rows * net.embedding_dim()],
            psi: vec![T::ZERO; rows * d],
            product: vec![T::ZERO; rows * d],
            grad_product: vec![T::ZERO; rows * d],
            grad_psi: vec![T::ZERO; rows * d],
            grad_phi: vec![T::ZERO; max_states * d],
            q: Vec::new(),
        }
    }
}

/// The names of `net`'s tensors in the order of its parameters (torso, embedding, head),
/// as the PyTorch module's `state_dict` lists them.
pub fn iqn_state_dict_names<T: Scalar>(net: &ImplicitQuantileNet<T>) -> Vec<String> {
    let mut names = Vec::new();
    for (name, part) in PARTS.iter().zip(net.parts()) {
        for tensor in crate::io::state_dict_names(part) {
            names.push(match *name {
                "embedding" => format!("{name}.{}", tensor.trim_start_matches("0.")),
                _ => format!("{name}.{tensor}"),
            });
        }
    }
    names
}

/// Encodes an implicit quantile network as a safetensors file (see the module docs).
pub fn iqn_to_safetensors<T: Scalar>(net: &ImplicitQuantileNet<T>) -> Vec<u8> {
    let mut metadata = HashMap::new();
    let mut files = Vec::new();
    for (name, part) in PARTS.iter().zip(net.parts()) {
        let bytes = to_safetensors_with_metadata(part, None);
        metadata.extend(safetensors_metadata(&bytes).unwrap_or_default());
        files.push((name, bytes));
    }
    metadata.insert(
        IQN_EMBEDDING_DIM_KEY.to_string(),
        net.embedding_dim().to_string(),
    );
    metadata.insert(
        IQN_GREEDY_FRACTIONS_KEY.to_string(),
        net.greedy_fractions.to_string(),
    );
    let parsed: Vec<_> = files
        .iter()
        .map(|(name, bytes)| (name, SafeTensors::deserialize(bytes).expect("just written")))
        .collect();
    let mut tensors = Vec::new();
    for (name, file) in &parsed {
        for (tensor, view) in file.tensors() {
            // The embedding is one Linear layer: `embedding.weight`, not `embedding.0.weight`.
            let tensor = match ***name {
                "embedding" => tensor.trim_start_matches("0.").to_string(),
                _ => tensor,
            };
            tensors.push((format!("{name}.{tensor}"), view));
        }
    }
    let file = safetensors::serialize(tensors, None).expect("a network always forms a valid file");
    // Sorted keys: the same weights always give the same bytes.
    with_metadata(file, &metadata.into_iter().collect())
}

/// Whether safetensors bytes hold an implicit quantile network.
pub fn is_iqn_file(bytes: &[u8]) -> bool {
    safetensors_metadata(bytes).is_ok_and(|m| m.contains_key(IQN_EMBEDDING_DIM_KEY))
}

/// Reads a file written by [`iqn_to_safetensors`].
pub fn iqn_from_safetensors<T: Scalar>(bytes: &[u8]) -> Result<ImplicitQuantileNet<T>, NnError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| NnError::Format(e.to_string()))?;
    let metadata = safetensors_metadata(bytes)?;
    let mut parts = Vec::with_capacity(3);
    for name in PARTS {
        let prefix = format!("{name}.");
        let tensors: Vec<_> = file
            .tensors()
            .into_iter()
            .filter_map(|(tensor, view)| {
                let local = tensor.strip_prefix(&prefix)?;
                let local = if name == "embedding" {
                    format!("0.{local}")
                } else {
                    local.to_string()
                };
                Some((local, view))
            })
            .collect();
        if tensors.is_empty() {
            return Err(NnError::MissingTensor(format!("{prefix}*")));
        }
        // The torso keeps the conv metadata; the other parts are plain networks in the
        // same precision.
        let part_metadata: HashMap<_, _> = metadata
            .iter()
            .filter(|(k, _)| {
                if name == "torso" {
                    ![IQN_EMBEDDING_DIM_KEY, IQN_GREEDY_FRACTIONS_KEY].contains(&k.as_str())
                } else {
                    k.as_str() == PRECISION_KEY
                }
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let part_metadata = (!part_metadata.is_empty()).then_some(part_metadata);
        let bytes = safetensors::serialize(tensors, part_metadata)
            .map_err(|e| NnError::Format(e.to_string()))?;
        parts.push(from_safetensors::<T>(&bytes)?);
    }
    let head = parts.pop().expect("three parts");
    let embedding = parts.pop().expect("three parts");
    let torso = parts.pop().expect("three parts");
    let net = ImplicitQuantileNet::from_parts(torso, embedding, head).map_err(NnError::Format)?;
    match metadata.get(IQN_GREEDY_FRACTIONS_KEY) {
        None => Ok(net),
        Some(v) => match v.parse::<usize>() {
            Ok(k) if k > 0 => Ok(net.with_greedy_fractions(k)),
            _ => Err(NnError::Format(format!(
                "metadata {IQN_GREEDY_FRACTIONS_KEY} = {v:?} is not a positive whole number"
            ))),
        },
    }
}
