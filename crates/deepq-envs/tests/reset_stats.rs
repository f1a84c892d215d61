//! The distribution of this crate's own resets: Gymnasium's bounds and means.
//!
//! Tolerances: for `N` independent draws from `U[a, b)` the sample mean has
//! standard error `(b - a) / sqrt(12 N)`. The tests allow 5 standard errors,
//! a band a correct sampler leaves with probability below 1e-6; the seeds are
//! fixed, so the outcome is reproducible anyway, while a biased or
//! wrongly scaled sampler (e.g. `U[0, 0.05)` or a wrong centre) misses it by
//! tens of standard errors. The sample standard deviation must be within 3 %
//! of `(b - a) / sqrt(12)`; its relative standard error at N = 20 000 is
//! about 0.45 %.

use deepq_envs::{Acrobot, CartPole, Env, FrozenLake, MountainCar, toy_text::frozen_lake};

const N: usize = 20_000;

/// Mean and standard deviation of each state component over `N` resets:
/// the first half seeded with `0..N/2`, the second half continuing the
/// stream of the last seed with `reset(None)`.
fn reset_moments<E: Env>(mut env: E) -> Vec<(f64, f64)> {
    let states: Vec<Vec<f64>> = (0..N)
        .map(|i| {
            let seed = (i < N / 2).then_some(i as u64);
            env.reset(seed);
            env.state()
        })
        .collect();
    (0..states[0].len())
        .map(|k| {
            let mean = states.iter().map(|s| s[k]).sum::<f64>() / N as f64;
            let var = states.iter().map(|s| (s[k] - mean).powi(2)).sum::<f64>() / (N - 1) as f64;
            (mean, var.sqrt())
        })
        .collect()
}

/// Asserts the component's moments match `U[low, high)`.
fn assert_uniform(name: &str, (mean, sd): (f64, f64), low: f64, high: f64) {
    let expected_sd = (high - low) / 12f64.sqrt();
    let se = expected_sd / (N as f64).sqrt();
    let centre = (low + high) / 2.0;
    assert!(
        (mean - centre).abs() < 5.0 * se,
        "{name}: mean {mean} is more than 5 standard errors ({se}) from {centre}"
    );
    assert!(
        (sd / expected_sd - 1.0).abs() < 0.03,
        "{name}: standard deviation {sd}, expected {expected_sd}"
    );
}

/// Asserts every reset state lies within the closed bounds (`low + (high -
/// low) * u` with `u < 1` can still round up to `high`).
fn assert_bounds<E: Env>(mut env: E, bounds: &[(f64, f64)]) {
    for seed in 0..N as u64 {
        env.reset(Some(seed));
        for (v, (lo, hi)) in env.state().iter().zip(bounds) {
            assert!(lo <= v && v <= hi, "seed {seed}: {v} outside [{lo}, {hi}]");
        }
    }
}

#[test]
fn cartpole_resets_uniform_in_plus_minus_005() {
    assert_bounds(CartPole::new(), &[(-0.05, 0.05); 4]);
    for (k, m) in reset_moments(CartPole::new()).into_iter().enumerate() {
        assert_uniform(&format!("CartPole state[{k}]"), m, -0.05, 0.05);
    }
}

#[test]
fn acrobot_resets_uniform_in_plus_minus_01() {
    // Rounding to f32 can reach ±0.1f32, just outside ±0.1.
    let bound = f64::from(0.1f32);
    assert_bounds(Acrobot::new(), &[(-bound, bound); 4]);
    for (k, m) in reset_moments(Acrobot::new()).into_iter().enumerate() {
        assert_uniform(&format!("Acrobot state[{k}]"), m, -0.1, 0.1);
    }
}

#[test]
fn mountain_car_resets_uniform_position_at_rest() {
    assert_bounds(MountainCar::new(), &[(-0.6, -0.4), (0.0, 0.0)]);
    let moments = reset_moments(MountainCar::new());
    assert_uniform("MountainCar position", moments[0], -0.6, -0.4);
    assert_eq!(moments[1], (0.0, 0.0), "velocity is always 0");
}

#[test]
fn frozen_lake_starts_on_start_cells_uniformly() {
    let lake =
        |desc: &[&str]| FrozenLake::new(desc, true, frozen_lake::DEFAULT_SUCCESS_RATE).unwrap();
    let mut single = lake(&frozen_lake::MAP_4X4);
    assert!((0..1000).all(|s| single.reset(Some(s)) == 0));

    // Two start cells: each is a Bernoulli(1/2) outcome, standard error
    // sqrt(0.25 / N) ≈ 0.0035; 5 of them is 0.018.
    let mut double = lake(&["SFS", "FFG"]);
    let at_2 = (0..N)
        .filter(|&i| double.reset(Some(i as u64)) == 2)
        .count();
    let share = at_2 as f64 / N as f64;
    assert!(
        (share - 0.5).abs() < 0.018,
        "start cell 2 chosen {share} of the time"
    );
}

#[test]
fn frozen_lake_slips_with_the_table_probabilities() {
    // From the start cell, RIGHT slips DOWN to 4, goes RIGHT to 1, or slips
    // UP into the wall (stays at 0), each with probability 1/3; standard
    // error sqrt(2 / 9 / N) ≈ 0.0033, 5 of them is 0.017.
    let mut env = FrozenLake::new(
        &frozen_lake::MAP_4X4,
        true,
        frozen_lake::DEFAULT_SUCCESS_RATE,
    )
    .unwrap();
    env.reset(Some(3));
    let mut counts = [0usize; 16];
    for _ in 0..N {
        env.reset_to_state(&[0.0]);
        counts[env.step(frozen_lake::RIGHT).obs] += 1;
    }
    for cell in [0, 1, 4] {
        let share = counts[cell] as f64 / N as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.017, "cell {cell}: {share}");
    }
    assert_eq!(counts[0] + counts[1] + counts[4], N);
}

#[test]
fn taxi_starts_uniformly_on_its_300_start_states() {
    use deepq_envs::toy_text::taxi;
    let mut env = deepq_envs::Taxi::new();
    let mut counts = vec![0usize; taxi::N_STATES];
    for i in 0..N {
        counts[env.reset(Some(i as u64))] += 1;
    }
    // Only states with the passenger waiting away from the destination.
    for (s, &c) in counts.iter().enumerate() {
        let [_, _, passenger, destination] = taxi::decode(s);
        let start = passenger < taxi::IN_TAXI && passenger != destination;
        assert!(start || c == 0, "state {s} drawn {c} times");
    }
    // Per taxi cell (12 start states each, p = 1/25): standard error
    // sqrt(p (1 - p) / N) ≈ 0.0014; 5 of them is 0.007.
    for cell in 0..25 {
        let share = counts[cell * 20..cell * 20 + 20].iter().sum::<usize>() as f64 / N as f64;
        assert!((share - 0.04).abs() < 0.007, "cell {cell}: {share}");
    }
}

#[test]
fn slippery_cliff_and_rainy_taxi_slip_with_the_table_probabilities() {
    use deepq_envs::toy_text::{cliff_walking, taxi};
    // From cell 13 (row 1, col 1), RIGHT goes UP to 1, RIGHT to 14 or DOWN
    // to 25, 1/3 each: standard error ≈ 0.0033, 5 of them is 0.017.
    let mut cliff = deepq_envs::CliffWalking::new(true);
    cliff.reset(Some(9));
    let mut counts = [0usize; cliff_walking::N_STATES];
    for _ in 0..N {
        cliff.reset_to_state(&[13.0]);
        counts[cliff.step(cliff_walking::RIGHT).obs] += 1;
    }
    for cell in [1, 14, 25] {
        let share = counts[cell] as f64 / N as f64;
        assert!((share - 1.0 / 3.0).abs() < 0.017, "cell {cell}: {share}");
    }
    // A rainy taxi in the middle going SOUTH: 0.8 south, 0.1 east, 0.1 west;
    // standard errors 0.0028 and 0.0021.
    let mut env = deepq_envs::Taxi::with_options(true, 0.8, false, 0.3).unwrap();
    env.reset(Some(9));
    let middle = taxi::encode(2, 2, 0, 1) as f64;
    let (mut south, mut east) = (0usize, 0usize);
    for _ in 0..N {
        env.reset_to_state(&[middle]);
        match taxi::decode(env.step(taxi::SOUTH).obs) {
            [3, 2, ..] => south += 1,
            [2, 3, ..] => east += 1,
            _ => {}
        }
    }
    assert!(
        (south as f64 / N as f64 - 0.8).abs() < 0.014,
        "south {south}"
    );
    assert!((east as f64 / N as f64 - 0.1).abs() < 0.011, "east {east}");
}

#[test]
fn fickle_passengers_change_their_mind_on_the_first_move() {
    use deepq_envs::toy_text::taxi;
    // The first move after the pickup of a passenger who is fickle this
    // episode (probability 1 here) changes the destination to one of the
    // other three pads, uniformly; with probability 0 it never changes.
    // Episodes that start with the taxi on the passenger's pad are used.
    let run = |fickle_probability: f64| {
        let mut env = deepq_envs::Taxi::with_options(false, 0.8, true, fickle_probability).unwrap();
        let (mut changed, mut by_offset, mut cases) = (0usize, [0usize; 4], 0usize);
        for seed in 0.. {
            let [row, col, passenger, destination] = taxi::decode(env.reset(Some(seed)));
            if (row, col) != taxi::LOCS[passenger] {
                continue;
            }
            env.step(taxi::PICKUP);
            let action = if row < 4 { taxi::SOUTH } else { taxi::NORTH };
            let new = taxi::decode(env.step(action).obs)[3];
            if new != destination {
                changed += 1;
                by_offset[(new + 4 - destination) % 4] += 1;
            }
            cases += 1;
            if cases == 600 {
                break;
            }
        }
        (changed, by_offset)
    };
    let (changed, by_offset) = run(1.0);
    assert_eq!(changed, 600);
    // Each other pad: p = 1/3, standard error sqrt(2 / 9 / 600) ≈ 0.019; 5 of them is 0.096.
    for n in &by_offset[1..] {
        assert!(
            (*n as f64 / 600.0 - 1.0 / 3.0).abs() < 0.096,
            "{by_offset:?}"
        );
    }
    assert_eq!(run(0.0).0, 0);
}
