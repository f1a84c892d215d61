//! The run directory: where one training run keeps its config, logs, model and plots.
//!
//! Layout (a contract scripts rely on):
//! `config.toml`, `episodes.csv`, `train.csv`, `eval.csv`, `model.safetensors`,
//! `checkpoint/`, `plots/`, `summary.json`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{CliResult, Failure};

/// Column header of `episodes.csv`.
pub const EPISODES_HEADER: &str = "episode,step,return,length,epsilon,wall_s";
/// Column header of `train.csv`.
pub const TRAIN_HEADER: &str = "step,loss,mean_q,learning_rate";
/// Column header of `eval.csv`.
pub const EVAL_HEADER: &str = "step,mean,std,min,max";

/// A run directory on disk.
#[derive(Clone, Debug)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Creates the directory (and its parents) for a new run.
    pub fn create(root: &Path) -> CliResult<Self> {
        std::fs::create_dir_all(root.join("plots")).map_err(|e| {
            Failure::Runtime(format!(
                "cannot create run directory '{}': {e}",
                root.display()
            ))
        })?;
        Ok(RunDir {
            root: root.to_path_buf(),
        })
    }

    /// Names a run directory without checking it (one this process just wrote).
    pub fn at(root: &Path) -> Self {
        RunDir {
            root: root.to_path_buf(),
        }
    }

    /// Opens an existing run; the error says whether the directory is missing or not a run.
    pub fn open(root: &Path) -> CliResult<Self> {
        if !root.is_dir() {
            return Err(Failure::Usage(format!(
                "run directory '{}' does not exist",
                root.display()
            )));
        }
        let run = RunDir {
            root: root.to_path_buf(),
        };
        if !run.config().is_file() {
            return Err(Failure::Usage(format!(
                "'{}' is not a deepq run directory (no config.toml)",
                root.display()
            )));
        }
        Ok(run)
    }

    /// The fully resolved config.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// One row per training episode.
    pub fn episodes_csv(&self) -> PathBuf {
        self.root.join("episodes.csv")
    }

    /// Sampled loss and Q-values.
    pub fn train_csv(&self) -> PathBuf {
        self.root.join("train.csv")
    }

    /// Periodic greedy evaluations.
    pub fn eval_csv(&self) -> PathBuf {
        self.root.join("eval.csv")
    }

    /// The trained network.
    pub fn model(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }

    /// The run summary.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }

    /// The latest checkpoint, from which `deepq train --resume` continues.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoint").join("trainer.ckpt")
    }

    /// TensorBoard event files (with `--tensorboard`).
    pub fn tensorboard(&self) -> PathBuf {
        self.root.join("tensorboard")
    }

    /// The plots folder.
    pub fn plots(&self) -> PathBuf {
        self.root.join("plots")
    }
}

/// An append-only CSV log, flushed after every row so a killed run keeps its history.
pub struct CsvLog {
    out: BufWriter<File>,
    path: PathBuf,
}

impl CsvLog {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: PathBuf, header: &str) -> CliResult<Self> {
        Self::open(path, header, None)
    }

    /// Opens the log of a run resuming at `step`: rows logged after that step (by a session
    /// that died after its last checkpoint) are dropped, since the resumed run logs them again.
    pub fn resume(path: PathBuf, header: &str, step: u64) -> CliResult<Self> {
        Self::open(path, header, Some(step))
    }

    fn open(path: PathBuf, header: &str, keep_until: Option<u64>) -> CliResult<Self> {
        // The step is the first column, except in episodes.csv where it follows `episode`.
        let step_column = usize::from(header.starts_with("episode,"));
        let columns = header.split(',').count();
        let kept: Vec<String> = match keep_until {
            None => Vec::new(),
            Some(step) => std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter(|line| {
                    let cells: Vec<&str> = line.split(',').collect();
                    cells.len() == columns
                        && cells[step_column].parse::<u64>().is_ok_and(|s| s <= step)
                })
                .map(str::to_string)
                .collect(),
        };
        let file = File::create(&path)
            .map_err(|e| Failure::Runtime(format!("cannot create '{}': {e}", path.display())))?;
        let mut log = CsvLog {
            out: BufWriter::new(file),
            path,
        };
        log.line(format_args!("{header}"))?;
        for row in &kept {
            log.line(format_args!("{row}"))?;
        }
        Ok(log)
    }

    /// Appends one row.
    pub fn line(&mut self, row: std::fmt::Arguments<'_>) -> CliResult<()> {
        writeln!(self.out, "{row}")
            .and_then(|()| self.out.flush())
            .map_err(|e| Failure::Runtime(format!("cannot write '{}': {e}", self.path.display())))
    }
}

/// Reads a CSV written by [`CsvLog`] into numeric columns keyed by header name.
pub fn read_csv(path: &Path) -> CliResult<(Vec<String>, Vec<Vec<f64>>)> {
    let text = String::from_utf8_lossy(&crate::fsutil::read(path)?).into_owned();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect();
    let mut columns = vec![Vec::new(); header.len()];
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        // A run killed mid-write may leave a partial last line: skip anything malformed.
        if cells.len() != header.len() {
            continue;
        }
        let parsed: Option<Vec<f64>> = cells.iter().map(|c| c.parse().ok()).collect();
        if let Some(values) = parsed {
            for (col, v) in columns.iter_mut().zip(values) {
                col.push(v);
            }
        }
    }
    Ok((header, columns))
}
