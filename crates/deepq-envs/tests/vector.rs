//! `VecEnv` against independently stepped single environments.

use deepq_envs::{
    Acrobot, CartPole, Env, FrozenLake, MountainCar, TimeLimit, VecEnv, toy_text::frozen_lake,
};

/// Steps a `VecEnv` of `n` copies of `env` alongside `n` single copies driven
/// by hand, and checks every buffer of every step. Returns the number of
/// auto-resets seen.
fn check_against_singles<E: Env + Clone>(env: E, n: usize, seed: u64, steps: usize) -> usize {
    let mut vec_env = VecEnv::new(vec![env.clone(); n]);
    let mut singles = vec![env; n];
    let first = vec_env.reset(Some(seed)).to_vec();
    for (i, single) in singles.iter_mut().enumerate() {
        assert_eq!(
            first[i],
            single.reset(Some(seed + i as u64)),
            "copy {i}: reset obs"
        );
    }
    let mut resets = 0;
    for t in 0..steps {
        // A cheap deterministic pattern that differs between copies.
        let actions: Vec<usize> = (0..n)
            .map(|i| (t * 7 + i * 3 + t / 5) % singles[i].n_actions())
            .collect();
        let out = vec_env.step(&actions);
        for (i, single) in singles.iter_mut().enumerate() {
            let step = single.step(actions[i]);
            assert_eq!(out.final_obs[i], step.obs, "step {t} copy {i}: final_obs");
            assert_eq!(out.rewards[i], step.reward, "step {t} copy {i}: reward");
            assert_eq!(
                out.terminated[i], step.terminated,
                "step {t} copy {i}: terminated"
            );
            assert_eq!(
                out.truncated[i], step.truncated,
                "step {t} copy {i}: truncated"
            );
            if step.done() {
                resets += 1;
                assert_eq!(
                    out.obs[i],
                    single.reset(None),
                    "step {t} copy {i}: obs after auto-reset"
                );
            } else {
                assert_eq!(out.obs[i], step.obs, "step {t} copy {i}: obs");
            }
        }
    }
    resets
}

#[test]
fn cartpole_auto_resets_like_single_envs() {
    let resets = check_against_singles(TimeLimit::new(CartPole::new(), 500), 8, 100, 400);
    assert!(resets > 8, "expected many terminations, saw {resets}");
}

#[test]
fn truncation_auto_resets_like_single_envs() {
    // MountainCar never reaches the goal with this pattern: every reset is a truncation.
    let resets = check_against_singles(TimeLimit::new(MountainCar::new(), 30), 3, 7, 100);
    assert_eq!(resets, 3 * 3);
    let resets = check_against_singles(TimeLimit::new(Acrobot::new(), 20), 2, 1, 50);
    assert_eq!(resets, 2 * 2);
}

#[test]
fn discrete_observations_auto_reset_like_single_envs() {
    let lake = FrozenLake::new(
        &frozen_lake::MAP_4X4,
        true,
        frozen_lake::DEFAULT_SUCCESS_RATE,
    )
    .unwrap();
    let resets = check_against_singles(TimeLimit::new(lake, 100), 4, 0, 300);
    assert!(resets > 4, "expected episodes to end, saw {resets}");
}

#[test]
fn copies_get_distinct_streams_and_reproduce_single_seeds() {
    let mut vec_env = VecEnv::new(vec![CartPole::new(); 5]);
    let obs = vec_env.reset(Some(41)).to_vec();
    for i in 0..obs.len() {
        for j in 0..i {
            assert_ne!(obs[i], obs[j], "copies {i} and {j} share a stream");
        }
        assert_eq!(obs[i], CartPole::new().reset(Some(41 + i as u64)));
    }
    // Reseeding with the same seed replays the same first observations.
    assert_eq!(vec_env.reset(Some(41)), obs.as_slice());
    // Without a seed each copy moves on along its own stream.
    let next = vec_env.reset(None).to_vec();
    for (i, o) in next.iter().enumerate() {
        let mut single = CartPole::new();
        single.reset(Some(41 + i as u64));
        assert_eq!(*o, single.reset(None));
    }
}

#[test]
fn reports_size_and_copies() {
    let vec_env = VecEnv::new(vec![MountainCar::new(); 3]);
    assert_eq!(vec_env.num_envs(), 3);
    assert_eq!(vec_env.envs().len(), 3);
}

#[test]
#[should_panic(expected = "before VecEnv::reset")]
fn stepping_before_reset_panics() {
    VecEnv::new(vec![CartPole::new()]).step(&[0]);
}

#[test]
#[should_panic(expected = "one action per environment")]
fn wrong_number_of_actions_panics() {
    let mut vec_env = VecEnv::new(vec![CartPole::new(); 2]);
    vec_env.reset(Some(0));
    vec_env.step(&[0]);
}

#[test]
#[should_panic(expected = "at least one environment")]
fn empty_vec_env_panics() {
    VecEnv::<CartPole>::new(vec![]);
}

/// A vector env saved mid-episode and restored continues exactly as the original: same
/// observations, rewards, flags and auto-resets (RNG streams included).
#[test]
fn saved_and_restored_vector_env_continues_identically() {
    let mut original = VecEnv::new(vec![TimeLimit::new(CartPole::new(), 500); 3]);
    original.reset(Some(11));
    let actions: Vec<usize> = (0..3000).map(|k| (k * 7 + k / 3) % 2).collect();
    for chunk in actions[..300].chunks(3) {
        original.step(chunk);
    }
    let saved = serde_json::to_string(&original).unwrap();
    let mut restored: VecEnv<TimeLimit<CartPole>> = serde_json::from_str(&saved).unwrap();
    for chunk in actions[300..].chunks(3) {
        let a = original.step(chunk);
        let (obs, rewards, term, trunc, fin) = (
            a.obs.to_vec(),
            a.rewards.to_vec(),
            a.terminated.to_vec(),
            a.truncated.to_vec(),
            a.final_obs.to_vec(),
        );
        let b = restored.step(chunk);
        assert_eq!((obs.as_slice(), rewards.as_slice()), (b.obs, b.rewards));
        assert_eq!(
            (term.as_slice(), trunc.as_slice(), fin.as_slice()),
            (b.terminated, b.truncated, b.final_obs)
        );
    }
}
