"""What Stable-Baselines3's callback objects cost deepq's ``learn()``: the same run (built-in
CartPole-v1, SB3's DQN defaults, 50,000 steps) with no callback, with a ``BaseCallback``
that does nothing (the per-step price of SB3's protocol: one Python call per step), and
with SB3's ``EvalCallback`` (5 episodes every 10,000 steps) + ``CheckpointCallback`` (every
10,000 steps, replay buffer included). Each case runs in a fresh process; the cases are
interleaved, ``--rounds`` times, and the table gives the median seconds of ``learn()`` and
its ratio to the run without a callback.

    taskset -c 1 python benches/callback_overhead.py --rounds 5

needs deepq and stable-baselines3 installed; prints the machine and a Markdown table.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from _common import load, loadavg, machine  # noqa: E402

CASES = ("none", "empty BaseCallback", "EvalCallback + CheckpointCallback")


def measure(case: str, steps: int) -> float:
    """Seconds of one ``learn(steps)`` with the case's callback."""
    import gymnasium as gym
    from stable_baselines3.common.callbacks import (BaseCallback, CallbackList,
                                                    CheckpointCallback, EvalCallback)

    import deepq

    class Empty(BaseCallback):
        def _on_step(self):
            return True

    with tempfile.TemporaryDirectory() as out:
        callback = {
            "none": None,
            "empty BaseCallback": Empty(),
            "EvalCallback + CheckpointCallback": CallbackList([
                EvalCallback(gym.make("CartPole-v1"), eval_freq=10_000, n_eval_episodes=5,
                             warn=False, verbose=0),
                CheckpointCallback(save_freq=10_000, save_path=out, save_replay_buffer=True,
                                   verbose=0)]),
        }[case]
        model = deepq.DQN("MlpPolicy", "CartPole-v1", seed=0, final_eval_episodes=1)
        start = time.perf_counter()
        model.learn(steps, callback=callback)
        return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--steps", type=int, default=50_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--one", help="run one case and print its seconds (what the table calls)")
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps)))
        return
    before = loadavg()
    times = {case: [] for case in CASES}
    for _ in range(args.rounds):
        for case in CASES:
            out = subprocess.run([sys.executable, __file__, "--one", case, "--steps",
                                  str(args.steps)], check=True, capture_output=True, text=True)
            times[case].append(json.loads(out.stdout))
    cpu = machine()
    print(f"{cpu['cpu']}, {cpu['logical_cpus']} logical CPUs, {cpu['simd']}; load average "
          f"{load(before)} before, {load(loadavg())} after; median of {args.rounds} "
          f"interleaved runs of learn({args.steps:,})\n")
    base = statistics.median(times["none"])
    print("| callback | learn() seconds | ratio to none |")
    print("|---|---:|---:|")
    for case in CASES:
        median = statistics.median(times[case])
        print(f"| {case} | {median:.3f} | {median / base:.2f}× |")


if __name__ == "__main__":
    main()
