//! Replay buffer micro-benchmarks: storing a transition, and sampling plus gathering a batch
//! of 64 (with and without replacement) from a full 100k-transition CartPole-sized buffer;
//! prioritized sampling and priority updates over 100k slots.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use deepq::per::Priorities;
use deepq::replay::{Batch, ReplayBuffer};
use rand::SeedableRng;
use rand_pcg::Pcg64;

fn full_buffer() -> ReplayBuffer {
    let mut buf = ReplayBuffer::new(100_000, 4);
    for k in 0..100_000 {
        let x = k as f32 * 1e-5;
        buf.push(
            &[x, -x, x, 0.5],
            (k % 2) as u32,
            1.0,
            &[x, x, -x, 0.25],
            k % 97 == 0,
            false,
        );
    }
    buf
}

fn bench(c: &mut Criterion) {
    let mut buf = full_buffer();
    let mut rng = Pcg64::seed_from_u64(0);
    let mut idx = Vec::with_capacity(64);
    let mut batch = Batch::<f32>::with_capacity(64, 4);
    c.bench_function("replay push (4-dim obs)", |b| {
        b.iter(|| {
            buf.push(
                black_box(&[0.1, 0.2, 0.3, 0.4]),
                1,
                1.0,
                &[0.2, 0.3, 0.4, 0.5],
                false,
                false,
            )
        })
    });
    for (name, with_replacement) in [("with", true), ("without", false)] {
        c.bench_function(
            &format!("replay sample+gather 64 {name} replacement"),
            |b| {
                b.iter(|| {
                    buf.sample_indices(&mut rng, 64, with_replacement, 1, &mut idx);
                    buf.gather(&idx, &mut batch);
                    black_box(&batch);
                })
            },
        );
    }
    // Prioritized replay over the same 100k slots: stratified sampling of 64 slots, their
    // importance weights, and writing back 64 new priorities.
    let mut priorities = Priorities::new(100_000, 0.6, 1e-6);
    for slot in 0..100_000 {
        priorities.on_push(slot);
    }
    let slots: Vec<usize> = (0..100_000).collect();
    priorities.update(
        &slots,
        (0..100_000).map(|k| ((k * 7919) % 1000) as f64 / 100.0),
    );
    let mut weights = Vec::with_capacity(64);
    c.bench_function("per sample 64 + weights (100k slots)", |b| {
        b.iter(|| {
            priorities.sample(&mut rng, 64, &mut idx);
            weights.clear();
            weights.extend(priorities.weights(&idx, 0.7));
            black_box(&weights);
        })
    });
    let errors: Vec<f64> = (0..64).map(|k| k as f64 * 0.1).collect();
    c.bench_function("per update 64 priorities (100k slots)", |b| {
        b.iter(|| {
            priorities.update(black_box(&idx), errors.iter().copied());
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
