#!/usr/bin/env python3
"""Summarizes training comparisons across seeds: for each set-up and side (deepq, peer), the
final greedy evaluations' mean and interquartile mean with 95% percentile-bootstrap intervals
over seeds, the solve rate, and the median training-loop time.

Reads the JSON files `run.py --json` writes and the one-line results it prints on stderr
(`qrdqn-cartpole seed 3: deepq 13.73 s, eval 43.1; peer 51.10 s, eval 500.0`), which the
result files in docs/results keep:

    python3 benches/peers/seeds.py --threshold 475 \\
        docs/results/dqn-family/qrdqn-cartpole-vs-sb3-contrib.md seed-5.json seed-6.json ...

Needs numpy. The bootstrap is seeded, so the same results give the same intervals.
"""

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

LINE = re.compile(r"^(?P<bench>[\w-]+) seed (?P<seed>\d+): deepq (?P<deepq_s>[\d.]+) s, eval "
                  r"(?P<deepq_eval>-?[\d.]+); peer (?P<peer_s>[\d.]+) s, eval (?P<peer_eval>-?[\d.]+)$")


def read(paths: list) -> dict:
    """{bench: {seed: {"deepq": (wall_s, eval), "peer": (wall_s, eval)}}}; a seed read twice
    is an error."""
    results: dict = {}

    def add(bench, seed, deepq, peer, where):
        runs = results.setdefault(bench, {})
        if seed in runs:
            raise SystemExit(f"error: {bench} seed {seed} appears twice (again in {where})")
        runs[seed] = {"deepq": deepq, "peer": peer}

    for path in map(Path, paths):
        text = path.read_text()
        if path.suffix == ".json":
            for t in json.loads(text)["training"]:
                add(t["bench"], t["seed"], (t["deepq"]["wall_s"], t["deepq"]["eval_mean"]),
                    (t["peer"]["wall_s"], t["peer"]["eval_mean"]), path)
            continue
        for line in text.splitlines():
            m = LINE.match(line.strip())
            if m:
                add(m["bench"], int(m["seed"]), (float(m["deepq_s"]), float(m["deepq_eval"])),
                    (float(m["peer_s"]), float(m["peer_eval"])), path)
    return results


def iqm(values: np.ndarray) -> float:
    """The mean of the middle half (a quarter of the sorted values cut from each end)."""
    ordered = np.sort(values)
    cut = len(ordered) // 4
    return float(ordered[cut:len(ordered) - cut].mean())


def interval(values: np.ndarray, statistic, rng, reps: int) -> tuple:
    draws = [statistic(rng.choice(values, len(values))) for _ in range(reps)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("files", nargs="+", help="run.py JSON files and files with its result lines")
    p.add_argument("--threshold", type=float, required=True,
                   help="the return a seed's final evaluation must reach to count as solved")
    p.add_argument("--reps", type=int, default=20_000, help="bootstrap resamples")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    for bench, runs in read(args.files).items():
        seeds = sorted(runs)
        print(f"## {bench}: {len(seeds)} seeds ({', '.join(map(str, seeds))})\n")
        print("| side | mean [95% CI] | IQM [95% CI] | solved | training loop, median |")
        print("|---|---|---|---|---|")
        for side in ("deepq", "peer"):
            evals = np.array([runs[s][side][1] for s in seeds])
            walls = [runs[s][side][0] for s in seeds]
            mean_ci = interval(evals, np.mean, rng, args.reps)
            iqm_ci = interval(evals, iqm, rng, args.reps)
            solved = int((evals >= args.threshold).sum())
            print(f"| {side} | {evals.mean():.1f} [{mean_ci[0]:.1f}, {mean_ci[1]:.1f}] | "
                  f"{iqm(evals):.1f} [{iqm_ci[0]:.1f}, {iqm_ci[1]:.1f}] | "
                  f"{solved}/{len(seeds)} | {np.median(walls):.2f} s |")
        print()


if __name__ == "__main__":
    sys.exit(main())
