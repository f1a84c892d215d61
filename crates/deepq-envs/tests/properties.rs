//! Property tests: spaces, reset bounds, the time limit, determinism.

use deepq_envs::{Env, EnvSpec, EnvVisitor, KwValue, Kwargs, Observation, Space, env_ids, make};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// The first `n` steps of an episode (or fewer if it ends), with the state
/// after each step.
type Trace<O> = Vec<(O, f64, bool, bool, Vec<f64>)>;

fn run<E: Env>(env: &mut E, actions: &[usize]) -> Trace<E::Obs> {
    let mut trace = Vec::new();
    for &a in actions {
        let step = env.step(a % env.n_actions());
        let done = step.done();
        trace.push((
            step.obs,
            step.reward,
            step.terminated,
            step.truncated,
            env.state(),
        ));
        if done {
            break;
        }
    }
    trace
}

/// Reset bounds of the state (`state_len` values), per Gymnasium, for each family.
fn reset_bounds(id: &str, state_len: usize) -> Vec<(f64, f64)> {
    // Acrobot rounds its U[-0.1, 0.1) draw to f32, which may land on 0.1f32.
    let acro = (-0.1f32 as f64, 0.1f32 as f64);
    match id {
        id if id.starts_with("CartPole") => vec![(-0.05, 0.05); 4],
        "Acrobot-v1" => vec![acro; 4],
        "MountainCar-v0" => vec![(-0.6, -0.4), (0.0, 0.0)],
        "Taxi-v4" => vec![(0.0, 499.0)],
        id if id.starts_with("CliffWalking") => vec![(36.0, 36.0)],
        id if id.starts_with("FrozenLake") => vec![(0.0, 0.0)],
        // The episode's random start: 12 terrain heights in [0, H/2], the
        // push, the wind phases (0 without wind) and the reset step's noise.
        "LunarLander-v3" => {
            let mut b = vec![(0.0, 400.0 / 30.0 / 2.0); 12];
            b.extend([(-1000.0, 1000.0); 2]);
            b.extend([(0.0, 0.0); 2]);
            b.extend([(-1.0, 1.0); 2]);
            b
        }
        // MinAtar's state is its observation's bits.
        id if id.starts_with("MinAtar/") => vec![(0.0, 1.0); state_len],
        _ => panic!("no reset bounds for {id}"),
    }
}

struct ResetInBounds {
    seed: u64,
}

impl EnvVisitor for ResetInBounds {
    type Output = Result<(), TestCaseError>;
    fn visit<E: Env + Clone + 'static>(self, mut env: E, spec: EnvSpec) -> Self::Output {
        let obs = env.reset(Some(self.seed));
        let space = env.observation_space();
        let mut flat = vec![0.0; space.flat_dim()];
        obs.write_flat(&mut flat);
        prop_assert!(
            space.contains_flat(&flat),
            "{}: {flat:?} outside {space}",
            spec.id
        );
        let state = env.state();
        let bounds = reset_bounds(&spec.id, state.len());
        prop_assert_eq!(state.len(), bounds.len());
        for (v, (lo, hi)) in state.iter().zip(bounds) {
            prop_assert!(lo <= *v && *v <= hi, "{}: reset state {state:?}", spec.id);
        }
        Ok(())
    }
}

struct Deterministic {
    seed: u64,
    actions: Vec<usize>,
}

impl EnvVisitor for Deterministic {
    type Output = Result<(), TestCaseError>;
    fn visit<E: Env + Clone + 'static>(self, env: E, spec: EnvSpec) -> Self::Output {
        let mut a = env.clone();
        let mut b = env;
        // Two episodes each: the second starts from the continued stream.
        for seed in [Some(self.seed), None] {
            prop_assert_eq!(a.reset(seed), b.reset(seed), "{}: reset", spec.id);
            prop_assert_eq!(
                run(&mut a, &self.actions),
                run(&mut b, &self.actions),
                "{}: trajectory",
                spec.id
            );
        }
        Ok(())
    }
}

struct TimeLimitHolds {
    seed: u64,
    actions: Vec<usize>,
}

impl EnvVisitor for TimeLimitHolds {
    type Output = Result<(), TestCaseError>;
    fn visit<E: Env + Clone + 'static>(self, mut env: E, spec: EnvSpec) -> Self::Output {
        let limit = spec.max_episode_steps;
        env.reset(Some(self.seed));
        for t in 1..=limit + 3 {
            let step = env.step(self.actions[t % self.actions.len()] % env.n_actions());
            prop_assert!(
                !(step.terminated && step.truncated),
                "{}: both flags",
                spec.id
            );
            prop_assert_eq!(
                step.truncated,
                t >= limit && !step.terminated,
                "{} t={}",
                spec.id,
                t
            );
            if step.terminated {
                prop_assert!(t <= limit);
                break;
            }
            if t == limit {
                prop_assert!(step.truncated, "{}: not truncated at the limit", spec.id);
                break;
            }
        }
        Ok(())
    }
}

fn any_id() -> impl Strategy<Value = &'static str> {
    prop::sample::select(env_ids())
}

proptest! {
    #[test]
    fn discrete_space_one_hot(n in 1usize..64, i in 0usize..64) {
        let i = i % n;
        let space = Space::Discrete { n };
        prop_assert_eq!(space.flat_dim(), n);
        let mut flat = vec![f32::NAN; n];
        i.write_flat(&mut flat);
        prop_assert_eq!(flat.iter().filter(|&&x| x == 1.0).count(), 1);
        prop_assert_eq!(flat[i], 1.0);
        prop_assert!(space.contains_flat(&flat));
        prop_assert!(space.contains_index(i) && !space.contains_index(n));
    }

    #[test]
    fn box_space_contains_its_points(
        bounds in prop::collection::vec((-1e3f32..1e3, 0f32..1e3, 0f32..=1.0), 1..10)
    ) {
        let low: Vec<f32> = bounds.iter().map(|b| b.0).collect();
        let high: Vec<f32> = bounds.iter().map(|b| b.0 + b.1).collect();
        let point: Vec<f32> = bounds.iter().map(|b| (b.0 + b.1 * b.2).min(b.0 + b.1)).collect();
        let space = Space::box_1d(low.clone(), high.clone());
        prop_assert_eq!(space.flat_dim(), bounds.len());
        prop_assert!(space.contains_flat(&point));
        prop_assert!(space.contains_flat(&low) && space.contains_flat(&high));
        let mut outside = point.clone();
        outside[0] = high[0] + 1.0 + high[0].abs();
        prop_assert!(!space.contains_flat(&outside));
    }

    #[test]
    fn reset_observations_within_bounds(id in any_id(), seed in any::<u64>()) {
        make(id, &Kwargs::new()).unwrap().visit(ResetInBounds { seed })?;
    }

    #[test]
    fn same_seed_same_trajectory(
        id in any_id(),
        seed in any::<u64>(),
        actions in prop::collection::vec(0usize..4, 1..200),
    ) {
        make(id, &Kwargs::new()).unwrap().visit(Deterministic { seed, actions })?;
    }

    #[test]
    fn truncated_exactly_at_the_limit(
        id in any_id(),
        limit in 1i64..60,
        seed in any::<u64>(),
        actions in prop::collection::vec(0usize..4, 1..20),
    ) {
        let kwargs = Kwargs::from([("max_episode_steps".to_owned(), KwValue::Int(limit))]);
        make(id, &kwargs).unwrap().visit(TimeLimitHolds { seed, actions })?;
    }
}
