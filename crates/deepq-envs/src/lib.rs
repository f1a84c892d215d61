//! Reinforcement-learning environments for deepq, reproducing Gymnasium 1.x.
//!
//! The classic-control environments ([`CartPole`], [`Acrobot`],
//! [`MountainCar`]) match Gymnasium bit for bit from a given state: the tests
//! replay trajectories recorded from Gymnasium 1.4 and compare every
//! observation, state, reward and flag exactly. [`FrozenLake`], [`Taxi`] and
//! [`CliffWalking`] reproduce Gymnasium's transition tables entry for entry.
//! [`LunarLander`] runs on the same C++ Box2D 2.3.2 as Gymnasium's and matches
//! it bit for bit from the same random draws (see [`box2d`]). What cannot match is the
//! random stream: environments draw from their own `rand_pcg::Pcg64`, not
//! numpy's generator, so the same seed gives other (equally distributed)
//! initial states than in Python.
//!
//! Every public item is re-exported at the crate root; the modules group them.
//!
//! ```
//! use deepq_envs::{Env, Kwargs, make, EnvVisitor, EnvSpec};
//!
//! struct RandomReturn;
//! impl EnvVisitor for RandomReturn {
//!     type Output = f64;
//!     fn visit<E: Env + Clone + 'static>(self, mut env: E, _spec: EnvSpec) -> f64 {
//!         env.reset(Some(42));
//!         let mut total = 0.0;
//!         for t in 0.. {
//!             let step = env.step(t % env.n_actions());
//!             total += step.reward;
//!             if step.terminated || step.truncated {
//!                 break;
//!             }
//!         }
//!         total
//!     }
//! }
//!
//! let env = make("CartPole-v1", &Kwargs::new()).unwrap();
//! assert_eq!(env.spec().max_episode_steps, 500);
//! assert!(env.visit(RandomReturn) >= 1.0);
//! ```

#![warn(missing_docs)]

pub mod box2d;
pub mod classic;
pub mod env;
mod math;
#[cfg(feature = "minatar")]
pub mod minatar;
pub mod registry;
mod render;
pub mod space;
pub mod time_limit;
pub mod toy_text;
pub mod vector;

pub use box2d::lunar_lander::LunarLander;
pub use classic::{Acrobot, CartPole, MountainCar};
pub use env::{CopySteps, DEFAULT_SEED, Env, Observation, RgbFrame, Step};
pub use registry::{
    AnyEnv, EnvError, EnvSpec, EnvVisitor, KwValue, Kwargs, accepted_kwargs, env_ids, make, spec,
};
pub use space::{ElementType, Space};
pub use time_limit::TimeLimit;
pub use toy_text::cliff_walking::CliffWalking;
pub use toy_text::frozen_lake::{FrozenLake, Transition};
pub use toy_text::taxi::Taxi;
pub use vector::{VecEnv, VecStep};
