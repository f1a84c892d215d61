//! Saved models in the CLI's run directory format: a directory with `config.toml` (an optional
//! `# preset: NAME` first line, more `#` comment lines, then the flat config) and
//! `model.safetensors`. `deepq eval --run DIR` reads what `save_run` writes, and `load_run`
//! reads what `deepq train` writes. Each file is written atomically (temporary file, then
//! rename), so an interrupted save leaves the previous file intact.

use std::io::Write;
use std::path::{Path, PathBuf};

use pyo3::prelude::*;

use crate::config::Config;
use crate::errors::{Error, Result};
use crate::network::Network;

/// The config file of a run directory.
pub const CONFIG_FILE: &str = "config.toml";
/// The model file of a run directory.
pub const MODEL_FILE: &str = "model.safetensors";

/// Writes `bytes` to `path` through a temporary file in the same directory, flushed to disk
/// and renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: &std::io::Error| Error::io("write", path, e);
    let mut builder = tempfile::Builder::new();
    // Temporary files are private by default; saved models are ordinary files.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir).map_err(|e| fail(&e))?;
    tmp.write_all(bytes).map_err(|e| fail(&e))?;
    tmp.as_file().sync_all().map_err(|e| fail(&e))?;
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// Reads a whole file, with an error naming it.
fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("read", path, &e))
}

/// Saves a model as a run directory at `path` (created with its parents): `config_text`
/// becomes `config.toml` and `network` becomes `model.safetensors`.
#[pyfunction]
pub fn save_run(path: PathBuf, config_text: &str, network: &Network) -> Result<()> {
    Config::parse(config_text)
        .map_err(|e| Error::usage(format!("refusing to save an invalid config: {e}")))?;
    std::fs::create_dir_all(&path).map_err(|e| Error::io("create run directory", &path, &e))?;
    write_atomic(&path.join(CONFIG_FILE), config_text.as_bytes())?;
    write_atomic(&path.join(MODEL_FILE), &network.net.to_safetensors())
}

/// Reads the run directory at `path` and returns `(config, network, config_text)`; the text
/// keeps the comment lines (`# preset: NAME`, …) for the caller.
#[pyfunction]
pub fn load_run(path: PathBuf) -> Result<(Config, Network, String)> {
    let missing = |message: String| Error::Io {
        kind: std::io::ErrorKind::NotFound,
        message,
    };
    if !path.is_dir() {
        return Err(missing(format!(
            "run directory '{}' does not exist",
            path.display()
        )));
    }
    let config_path = path.join(CONFIG_FILE);
    if !config_path.is_file() {
        return Err(missing(format!(
            "'{}' is not a deepq run directory (no config.toml)",
            path.display()
        )));
    }
    let text = String::from_utf8(read(&config_path)?).map_err(|_| {
        Error::runtime(format!(
            "'{}' is not a valid run config: not UTF-8 text",
            config_path.display()
        ))
    })?;
    let inner = Config::parse(&text).map_err(|e| {
        Error::runtime(format!(
            "'{}' is not a valid run config: {e}",
            config_path.display()
        ))
    })?;
    let model_path = path.join(MODEL_FILE);
    let bytes = read(&model_path)?;
    let net = deepq::QNetwork::from_safetensors(&bytes).map_err(|e| {
        Error::runtime(format!("cannot load model '{}': {e}", model_path.display()))
    })?;
    Ok((Config { inner }, Network::new(net), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_files_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        write_atomic(&path, b"gamma = 0.9\n").unwrap();
        write_atomic(&path, b"gamma = 0.5\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "gamma = 0.5\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn writing_into_a_missing_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("model.safetensors");
        let Err(Error::Io { kind, message }) = write_atomic(&path, b"x") else {
            panic!("expected an I/O error")
        };
        assert_eq!(kind, std::io::ErrorKind::NotFound);
        assert!(message.starts_with("cannot write '") && message.contains("model.safetensors"));
    }
}
