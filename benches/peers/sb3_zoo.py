#!/usr/bin/env python3
"""Stable-Baselines3 DQN with RL Zoo's hyperparameters, on one thread: the peer of deepq's
`cartpole-zoo`, `acrobot` and `lunarlander` presets.

The hyperparameters are RL Zoo's `hyperparams/dqn.yml` (DLR-RM/rl-baselines3-zoo, commit
22e3ff2) for CartPole-v1, Acrobot-v1 and LunarLander-v3; everything they do not set is SB3's
default (Huber loss, gradient clipping at 10, tau 1, ε from 1, random actions before
`learning_starts`). The model is `DQN("MlpPolicy", env_id, seed=seed, device="cpu", **hp)`, so
SB3 makes the environment itself (Monitor in a DummyVecEnv, as RL Zoo does). RL Zoo's own
periodic evaluations are not run (deepq's presets run theirs inside the timed loop).

`wall_s` is `model.learn(total_timesteps)` alone, as deepq's summary.json `wall_s` is its
training loop. After training, the deterministic policy (`model.predict(obs,
deterministic=True)`) plays `--eval-episodes` episodes (default 100, as deepq's final
evaluation). Prints one JSON line (benches/peers/_common.py `report`).

    taskset -c 1 python benches/peers/sb3_zoo.py --env CartPole-v1 --seed 0
    taskset -c 1 deepq train --preset cartpole-zoo --seed 0 --quiet        # deepq's counterpart
"""

import time

import _common  # first: sets OMP/MKL to one thread before torch is imported

import torch
from stable_baselines3 import DQN

# RL Zoo's dqn.yml entries; n_timesteps is the budget.
ZOO = {
    "CartPole-v1": dict(n_timesteps=50_000, learning_rate=2.3e-3, batch_size=64,
                        buffer_size=100_000, learning_starts=1000, gamma=0.99,
                        target_update_interval=10, train_freq=256, gradient_steps=128,
                        exploration_fraction=0.16, exploration_final_eps=0.04,
                        policy_kwargs=dict(net_arch=[256, 256])),
    "Acrobot-v1": dict(n_timesteps=100_000, learning_rate=6.3e-4, batch_size=128,
                       buffer_size=50_000, learning_starts=0, gamma=0.99,
                       target_update_interval=250, train_freq=4, gradient_steps=-1,
                       exploration_fraction=0.12, exploration_final_eps=0.1,
                       policy_kwargs=dict(net_arch=[256, 256])),
}
ZOO["LunarLander-v3"] = ZOO["Acrobot-v1"]  # RL Zoo tunes both the same


def main():
    p = _common.parser(__doc__)
    p.add_argument("--env", choices=sorted(ZOO), default="CartPole-v1")
    args = p.parse_args()
    torch.set_num_threads(1)
    hp = dict(ZOO[args.env])
    budget = hp.pop("n_timesteps")
    steps = args.total_timesteps or budget

    model = DQN("MlpPolicy", args.env, seed=args.seed, device="cpu", **hp)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall_s = time.perf_counter() - start

    def act(obs):
        return int(model.predict(obs, deterministic=True)[0])

    evaluation = _common.greedy_eval(args.env, act, args.eval_episodes, args.seed)
    _common.report("sb3-zoo", args.env, args.seed, steps, wall_s, evaluation,
                   torch.get_num_threads())


if __name__ == "__main__":
    main()
