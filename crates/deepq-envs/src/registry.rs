//! Environment ids, `make` with Gymnasium-style keyword arguments, and the
//! type-erased [`AnyEnv`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::box2d::lunar_lander::{self, LunarLander};
use crate::classic::{Acrobot, CartPole, MountainCar};
use crate::env::Env;
#[cfg(feature = "minatar")]
use crate::minatar::{self, MinAtar};
use crate::space::Space;
use crate::time_limit::TimeLimit;
use crate::toy_text::cliff_walking::CliffWalking;
use crate::toy_text::frozen_lake::{self, FrozenLake};
use crate::toy_text::taxi::{self, Taxi};

/// A keyword-argument value for [`make`], as it comes from JSON, TOML or a
/// command line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KwValue {
    /// `true` / `false`.
    Bool(bool),
    /// An integer; also accepted where a float is expected.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A list, e.g. FrozenLake's `desc` rows.
    List(Vec<KwValue>),
}

/// JSON-like: `true`, `100`, `0.5`, `"8x8"`, `["SF", "FG"]`.
impl fmt::Display for KwValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KwValue::Bool(b) => write!(f, "{b}"),
            KwValue::Int(i) => write!(f, "{i}"),
            KwValue::Float(x) => write!(f, "{x:?}"),
            KwValue::Str(s) => write!(f, "{s:?}"),
            KwValue::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<bool> for KwValue {
    fn from(v: bool) -> Self {
        KwValue::Bool(v)
    }
}

impl From<i64> for KwValue {
    fn from(v: i64) -> Self {
        KwValue::Int(v)
    }
}

impl From<f64> for KwValue {
    fn from(v: f64) -> Self {
        KwValue::Float(v)
    }
}

impl From<&str> for KwValue {
    fn from(v: &str) -> Self {
        KwValue::Str(v.to_owned())
    }
}

impl From<String> for KwValue {
    fn from(v: String) -> Self {
        KwValue::Str(v)
    }
}

impl<T: Into<KwValue>> From<Vec<T>> for KwValue {
    fn from(v: Vec<T>) -> Self {
        KwValue::List(v.into_iter().map(Into::into).collect())
    }
}

/// Keyword arguments for [`make`], by name.
pub type Kwargs = BTreeMap<String, KwValue>;

/// What an environment made by [`make`] was registered as.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvSpec {
    /// The id it was made from, e.g. `"CartPole-v1"`.
    pub id: String,
    /// Steps after which an episode is truncated.
    pub max_episode_steps: usize,
    /// Average return over 100 episodes at which the task counts as solved.
    pub reward_threshold: f64,
}

/// Why [`make`] could not build an environment.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EnvError {
    /// No environment is registered under this id.
    #[error("unknown environment id '{id}'; available: {}", available.join(", "))]
    UnknownId {
        /// The id asked for.
        id: String,
        /// Every registered id.
        available: Vec<&'static str>,
    },
    /// An Atari id: ALE runs only from Python, through ale-py.
    #[error(
        "{id} is an Atari game, which deepq runs only from Python through ale-py (GPL-2.0, never linked into deepq): pip install \"deepq[atari]\", then python -m deepq train --env {id}, or deepq.atari.make_vec(\"{id}\") in Python"
    )]
    AtariId {
        /// The id asked for.
        id: String,
    },
    /// The environment takes no keyword argument of this name.
    #[error("{env_id} has no kwarg '{key}'; it accepts: {}", accepted.join(", "))]
    UnknownKwarg {
        /// The environment id.
        env_id: String,
        /// The unknown name.
        key: String,
        /// The names the environment accepts.
        accepted: Vec<&'static str>,
    },
    /// A keyword argument has the wrong type or an impossible value.
    #[error("{env_id}: invalid value {value} for kwarg '{key}'; expected {expected}")]
    InvalidKwarg {
        /// The environment id.
        env_id: String,
        /// The keyword.
        key: String,
        /// The value given.
        value: KwValue,
        /// What is allowed.
        expected: String,
    },
}

/// The environment families behind the ids.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Family {
    CartPole,
    Acrobot,
    MountainCar,
    /// FrozenLake with the given default map.
    FrozenLake(MapName),
    Taxi,
    /// CliffWalking with the given default `is_slippery`.
    CliffWalking(bool),
    LunarLander,
    /// A MinAtar game, with its minimal action set (`-v1`) or all six actions (`-v0`).
    #[cfg(feature = "minatar")]
    MinAtar(deepq_minatar::Game, bool),
}

/// Gymnasium's built-in FrozenLake maps.
#[derive(Clone, Copy, Debug, PartialEq)]
enum MapName {
    FourByFour,
    EightByEight,
}

impl MapName {
    const NAMES: [(&'static str, MapName); 2] =
        [("4x4", MapName::FourByFour), ("8x8", MapName::EightByEight)];

    fn rows(self) -> &'static [&'static str] {
        match self {
            MapName::FourByFour => &frozen_lake::MAP_4X4,
            MapName::EightByEight => &frozen_lake::MAP_8X8,
        }
    }

    /// Time limit and reward threshold Gymnasium registers for this map.
    fn limits(self) -> (usize, f64) {
        match self {
            MapName::FourByFour => (100, 0.70),
            MapName::EightByEight => (200, 0.85),
        }
    }
}

struct Registration {
    id: &'static str,
    family: Family,
    max_episode_steps: usize,
    reward_threshold: f64,
}

impl Registration {
    fn spec(&self) -> EnvSpec {
        EnvSpec {
            id: self.id.to_owned(),
            max_episode_steps: self.max_episode_steps,
            reward_threshold: self.reward_threshold,
        }
    }
}

const REGISTRY: [Registration; 10] = [
    Registration {
        id: "CartPole-v0",
        family: Family::CartPole,
        max_episode_steps: 200,
        reward_threshold: 195.0,
    },
    Registration {
        id: "CartPole-v1",
        family: Family::CartPole,
        max_episode_steps: 500,
        reward_threshold: 475.0,
    },
    Registration {
        id: "Acrobot-v1",
        family: Family::Acrobot,
        max_episode_steps: 500,
        reward_threshold: -100.0,
    },
    Registration {
        id: "MountainCar-v0",
        family: Family::MountainCar,
        max_episode_steps: 200,
        reward_threshold: -110.0,
    },
    Registration {
        id: "FrozenLake-v1",
        family: Family::FrozenLake(MapName::FourByFour),
        max_episode_steps: 100,
        reward_threshold: 0.70,
    },
    Registration {
        id: "FrozenLake8x8-v1",
        family: Family::FrozenLake(MapName::EightByEight),
        max_episode_steps: 200,
        reward_threshold: 0.85,
    },
    Registration {
        id: "Taxi-v4",
        family: Family::Taxi,
        max_episode_steps: 200,
        reward_threshold: 8.0,
    },
    // Gymnasium registers both CliffWalking ids with neither a time limit nor
    // a reward threshold. Every spec here has both (learners evaluate greedy
    // policies, and one that walks into a wall forever would never finish an
    // episode), so these are this crate's choices: 200 steps like Taxi, the
    // other shortest-path grid task, far above the 13 steps of the optimal
    // path; the threshold is the optimal return, -13, which a greedy
    // evaluation of the non-slippery cliff reaches exactly.
    Registration {
        id: "CliffWalking-v1",
        family: Family::CliffWalking(false),
        max_episode_steps: CLIFF_WALKING_STEPS,
        reward_threshold: CLIFF_WALKING_THRESHOLD,
    },
    Registration {
        id: "CliffWalkingSlippery-v1",
        family: Family::CliffWalking(true),
        max_episode_steps: CLIFF_WALKING_STEPS,
        reward_threshold: CLIFF_WALKING_THRESHOLD,
    },
    Registration {
        id: "LunarLander-v3",
        family: Family::LunarLander,
        max_episode_steps: 1000,
        reward_threshold: 200.0,
    },
];

/// CliffWalking's time limit (Gymnasium has none; see the registration).
const CLIFF_WALKING_STEPS: usize = 200;
/// CliffWalking's reward threshold (Gymnasium has none): the optimal return.
const CLIFF_WALKING_THRESHOLD: f64 = -13.0;

const MAX_EPISODE_STEPS: &str = "max_episode_steps";

impl Family {
    /// The keyword arguments this family accepts.
    fn kwargs(self) -> &'static [&'static str] {
        match self {
            Family::CartPole => &[MAX_EPISODE_STEPS, "sutton_barto_reward"],
            Family::Acrobot => &[MAX_EPISODE_STEPS],
            Family::MountainCar => &["goal_velocity", MAX_EPISODE_STEPS],
            Family::FrozenLake(_) => &[
                "desc",
                "is_slippery",
                "map_name",
                MAX_EPISODE_STEPS,
                "success_rate",
            ],
            Family::Taxi => &[
                "fickle_passenger",
                "fickle_probability",
                "is_rainy",
                MAX_EPISODE_STEPS,
                "rainy_probability",
            ],
            Family::CliffWalking(_) => &["is_slippery", MAX_EPISODE_STEPS],
            Family::LunarLander => &[
                "continuous",
                "enable_wind",
                "gravity",
                MAX_EPISODE_STEPS,
                "turbulence_power",
                "wind_power",
            ],
            #[cfg(feature = "minatar")]
            Family::MinAtar(..) => &[
                "difficulty_ramping",
                MAX_EPISODE_STEPS,
                "sticky_action_prob",
            ],
        }
    }
}

/// MinAtar's ids, as the `minatar` package registers them with Gymnasium: no time limit
/// and no reward threshold.
#[cfg(feature = "minatar")]
const MINATAR_REGISTRY: [Registration; 10] = {
    use deepq_minatar::Game;
    const fn minatar(id: &'static str, game: Game, minimal: bool) -> Registration {
        Registration {
            id,
            family: Family::MinAtar(game, minimal),
            max_episode_steps: usize::MAX,
            reward_threshold: f64::INFINITY,
        }
    }
    [
        minatar("MinAtar/Asterix-v0", Game::Asterix, false),
        minatar("MinAtar/Asterix-v1", Game::Asterix, true),
        minatar("MinAtar/Breakout-v0", Game::Breakout, false),
        minatar("MinAtar/Breakout-v1", Game::Breakout, true),
        minatar("MinAtar/Freeway-v0", Game::Freeway, false),
        minatar("MinAtar/Freeway-v1", Game::Freeway, true),
        minatar("MinAtar/Seaquest-v0", Game::Seaquest, false),
        minatar("MinAtar/Seaquest-v1", Game::Seaquest, true),
        minatar("MinAtar/SpaceInvaders-v0", Game::SpaceInvaders, false),
        minatar("MinAtar/SpaceInvaders-v1", Game::SpaceInvaders, true),
    ]
};

/// Every registration, built-in families first.
fn registrations() -> impl Iterator<Item = &'static Registration> {
    let minatar: &'static [Registration] = {
        #[cfg(feature = "minatar")]
        {
            &MINATAR_REGISTRY
        }
        #[cfg(not(feature = "minatar"))]
        {
            &[]
        }
    };
    REGISTRY.iter().chain(minatar)
}

fn lookup(id: &str) -> Result<&'static Registration, EnvError> {
    registrations().find(|r| r.id == id).ok_or_else(|| {
        if is_atari_id(id) {
            EnvError::AtariId { id: id.to_owned() }
        } else {
            EnvError::UnknownId {
                id: id.to_owned(),
                available: env_ids(),
            }
        }
    })
}

/// Whether `id` is shaped like Gymnasium's Atari ids: `ALE/Pong-v5`, `PongNoFrameskip-v4`,
/// `PongDeterministic-v4`.
fn is_atari_id(id: &str) -> bool {
    let game = match id.strip_prefix("ALE/") {
        Some(rest) => rest.split('-').next(),
        None => ["NoFrameskip-v4", "Deterministic-v4"]
            .iter()
            .find_map(|suffix| id.strip_suffix(suffix)),
    };
    game.is_some_and(|g| !g.is_empty() && g.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Every registered environment id.
pub fn env_ids() -> Vec<&'static str> {
    registrations().map(|r| r.id).collect()
}

/// The spec of `id` without keyword arguments.
///
/// # Errors
/// [`EnvError::UnknownId`] if `id` is not registered.
pub fn spec(id: &str) -> Result<EnvSpec, EnvError> {
    Ok(lookup(id)?.spec())
}

/// The keyword arguments [`make`] accepts for `id`, sorted by name.
///
/// # Errors
/// [`EnvError::UnknownId`] if `id` is not registered.
pub fn accepted_kwargs(id: &str) -> Result<&'static [&'static str], EnvError> {
    Ok(lookup(id)?.family.kwargs())
}

/// Typed access to the kwargs of one `make` call, producing its errors.
struct KwargReader<'a> {
    env_id: &'static str,
    kwargs: &'a Kwargs,
}

impl KwargReader<'_> {
    fn invalid(&self, key: &str, value: &KwValue, expected: impl Into<String>) -> EnvError {
        EnvError::InvalidKwarg {
            env_id: self.env_id.to_owned(),
            key: key.to_owned(),
            value: value.clone(),
            expected: expected.into(),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, EnvError> {
        self.kwargs
            .get(key)
            .map(|v| match v {
                KwValue::Bool(b) => Ok(*b),
                _ => Err(self.invalid(key, v, "true or false")),
            })
            .transpose()
    }

    fn float(&self, key: &str) -> Result<Option<f64>, EnvError> {
        self.kwargs
            .get(key)
            .map(|v| match v {
                KwValue::Float(x) if x.is_finite() => Ok(*x),
                KwValue::Int(i) => Ok(*i as f64),
                _ => Err(self.invalid(key, v, "a finite number")),
            })
            .transpose()
    }

    fn probability(&self, key: &str) -> Result<Option<f64>, EnvError> {
        match self.float(key)? {
            Some(p) if !(0.0..=1.0).contains(&p) => {
                Err(self.invalid(key, &self.kwargs[key], "a number in 0..=1"))
            }
            p => Ok(p),
        }
    }

    fn positive_int(&self, key: &str) -> Result<Option<usize>, EnvError> {
        self.kwargs
            .get(key)
            .map(|v| match v {
                KwValue::Int(i) if *i > 0 => usize::try_from(*i)
                    .map_err(|_| self.invalid(key, v, "an integer that fits in usize")),
                _ => Err(self.invalid(key, v, "a positive integer")),
            })
            .transpose()
    }

    fn map_name(&self, key: &str) -> Result<Option<MapName>, EnvError> {
        self.kwargs
            .get(key)
            .map(|v| {
                MapName::NAMES
                    .iter()
                    .find(|(name, _)| matches!(v, KwValue::Str(s) if s == name))
                    .map(|&(_, map)| map)
                    .ok_or_else(|| self.invalid(key, v, "\"4x4\" or \"8x8\""))
            })
            .transpose()
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, EnvError> {
        self.kwargs
            .get(key)
            .map(|v| {
                let KwValue::List(items) = v else {
                    return Err(self.invalid(key, v, "a list of strings"));
                };
                items
                    .iter()
                    .map(|item| match item {
                        KwValue::Str(s) => Ok(s.clone()),
                        _ => Err(self.invalid(key, v, "a list of strings")),
                    })
                    .collect()
            })
            .transpose()
    }
}

/// Builds the environment registered as `id`, wrapped in its [`TimeLimit`].
///
/// Keyword arguments (Gymnasium's names):
/// - every environment: `max_episode_steps` (positive integer) replaces the
///   registered limit;
/// - `CartPole-*`: `sutton_barto_reward` (bool);
/// - `MountainCar-v0`: `goal_velocity` (number);
/// - `FrozenLake-v1`, `FrozenLake8x8-v1`: `map_name` (`"4x4"` or `"8x8"`),
///   `desc` (list of row strings, a custom map; excludes `map_name`),
///   `is_slippery` (bool, default true), `success_rate` (number in 0..=1,
///   default 1/3).
///
/// - `Taxi-v4`: `is_rainy` (bool, default false), `rainy_probability`
///   (number in 0..=1, default 0.8), `fickle_passenger` (bool, default
///   false), `fickle_probability` (number in 0..=1, default 0.3);
/// - `CliffWalking-v1`, `CliffWalkingSlippery-v1`: `is_slippery` (bool;
///   default false and true respectively).
///
/// - `LunarLander-v3`: `gravity` (number, -12 < gravity < 0, default -10),
///   `enable_wind` (bool, default false), `wind_power` (number, default 15),
///   `turbulence_power` (number, default 1.5), `continuous` (only `false`:
///   the continuous-action version is not implemented).
///
/// CliffWalking has no time limit or reward threshold in Gymnasium; here it
/// has 200 steps and -13 (the optimal return), see the registry's comments.
///
/// FrozenLake's time limit and reward threshold follow the built-in map in use
/// (4x4: 100 steps and 0.70, 8x8: 200 and 0.85), so `FrozenLake-v1` with
/// `map_name="8x8"` behaves like `FrozenLake8x8-v1`; Gymnasium would keep
/// 100 and 0.70 there. A custom `desc` keeps the id's values.
///
/// # Errors
/// [`EnvError::UnknownId`] for an unregistered id, [`EnvError::UnknownKwarg`]
/// for a keyword the environment does not take, [`EnvError::InvalidKwarg`]
/// for a value of the wrong type or out of range.
pub fn make(id: &str, kwargs: &Kwargs) -> Result<AnyEnv, EnvError> {
    let reg = lookup(id)?;
    let accepted = reg.family.kwargs();
    if let Some(key) = kwargs.keys().find(|k| !accepted.contains(&k.as_str())) {
        return Err(EnvError::UnknownKwarg {
            env_id: reg.id.to_owned(),
            key: key.clone(),
            accepted: accepted.to_vec(),
        });
    }
    let kw = KwargReader {
        env_id: reg.id,
        kwargs,
    };
    let max_episode_steps = kw.positive_int(MAX_EPISODE_STEPS)?;
    // The registered spec, with the FrozenLake map's limits where they apply
    // and the max_episode_steps override on top.
    let spec = |limits: Option<(usize, f64)>| {
        let mut spec = reg.spec();
        if let Some((steps, threshold)) = limits {
            (spec.max_episode_steps, spec.reward_threshold) = (steps, threshold);
        }
        spec.max_episode_steps = max_episode_steps.unwrap_or(spec.max_episode_steps);
        spec
    };
    Ok(match reg.family {
        Family::CartPole => {
            let sutton_barto = kw.bool("sutton_barto_reward")?.unwrap_or(false);
            let env = CartPole::with_sutton_barto_reward(sutton_barto);
            AnyEnv::CartPole(TimeLimit::with_spec(env, spec(None)))
        }
        Family::Acrobot => AnyEnv::Acrobot(TimeLimit::with_spec(Acrobot::new(), spec(None))),
        Family::MountainCar => {
            let goal_velocity = kw.float("goal_velocity")?.unwrap_or(0.0);
            let env = MountainCar::with_goal_velocity(goal_velocity);
            AnyEnv::MountainCar(TimeLimit::with_spec(env, spec(None)))
        }
        Family::FrozenLake(default_map) => {
            let map_name = kw.map_name("map_name")?;
            let is_slippery = kw.bool("is_slippery")?.unwrap_or(true);
            let success_rate = kw
                .probability("success_rate")?
                .unwrap_or(frozen_lake::DEFAULT_SUCCESS_RATE);
            let (lake, limits) = match (kw.strings("desc")?, map_name) {
                (Some(_), Some(_)) => {
                    return Err(kw.invalid(
                        "map_name",
                        &kwargs["map_name"],
                        "no map_name when desc gives the map",
                    ));
                }
                (Some(rows), None) => {
                    let lake = FrozenLake::new(&rows, is_slippery, success_rate).map_err(|e| {
                        kw.invalid("desc", &kwargs["desc"], format!("a valid map ({e})"))
                    })?;
                    (lake, None)
                }
                (None, map_name) => {
                    let map = map_name.unwrap_or(default_map);
                    let lake = FrozenLake::new(map.rows(), is_slippery, success_rate)
                        .expect("built-in maps are valid and success_rate was checked");
                    (lake, Some(map.limits()))
                }
            };
            AnyEnv::FrozenLake(TimeLimit::with_spec(lake, spec(limits)))
        }
        Family::Taxi => {
            let is_rainy = kw.bool("is_rainy")?.unwrap_or(false);
            let rainy_probability = kw
                .probability("rainy_probability")?
                .unwrap_or(taxi::DEFAULT_RAINY_PROBABILITY);
            let fickle_passenger = kw.bool("fickle_passenger")?.unwrap_or(false);
            let fickle_probability = kw
                .probability("fickle_probability")?
                .unwrap_or(taxi::DEFAULT_FICKLE_PROBABILITY);
            let env = Taxi::with_options(
                is_rainy,
                rainy_probability,
                fickle_passenger,
                fickle_probability,
            )
            .expect("probabilities were checked");
            AnyEnv::Taxi(TimeLimit::with_spec(env, spec(None)))
        }
        Family::CliffWalking(default_slippery) => {
            let is_slippery = kw.bool("is_slippery")?.unwrap_or(default_slippery);
            let env = CliffWalking::new(is_slippery);
            AnyEnv::CliffWalking(TimeLimit::with_spec(env, spec(None)))
        }
        Family::LunarLander => {
            if kw.bool("continuous")? == Some(true) {
                return Err(kw.invalid(
                    "continuous",
                    &kwargs["continuous"],
                    "false (the continuous-action LunarLander is not implemented; \
                     deepq's learners take discrete actions)",
                ));
            }
            let gravity = kw
                .float("gravity")?
                .unwrap_or(lunar_lander::DEFAULT_GRAVITY);
            let enable_wind = kw.bool("enable_wind")?.unwrap_or(false);
            let wind_power = kw
                .float("wind_power")?
                .unwrap_or(lunar_lander::DEFAULT_WIND_POWER);
            let turbulence_power = kw
                .float("turbulence_power")?
                .unwrap_or(lunar_lander::DEFAULT_TURBULENCE_POWER);
            let env = LunarLander::with_options(gravity, enable_wind, wind_power, turbulence_power)
                .map_err(|e| match e {
                    lunar_lander::LanderError::Gravity(_) => kw.invalid(
                        "gravity",
                        &kwargs["gravity"],
                        "a number between -12 and 0 (exclusive)",
                    ),
                    lunar_lander::LanderError::NotFinite { name, .. } => {
                        kw.invalid(name, &kwargs[name], "a finite number")
                    }
                })?;
            AnyEnv::LunarLander(TimeLimit::with_spec(env, spec(None)))
        }
        #[cfg(feature = "minatar")]
        Family::MinAtar(game, minimal) => {
            let sticky = kw
                .probability("sticky_action_prob")?
                .unwrap_or(minatar::DEFAULT_STICKY_ACTION_PROB);
            let ramping = kw.bool("difficulty_ramping")?.unwrap_or(true);
            let env = MinAtar::new(game, minimal, sticky, ramping);
            AnyEnv::MinAtar(TimeLimit::with_spec(env, spec(None)))
        }
    })
}

/// An environment made by [`make`], whatever its type.
///
/// Generic code runs on it through [`AnyEnv::visit`], which hands over the
/// concrete type once, so the step loop itself has no dynamic dispatch.
#[derive(Clone, Debug)]
pub enum AnyEnv {
    /// `CartPole-v0`, `CartPole-v1`.
    CartPole(TimeLimit<CartPole>),
    /// `Acrobot-v1`.
    Acrobot(TimeLimit<Acrobot>),
    /// `MountainCar-v0`.
    MountainCar(TimeLimit<MountainCar>),
    /// `FrozenLake-v1`, `FrozenLake8x8-v1`.
    FrozenLake(TimeLimit<FrozenLake>),
    /// `Taxi-v4`.
    Taxi(TimeLimit<Taxi>),
    /// `CliffWalking-v1`, `CliffWalkingSlippery-v1`.
    CliffWalking(TimeLimit<CliffWalking>),
    /// `LunarLander-v3`.
    LunarLander(TimeLimit<LunarLander>),
    /// `MinAtar/<Game>-v0`, `MinAtar/<Game>-v1` (with the `minatar` feature).
    #[cfg(feature = "minatar")]
    MinAtar(TimeLimit<MinAtar>),
}

/// Lets generic code run once per concrete env type (no per-step dynamic
/// dispatch): `make(..)?.visit(MyVisitor)`.
pub trait EnvVisitor {
    /// What the visit produces.
    type Output;
    /// Called with the concrete environment and its spec.
    fn visit<E>(self, env: E, spec: EnvSpec) -> Self::Output
    where
        E: Env + Clone + Serialize + DeserializeOwned + Send + 'static;
}

/// Evaluates `$body` with `$env` bound to the wrapped `TimeLimit<_>` of any variant.
macro_rules! with_env {
    ($any:expr, $env:ident => $body:expr) => {
        match $any {
            AnyEnv::CartPole($env) => $body,
            AnyEnv::Acrobot($env) => $body,
            AnyEnv::MountainCar($env) => $body,
            AnyEnv::FrozenLake($env) => $body,
            AnyEnv::Taxi($env) => $body,
            AnyEnv::CliffWalking($env) => $body,
            AnyEnv::LunarLander($env) => $body,
            #[cfg(feature = "minatar")]
            AnyEnv::MinAtar($env) => $body,
        }
    };
}

impl AnyEnv {
    /// What the environment was registered as, with kwargs applied.
    ///
    /// # Panics
    /// If the variant was assembled by hand from a [`TimeLimit`] without a
    /// spec (see [`TimeLimit::with_spec`]); [`make`] always attaches one.
    pub fn spec(&self) -> &EnvSpec {
        with_env!(self, env => env.spec()).expect(
            "AnyEnv holds a TimeLimit without an EnvSpec; build it with TimeLimit::with_spec",
        )
    }

    /// Calls `visitor` with the concrete environment.
    pub fn visit<V: EnvVisitor>(self, visitor: V) -> V::Output {
        let spec = self.spec().clone();
        with_env!(self, env => visitor.visit(env, spec))
    }

    /// The observation space.
    pub fn observation_space(&self) -> Space {
        with_env!(self, env => env.observation_space())
    }

    /// The action space.
    pub fn action_space(&self) -> Space {
        with_env!(self, env => env.action_space())
    }

    /// Number of discrete actions.
    pub fn n_actions(&self) -> usize {
        with_env!(self, env => env.n_actions())
    }
}
