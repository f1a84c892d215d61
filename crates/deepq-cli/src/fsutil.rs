//! File output that never leaves a half-written artifact behind.

use std::io::Write;
use std::path::Path;

use crate::error::{CliResult, Failure};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed
/// to disk, then renamed over the target. An interrupted write leaves the old file intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> CliResult<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail =
        |e: std::io::Error| Failure::Runtime(format!("cannot write '{}': {e}", path.display()));
    let mut builder = tempfile::Builder::new();
    // Temporary files are private by default; artifacts are ordinary files.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir).map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Reads a whole file, with an error naming it.
pub fn read(path: &Path) -> CliResult<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Failure::Runtime(format!("cannot read '{}': {e}", path.display())))
}

/// Serializes `value` as pretty JSON and writes it atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> CliResult<()> {
    let mut text = serde_json::to_string_pretty(value).expect("summaries serialize to JSON");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}
