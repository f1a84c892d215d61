//! How a command fails: one line for the user, and the exit code scripts rely on.

use std::fmt;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue};

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

impl Failure {
    /// A command-line error from clap as one line: clap's message with its list items
    /// inline, its "did you mean" suggestion, and a pointer to the help of `command`, the
    /// (sub)command that was being parsed, e.g. `deepq eval`.
    pub fn command_line(e: &clap::Error, command: &str) -> Self {
        let rendered = e.render().to_string();
        // clap's first paragraph is the message; usage and tips follow after blank lines.
        let message = rendered.split("\n\n").next().unwrap_or_default();
        let message = message.strip_prefix("error: ").unwrap_or(message);
        let mut lines = message.lines();
        let head = lines.next().unwrap_or("invalid command line");
        let items: Vec<&str> = lines.map(str::trim).collect();
        let mut line = match items.as_slice() {
            [] => head.to_string(),
            // "the following required arguments were not provided:" and its indented list.
            _ if head.ends_with(':') => format!("{head} {}", items.join(", ")),
            // "invalid value 'x' for '--format'" and its "[possible values: …]".
            _ => format!("{head} {}", items.join(" ")),
        };
        let suggestion = [
            ContextKind::SuggestedArg,
            ContextKind::SuggestedSubcommand,
            ContextKind::SuggestedValue,
        ]
        .into_iter()
        .find_map(|kind| e.get(kind));
        let suggested: Vec<String> = match suggestion {
            Some(ContextValue::String(name)) => vec![format!("'{name}'")],
            Some(ContextValue::Strings(names)) => names.iter().map(|n| format!("'{n}'")).collect(),
            _ => Vec::new(),
        };
        if !suggested.is_empty() {
            line += &format!("; did you mean {}?", suggested.join(" or "));
        }
        Failure::Usage(format!("{line} (see {command} --help)"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Failure::Usage(m) | Failure::Runtime(m) | Failure::Interrupted(m)) = self;
        // One line, whatever the source error held.
        f.write_str(&m.replace('\n', " "))
    }
}

impl From<deepq::tensorboard::TensorboardError> for Failure {
    fn from(e: deepq::tensorboard::TensorboardError) -> Self {
        Failure::Runtime(e.to_string())
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
    /// A missing directory, one that is not a run, or a foreign archive is a usage error (the
    /// path was wrong); unreadable, unwritable and corrupt files are runtime failures.
    fn from(e: deepq::run_dir::RunDirError) -> Self {
        match e.kind() {
            deepq::run_dir::RunDirErrorKind::NotARun | deepq::run_dir::RunDirErrorKind::Foreign => {
                Failure::Usage(e.to_string())
            }
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
