//! The run directory: where one training run keeps its config, logs, model and plots. This is
//! the one definition of the format; both front ends use it — the `deepq` command writes and
//! reads runs through it, and the Python package (`deepq-py`) saves and loads models with it.
//!
//! Layout (a contract scripts rely on):
//!
//! | file | content |
//! |---|---|
//! | `config.toml` | the fully resolved config, flat TOML keys; an optional `# preset: NAME` first line and more `#` comment lines may head it |
//! | `episodes.csv` | [`EPISODES_HEADER`], one row per training episode |
//! | `train.csv` | [`TRAIN_HEADER`], every `log_interval` updates |
//! | `eval.csv` | [`EVAL_HEADER`] of the periodic greedy evaluations |
//! | `model.safetensors` | the Q-network ([`crate::QNetwork`]) or, for `algorithm = "tabular"`, the Q-table ([`crate::tabular::QTable`]) |
//! | `checkpoint/trainer.ckpt` | the trainer's full state (see [`crate::checkpoint`]): what `--resume` needs |
//! | `plots/` | returns with a rolling mean, ε, loss, evaluations |
//! | `summary.json` | the run summary ([`crate::summary::RunSummary`]: `env`, `preset`, `seed`, steps, final eval, `solved`, …) |
//! | `tensorboard/` | event files, when asked for |
//!
//! Every artifact is written atomically ([`write_atomic`]: a temporary file in the same
//! folder, flushed to disk, renamed over the target), so an interrupted write leaves the
//! previous file intact; CSV logs ([`CsvLog`]) are flushed per row. [`load_run`] reads a saved
//! run back: its config (text and parsed) and its model ([`Model`]).
//!
//! Failures are [`RunDirError`]s: one line naming the file, and a [`RunDirErrorKind`] the
//! front ends map to their exit codes or exception types.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::config::DqnConfig;
use crate::model::Model;

/// The config file.
pub const CONFIG_FILE: &str = "config.toml";
/// One row per training episode.
pub const EPISODES_FILE: &str = "episodes.csv";
/// Sampled loss and Q-values.
pub const TRAIN_FILE: &str = "train.csv";
/// Periodic greedy evaluations.
pub const EVAL_FILE: &str = "eval.csv";
/// The trained network or table.
pub const MODEL_FILE: &str = "model.safetensors";
/// The checkpoint folder.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// The checkpoint file, inside [`CHECKPOINT_DIR`].
pub const CHECKPOINT_FILE: &str = "trainer.ckpt";
/// The plots folder.
pub const PLOTS_DIR: &str = "plots";
/// The run summary.
pub const SUMMARY_FILE: &str = "summary.json";
/// TensorBoard event files.
pub const TENSORBOARD_DIR: &str = "tensorboard";

/// Column header of `episodes.csv`.
pub const EPISODES_HEADER: &str = "episode,step,return,length,epsilon,wall_s";
/// Column header of `train.csv`.
pub const TRAIN_HEADER: &str = "step,loss,mean_q,learning_rate";
/// Column header of `eval.csv`.
pub const EVAL_HEADER: &str = "step,mean,std,min,max";

/// The comment that starts a config file written from a preset: `# preset: NAME`.
pub const PRESET_COMMENT: &str = "# preset: ";

/// What kind of failure a [`RunDirError`] is, for the front ends to map to exit codes or
/// exception types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunDirErrorKind {
    /// The directory does not exist or is not a run (no `config.toml`): the caller named the
    /// wrong path.
    NotARun,
    /// A file operation failed, with the operating system's error kind.
    Io(io::ErrorKind),
    /// A file exists but its content is not what a run holds (corrupt or foreign), or the
    /// model does not fit the environment.
    Invalid,
    /// The path names an archive of another kind (an SB3 model, some other zip): the caller
    /// named the wrong file.
    Foreign,
}

/// Why a run directory could not be created, written or read. The message is one line and
/// names the path.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The directory does not exist.
    #[error("run directory '{}' does not exist", .0.display())]
    Missing(PathBuf),
    /// The directory exists but holds no `config.toml`.
    #[error("'{}' is not a deepq run directory (no config.toml)", .0.display())]
    NotARun(PathBuf),
    /// The path is a file (a model archive, say), where a run directory is needed.
    #[error("'{}' is a file, not a run directory", .0.display())]
    NotADirectory(PathBuf),
    /// A file operation failed: "cannot {action} '{path}': {source}".
    #[error("cannot {action} '{}': {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create run directory", …).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// `config.toml` is not UTF-8, not TOML, or has unknown keys or bad values.
    #[error("'{}' is not a valid run config: {reason}", path.display())]
    InvalidConfig {
        /// The config file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `model.safetensors` is neither a Q-network nor a Q-table.
    #[error("cannot load model '{}': {reason}", path.display())]
    InvalidModel {
        /// The model file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// A model archive ([`crate::archive`]) cannot be read: not a zip file, or damaged.
    #[error("cannot read archive '{}': {reason}", path.display())]
    InvalidArchive {
        /// The archive.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// A zip file that is not a deepq model archive.
    #[error("'{}' is {what}", path.display())]
    ForeignArchive {
        /// The archive.
        path: PathBuf,
        /// What it is, and what to do.
        what: String,
    },
    /// `summary.json` is not a run summary.
    #[error("'{}' is not a valid run summary: {reason}", path.display())]
    InvalidSummary {
        /// The summary file.
        path: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// The model's input or output size does not fit the run's environment.
    #[error(
        "model '{}' has layer sizes {} in, {} out, but {env} needs {} inputs and {} outputs",
        path.display(), has.0, has.1, needs.0, needs.1
    )]
    ModelMismatch {
        /// The model file.
        path: PathBuf,
        /// (inputs, outputs) of the model.
        has: (usize, usize),
        /// The environment id.
        env: String,
        /// (inputs, outputs) the environment needs.
        needs: (usize, usize),
    },
}

impl RunDirError {
    /// A failed file operation on `path`.
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        RunDirError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> RunDirErrorKind {
        match self {
            RunDirError::Missing(_) | RunDirError::NotARun(_) | RunDirError::NotADirectory(_) => {
                RunDirErrorKind::NotARun
            }
            RunDirError::Io { source, .. } => RunDirErrorKind::Io(source.kind()),
            RunDirError::InvalidConfig { .. }
            | RunDirError::InvalidModel { .. }
            | RunDirError::InvalidSummary { .. }
            | RunDirError::InvalidArchive { .. }
            | RunDirError::ModelMismatch { .. } => RunDirErrorKind::Invalid,
            RunDirError::ForeignArchive { .. } => RunDirErrorKind::Foreign,
        }
    }

    /// The directory or file the failure is about.
    pub fn path(&self) -> &Path {
        match self {
            RunDirError::Missing(path)
            | RunDirError::NotARun(path)
            | RunDirError::NotADirectory(path)
            | RunDirError::Io { path, .. }
            | RunDirError::InvalidConfig { path, .. }
            | RunDirError::InvalidModel { path, .. }
            | RunDirError::InvalidSummary { path, .. }
            | RunDirError::InvalidArchive { path, .. }
            | RunDirError::ForeignArchive { path, .. }
            | RunDirError::ModelMismatch { path, .. } => path,
        }
    }
}

/// Shorthand for results of run-directory operations.
pub type Result<T, E = RunDirError> = std::result::Result<T, E>;

/// A run directory on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// Creates the directory (and its parents) for a new run; the files and folders inside
    /// are created as they are written.
    pub fn create(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root)
            .map_err(|e| RunDirError::io("create run directory", root, e))?;
        Ok(RunDir::at(root))
    }

    /// Names a run directory without checking it (one this process just wrote).
    pub fn at(root: &Path) -> Self {
        RunDir {
            root: root.to_path_buf(),
        }
    }

    /// Opens an existing run; the error says whether the directory is missing or not a run.
    pub fn open(root: &Path) -> Result<Self> {
        if root.is_file() {
            return Err(RunDirError::NotADirectory(root.to_path_buf()));
        }
        if !root.is_dir() {
            return Err(RunDirError::Missing(root.to_path_buf()));
        }
        let run = RunDir::at(root);
        if !run.config().is_file() {
            return Err(RunDirError::NotARun(root.to_path_buf()));
        }
        Ok(run)
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The fully resolved config.
    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// One row per training episode.
    pub fn episodes_csv(&self) -> PathBuf {
        self.root.join(EPISODES_FILE)
    }

    /// Sampled loss and Q-values.
    pub fn train_csv(&self) -> PathBuf {
        self.root.join(TRAIN_FILE)
    }

    /// Periodic greedy evaluations.
    pub fn eval_csv(&self) -> PathBuf {
        self.root.join(EVAL_FILE)
    }

    /// The trained network or table.
    pub fn model(&self) -> PathBuf {
        self.root.join(MODEL_FILE)
    }

    /// The run summary.
    pub fn summary(&self) -> PathBuf {
        self.root.join(SUMMARY_FILE)
    }

    /// The latest checkpoint, from which a run resumes.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join(CHECKPOINT_DIR).join(CHECKPOINT_FILE)
    }

    /// TensorBoard event files.
    pub fn tensorboard(&self) -> PathBuf {
        self.root.join(TENSORBOARD_DIR)
    }

    /// The plots folder.
    pub fn plots(&self) -> PathBuf {
        self.root.join(PLOTS_DIR)
    }

    /// Writes `config.toml` atomically.
    pub fn write_config(&self, text: &str) -> Result<()> {
        write_atomic(&self.config(), text.as_bytes())
    }

    /// Writes `model.safetensors` atomically.
    pub fn write_model(&self, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.model(), bytes)
    }

    /// The text of `config.toml`, comment lines included; it must be UTF-8.
    pub fn read_config_text(&self) -> Result<String> {
        let path = self.config();
        String::from_utf8(read_file(&path)?).map_err(|_| RunDirError::InvalidConfig {
            path,
            reason: "not UTF-8 text".into(),
        })
    }

    /// The run's config, parsed from `config.toml` over the library defaults, and its text.
    pub fn read_config(&self) -> Result<(DqnConfig, String)> {
        let text = self.read_config_text()?;
        let config = parse_config(&text).map_err(|reason| RunDirError::InvalidConfig {
            path: self.config(),
            reason,
        })?;
        Ok((config, text))
    }

    /// The saved model, a Q-network or a Q-table.
    pub fn read_model(&self) -> Result<Model> {
        let path = self.model();
        let bytes = read_file(&path)?;
        Model::from_safetensors(&bytes).map_err(|reason| RunDirError::InvalidModel { path, reason })
    }
}

/// The text of a run's `config.toml`: `# preset: NAME` (when the run started from a preset),
/// then the config as flat TOML.
pub fn config_text(config: &DqnConfig, preset: Option<&str>) -> String {
    match preset {
        Some(name) => format!("{PRESET_COMMENT}{name}\n{}", config.to_toml()),
        None => config.to_toml(),
    }
}

/// The preset a config text records on its first line, if any.
pub fn preset_of(config_text: &str) -> Option<&str> {
    config_text.lines().next()?.strip_prefix(PRESET_COMMENT)
}

/// Parses the flat TOML of a run's `config.toml` (comment lines are TOML comments) on top of
/// [`DqnConfig::default`]. Only the keys are checked here, not the relations
/// [`DqnConfig::validate`] checks, so any config a run was saved with loads back.
pub fn parse_config(text: &str) -> Result<DqnConfig, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        format!("invalid TOML: {}", e.message().lines().next().unwrap_or(""))
    })?;
    let mut config = DqnConfig::default();
    config.apply_toml(&table).map_err(|e| e.to_string())?;
    Ok(config)
}

/// A saved run: where it is, its config and its model.
#[derive(Clone, Debug)]
pub struct LoadedRun {
    /// The run directory.
    pub dir: RunDir,
    /// The config, parsed from `config_text`.
    pub config: DqnConfig,
    /// The text of `config.toml`, with its comment lines (`# preset: NAME`, …).
    pub config_text: String,
    /// The trained model.
    pub model: Model,
}

impl LoadedRun {
    /// The preset the run started from, as its config records it.
    pub fn preset(&self) -> Option<&str> {
        preset_of(&self.config_text)
    }

    /// Checks that the model takes `inputs` (the env's flat observation size) and returns
    /// `outputs` (its number of actions), as the run's env needs.
    pub fn check_fits(&self, inputs: usize, outputs: usize) -> Result<()> {
        let has = self.model.shape();
        if has == (inputs, outputs) {
            return Ok(());
        }
        Err(RunDirError::ModelMismatch {
            path: self.dir.model(),
            has,
            env: self.config.run.env.clone(),
            needs: (inputs, outputs),
        })
    }
}

/// Opens the run at `path` and reads its config and model. The errors name the problem: a
/// missing directory, one that is not a run, an unreadable file, an invalid config, a corrupt
/// model. A file, or a missing `path` beside `path.zip`, is read as a model archive
/// ([`crate::archive`]).
pub fn load_run(path: &Path) -> Result<LoadedRun> {
    if let Some(file) = crate::archive::archive_path(path) {
        return crate::archive::load_archive(&file);
    }
    let dir = RunDir::open(path)?;
    let (config, config_text) = dir.read_config()?;
    let model = dir.read_model()?;
    Ok(LoadedRun {
        dir,
        config,
        config_text,
        model,
    })
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, flushed
/// to disk, then renamed over the target. An interrupted write leaves the old file intact.
/// The file gets ordinary permissions (0o644 on Unix), not a temporary file's private ones.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: io::Error| RunDirError::io("write", path, e);
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut tmp = builder.tempfile_in(dir).map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Reads a whole file, with an error naming it.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| RunDirError::io("read", path, e))
}

/// Serializes `value` as pretty JSON (with a final newline) and writes it atomically.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).expect("summaries serialize to JSON");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// An append-only CSV log, flushed after every row so a killed run keeps its history.
pub struct CsvLog {
    out: BufWriter<File>,
    path: PathBuf,
}

impl CsvLog {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: PathBuf, header: &str) -> Result<Self> {
        Self::open(path, header, None)
    }

    /// Opens the log of a run resuming at `step`: rows logged after that step (by a session
    /// that died after its last checkpoint) are dropped, since the resumed run logs them again.
    pub fn resume(path: PathBuf, header: &str, step: u64) -> Result<Self> {
        Self::open(path, header, Some(step))
    }

    fn open(path: PathBuf, header: &str, keep_until: Option<u64>) -> Result<Self> {
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
        let file = File::create(&path).map_err(|e| RunDirError::io("create", &path, e))?;
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
    pub fn line(&mut self, row: std::fmt::Arguments<'_>) -> Result<()> {
        writeln!(self.out, "{row}")
            .and_then(|()| self.out.flush())
            .map_err(|e| RunDirError::io("write", &self.path, e))
    }
}

/// Reads a CSV written by [`CsvLog`] into its header and numeric columns; malformed rows (a
/// partial last line of a killed run) are skipped.
pub fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<f64>>)> {
    let text = String::from_utf8_lossy(&read_file(path)?).into_owned();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QNetwork;
    use crate::config::OptimizerSettings;
    use crate::tabular::QTable;

    fn saved_run(dir: &Path, preset: Option<&str>, model: &[u8]) -> RunDir {
        let run = RunDir::create(dir).unwrap();
        run.write_config(&config_text(&DqnConfig::default(), preset))
            .unwrap();
        run.write_model(model).unwrap();
        run
    }

    fn network() -> QNetwork {
        let mut rng = <rand_pcg::Pcg64 as rand::SeedableRng>::seed_from_u64(3);
        QNetwork::F32(deepq_nn::Mlp::new(&[4, 8, 2], &mut rng))
    }

    #[test]
    fn atomic_writes_replace_files_and_leave_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        write_atomic(&path, b"gamma = 0.9\n").unwrap();
        write_atomic(&path, b"gamma = 0.5\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "gamma = 0.5\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.toml"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn writing_into_a_missing_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("model.safetensors");
        let e = write_atomic(&path, b"x").unwrap_err();
        assert_eq!(e.kind(), RunDirErrorKind::Io(io::ErrorKind::NotFound));
        assert_eq!(e.path(), path);
        let message = e.to_string();
        assert!(message.starts_with("cannot write '") && message.contains("model.safetensors"));
    }

    #[test]
    fn missing_directories_and_non_runs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nowhere");
        let e = load_run(&missing).unwrap_err();
        assert_eq!(e.kind(), RunDirErrorKind::NotARun);
        assert_eq!(
            e.to_string(),
            format!("run directory '{}' does not exist", missing.display())
        );
        let e = RunDir::open(dir.path()).unwrap_err();
        assert_eq!(e.kind(), RunDirErrorKind::NotARun);
        assert_eq!(
            e.to_string(),
            format!(
                "'{}' is not a deepq run directory (no config.toml)",
                dir.path().display()
            )
        );
    }

    #[test]
    fn a_saved_network_loads_back_with_its_config() {
        let dir = tempfile::tempdir().unwrap();
        let net = network();
        saved_run(dir.path(), Some("default"), &net.to_safetensors());
        let loaded = load_run(dir.path()).unwrap();
        assert_eq!(loaded.config, DqnConfig::default());
        assert_eq!(loaded.preset(), Some("default"));
        assert!(loaded.config_text.starts_with("# preset: default\n"));
        let Model::Network(back) = &loaded.model else {
            panic!("not a network")
        };
        assert_eq!(back.to_safetensors(), net.to_safetensors());
        assert_eq!(loaded.model.shape(), (4, 2));
        let obs = [0.1, -0.2, 0.3, 0.05];
        assert_eq!(
            loaded.model.greedy_policy()(&obs),
            net.greedy_policy()(&obs)
        );
        loaded.check_fits(4, 2).unwrap();
        let e = loaded.check_fits(6, 3).unwrap_err();
        assert_eq!(e.kind(), RunDirErrorKind::Invalid);
        assert!(
            e.to_string()
                .contains("has layer sizes 4 in, 2 out, but CartPole-v1")
        );
    }

    #[test]
    fn a_saved_table_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let table = QTable::zeros(16, 4);
        saved_run(dir.path(), None, &table.to_safetensors());
        let loaded = load_run(dir.path()).unwrap();
        assert_eq!(loaded.preset(), None);
        let Model::Table(back) = &loaded.model else {
            panic!("not a table")
        };
        assert_eq!(back, &table);
        assert_eq!(loaded.model.shape(), (16, 4));
        let mut one_hot = [0.0; 16];
        one_hot[5] = 1.0;
        assert_eq!(loaded.model.greedy_policy()(&one_hot), 0);
    }

    #[test]
    fn corrupt_or_missing_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = saved_run(
            dir.path(),
            None,
            b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!",
        );
        let e = load_run(dir.path()).unwrap_err();
        assert_eq!(e.kind(), RunDirErrorKind::Invalid);
        assert_eq!(e.path(), run.model());
        assert!(
            e.to_string()
                .starts_with(&format!("cannot load model '{}': ", run.model().display()))
        );

        std::fs::remove_file(run.model()).unwrap();
        let e = load_run(dir.path()).unwrap_err();
        assert_eq!(e.kind(), RunDirErrorKind::Io(io::ErrorKind::NotFound));
        assert!(e.to_string().starts_with("cannot read '") && e.to_string().contains(MODEL_FILE));

        std::fs::write(run.config(), "gama = 0.9\n").unwrap();
        let e = load_run(dir.path()).unwrap_err();
        assert_eq!(e.kind(), RunDirErrorKind::Invalid);
        assert!(e.to_string().contains("is not a valid run config: "));
        assert!(e.to_string().contains("did you mean 'gamma'"));
        std::fs::write(run.config(), [0xff, 0xfe]).unwrap();
        let e = load_run(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("is not a valid run config: not UTF-8 text")
        );
        std::fs::write(run.config(), "gamma = ").unwrap();
        let e = load_run(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .contains("is not a valid run config: invalid TOML")
        );
    }

    #[test]
    fn config_texts_round_trip_with_their_preset() {
        let cfg = DqnConfig {
            optimizer: OptimizerSettings {
                learning_rate: 2e-3,
                ..OptimizerSettings::default()
            },
            ..DqnConfig::default()
        };
        let text = config_text(&cfg, Some("cartpole"));
        assert_eq!(text, format!("# preset: cartpole\n{}", cfg.to_toml()));
        assert_eq!(preset_of(&text), Some("cartpole"));
        assert_eq!(parse_config(&text).unwrap(), cfg);
        assert_eq!(config_text(&cfg, None), cfg.to_toml());
        assert_eq!(
            preset_of("# observation_space: Box(4,)\ngamma = 0.9\n"),
            None
        );
    }

    #[test]
    fn resumed_logs_drop_rows_past_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EPISODES_FILE);
        let mut log = CsvLog::create(path.clone(), EPISODES_HEADER).unwrap();
        for (episode, step) in [(1, 10), (2, 20), (3, 30)] {
            log.line(format_args!("{episode},{step},1,10,0.5,0.1"))
                .unwrap();
        }
        drop(log);
        std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + "4,40,1,1").unwrap();
        drop(CsvLog::resume(path.clone(), EPISODES_HEADER, 20).unwrap());
        let (header, columns) = read_csv(&path).unwrap();
        assert_eq!(header.join(","), EPISODES_HEADER);
        assert_eq!(columns[1], [10.0, 20.0]);
    }
}
