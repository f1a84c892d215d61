//! The command-line interface: every subcommand and flag (a contract scripts rely on).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::play::{Render, parse_render};
use crate::plots::Format;

/// Deep Q-Learning on Gymnasium-exact environments.
#[derive(Debug, Parser)]
#[command(name = "deepq", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a DQN agent (CartPole-v1 with the tuned `default` preset unless told otherwise).
    Train(TrainArgs),
    /// Evaluate a trained agent greedily.
    Eval(EvalArgs),
    /// Replay one greedy episode, animated in the terminal or written as a GIF.
    Play(PlayArgs),
    /// Redraw the plots of a run.
    Plot(PlotArgs),
    /// List the presets with one-line descriptions.
    Presets,
    /// List the environments with their spaces, step limits and reward thresholds.
    Envs,
}

/// Options of `deepq train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Environment id, e.g. CartPole-v1, Acrobot-v1, MountainCar-v0, FrozenLake-v1.
    #[arg(long, value_name = "ID")]
    pub env: Option<String>,
    /// Preset to start from (see `deepq presets`).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// TOML file of config keys, applied over the preset.
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Override one config key with a TOML value, e.g. --set learning_rate=1e-3 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Seed for everything random in the run.
    #[arg(long, value_name = "N", conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Train several seeds in parallel: a range A..B (B excluded) or a list 1,2,3.
    #[arg(long, value_name = "A..B|LIST")]
    pub seeds: Option<String>,
    /// Parallel jobs for --seeds (default: the number of cores).
    #[arg(long, value_name = "N", requires = "seeds")]
    pub jobs: Option<usize>,
    /// Environment-step budget.
    #[arg(long, value_name = "N")]
    pub total_timesteps: Option<u64>,
    /// Run directory (default: runs/<env>-<preset>-<seed>-<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Also write TensorBoard event files to <run>/tensorboard/.
    #[arg(long)]
    pub tensorboard: bool,
}

/// Options of `deepq eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run directory of a trained agent.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Number of greedy episodes.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub episodes: usize,
    /// Seed of the first episode's reset (later episodes continue its stream).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `deepq play`.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// Run directory of a trained agent.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// `terminal` (animated text) or `gif=FILE`.
    #[arg(long, default_value = "terminal", value_parser = parse_render)]
    pub render: Render,
    /// Seed of the episode's reset.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,
    /// Frames per second of the animation.
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub fps: u32,
}

/// Options of `deepq plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Run directory.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Image format.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
}

/// Parses `--seeds`: `A..B` (B excluded) or a comma-separated list.
pub fn parse_seeds(spec: &str) -> Result<Vec<u64>, String> {
    let bad = || {
        format!(
            "invalid value '{spec}' for '--seeds': expected a range A..B (B excluded) or a list like 1,2,3"
        )
    };
    let seeds: Vec<u64> = if let Some((a, b)) = spec.split_once("..") {
        let a: u64 = a.trim().parse().map_err(|_| bad())?;
        let b: u64 = b.trim().parse().map_err(|_| bad())?;
        (a..b).collect()
    } else {
        spec.split(',')
            .map(|s| s.trim().parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?
    };
    if seeds.is_empty() {
        return Err(bad());
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_as_ranges_and_lists() {
        assert_eq!(parse_seeds("0..3").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_seeds("4, 7,9").unwrap(), vec![4, 7, 9]);
        assert!(parse_seeds("3..3").is_err());
        assert!(parse_seeds("a..b").is_err());
        assert!(parse_seeds("").is_err());
    }
}
