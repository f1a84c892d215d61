//! The per-step operations of training and acting do not allocate.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use deepq_nn::{
    Loss, Mlp, Optimizer, OptimizerConfig, Workspace, clip_grad_norm, max_per_row, polyak_update,
    q_loss,
};
use rand::SeedableRng;

/// Counts allocations made by the current thread (the test harness's threads do not
/// disturb the count).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the counter is a const-initialised
// thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn training_and_acting_steps_do_not_allocate() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0);
    let batch = 64;
    let mut online = Mlp::<f32>::new(&[4, 64, 64, 2], &mut rng);
    let mut target = online.clone();
    let mut ws = Workspace::new(&online, batch);
    let mut grads = vec![0.0; online.n_params()];
    let mut grad_q = vec![0.0; batch * 2];
    let mut td = vec![0.0; batch];
    let mut next_max = vec![0.0; batch];
    let obs = vec![0.3f32; batch * 4];
    let actions = vec![1u32; batch];
    let targets = vec![0.5f32; batch];
    let weights = vec![1.5f32; batch];
    let configs = [
        OptimizerConfig::adam(1e-3),
        OptimizerConfig::adamw(1e-3),
        OptimizerConfig::nadam(1e-3),
        OptimizerConfig::RmsProp {
            lr: 1e-3,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.1,
            momentum: 0.9,
            centered: true,
        },
        OptimizerConfig::Sgd {
            lr: 1e-3,
            momentum: 0.9,
            dampening: 0.1,
            weight_decay: 0.1,
            nesterov: false,
        },
    ];
    let mut optimizers: Vec<_> = configs
        .into_iter()
        .map(|c| Optimizer::new(c, online.n_params()))
        .collect();
    let q = online.forward(&obs, batch, &mut ws).to_vec();
    online.backward(&mut ws, &grad_q, &mut grads);

    let mut out = [0.0f32; 2];
    let count = allocations_in(|| {
        for _ in 0..3 {
            online.argmax_action(&obs[..4], &mut ws);
            online.predict_one(&obs[..4], &mut ws, &mut out);
            max_per_row(&q, 2, &mut next_max);
            q_loss(
                Loss::Huber,
                &q,
                2,
                &actions,
                &targets,
                Some(&weights),
                &mut grad_q,
                Some(&mut td),
            );
            clip_grad_norm(&mut grads, 1.0);
            for opt in &mut optimizers {
                opt.step(online.params_mut(), &grads);
            }
            polyak_update(target.params_mut(), online.params(), 0.01);
            target.copy_params_from(&online);
        }
    });
    assert_eq!(count, 0);

    // Forward and backward allocate nothing themselves; `matrixmultiply` allocates (and
    // frees) one packing buffer inside each product it computes, at most two per layer.
    let count = allocations_in(|| {
        online.forward(&obs, batch, &mut ws);
        online.backward(&mut ws, &grad_q, &mut grads);
    });
    assert!(count <= 2 * 3, "{count} allocations");
}

#[test]
fn layer_norm_network_and_radam_do_not_allocate() {
    use deepq_nn::Arch;
    let mut rng = rand_pcg::Pcg64::seed_from_u64(2);
    let batch = 32;
    let arch = Arch {
        layer_norm: true,
        layer_norm_eps: 1e-6,
        ..Arch::default()
    };
    let mut net = Mlp::<f32>::with_arch(&[4, 256, 256, 2], arch, 0.5, &mut rng);
    let mut ws = Workspace::new(&net, batch);
    let mut opt = Optimizer::new(OptimizerConfig::radam(1e-4), net.n_params());
    let obs = vec![0.3f32; batch * 4];
    let mut grads = vec![0.0; net.n_params()];
    let grad_q = vec![0.01f32; batch * 2];
    let mut out = [0.0f32; 2];
    net.forward(&obs, batch, &mut ws);
    net.backward(&mut ws, &grad_q, &mut grads);
    let count = allocations_in(|| {
        // Past RAdam's switch to the rectified step at step 6.
        for _ in 0..8 {
            net.argmax_action(&obs[..4], &mut ws);
            net.predict_one(&obs[..4], &mut ws, &mut out);
            opt.step(net.params_mut(), &grads);
        }
    });
    assert_eq!(count, 0);
    // Only matrixmultiply's packing buffers, one per product: 3 forward, 3 weight-gradient
    // and 2 input-gradient products at most.
    let count = allocations_in(|| {
        net.forward(&obs, batch, &mut ws);
        net.backward(&mut ws, &grad_q, &mut grads);
    });
    assert!(count <= 8, "{count} allocations");
}

#[test]
fn rainbow_heads_do_not_allocate() {
    use deepq_nn::{Arch, categorical_loss, categorical_projection, softmax_rows};
    let mut rng = rand_pcg::Pcg64::seed_from_u64(1);
    let (batch, atoms, n_act) = (32, 51, 2);
    let arch = Arch {
        dueling: true,
        noisy: true,
        atoms,
        v_min: 0.0,
        v_max: 100.0,
        ..Arch::default()
    };
    let mut net = Mlp::<f32>::with_arch(&[4, 64, 64, n_act], arch, 0.5, &mut rng);
    let mut ws = Workspace::new(&net, batch);
    let obs = vec![0.3f32; batch * 4];
    let actions = vec![1u32; batch];
    let mut grads = vec![0.0; net.n_params()];
    let mut grad_out = vec![0.0; batch * n_act * atoms];
    let mut probs = vec![0.0; batch * n_act * atoms];
    let mut target = vec![0.0; batch * atoms];
    let mut per_sample = vec![0.0; batch];
    let rewards = vec![1.0f32; batch];
    let discounts = vec![0.97f32; batch];
    let mut out = [0.0f32; 2];
    net.sample_noise(&mut rng);
    let logits = net.forward(&obs, batch, &mut ws).to_vec();
    net.backward(&mut ws, &grad_out, &mut grads);
    let count = allocations_in(|| {
        for _ in 0..3 {
            net.sample_noise(&mut rng);
            net.argmax_action(&obs[..4], &mut ws);
            net.predict_one(&obs[..4], &mut ws, &mut out);
            let logits = &logits[..];
            softmax_rows(logits, atoms, &mut probs);
            categorical_projection(
                &probs[..batch * atoms],
                &rewards,
                &discounts,
                0.0,
                100.0,
                &mut target,
            );
            categorical_loss(
                logits,
                n_act,
                atoms,
                &actions,
                &target,
                Some(&discounts),
                &mut grad_out,
                Some(&mut per_sample),
            );
            net.remove_noise();
        }
    });
    assert_eq!(count, 0);
    // As for the plain network, only matrixmultiply's packing buffers, one per product: here
    // every layer is wide enough for it (3 forward, 3 weight-gradient and 2 input-gradient).
    let count = allocations_in(|| {
        net.forward(&obs, batch, &mut ws);
        net.backward(&mut ws, &grad_out, &mut grads);
    });
    assert!(count <= 8, "{count} allocations");
}

#[test]
fn conv_networks_do_not_allocate() {
    use deepq_nn::{Arch, ConvLayer, ImageShape};
    let mut rng = rand_pcg::Pcg64::seed_from_u64(3);
    let batch = 32;
    let input = ImageShape {
        height: 10,
        width: 10,
        channels: 4,
    };
    // MinAtar's network, and two conv layers (stride 2, padding 1) under a dueling head, so
    // that col2im runs too.
    let two = [
        ConvLayer {
            filters: 16,
            kernel: 3,
            stride: 2,
            padding: 1,
        },
        ConvLayer {
            filters: 32,
            kernel: 3,
            stride: 1,
            padding: 1,
        },
    ];
    let dueling = Arch {
        dueling: true,
        ..Arch::default()
    };
    let minatar = [ConvLayer {
        filters: 16,
        kernel: 3,
        stride: 1,
        padding: 0,
    }];
    // With LayerNorm too (PQN's MinAtar network), after the conv layers as the linear ones.
    let layer_norm = Arch {
        layer_norm: true,
        ..Arch::default()
    };
    let dueling_layer_norm = Arch {
        layer_norm: true,
        ..dueling
    };
    for (conv, arch) in [
        (&minatar[..], Arch::default()),
        (&two[..], dueling),
        (&minatar[..], layer_norm),
        (&two[..], dueling_layer_norm),
    ] {
        let mut net = Mlp::<f32>::with_conv(input, conv, &[128], 6, arch, 0.5, &mut rng);
        let mut ws = Workspace::new(&net, batch);
        let mut opt = Optimizer::new(
            OptimizerConfig::RmsProp {
                lr: 2.5e-4,
                alpha: 0.95,
                eps: 0.01,
                weight_decay: 0.0,
                momentum: 0.0,
                centered: true,
            },
            net.n_params(),
        );
        let obs = vec![1.0f32; batch * input.size()];
        let mut grads = vec![0.0; net.n_params()];
        let grad_q = vec![0.01f32; batch * 6];
        let mut out = [0.0f32; 6];
        net.forward(&obs, batch, &mut ws);
        net.backward(&mut ws, &grad_q, &mut grads);
        let count = allocations_in(|| {
            for _ in 0..3 {
                net.argmax_action(&obs[..input.size()], &mut ws);
                net.predict_one(&obs[..input.size()], &mut ws, &mut out);
                opt.step(net.params_mut(), &grads);
            }
        });
        assert_eq!(count, 0);
        // Only matrixmultiply's packing buffers, one per product: per conv layer one
        // forward, one weight-gradient and (after the first) one input-gradient product; per
        // wide linear layer as for an MLP.
        let count = allocations_in(|| {
            net.forward(&obs, batch, &mut ws);
            net.backward(&mut ws, &grad_q, &mut grads);
        });
        let bound = 3 * conv.len() - 1 + 3 + 3;
        assert!(count <= bound, "{count} allocations (at most {bound})");
    }
}
