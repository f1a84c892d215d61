//! The Q-network a config asks for on an environment's observation space: an MLP on flat
//! observations, or a convolutional torso (`cnn`) then the MLP on images.

use deepq_envs::Space;
use deepq_nn::{ImageShape, Mlp, Scalar};
use rand::Rng;

use crate::config::{ConfigError, DqnConfig};

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
        None if cfg.cnn.is_empty() => {
            let mut sizes = vec![space.flat_dim()];
            sizes.extend(&cfg.net_arch);
            sizes.push(n_actions);
            Ok(Mlp::with_arch(&sizes, cfg.arch(), cfg.noisy_sigma0, rng))
        }
        None => Err(ConfigError(format!(
            "invalid value {:?} for 'cnn': {} has flat observations ({space}); convolutions need an image observation space, so remove cnn",
            cfg.cnn, cfg.env
        ))),
        Some(_) if cfg.cnn.is_empty() => Err(ConfigError(format!(
            "invalid value [] for 'cnn': {} has image observations ({space}); give the network a convolutional torso, e.g. cnn = [[16, 3, 1]] (filters, kernel, stride per layer)",
            cfg.env
        ))),
        Some(input) => Mlp::try_with_conv(
            input,
            &cfg.conv_layers(),
            &cfg.net_arch,
            n_actions,
            cfg.arch(),
            cfg.noisy_sigma0,
            rng,
        )
        .map_err(|e| ConfigError(format!("invalid value {:?} for 'cnn': {e}", cfg.cnn))),
    }
}

/// Whether a restored network `net` is the one `cfg` asks for on `space` and `n_actions`.
pub fn fits<T: Scalar>(net: &Mlp<T>, cfg: &DqnConfig, space: &Space, n_actions: usize) -> bool {
    net.n_inputs() == space.flat_dim()
        && net.n_outputs() == n_actions
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
