#!/usr/bin/env python3
"""Atari env throughput: ale-py's AtariVectorEnv alone against deepq's training loop over it
(acting included, no updates), on one core.

Each round runs, in fresh processes one after the other (the order rotating from round to
round): the vector env stepped with random actions from numpy, then deepq's loop with
`precision = "f32"` and with `"bf16"`. deepq acts greedily with its untrained Nature CNN on
every copy (ε = 0, no random warm-up) and never updates (learning_starts = the budget), so
the loop's cost over the env is acting, replay storage and the Python calls; a fourth side
acts with a tiny network, which leaves the loop's cost without acting. Prints each
side's agent steps/s per round, the medians, and deepq's share of the env's rate, and the
process CPU time per agent step (ale-py's threads included), which a busy machine disturbs
less than the wall-clock rate.

    python benches/atari_throughput.py [--game Pong] [--num-envs 8] [--steps 20000] [--rounds 3]

Needs deepq installed with ale-py (`pip install ".[atari]"`) in the Python running it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from python_envs import cpu_model  # benches/python_envs.py, beside this script

ENV_ONLY = """
import json, sys, time, numpy as np
import deepq.atari
game, n, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
envs = deepq.atari.make_vec(game, n)
envs.reset(seed=0)
rng = np.random.default_rng(0)
actions = envs.single_action_space.n
start, cpu = time.perf_counter(), time.process_time()
for _ in range(steps // n):
    envs.step(rng.integers(0, actions, size=n))
done = (steps // n) * n
print(json.dumps({"steps_per_s": done / (time.perf_counter() - start),
                  "cpu_ms_per_step": (time.process_time() - cpu) * 1e3 / done}))
"""

DEEPQ_LOOP = """
import json, sys, time
import deepq, deepq.atari
game, n, steps, precision = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
# "tiny": one conv layer of 2 filters and 8 hidden units, so that acting costs next to nothing
# and the rate measures the rest of the loop (stepping through Python, copying, storing).
network = dict(cnn=[[2, 8, 8]], net_arch=[8]) if precision == "tiny" else {}
model = deepq.DQN.from_preset(
    "atari-dqn", env=deepq.atari.make_vec(game, n), seed=0,
    precision="f32" if precision == "tiny" else precision,
    learning_starts=steps, random_warmup=False, exploration_initial_eps=0.0,
    exploration_final_eps=0.0, buffer_size=steps, final_eval_episodes=1, **network)
cpu = time.process_time()
model.learn(steps)
summary = model.train_summary
print(json.dumps({"steps_per_s": summary["steps_per_s"], "updates": summary["updates"],
                  "cpu_ms_per_step": (time.process_time() - cpu) * 1e3 / steps}))
"""


def run(code: str, *args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    taskset = ["taskset", "-c", "0"] if subprocess.run(
        ["which", "taskset"], capture_output=True).returncode == 0 else []
    out = subprocess.run(taskset + [sys.executable, "-c", code, *args], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", default="Pong")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sides = {
        "ale-py AtariVectorEnv alone": lambda: run(ENV_ONLY, args.game, str(args.num_envs),
                                                   str(args.steps)),
        "deepq loop, f32": lambda: run(DEEPQ_LOOP, args.game, str(args.num_envs),
                                       str(args.steps), "f32"),
        "deepq loop, bf16": lambda: run(DEEPQ_LOOP, args.game, str(args.num_envs),
                                        str(args.steps), "bf16"),
        "deepq loop, tiny network (acting ~free)": lambda: run(
            DEEPQ_LOOP, args.game, str(args.num_envs), str(args.steps), "tiny"),
    }
    names = list(sides)
    rates = {name: [] for name in names}
    cpu = {name: [] for name in names}
    print(f"CPU: {cpu_model()}; {args.game} × {args.num_envs}, {args.steps} agent steps "
          f"per run, {args.rounds} rounds; load before: {os.getloadavg()[0]:.2f}")
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            result = sides[name]()
            rates[name].append(result["steps_per_s"])
            cpu[name].append(result["cpu_ms_per_step"])
            print(f"round {r + 1}: {name}: {result['steps_per_s']:,.0f} agent steps/s, "
                  f"{result['cpu_ms_per_step']:.3f} ms of CPU time per step", flush=True)
    env_rate = statistics.median(rates[names[0]])
    print(f"\n| side | agent steps/s (median of {args.rounds}) | share of the env alone "
          "| CPU ms per agent step (median) |")
    print("|---|---:|---:|---:|")
    for name in names:
        median = statistics.median(rates[name])
        print(f"| {name} | {median:,.0f} | {median / env_rate:.0%} | "
              f"{statistics.median(cpu[name]):.3f} |")
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
