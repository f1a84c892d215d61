//! `deepq presets` and `deepq envs`: what is built in.

use deepq::PRESETS;
use deepq::envs::{Kwargs, env_ids, make};

use crate::error::CliResult;

/// Prints every preset with its description.
pub fn presets() -> CliResult<()> {
    let width = PRESETS.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for preset in PRESETS {
        println!("{:width$}  {}", preset.name, preset.description());
    }
    Ok(())
}

/// Prints every environment with its spaces, step limit and reward threshold.
pub fn envs() -> CliResult<()> {
    println!(
        "{:<24} {:<28} {:<12} {:>6} {:>10}",
        "id", "observation space", "actions", "steps", "threshold"
    );
    for id in env_ids() {
        let env = make(id, &Kwargs::new())?;
        let spec = env.spec();
        // MinAtar registers neither a time limit nor a reward threshold.
        let steps = match spec.max_episode_steps {
            usize::MAX => "none".to_string(),
            n => n.to_string(),
        };
        let threshold = if spec.reward_threshold.is_finite() {
            spec.reward_threshold.to_string()
        } else {
            "none".to_string()
        };
        println!(
            "{:<24} {:<28} {:<12} {:>6} {:>10}",
            id,
            env.observation_space().to_string(),
            env.action_space().to_string(),
            steps,
            threshold
        );
    }
    Ok(())
}
