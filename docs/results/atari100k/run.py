#!/usr/bin/env python3
"""One Atari 100k run per (preset, game, seed), written to
docs/results/atari100k/<preset>-<game>-seed<seed>.json: the final evaluation (100 whole games at
ε 0.001 unless --eval-episodes says otherwise), the training summary and the wall time. A
run whose file exists is skipped, so rerunning resumes a list of runs where it stopped.

    python docs/results/atari100k/run.py --preset atari100k-drq --games Pong --seeds 0 [--precision bf16]

Needs deepq with ale-py (`pip install ".[atari]"`).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import deepq
import deepq.atari

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "benches"))
from python_envs import cpu_model  # noqa: E402  (benches/python_envs.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="atari100k-drq")
    parser.add_argument("--games", default="Pong", help="comma-separated game names")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--precision", default="bf16", choices=["f32", "bf16"])
    parser.add_argument("--eval-episodes", type=int, default=None)
    args = parser.parse_args()
    for game in args.games.split(","):
        for seed in args.seeds:
            out = HERE / f"{args.preset}-{game}-seed{seed}.json"
            if out.exists():
                print(f"{out.name}: done already")
                continue
            envs = deepq.atari.make_vec(game, 1, repeat_action_probability=0.0)
            extra = {} if args.eval_episodes is None else {
                "final_eval_episodes": args.eval_episodes}
            model = deepq.DQN.from_preset(args.preset, env=envs, seed=seed,
                                          precision=args.precision, verbose=0, **extra)
            start = time.time()
            model.learn()
            wall = time.time() - start
            summary = model.train_summary
            record = {
                "preset": args.preset, "game": game, "seed": seed,
                "precision": args.precision, "cpu": cpu_model(),
                "deepq": deepq.__version__, "wall_s_including_eval": wall,
                "eval_mean": summary["eval"]["mean"], "eval_std": summary["eval"]["std"],
                "summary": summary,
            }
            tmp = out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(record, indent=2) + "\n")
            os.replace(tmp, out)
            print(f"{out.name}: eval mean {record['eval_mean']:.1f} in {wall / 60:.1f} min")


if __name__ == "__main__":
    main()
