//! `deepq`: train, evaluate, play and plot DQN agents from the command line.

#![warn(missing_docs)]

mod cli;
mod commands;
mod error;
mod observer;
mod settings;

use std::process::ExitCode;

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::error::Failure;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // Bare `deepq` or `deepq bench`: the help is the answer, on stderr with exit 2.
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) => {
            let failure = Failure::command_line(&e, &invoked_command(&args));
            eprintln!("error: {failure}");
            return failure.exit_code();
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

/// The (sub)command the user invoked, e.g. `deepq bench solve`: the subcommand names at the
/// start of `args`, so that an error can point to that subcommand's `--help`.
fn invoked_command(args: &[OsString]) -> String {
    let mut command = Cli::command();
    let mut path = vec![command.get_name().to_string()];
    for arg in args.iter().skip(1) {
        let Some(sub) = arg.to_str().and_then(|a| command.find_subcommand(a)) else {
            break;
        };
        path.push(sub.get_name().to_string());
        command = sub.clone();
    }
    path.join(" ")
}
