"""Training speed of deepq from Python against Stable-Baselines3, with the same hyperparameters.

Each measurement is one ``learn(total_timesteps)`` call in a fresh process, timed with
``time.perf_counter`` (imports, construction and evaluation excluded), followed by a
20-episode greedy ``evaluate_policy`` for the return. SB3 runs on one thread
(``torch.set_num_threads(1)``, ``OMP_NUM_THREADS=1``); deepq is single-threaded.

Rows:

- ``builtin``: deepq on its built-in ``"CartPole-v1"`` (stepped in Rust); SB3 on Gymnasium's
  ``CartPole-v1`` (the only way SB3 runs it).
- ``gymnasium``: both on a ``gymnasium.make("CartPole-v1")`` instance (deepq steps it from
  Rust through Python).

Hyperparameter sets (both expressible in SB3, so no double DQN, MSE loss or early stopping):

- ``tuned``: deepq's ``cartpole-default-v1`` preset's SB3 keys: one gradient step per env step.
- ``sb3-defaults``: SB3's defaults (one gradient step per 4 env steps, lr 1e-4).

Usage (the two interpreters may be different virtual environments)::

    taskset -c 1 python benches/peers/speed_vs_sb3.py --deepq-python /tmp/pyenv/bin/python \\
        --sb3-python /tmp/peers/bin/python --steps 50000 --seeds 0 1 2

prints the machine (CPU model, load average before and after) and a Markdown table. ``--one IMPL ENV HP SEED STEPS`` runs one measurement and prints it
as JSON (what the table mode calls).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from _common import load, loadavg, machine

HYPERPARAMETERS = {
    "tuned": dict(learning_rate=2e-3, buffer_size=50_000, learning_starts=1000, batch_size=64,
                  tau=0.01, gamma=0.99, train_freq=1, gradient_steps=1,
                  target_update_interval=1, exploration_fraction=0.2,
                  exploration_final_eps=0.02, policy_kwargs=dict(net_arch=[64, 64])),
    "sb3-defaults": dict(policy_kwargs=dict(net_arch=[64, 64])),
}


def measure(impl: str, env_kind: str, hp: str, seed: int, steps: int) -> dict:
    """One timed learn() and a greedy evaluation."""
    import gymnasium as gym

    params = dict(HYPERPARAMETERS[hp])
    if impl == "sb3":
        import torch
        torch.set_num_threads(1)
        from stable_baselines3 import DQN
        from stable_baselines3.common.evaluation import evaluate_policy
        env = gym.make("CartPole-v1")
        model = DQN("MlpPolicy", env, seed=seed, device="cpu", **params)
        eval_env = gym.make("CartPole-v1")
    else:
        import deepq
        from deepq import DQN, evaluate_policy
        env = "CartPole-v1" if env_kind == "builtin" else gym.make("CartPole-v1")
        # deepq's learn() ends with a greedy evaluation (SB3's does not): keep it to one episode.
        model = DQN("MlpPolicy", env, seed=seed, final_eval_episodes=1, **params)
        eval_env = env
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - start
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)
    return dict(impl=impl, env=env_kind, hp=hp, seed=seed, steps=steps, wall_s=wall,
                mean_return=float(mean))


def run_one(python: str, impl: str, env_kind: str, hp: str, seed: int, steps: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([python, __file__, "--one", impl, env_kind, hp, str(seed), str(steps)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(args) -> None:
    load_before = loadavg()
    rows = []
    for hp in HYPERPARAMETERS:
        sb3 = [run_one(args.sb3_python, "sb3", "gymnasium", hp, s, args.steps) for s in args.seeds]
        for env_kind in ("builtin", "gymnasium"):
            ours = [run_one(args.deepq_python, "deepq", env_kind, hp, s, args.steps)
                    for s in args.seeds]
            rows.append((env_kind, hp, ours, sb3))
            print(f"measured {env_kind} {hp}", file=sys.stderr, flush=True)
    cpu = machine()
    print(f"- machine: {cpu['cpu']}, {cpu['logical_cpus']} logical CPUs, {cpu['simd']}, {cpu['os']}")
    print(f"- load average (1, 5, 15 min): before {load(load_before)}, after {load(loadavg())}\n")
    print(f"| env | hyperparameters | deepq from Python: learn({args.steps:,}) | "
          f"SB3 (1 thread) | speed-up | mean greedy return deepq / SB3 |")
    print("|---|---|---|---|---|---|")
    for env_kind, hp, ours, sb3 in rows:
        ours_s = statistics.median(r["wall_s"] for r in ours)
        sb3_s = statistics.median(r["wall_s"] for r in sb3)
        label = ("built-in `\"CartPole-v1\"` (Rust)" if env_kind == "builtin"
                 else "`gymnasium.make(\"CartPole-v1\")`")
        returns = (f"{statistics.mean(r['mean_return'] for r in ours):.0f} / "
                   f"{statistics.mean(r['mean_return'] for r in sb3):.0f}")
        print(f"| {label} | {hp} | {ours_s:.2f} s ({args.steps / ours_s:,.0f} steps/s) | "
              f"{sb3_s:.1f} s ({args.steps / sb3_s:,.0f} steps/s) | {sb3_s / ours_s:.0f}× | "
              f"{returns} |")
    print(f"\nMedian wall time of learn() over seeds {', '.join(map(str, args.seeds))}; "
          "returns are the mean of 20 greedy episodes after training, averaged over seeds.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--one", nargs=5, metavar=("IMPL", "ENV", "HP", "SEED", "STEPS"))
    parser.add_argument("--deepq-python", default=sys.executable)
    parser.add_argument("--sb3-python", default=sys.executable)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    if args.one:
        impl, env_kind, hp, seed, steps = args.one
        print(json.dumps(measure(impl, env_kind, hp, int(seed), int(steps))))
    else:
        table(args)


if __name__ == "__main__":
    main()
