//! Model archives: a saved model's two run-directory files, `config.toml` and
//! `model.safetensors`, in one zip file, as the Python package's `model.save("name")` writes
//! them (`name.zip`, Stable-Baselines3's naming) and `deepq eval`/`play --run` read them.
//!
//! The archive is written atomically, deflated, with every entry dated 1980-01-01 (zip's
//! epoch), so the same model always gives the same bytes. SB3's own zips (PyTorch pickles)
//! and other archives are refused with a message naming what the file is.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::model::Model;
use crate::run_dir::{
    CONFIG_FILE, LoadedRun, MODEL_FILE, Result, RunDir, RunDirError, parse_config, read_file,
    write_atomic,
};

/// The archive `path` names: the file itself, or `path.zip` when only that exists (SB3's
/// `load("name")` finds `name.zip`); `None` when `path` is a directory or nothing is there.
pub fn archive_path(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    if path.exists() {
        return None;
    }
    let mut zipped = path.as_os_str().to_owned();
    zipped.push(".zip");
    let zipped = PathBuf::from(zipped);
    zipped.is_file().then_some(zipped)
}

/// Writes `config_text` and `model` as an archive at `path`, atomically.
pub fn write_archive(path: &Path, config_text: &str, model: &[u8]) -> Result<()> {
    let fail = |e: zip::result::ZipError| {
        RunDirError::io("write", path, std::io::Error::other(e.to_string()))
    };
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default());
    for (name, bytes) in [(CONFIG_FILE, config_text.as_bytes()), (MODEL_FILE, model)] {
        writer.start_file(name, options).map_err(fail)?;
        writer
            .write_all(bytes)
            .map_err(|e| RunDirError::io("write", path, e))?;
    }
    let bytes = writer.finish().map_err(fail)?.into_inner();
    // As SB3's save does, the archive's directory is made when missing.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| RunDirError::io("create", parent, e))?;
    }
    write_atomic(path, &bytes)
}

/// Reads the archive at `file`: its config (text and parsed) and its model.
pub fn load_archive(file: &Path) -> Result<LoadedRun> {
    let bytes = read_file(file)?;
    let damaged = |reason: String| RunDirError::InvalidArchive {
        path: file.to_path_buf(),
        reason,
    };
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| damaged(e.to_string()))?;
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|e| damaged(e.to_string()))?;
    let has = |name: &str| names.iter().any(|n| n == name);
    if has("data") && has("policy.pth") {
        return Err(RunDirError::ForeignArchive {
            path: file.to_path_buf(),
            what: "a Stable-Baselines3 model (PyTorch pickles), which deepq does not read; \
                   train it with deepq, or copy its weights with get_parameters()/set_parameters()"
                .into(),
        });
    }
    let missing: Vec<&str> = [CONFIG_FILE, MODEL_FILE]
        .into_iter()
        .filter(|name| !has(name))
        .collect();
    if !missing.is_empty() {
        return Err(RunDirError::ForeignArchive {
            path: file.to_path_buf(),
            what: format!("not a deepq model: it lacks {}", missing.join(" and ")),
        });
    }
    let mut entry = |name: &str| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        archive
            .by_name(name)
            .map_err(|e| damaged(e.to_string()))?
            .read_to_end(&mut out)
            .map_err(|e| damaged(format!("{name}: {e}")))?;
        Ok(out)
    };
    let config_bytes = entry(CONFIG_FILE)?;
    let model_bytes = entry(MODEL_FILE)?;
    let dir = RunDir::at(file);
    let config_text = String::from_utf8(config_bytes).map_err(|_| RunDirError::InvalidConfig {
        path: dir.config(),
        reason: "not UTF-8 text".into(),
    })?;
    let config = parse_config(&config_text).map_err(|reason| RunDirError::InvalidConfig {
        path: dir.config(),
        reason,
    })?;
    let model =
        Model::from_safetensors(&model_bytes).map_err(|reason| RunDirError::InvalidModel {
            path: dir.model(),
            reason,
        })?;
    Ok(LoadedRun {
        dir,
        config,
        config_text,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DqnConfig;
    use crate::rng::{Stream, stream_rng};
    use crate::run_dir::{RunDirErrorKind, load_run};

    fn model_bytes() -> Vec<u8> {
        let mlp = deepq_nn::Mlp::<f32>::new(&[4, 8, 2], &mut stream_rng(0, Stream::Init));
        deepq_nn::to_safetensors(&mlp)
    }

    #[test]
    fn an_archive_loads_as_its_run_directory_would() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("# preset: default\n{}", DqnConfig::default().to_toml());
        let model = model_bytes();
        let path = dir.path().join("m.zip");
        write_archive(&path, &text, &model).unwrap();
        let first = std::fs::read(&path).unwrap();
        write_archive(&path, &text, &model).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            first,
            "the same model, the same bytes"
        );
        // `load_run` reads it, by its name or without the suffix (SB3's load("name")).
        for named in [path.clone(), dir.path().join("m")] {
            let loaded = load_run(&named).unwrap();
            assert_eq!(loaded.config_text, text);
            assert_eq!(loaded.preset(), Some("default"));
            assert_eq!(loaded.model.to_safetensors(), model);
        }
        // A missing directory is made, as SB3's save makes it.
        let nested = dir.path().join("runs/cartpole.zip");
        write_archive(&nested, &text, &model).unwrap();
        assert_eq!(std::fs::read(&nested).unwrap(), first);
    }

    #[test]
    fn foreign_and_damaged_archives_are_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let write_zip = |name: &str, entries: &[&str]| {
            let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
            for entry in entries {
                writer
                    .start_file(*entry, SimpleFileOptions::default())
                    .unwrap();
                writer.write_all(b"x").unwrap();
            }
            let path = dir.path().join(name);
            std::fs::write(&path, writer.finish().unwrap().into_inner()).unwrap();
            path
        };
        let sb3 = write_zip("sb3.zip", &["data", "policy.pth", "pytorch_variables.pth"]);
        let e = load_run(&sb3).unwrap_err();
        assert_eq!(e.kind(), RunDirErrorKind::Foreign);
        assert!(
            e.to_string().contains("is a Stable-Baselines3 model"),
            "{e}"
        );
        let other = write_zip("other.zip", &["config.toml"]);
        let e = load_run(&other).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("is not a deepq model: it lacks model.safetensors"),
            "{e}"
        );
        let damaged = dir.path().join("damaged.zip");
        std::fs::write(&damaged, b"PK\x03\x04 not really a zip").unwrap();
        let e = load_run(&damaged).unwrap_err();
        assert_eq!(e.kind(), RunDirErrorKind::Invalid);
        assert!(e.to_string().starts_with("cannot read archive '"), "{e}");
        assert!(!e.to_string().contains('\n'));
    }
}
