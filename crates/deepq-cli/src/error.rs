//! How a command fails: one line for the user, and the exit code scripts rely on.

use std::fmt;
use std::process::ExitCode;

/// A failed command. Usage and config errors exit with 2, runtime failures with 1.
#[derive(Debug)]
pub enum Failure {
    /// The command line or configuration was wrong.
    Usage(String),
    /// Something went wrong while running (I/O, a corrupt file, divergence).
    Runtime(String),
    /// Training was interrupted by Ctrl-C after saving its state.
    Interrupted(String),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Usage(_) => 2,
            Failure::Runtime(_) => 1,
            Failure::Interrupted(_) => 130,
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Failure::Usage(m) | Failure::Runtime(m) | Failure::Interrupted(m)) = self;
        // One line, whatever the source error held.
        f.write_str(&m.replace('\n', " "))
    }
}

impl From<deepq::ConfigError> for Failure {
    fn from(e: deepq::ConfigError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<deepq::envs::EnvError> for Failure {
    fn from(e: deepq::envs::EnvError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<deepq::TrainError> for Failure {
    fn from(e: deepq::TrainError) -> Self {
        match e {
            deepq::TrainError::Config(e) => e.into(),
            deepq::TrainError::Env(e) => e.into(),
            other => Failure::Runtime(other.to_string()),
        }
    }
}

impl From<deepq::run_dir::RunDirError> for Failure {
    /// A missing directory or one that is not a run is a usage error (the path was wrong);
    /// unreadable, unwritable and corrupt files are runtime failures.
    fn from(e: deepq::run_dir::RunDirError) -> Self {
        match e.kind() {
            deepq::run_dir::RunDirErrorKind::NotARun => Failure::Usage(e.to_string()),
            _ => Failure::Runtime(e.to_string()),
        }
    }
}

impl From<deepq_plots::PlotError> for Failure {
    fn from(e: deepq_plots::PlotError) -> Self {
        match e {
            deepq_plots::PlotError::RunDir(e) => e.into(),
            other => Failure::Runtime(other.to_string()),
        }
    }
}

impl From<deepq::summary::AggregateError> for Failure {
    /// Runs that cannot be read or do not belong together were named wrongly (usage);
    /// unreadable and corrupt files are runtime failures.
    fn from(e: deepq::summary::AggregateError) -> Self {
        match e {
            deepq::summary::AggregateError::RunDir(e) => e.into(),
            other => Failure::Usage(other.to_string()),
        }
    }
}

/// Shorthand for results of CLI commands.
pub type CliResult<T> = Result<T, Failure>;
