//! How failures reach Python: the library's one-line message, raised as the exception class
//! that fits the kind of failure. The split follows the CLI's exit codes: what the CLI calls a
//! usage or configuration error is a `ValueError`, what it calls a runtime failure is a
//! `RuntimeError`, and failed file operations are `OSError`s (`FileNotFoundError`,
//! `PermissionError`, …). Exceptions raised by Python code that deepq calls (a Gymnasium
//! environment, a callback) propagate unchanged.

use std::io;
use std::path::Path;

use deepq::envs::EnvError;
use deepq::run_dir::{RunDirError, RunDirErrorKind};
use deepq::{ConfigError, TrainError};
use pyo3::PyErr;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyNotADirectoryError, PyOSError,
    PyPermissionError, PyRuntimeError, PyValueError,
};

/// A failure of a call into the native module.
#[derive(Debug)]
pub enum Error {
    /// A bad argument or configuration (`ValueError`).
    Usage(String),
    /// A failure while running, e.g. divergence or an unreadable model (`RuntimeError`).
    Runtime(String),
    /// A file operation failed (an `OSError` subclass chosen by `kind`).
    Io {
        /// The operating system's error kind.
        kind: io::ErrorKind,
        /// The one-line message, naming the file.
        message: String,
    },
    /// An exception raised by Python code deepq called, re-raised as it is.
    Python(PyErr),
}

/// The result type of the native module's functions.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A usage or configuration error.
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// A runtime failure.
    pub fn runtime(message: impl Into<String>) -> Self {
        Error::Runtime(message.into())
    }

    /// A failed file operation: "cannot {action} '{path}': {error}".
    pub fn io(action: &str, path: &Path, error: &io::Error) -> Self {
        Error::Io {
            kind: error.kind(),
            message: format!("cannot {action} '{}': {error}", path.display()),
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Usage(e.to_string())
    }
}

impl From<EnvError> for Error {
    fn from(e: EnvError) -> Self {
        Error::Usage(e.to_string())
    }
}

impl From<TrainError> for Error {
    fn from(e: TrainError) -> Self {
        match e {
            TrainError::Config(e) => e.into(),
            TrainError::Env(e) => e.into(),
            e @ (TrainError::FixedKey(_) | TrainError::CannotContinue(_)) => {
                Error::usage(e.to_string())
            }
            other => Error::Runtime(other.to_string()),
        }
    }
}

impl From<RunDirError> for Error {
    /// A missing directory or one that is not a run is a `FileNotFoundError`, a failed file
    /// operation the `OSError` of its kind, a corrupt file a `RuntimeError`.
    fn from(e: RunDirError) -> Self {
        let message = e.to_string();
        match e.kind() {
            RunDirErrorKind::NotARun => Error::Io {
                kind: io::ErrorKind::NotFound,
                message,
            },
            RunDirErrorKind::Io(kind) => Error::Io { kind, message },
            RunDirErrorKind::Invalid => Error::Runtime(message),
            RunDirErrorKind::Foreign => Error::usage(message),
        }
    }
}

impl From<deepq_plots::PlotError> for Error {
    fn from(e: deepq_plots::PlotError) -> Self {
        match e {
            deepq_plots::PlotError::RunDir(e) => e.into(),
            other => Error::Runtime(other.to_string()),
        }
    }
}

impl From<deepq::summary::AggregateError> for Error {
    /// Runs that do not belong together are a `ValueError`; file failures as for run
    /// directories.
    fn from(e: deepq::summary::AggregateError) -> Self {
        match e {
            deepq::summary::AggregateError::RunDir(e) => e.into(),
            other => Error::Usage(other.to_string()),
        }
    }
}

impl From<PyErr> for Error {
    fn from(e: PyErr) -> Self {
        Error::Python(e)
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> Self {
        match e {
            Error::Usage(m) => PyValueError::new_err(m),
            Error::Runtime(m) => PyRuntimeError::new_err(m),
            Error::Io { kind, message } => match kind {
                io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
                io::ErrorKind::AlreadyExists => PyFileExistsError::new_err(message),
                io::ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
                io::ErrorKind::NotADirectory => PyNotADirectoryError::new_err(message),
                _ => PyOSError::new_err(message),
            },
            Error::Python(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_errors_keep_their_category_and_message() {
        let config = Error::from(TrainError::Config(ConfigError(
            "invalid value 2 for 'gamma'".into(),
        )));
        assert!(matches!(&config, Error::Usage(m) if m == "invalid value 2 for 'gamma'"));
        let diverged = Error::from(TrainError::Diverged {
            step: 7,
            loss: f64::NAN,
        });
        assert!(
            matches!(&diverged, Error::Runtime(m) if m.starts_with("training diverged at step 7"))
        );
    }

    #[test]
    fn io_errors_name_the_file() {
        let e = io::Error::new(io::ErrorKind::NotFound, "No such file or directory");
        let Error::Io { kind, message } = Error::io("read", Path::new("run/config.toml"), &e)
        else {
            panic!("not an I/O error")
        };
        assert_eq!(kind, io::ErrorKind::NotFound);
        assert_eq!(
            message,
            "cannot read 'run/config.toml': No such file or directory"
        );
    }
}
