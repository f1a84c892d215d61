//! Environment step throughput (criterion reports steps/s as elements/s).
//!
//! Actions come from a fixed pseudo-random table, so episodes end (and
//! auto-reset) as often as under a random policy, without timing an RNG.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use deepq_envs::{Acrobot, CartPole, Env, FrozenLake, MountainCar, TimeLimit, VecEnv, toy_text};

/// Steps timed per iteration.
const STEPS: usize = 10_000;
const VEC_COPIES: usize = 64;

/// 1024 actions in `0..n` from a xorshift generator.
fn action_table(n: usize) -> Vec<usize> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as usize % n
        })
        .collect()
}

/// `STEPS` steps of one environment, resetting when an episode ends.
fn bench_single<E: Env>(c: &mut Criterion, name: &str, mut env: E) {
    let actions = action_table(env.n_actions());
    env.reset(Some(0));
    let mut group = c.benchmark_group("single");
    group.throughput(Throughput::Elements(STEPS as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            for t in 0..STEPS {
                let step = env.step(actions[t & 1023]);
                if step.terminated || step.truncated {
                    env.reset(None);
                }
                black_box(&step.obs);
            }
        })
    });
    group.finish();
}

/// `STEPS / VEC_COPIES` steps of a `VecEnv` with `VEC_COPIES` CartPoles, i.e.
/// `STEPS` environment steps, auto-reset included.
fn bench_vec_cartpole(c: &mut Criterion) {
    let mut env = VecEnv::new(vec![TimeLimit::new(CartPole::new(), 500); VEC_COPIES]);
    env.reset(Some(0));
    let table = action_table(2);
    let mut group = c.benchmark_group("vec64");
    group.throughput(Throughput::Elements(
        (STEPS / VEC_COPIES * VEC_COPIES) as u64,
    ));
    group.bench_function("CartPole-v1", |b| {
        let mut t = 0;
        b.iter(|| {
            for _ in 0..STEPS / VEC_COPIES {
                let offset = (t * VEC_COPIES) & 1023;
                t += 1;
                let out = env.step(&table[offset..offset + VEC_COPIES]);
                black_box(out.obs);
            }
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_single(c, "CartPole-v1", TimeLimit::new(CartPole::new(), 500));
    bench_vec_cartpole(c);
    bench_single(c, "Acrobot-v1", TimeLimit::new(Acrobot::new(), 500));
    bench_single(c, "MountainCar-v0", TimeLimit::new(MountainCar::new(), 200));
    let lake = FrozenLake::new(
        &toy_text::frozen_lake::MAP_4X4,
        true,
        toy_text::frozen_lake::DEFAULT_SUCCESS_RATE,
    )
    .expect("built-in map");
    bench_single(c, "FrozenLake-v1", TimeLimit::new(lake, 100));
}

criterion_group!(envs, benches);
criterion_main!(envs);
