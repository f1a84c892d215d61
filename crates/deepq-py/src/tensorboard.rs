//! `EventWriter`: deepq's TensorBoard event files for Python, the writer behind
//! `tensorboard_log` (SB3's `Logger` writes its scalars through it).

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;

use crate::errors::{Error, Result};

/// Appends scalars to a new `events.out.tfevents.*` file in a directory (created with its
/// parents).
#[pyclass(name = "EventWriter", module = "deepq._native")]
pub struct EventWriter {
    writer: Mutex<deepq::tensorboard::EventWriter>,
}

#[pymethods]
impl EventWriter {
    #[new]
    fn new(dir: PathBuf) -> Result<Self> {
        let writer = deepq::tensorboard::EventWriter::create(&dir).map_err(io_error)?;
        Ok(EventWriter {
            writer: Mutex::new(writer),
        })
    }

    /// Writes `value` under `tag` at `step`.
    fn scalar(&self, tag: &str, step: u64, value: f64) -> Result<()> {
        self.lock()?.scalar(tag, step, value).map_err(io_error)
    }

    /// Pushes what was written to the file.
    fn flush(&self) -> Result<()> {
        self.lock()?.flush().map_err(io_error)
    }

    /// The event file's path.
    #[getter]
    fn path(&self) -> Result<PathBuf> {
        Ok(self.lock()?.path().to_path_buf())
    }
}

impl EventWriter {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, deepq::tensorboard::EventWriter>> {
        self.writer
            .lock()
            .map_err(|_| Error::runtime("this TensorBoard writer failed earlier"))
    }
}

fn io_error(e: deepq::tensorboard::TensorboardError) -> Error {
    Error::Io {
        kind: std::io::ErrorKind::Other,
        message: e.to_string(),
    }
}
