//! The learning algorithms. Each is one type implementing [`crate::core::Algorithm`]: it owns
//! its environments, model and buffers and supplies its own step; the shared training core
//! does everything else. To add one, write a module here, name it in
//! [`crate::config::Algorithm`], and start it in `train.rs`'s dispatch.

pub mod dqn;
pub mod pqn;
pub mod tabular;

pub use dqn::Dqn;
pub use pqn::Pqn;
pub use tabular::Tabular;
