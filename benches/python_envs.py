"""Steps per second of vector environments driven from Python: deepq's ``make_vec`` (every
copy stepped in Rust in one call) against Gymnasium's ``SyncVectorEnv`` of Gymnasium's own
CartPole and of the ``minatar`` package's Breakout, and against EnvPool's CartPole on one
thread.

Every side runs the same loop: ``reset(seed=0)``, then steps with random actions drawn as one
NumPy array per step (the draw is inside the timed loop for everyone), in each side's default
autoreset mode. Each figure is the median of ``--repeats`` runs of at least ``--seconds``
seconds. Sides whose package is missing are left out.

Run it pinned to one core, with the peers in a virtual environment of their own::

    python3 -m venv /tmp/venv-envs
    /tmp/venv-envs/bin/pip install . gymnasium minatar envpool
    taskset -c 1 /tmp/venv-envs/bin/python benches/python_envs.py

``--markdown`` prints the table for docs/python-envs.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings

import numpy as np


def cpu_model() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def deepq_vec(env_id: str, n: int):
    import deepq.envs

    return deepq.envs.make_vec(env_id, n)


def gymnasium_sync(env_id: str, n: int):
    import gymnasium as gym

    if env_id.startswith("MinAtar/"):
        import minatar.gym

        if env_id not in gym.registry:
            minatar.gym.register_envs()
    return gym.vector.SyncVectorEnv([lambda: gym.make(env_id) for _ in range(n)])


def envpool_one_thread(env_id: str, n: int):
    import envpool

    return envpool.make_gymnasium(env_id, num_envs=n, batch_size=n, num_threads=1, seed=0)


#: (side, env id for that side, constructor, what it is) per benchmarked env.
SIDES = {
    "CartPole-v1": [
        ("deepq make_vec", "CartPole-v1", deepq_vec),
        ("Gymnasium SyncVectorEnv", "CartPole-v1", gymnasium_sync),
        ("EnvPool (1 thread)", "CartPole-v1", envpool_one_thread),
    ],
    "MinAtar Breakout": [
        ("deepq make_vec", "MinAtar/Breakout-v1", deepq_vec),
        ("SyncVectorEnv of minatar", "MinAtar/Breakout-v1", gymnasium_sync),
    ],
}


def steps_per_second(make, env_id: str, n: int, seconds: float) -> float:
    """Env steps per second of one timed run of at least ``seconds``."""
    env = make(env_id, n)
    n_actions = int(env.single_action_space.n)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(100):  # warm-up
        env.step(rng.integers(0, n_actions, size=n))
    chunk, batches = 100, 0
    start = time.perf_counter()
    while True:
        for _ in range(chunk):
            env.step(rng.integers(0, n_actions, size=n))
        batches += chunk
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    env.close()
    return batches * n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    rows = []
    for env_name, sides in SIDES.items():
        for n in args.num_envs:
            medians = {}
            for side, env_id, make in sides:
                try:
                    runs = [steps_per_second(make, env_id, n, args.seconds)
                            for _ in range(args.repeats)]
                except ImportError as missing:
                    print(f"skipping {side}: {missing}")
                    continue
                medians[side] = statistics.median(runs)
            ours = medians.get("deepq make_vec")
            for side, value in medians.items():
                ratio = f"{ours / value:.1f}x" if ours and side != "deepq make_vec" else ""
                rows.append((env_name, n, side, value, ratio))
                if not args.markdown:
                    print(f"{env_name:17} {n:3} envs  {side:26} {value:14,.0f} steps/s  {ratio}",
                          flush=True)

    print(f"\nCPU: {cpu_model()}; medians of {args.repeats} runs of >= {args.seconds} s each")
    if args.markdown:
        print("\n| env | envs | side | steps/s | deepq's speed-up |")
        print("|---|---:|---|---:|---:|")
        for env_name, n, side, value, ratio in rows:
            print(f"| {env_name} | {n} | {side} | {value:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
