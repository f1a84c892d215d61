#!/usr/bin/env python3
"""sb3-contrib's QR-DQN with RL Zoo's hyperparameters, on one thread: the peer of deepq's
`qrdqn-cartpole`, `qrdqn-acrobot` and `qrdqn-lunarlander` presets.

The hyperparameters are RL Zoo's `hyperparams/qrdqn.yml` (DLR-RM/rl-baselines3-zoo) for
CartPole-v1, Acrobot-v1 and LunarLander (tuned there on `-v2`, run here on `-v3` as deepq's
preset does); everything they do not set is sb3-contrib's default (Adam with ε = 0.01/batch,
no gradient clipping, tau 1, ε from 1, random actions before `learning_starts`). RL Zoo's
`lin_1.5e-3` is SB3's linear schedule `progress_remaining · 1.5e-3`. The model is
`QRDQN("MlpPolicy", env_id, seed=seed, device="cpu", **hp)`.

`wall_s` is `model.learn(total_timesteps)` alone, as deepq's summary.json `wall_s` is its
training loop; then the deterministic policy plays `--eval-episodes` episodes (default 100,
as deepq's final evaluation). Prints one JSON line (benches/peers/_common.py `report`).

    taskset -c 1 python benches/peers/sb3_contrib_qrdqn.py --env CartPole-v1 --seed 0
    taskset -c 1 deepq train --preset qrdqn-cartpole --seed 0 --quiet   # deepq's counterpart
"""

import time

import _common  # first: sets OMP/MKL to one thread before torch is imported

import torch
from sb3_contrib import QRDQN


def linear(initial):
    return lambda progress_remaining: progress_remaining * initial


# RL Zoo's qrdqn.yml entries; n_timesteps is the budget.
ZOO = {
    "CartPole-v1": dict(n_timesteps=50_000, learning_rate=2.3e-3, batch_size=64,
                        buffer_size=100_000, learning_starts=1000, gamma=0.99,
                        target_update_interval=10, train_freq=256, gradient_steps=128,
                        exploration_fraction=0.16, exploration_final_eps=0.04,
                        policy_kwargs=dict(net_arch=[256, 256], n_quantiles=10)),
    "Acrobot-v1": dict(n_timesteps=100_000, learning_rate=6.3e-4, batch_size=128,
                       buffer_size=50_000, learning_starts=0, gamma=0.99,
                       target_update_interval=250, train_freq=4, gradient_steps=-1,
                       exploration_fraction=0.12, exploration_final_eps=0.1,
                       policy_kwargs=dict(net_arch=[256, 256], n_quantiles=25)),
    "LunarLander-v3": dict(n_timesteps=100_000, learning_rate=linear(1.5e-3), batch_size=128,
                           buffer_size=100_000, learning_starts=10_000, gamma=0.995,
                           target_update_interval=1, train_freq=256, gradient_steps=-1,
                           exploration_fraction=0.24, exploration_final_eps=0.18,
                           policy_kwargs=dict(net_arch=[256, 256], n_quantiles=170)),
}


def main():
    p = _common.parser(__doc__)
    p.add_argument("--env", choices=sorted(ZOO), default="CartPole-v1")
    args = p.parse_args()
    torch.set_num_threads(1)
    hp = dict(ZOO[args.env])
    budget = hp.pop("n_timesteps")
    steps = args.total_timesteps or budget

    model = QRDQN("MlpPolicy", args.env, seed=args.seed, device="cpu", **hp)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall_s = time.perf_counter() - start

    def act(obs):
        return int(model.predict(obs, deterministic=True)[0])

    evaluation = _common.greedy_eval(args.env, act, args.eval_episodes, args.seed)
    _common.report("sb3-contrib-qrdqn", args.env, args.seed, steps, wall_s, evaluation,
                   torch.get_num_threads())


if __name__ == "__main__":
    main()
