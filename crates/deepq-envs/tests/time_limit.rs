//! `TimeLimit` corner cases that random tests rarely reach.

use deepq_envs::{CartPole, Env, TimeLimit};

/// Steps until pushing right from the seed-0 reset topples the pole.
fn steps_to_topple() -> usize {
    let mut env = CartPole::new();
    env.reset(Some(0));
    (1..).find(|_| env.step(1).terminated).unwrap()
}

/// Steps `env` from a seed-0 reset, pushing right, and returns the flags of
/// each step.
fn flags(env: &mut TimeLimit<CartPole>, steps: usize) -> Vec<(bool, bool)> {
    env.reset(Some(0));
    (0..steps)
        .map(|_| {
            let step = env.step(1);
            (step.terminated, step.truncated)
        })
        .collect()
}

#[test]
fn termination_on_the_last_allowed_step_is_not_truncation() {
    let k = steps_to_topple();
    let mut env = TimeLimit::new(CartPole::new(), k);
    let flags = flags(&mut env, k);
    assert!(flags[..k - 1].iter().all(|&f| f == (false, false)));
    assert_eq!(flags[k - 1], (true, false), "Gymnasium would report both");
}

#[test]
fn truncation_one_step_before_termination() {
    let k = steps_to_topple();
    let mut env = TimeLimit::new(CartPole::new(), k - 1);
    let flags = flags(&mut env, k - 1);
    assert_eq!(flags[k - 2], (false, true));
    assert_eq!(env.elapsed_steps(), k - 1);
}

#[test]
fn stays_truncated_past_the_limit_and_resets_count() {
    let mut env = TimeLimit::new(CartPole::new(), 2);
    env.reset(Some(1));
    let truncated: Vec<bool> = (0..4).map(|t| env.step(t % 2).truncated).collect();
    assert_eq!(truncated, [false, true, true, true]);
    assert_eq!(env.elapsed_steps(), 4);
    env.reset(None);
    assert_eq!(env.elapsed_steps(), 0);
    env.step(0);
    env.reset_to_state(&[0.0; 4]);
    assert_eq!(env.elapsed_steps(), 0);
    assert_eq!(env.max_episode_steps(), 2);
    assert_eq!(env.inner().state(), vec![0.0; 4]);
    assert!(env.spec().is_none());
}

#[test]
#[should_panic(expected = "max_episode_steps must be positive")]
fn zero_limit_panics() {
    TimeLimit::new(CartPole::new(), 0);
}

#[test]
#[should_panic(expected = "CartPole: invalid action 2; valid actions are 0..2")]
fn invalid_action_panics_with_a_clear_message() {
    let mut env = TimeLimit::new(CartPole::new(), 10);
    env.reset(Some(0));
    env.step(2);
}
