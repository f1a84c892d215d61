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

/// Prints every environment with its step limit, reward threshold and spaces, in aligned
/// columns; the observation space, whose Box bounds can be long, comes last.
pub fn envs() -> CliResult<()> {
    let mut rows =
        vec![["id", "actions", "steps", "threshold", "observation space"].map(String::from)];
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
        rows.push([
            id.to_string(),
            env.action_space().to_string(),
            steps,
            threshold,
            env.observation_space().to_string(),
        ]);
    }
    let width = |column: usize| rows.iter().map(|row| row[column].chars().count()).max();
    let [id_w, actions_w, steps_w, threshold_w] = [0, 1, 2, 3].map(|c| width(c).unwrap_or(0));
    for [id, actions, steps, threshold, observations] in &rows {
        println!(
            "{id:<id_w$}  {actions:<actions_w$}  {steps:>steps_w$}  {threshold:>threshold_w$}  {observations}"
        );
    }
    Ok(())
}
