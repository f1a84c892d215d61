//! The Q-network a config asks for on an environment's observation space: an MLP on flat
//! observations, or a convolutional torso (`cnn`) then the MLP on images; and IQN's
//! network, built from the same layers.

use deepq_envs::Space;
use deepq_nn::{ImageShape, ImplicitQuantileNet, Mlp, Scalar, Workspace};
use rand::Rng;

use crate::config::{ConfigError, DqnConfig};
use crate::model::Model;

/// A freshly initialised network for `space` and `n_actions` actions, drawn from `rng`.
/// An image space needs `cnn` layers and a flat one must have none; either mismatch, and a
/// conv stack that shrinks the image below 1×1, is a one-line error naming the fix.
pub fn q_network<T: Scalar>(
    cfg: &DqnConfig,
    space: &Space,
    n_actions: usize,
    rng: &mut impl Rng,
) -> Result<Mlp<T>, ConfigError> {
    match image_shape(space) {
        None if cfg.network.cnn.is_empty() => {
            let mut sizes = vec![space.flat_dim()];
            sizes.extend(&cfg.network.net_arch);
            sizes.push(n_actions);
            Ok(Mlp::with_arch(
                &sizes,
                cfg.arch(),
                cfg.dqn.noisy_sigma0,
                rng,
            ))
        }
        None => Err(ConfigError(format!(
            "invalid value {:?} for 'cnn': {} has flat observations ({space}); convolutions need an image observation space, so remove cnn",
            cfg.network.cnn, cfg.run.env
        ))),
        Some(_) if cfg.network.cnn.is_empty() => Err(ConfigError(format!(
            "invalid value [] for 'cnn': {} has image observations ({space}); give the network a convolutional torso, e.g. cnn = [[16, 3, 1]] (filters, kernel, stride per layer)",
            cfg.run.env
        ))),
        Some(input) => Mlp::try_with_conv(
            input,
            &cfg.conv_layers(),
            &cfg.network.net_arch,
            n_actions,
            cfg.arch(),
            cfg.dqn.noisy_sigma0,
            rng,
        )
        .map_err(|e| {
            ConfigError(format!(
                "invalid value {:?} for 'cnn': {e}",
                cfg.network.cnn
            ))
        }),
    }
}

/// Whether a restored network `net` is the one `cfg` asks for on `space` and `n_actions`.
pub fn fits<T: Scalar>(net: &Mlp<T>, cfg: &DqnConfig, space: &Space, n_actions: usize) -> bool {
    let sizes = net.sizes();
    net.n_inputs() == space.flat_dim()
        && net.n_outputs() == n_actions
        && sizes[1..sizes.len() - 1] == cfg.network.net_arch[..]
        && net.arch() == &cfg.arch().canonical()
        && net.input_shape() == image_shape(space)
        && net.conv_layers() == cfg.conv_layers().as_slice()
}

/// The image shape of an image observation space, in `deepq-nn`'s terms.
fn image_shape(space: &Space) -> Option<ImageShape> {
    space
        .image_shape()
        .map(|[height, width, channels]| ImageShape {
            height,
            width,
            channels,
        })
}

/// IQN's network for `space` and `n_actions` actions, drawn from `rng`: the torso is the conv
/// layers (on images) and the first hidden layer (`net_arch[0]` features), the τ-embedding
/// reads `quantile_embedding_dim` cosines, and the head is the remaining hidden layers then
/// the output layer. Evaluated greedily over `num_quantile_samples` evenly spaced fractions.
pub fn iqn_network<T: Scalar>(
    cfg: &DqnConfig,
    space: &Space,
    n_actions: usize,
    rng: &mut impl Rng,
) -> Result<ImplicitQuantileNet<T>, ConfigError> {
    let (features, rest) = cfg
        .network
        .net_arch
        .split_first()
        .expect("validated: net_arch has a layer");
    // The torso is the network of the conv layers with no hidden layer and `features`
    // outputs (its ReLU is the IQN network's).
    let torso_cfg = {
        let mut config = cfg.clone();
        config.network.net_arch = Vec::new();
        config
    };
    let torso = q_network(&torso_cfg, space, *features, rng)?;
    let mut head = rest.to_vec();
    head.push(n_actions);
    Ok(
        ImplicitQuantileNet::new(torso, cfg.iqn.quantile_embedding_dim, &head, rng)
            .with_greedy_fractions(cfg.iqn.num_quantile_samples),
    )
}

/// Whether a restored IQN network is the one `cfg` asks for on `space` and `n_actions`.
pub fn iqn_fits<T: Scalar>(
    net: &ImplicitQuantileNet<T>,
    cfg: &DqnConfig,
    space: &Space,
    n_actions: usize,
) -> bool {
    let [torso, _, head] = net.parts();
    let mut head_sizes = vec![cfg.network.net_arch[0]];
    head_sizes.extend(&cfg.network.net_arch[1..]);
    head_sizes.push(n_actions);
    net.n_inputs() == space.flat_dim()
        && net.embedding_dim() == cfg.iqn.quantile_embedding_dim
        && torso.input_shape() == image_shape(space)
        && torso.conv_layers() == cfg.conv_layers().as_slice()
        && head.sizes() == head_sizes.as_slice()
}

/// Whether `a` and `b` have the same structure, so that one's weights fit the other.
fn same_structure<T: Scalar>(a: &Mlp<T>, b: &Mlp<T>) -> bool {
    a.sizes() == b.sizes()
        && a.arch() == b.arch()
        && a.input_shape() == b.input_shape()
        && a.conv_layers() == b.conv_layers()
}

/// Sets `online`'s (and `target`'s) weights to those of `model`, a Q-network of the same
/// structure and float type.
pub(crate) fn load_q_network<T: Scalar>(
    online: &mut Mlp<T>,
    target: Option<&mut Mlp<T>>,
    model: &Model,
) -> Result<(), ConfigError> {
    let loaded = match model {
        Model::Network(net) => deepq_nn::from_safetensors::<T>(&net.to_safetensors()).ok(),
        Model::Implicit(_) | Model::Table(_) => None,
    };
    let Some(loaded) = loaded.filter(|net| same_structure(net, online)) else {
        return Err(misfit(model, online.sizes()));
    };
    online.copy_params_from(&loaded);
    if let Some(target) = target {
        target.copy_params_from(&loaded);
    }
    Ok(())
}

/// Sets `online`'s (and `target`'s) weights to those of `model`, an implicit quantile
/// network of the same structure and float type.
pub(crate) fn load_implicit_network<T: Scalar>(
    online: &mut ImplicitQuantileNet<T>,
    target: Option<&mut ImplicitQuantileNet<T>>,
    model: &Model,
) -> Result<(), ConfigError> {
    let loaded = match model {
        Model::Implicit(net) => deepq_nn::iqn_from_safetensors::<T>(&net.to_safetensors()).ok(),
        Model::Network(_) | Model::Table(_) => None,
    };
    let fits = |net: &ImplicitQuantileNet<T>| {
        net.parts()
            .iter()
            .zip(online.parts())
            .all(|(a, b)| same_structure(a, b))
    };
    let Some(loaded) = loaded.filter(fits) else {
        return Err(misfit(model, online.parts()[0].sizes()));
    };
    online.copy_params_from(&loaded);
    if let Some(target) = target {
        target.copy_params_from(&loaded);
    }
    Ok(())
}

/// The error for weights that do not fit a run's network, whose first sizes are `sizes`.
fn misfit(model: &Model, sizes: &[usize]) -> ConfigError {
    let given = match model {
        Model::Network(net) => format!("a network of layer sizes {:?}", net.sizes()),
        Model::Implicit(_) => "an implicit quantile network".to_string(),
        Model::Table(_) => "a Q-table".to_string(),
    };
    ConfigError(format!(
        "the weights given ({given}) do not fit this run's network (layer sizes {sizes:?}, in its float type and head)"
    ))
}

/// Acting with a Q-network on `f32` observations: their copy in the network's float type and
/// the forward pass's scratch, kept from call to call so that acting allocates only when
/// more observations come at once than ever before.
#[derive(Clone, Debug)]
pub(crate) struct Actor<T> {
    obs: Vec<T>,
    ws: Workspace<T>,
}

impl<T: Scalar> Actor<T> {
    pub(crate) fn new(net: &Mlp<T>) -> Self {
        Actor {
            obs: Vec::with_capacity(net.n_inputs()),
            ws: Workspace::new(net, 1),
        }
    }

    /// `net`'s greedy action for one flat observation (the first on ties).
    pub(crate) fn greedy_action(&mut self, net: &Mlp<T>, obs: &[f32]) -> usize {
        let mut action = [0];
        self.greedy_actions(net, obs, &mut action);
        action[0]
    }

    /// `net`'s greedy actions for flat observations row after row, one per row: each the
    /// action [`greedy_action`](Self::greedy_action) gives that row alone, in one pass.
    pub(crate) fn greedy_actions(&mut self, net: &Mlp<T>, obs: &[f32], actions: &mut [usize]) {
        self.obs.clear();
        self.obs
            .extend(obs.iter().map(|&x| T::from_f64(f64::from(x))));
        net.argmax_actions(&self.obs, &mut self.ws, actions);
    }
}
