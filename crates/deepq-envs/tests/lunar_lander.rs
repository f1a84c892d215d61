//! LunarLander-v3 beyond the golden replays (which match Gymnasium bit for
//! bit from recorded random draws): statistics under this crate's own random
//! draws, copies, checkpoints and the registry's kwargs.
//!
//! # Tolerances
//! The references are Gymnasium 1.4.0 with box2d 2.3.10, recorded by
//! `golden/gen_golden.py` into `golden/lunarlander.json` (`statistics`):
//! 1,000 heuristic episodes (seeds 0..1000) and 4,000 uniform-random ones
//! (seeds 0..4000). This crate draws its terrain, push and engine noise from
//! its own RNG, so it runs other, equally distributed episodes: half as many
//! as the reference (500 and 2,000), to stay within a few seconds (a step
//! costs about 20 µs: Gymnasium has Box2D run 180 velocity and 60 position
//! iterations). The difference of two independent sample means has standard
//! error `sd * sqrt(1 / n_ours + 1 / n_ref)`,
//! and the tests allow 4.5 of those: a correct port leaves that band with
//! probability below 1e-5 (the seeds are fixed anyway, so the outcome is
//! reproducible), while a wrong reward term or engine force shifts the means
//! by tens of standard errors. Standard deviations get the same 4.5 standard
//! errors, with the standard error of a sample standard deviation estimated
//! from our sample's fourth moment, `sqrt((m4 - s⁴) / n) / (2 s)`: the
//! heuristic's returns are two-humped with rare deep crashes, so their
//! standard deviation varies far more between samples than a normal one's
//! (Gymnasium's own: 78.5 over seeds 0..100, 91.0 over seeds 0..1000).

use deepq_envs::box2d::lunar_lander::{self, LunarLander, heuristic};
use deepq_envs::{AnyEnv, Env, KwValue, Kwargs, TimeLimit, make};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::Value;

/// A reference entry of `golden/lunarlander.json`'s `statistics`.
fn reference(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/lunarlander.json");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["statistics"][name].clone()
}

struct Stats {
    mean: f64,
    sd: f64,
    /// Standard error of `sd`.
    se_sd: f64,
    share_200: f64,
    mean_len: f64,
    sd_len: f64,
}

/// Runs `n` episodes of `LunarLander-v3` (seeds 0..n), the policy seeing the
/// observation and its own RNG (seeded with 10_000 + seed, like the script's).
fn run(n: u64, mut policy: impl FnMut(&[f32; 8], &mut Pcg64) -> usize) -> Stats {
    let mut env = TimeLimit::new(LunarLander::new(), 1000);
    let (mut returns, mut lengths) = (Vec::new(), Vec::new());
    for seed in 0..n {
        let mut obs = env.reset(Some(seed));
        let mut rng = Pcg64::seed_from_u64(10_000 + seed);
        let (mut total, mut len) = (0.0, 0usize);
        loop {
            let step = env.step(policy(&obs, &mut rng));
            total += step.reward;
            len += 1;
            obs = step.obs;
            if step.done() {
                break;
            }
        }
        returns.push(total);
        lengths.push(len as f64);
    }
    let moments = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        (mean, var.sqrt())
    };
    let (mean, sd) = moments(&returns);
    let (mean_len, sd_len) = moments(&lengths);
    let m4 = returns.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64;
    let se_sd = ((m4 - sd.powi(4)) / n as f64).sqrt() / (2.0 * sd);
    Stats {
        mean,
        sd,
        se_sd,
        share_200: returns.iter().filter(|&&r| r >= 200.0).count() as f64 / n as f64,
        mean_len,
        sd_len,
    }
}

/// Our sample size relative to the reference's.
const SHARE: f64 = 0.5;

/// Standard error of a difference of two statistics with standard error `se`
/// at the reference's size (ours scaled to our size).
fn diff_se(se: f64) -> f64 {
    se * (1.0 + 1.0 / SHARE).sqrt()
}

/// Asserts a sample mean is within 4.5 standard errors of the difference of
/// the reference's mean (sd `sd_ref` over `n` episodes).
fn assert_mean(name: &str, ours: f64, reference: f64, sd_ref: f64, n: f64) {
    let se = diff_se(sd_ref / n.sqrt());
    assert!(
        (ours - reference).abs() < 4.5 * se,
        "{name}: {ours:.2}, Gymnasium {reference:.2} (tolerance 4.5 x {se:.2})"
    );
}

/// Asserts a sample standard deviation is within 4.5 standard errors of the
/// difference of the reference's (`se`: our standard error).
fn assert_sd(name: &str, ours: f64, reference: f64, se: f64) {
    // Scaled to the reference's size, then combined.
    let se = diff_se(se * SHARE.sqrt());
    assert!(
        (ours - reference).abs() < 4.5 * se,
        "{name}: standard deviation {ours:.2}, Gymnasium {reference:.2} (tolerance 4.5 x {se:.2})"
    );
}

#[test]
fn heuristic_lands_like_gymnasiums() {
    let r = reference("heuristic_1000");
    let n = r["episodes"].as_f64().unwrap();
    let s = run((n * SHARE) as u64, |obs, _| heuristic(obs));
    println!(
        "heuristic over {} episodes: mean {:.1}, sd {:.1} (se {:.1}), {:.1} % >= 200, \
         length {:.1} (sd {:.1})",
        n * SHARE,
        s.mean,
        s.sd,
        s.se_sd,
        100.0 * s.share_200,
        s.mean_len,
        s.sd_len
    );
    let f = |k: &str| r[k].as_f64().unwrap();
    assert_mean("heuristic return", s.mean, f("mean"), f("std"), n);
    assert_sd("heuristic return", s.sd, f("std"), s.se_sd);
    // A share p has standard deviation sqrt(p (1 - p)).
    let p = f("share_at_least_200");
    assert_mean("share >= 200", s.share_200, p, (p * (1.0 - p)).sqrt(), n);
    assert_mean(
        "heuristic length",
        s.mean_len,
        f("mean_length"),
        f("std_length"),
        n,
    );
}

#[test]
fn random_policy_scores_like_gymnasiums() {
    let r = reference("random_4000");
    let n = r["episodes"].as_f64().unwrap();
    let s = run((n * SHARE) as u64, |_, rng| rng.random_range(0..4));
    println!(
        "random over {} episodes: mean {:.1}, sd {:.1} (se {:.1}), length {:.1} (sd {:.1})",
        n * SHARE,
        s.mean,
        s.sd,
        s.se_sd,
        s.mean_len,
        s.sd_len
    );
    let f = |k: &str| r[k].as_f64().unwrap();
    assert_mean("random return", s.mean, f("mean"), f("std"), n);
    assert_sd("random return", s.sd, f("std"), s.se_sd);
    assert_mean(
        "random length",
        s.mean_len,
        f("mean_length"),
        f("std_length"),
        n,
    );
}

/// Steps `env` with the heuristic for `steps` steps (or to the end) and
/// returns the observations and rewards.
fn follow(env: &mut LunarLander, steps: usize) -> Vec<([f32; 8], f64, bool)> {
    let mut out = Vec::new();
    let mut obs = env.observation();
    for _ in 0..steps {
        let step = env.step(heuristic(&obs));
        obs = step.obs;
        out.push((step.obs, step.reward, step.terminated));
        if step.terminated {
            break;
        }
    }
    out
}

#[test]
fn clones_and_checkpoints_continue_exactly() {
    let mut env = LunarLander::with_options(-9.0, true, 10.0, 1.0).unwrap();
    env.reset(Some(7));
    follow(&mut env, 60);
    let mut copy = env.clone();
    let json = serde_json::to_string(&env).unwrap();
    let mut restored: LunarLander = serde_json::from_str(&json).unwrap();
    assert_eq!(restored.observation(), env.observation());
    assert_eq!(restored.state(), env.state());
    let expected = follow(&mut env, 400);
    assert!(expected.len() > 20);
    assert_eq!(follow(&mut copy, 400), expected);
    assert_eq!(follow(&mut restored, 400), expected);
    // The RNG came along too: the next episodes agree.
    let next = env.reset(None);
    assert_eq!(copy.reset(None), next);
    assert_eq!(restored.reset(None), next);
}

#[test]
fn envs_move_between_threads() {
    let mut env = LunarLander::new();
    env.reset(Some(3));
    let mut copy = env.clone();
    let handle = std::thread::spawn(move || {
        follow(&mut copy, 200);
        copy
    });
    follow(&mut env, 200);
    let copy = handle.join().unwrap();
    assert_eq!(copy.observation(), env.observation());
}

#[test]
fn registry_kwargs() {
    let kw = |pairs: &[(&str, KwValue)]| -> Kwargs {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    let AnyEnv::LunarLander(env) = make(
        "LunarLander-v3",
        &kw(&[
            ("gravity", KwValue::Float(-5.0)),
            ("enable_wind", KwValue::Bool(true)),
            ("wind_power", KwValue::Int(5)),
            ("turbulence_power", KwValue::Float(0.5)),
            ("continuous", KwValue::Bool(false)),
        ]),
    )
    .unwrap() else {
        panic!("not a LunarLander")
    };
    let lander = env.inner();
    assert_eq!(
        (
            lander.gravity(),
            lander.enable_wind(),
            lander.wind_power(),
            lander.turbulence_power()
        ),
        (-5.0, true, 5.0, 0.5)
    );
    assert_eq!(env.spec().unwrap().max_episode_steps, 1000);
    assert_eq!(env.spec().unwrap().reward_threshold, 200.0);

    let err =
        |pairs: &[(&str, KwValue)]| make("LunarLander-v3", &kw(pairs)).unwrap_err().to_string();
    let msg = err(&[("continuous", KwValue::Bool(true))]);
    assert!(
        msg.contains("'continuous'") && msg.contains("not implemented"),
        "{msg}"
    );
    let msg = err(&[("gravity", KwValue::Float(-12.5))]);
    assert!(msg.contains("between -12 and 0"), "{msg}");
    let msg = err(&[("gravity", KwValue::Int(0))]);
    assert!(msg.contains("between -12 and 0"), "{msg}");
    let msg = err(&[("wind_power", KwValue::from("strong"))]);
    assert!(msg.contains("a finite number"), "{msg}");
    assert_eq!(
        deepq_envs::accepted_kwargs("LunarLander-v3").unwrap(),
        [
            "continuous",
            "enable_wind",
            "gravity",
            "max_episode_steps",
            "turbulence_power",
            "wind_power"
        ]
    );
}

#[test]
fn frames_show_the_scene() {
    let mut env = LunarLander::new();
    env.reset(Some(1));
    let frame = env.render_rgb();
    assert_eq!((frame.width, frame.height), (600, 400));
    // The sky is black, the moon's bottom edge white.
    assert_eq!(frame.pixel(5, 5), [0, 0, 0]);
    assert_eq!(frame.pixel(300, 399), [255, 255, 255]);
    // The lander starts at the top centre, in purple.
    let purple = (280..320)
        .flat_map(|x| (0..40).map(move |y| (x, y)))
        .filter(|&(x, y)| frame.pixel(x, y) == [128, 102, 230])
        .count();
    assert!(purple > 100, "{purple} lander pixels");
    let text = env.render_text();
    assert_eq!(text.lines().count(), 21);
    assert!(text.contains('@') && text.contains('#') && text.contains('>'));
    let _ = lunar_lander::N_ACTIONS;
}
