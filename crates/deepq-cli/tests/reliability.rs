//! Reliability as a user meets it: bad input gets one clear line and a non-zero exit (never a
//! panic), Ctrl-C saves a checkpoint that `--resume` continues bit for bit, corrupt files are
//! refused, and divergence keeps the last good checkpoint.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use common::{assert_clean_error, deepq};

/// A run long enough to be interrupted, with frequent checkpoints.
const LONG_RUN: &[&str] = &[
    "train",
    "--quiet",
    "--total-timesteps",
    "40000",
    "--set",
    "stop_on_solve=false",
    "--set",
    "final_eval_episodes=3",
    "--set",
    "checkpoint_freq=5000",
];

#[test]
fn ctrl_c_checkpoints_and_resume_is_bit_identical() {
    check_ctrl_c_then_resume(LONG_RUN, 40_000);
}

/// Tabular runs checkpoint and resume through the same core.
#[test]
fn tabular_runs_resume_bit_identically() {
    check_ctrl_c_then_resume(
        &[
            "train",
            "--quiet",
            "--preset",
            "taxi-tabular",
            "--total-timesteps",
            "3000000",
            "--set",
            "checkpoint_freq=200000",
            "--set",
            "final_eval_episodes=3",
        ],
        3_000_000,
    );
}

/// Interrupts `run_args` (plus `--out cut`) with SIGINT once 30 episodes are logged, resumes
/// it, and checks the result is bit-identical to an uninterrupted run of `total` steps.
fn check_ctrl_c_then_resume(run_args: &[&str], total: u64) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let child = std::process::Command::cargo_bin("deepq")
        .unwrap()
        .current_dir(d)
        .args(run_args)
        .args(["--out", "cut"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once training is under way (a few episodes logged).
    let episodes = d.join("cut/episodes.csv");
    let start = Instant::now();
    while std::fs::read_to_string(&episodes).map_or(0, |t| t.lines().count()) < 30 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "training never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_clean_error(&out, 130, &["interrupted at step", "cut"]);
    assert!(d.join("cut/checkpoint/trainer.ckpt").is_file());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("cut/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    let stopped_at = summary["env_steps"].as_u64().unwrap();
    assert!(
        stopped_at < total,
        "the interrupt came too late to test anything"
    );

    let resumed = deepq(&["train", "--quiet", "--resume", "cut"], d);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let whole = deepq(&[run_args, &["--out", "whole"]].concat(), d);
    assert!(whole.status.success());

    let read = |p: &str| std::fs::read(d.join(p)).unwrap();
    assert_eq!(
        read("cut/model.safetensors"),
        read("whole/model.safetensors"),
        "resumed weights differ"
    );
    // The logs match too, once the wall-clock column is set aside.
    let without_wall = |p: &str| -> Vec<String> {
        String::from_utf8(read(p))
            .unwrap()
            .lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(
        without_wall("cut/episodes.csv"),
        without_wall("whole/episodes.csv")
    );
    assert_eq!(read("cut/eval.csv"), read("whole/eval.csv"));
    assert_eq!(read("cut/train.csv"), read("whole/train.csv"));
    let a: serde_json::Value = serde_json::from_slice(&read("cut/summary.json")).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&read("whole/summary.json")).unwrap();
    for key in [
        "env_steps",
        "episodes",
        "updates",
        "eval_mean",
        "eval_std",
        "solved",
        "solved_at_step",
        "preset",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["interrupted"], false);
}

#[test]
fn resume_refuses_missing_foreign_and_corrupt_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_clean_error(
        &deepq(&["train", "--resume", "nowhere"], d),
        2,
        &["nowhere", "does not exist"],
    );
    std::fs::create_dir(d.join("empty")).unwrap();
    assert_clean_error(
        &deepq(&["train", "--resume", "empty"], d),
        2,
        &["not a deepq run directory"],
    );

    let out = deepq(
        &[
            "train",
            "--quiet",
            "--total-timesteps",
            "2000",
            "--set",
            "final_eval_episodes=2",
            "--out",
            "run",
        ],
        d,
    );
    assert!(out.status.success());
    let ckpt = d.join("run/checkpoint/trainer.ckpt");
    let good = std::fs::read(&ckpt).unwrap();
    std::fs::write(&ckpt, &good[..good.len() / 2]).unwrap();
    assert_clean_error(
        &deepq(&["train", "--resume", "run"], d),
        1,
        &["corrupt or truncated"],
    );
    let mut flipped = good.clone();
    flipped[good.len() - 10] ^= 0x40;
    std::fs::write(&ckpt, &flipped).unwrap();
    assert_clean_error(
        &deepq(&["train", "--resume", "run"], d),
        1,
        &["corrupt or truncated"],
    );
    std::fs::write(&ckpt, b"not a checkpoint").unwrap();
    assert_clean_error(
        &deepq(&["train", "--resume", "run"], d),
        1,
        &["not a deepq checkpoint"],
    );
    std::fs::remove_file(&ckpt).unwrap();
    assert_clean_error(
        &deepq(&["train", "--resume", "run"], d),
        2,
        &["no readable checkpoint"],
    );
}

#[test]
fn corrupt_or_mismatched_models_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--total-timesteps",
            "1500",
            "--set",
            "final_eval_episodes=2",
            "--out",
            "run",
        ],
        d,
    );
    assert!(out.status.success());
    let model = d.join("run/model.safetensors");
    let good = std::fs::read(&model).unwrap();

    std::fs::write(&model, &good[..good.len() - 7]).unwrap();
    assert_clean_error(
        &deepq(&["eval", "--run", "run"], d),
        1,
        &["cannot load model"],
    );
    std::fs::write(&model, b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!").unwrap();
    assert_clean_error(
        &deepq(&["eval", "--run", "run"], d),
        1,
        &["cannot load model"],
    );

    // A CartPole network in a run configured for Acrobot: shapes do not fit.
    std::fs::write(&model, &good).unwrap();
    let config = std::fs::read_to_string(d.join("run/config.toml")).unwrap();
    std::fs::write(
        d.join("run/config.toml"),
        config.replace("CartPole-v1", "Acrobot-v1"),
    )
    .unwrap();
    assert_clean_error(
        &deepq(&["eval", "--run", "run"], d),
        1,
        &["layer sizes", "Acrobot-v1"],
    );
    assert_clean_error(&deepq(&["play", "--run", "run"], d), 1, &["layer sizes"]);
}

#[test]
fn divergence_names_the_step_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--total-timesteps",
            "30000",
            "--set",
            "learning_rate=1e30",
            "--set",
            "max_grad_norm=inf",
            "--set",
            "checkpoint_freq=100",
            "--set",
            "learning_starts=500",
            "--set",
            "stop_on_solve=false",
            "--out",
            "run",
        ],
        d,
    );
    assert_clean_error(&out, 1, &["diverged at step", "last good checkpoint"]);
    let bytes = std::fs::read(d.join("run/checkpoint/trainer.ckpt")).unwrap();
    assert!(bytes.starts_with(b"DEEPQCK5"));
}

#[test]
fn bad_values_and_paths_get_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--set", "tau=0"], &["tau", "(0, 1]"]),
        (&["--set", "tau=1.5"], &["tau"]),
        (&["--set", "gamma=-0.1"], &["gamma", "[0, 1]"]),
        (&["--set", "learning_rate=0"], &["learning_rate", "> 0"]),
        (&["--set", "learning_rate=-1e-3"], &["learning_rate"]),
        (
            &["--set", "batch_size=64", "--set", "buffer_size=10"],
            &["batch_size", "buffer_size"],
        ),
        (
            &["--set", "learning_starts=5000", "--total-timesteps", "1000"],
            &["learning_starts", "total_timesteps"],
        ),
        (&["--set", "net_arch=[]"], &["net_arch"]),
        (&["--set", "n_envs=0"], &["n_envs"]),
        (&["--set", "total_timesteps=-3"], &["total_timesteps", "-3"]),
        (&["--set", "net_arch=\"wide\""], &["net_arch", "wide"]),
        (&["--set", "double_q=maybe"], &["double_q", "maybe"]),
    ];
    for (extra, needles) in cases {
        let args = [&["train", "--quiet"], *extra].concat();
        assert_clean_error(&deepq(&args, d), 2, needles);
    }
    std::fs::write(d.join("bad.toml"), "learning_rate = = 3").unwrap();
    assert_clean_error(
        &deepq(&["train", "--config", "bad.toml"], d),
        2,
        &["bad.toml", "not valid TOML"],
    );
    std::fs::write(d.join("binary.toml"), [0xff, 0xfe, 0x00]).unwrap();
    assert_clean_error(
        &deepq(&["train", "--config", "binary.toml"], d),
        2,
        &["binary.toml"],
    );
    std::fs::create_dir(d.join("adir.toml")).unwrap();
    assert_clean_error(
        &deepq(&["train", "--config", "adir.toml"], d),
        2,
        &["adir.toml"],
    );
    std::fs::write(d.join("file"), "x").unwrap();
    assert_clean_error(
        &deepq(&["train", "--quiet", "--out", "file/run"], d),
        1,
        &["file/run"],
    );
    assert_clean_error(&deepq(&["train", "--bogus-flag"], d), 2, &["--bogus-flag"]);
    assert_clean_error(&deepq(&["eval", "--run", "nowhere"], d), 2, &["nowhere"]);
    std::fs::create_dir(d.join("notarun")).unwrap();
    assert_clean_error(
        &deepq(&["plot", "--run", "notarun"], d),
        2,
        &["not a deepq run directory"],
    );
}
