//! `GifWriter`: episodes as animated GIFs from Python (`python -m deepq play`), encoded by
//! the command's own writer.

use std::path::PathBuf;
use std::sync::Mutex;

use numpy::{PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::{Error, Result};

/// Frames in, one looping GIF out (written atomically by `finish`).
#[pyclass(name = "GifWriter", module = "deepq._native")]
pub struct GifWriter {
    writer: Mutex<Option<deepq_plots::gif::GifWriter>>,
}

#[pymethods]
impl GifWriter {
    #[new]
    #[pyo3(signature = (path, fps=30))]
    fn new(path: PathBuf, fps: u32) -> Result<Self> {
        if fps == 0 {
            return Err(Error::usage(
                "invalid value 0 for 'fps': must be at least 1",
            ));
        }
        Ok(GifWriter {
            writer: Mutex::new(Some(deepq_plots::gif::GifWriter::new(&path, fps))),
        })
    }

    /// Appends a frame: a `(height, width, 3)` uint8 RGB array, as `env.render()` gives.
    fn add(&self, frame: PyReadonlyArray3<'_, u8>) -> Result<()> {
        let shape = frame.shape();
        if shape[2] != 3 {
            return Err(Error::usage(format!(
                "a GIF frame is (height, width, 3) RGB, not {shape:?}"
            )));
        }
        let (height, width) = (shape[0] as u32, shape[1] as u32);
        let data = frame
            .as_slice()
            .map(<[u8]>::to_vec)
            .unwrap_or_else(|_| frame.as_array().iter().copied().collect());
        self.with(|w| w.add(width, height, &data))
    }

    /// Writes the GIF; returns its number of frames.
    fn finish(&self) -> Result<usize> {
        let writer = self
            .writer
            .lock()
            .map_err(|_| Error::runtime("this GIF writer failed earlier"))?
            .take()
            .ok_or_else(|| Error::usage("this GIF is already written"))?;
        writer.finish().map_err(|e| Error::Io {
            kind: std::io::ErrorKind::Other,
            message: e.to_string(),
        })
    }
}

impl GifWriter {
    fn with(&self, f: impl FnOnce(&mut deepq_plots::gif::GifWriter)) -> Result<()> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| Error::runtime("this GIF writer failed earlier"))?;
        let writer = guard
            .as_mut()
            .ok_or_else(|| Error::usage("this GIF is already written"))?;
        f(writer);
        Ok(())
    }
}
