//! `deepq eval`: greedy evaluation of a saved agent.

use deepq::envs::{Env, EnvSpec, EnvVisitor};
use deepq::tabular::QTable;
use deepq::{DqnConfig, EvalStats, QNetwork, evaluate};
use serde::Serialize;

use crate::cli::EvalArgs;
use crate::commands::train::optimum;
use crate::error::{CliResult, Failure};
use crate::fsutil::read;
use crate::run_dir::RunDir;
use crate::settings::read_config_file;

/// A greedy policy: the action to take for a flat observation.
pub type GreedyPolicy<'a> = Box<dyn FnMut(&[f32]) -> usize + 'a>;

/// A trained policy: a DQN network or a tabular Q-table.
pub enum Policy {
    /// A Q-network.
    Network(QNetwork),
    /// A Q-table.
    Table(QTable),
}

impl Policy {
    /// Reads `model.safetensors` of either kind.
    fn from_safetensors(bytes: &[u8]) -> Result<Self, String> {
        QNetwork::from_safetensors(bytes)
            .map(Policy::Network)
            .or_else(|e| {
                QTable::from_safetensors(bytes)
                    .map(Policy::Table)
                    .map_err(|_| e.to_string())
            })
    }

    /// (inputs, outputs) the policy expects.
    fn shape(&self) -> (usize, usize) {
        match self {
            Policy::Network(n) => (n.sizes()[0], n.sizes()[n.sizes().len() - 1]),
            Policy::Table(t) => (t.n_states(), t.n_actions()),
        }
    }

    /// The greedy policy over flat observations.
    pub fn greedy(&self) -> GreedyPolicy<'_> {
        match self {
            Policy::Network(n) => Box::new(n.greedy_policy()),
            Policy::Table(t) => Box::new(t.greedy_policy()),
        }
    }
}

/// A trained agent loaded from a run directory, checked against its environment.
pub struct LoadedRun {
    /// The run's resolved config.
    pub config: DqnConfig,
    /// The trained policy.
    pub policy: Policy,
}

impl LoadedRun {
    /// Reads `config.toml` and `model.safetensors`; corrupt files and models whose shapes
    /// do not fit the environment are one-line errors.
    pub fn open(run: &RunDir) -> CliResult<Self> {
        let mut config = DqnConfig::default();
        config
            .apply_toml(&read_config_file(&run.config())?)
            .map_err(|e| {
                Failure::Runtime(format!(
                    "'{}' is not a valid run config: {e}",
                    run.config().display()
                ))
            })?;
        let model = run.model();
        let policy = Policy::from_safetensors(&read(&model)?).map_err(|e| {
            Failure::Runtime(format!("cannot load model '{}': {e}", model.display()))
        })?;
        let env = deepq::envs::make(&config.env, &config.env_kwargs)?;
        let needs = (
            env.observation_space().flat_dim(),
            env.action_space().flat_dim(),
        );
        let (inputs, outputs) = policy.shape();
        if (inputs, outputs) != needs {
            return Err(Failure::Runtime(format!(
                "model '{}' has layer sizes {inputs} in, {outputs} out, but {} needs {} inputs and {} outputs",
                model.display(),
                config.env,
                needs.0,
                needs.1
            )));
        }
        Ok(LoadedRun { config, policy })
    }
}

#[derive(Serialize)]
struct EvalJson {
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
    episodes: usize,
    mean_length: f64,
    env: String,
    reward_threshold: f64,
    optimal_return: Option<f64>,
    returns: Vec<f64>,
}

/// Runs `deepq eval`.
pub fn run(args: &EvalArgs) -> CliResult<()> {
    if args.episodes == 0 {
        return Err(Failure::Usage(
            "invalid value 0 for '--episodes': must be at least 1".into(),
        ));
    }
    let run = RunDir::open(&args.run)?;
    let loaded = LoadedRun::open(&run)?;
    let env = deepq::envs::make(&loaded.config.env, &loaded.config.env_kwargs)?;
    let spec = env.spec().clone();
    let stats = env.visit(Evaluate {
        policy: &loaded.policy,
        episodes: args.episodes,
        seed: args.seed,
    });
    if args.json {
        let json = EvalJson {
            mean: stats.mean,
            std: stats.std,
            min: stats.min,
            max: stats.max,
            episodes: stats.episodes,
            mean_length: stats.mean_length,
            env: spec.id.clone(),
            reward_threshold: spec.reward_threshold,
            optimal_return: optimum(&loaded.config),
            returns: stats.returns,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("eval result serializes")
        );
    } else {
        let verdict = if stats.mean >= spec.reward_threshold {
            "solved"
        } else {
            "not solved"
        };
        println!(
            "{}: greedy mean return {:.2} ± {:.2} over {} episodes (min {:.2}, max {:.2}, mean length {:.1}); threshold {}: {verdict}",
            spec.id,
            stats.mean,
            stats.std,
            stats.episodes,
            stats.min,
            stats.max,
            stats.mean_length,
            spec.reward_threshold
        );
        if let Some(best) = optimum(&loaded.config) {
            println!("optimum (value iteration within the step limit): {best:.4}");
        }
    }
    Ok(())
}

struct Evaluate<'a> {
    policy: &'a Policy,
    episodes: usize,
    seed: u64,
}

impl EnvVisitor for Evaluate<'_> {
    type Output = EvalStats;

    fn visit<E: Env + Clone + 'static>(self, mut env: E, _spec: EnvSpec) -> EvalStats {
        evaluate(
            &mut env,
            self.episodes,
            Some(self.seed),
            self.policy.greedy(),
        )
    }
}
