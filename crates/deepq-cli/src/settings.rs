//! Resolving a run's configuration from a preset, a config file, `--set` pairs and flags,
//! in that order of precedence (later wins).

use std::path::Path;

use deepq::{DqnConfig, Preset};

use crate::error::{CliResult, Failure};

/// Where a run's settings come from.
#[derive(Clone, Debug, Default)]
pub struct Sources<'a> {
    /// Preset name; `default` when absent.
    pub preset: Option<&'a str>,
    /// A TOML file of flat config keys.
    pub config_file: Option<&'a Path>,
    /// `key=value` pairs with TOML values.
    pub sets: &'a [String],
    /// `--env`.
    pub env: Option<&'a str>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--total-timesteps`.
    pub total_timesteps: Option<u64>,
}

/// The preset name and the validated config the sources describe.
pub fn resolve(sources: &Sources<'_>) -> CliResult<(String, DqnConfig)> {
    let preset = Preset::find(sources.preset.unwrap_or("default"))?;
    let mut cfg = preset.config()?;
    let preset_algorithm = cfg.algorithm;
    let file = match sources.config_file {
        Some(path) => read_config_file(path)?,
        None => toml::Table::new(),
    };
    cfg.apply_toml(&file)?;
    let mut overrides = toml::Table::new();
    for pair in sources.sets {
        let (key, value) = parse_set(pair)?;
        overrides.insert(key, value);
    }
    if let Some(env) = sources.env {
        overrides.insert("env".into(), toml::Value::String(env.into()));
    }
    if let Some(seed) = sources.seed {
        overrides.insert("seed".into(), toml_int(seed, "--seed")?);
    }
    if let Some(steps) = sources.total_timesteps {
        overrides.insert(
            "total_timesteps".into(),
            toml_int(steps, "--total-timesteps")?,
        );
    }
    cfg.apply_toml(&overrides)?;
    if cfg.algorithm != preset_algorithm {
        // The preset's settings of its own algorithm do not carry over to another one; what
        // the user set is kept (and validated).
        let given = |key: &str| file.contains_key(key) || overrides.contains_key(key);
        let reset = cfg.reset_foreign_keys(given);
        if !reset.is_empty() {
            eprintln!(
                "note: {} of preset {} apply to algorithm \"{}\" only; this \"{}\" run leaves them at their defaults",
                reset.join(", "),
                preset.name,
                preset_algorithm.name(),
                cfg.algorithm.name()
            );
        }
    }
    cfg.validate()?;
    deepq::envs::make(&cfg.run.env, &cfg.run.env_kwargs)?;
    Ok((preset.name.to_string(), cfg))
}

fn toml_int(value: u64, flag: &str) -> CliResult<toml::Value> {
    i64::try_from(value)
        .map(toml::Value::Integer)
        .map_err(|_| Failure::Usage(format!("invalid value {value} for '{flag}': too large")))
}

/// Reads a config file: missing, unreadable and invalid TOML are distinct one-line errors.
pub fn read_config_file(path: &Path) -> CliResult<toml::Table> {
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::Usage(format!("cannot read config file '{}': {e}", path.display()))
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::Usage(format!(
            "config file '{}' is not UTF-8 text",
            path.display()
        ))
    })?;
    text.parse::<toml::Table>().map_err(|e| {
        Failure::Usage(format!(
            "config file '{}' is not valid TOML: {}",
            path.display(),
            e.message()
        ))
    })
}

/// Parses `key=value`. The value is TOML (`1e-3`, `[64, 64]`, `true`, `"CartPole-v1"`);
/// a bare word that is not valid TOML is taken as a string, so `env=CartPole-v1` works.
pub fn parse_set(pair: &str) -> CliResult<(String, toml::Value)> {
    let (key, raw) = pair.split_once('=').ok_or_else(|| {
        Failure::Usage(format!(
            "invalid --set '{pair}': expected key=value, e.g. learning_rate=1e-3"
        ))
    })?;
    let key = key.trim();
    if key.is_empty() {
        return Err(Failure::Usage(format!(
            "invalid --set '{pair}': the key is empty"
        )));
    }
    let raw = raw.trim();
    let value = format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Ok((key.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_values_are_toml_with_bare_strings_allowed() {
        assert_eq!(parse_set("lr=1e-3").unwrap().1, toml::Value::Float(1e-3));
        assert_eq!(
            parse_set("env=CartPole-v1").unwrap().1,
            toml::Value::String("CartPole-v1".into())
        );
        assert_eq!(
            parse_set("env=\"Acrobot-v1\"").unwrap().1,
            toml::Value::String("Acrobot-v1".into())
        );
        let arch = parse_set("net_arch=[64,64]").unwrap().1;
        assert_eq!(arch, toml::Value::Array(vec![64.into(), 64.into()]));
        assert!(parse_set("novalue").is_err());
    }

    #[test]
    fn switching_a_presets_algorithm_drops_its_own_settings_but_not_the_users() {
        let sets = vec!["algorithm=\"iqn\"".to_string()];
        let (_, cfg) = resolve(&Sources {
            sets: &sets,
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(cfg.algorithm, deepq::config::Algorithm::Iqn);
        assert!(
            !cfg.dqn.double_q,
            "the default preset's double_q stays with DQN"
        );
        assert!(cfg.foreign_keys().is_empty());
        let sets = vec!["algorithm=\"iqn\"".to_string(), "double_q=true".to_string()];
        let err = resolve(&Sources {
            sets: &sets,
            ..Sources::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains(
                "invalid value true for 'double_q': it applies to algorithm = \"dqn\" only"
            ),
            "{err}"
        );
    }

    #[test]
    fn precedence_is_preset_then_file_then_sets_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "learning_rate = 0.5\nbatch_size = 16\nseed = 3\n").unwrap();
        let sets = vec!["batch_size=8".to_string(), "seed=4".to_string()];
        let (preset, cfg) = resolve(&Sources {
            config_file: Some(&file),
            sets: &sets,
            seed: Some(5),
            ..Sources::default()
        })
        .unwrap();
        assert_eq!(preset, "default");
        assert_eq!(cfg.optimizer.learning_rate, 0.5);
        assert_eq!(cfg.replay.batch_size, 8);
        assert_eq!(cfg.run.seed, 5);
    }
}
