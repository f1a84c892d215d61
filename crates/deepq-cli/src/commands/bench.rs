//! `deepq bench`: throughput of the pieces that decide training speed, measured on one
//! thread and reported as the median of several repeats (shared machines are noisy).

use std::hint::black_box;
use std::time::{Duration, Instant};

use deepq::DqnAgent;
use deepq::DqnConfig;
use deepq::algorithms::iqn::IqnAgent;
use deepq::algorithms::off_policy::Learner;
use deepq::algorithms::pqn::MinibatchStep;
use deepq::algorithms::qrdqn::QrDqnAgent;
use deepq::config::{Algorithm, DqnSettings, NetworkSettings, OptimizerSettings, ReplaySettings};
use deepq::envs::{ElementType, Env, EnvSpec, EnvVisitor, Kwargs, Space, VecEnv};
use deepq::nn::Loss;
use deepq::nn::{Mlp, Optimizer, conv_output_shapes};
use deepq::per::Priorities;
use deepq::replay::{Batch, Replay};
use deepq::stats::quantile;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde::Serialize;

use crate::cli::{
    BenchActArgs, BenchArgs, BenchCommand, BenchEnvsArgs, BenchReplayArgs, BenchSolveArgs,
    BenchUpdatesArgs, TrainArgs,
};
use crate::error::{CliResult, Failure};

/// Runs `deepq bench`.
pub fn run(args: &BenchArgs) -> CliResult<()> {
    // A kernel asked for by name that this CPU lacks is refused before anything is timed.
    deepq::nn::Bf16Kernel::requested().map_err(Failure::Usage)?;
    match &args.command {
        BenchCommand::Updates(a) => updates(a),
        BenchCommand::Act(a) => act(a),
        BenchCommand::Envs(a) => envs(a),
        BenchCommand::Replay(a) => replay(a),
        BenchCommand::Solve(a) => solve(a),
    }
}

/// Median, min and max of per-repeat rates.
#[derive(Serialize)]
struct Rates {
    median: f64,
    min: f64,
    max: f64,
}

/// Calls `work(n)` (which performs n operations) for `repeats` windows of `seconds/repeats`
/// each, after a warm-up window, and returns operations per second per window.
fn measure(seconds: f64, repeats: usize, mut work: impl FnMut(u64)) -> CliResult<Rates> {
    if seconds.is_nan() || seconds <= 0.0 || repeats == 0 {
        return Err(Failure::Usage(format!(
            "invalid benchmark length: --seconds must be > 0 and --repeats >= 1 (got {seconds}, {repeats})"
        )));
    }
    let window = Duration::from_secs_f64(seconds / repeats as f64);
    // Calibrate a batch size so that the clock is read rarely.
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        work(batch);
        if start.elapsed() > Duration::from_millis(10) || batch > 1 << 40 {
            break;
        }
        batch *= 2;
    }
    let run_window = |work: &mut dyn FnMut(u64)| {
        let start = Instant::now();
        let mut done = 0;
        while start.elapsed() < window {
            work(batch);
            done += batch;
        }
        done as f64 / start.elapsed().as_secs_f64()
    };
    run_window(&mut work); // warm-up: caches, branch predictors, CPU frequency
    let mut rates: Vec<f64> = (0..repeats).map(|_| run_window(&mut work)).collect();
    rates.sort_by(f64::total_cmp);
    Ok(Rates {
        median: quantile(&rates, 0.5),
        min: rates[0],
        max: rates[rates.len() - 1],
    })
}

fn print_json(report: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(report).expect("reports serialize")
    );
}

fn parse_net(spec: &str) -> CliResult<Vec<usize>> {
    let widths: Result<Vec<usize>, _> =
        spec.split(',').map(|w| w.trim().parse::<usize>()).collect();
    match widths {
        Ok(w) if !w.is_empty() && !w.contains(&0) => Ok(w),
        _ => Err(Failure::Usage(format!(
            "invalid value '{spec}' for '--net': expected hidden widths like 64,64, or nature"
        ))),
    }
}

/// FLOPs of one DQN update: online forward, target forward, and the backward pass (weight
/// gradients everywhere, input gradients for every layer but the first).
pub fn update_flops(sizes: &[usize], batch: usize) -> f64 {
    let macs: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum();
    let first = sizes[0] * sizes[1];
    2.0 * batch as f64 * (3 * macs + (macs - first)) as f64
}

#[derive(Serialize)]
struct UpdatesReport {
    updates_per_s: f64,
    min: f64,
    max: f64,
    net: Vec<usize>,
    batch: usize,
    repeats: usize,
    loss: Loss,
    components: Vec<&'static str>,
    mflop_per_update: f64,
    gflop_per_s: f64,
    /// The kernel of the matrix products (`f32`, `bf16-amx`, `bf16-avx512`, `bf16-portable`).
    matmul_path: &'static str,
}

fn updates(a: &BenchUpdatesArgs) -> CliResult<()> {
    if a.target_every.is_some() && (a.preset.is_some() || a.net != "nature") {
        return Err(Failure::Usage(
            "--target-every applies to --net nature only (a preset copies its target as its config says)".into(),
        ));
    }
    if let Some(name) = &a.preset {
        return preset_updates(a, name);
    }
    if a.net == "nature" {
        return nature_updates(a);
    }
    let hidden = parse_net(&a.net)?;
    let batch_size = a.batch.unwrap_or(64);
    let n_actions = a.actions.unwrap_or(2);
    if batch_size == 0 || a.obs_dim == 0 || n_actions == 0 {
        return Err(Failure::Usage(
            "--batch, --obs-dim and --actions must be at least 1".into(),
        ));
    }
    let network = NetworkSettings {
        net_arch: hidden.clone(),
        ..NetworkSettings::default()
    };
    let cfg = flag_config(a, network, batch_size, 1e-3)?;
    let mut components = Vec::new();
    for (on, name) in [
        (cfg.dqn.double_q, "double"),
        (cfg.dqn.dueling, "dueling"),
        (cfg.dqn.noisy, "noisy"),
        (cfg.dqn.atoms > 1, "c51"),
        (cfg.replay.n_steps > 1, "n-step"),
        (cfg.replay.prioritized, "per"),
    ] {
        if on {
            components.push(name);
        }
    }
    let mut rng = Pcg64::seed_from_u64(0);
    let mut agent = DqnAgent::<f32>::new(a.obs_dim, n_actions, &cfg, &mut rng);
    let mut batch = random_batch(&mut rng, batch_size, a.obs_dim, n_actions);
    if cfg.replay.n_steps > 1 {
        batch.horizons = (0..batch_size)
            .map(|_| rng.random_range(1..=cfg.replay.n_steps as u16))
            .collect();
    }
    let mut noise_rng = Pcg64::seed_from_u64(1);
    let mut per = cfg.replay.prioritized.then(|| {
        // A full 100k-slot buffer's priorities, spread over four orders of magnitude.
        let mut p = Priorities::new(100_000, cfg.replay.priority_alpha, 1e-6);
        for slot in 0..100_000 {
            p.on_push(slot);
        }
        let slots: Vec<usize> = (0..100_000).collect();
        p.update(
            &slots,
            (0..100_000).map(|_| rng.random_range(0.0..1.0f64).powi(4)),
        );
        (p, Vec::with_capacity(batch_size))
    });
    let rates = measure(a.timing.seconds, a.timing.repeats, |n| {
        for _ in 0..n {
            if let Some((p, slots)) = &mut per {
                p.sample(&mut noise_rng, batch_size, slots);
                batch.weights.clear();
                batch
                    .weights
                    .extend(p.weights(slots, 0.7).map(|w| w as f32));
            }
            black_box(agent.update(&batch, &mut noise_rng));
            agent.update_target(0.005);
            if let Some((p, slots)) = &mut per {
                p.update(slots, agent.priorities(batch_size).iter().copied());
            }
        }
    })?;
    let mut sizes = vec![a.obs_dim];
    sizes.extend(&hidden);
    sizes.push(n_actions);
    let flops = update_flops(&sizes, batch_size);
    let report = UpdatesReport {
        updates_per_s: rates.median,
        min: rates.min,
        max: rates.max,
        net: sizes.clone(),
        batch: batch_size,
        repeats: a.timing.repeats,
        loss: a.loss.into(),
        components: components.clone(),
        mflop_per_update: flops / 1e6,
        gflop_per_s: rates.median * flops / 1e9,
        matmul_path: cfg.network.precision.matmul_path(),
    };
    if a.timing.json {
        print_json(&report);
    } else {
        let net: Vec<String> = sizes.iter().map(usize::to_string).collect();
        let extra = if components.is_empty() {
            String::new()
        } else {
            format!(" + {}", components.join(" + "))
        };
        println!(
            "DQN updates, {} MLP, batch {}, {:?} loss, Adam + Polyak{extra}, one thread, {} products:",
            net.join("-"),
            batch_size,
            a.loss,
            report.matmul_path
        );
        if components.is_empty() {
            println!(
                "  {:.0} updates/s (median of {}; min {:.0}, max {:.0}) = {:.1} µs/update, {:.2} MFLOP/update, {:.1} GFLOP/s",
                report.updates_per_s,
                a.timing.repeats,
                report.min,
                report.max,
                1e6 / report.updates_per_s,
                report.mflop_per_update,
                report.gflop_per_s
            );
        } else {
            println!(
                "  {:.0} updates/s (median of {}; min {:.0}, max {:.0}) = {:.1} µs/update",
                report.updates_per_s,
                a.timing.repeats,
                report.min,
                report.max,
                1e6 / report.updates_per_s,
            );
        }
    }
    Ok(())
}

fn random_batch(rng: &mut Pcg64, size: usize, obs_dim: usize, actions: usize) -> Batch<f32> {
    let mut batch = Batch::with_capacity(size, obs_dim);
    batch
        .obs
        .extend((0..size * obs_dim).map(|_| rng.random_range(-1.0..1.0)));
    batch
        .next_obs
        .extend((0..size * obs_dim).map(|_| rng.random_range(-1.0..1.0)));
    batch
        .actions
        .extend((0..size).map(|_| rng.random_range(0..actions as u32)));
    batch
        .rewards
        .extend((0..size).map(|_| rng.random_range(-1.0..1.0)));
    batch
        .terminated
        .extend((0..size).map(|_| rng.random_bool(0.05)));
    batch.truncated.extend((0..size).map(|_| false));
    batch
}

#[derive(Serialize)]
struct ActReport {
    us_per_action: f64,
    min: f64,
    max: f64,
    /// The network, as `bench updates` describes it.
    net: String,
    /// Observations acted on per pass.
    envs: usize,
    repeats: usize,
    /// The kernel of the matrix products.
    matmul_path: &'static str,
}

/// `deepq bench act`: greedy actions of an untrained network (the MLP of `--net` on
/// `--obs-dim` inputs, or Nature DQN's on 84×84×4 frames), `--envs` observations per pass as
/// the training loop acts for a vector env's copies.
fn act(a: &BenchActArgs) -> CliResult<()> {
    if a.envs == 0 || a.actions == 0 || a.obs_dim == 0 {
        return Err(Failure::Usage(format!(
            "--envs, --actions and --obs-dim must be at least 1 (got {}, {}, {})",
            a.envs, a.actions, a.obs_dim
        )));
    }
    let (mut network, space) = if a.net == "nature" {
        (nature_network(), nature_frames())
    } else {
        let network = NetworkSettings {
            net_arch: parse_net(&a.net)?,
            ..NetworkSettings::default()
        };
        let (low, high) = (vec![-1.0; a.obs_dim], vec![1.0; a.obs_dim]);
        let shape = vec![a.obs_dim];
        (network, Space::Box { low, high, shape })
    };
    network.precision = a.precision;
    let cfg = DqnConfig {
        network,
        ..DqnConfig::default()
    };
    let mut rng = Pcg64::seed_from_u64(0);
    let net = deepq::network::q_network::<f32>(&cfg, &space, a.actions, &mut rng)?;
    let mut ws = deepq::nn::Workspace::new(&net, 1);
    // Cycle through varied observations so no result can be hoisted out of the loop.
    let (d, cycle) = (net.n_inputs(), 4);
    let frames = a.net == "nature";
    let table: Vec<f32> = (0..cycle * a.envs * d)
        .map(|_| {
            if frames {
                f32::from(rng.random::<u8>())
            } else {
                rng.random_range(-1.0..1.0)
            }
        })
        .collect();
    let mut actions = vec![0; a.envs];
    let mut k = 0;
    let rates = measure(a.timing.seconds, a.timing.repeats, |n| {
        for _ in 0..n {
            let obs = &table[k * a.envs * d..(k + 1) * a.envs * d];
            net.argmax_actions(black_box(obs), &mut ws, &mut actions);
            black_box(&actions);
            k = (k + 1) % cycle;
        }
    })?;
    let per_action = |calls_per_s: f64| 1e6 / (calls_per_s * a.envs as f64);
    let report = ActReport {
        us_per_action: per_action(rates.median),
        min: per_action(rates.max),
        max: per_action(rates.min),
        net: describe_network(&net),
        envs: a.envs,
        repeats: a.timing.repeats,
        matmul_path: a.precision.matmul_path(),
    };
    if a.timing.json {
        print_json(&report);
    } else {
        println!(
            "greedy action ({}, {} at once): {:.3} µs each (median of {}; min {:.3}, max {:.3}), {} products",
            report.net,
            report.envs,
            report.us_per_action,
            a.timing.repeats,
            report.min,
            report.max,
            report.matmul_path
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct ReplayReport {
    transitions: usize,
    episode_length: usize,
    n_steps: usize,
    frames: usize,
    /// Bytes the buffer allocated.
    allocated_bytes: usize,
    /// Growth of the process's resident memory while filling (Linux's VmRSS), if readable.
    resident_bytes: Option<u64>,
    /// Resident (else allocated) bytes per transition, times one million.
    bytes_per_1m_transitions: f64,
    /// What keeping each stacked observation once (SB3's `optimize_memory_usage`) would take.
    stacked_once_bytes_per_1m: f64,
    pushes_per_s: f64,
    /// Batches of 32 sampled and gathered (as `f32`) per second.
    batches_per_s: f64,
}

/// The process's resident memory in bytes, as Linux reports it.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Fills a replay buffer with a stream of stacked 84×84 frames, as an Atari env with the
/// standard preprocessing gives them, and reports what it holds and how fast it stores and
/// samples. Frames are random bytes, so no two are shared except where stacking repeats them.
fn replay(a: &BenchReplayArgs) -> CliResult<()> {
    for (flag, value) in [
        ("--transitions", a.transitions),
        ("--episode-length", a.episode_length),
        ("--n-steps", a.n_steps),
    ] {
        if value == 0 {
            return Err(Failure::Usage(format!(
                "invalid value 0 for '{flag}': must be at least 1"
            )));
        }
    }
    const SIDE: usize = 84;
    const STACK: usize = 4;
    let space = Space::Image {
        shape: [SIDE, SIDE, STACK],
        dtype: ElementType::U8,
    };
    let cfg = DqnConfig {
        replay: ReplaySettings {
            buffer_size: a.transitions,
            n_steps: a.n_steps,
            batch_size: 32,
            ..ReplaySettings::default()
        },
        ..DqnConfig::default()
    };
    cfg.validate()?;
    let mut rng = Pcg64::seed_from_u64(0);
    // A prime number of distinct frames, cycled, so that generating them costs nothing.
    let pool: Vec<Vec<f32>> = (0..257)
        .map(|_| {
            (0..SIDE * SIDE)
                .map(|_| ElementType::flat_from_byte(rng.random()))
                .collect()
        })
        .collect();
    let pool = &pool;
    let stack_of = |frames: &[usize; STACK], out: &mut Vec<f32>| {
        out.clear();
        out.extend((0..SIDE * SIDE).flat_map(|p| frames.iter().map(move |&f| pool[f][p])));
    };
    let before = resident_bytes();
    let mut replay = Replay::new(&cfg, &space);
    let (mut obs, mut next) = (Vec::new(), Vec::new());
    // Frame ids in the pool, counting on: every step and every reset brings a new frame.
    let mut newest = 0;
    let mut frames = [newest; STACK];
    stack_of(&frames, &mut obs);
    let mut storing = Duration::ZERO;
    for step in 0..a.transitions + a.n_steps - 1 {
        newest = (newest + 1) % pool.len();
        frames.rotate_left(1);
        frames[STACK - 1] = newest;
        stack_of(&frames, &mut next);
        let ends = (step + 1) % a.episode_length == 0;
        let start = Instant::now();
        replay.store(0, &obs, 0, 1.0, &next, ends, false);
        storing += start.elapsed();
        if ends {
            newest = (newest + 1) % pool.len();
            frames = [newest; STACK];
            stack_of(&frames, &mut obs);
        } else {
            std::mem::swap(&mut obs, &mut next);
        }
    }
    let pushes_per_s = a.transitions as f64 / storing.as_secs_f64();
    let resident = before
        .zip(resident_bytes())
        .map(|(before, after)| after.saturating_sub(before));
    let storage = replay.storage();
    let allocated = storage.allocated_bytes();
    let per_1m = |bytes: f64| bytes / a.transitions as f64 * 1e6;
    let (mut indices, mut batch) = (
        Vec::new(),
        Batch::<f32>::with_capacity(32, space.flat_dim()),
    );
    let mut sample_rng = Pcg64::seed_from_u64(1);
    let rates = measure(a.timing.seconds, a.timing.repeats, |n| {
        for _ in 0..n {
            replay.sample(&mut sample_rng, 0.5, &mut indices, &mut batch);
            black_box(&batch);
        }
    })?;
    let report = ReplayReport {
        transitions: a.transitions,
        episode_length: a.episode_length,
        n_steps: a.n_steps,
        frames: storage.frames(),
        allocated_bytes: allocated,
        resident_bytes: resident,
        bytes_per_1m_transitions: per_1m(resident.unwrap_or(allocated as u64) as f64),
        stacked_once_bytes_per_1m: (SIDE * SIDE * STACK) as f64 * 1e6,
        pushes_per_s,
        batches_per_s: rates.median,
    };
    if a.timing.json {
        print_json(&report);
    } else {
        let gb = |bytes: f64| bytes / 1e9;
        println!(
            "replay of {} stacked 84×84×4 frames ({}-step returns, episodes of {} steps): {} frames, {:.2} GB allocated{}",
            a.transitions,
            a.n_steps,
            a.episode_length,
            report.frames,
            gb(allocated as f64),
            resident.map_or(String::new(), |r| format!(
                ", {:.2} GB resident",
                gb(r as f64)
            )),
        );
        println!(
            "per 1M transitions: {:.2} GB (each stacked observation once, as SB3's optimize_memory_usage: {:.1} GB; twice: {:.1} GB)",
            gb(report.bytes_per_1m_transitions),
            gb(report.stacked_once_bytes_per_1m),
            gb(2.0 * report.stacked_once_bytes_per_1m),
        );
        println!(
            "{:.0} pushes/s; {:.0} batches of 32/s sampled and gathered (median of {}; min {:.0}, max {:.0})",
            pushes_per_s, rates.median, a.timing.repeats, rates.min, rates.max
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct EnvsReport {
    env: String,
    n_envs: usize,
    steps_per_s: f64,
    min: f64,
    max: f64,
    repeats: usize,
}

fn envs(a: &BenchEnvsArgs) -> CliResult<()> {
    if a.n_envs == 0 {
        return Err(Failure::Usage(
            "invalid value 0 for '--n-envs': must be at least 1".into(),
        ));
    }
    let env = deepq::envs::make(&a.env, &Kwargs::new())?;
    let rates = env.visit(StepEnvs {
        n_envs: a.n_envs,
        seconds: a.timing.seconds,
        repeats: a.timing.repeats,
    })?;
    let report = EnvsReport {
        env: a.env.clone(),
        n_envs: a.n_envs,
        steps_per_s: rates.median,
        min: rates.min,
        max: rates.max,
        repeats: a.timing.repeats,
    };
    if a.timing.json {
        print_json(&report);
    } else {
        println!(
            "{} × {}: {:.2} M steps/s (median of {}; min {:.2} M, max {:.2} M), auto-reset included",
            a.env,
            a.n_envs,
            report.steps_per_s / 1e6,
            a.timing.repeats,
            report.min / 1e6,
            report.max / 1e6
        );
    }
    Ok(())
}

struct StepEnvs {
    n_envs: usize,
    seconds: f64,
    repeats: usize,
}

impl EnvVisitor for StepEnvs {
    type Output = CliResult<Rates>;

    fn visit<E: Env + Clone + 'static>(self, env: E, _spec: EnvSpec) -> CliResult<Rates> {
        let n_actions = env.n_actions();
        let mut vec_env = VecEnv::new(vec![env; self.n_envs]);
        vec_env.reset(Some(0));
        // A fixed pseudo-random action table: cheap to read, not foldable by the compiler.
        let mut rng = Pcg64::seed_from_u64(1);
        let table: Vec<usize> = (0..1024 * self.n_envs)
            .map(|_| rng.random_range(0..n_actions))
            .collect();
        let mut k = 0;
        let n = self.n_envs;
        let rates = measure(self.seconds, self.repeats, |vector_steps| {
            for _ in 0..vector_steps {
                black_box(vec_env.step(&table[k * n..(k + 1) * n]));
                k = (k + 1) % 1024;
            }
        })?;
        Ok(Rates {
            median: rates.median * n as f64,
            min: rates.min * n as f64,
            max: rates.max * n as f64,
        })
    }
}

fn solve(a: &BenchSolveArgs) -> CliResult<()> {
    let scratch;
    let out = match &a.out {
        Some(dir) => dir.clone(),
        None => {
            scratch = tempfile::tempdir().map_err(|e| {
                Failure::Runtime(format!("cannot create a temporary directory: {e}"))
            })?;
            scratch.path().join("bench-solve")
        }
    };
    let train = TrainArgs {
        env: None,
        preset: Some(a.preset.clone()),
        config: None,
        set: a.set.clone(),
        seed: None,
        seeds: Some(a.seeds.clone()),
        jobs: a.jobs,
        total_timesteps: None,
        out: Some(out),
        quiet: a.quiet,
        tensorboard: false,
        resume: None,
    };
    let (summary, _) = crate::commands::train::run_seeds(&train)?;
    println!(
        "{:>6} {:>7} {:>10} {:>10} {:>9} {:>10}",
        "seed", "solved", "eval mean", "env steps", "wall s", "solved at"
    );
    for r in &summary.runs {
        println!(
            "{:>6} {:>7} {:>10.1} {:>10} {:>9.2} {:>10}",
            r.seed,
            r.solved,
            r.eval_mean.unwrap_or(f64::NAN),
            r.env_steps,
            r.wall_s,
            r.solved_at_step.map_or("-".into(), |s| s.to_string())
        );
    }
    let w = &summary.wall_s;
    println!(
        "{} on {}: solved {}/{} · wall time median {:.2} s, IQM {:.2} s, 95% CI of mean [{:.2}, {:.2}] s",
        summary.preset,
        summary.env,
        summary.runs.iter().filter(|r| r.solved).count(),
        summary.runs.len(),
        w.median,
        w.iqm,
        w.ci95[0],
        w.ci95[1]
    );
    if let Some(steps) = &summary.solved_at_step {
        println!(
            "  env steps to solve (seeds that solved): median {:.0}, IQM {:.0}",
            steps.median, steps.iqm
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flop_count_matches_the_hand_count() {
        // 4-64-64-2 at batch 64: 2.26 MFLOP (online + target forward 2×573k, backward 573k + 540k).
        let f = update_flops(&[4, 64, 64, 2], 64);
        assert_eq!(f, 2.0 * 64.0 * (3.0 * 4480.0 + (4480.0 - 256.0)));
        assert!((f / 1e6 - 2.26).abs() < 0.01);
    }

    #[test]
    fn net_spec_parses() {
        assert_eq!(parse_net("64,64").unwrap(), vec![64, 64]);
        assert!(parse_net("64,0").is_err());
        assert!(parse_net("x").is_err());
    }
}

#[derive(Serialize)]
struct PresetUpdatesReport {
    updates_per_s: f64,
    min: f64,
    max: f64,
    /// The preset measured (absent for `--net nature`).
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<String>,
    algorithm: String,
    env: String,
    network: String,
    batch: usize,
    repeats: usize,
    /// The arithmetic of one update, where deepq counts it (not for IQN, whose cost depends
    /// on its fraction counts as much as on its layers).
    mflop_per_update: Option<f64>,
    gflop_per_s: Option<f64>,
    /// The kernel of the matrix products (`f32`, `bf16-amx`, `bf16-avx512`, `bf16-portable`).
    matmul_path: &'static str,
}

/// `deepq bench updates --preset NAME`: the update of a preset's network (conv torso
/// included), optimizer, loss and head, on random observations shaped like its env's: DQN's
/// learner's update for a DQN, QR-DQN or IQN preset (batch `batch_size`), PQN's minibatch
/// step for a PQN one (batch `n_envs × rollout_steps / n_minibatches`). `--batch` replaces
/// the batch size.
fn preset_updates(a: &BenchUpdatesArgs, name: &str) -> CliResult<()> {
    let mut cfg = deepq::Preset::find(name)?.config()?;
    if let Some(precision) = a.precision {
        cfg.network.precision = precision;
    }
    cfg.validate()?;
    let env = deepq::envs::make(&cfg.run.env, &cfg.run.env_kwargs)?;
    let space = env.observation_space();
    let images = space.image_shape().is_some();
    let mut rng = Pcg64::seed_from_u64(0);
    let n_actions = env.n_actions();
    let online = deepq::network::q_network::<f32>(&cfg, &space, n_actions, &mut rng)?;
    let mut network = describe_network(&online);
    let (algorithm, batch, forwards, rates) = match cfg.algorithm {
        Algorithm::Dqn => {
            let batch = a.batch.unwrap_or(cfg.replay.batch_size);
            let rates = time_learner_update::<DqnAgent<f32>>(
                a,
                &cfg,
                (&space, n_actions),
                batch,
                1,
                &mut rng,
            )?;
            ("DQN", batch, 2, rates)
        }
        Algorithm::QrDqn => {
            let batch = a.batch.unwrap_or(cfg.replay.batch_size);
            let rates = time_learner_update::<QrDqnAgent<f32>>(
                a,
                &cfg,
                (&space, n_actions),
                batch,
                1,
                &mut rng,
            )?;
            ("QR-DQN", batch, 2, rates)
        }
        Algorithm::Iqn => {
            let batch = a.batch.unwrap_or(cfg.replay.batch_size);
            let rates = time_learner_update::<IqnAgent<f32>>(
                a,
                &cfg,
                (&space, n_actions),
                batch,
                1,
                &mut rng,
            )?;
            network = format!(
                "{network}, the first layer's output times a {}-cosine τ-embedding, N = {}, N′ = {}, K = {}",
                cfg.iqn.quantile_embedding_dim,
                cfg.iqn.num_tau_samples,
                cfg.iqn.num_tau_prime_samples,
                cfg.iqn.num_quantile_samples
            );
            // 0: deepq does not count IQN's arithmetic.
            ("IQN", batch, 0, rates)
        }
        Algorithm::Pqn => {
            let batch = a
                .batch
                .unwrap_or(cfg.run.n_envs * cfg.pqn.rollout_steps / cfg.pqn.n_minibatches);
            let rates = time_pqn_update(a, &cfg, online.clone(), batch, images, &mut rng)?;
            ("PQN", batch, 1, rates)
        }
        Algorithm::Tabular => {
            return Err(Failure::Usage(format!(
                "invalid value '{name}' for '--preset': bench updates takes DQN, QR-DQN, IQN and PQN presets (not {})",
                cfg.algorithm.name()
            )));
        }
    };
    let flops = (forwards > 0).then(|| network_update_flops(&online, batch, forwards));
    let report = PresetUpdatesReport {
        updates_per_s: rates.median,
        min: rates.min,
        max: rates.max,
        preset: Some(name.to_string()),
        algorithm: algorithm.to_lowercase(),
        env: cfg.run.env.clone(),
        network,
        batch,
        repeats: a.timing.repeats,
        mflop_per_update: flops.map(|f| f / 1e6),
        gflop_per_s: flops.map(|f| rates.median * f / 1e9),
        matmul_path: cfg.network.precision.matmul_path(),
    };
    if a.timing.json {
        print_json(&report);
    } else {
        println!(
            "{algorithm} updates of preset {name} ({}), {}, batch {}, {:?}, one thread, {} products:",
            report.env, report.network, report.batch, cfg.optimizer, report.matmul_path
        );
        println!(
            "  {:.0} updates/s (median of {}; min {:.0}, max {:.0}) = {:.1} µs/update{}",
            report.updates_per_s,
            a.timing.repeats,
            report.min,
            report.max,
            1e6 / report.updates_per_s,
            arithmetic(report.mflop_per_update, report.gflop_per_s)
        );
    }
    Ok(())
}

/// The config of a network `bench updates` builds from its flags: `network`, the batch size
/// and learning rate (Adam, no gradient clipping, hard target copies), and the loss, n-step
/// returns, prioritized replay and heads the flags ask for.
fn flag_config(
    a: &BenchUpdatesArgs,
    network: NetworkSettings,
    batch_size: usize,
    learning_rate: f64,
) -> CliResult<DqnConfig> {
    let mut cfg = DqnConfig {
        network: NetworkSettings {
            precision: a.precision.unwrap_or_default(),
            ..network
        },
        replay: ReplaySettings {
            batch_size,
            n_steps: a.n_steps,
            prioritized: a.per,
            ..ReplaySettings::default()
        },
        optimizer: OptimizerSettings {
            learning_rate,
            max_grad_norm: f64::INFINITY,
            ..OptimizerSettings::default()
        },
        dqn: DqnSettings {
            loss: a.loss.into(),
            double_q: a.double,
            dueling: a.dueling,
            noisy: a.noisy,
            atoms: a.atoms,
            ..DqnSettings::default()
        },
        ..DqnConfig::default()
    };
    if a.rainbow {
        cfg.set_rainbow_components(true);
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Nature DQN's network (Mnih et al. 2015): three conv layers and 512 hidden units.
fn nature_network() -> NetworkSettings {
    NetworkSettings {
        cnn: vec![vec![32, 8, 4], vec![64, 4, 2], vec![64, 3, 1]],
        net_arch: vec![512],
        ..NetworkSettings::default()
    }
}

/// Atari's standard observations: 84×84 grayscale frames, 4 stacked.
fn nature_frames() -> Space {
    Space::Image {
        shape: [84, 84, 4],
        dtype: ElementType::U8,
    }
}

/// Updates between target copies in `--net nature`: CleanRL's dqn_atari.py copies every
/// 1,000 env steps and updates every 4.
const NATURE_TARGET_EVERY: u64 = 250;

/// `deepq bench updates --net nature`: DQN's update of Nature DQN's network on random
/// 84×84×4 uint8 frames, CleanRL's dqn_atari.py settings (Adam 1e-4, batch 32, no gradient
/// clipping, a hard target copy every 250 updates unless `--target-every` says), the loss and heads from the flags (the
/// update with `--per` computes priorities, but no sum tree is sampled).
fn nature_updates(a: &BenchUpdatesArgs) -> CliResult<()> {
    let batch = a.batch.unwrap_or(32);
    let n_actions = a.actions.unwrap_or(6);
    let target_every = a.target_every.unwrap_or(NATURE_TARGET_EVERY);
    if batch == 0 || n_actions == 0 || target_every == 0 {
        return Err(Failure::Usage(
            "--batch, --actions and --target-every must be at least 1".into(),
        ));
    }
    let cfg = flag_config(a, nature_network(), batch, 1e-4)?;
    let space = nature_frames();
    let mut rng = Pcg64::seed_from_u64(0);
    let online = deepq::network::q_network::<f32>(&cfg, &space, n_actions, &mut rng)?;
    let rates = time_learner_update::<DqnAgent<f32>>(
        a,
        &cfg,
        (&space, n_actions),
        batch,
        target_every,
        &mut rng,
    )?;
    // Double DQN's second pass on the next observations is spared when the target is a
    // copy of the online network, as it is after a copy at every update.
    let forwards = if cfg.dqn.double_q && target_every > 1 {
        3
    } else {
        2
    };
    let flops = network_update_flops(&online, batch, forwards);
    let report = PresetUpdatesReport {
        updates_per_s: rates.median,
        min: rates.min,
        max: rates.max,
        preset: None,
        algorithm: "dqn".into(),
        env: "84x84x4 uint8 frames".into(),
        network: describe_network(&online),
        batch,
        repeats: a.timing.repeats,
        mflop_per_update: Some(flops / 1e6),
        gflop_per_s: Some(rates.median * flops / 1e9),
        matmul_path: cfg.network.precision.matmul_path(),
    };
    if a.timing.json {
        print_json(&report);
    } else {
        println!(
            "DQN updates of Nature DQN's network ({}), {}, batch {}, {:?} loss, Adam 1e-4, one thread, {} products:",
            report.env, report.network, batch, a.loss, report.matmul_path
        );
        println!(
            "  {:.0} updates/s (median of {}; min {:.0}, max {:.0}) = {:.2} ms/update{}",
            report.updates_per_s,
            a.timing.repeats,
            report.min,
            report.max,
            1e3 / report.updates_per_s,
            arithmetic(report.mflop_per_update, report.gflop_per_s)
        );
    }
    Ok(())
}

/// ", 2.3 MFLOP/update, 41.0 GFLOP/s" where the arithmetic is counted, else nothing.
fn arithmetic(mflop_per_update: Option<f64>, gflop_per_s: Option<f64>) -> String {
    match (mflop_per_update, gflop_per_s) {
        (Some(mflop), Some(gflops)) => format!(", {mflop:.1} MFLOP/update, {gflops:.1} GFLOP/s"),
        _ => String::new(),
    }
}

/// Random observation rows, uniform in [-1, 1); for images thresholded to 0/1 with about 10%
/// ones (MinAtar's frames have about 8%), which keeps the values in range for any image type.
fn random_rows(rng: &mut Pcg64, rows: usize, dim: usize, images: bool) -> Vec<f32> {
    let mut values: Vec<f32> = (0..rows * dim)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    if images {
        binarize(&mut values);
    }
    values
}

/// Thresholds uniform [-1, 1) values at 0.8 into 0/1 images.
fn binarize(values: &mut [f32]) {
    for x in values {
        *x = f32::from(u8::from(*x > 0.8));
    }
}

/// A value-based learner's update (online and target forward, loss, backward, optimizer
/// step, and every `target_every` updates the target sync), through the same [`Learner`]
/// seam training uses, on one random batch shaped like `space`'s observations.
fn time_learner_update<L: Learner<Float = f32>>(
    a: &BenchUpdatesArgs,
    cfg: &DqnConfig,
    (space, n_actions): (&Space, usize),
    batch_size: usize,
    target_every: u64,
    rng: &mut Pcg64,
) -> CliResult<Rates> {
    let mut learner = L::new(cfg, space, n_actions)?;
    let mut batch = random_batch(rng, batch_size, space.flat_dim(), n_actions);
    match space {
        Space::Image {
            dtype: ElementType::U8,
            ..
        } => {
            frames(&mut batch.obs);
            frames(&mut batch.next_obs);
        }
        Space::Image { .. } => {
            binarize(&mut batch.obs);
            binarize(&mut batch.next_obs);
        }
        _ => {}
    }
    let mut noise_rng = Pcg64::seed_from_u64(1);
    let mut updates = 0u64;
    measure(a.timing.seconds, a.timing.repeats, |n| {
        for _ in 0..n {
            black_box(learner.update(&batch, &mut noise_rng));
            updates += 1;
            if updates.is_multiple_of(target_every) {
                learner.update_target(cfg.target.tau);
            }
        }
    })
}

/// Maps uniform [-1, 1) values to uint8 frames as the network sees them (byte / 255).
fn frames(values: &mut [f32]) {
    for x in values {
        *x = ElementType::flat_from_byte(((*x + 1.0) * 127.5) as u8);
    }
}

/// PQN's minibatch step (forward, ½·MSE to the targets, backward, clipping, optimizer
/// step), exactly as training runs it, on one random minibatch.
fn time_pqn_update(
    a: &BenchUpdatesArgs,
    cfg: &DqnConfig,
    mut online: Mlp<f32>,
    batch_size: usize,
    images: bool,
    rng: &mut Pcg64,
) -> CliResult<Rates> {
    let mut optimizer = Optimizer::new(cfg.optimizer_config(), online.n_params());
    let mut step = MinibatchStep::new(&online, batch_size);
    step.obs = random_rows(rng, batch_size, online.n_inputs(), images);
    for (action, target) in step.actions.iter_mut().zip(step.targets.iter_mut()) {
        *action = rng.random_range(0..online.n_outputs() as u32);
        *target = rng.random_range(-1.0..1.0);
    }
    measure(a.timing.seconds, a.timing.repeats, |n| {
        for _ in 0..n {
            black_box(step.update(
                &mut online,
                &mut optimizer,
                cfg.optimizer.max_grad_norm,
                cfg.optimizer.learning_rate,
            ));
        }
    })
}

/// Multiply-adds of one forward pass per layer (conv layers first), for one observation.
fn layer_macs(net: &Mlp<f32>) -> Vec<usize> {
    let mut macs = Vec::new();
    if let Some(input) = net.input_shape() {
        let shapes =
            conv_output_shapes(input, net.conv_layers()).expect("a built network is valid");
        let mut channels = input.channels;
        for (layer, out) in net.conv_layers().iter().zip(&shapes) {
            macs.push(out.size() * channels * layer.kernel * layer.kernel);
            channels = out.channels;
        }
    }
    macs.extend(net.sizes().windows(2).map(|w| w[0] * w[1]));
    macs
}

/// FLOPs of one update of `net` on `batch` rows: `forwards` forward passes (DQN: online and
/// target, 2; PQN: 1), and the backward pass (weight gradients, and input gradients for every
/// layer but the first).
fn network_update_flops(net: &Mlp<f32>, batch: usize, forwards: usize) -> f64 {
    let macs = layer_macs(net);
    let total: usize = macs.iter().sum();
    2.0 * batch as f64 * ((forwards + 1) * total + (total - macs[0])) as f64
}

/// "conv 16x3x3/1 -> 1024-128-6" style description.
fn describe_network(net: &Mlp<f32>) -> String {
    let conv: Vec<String> = net
        .conv_layers()
        .iter()
        .map(|c| format!("conv {}x{}x{}/{}", c.filters, c.kernel, c.kernel, c.stride))
        .collect();
    let mlp: Vec<String> = net.sizes().iter().map(usize::to_string).collect();
    let mut parts = conv;
    parts.push(mlp.join("-"));
    parts.join(" -> ")
}
