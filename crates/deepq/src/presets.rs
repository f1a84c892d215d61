//! Named configurations that reproduce classic DQN set-ups, embedded from `presets/*.toml`.
//!
//! Each file starts with a `# description: ...` line (one sentence on what the set-up is and
//! what it demonstrates) followed by flat config keys.

use crate::config::{ConfigError, DqnConfig};

/// A named, embedded configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    /// The name users pass to `--preset`.
    pub name: &'static str,
    /// The TOML source.
    pub source: &'static str,
}

macro_rules! presets {
    ($($name:literal),* $(,)?) => {
        /// Every preset, in the order `deepq presets` lists them.
        pub const PRESETS: &[Preset] = &[
            $(Preset { name: $name, source: include_str!(concat!("../presets/", $name, ".toml")) }),*
        ];
    };
}

presets![
    "default",
    "cartpole-default-v1",
    "cartpole-soft-update",
    "cartpole-nadam-episodic",
    "cartpole-fixed-epsilon",
    "cartpole-vectorized",
    "cartpole-zoo",
    "cartpole-cleanrl",
    "cartpole-rainbow",
    "acrobot",
    "acrobot-rainbow",
    "mountaincar",
    "lunarlander",
    "lunarlander-fast",
    "qrdqn-cartpole",
    "qrdqn-acrobot",
    "qrdqn-lunarlander",
    "pqn-cartpole",
    "pqn-acrobot",
    "minatar-asterix",
    "minatar-breakout",
    "minatar-freeway",
    "minatar-seaquest",
    "minatar-space-invaders",
    "iqn-minatar-asterix",
    "iqn-minatar-breakout",
    "iqn-minatar-freeway",
    "iqn-minatar-seaquest",
    "iqn-minatar-space-invaders",
    "mdqn-minatar-asterix",
    "mdqn-minatar-breakout",
    "mdqn-minatar-freeway",
    "mdqn-minatar-seaquest",
    "mdqn-minatar-space-invaders",
    "pqn-minatar-asterix",
    "pqn-minatar-breakout",
    "pqn-minatar-freeway",
    "pqn-minatar-seaquest",
    "pqn-minatar-space-invaders",
    "cartpole-naive",
    "atari-dqn",
    "atari-qrdqn",
    "atari100k-drq",
    "atari100k-der",
    "frozenlake-tabular",
    "frozenlake8x8-tabular",
    "taxi-tabular",
    "cliffwalking-tabular",
];

impl Preset {
    /// Looks a preset up by name; the error lists the names that exist.
    pub fn find(name: &str) -> Result<Preset, ConfigError> {
        PRESETS
            .iter()
            .copied()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
                ConfigError(format!(
                    "unknown preset '{name}'; available: {}",
                    names.join(", ")
                ))
            })
    }

    /// The one-line description from the file's first comment.
    pub fn description(&self) -> &'static str {
        self.source
            .lines()
            .find_map(|l| l.strip_prefix("# description:"))
            .map(str::trim)
            .unwrap_or("")
    }

    /// The preset applied on top of the library defaults.
    pub fn config(&self) -> Result<DqnConfig, ConfigError> {
        let table: toml::Table = self.source.parse().map_err(|e: toml::de::Error| {
            ConfigError(format!("preset '{}': {}", self.name, e.message()))
        })?;
        let mut cfg = DqnConfig::default();
        cfg.apply_toml(&table)?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_validates_and_describes_itself() {
        for preset in PRESETS {
            let cfg = preset
                .config()
                .unwrap_or_else(|e| panic!("{}: {e}", preset.name));
            cfg.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", preset.name));
            assert!(
                !preset.description().is_empty(),
                "{} has no description",
                preset.name
            );
            // MinAtar's ids exist only in builds with the `minatar` feature, Atari's only in
            // Python (through ale-py).
            let atari = matches!(
                deepq_envs::make(&cfg.run.env, &cfg.run.env_kwargs),
                Err(deepq_envs::EnvError::AtariId { .. })
            );
            if !atari && (cfg!(feature = "minatar") || !cfg.run.env.starts_with("MinAtar/")) {
                deepq_envs::make(&cfg.run.env, &cfg.run.env_kwargs).unwrap();
            }
        }
    }

    #[test]
    fn unknown_preset_lists_the_names() {
        let err = Preset::find("nope").unwrap_err();
        assert!(
            err.0
                .starts_with("unknown preset 'nope'; available: default"),
            "{err}"
        );
    }
}
