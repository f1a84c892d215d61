//! `deepq eval`: greedy evaluation of a saved agent.

use deepq::envs::{Env, EnvSpec, EnvVisitor};
use deepq::{DqnConfig, EvalStats, QNetwork, evaluate};
use serde::Serialize;

use crate::cli::EvalArgs;
use crate::error::{CliResult, Failure};
use crate::fsutil::read;
use crate::run_dir::RunDir;
use crate::settings::read_config_file;

/// A trained agent loaded from a run directory, checked against its environment.
pub struct LoadedRun {
    /// The run's resolved config.
    pub config: DqnConfig,
    /// The trained network.
    pub network: QNetwork,
}

impl LoadedRun {
    /// Reads `config.toml` and `model.safetensors`; corrupt files and networks whose shapes
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
        let bytes = read(&run.model())?;
        let network = QNetwork::from_safetensors(&bytes).map_err(|e| {
            Failure::Runtime(format!(
                "cannot load model '{}': {e}",
                run.model().display()
            ))
        })?;
        let env = deepq::envs::make(&config.env, &config.env_kwargs)?;
        let (inputs, outputs) = (
            env.observation_space().flat_dim(),
            env.action_space().flat_dim(),
        );
        let sizes = network.sizes();
        if sizes.first() != Some(&inputs) || sizes.last() != Some(&outputs) {
            return Err(Failure::Runtime(format!(
                "model '{}' has layer sizes {sizes:?}, but {} needs {inputs} inputs and {outputs} outputs",
                run.model().display(),
                config.env
            )));
        }
        Ok(LoadedRun { config, network })
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
        network: &loaded.network,
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
            "{}: greedy mean return {:.2} ± {:.2} over {} episodes (min {}, max {}, mean length {:.1}); threshold {}: {verdict}",
            spec.id,
            stats.mean,
            stats.std,
            stats.episodes,
            stats.min,
            stats.max,
            stats.mean_length,
            spec.reward_threshold
        );
    }
    Ok(())
}

struct Evaluate<'a> {
    network: &'a QNetwork,
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
            self.network.greedy_policy(),
        )
    }
}
