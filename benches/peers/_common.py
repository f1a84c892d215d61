"""What the peer scripts in benches/peers/ share: one thread, the command line, the final greedy
evaluation and the JSON report.

Importing this module sets OMP_NUM_THREADS and MKL_NUM_THREADS to 1, so a peer script imports it
before torch (torch reads them when it starts its thread pools) and then calls
`torch.set_num_threads(1)`.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

# The final evaluation's first reset is seeded with the training seed plus this, so that its
# episodes do not start where training's did.
EVAL_SEED_OFFSET = 10_000

# deepq's `final_eval_episodes` default: the peers' final evaluation plays as many episodes.
FINAL_EVAL_EPISODES = 100


def parser(doc: str) -> argparse.ArgumentParser:
    """The arguments every peer script takes; `doc` is the script's docstring."""
    p = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--total-timesteps", type=int,
                   help="environment-step budget (default: the original set-up's)")
    p.add_argument("--eval-episodes", type=int, default=FINAL_EVAL_EPISODES,
                   help=f"greedy episodes of the final evaluation (default {FINAL_EVAL_EPISODES}, "
                        "as deepq's)")
    return p


def greedy_eval(env_id: str, act, episodes: int, seed: int) -> dict:
    """Plays `episodes` episodes of `gymnasium.make(env_id)` with `act` (observation -> action).

    The first reset is seeded with `seed + EVAL_SEED_OFFSET`, later ones continue its generator.
    Returns the statistics under the names of deepq's summary.json, and `eval_s`, the seconds
    the evaluation took.
    """
    import gymnasium as gym

    start = time.perf_counter()
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed + EVAL_SEED_OFFSET)
    returns = []
    while True:
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
        if len(returns) == episodes:
            break
        obs, _ = env.reset()
    mean = statistics.fmean(returns)
    threshold = env.spec.reward_threshold
    return {"eval_episodes": episodes, "eval_mean": mean, "eval_std": statistics.pstdev(returns),
            "eval_min": min(returns), "eval_max": max(returns), "reward_threshold": threshold,
            "solved": threshold is not None and mean >= threshold,
            "eval_s": time.perf_counter() - start}


def versions() -> dict:
    """Python's version and those of the installed packages the peers use."""
    found = {"python": platform.python_version()}
    for name in ("torch", "gymnasium", "stable-baselines3", "sb3-contrib", "numpy", "box2d"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def report(peer: str, env_id: str, seed: int, steps: int, wall_s: float, evaluation: dict,
           threads: int) -> None:
    """Prints one run's result as one JSON line (`threads`: torch's intra-op threads)."""
    print(json.dumps({"peer": peer, "env": env_id, "seed": seed, "total_timesteps": steps,
                      "wall_s": wall_s, **evaluation, "threads": threads, "versions": versions()}))


def machine():
    """CPU model, logical CPUs, SIMD level and OS, from /proc/cpuinfo where there is one."""
    first = {}  # the first processor's fields
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            first[key.strip()] = value.strip()
    except OSError:
        pass
    model = first.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in first and "model" in first:
        model += f" (family {first['cpu family']}, model {first['model']})"
    flags = set(first.get("flags", "").split())
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return {"cpu": model, "logical_cpus": os.cpu_count(), "simd": simd,
            "os": f"{platform.system()} {platform.release()} {platform.machine()}"}


def loadavg():
    """The 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def load(averages):
    """Load averages as printed in the tables: two decimals, or "unknown"."""
    return " ".join(f"{x:.2f}" for x in averages) if averages else "unknown"
