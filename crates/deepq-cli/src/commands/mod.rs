//! One module per subcommand.

pub mod ablate;
pub mod aggregate;
pub mod bench;
pub mod eval;
pub mod list;
pub mod play;
pub mod plot;
pub mod train;
