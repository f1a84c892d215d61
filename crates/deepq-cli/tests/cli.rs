//! End-to-end tests of the `deepq` binary, run as a user would.

mod common;

use common::{assert_clean_error, deepq, stderr};

/// The JSON header of a safetensors file: its tensor names, shapes and metadata.
fn safetensors_header(path: &std::path::Path) -> String {
    let model = std::fs::read(path).unwrap();
    let header_len = u64::from_le_bytes(model[..8].try_into().unwrap()) as usize;
    String::from_utf8_lossy(&model[8..8 + header_len]).into_owned()
}

#[test]
fn train_writes_the_run_directory_contract_and_eval_plot_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--total-timesteps",
            "3000",
            "--set",
            "eval_freq=1000",
            "--set",
            "final_eval_episodes=5",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("run directory: run"), "{stdout}");
    let run = dir.path().join("run");
    for file in [
        "config.toml",
        "episodes.csv",
        "train.csv",
        "eval.csv",
        "model.safetensors",
        "summary.json",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    for plot in ["returns", "epsilon", "loss", "eval"] {
        assert!(
            run.join("plots").join(format!("{plot}.png")).is_file(),
            "{plot} plot missing"
        );
    }
    let episodes = std::fs::read_to_string(run.join("episodes.csv")).unwrap();
    assert!(episodes.starts_with("episode,step,return,length,epsilon,wall_s\n"));
    assert!(episodes.lines().count() > 10);
    assert!(
        std::fs::read_to_string(run.join("train.csv"))
            .unwrap()
            .starts_with("step,loss,mean_q,learning_rate\n")
    );
    let eval_csv = std::fs::read_to_string(run.join("eval.csv")).unwrap();
    assert!(eval_csv.starts_with("step,mean,std,min,max\n"));
    assert_eq!(
        eval_csv.lines().count(),
        4,
        "evaluations at 1000, 2000, 3000: {eval_csv}"
    );

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    for key in [
        "env",
        "preset",
        "seed",
        "total_timesteps",
        "env_steps",
        "episodes",
        "updates",
        "wall_s",
        "steps_per_s",
        "updates_per_s",
        "eval_episodes",
        "eval_mean",
        "eval_std",
        "reward_threshold",
        "solved",
        "solved_at_step",
        "deepq_version",
    ] {
        assert!(summary.get(key).is_some(), "summary.json lacks {key}");
    }
    assert_eq!(summary["env"], "CartPole-v1");
    assert_eq!(summary["preset"], "default");
    assert_eq!(summary["env_steps"], 3000);
    assert_eq!(summary["eval_episodes"], 5);

    // The saved config reproduces the run exactly.
    let again = deepq(
        &[
            "train",
            "--quiet",
            "--config",
            "run/config.toml",
            "--out",
            "again",
        ],
        dir.path(),
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        std::fs::read(run.join("model.safetensors")).unwrap(),
        std::fs::read(dir.path().join("again/model.safetensors")).unwrap(),
        "same config and seed must give bit-identical weights"
    );

    let eval = deepq(
        &["eval", "--run", "run", "--episodes", "7", "--json"],
        dir.path(),
    );
    assert!(eval.status.success(), "{}", stderr(&eval));
    let json: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(json["episodes"], 7);
    for key in ["mean", "std", "min", "max"] {
        assert!(json[key].is_number(), "{key}");
    }

    std::fs::remove_dir_all(run.join("plots")).unwrap();
    let plot = deepq(&["plot", "--run", "run", "--format", "svg"], dir.path());
    assert!(plot.status.success(), "{}", stderr(&plot));
    assert!(run.join("plots/returns.svg").is_file());
}

#[test]
fn listings_name_every_env_and_preset() {
    let dir = tempfile::tempdir().unwrap();
    let envs = deepq(&["envs"], dir.path());
    let text = String::from_utf8_lossy(&envs.stdout);
    for id in [
        "CartPole-v0",
        "CartPole-v1",
        "Acrobot-v1",
        "MountainCar-v0",
        "FrozenLake-v1",
        "FrozenLake8x8-v1",
    ] {
        assert!(text.contains(id), "{id} missing from {text}");
    }
    assert!(text.contains("475") && text.contains("-110"));
    // Aligned columns: every row's observation space starts under the header's.
    let column = text.find("observation space").unwrap();
    for row in text.lines() {
        let (before, space) = row.split_at(column);
        assert!(
            before.ends_with("  ") && !space.starts_with(' '),
            "misaligned: {text}"
        );
    }
    assert!(!text.contains("-0,") && !text.contains("-0]"), "{text}");
    let presets = deepq(&["presets"], dir.path());
    assert!(String::from_utf8_lossy(&presets.stdout).contains("default"));
}

#[test]
fn bad_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_clean_error(
        &deepq(&["train", "--env", "CartPole-v9"], d),
        2,
        &["CartPole-v9", "CartPole-v1"],
    );
    assert_clean_error(
        &deepq(&["train", "--preset", "nope"], d),
        2,
        &["nope", "default"],
    );
    assert_clean_error(
        &deepq(&["train", "--set", "lerning_rate=0.1"], d),
        2,
        &["did you mean 'learning_rate'"],
    );
    assert_clean_error(
        &deepq(&["train", "--set", "batch_size=big"], d),
        2,
        &["batch_size", "big"],
    );
    assert_clean_error(
        &deepq(&["train", "--set", "gamma=2"], d),
        2,
        &["gamma", "[0, 1]"],
    );
    assert_clean_error(&deepq(&["train", "--total-timesteps", "-5"], d), 2, &["-5"]);
    assert_clean_error(
        &deepq(&["train", "--config", "missing.toml"], d),
        2,
        &["missing.toml"],
    );
    assert_clean_error(
        &deepq(&["eval", "--run", "nowhere"], d),
        2,
        &["nowhere", "does not exist"],
    );
    assert_clean_error(&deepq(&["frobnicate"], d), 2, &["frobnicate"]);
}

#[test]
fn command_line_errors_name_the_argument_and_the_subcommands_help() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["eval"],
            &["required arguments were not provided: --run <DIR> (see deepq eval --help)"],
        ),
        (
            &["aggregate"],
            &["--out <DIR>", "<RUN_DIR>", "(see deepq aggregate --help)"],
        ),
        (
            &["train", "--sed", "1"],
            &[
                "'--sed'",
                "did you mean '--seed'?",
                "(see deepq train --help)",
            ],
        ),
        (
            &["traim"],
            &["'traim'", "did you mean 'train'?", "(see deepq --help)"],
        ),
        (
            &["bench", "solve", "--sed", "1"],
            &["did you mean '--seeds'?", "(see deepq bench solve --help)"],
        ),
        (
            &["plot", "--run", "r", "--format", "pnj"],
            &[
                "'pnj'",
                "[possible values: png, svg]",
                "did you mean 'png'?",
            ],
        ),
        (
            &[
                "train",
                "--resume",
                "r",
                "--env",
                "CartPole-v1",
                "--seed",
                "1",
            ],
            &["'--resume <DIR>' cannot be used with: --env <ID>, --seed <N>"],
        ),
        (
            &["play", "--run", "r", "--render", "video"],
            &["invalid value 'video' for '--render <RENDER>': expected terminal or gif=FILE"],
        ),
    ];
    for (args, needles) in cases {
        assert_clean_error(&deepq(args, d), 2, needles);
    }
}

#[test]
fn bare_commands_print_their_usage() {
    let dir = tempfile::tempdir().unwrap();
    for (args, usage) in [
        (&[][..], "Usage: deepq <COMMAND>"),
        (&["bench"][..], "Usage: deepq bench <COMMAND>"),
    ] {
        let out = deepq(args, dir.path());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(!err.contains("error:"), "{err}");
        assert!(err.contains(usage), "{err}");
    }
}

#[test]
fn every_preset_parses_and_trains_briefly() {
    let dir = tempfile::tempdir().unwrap();
    let listing = deepq(&["presets"], dir.path());
    let names: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(names.len() >= 9, "{names:?}");
    for name in &names {
        if name.starts_with("minatar-") && !cfg!(feature = "minatar") {
            continue;
        }
        // Atari presets train from Python only (tests/python/test_atari.py); this command
        // points to it (`atari_runs_are_pointed_to_python_and_replay_memory_is_measured`).
        if name.starts_with("atari") {
            continue;
        }
        // PQN and tabular Q-learning have no warm-up (learning_starts belongs to the
        // off-policy loop); they learn from their first rollout or step.
        let warm_up: &[&str] = if name.starts_with("pqn-") || name.ends_with("-tabular") {
            &[]
        } else {
            &["--set", "learning_starts=1000"]
        };
        let args = [
            &[
                "train",
                "--quiet",
                "--preset",
                name,
                "--total-timesteps",
                "1500",
                "--set",
                "final_eval_episodes=2",
                // An untrained MinAtar policy can keep an episode going until the cap.
                "--set",
                "eval_max_episode_steps=1000",
                "--out",
                name,
            ],
            warm_up,
        ]
        .concat();
        let out = deepq(&args, dir.path());
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let summary: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(name).join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(summary["preset"], name.as_str());
        assert!(
            summary["updates"].as_u64().unwrap() > 0,
            "{name} never trained"
        );
    }
}

#[test]
fn tensorboard_events_are_written_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--tensorboard",
            "--total-timesteps",
            "1500",
            "--set",
            "final_eval_episodes=2",
            "--out",
            "tb",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<_> = std::fs::read_dir(dir.path().join("tb/tensorboard"))
        .unwrap()
        .collect();
    assert_eq!(events.len(), 1);
    let bytes = std::fs::read(events[0].as_ref().unwrap().path()).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for tag in [
        "episode/return",
        "episode/length",
        "episode/epsilon",
        "train/loss",
        "train/mean_q",
        "eval/mean",
        "time/steps_per_s",
    ] {
        assert!(text.contains(tag), "no {tag} scalar");
    }
}

#[test]
fn multi_seed_training_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    // Not --quiet: the seeds a range expands to (its end excluded) are announced first.
    let out = deepq(
        &[
            "train",
            "--seeds",
            "0..3",
            "--jobs",
            "2",
            "--total-timesteps",
            "1500",
            "--set",
            "final_eval_episodes=3",
            "--out",
            "many",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().next(),
        Some("seeds 0–2 (3 runs), 2 in parallel"),
        "{stdout}"
    );
    let root = dir.path().join("many");
    for seed in 0..3 {
        assert!(root.join(format!("seed-{seed}/summary.json")).is_file());
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["runs"].as_array().unwrap().len(), 3);
    for key in ["mean", "median", "iqm", "ci95"] {
        assert!(!summary["eval_mean"][key].is_null(), "{key}");
    }
    assert!(summary["solve_rate"].is_number());
    assert!(
        root.join("plots/returns.png").is_file(),
        "aggregate plot missing"
    );

    // `deepq plot` redraws the multi-seed chart of a --seeds directory.
    std::fs::remove_dir_all(root.join("plots")).unwrap();
    let plot = deepq(&["plot", "--run", "many", "--format", "svg"], dir.path());
    assert!(plot.status.success(), "{}", stderr(&plot));
    assert_eq!(
        String::from_utf8_lossy(&plot.stdout).trim(),
        std::path::Path::new("many/plots/returns.svg")
            .display()
            .to_string()
    );
    let svg = std::fs::read_to_string(root.join("plots/returns.svg")).unwrap();
    assert!(
        svg.contains("CartPole-v1 · ") && svg.contains("seeds"),
        "the multi-seed chart"
    );
}

#[test]
fn play_writes_a_gif_and_says_how_the_episode_ended() {
    let dir = tempfile::tempdir().unwrap();
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
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let play = deepq(
        &["play", "--run", "run", "--render", "gif=ep.gif"],
        dir.path(),
    );
    assert!(play.status.success(), "{}", stderr(&play));
    let text = String::from_utf8_lossy(&play.stdout);
    assert!(
        text.contains("terminated") || text.contains("truncated"),
        "{text}"
    );
    let gif = std::fs::read(dir.path().join("ep.gif")).unwrap();
    assert!(gif.starts_with(b"GIF89a"));
    let term = deepq(&["play", "--run", "run", "--fps", "1000"], dir.path());
    assert!(term.status.success(), "{}", stderr(&term));
    assert!(
        String::from_utf8_lossy(&term.stdout).contains("\x1b["),
        "terminal mode redraws in place"
    );
}

#[test]
fn bench_commands_report_json() {
    let dir = tempfile::tempdir().unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let out = deepq(args, dir.path());
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let updates = json(&[
        "bench",
        "updates",
        "--seconds",
        "0.2",
        "--repeats",
        "2",
        "--json",
    ]);
    for key in ["updates_per_s", "min", "max", "net", "batch", "repeats"] {
        assert!(!updates[key].is_null(), "{key}");
    }
    assert_eq!(updates["net"], serde_json::json!([4, 64, 64, 2]));
    assert!(updates["min"].as_f64() <= updates["updates_per_s"].as_f64());
    let act = json(&[
        "bench",
        "act",
        "--seconds",
        "0.2",
        "--repeats",
        "2",
        "--json",
    ]);
    assert!(act["us_per_action"].as_f64().unwrap() > 0.0);
    let envs = json(&[
        "bench",
        "envs",
        "--n-envs",
        "8",
        "--seconds",
        "0.2",
        "--repeats",
        "2",
        "--json",
    ]);
    assert!(envs["steps_per_s"].as_f64().unwrap() > 0.0);
    let solve = deepq(
        &[
            "bench",
            "solve",
            "--quiet",
            "--seeds",
            "0..2",
            "--set",
            "total_timesteps=1500",
            "--set",
            "final_eval_episodes=2",
        ],
        dir.path(),
    );
    assert!(solve.status.success(), "{}", stderr(&solve));
    let solve_stdout = String::from_utf8_lossy(&solve.stdout);
    assert!(solve_stdout.contains("solved"));
    assert!(
        !solve_stdout.contains("at a time"),
        "--quiet: {solve_stdout}"
    );
}

#[test]
fn rainbow_models_load_in_eval_and_play() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--preset",
            "cartpole-rainbow",
            "--total-timesteps",
            "1500",
            "--set",
            "learning_starts=200",
            "--set",
            "final_eval_episodes=3",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let header = safetensors_header(&dir.path().join("run/model.safetensors"));
    for name in [
        "torso.0.weight_mu",
        "torso.2.weight_sigma",
        "value.bias_mu",
        "advantage.weight_mu",
        "support",
    ] {
        assert!(header.contains(&format!("\"{name}\"")), "{name}: {header}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/summary.json")).unwrap())
            .unwrap();
    let eval = deepq(
        &["eval", "--run", "run", "--episodes", "3", "--json"],
        dir.path(),
    );
    assert!(eval.status.success(), "{}", stderr(&eval));
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert!(report.to_string().contains("mean"), "{report}");
    assert!(summary["eval_mean"].as_f64().unwrap().is_finite());
    let play = deepq(&["play", "--run", "run", "--fps", "1000"], dir.path());
    assert!(play.status.success(), "{}", stderr(&play));
}

#[test]
fn bench_updates_reports_rainbow_components() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "bench",
            "updates",
            "--rainbow",
            "--seconds",
            "0.2",
            "--repeats",
            "1",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["components"],
        serde_json::json!(["double", "dueling", "noisy", "c51", "n-step", "per"])
    );
    assert!(report["updates_per_s"].as_f64().unwrap() > 0.0);
    let bad = deepq(&["bench", "updates", "--atoms", "0"], dir.path());
    assert_clean_error(&bad, 2, &["'atoms'"]);
}

/// Nature DQN's update without Atari: the network CleanRL's dqn_atari.py trains, on 84×84×4
/// frames, with its arithmetic counted (the issue's 2.2 GFLOP per batch-32 update).
#[test]
fn bench_updates_measures_nature_dqn() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "bench",
            "updates",
            "--net",
            "nature",
            "--seconds",
            "0.3",
            "--repeats",
            "1",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["network"],
        "conv 32x8x8/4 -> conv 64x4x4/2 -> conv 64x3x3/1 -> 3136-512-6"
    );
    assert_eq!(report["batch"], 32);
    // Forward of both networks and the backward pass, counted by layer: 2,182.9 MFLOP.
    let mflop = report["mflop_per_update"].as_f64().unwrap();
    assert!((mflop - 2182.9).abs() < 0.1, "{mflop}");
    assert!(report["updates_per_s"].as_f64().unwrap() > 0.0);
    assert!(report.get("preset").is_none(), "{report}");
    let bad = deepq(&["bench", "updates", "--net", "natur"], dir.path());
    assert_clean_error(&bad, 2, &["'natur'", "nature"]);
}

/// Double DQN's update with the target copied at every update (`--target-every 1`, DrQ(ε)'s
/// set-up) counts two forward passes, not three; the flag is refused where it does not apply.
#[test]
fn bench_updates_counts_the_pass_a_copied_target_spares() {
    let dir = tempfile::tempdir().unwrap();
    let mflop = |extra: &[&str]| {
        let args = [
            &["bench", "updates", "--net", "nature", "--double"][..],
            extra,
            &["--seconds", "0.2", "--repeats", "1", "--json"][..],
        ]
        .concat();
        let out = deepq(&args, dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["mflop_per_update"].as_f64().unwrap()
    };
    // One forward pass of batch 32 is 598.1 MFLOP.
    let (every_250, every_update) = (mflop(&[]), mflop(&["--target-every", "1"]));
    assert!((every_250 - 2781.0).abs() < 0.1, "{every_250}");
    assert!((every_update - 2182.9).abs() < 0.1, "{every_update}");
    let bad = deepq(&["bench", "updates", "--target-every", "1"], dir.path());
    assert_clean_error(&bad, 2, &["--target-every", "--net nature"]);
    let zero = deepq(
        &["bench", "updates", "--net", "nature", "--target-every", "0"],
        dir.path(),
    );
    assert_clean_error(&zero, 2, &["--target-every", "at least 1"]);
}

/// Acting with Nature DQN's network for several copies at once, reported per observation;
/// no copies is one line.
#[test]
fn bench_act_measures_nature_dqn_for_several_copies() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["bench", "act", "--net", "nature", "--actions", "6"];
    let timing = [
        "--envs",
        "3",
        "--seconds",
        "0.2",
        "--repeats",
        "1",
        "--json",
    ];
    let out = deepq(&[&args[..], &timing[..]].concat(), dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["net"],
        "conv 32x8x8/4 -> conv 64x4x4/2 -> conv 64x3x3/1 -> 3136-512-6"
    );
    assert_eq!(report["envs"], 3);
    assert!(report["us_per_action"].as_f64().unwrap() > 0.0);
    let bad = deepq(&[&args[..], &["--envs", "0"][..]].concat(), dir.path());
    assert_clean_error(&bad, 2, &["--envs", "at least 1", "got 0"]);
}

/// `precision = "bf16"` end to end: the default CartPole run learns with bf16 products, says
/// which kernel ran (summary line, `summary.json`), its model keeps the precision through
/// `deepq eval`; the Nature benchmark takes `--precision`; bad values are one line.
#[test]
fn bf16_trains_reports_its_kernel_and_benchmarks() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--set",
            "precision=\"bf16\"",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("matrix products in bf16 (bf16-"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/summary.json")).unwrap())
            .unwrap();
    let path = summary["matmul_path"].as_str().unwrap();
    assert!(
        ["bf16-amx", "bf16-avx512", "bf16-portable"].contains(&path),
        "{path}"
    );
    assert_eq!(summary["solved"], true, "{summary}");
    assert!(
        safetensors_header(&dir.path().join("run/model.safetensors"))
            .contains("\"precision\":\"bf16\"")
    );
    let eval = deepq(
        &["eval", "--run", "run", "--episodes", "3", "--json"],
        dir.path(),
    );
    assert!(eval.status.success(), "{}", stderr(&eval));

    let bench_args = [
        "bench",
        "updates",
        "--net",
        "nature",
        "--precision",
        "bf16",
        "--batch",
        "4",
        "--seconds",
        "0.2",
        "--repeats",
        "1",
        "--json",
    ];
    let bench = deepq(&bench_args, dir.path());
    assert!(bench.status.success(), "{}", stderr(&bench));
    let report: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    assert_eq!(report["matmul_path"], path);
    // DEEPQ_BF16_KERNEL runs the kernel it names instead of the fastest; a kernel this CPU
    // does not run is one line, before anything runs.
    let with_kernel = |kernel: &str, args: &[&str]| {
        assert_cmd::Command::cargo_bin("deepq")
            .unwrap()
            .current_dir(dir.path())
            .env("DEEPQ_BF16_KERNEL", kernel)
            .args(args)
            .output()
            .unwrap()
    };
    let portable = with_kernel("bf16-portable", &bench_args);
    assert!(portable.status.success(), "{}", stderr(&portable));
    let report: serde_json::Value = serde_json::from_slice(&portable.stdout).unwrap();
    assert_eq!(report["matmul_path"], "bf16-portable");
    let needles = ["\"bf16-tpu\"", "DEEPQ_BF16_KERNEL", "bf16-portable"];
    let bad = with_kernel("bf16-tpu", &bench_args);
    assert_clean_error(&bad, 2, &needles);
    let bad = with_kernel(
        "bf16-tpu",
        &["train", "--set", "precision=\"bf16\"", "--out", "never"],
    );
    assert_clean_error(&bad, 2, &needles);
    assert!(!dir.path().join("never").exists());
    let bad = deepq(&["bench", "updates", "--precision", "fp16"], dir.path());
    assert_clean_error(&bad, 2, &["'fp16'", "\"f32\" or \"bf16\""]);
    let bad = deepq(&["train", "--set", "precision=\"half\""], dir.path());
    assert_clean_error(&bad, 2, &["\"half\"", "'precision'", "`f32` or `bf16`"]);
}

#[test]
fn pqn_models_have_layer_norm_names_and_load_in_eval_and_play() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--preset",
            "pqn-cartpole",
            "--total-timesteps",
            "4096",
            "--set",
            "net_arch=[32, 32]",
            "--set",
            "final_eval_episodes=3",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let header = safetensors_header(&dir.path().join("run/model.safetensors"));
    // nn.Sequential(Linear, LayerNorm, ReLU, Linear, LayerNorm, ReLU, Linear)
    for name in [
        "0.weight", "1.weight", "1.bias", "3.weight", "4.bias", "6.weight",
    ] {
        assert!(header.contains(&format!("\"{name}\"")), "{name}: {header}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/summary.json")).unwrap())
            .unwrap();
    // Two rollouts of 32 envs × 64 steps, each 4 epochs × 16 minibatches.
    assert_eq!(summary["env_steps"], 4096);
    assert_eq!(summary["updates"], 128);
    let eval = deepq(
        &["eval", "--run", "run", "--episodes", "3", "--json"],
        dir.path(),
    );
    assert!(eval.status.success(), "{}", stderr(&eval));
    let play = deepq(&["play", "--run", "run", "--fps", "1000"], dir.path());
    assert!(play.status.success(), "{}", stderr(&play));
    // A DQN key on a PQN run is one clear line.
    let bad = deepq(
        &[
            "train",
            "--preset",
            "pqn-cartpole",
            "--set",
            "buffer_size=1000",
        ],
        dir.path(),
    );
    assert_clean_error(&bad, 2, &["'buffer_size'", "dqn"]);
    let bad = deepq(
        &[
            "train",
            "--preset",
            "pqn-cartpole",
            "--set",
            "n_minibatches=7",
        ],
        dir.path(),
    );
    assert_clean_error(&bad, 2, &["'n_minibatches'", "divide"]);
}

#[cfg(feature = "minatar")]
#[test]
fn minatar_trains_with_a_conv_network_and_bad_torsos_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--preset",
            "minatar-breakout",
            "--total-timesteps",
            "1200",
            "--set",
            "learning_starts=400",
            "--set",
            "cnn=[[4, 3, 1]]",
            "--set",
            "net_arch=[16]",
            "--set",
            "final_eval_episodes=2",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let header = safetensors_header(&dir.path().join("run/model.safetensors"));
    // nn.Sequential(Conv2d, ReLU, Flatten, Linear, ReLU, Linear)
    for name in ["0.weight", "3.weight", "5.bias", "conv_input_shape"] {
        assert!(header.contains(&format!("\"{name}\"")), "{name}: {header}");
    }
    let eval = deepq(&["eval", "--run", "run", "--episodes", "2"], dir.path());
    assert!(eval.status.success(), "{}", stderr(&eval));
    let gif = deepq(
        &["play", "--run", "run", "--render", "gif=run/episode.gif"],
        dir.path(),
    );
    assert!(gif.status.success(), "{}", stderr(&gif));
    assert!(dir.path().join("run/episode.gif").is_file());

    let mlp_on_images = deepq(
        &[
            "train",
            "--env",
            "MinAtar/Breakout-v1",
            "--total-timesteps",
            "5000",
        ],
        dir.path(),
    );
    assert_clean_error(
        &mlp_on_images,
        2,
        &["'cnn'", "image observations", "cnn = [[16, 3, 1]]"],
    );
    let cnn_on_vectors = deepq(&["train", "--set", "cnn=[[16, 3, 1]]"], dir.path());
    assert_clean_error(&cnn_on_vectors, 2, &["'cnn'", "flat observations"]);
    let too_small = deepq(
        &[
            "train",
            "--preset",
            "minatar-breakout",
            "--set",
            "cnn=[[16, 5, 1], [16, 5, 1], [16, 5, 1]]",
        ],
        dir.path(),
    );
    assert_clean_error(&too_small, 2, &["'cnn'", "conv layer 3", "below 1×1"]);

    let bench = deepq(
        &[
            "bench",
            "updates",
            "--preset",
            "minatar-breakout",
            "--seconds",
            "0.2",
            "--repeats",
            "1",
            "--json",
        ],
        dir.path(),
    );
    assert!(bench.status.success(), "{}", stderr(&bench));
    let report: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    assert!(report["updates_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(report["batch"], 32);
    assert_eq!(report["algorithm"], "dqn");
    // 2 forwards + backward of conv 4→16 (8×8×16×36 MACs) and 1024-128-6, batch 32.
    let macs = 8 * 8 * 16 * 36 + 1024 * 128 + 128 * 6;
    let mflop = 2.0 * 32.0 * f64::from(3 * macs + (macs - 8 * 8 * 16 * 36)) / 1e6;
    assert!((report["mflop_per_update"].as_f64().unwrap() - mflop).abs() < 1e-9);
}

#[test]
fn bench_updates_times_pqn_and_iqn_and_refuses_tabular_presets() {
    let dir = tempfile::tempdir().unwrap();
    let bench = |preset: &str| {
        deepq(
            &[
                "bench",
                "updates",
                "--preset",
                preset,
                "--seconds",
                "0.2",
                "--repeats",
                "1",
                "--json",
            ],
            dir.path(),
        )
    };
    let pqn = bench("pqn-cartpole");
    assert!(pqn.status.success(), "{}", stderr(&pqn));
    let report: serde_json::Value = serde_json::from_slice(&pqn.stdout).unwrap();
    assert_eq!(report["algorithm"], "pqn");
    // 32 envs × 64 steps / 16 minibatches.
    assert_eq!(report["batch"], 128);
    assert!(report["updates_per_s"].as_f64().unwrap() > 0.0);
    let iqn = bench("iqn-minatar-breakout");
    assert!(iqn.status.success(), "{}", stderr(&iqn));
    let report: serde_json::Value = serde_json::from_slice(&iqn.stdout).unwrap();
    assert_eq!(report["algorithm"], "iqn");
    assert_eq!(report["batch"], 32);
    assert!(report["updates_per_s"].as_f64().unwrap() > 0.0);
    assert!(report["network"].as_str().unwrap().contains("64-cosine"));
    // deepq counts no FLOPs for IQN rather than a wrong number.
    assert!(report["mflop_per_update"].is_null());
    let tabular = bench("taxi-tabular");
    assert_clean_error(
        &tabular,
        2,
        &[
            "'taxi-tabular'",
            "DQN, QR-DQN, IQN and PQN presets",
            "not tabular",
        ],
    );
}

/// QR-DQN as a user runs it: a preset trains and writes a model that sb3-contrib's
/// `QuantileNetwork` reads (plain `nn.Sequential` names, the last layer `n_quantiles ×
/// n_actions` wide, `n_quantiles` in the metadata), `deepq eval` acts on it, and its bad
/// input is one line with exit 2.
#[test]
fn qrdqn_trains_saves_sb3_contrib_layout_and_refuses_bad_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--preset",
            "qrdqn-cartpole",
            "--total-timesteps",
            "2000",
            "--set",
            "final_eval_episodes=3",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("run");
    let header = safetensors_header(&run.join("model.safetensors"));
    assert!(header.contains("\"n_quantiles\":\"10\""), "{header}");
    assert!(header.contains("\"4.weight\""), "{header}");
    assert!(header.contains("[20,256]"), "{header}");
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    assert!(summary.contains("\"updates\": "), "{summary}");
    let eval = deepq(&["eval", "--run", "run", "--episodes", "2"], dir.path());
    assert!(eval.status.success(), "{}", stderr(&eval));

    for (set, needles) in [
        ("n_quantiles=0", &["'n_quantiles'", "must be 1 to"][..]),
        ("double_q=true", &["'double_q'", "\"dqn\" only"][..]),
        ("rollout_steps=8", &["'rollout_steps'", "\"pqn\" only"][..]),
    ] {
        let out = deepq(
            &[
                "train",
                "--preset",
                "qrdqn-cartpole",
                "--set",
                set,
                "--out",
                "bad",
            ],
            dir.path(),
        );
        assert_clean_error(&out, 2, needles);
        assert!(!dir.path().join("bad").exists(), "{set}: nothing written");
    }
    let out = deepq(
        &["train", "--set", "n_quantiles=5", "--out", "bad"],
        dir.path(),
    );
    assert_clean_error(&out, 2, &["'n_quantiles'", "\"qrdqn\" only", "\"dqn\""]);
}

/// IQN as a user runs it: a MinAtar preset trains briefly, its model (torso, τ-embedding and
/// head under PyTorch names) loads in `deepq eval`, and IQN's keys are refused on other
/// algorithms.
#[cfg(feature = "minatar")]
#[test]
fn iqn_trains_evaluates_and_owns_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &[
            "train",
            "--quiet",
            "--preset",
            "iqn-minatar-breakout",
            "--total-timesteps",
            "700",
            "--set",
            "learning_starts=500",
            "--set",
            "batch_size=8",
            "--set",
            "final_eval_episodes=2",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("run");
    let header = safetensors_header(&run.join("model.safetensors"));
    for name in [
        "torso.0.weight",
        "embedding.weight",
        "head.0.weight",
        "iqn_embedding_dim",
    ] {
        assert!(header.contains(name), "{name}: {header}");
    }
    let eval = deepq(
        &["eval", "--run", "run", "--episodes", "2", "--json"],
        dir.path(),
    );
    assert!(eval.status.success(), "{}", stderr(&eval));
    let out = deepq(
        &["train", "--set", "num_tau_samples=8", "--out", "bad"],
        dir.path(),
    );
    assert_clean_error(&out, 2, &["'num_tau_samples'", "\"iqn\" only"]);
}

#[test]
fn atari_runs_are_pointed_to_python_and_replay_memory_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let out = deepq(
        &["train", "--preset", "atari-dqn", "--out", "run"],
        dir.path(),
    );
    assert_clean_error(
        &out,
        2,
        &[
            "PongNoFrameskip-v4 is an Atari game",
            "pip install \"deepq[atari]\"",
        ],
    );
    assert!(!dir.path().join("run").exists(), "nothing is written");
    let out = deepq(
        &[
            "bench",
            "replay",
            "--transitions",
            "3000",
            "--json",
            "--seconds",
            "0.2",
            "--repeats",
            "1",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Each transition brings one new 84×84 frame; each episode one more.
    let frames = report["frames"].as_u64().unwrap();
    assert!((3000..=3000 + 3 + 4).contains(&frames), "{report}");
    assert!(report["allocated_bytes"].as_u64().unwrap() < 3100 * 84 * 84 + 1_000_000);
    let out = deepq(&["bench", "replay", "--transitions", "0"], dir.path());
    assert_clean_error(&out, 2, &["invalid value 0 for '--transitions'"]);
}
