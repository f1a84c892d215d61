//! Episodes as animated GIFs, for `deepq play` and `python -m deepq play`.

use std::path::{Path, PathBuf};

use deepq::run_dir::write_atomic;

/// Why a GIF could not be made; one line naming the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot write GIF '{}': {reason}", path.display())]
pub struct GifError {
    path: PathBuf,
    reason: String,
}

/// Encodes frames into a looping GIF as they come (so a long episode is held compressed,
/// not as raw frames) and writes it atomically when finished.
pub struct GifWriter {
    path: PathBuf,
    /// Frame delay in 1/100 s, GIF's unit.
    delay: u16,
    encoder: Option<gif::Encoder<Vec<u8>>>,
    frames: usize,
    /// The first encoding error; later frames are skipped.
    error: Option<String>,
}

impl GifWriter {
    /// A GIF at `fps` frames per second, to be written to `path`.
    pub fn new(path: &Path, fps: u32) -> Self {
        GifWriter {
            path: path.to_path_buf(),
            delay: (100 / fps.max(1)).max(2) as u16,
            encoder: None,
            frames: 0,
            error: None,
        }
    }

    /// Appends a frame of `width × height` RGB pixels, row by row from the top; every frame
    /// has the first one's size.
    pub fn add(&mut self, width: u32, height: u32, rgb: &[u8]) {
        if self.error.is_none()
            && let Err(e) = self.encode(width, height, rgb)
        {
            self.error = Some(e);
        }
    }

    fn encode(&mut self, width: u32, height: u32, rgb: &[u8]) -> Result<(), String> {
        let w = u16::try_from(width).map_err(|_| "frame too wide".to_string())?;
        let h = u16::try_from(height).map_err(|_| "frame too tall".to_string())?;
        if rgb.len() != usize::from(w) * usize::from(h) * 3 {
            return Err(format!(
                "a frame of {width}×{height} pixels needs {} bytes, not {}",
                usize::from(w) * usize::from(h) * 3,
                rgb.len()
            ));
        }
        let encoder = match &mut self.encoder {
            Some(encoder) => encoder,
            None => {
                let mut encoder =
                    gif::Encoder::new(Vec::new(), w, h, &[]).map_err(|e| e.to_string())?;
                encoder
                    .set_repeat(gif::Repeat::Infinite)
                    .map_err(|e| e.to_string())?;
                self.encoder.insert(encoder)
            }
        };
        // Speed 30 is the fastest quantizer; the env pictures have few colours.
        let mut gif_frame = gif::Frame::from_rgb_speed(w, h, rgb, 30);
        gif_frame.delay = self.delay;
        encoder.write_frame(&gif_frame).map_err(|e| e.to_string())?;
        self.frames += 1;
        Ok(())
    }

    /// Writes the GIF; returns its number of frames.
    pub fn finish(self) -> Result<usize, GifError> {
        let fail = |reason: String| GifError {
            path: self.path.clone(),
            reason,
        };
        if let Some(e) = self.error.clone() {
            return Err(fail(e));
        }
        let encoder = self.encoder.ok_or_else(|| fail("no frames".into()))?;
        let bytes = encoder.into_inner().map_err(|e| fail(e.to_string()))?;
        write_atomic(&self.path, &bytes).map_err(|e| fail(e.to_string()))?;
        Ok(self.frames)
    }
}
