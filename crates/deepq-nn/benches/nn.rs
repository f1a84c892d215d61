//! Throughput of the pieces of a DQN update on the network sizes DQN uses.
//!
//! `dqn_update` is one full update as an agent performs it (target-network forward and max,
//! TD targets, online forward, Huber loss, backward, Adam step, Polyak update); its
//! throughput in elements/s is updates/s.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use deepq_nn::{
    Arch, ConvLayer, ImageShape, Loss, Mlp, Optimizer, OptimizerConfig, Workspace, max_per_row,
    polyak_update, q_loss,
};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

const BATCH: usize = 64;
const NETS: [&[usize]; 2] = [&[4, 64, 64, 2], &[4, 256, 256, 2]];

fn name(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("-")
}

/// Everything one DQN update touches, preallocated as an agent would hold it.
struct Dqn {
    online: Mlp<f32>,
    target: Mlp<f32>,
    optimizer: Optimizer<f32>,
    online_ws: Workspace<f32>,
    target_ws: Workspace<f32>,
    grads: Vec<f32>,
    grad_q: Vec<f32>,
    next_max: Vec<f32>,
    targets: Vec<f32>,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<u32>,
    rewards: Vec<f32>,
    dones: Vec<f32>,
}

impl Dqn {
    fn new(sizes: &[usize], rng: &mut Pcg64) -> Self {
        let online = Mlp::new(sizes, rng);
        let target = online.clone();
        let (n_in, n_act) = (online.n_inputs(), online.n_outputs());
        let mut uniform = |n: usize| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        Self {
            optimizer: Optimizer::new(OptimizerConfig::adam(1e-4), online.n_params()),
            online_ws: Workspace::new(&online, BATCH),
            target_ws: Workspace::new(&target, BATCH),
            grads: vec![0.0; online.n_params()],
            grad_q: vec![0.0; BATCH * n_act],
            next_max: vec![0.0; BATCH],
            targets: vec![0.0; BATCH],
            obs: uniform(BATCH * n_in),
            next_obs: uniform(BATCH * n_in),
            actions: (0..BATCH).map(|i| (i % n_act) as u32).collect(),
            rewards: vec![1.0; BATCH],
            dones: (0..BATCH).map(|i| f32::from(i % 10 == 0)).collect(),
            online,
            target,
        }
    }

    fn update(&mut self) -> f32 {
        let gamma = 0.99;
        let n_act = self.online.n_outputs();
        let q_next = self
            .target
            .forward(&self.next_obs, BATCH, &mut self.target_ws);
        max_per_row(q_next, n_act, &mut self.next_max);
        for (((t, &r), &d), &m) in self
            .targets
            .iter_mut()
            .zip(&self.rewards)
            .zip(&self.dones)
            .zip(&self.next_max)
        {
            *t = r + gamma * (1.0 - d) * m;
        }
        let q = self.online.forward(&self.obs, BATCH, &mut self.online_ws);
        let loss = q_loss(
            Loss::Huber,
            q,
            n_act,
            &self.actions,
            &self.targets,
            None,
            &mut self.grad_q,
            None,
        );
        self.online
            .backward(&mut self.online_ws, &self.grad_q, &mut self.grads);
        self.optimizer.step(self.online.params_mut(), &self.grads);
        polyak_update(self.target.params_mut(), self.online.params(), 0.005);
        loss
    }
}

fn dqn_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("dqn_update");
    group.throughput(Throughput::Elements(1));
    for sizes in NETS {
        let mut dqn = Dqn::new(sizes, &mut Pcg64::seed_from_u64(1));
        group.bench_function(BenchmarkId::from_parameter(name(sizes)), |b| {
            b.iter(|| black_box(dqn.update()))
        });
    }
    group.finish();
}

fn forward_backward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_backward");
    for sizes in NETS {
        let mut dqn = Dqn::new(sizes, &mut Pcg64::seed_from_u64(2));
        dqn.grad_q.fill(0.01);
        group.bench_function(BenchmarkId::new("forward", name(sizes)), |b| {
            b.iter(|| {
                black_box(dqn.online.forward(&dqn.obs, BATCH, &mut dqn.online_ws));
            })
        });
        group.bench_function(BenchmarkId::new("backward", name(sizes)), |b| {
            b.iter(|| {
                dqn.online
                    .backward(&mut dqn.online_ws, &dqn.grad_q, &mut dqn.grads);
                black_box(&dqn.grads);
            })
        });
    }
    group.finish();
}

/// PQN's network (LayerNorm after each hidden layer), forward and backward at `BATCH`.
fn layer_norm(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer_norm");
    let sizes = NETS[1];
    let arch = Arch {
        layer_norm: true,
        layer_norm_eps: 1e-6,
        ..Arch::default()
    };
    let mut rng = Pcg64::seed_from_u64(4);
    let mlp = Mlp::<f32>::with_arch(sizes, arch, 0.5, &mut rng);
    let mut ws = Workspace::new(&mlp, BATCH);
    let obs: Vec<f32> = (0..BATCH * sizes[0])
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let grad_q = vec![0.01f32; BATCH * mlp.n_outputs()];
    let mut grads = vec![0.0; mlp.n_params()];
    group.bench_function(BenchmarkId::new("forward", name(sizes)), |b| {
        b.iter(|| {
            black_box(mlp.forward(&obs, BATCH, &mut ws));
        })
    });
    mlp.forward(&obs, BATCH, &mut ws);
    group.bench_function(BenchmarkId::new("backward", name(sizes)), |b| {
        b.iter(|| {
            mlp.backward(&mut ws, &grad_q, &mut grads);
            black_box(&grads);
        })
    });
    group.finish();
}

/// MinAtar's network (Young & Tian 2019): `Conv2d(C, 16, 3)` → ReLU → Flatten(1024) →
/// `Linear(1024, 128)` → ReLU → `Linear(128, 6)` on 10×10×C observations (C = 4 as in
/// Breakout, 10 the most any game has), at batch 32: forward + backward, and one whole DQN
/// update (target forward and max, online forward, Huber loss, backward, centered RMSprop
/// step as in the MinAtar paper); its throughput in elements/s is updates/s.
fn minatar(c: &mut Criterion) {
    const BATCH: usize = 32;
    let mut group = c.benchmark_group("minatar");
    for channels in [4, 10] {
        let mut rng = Pcg64::seed_from_u64(5);
        let input = ImageShape {
            height: 10,
            width: 10,
            channels,
        };
        let conv = [ConvLayer {
            filters: 16,
            kernel: 3,
            stride: 1,
            padding: 0,
        }];
        let online = Mlp::<f32>::with_conv(input, &conv, &[128], 6, Arch::default(), 0.5, &mut rng);
        let target = online.clone();
        let mut ws = Workspace::new(&online, BATCH);
        let mut target_ws = Workspace::new(&target, BATCH);
        // MinAtar observations are sparse 0/1 planes.
        let mut planes = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| f32::from(rng.random_range(0.0..1.0) < 0.1))
                .collect()
        };
        let (obs, next_obs) = (planes(BATCH * input.size()), planes(BATCH * input.size()));
        let actions: Vec<u32> = (0..BATCH).map(|i| (i % 6) as u32).collect();
        let mut grads = vec![0.0; online.n_params()];
        let mut grad_q = vec![0.01f32; BATCH * 6];
        let mut next_max = vec![0.0; BATCH];
        let mut targets = vec![0.0; BATCH];
        let mut optimizer = Optimizer::new(
            OptimizerConfig::RmsProp {
                lr: 2.5e-4,
                alpha: 0.95,
                eps: 0.01,
                weight_decay: 0.0,
                momentum: 0.0,
                centered: true,
            },
            online.n_params(),
        );
        let id = format!("c{channels}-batch{BATCH}");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("forward_backward", &id), |b| {
            b.iter(|| {
                black_box(online.forward(&obs, BATCH, &mut ws));
                online.backward(&mut ws, &grad_q, &mut grads);
                black_box(&grads);
            })
        });
        let mut online = online;
        group.bench_function(BenchmarkId::new("dqn_update", &id), |b| {
            b.iter(|| {
                let q_next = target.forward(&next_obs, BATCH, &mut target_ws);
                max_per_row(q_next, 6, &mut next_max);
                for (t, &m) in targets.iter_mut().zip(&next_max) {
                    *t = 1.0 + 0.99 * m;
                }
                let q = online.forward(&obs, BATCH, &mut ws);
                let loss = q_loss(
                    Loss::Huber,
                    q,
                    6,
                    &actions,
                    &targets,
                    None,
                    &mut grad_q,
                    None,
                );
                online.backward(&mut ws, &grad_q, &mut grads);
                optimizer.step(online.params_mut(), &grads);
                black_box(loss)
            })
        });
    }
    group.finish();
}

fn greedy_action(c: &mut Criterion) {
    let mut rng = Pcg64::seed_from_u64(3);
    let mlp = Mlp::<f32>::new(NETS[0], &mut rng);
    let mut scratch = Workspace::new(&mlp, 1);
    let obs: Vec<f32> = (0..4).map(|_| rng.random_range(-1.0..1.0)).collect();
    c.bench_function("greedy_action/4-64-64-2", |b| {
        b.iter(|| mlp.argmax_action(black_box(&obs), &mut scratch))
    });
}

criterion_group!(
    benches,
    dqn_update,
    forward_backward,
    layer_norm,
    minatar,
    greedy_action
);
criterion_main!(benches);
