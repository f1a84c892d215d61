//! `deepq`: train, evaluate, play and plot DQN agents from the command line.

#![warn(missing_docs)]

mod cli;
mod commands;
mod error;
mod observer;
mod settings;
mod tensorboard;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap explains at length; keep its first line, which names the bad value.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid command line");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see deepq --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Train(args) => commands::train::run(&args),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Play(args) => commands::play::run(&args),
        Command::Ablate(args) => commands::ablate::run(&args),
        Command::Aggregate(args) => commands::aggregate::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Plot(args) => commands::plot::run(&args),
        Command::Presets => commands::list::presets(),
        Command::Envs => commands::list::envs(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}
