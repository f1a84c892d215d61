//! `deepq aggregate`: the summary of `train --seeds` from independently trained runs.

mod common;

use std::path::Path;

use common::{assert_clean_error, deepq, stderr};

const SHORT: [&str; 6] = [
    "--quiet",
    "--total-timesteps",
    "1500",
    "--set",
    "final_eval_episodes=3",
    "--out",
];

fn train(dir: &Path, extra: &[&str], out: &str) {
    let mut args = vec!["train"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&SHORT);
    args.push(out);
    let done = deepq(&args, dir);
    assert!(done.status.success(), "{}", stderr(&done));
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn aggregates_equal_the_multi_seed_summary_of_the_same_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train(d, &["--seeds", "0..3", "--jobs", "2"], "many");
    let done = deepq(
        &[
            "aggregate",
            "many/seed-2",
            "many/seed-0",
            "many/seed-1",
            "--out",
            "agg",
        ],
        d,
    );
    assert!(done.status.success(), "{}", stderr(&done));
    assert!(String::from_utf8_lossy(&done.stdout).contains("3 seeds"));
    assert_eq!(
        std::fs::read_to_string(d.join("agg/summary.json")).unwrap(),
        std::fs::read_to_string(d.join("many/summary.json")).unwrap()
    );
    assert!(d.join("agg/plots/returns.png").is_file());

    // A job array: one `deepq train --seed N` per task, then one aggregate. Training is
    // deterministic, so the evaluations match those of `--seeds`; only wall times differ.
    for seed in ["0", "1", "2"] {
        train(d, &["--seed", seed], &format!("array/task-{seed}"));
    }
    let done = deepq(
        &[
            "aggregate",
            "array/task-0",
            "array/task-1",
            "array/task-2",
            "--out",
            "array/all",
        ],
        d,
    );
    assert!(done.status.success(), "{}", stderr(&done));
    let (array, many) = (
        json(&d.join("array/all/summary.json")),
        json(&d.join("many/summary.json")),
    );
    for key in ["env", "preset", "seeds", "solve_rate", "eval_mean"] {
        assert_eq!(array[key], many[key], "{key}");
    }
}

#[test]
fn runs_that_do_not_belong_together_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train(d, &["--seed", "0"], "a");
    train(d, &["--seed", "1"], "b");
    train(d, &["--seed", "2", "--set", "gamma=0.9"], "gamma");
    train(
        d,
        &[
            "--seed",
            "3",
            "--env",
            "Acrobot-v1",
            "--set",
            "learning_starts=100",
        ],
        "acrobot",
    );
    let agg = |runs: &[&str]| {
        let mut args = vec!["aggregate"];
        args.extend_from_slice(runs);
        args.extend_from_slice(&["--out", "out"]);
        deepq(&args, d)
    };
    assert_clean_error(&agg(&["a", "nowhere"]), 2, &["'nowhere'", "does not exist"]);
    std::fs::create_dir(d.join("empty")).unwrap();
    assert_clean_error(&agg(&["a", "empty"]), 2, &["'empty'", "no config.toml"]);
    assert_clean_error(&agg(&["a", "acrobot"]), 2, &["'env'", "Acrobot-v1"]);
    assert_clean_error(&agg(&["a", "gamma"]), 2, &["'gamma'", "0.9"]);
    assert_clean_error(&agg(&["a", "b", "a"]), 2, &["both", "seed 0"]);
    std::fs::remove_file(d.join("b/summary.json")).unwrap();
    assert_clean_error(&agg(&["a", "b"]), 2, &["'b'", "has not finished"]);
    std::fs::write(d.join("b/summary.json"), "{\"env\": 1").unwrap();
    assert_clean_error(
        &agg(&["a", "b"]),
        1,
        &["summary.json", "not a valid run summary"],
    );
    assert!(
        !d.join("out").exists(),
        "nothing is written for refused runs"
    );
}
