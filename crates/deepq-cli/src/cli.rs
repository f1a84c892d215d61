//! The command-line interface: every subcommand and flag (a contract scripts rely on).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::play::{Render, parse_render};
use deepq_plots::Format;

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
    /// Switch off one ingredient of a preset at a time and compare the variants over seeds.
    Ablate(AblateArgs),
    /// Summarise independent runs of one config (different seeds) as `train --seeds` does.
    Aggregate(AggregateArgs),
    /// Measure speed: gradient updates, action latency, env steps, time to solve.
    Bench(BenchArgs),
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
    /// Run directory (default: `runs/<env>-<preset>-<seed>-<timestamp>`, with `/` in the env
    /// id replaced by `-`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Also write TensorBoard event files to `<run>/tensorboard/`.
    #[arg(long)]
    pub tensorboard: bool,
    /// Continue an interrupted run from DIR/checkpoint/ to its configured end.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["env", "preset", "config", "set", "seed", "seeds", "total_timesteps", "out"])]
    pub resume: Option<PathBuf>,
}

/// Options of `deepq eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Run directory of a trained agent.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Number of greedy episodes [default: the run's final_eval_episodes].
    #[arg(long, value_name = "N")]
    pub episodes: Option<usize>,
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

/// Options of `deepq ablate`.
#[derive(Debug, Args)]
pub struct AblateArgs {
    /// Preset to ablate.
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub preset: String,
    /// Seeds: a range A..B (B excluded) or a list.
    #[arg(long, default_value = "0..10", value_name = "A..B|LIST")]
    pub seeds: String,
    /// Parallel jobs (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Config overrides applied to every variant.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output directory (default: `runs/ablate-<preset>-<timestamp>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Options of `deepq aggregate`.
#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// Finished run directories of one config with different seeds (e.g. one per job-array task).
    #[arg(value_name = "RUN_DIR", required = true)]
    pub runs: Vec<PathBuf>,
    /// Where to write summary.json and plots/returns.png.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `deepq bench` and its measurements.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Single-thread DQN gradient updates per second (forward, target max, loss, backward, Adam, Polyak).
    Updates(BenchUpdatesArgs),
    /// Greedy action latency for one observation.
    Act(BenchActArgs),
    /// Environment steps per second, vectorized with auto-reset.
    Envs(BenchEnvsArgs),
    /// Memory and speed of replay holding stacked Atari frames (84×84×4 uint8).
    Replay(BenchReplayArgs),
    /// Time to solve a preset over several seeds, trained in parallel.
    Solve(BenchSolveArgs),
}

/// Measuring options shared by the benchmarks.
#[derive(Debug, Args)]
pub struct Timing {
    /// Total measuring time, split over the repeats.
    #[arg(long, default_value_t = 3.0, value_name = "S")]
    pub seconds: f64,
    /// Number of timed repeats (the median is reported).
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub repeats: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `deepq bench updates`.
#[derive(Debug, Args)]
pub struct BenchUpdatesArgs {
    /// Measure the update of this preset's network, optimizer and loss on its environment's
    /// observations (e.g. minatar-breakout): DQN's update, or PQN's minibatch step for a PQN
    /// preset; the network options below are then not used.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Hidden layer widths of an MLP, or `nature`: Nature DQN's network (Mnih et al. 2015;
    /// conv 32×8×8 stride 4, 64×4×4 stride 2, 64×3×3 stride 1, then 512 units) on 84×84×4
    /// uint8 frames scaled by 1/255, with Adam at 1e-4 and a target copy every 250 updates, as
    /// CleanRL's dqn_atari.py trains it (no Atari needed).
    #[arg(long, default_value = "64,64", value_name = "W,W|nature")]
    pub net: String,
    /// Batch size [default: 64 (nature: 32), or the preset's batch_size (PQN: its minibatch
    /// size)].
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Observation width.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub obs_dim: usize,
    /// Number of actions [default: 2 (nature: 6, Pong's)].
    #[arg(long, value_name = "N")]
    pub actions: Option<usize>,
    /// TD loss.
    #[arg(long, value_enum, default_value_t = LossArg::Mse)]
    pub loss: LossArg,
    /// Double DQN (one more forward pass of the online network on the next observations,
    /// unless the target is copied at every update).
    #[arg(long)]
    pub double: bool,
    /// Dueling head.
    #[arg(long)]
    pub dueling: bool,
    /// Noisy nets (fresh noise for both networks in every update).
    #[arg(long)]
    pub noisy: bool,
    /// C51 atoms (1: scalar Q-values).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub atoms: usize,
    /// n-step returns: the batch's transitions carry horizons 1..=N.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub n_steps: usize,
    /// Prioritized replay: each update also samples its slots from a full 100k-slot sum tree,
    /// computes importance weights and writes back new priorities.
    #[arg(long)]
    pub per: bool,
    /// All of the above (double, dueling, noisy, 51 atoms, 3-step returns, PER).
    #[arg(long)]
    pub rainbow: bool,
    /// With `--net nature`: updates between target copies [default: 250, CleanRL's; 1 is
    /// DrQ(ε)'s copy at every update, which spares double DQN its second pass].
    #[arg(long, value_name = "N")]
    pub target_every: Option<u64>,
    /// The matrix products' arithmetic: f32, or bf16 (bf16 operands, f32 sums; the kernel
    /// this CPU runs is reported) [default: f32, or the preset's precision].
    #[arg(long, value_name = "f32|bf16")]
    pub precision: Option<deepq::nn::Precision>,
    /// How long and how often to measure.
    #[command(flatten)]
    pub timing: Timing,
}

/// Options of `deepq bench act`.
#[derive(Debug, Args)]
pub struct BenchActArgs {
    /// Hidden layer widths, or `nature`: Nature DQN's network on 84×84×4 uint8 frames.
    #[arg(long, default_value = "64,64", value_name = "W,W|nature")]
    pub net: String,
    /// Observation width (of an MLP).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub obs_dim: usize,
    /// Observations acted on at once, as the training loop acts for the copies of a vector
    /// env; the figure is per observation.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub envs: usize,
    /// Number of actions.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub actions: usize,
    /// The matrix products' arithmetic: f32, or bf16 (see `bench updates`).
    #[arg(long, default_value = "f32", value_name = "f32|bf16")]
    pub precision: deepq::nn::Precision,
    /// How long and how often to measure.
    #[command(flatten)]
    pub timing: Timing,
}

/// Options of `deepq bench envs`.
#[derive(Debug, Args)]
pub struct BenchEnvsArgs {
    /// Environment id.
    #[arg(long, default_value = "CartPole-v1", value_name = "ID")]
    pub env: String,
    /// Vectorized copies.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub n_envs: usize,
    /// How long and how often to measure.
    #[command(flatten)]
    pub timing: Timing,
}

/// Options of `deepq bench replay`.
#[derive(Debug, Args)]
pub struct BenchReplayArgs {
    /// Transitions to store (the buffer's capacity); the report scales the memory to 1M.
    #[arg(long, default_value_t = 200_000, value_name = "N")]
    pub transitions: usize,
    /// Agent steps per episode: each episode starts from a stack of four copies of one
    /// frame, as Gymnasium's `FrameStackObservation` pads.
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub episode_length: usize,
    /// n-step returns.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub n_steps: usize,
    /// How long and how often to time sampling.
    #[command(flatten)]
    pub timing: Timing,
}

/// Options of `deepq bench solve`.
#[derive(Debug, Args)]
pub struct BenchSolveArgs {
    /// Preset to time.
    #[arg(long, default_value = "default", value_name = "NAME")]
    pub preset: String,
    /// Seeds: a range A..B (B excluded) or a list.
    #[arg(long, default_value = "0..10", value_name = "A..B|LIST")]
    pub seeds: String,
    /// Parallel jobs (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Config overrides, as for train.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Keep the runs in this directory (default: a temporary one).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The TD loss, as a flag value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LossArg {
    /// Mean squared error.
    Mse,
    /// Huber (smooth L1).
    Huber,
}

impl From<LossArg> for deepq::nn::Loss {
    fn from(l: LossArg) -> Self {
        match l {
            LossArg::Mse => deepq::nn::Loss::Mse,
            LossArg::Huber => deepq::nn::Loss::Huber,
        }
    }
}

/// Options of `deepq plot`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Run directory, or the directory of `deepq train --seeds` (draws the multi-seed chart).
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Image format.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
}

/// The number of parallel jobs: `--jobs`, or the number of cores.
pub fn jobs(arg: Option<usize>) -> Result<usize, String> {
    match arg {
        Some(0) => Err("invalid value 0 for '--jobs': must be at least 1".into()),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
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

/// What `--seeds` expands to, e.g. "seeds 0–3 (4 runs)" for `0..4` (whose end is excluded),
/// or "seeds 1, 5, 9 (3 runs)".
pub fn describe_seeds(seeds: &[u64]) -> String {
    let consecutive = seeds.windows(2).all(|w| w[1] == w[0] + 1);
    match seeds {
        [seed] => format!("seed {seed} (1 run)"),
        [first, .., last] if consecutive => format!("seeds {first}–{last} ({} runs)", seeds.len()),
        _ => {
            let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
            format!("seeds {} ({} runs)", list.join(", "), seeds.len())
        }
    }
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

    #[test]
    fn seeds_are_described_as_they_will_run() {
        assert_eq!(describe_seeds(&[0, 1, 2, 3]), "seeds 0–3 (4 runs)");
        assert_eq!(describe_seeds(&[1, 5, 9]), "seeds 1, 5, 9 (3 runs)");
        assert_eq!(describe_seeds(&[7]), "seed 7 (1 run)");
    }
}
