//! `Config`: deepq's [`DqnConfig`] as a Python object, built from the library defaults or a
//! preset and changed with Python keyword values. Every key of `DqnConfig` is accepted, so
//! keys added to the library later work without changes here; unknown keys and bad values are
//! refused with the library's one-line messages ("did you mean" included).

use deepq::config::config_keys;
use deepq::{DqnConfig, Preset};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{from_toml, repr, table_to_dict, to_toml};
use crate::errors::{Error, Result};

/// A DQN configuration: every option of a run, under the keys of `DqnConfig` (SB3's names).
#[pyclass(name = "Config", module = "deepq._native")]
#[derive(Clone, Debug)]
pub struct Config {
    /// The configuration.
    pub inner: DqnConfig,
}

/// The config as a TOML table (every set key; unset optional keys are absent).
fn table(cfg: &DqnConfig) -> toml::Table {
    cfg.to_toml()
        .parse()
        .expect("DqnConfig::to_toml produces valid TOML")
}

/// Keys whose value may be unset (`None`): those absent from the defaults' TOML.
fn is_optional(key: &str) -> bool {
    !table(&DqnConfig::default()).contains_key(key)
}

/// The library's error for an unknown key (with its "did you mean" suggestion).
fn unknown_key(key: &str) -> Error {
    let mut probe = toml::Table::new();
    probe.insert(key.to_owned(), toml::Value::Boolean(false));
    match DqnConfig::default().apply_toml(&probe) {
        Err(e) => e.into(),
        Ok(()) => Error::usage(format!("unknown config key '{key}'")),
    }
}

impl Config {
    /// Parses the flat TOML of a run's `config.toml` on top of the library defaults.
    pub fn parse(text: &str) -> std::result::Result<DqnConfig, String> {
        deepq::run_dir::parse_config(text)
    }
}

#[pymethods]
impl Config {
    /// The library defaults (SB3's DQN defaults where SB3 has the option), or the named
    /// preset's configuration.
    #[new]
    #[pyo3(signature = (preset=None))]
    fn new(preset: Option<&str>) -> Result<Self> {
        let inner = match preset {
            None => DqnConfig::default(),
            Some(name) => Preset::find(name)?.config()?,
        };
        Ok(Config { inner })
    }

    /// A configuration read from flat TOML keys (a run's `config.toml`) over the defaults.
    #[staticmethod]
    fn from_toml(text: &str) -> Result<Self> {
        Config::parse(text)
            .map(|inner| Config { inner })
            .map_err(Error::Usage)
    }

    /// Sets keys from a dict of plain Python values (`train_freq=(1, "episode")` and
    /// `env_kwargs={...}` included). `None` unsets an optional key such as `episodes`.
    /// Nothing changes unless every key and value is accepted.
    fn update(&mut self, overrides: &Bound<'_, PyDict>) -> Result<()> {
        let known = config_keys();
        let mut values = toml::Table::new();
        let mut unset = Vec::new();
        for (k, v) in overrides.iter() {
            let key: String = k.extract().map_err(|_| {
                Error::usage(format!("config keys must be strings, not {}", repr(&k)))
            })?;
            if !known.contains(&key) {
                return Err(unknown_key(&key));
            }
            if v.is_none() {
                if !is_optional(&key) {
                    return Err(Error::usage(format!(
                        "invalid value None for '{key}': a value is required"
                    )));
                }
                unset.push(key);
                continue;
            }
            let value = to_toml(&v)
                .map_err(|why| Error::usage(format!("invalid value for '{key}': {why}")))?;
            values.insert(key, value);
        }
        let mut cfg = self.inner.clone();
        cfg.apply_toml(&values)?;
        if !unset.is_empty() {
            let mut all = table(&cfg);
            for key in &unset {
                all.remove(key);
            }
            cfg = DqnConfig::default();
            cfg.apply_toml(&all)?;
        }
        self.inner = cfg;
        Ok(())
    }

    /// Checks ranges and relations between keys (ValueError naming the key otherwise).
    fn validate(&self) -> Result<()> {
        Ok(self.inner.validate()?)
    }

    /// The configuration as flat TOML, the body of a run's `config.toml`.
    fn to_toml(&self) -> String {
        self.inner.to_toml()
    }

    /// Every key with its value; unset optional keys map to `None`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = table_to_dict(py, &table(&self.inner))?;
        for key in config_keys() {
            if !dict.contains(&key)? {
                dict.set_item(key, py.None())?;
            }
        }
        Ok(dict)
    }

    /// The value of one key (`None` for an unset optional key).
    fn get<'py>(&self, py: Python<'py>, key: &str) -> Result<Bound<'py, PyAny>> {
        if !config_keys().iter().any(|k| k == key) {
            return Err(unknown_key(key));
        }
        Ok(match table(&self.inner).get(key) {
            Some(v) => from_toml(py, v)?,
            None => py.None().into_bound(py),
        })
    }

    /// An independent copy.
    fn copy(&self) -> Config {
        self.clone()
    }

    /// ε of the configured exploration schedule after `step` steps and `episodes` episodes.
    fn epsilon(&self, step: u64, episodes: u64) -> f64 {
        self.inner.exploration().epsilon(step, episodes)
    }

    /// Every config key, sorted.
    #[staticmethod]
    fn keys() -> Vec<String> {
        let mut keys = config_keys();
        keys.sort();
        keys
    }

    fn __eq__(&self, other: &Config) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        format!(
            "Config(env={:?}, total_timesteps={}, seed={})",
            self.inner.run.env, self.inner.run.total_timesteps, self.inner.run.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_keys_are_those_without_a_default() {
        assert!(is_optional("episodes"));
        assert!(is_optional("optimizer_betas"));
        assert!(!is_optional("gamma"));
        assert!(!is_optional("env_kwargs"));
    }

    #[test]
    fn unknown_keys_get_the_library_suggestion() {
        let Error::Usage(m) = unknown_key("lerning_rate") else {
            panic!("not a usage error")
        };
        assert_eq!(
            m,
            "unknown config key 'lerning_rate'; did you mean 'learning_rate'?"
        );
    }

    #[test]
    fn run_configs_parse_over_the_defaults() {
        let text = "# preset: default\nlearning_rate = 0.002\ntrain_freq = [1, \"episode\"]\n";
        let cfg = Config::parse(text).unwrap();
        assert_eq!(cfg.optimizer.learning_rate, 2e-3);
        assert_eq!(cfg.replay.train_freq, deepq::config::Count::episodes(1));
        assert!(
            Config::parse("gamma = ")
                .unwrap_err()
                .starts_with("invalid TOML")
        );
        assert!(
            Config::parse("gama = 0.9")
                .unwrap_err()
                .contains("did you mean 'gamma'")
        );
    }
}
