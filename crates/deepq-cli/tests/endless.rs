//! A policy that never ends an episode, in an environment with no time limit to end it: every
//! command returns, with the step cap reported, and Ctrl-C still stops an evaluation.
//!
//! The environment is non-slippery FrozenLake with its time limit lifted; a Q-table trained
//! for 5 steps (too few to reach the goal) is all zeros, so the greedy policy walks into the
//! left wall of the start cell forever.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use common::{assert_clean_error, deepq, stderr};

fn endless_run(cap: &str) -> Vec<String> {
    [
        "train",
        "--quiet",
        "--preset",
        "frozenlake-tabular",
        "--total-timesteps",
        "5",
        "--set",
        "env_kwargs={ is_slippery = false, max_episode_steps = 1000000000000 }",
        "--set",
        "eval_freq=2",
        "--set",
        "eval_episodes=2",
        "--set",
        "final_eval_episodes=3",
        "--set",
        &format!("eval_max_episode_steps={cap}"),
        "--out",
        "run",
    ]
    .map(String::from)
    .to_vec()
}

fn run_deepq(args: &[String], cwd: &Path) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    deepq(&args, cwd)
}

#[test]
fn train_eval_and_play_stop_at_the_cap_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_deepq(&endless_run("300"), d);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 of 3 episodes reached the 300-step cap (eval_max_episode_steps)"),
        "{text}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("run/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["eval_capped_episodes"], 3);
    assert_eq!(summary["eval_episodes"], 3);
    assert_eq!(summary["interrupted"], false);
    // Two periodic evaluations (steps 2 and 4) of capped episodes: return 0, the table's.
    let eval_csv = std::fs::read_to_string(d.join("run/eval.csv")).unwrap();
    assert_eq!(eval_csv.lines().count(), 3, "{eval_csv}");

    let eval = deepq(&["eval", "--run", "run", "--episodes", "4", "--json"], d);
    assert!(eval.status.success(), "{}", stderr(&eval));
    let json: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(json["capped"], 4);
    assert_eq!(json["max_episode_steps"], 300);
    assert_eq!(json["mean_length"], 300.0);
    let eval = deepq(&["eval", "--run", "run", "--episodes", "2"], d);
    assert!(
        String::from_utf8_lossy(&eval.stdout).contains("2 of 2 episodes reached the 300-step cap"),
        "{}",
        String::from_utf8_lossy(&eval.stdout)
    );

    let play = deepq(&["play", "--run", "run", "--render", "gif=ep.gif"], d);
    assert!(play.status.success(), "{}", stderr(&play));
    let text = String::from_utf8_lossy(&play.stdout);
    assert!(
        text.contains("ended after 300 steps")
            && text.contains("truncated (it reached the 300-step cap")
            && text.contains("(301 frames)"),
        "{text}"
    );
    assert!(
        std::fs::read(d.join("ep.gif"))
            .unwrap()
            .starts_with(b"GIF89a")
    );
}

#[test]
fn a_cap_of_zero_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_deepq(&endless_run("0"), dir.path());
    assert_clean_error(&out, 2, &["invalid value 0 for 'eval_max_episode_steps'"]);
}

/// Starts `deepq args` in `cwd`, waits until `ready` exists and a moment more (so that it is
/// evaluating), interrupts it with SIGINT and returns its output.
fn interrupt(args: &[String], cwd: &Path, ready: &Path) -> std::process::Output {
    let mut child = std::process::Command::cargo_bin("deepq")
        .unwrap()
        .current_dir(cwd)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready.exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before it was interrupted"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait_with_output().unwrap()
}

#[test]
fn ctrl_c_stops_a_quiet_run_and_deepq_eval_while_they_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // With a cap too large to reach, the first periodic evaluation (at step 2) runs until
    // interrupted; the last checkpoint comes before it.
    let mut args = endless_run("1000000000000");
    args.extend(["--set", "checkpoint_freq=1"].map(String::from));
    let out = interrupt(&args, d, &d.join("run/checkpoint/trainer.ckpt"));
    assert_clean_error(&out, 130, &["interrupted at step 2", "run"]);
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("evaluating"));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("run/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["env_steps"], 2);

    let eval = ["eval", "--run", "run", "--episodes", "2"].map(String::from);
    let out = interrupt(&eval, d, &d.join("run/summary.json"));
    assert_clean_error(&out, 130, &["evaluation interrupted"]);
}
