//! Saved models in the run directory format of [`deepq::run_dir`] (shared with the CLI): a
//! directory with `config.toml` (an optional `# preset: NAME` first line, more `#` comment
//! lines, then the flat config) and `model.safetensors`. `deepq eval --run DIR` reads what
//! `save_run` writes, and `load_run` reads what `deepq train` writes. Each file is written
//! atomically (temporary file, then rename), so an interrupted save leaves the previous file
//! intact.

use std::path::PathBuf;

use deepq::run_dir::{self, RunDir};
use pyo3::prelude::*;

use crate::config::Config;
use crate::errors::{Error, Result};
use crate::network::{Net, Network};

/// Saves a model as a run directory at `path` (created with its parents): `config_text`
/// becomes `config.toml` and `network` becomes `model.safetensors`.
#[pyfunction]
pub fn save_run(path: PathBuf, config_text: &str, network: &Network) -> Result<()> {
    run_dir::parse_config(config_text)
        .map_err(|e| Error::usage(format!("refusing to save an invalid config: {e}")))?;
    let run = RunDir::create(&path)?;
    run.write_config(config_text)?;
    run.write_model(&network.net.to_safetensors())?;
    Ok(())
}

/// Saves a model as an archive at `path` ([`deepq::archive`]: `config.toml` and
/// `model.safetensors` in one zip file, written atomically).
#[pyfunction]
pub fn save_archive(path: PathBuf, config_text: &str, network: &Network) -> Result<()> {
    run_dir::parse_config(config_text)
        .map_err(|e| Error::usage(format!("refusing to save an invalid config: {e}")))?;
    deepq::archive::write_archive(&path, config_text, &network.net.to_safetensors())?;
    Ok(())
}

/// Reads the run directory (or model archive) at `path` and returns `(config, network, config_text)`; the text
/// keeps the comment lines (`# preset: NAME`, …) for the caller.
#[pyfunction]
pub fn load_run(path: PathBuf) -> Result<(Config, Network, String)> {
    let loaded = run_dir::load_run(&path)?;
    let model_file = loaded.dir.model();
    let net = Net::from_model(loaded.model, || format!("model '{}'", model_file.display()))?;
    Ok((
        Config {
            inner: loaded.config,
        },
        Network::new(net),
        loaded.config_text,
    ))
}
