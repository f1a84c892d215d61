#!/usr/bin/env python3
"""Runs deepq and the peers it compares with on the same work and prints the side-by-side tables.

Benchmarks (`--only`, comma separated; default all):

  training, wall-clock per seed and the final greedy evaluation of both sides:
    cleanrl          CleanRL's dqn.py defaults, CartPole-v1 (cleanrl_dqn.py)   vs preset cartpole-cleanrl
    zoo-cartpole     SB3 + RL Zoo, CartPole-v1 (sb3_zoo.py)                     vs preset cartpole-zoo
    zoo-acrobot      SB3 + RL Zoo, Acrobot-v1                                   vs preset acrobot
    zoo-lunarlander  SB3 + RL Zoo, LunarLander-v3                               vs preset lunarlander
    qrdqn-cartpole   sb3-contrib QR-DQN + RL Zoo, CartPole-v1 (sb3_contrib_qrdqn.py) vs preset qrdqn-cartpole
    qrdqn-acrobot    sb3-contrib QR-DQN + RL Zoo, Acrobot-v1                    vs preset qrdqn-acrobot
    qrdqn-lunarlander sb3-contrib QR-DQN + RL Zoo, LunarLander-v3               vs preset qrdqn-lunarlander
  one operation, PyTorch on one thread against `deepq bench` (each seed is one round):
    pytorch-update   DQN update, 4-64-64-2 and 4-256-256-2 MLPs (benches/pytorch_dqn.py)
    pytorch-act      greedy action, 4-64-64-2 (benches/pytorch_dqn.py --act)
    minatar-update   MinAtar Breakout conv-net update (benches/pytorch_minatar.py)
    nature-update    Nature DQN's update on 84x84x4 frames, PyTorch f32 and bf16 autocast
                     (benches/pytorch_nature.py) vs `deepq bench updates --net nature`
                     with `--precision f32` and `--precision bf16`

For each benchmark and seed, deepq and the peer run one after the other (which goes first
alternates from seed to seed), each in a fresh process pinned to one core with `taskset` when
it is there; torch runs on one thread (OMP_NUM_THREADS=MKL_NUM_THREADS=1,
torch.set_num_threads(1)). A training run's time is its training loop (deepq's summary.json
`wall_s`, the peer's own timer), and its whole process as measured here. Tables give medians
over the seeds; the header gives the CPU model, the load average before and after, and the
versions on both sides.

    python3 -m venv VENV && VENV/bin/pip install torch stable-baselines3 sb3-contrib "gymnasium[box2d]"
    python benches/peers/run.py --peers-python VENV/bin/python --deepq target/release/deepq
    python benches/peers/run.py --peers-python VENV/bin/python --deepq target/release/deepq \\
        --only cleanrl --seeds 1 2 3 --json peers.json

`--total-timesteps`, `--eval-episodes`, `--seconds` and `--repeats` shorten everything for a
quick check of the set-up; the figures in the README and docs use the defaults.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import load, loadavg, machine

HERE = Path(__file__).resolve().parent
BENCHES_DIR = HERE.parent


@dataclass
class Training:
    """A peer's training script against a deepq preset."""
    title: str
    script: str
    args: tuple
    preset: str


@dataclass
class Micro:
    """One measured operation: a PyTorch script against a `deepq bench` command."""
    title: str
    script: str
    args: tuple
    deepq_args: tuple
    peer_key: str     # the figure in the PyTorch script's JSON
    deepq_key: str    # the figure in deepq's JSON
    unit: str         # "updates/s" (higher is better) or "µs" (lower is better)


TRAINING = {
    "cleanrl": Training("CleanRL `dqn.py` defaults, CartPole-v1", "cleanrl_dqn.py", (),
                        "cartpole-cleanrl"),
    "zoo-cartpole": Training("Stable-Baselines3 + RL Zoo, CartPole-v1", "sb3_zoo.py",
                             ("--env", "CartPole-v1"), "cartpole-zoo"),
    "zoo-acrobot": Training("Stable-Baselines3 + RL Zoo, Acrobot-v1", "sb3_zoo.py",
                            ("--env", "Acrobot-v1"), "acrobot"),
    "zoo-lunarlander": Training("Stable-Baselines3 + RL Zoo, LunarLander-v3", "sb3_zoo.py",
                                ("--env", "LunarLander-v3"), "lunarlander"),
    **{
        f"qrdqn-{name}": Training(f"sb3-contrib QR-DQN + RL Zoo, {env}", "sb3_contrib_qrdqn.py",
                                  ("--env", env), f"qrdqn-{name}")
        for name, env in (("cartpole", "CartPole-v1"), ("acrobot", "Acrobot-v1"),
                          ("lunarlander", "LunarLander-v3"))
    },
}

MICRO = {
    "pytorch-update": [
        Micro(f"DQN updates/s, 4-{net.replace(',', '-')}-2, batch 64, MSE, Adam, Polyak",
              "pytorch_dqn.py", ("--net", net), ("bench", "updates", "--net", net),
              "updates_per_s", "updates_per_s", "updates/s")
        for net in ("64,64", "256,256")
    ],
    "pytorch-act": [
        Micro("greedy action, 4-64-64-2", "pytorch_dqn.py", ("--act",), ("bench", "act"),
              "act_us", "us_per_action", "µs"),
    ],
    "minatar-update": [
        Micro("MinAtar Breakout DQN updates/s, conv 16x3x3 -> 128 -> 6, batch 32, Huber, "
              "centered RMSprop", "pytorch_minatar.py", (),
              ("bench", "updates", "--preset", "minatar-breakout"),
              "updates_per_s", "updates_per_s", "updates/s"),
    ],
    "nature-update": [
        Micro(f"Nature DQN updates/s, 84x84x4 -> 3 conv -> 512 -> 6, batch 32, MSE, Adam, "
              f"PyTorch {peer} vs deepq {precision}", "pytorch_nature.py",
              ("--autocast", autocast),
              ("bench", "updates", "--net", "nature", "--precision", precision),
              "updates_per_s", "updates_per_s", "updates/s")
        for peer, autocast in (("f32", "off"), ("bf16 autocast", "bf16"))
        for precision in ("f32", "bf16")
    ],
}

ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 1)[1])
    p.add_argument("--peers-python", default=sys.executable,
                   help="Python of the peers' virtualenv (torch, stable-baselines3, gymnasium[box2d])")
    p.add_argument("--deepq", required=True, help="the deepq binary (a release build)")
    names = [*TRAINING, *MICRO]
    p.add_argument("--only", default=",".join(names),
                   help=f"comma-separated benchmarks (default all: {','.join(names)})")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="training seeds, and the rounds of the one-operation benchmarks "
                        "(default 0 1 2)")
    p.add_argument("--core", type=int, default=1 if (os.cpu_count() or 1) > 1 else 0,
                   help="the core to pin both sides to (default 1, or 0 on one CPU)")
    p.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    p.add_argument("--total-timesteps", type=int,
                   help="override the budget of every training run, both sides (a quick check)")
    p.add_argument("--eval-episodes", type=int,
                   help="override the final evaluation's episodes, both sides (default 100)")
    p.add_argument("--seconds", type=float, default=1.0,
                   help="timed seconds per repeat of the one-operation benchmarks (default 1)")
    p.add_argument("--repeats", type=int, default=7,
                   help="timed repeats per round of the one-operation benchmarks (default 7)")
    p.add_argument("--json", metavar="OUT", help="also write every measurement to OUT as JSON")
    p.add_argument("--keep-sides", metavar="DIR",
                   help="keep each training run's result in DIR/<bench>-seed<N>-<side>.json "
                        "and reuse it when rerun, so that a seed stopped half-way loses at "
                        "most the side under way")
    args = p.parse_args()
    args.only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in args.only if n not in names]
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if args.repeats < 1 or args.seconds <= 0:
        p.error("--repeats and --seconds must be positive")
    return args


def run(cmd, pin):
    """Runs `cmd` pinned; returns its stdout and the whole process's wall seconds."""
    cmd = [*pin, *map(str, cmd)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ONE_THREAD)
    process_s = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.strip()}")
    return proc.stdout, process_s


def last_json(stdout):
    """The JSON object a peer script prints as its last line."""
    return json.loads(stdout.strip().splitlines()[-1])


def peer_versions(python):
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import _common; "
            "print(json.dumps(_common.versions()))")
    return json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True,
                                     check=True).stdout)


def training_pair(name, bench, seed, args, pin, workdir):
    """One seed of a training benchmark: deepq's summary and the peer's result, each with
    `process_s`."""
    out = workdir / f"{bench.preset}-{seed}"
    deepq = [args.deepq, "train", "--preset", bench.preset, "--seed", seed, "--quiet", "--out", out]
    peer = [args.peers_python, HERE / bench.script, *bench.args, "--seed", seed]
    if args.total_timesteps:
        deepq += ["--total-timesteps", args.total_timesteps]
        peer += ["--total-timesteps", args.total_timesteps]
    if args.eval_episodes:
        deepq += ["--set", f"final_eval_episodes={args.eval_episodes}"]
        peer += ["--eval-episodes", args.eval_episodes]

    def run_deepq():
        _, process_s = run(deepq, pin)
        return {**json.loads((out / "summary.json").read_text()), "process_s": process_s}

    def run_peer():
        stdout, process_s = run(peer, pin)
        return {**last_json(stdout), "process_s": process_s}

    ours, theirs = alternate(seed, kept(args, name, seed, "deepq", run_deepq),
                             kept(args, name, seed, "peer", run_peer))
    print(f"{name} seed {seed}: deepq {ours['wall_s']:.2f} s, eval {ours['eval_mean']:.1f}; "
          f"peer {theirs['wall_s']:.2f} s, eval {theirs['eval_mean']:.1f}", file=sys.stderr, flush=True)
    return {"bench": name, "seed": seed, "deepq": ours, "peer": theirs}


def kept(args, name, seed, side, run_side):
    """`run_side`, or with `--keep-sides` the result it left there before (written
    atomically once it has run)."""
    if not args.keep_sides:
        return run_side
    path = Path(args.keep_sides) / f"{name}-seed{seed}-{side}.json"

    def run_or_reuse():
        if path.exists():
            print(f"{name} seed {seed}: {side} from {path}", file=sys.stderr, flush=True)
            return json.loads(path.read_text())
        result = run_side()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, path)
        return result
    return run_or_reuse


def micro_pair(name, bench, seed, args, pin):
    """One round of a one-operation benchmark: deepq's and PyTorch's JSON."""
    deepq = [args.deepq, *bench.deepq_args, "--json", "--repeats", args.repeats,
             "--seconds", args.seconds * args.repeats]  # deepq's --seconds is the total
    peer = [args.peers_python, BENCHES_DIR / bench.script, *bench.args, "--json", "--seed", seed,
            "--repeats", args.repeats, "--seconds", args.seconds]
    ours, theirs = alternate(seed, lambda: json.loads(run(deepq, pin)[0]),
                             lambda: last_json(run(peer, pin)[0]))
    print(f"{name} round {seed}: {bench.title}: deepq {ours[bench.deepq_key]:,.2f}, "
          f"pytorch {theirs[bench.peer_key]:,.2f} {bench.unit}", file=sys.stderr, flush=True)
    return {"bench": name, "title": bench.title, "seed": seed, "deepq": ours, "peer": theirs}


def alternate(seed, run_deepq, run_peer):
    """Runs both, deepq first on even seeds and the peer first on odd ones; returns (deepq, peer)."""
    if seed % 2 == 0:
        ours = run_deepq()
        return ours, run_peer()
    theirs = run_peer()
    return run_deepq(), theirs


def seconds(values):
    return ", ".join(f"{v:.2f}" for v in values)


def times(r):
    """A ratio as the docs write it: 3.2×, 17×."""
    return f"{r:.1f}×" if r < 10 else f"{r:.0f}×"


def returns(results):
    return ", ".join(f"{r['eval_mean']:.1f}" for r in results)


def over_seeds(seeds):
    """"seed 3", "median of seeds 0–4" or "median of seeds 1, 5"."""
    seeds = sorted(seeds)
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"median of seeds {seeds[0]}–{seeds[-1]}"
    return "median of seeds " + ", ".join(map(str, seeds))


def training_tables(records, names):
    """The wall-clock table and the final-evaluation table, as markdown lines."""
    lines = ["## Same hyperparameters as the peers, wall-clock per seed", "",
             "| set-up | peer (one thread) | deepq preset | deepq | ratio |", "|---|---|---|---|---|"]
    evals = ["## Final greedy evaluation, per seed", "",
             "| set-up | episodes | threshold | peer: mean return per seed | peer solved | "
             "deepq: mean return per seed | deepq solved |", "|---|---|---|---|---|---|---|"]
    for name in names:
        rows = [r for r in records if r["bench"] == name]
        bench = TRAINING[name]
        peer, ours = [r["peer"] for r in rows], [r["deepq"] for r in rows]
        peer_s = statistics.median(r["wall_s"] for r in peer)
        ours_s = statistics.median(r["wall_s"] for r in ours)
        peer_p = statistics.median(r["process_s"] for r in peer)
        ours_p = statistics.median(r["process_s"] for r in ours)
        steps = {r["total_timesteps"] for r in peer + ours}
        budget = " or ".join(f"{s:,}" for s in sorted(steps))
        which = over_seeds(r["seed"] for r in rows)
        if len(rows) > 1:
            peer_which = f"{which} ({seconds(r['wall_s'] for r in peer)})"
            ours_which = f"{which} ({seconds(r['wall_s'] for r in ours)})"
        else:
            peer_which = ours_which = which
        lines.append(
            f"| {bench.title}, {budget} steps | {peer_s:.2f} s training loop ({peer_p:.2f} s whole "
            f"process), {peer_which} | `{bench.preset}` | {ours_s:.2f} s ({ours_p:.2f} s), "
            f"{ours_which} | {times(peer_s / ours_s)} "
            f"({times(peer_p / ours_p)} whole process) |")
        episodes = {r["eval_episodes"] for r in peer + ours}
        evals.append(
            f"| {bench.title} | {'/'.join(map(str, sorted(episodes)))} | "
            f"{ours[0]['reward_threshold']:g} | {returns(peer)} | "
            f"{sum(r['solved'] for r in peer)}/{len(peer)} | {returns(ours)} | "
            f"{sum(r['solved'] for r in ours)}/{len(ours)} |")
    return lines + [""] + evals + [
        "", "Time: the training loop (deepq's summary.json `wall_s`, which includes the preset's "
        "periodic evaluations; the peer's own timer around its loop or `learn()`), and in "
        "brackets the whole process as the runner timed it: start-up, training and the final "
        "evaluation. "
        "Solved: the final greedy evaluation's mean reaches the threshold.", ""]


def micro_table(records, names, peer_torch):
    lines = ["## One operation, one thread", "",
             f"| measure | deepq | PyTorch {peer_torch} (same work, one thread) | ratio |",
             "|---|---|---|---|"]
    for name in names:
        for bench in MICRO[name]:
            rows = [r for r in records if r["title"] == bench.title]
            ours = [r["deepq"][bench.deepq_key] for r in rows]
            theirs = [r["peer"][bench.peer_key] for r in rows]
            o, t = statistics.median(ours), statistics.median(theirs)
            if bench.unit == "µs":
                cells = (f"{o:.3g} µs (range {min(ours):.3g}–{max(ours):.3g}) | {t:.3g} µs "
                         f"(range {min(theirs):.3g}–{max(theirs):.3g}) | {times(t / o)}")
            else:
                cells = (f"{o:,.0f} ({1e6 / o:.1f} µs; range {min(ours):,.0f}–{max(ours):,.0f}) | "
                         f"{t:,.0f} (range {min(theirs):,.0f}–{max(theirs):,.0f}) | {times(o / t)}")
            lines.append(f"| {bench.title} | {cells} |")
    rounds = len({r["seed"] for r in records})
    return lines + ["", f"Medians over {rounds} round(s), each the median of its timed repeats.", ""]


def main():
    args = parse_args()
    pin = []
    if not args.no_pin and shutil.which("taskset"):
        pin = ["taskset", "-c", str(args.core)]
    training = [n for n in args.only if n in TRAINING]
    micro = [n for n in args.only if n in MICRO]

    info = {"machine": machine(), "pinned": " ".join(pin) or "not pinned",
            "load_before": loadavg(), "seeds": args.seeds,
            "deepq": subprocess.run([args.deepq, "--version"], capture_output=True, text=True,
                                    check=True).stdout.strip(),
            "deepq_binary": str(Path(args.deepq).resolve()),
            "peers": peer_versions(args.peers_python)}
    records = {"training": [], "micro": []}
    with tempfile.TemporaryDirectory(prefix="deepq-peers-") as workdir:
        for name in training:
            for seed in args.seeds:
                records["training"].append(
                    training_pair(name, TRAINING[name], seed, args, pin, Path(workdir)))
    for name in micro:
        for bench in MICRO[name]:
            for seed in args.seeds:
                records["micro"].append(micro_pair(name, bench, seed, args, pin))
    info["load_after"] = loadavg()

    m = info["machine"]
    peers = ", ".join(f"{k} {v}" for k, v in info["peers"].items())
    out = ["# deepq and its peers, side by side", "",
           f"- machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['simd']}, {m['os']}",
           f"- pinned: {info['pinned']}; torch on one thread",
           f"- load average (1, 5, 15 min): before {load(info['load_before'])}, "
           f"after {load(info['load_after'])}",
           f"- deepq: {info['deepq']} ({info['deepq_binary']})",
           f"- peers: {peers} ({args.peers_python})", ""]
    if training:
        out += training_tables(records["training"], training)
    if micro:
        out += micro_table(records["micro"], micro, info["peers"].get("torch", "?"))
    print("\n".join(out))
    if args.json:
        Path(args.json).write_text(json.dumps({**info, **records}, indent=2) + "\n")


if __name__ == "__main__":
    main()
