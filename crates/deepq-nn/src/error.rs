//! The crate's error type.

/// Why a network could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// The bytes are not a valid safetensors file.
    #[error("invalid safetensors data: {0}")]
    Format(String),
    /// A tensor the layout needs is absent.
    #[error("missing tensor {0:?}")]
    MissingTensor(String),
    /// A tensor that is not part of an `nn.Sequential` of Linear and ReLU layers.
    #[error("unexpected tensor {0:?} (expected \"<even index>.weight\" / \"<even index>.bias\")")]
    UnexpectedTensor(String),
    /// A tensor has another element type than the network.
    #[error("tensor {name:?} has dtype {found}, expected {expected}")]
    Dtype {
        /// Tensor name.
        name: String,
        /// Dtype the network needs.
        expected: String,
        /// Dtype in the file.
        found: String,
    },
    /// A tensor's shape does not fit the layers around it.
    #[error("tensor {name:?} has shape {found:?}, expected {expected}")]
    Shape {
        /// Tensor name.
        name: String,
        /// What the layer sequence requires.
        expected: String,
        /// Shape in the file.
        found: Vec<usize>,
    },
}
