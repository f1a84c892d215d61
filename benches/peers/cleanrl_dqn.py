#!/usr/bin/env python3
"""CleanRL's `dqn.py` with its default arguments on CartPole-v1, on one thread: the peer of deepq's
`cartpole-cleanrl` preset.

Written after CleanRL's `cleanrl/dqn.py` (vwxyzjn/cleanrl, commit fe8d8a0), step for step:

  * one `gymnasium.vector.SyncVectorEnv` copy of CartPole-v1 with same-step autoreset (what
    CleanRL's gym 0.29 did; gymnasium 1.x calls the final observation `final_obs`), reset once
    with the seed, its action space seeded with it; `random`, `numpy` and `torch` seeded too;
  * a 4-120-84-2 MLP (ReLU), Adam at 2.5e-4, a target network started as a copy;
  * an SB3-style replay buffer of 10,000 transitions (`handle_timeout_termination=False`),
    sampled with replacement through numpy's global generator; on truncation the final
    observation is stored as the next observation, and the stored done flag is `terminated`;
  * ε linear from 1 to 0.05 over half of the 500,000 steps; a random action is
    `single_action_space.sample()`, a greedy one the network's argmax (outside `no_grad`, as
    in CleanRL);
  * after step 10,000, every 10th step one update of a batch of 128: MSE between the Q-values
    taken and r + 0.99 (1 - done) max_a' Q_target(s', a'), `zero_grad`, `backward`, Adam step;
    every 500th step a target update with tau = 1 (a copy).

Left out: CleanRL's logging (RecordEpisodeStatistics, TensorBoard scalars, the printed returns
and SPS), so the time measured is if anything CleanRL's minus its logging. `wall_s` is the
training loop alone, from the first reset to the last step, as deepq's summary.json `wall_s`.

After training, the greedy network plays `--eval-episodes` episodes (default 100, as deepq's final
evaluation). Prints one JSON line (benches/peers/_common.py `report`).

    taskset -c 1 python benches/peers/cleanrl_dqn.py --seed 1
    taskset -c 1 deepq train --preset cartpole-cleanrl --seed 1 --quiet     # deepq's counterpart
"""

import random
import time

import _common  # first: sets OMP/MKL to one thread before torch is imported

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ENV_ID = "CartPole-v1"
TOTAL_TIMESTEPS = 500_000
LEARNING_RATE = 2.5e-4
BUFFER_SIZE = 10_000
GAMMA = 0.99
TAU = 1.0
TARGET_NETWORK_FREQUENCY = 500
BATCH_SIZE = 128
START_E, END_E, EXPLORATION_FRACTION = 1.0, 0.05, 0.5
LEARNING_STARTS = 10_000
TRAIN_FREQUENCY = 10


class QNetwork(nn.Module):
    """CleanRL's QNetwork: obs -> 120 -> 84 -> actions, ReLU between."""

    def __init__(self, obs_dim: int, actions: int):
        super().__init__()
        self.network = nn.Sequential(nn.Linear(obs_dim, 120), nn.ReLU(), nn.Linear(120, 84),
                                     nn.ReLU(), nn.Linear(84, actions))

    def forward(self, x):
        return self.network(x)


class ReplayBuffer:
    """Stable-Baselines3's ReplayBuffer for one env as CleanRL uses it: a ring of numpy arrays,
    sampled uniformly with replacement from the filled part."""

    def __init__(self, size: int, obs_dim: int):
        self.obs = np.zeros((size, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((size, obs_dim), dtype=np.float32)
        self.actions = np.zeros((size, 1), dtype=np.int64)
        self.rewards = np.zeros(size, dtype=np.float32)
        self.dones = np.zeros(size, dtype=np.float32)
        self.size, self.pos, self.full = size, 0, False

    def add(self, obs, next_obs, action, reward, done):
        self.obs[self.pos] = obs
        self.next_obs[self.pos] = next_obs
        self.actions[self.pos] = action
        self.rewards[self.pos] = reward
        self.dones[self.pos] = done
        self.pos += 1
        if self.pos == self.size:
            self.full, self.pos = True, 0

    def sample(self, batch: int):
        idx = np.random.randint(0, self.size if self.full else self.pos, size=batch)
        return (torch.tensor(self.obs[idx]), torch.tensor(self.actions[idx]),
                torch.tensor(self.next_obs[idx]), torch.tensor(self.dones[idx]),
                torch.tensor(self.rewards[idx]))


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    return max((end_e - start_e) / duration * t + start_e, end_e)


def make_env(seed: int):
    def thunk():
        env = gym.make(ENV_ID)
        env.action_space.seed(seed)
        return env

    return thunk


def train(seed: int, total_timesteps: int):
    """CleanRL's training loop; returns the online network and the loop's wall time."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    envs = gym.vector.SyncVectorEnv([make_env(seed)],
                                    autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    n_actions = int(envs.single_action_space.n)
    q_network = QNetwork(obs_dim, n_actions)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=LEARNING_RATE)
    target_network = QNetwork(obs_dim, n_actions)
    target_network.load_state_dict(q_network.state_dict())
    rb = ReplayBuffer(BUFFER_SIZE, obs_dim)

    start = time.perf_counter()
    obs, _ = envs.reset(seed=seed)
    for global_step in range(total_timesteps):
        epsilon = linear_schedule(START_E, END_E, EXPLORATION_FRACTION * total_timesteps, global_step)
        if random.random() < epsilon:
            actions = np.array([envs.single_action_space.sample()])
        else:
            q_values = q_network(torch.Tensor(obs))
            actions = torch.argmax(q_values, dim=1).numpy()

        next_obs, rewards, terminations, truncations, infos = envs.step(actions)

        real_next_obs = next_obs.copy()
        if truncations[0]:
            real_next_obs[0] = infos["final_obs"][0]
        rb.add(obs[0], real_next_obs[0], actions[0], rewards[0], terminations[0])
        obs = next_obs

        if global_step > LEARNING_STARTS:
            if global_step % TRAIN_FREQUENCY == 0:
                b_obs, b_actions, b_next_obs, b_dones, b_rewards = rb.sample(BATCH_SIZE)
                with torch.no_grad():
                    target_max, _ = target_network(b_next_obs).max(dim=1)
                    td_target = b_rewards + GAMMA * target_max * (1 - b_dones)
                old_val = q_network(b_obs).gather(1, b_actions).squeeze()
                loss = F.mse_loss(td_target, old_val)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

            if global_step % TARGET_NETWORK_FREQUENCY == 0:
                for target_param, param in zip(target_network.parameters(), q_network.parameters()):
                    target_param.data.copy_(TAU * param.data + (1.0 - TAU) * target_param.data)
    wall_s = time.perf_counter() - start
    envs.close()
    return q_network, wall_s


def main():
    args = _common.parser(__doc__).parse_args()
    torch.set_num_threads(1)
    steps = args.total_timesteps or TOTAL_TIMESTEPS
    q_network, wall_s = train(args.seed, steps)

    def act(obs):
        with torch.no_grad():
            return int(q_network(torch.as_tensor(obs).unsqueeze(0)).argmax())

    evaluation = _common.greedy_eval(ENV_ID, act, args.eval_episodes, args.seed)
    _common.report("cleanrl", ENV_ID, args.seed, steps, wall_s, evaluation,
                   torch.get_num_threads())


if __name__ == "__main__":
    main()
