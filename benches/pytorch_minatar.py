#!/usr/bin/env python3
"""PyTorch reference for `deepq bench updates --preset minatar-breakout`: MinAtar DQN updates per second on one CPU thread.

The network is Young & Tian's MinAtar DQN (MinAtar's examples/dqn.py QNetwork), as the deepq
preset `minatar-breakout` configures it:

  * input batch x C x 10 x 10 (NCHW; Breakout has C = 4 channels of 0/1 values),
  * Conv2d(C, 16, 3, stride 1) + ReLU -> 16 x 8 x 8, flattened to 1024,
  * Linear(1024, 128) + ReLU, Linear(128, actions) (Breakout: all 6 actions).

One update is the whole DQN learning step of that preset:

  * target-network forward on next_obs, max over actions (under no_grad),
  * TD target  r + 0.99 * (1 - done) * max_a' Q_target(s', a'),
  * online-network forward on obs, gather Q(s, a),
  * smooth-L1 (Huber) loss, zero_grad, backward (no gradient clipping: max_grad_norm = inf),
  * centered RMSprop step (lr 2.5e-4, alpha 0.95, eps 0.01),
  * a hard target copy (load_state_dict) every `--target-every` updates (default 1000, the
    preset's target_update_interval; 1 copies after every update).

FLOPs per update are counted as `deepq bench updates` counts them: 2 * batch * (3 * M + M - M0),
where M is the multiply-adds of one forward pass for one observation summed over the layers and
M0 those of the first layer: forward of the online and the target network (2M), weight
gradients (M) and input gradients of every layer but the first (M - M0). Bias, activation, loss
and optimizer work are not counted. For Breakout (C 4, 6 actions) M = 1024*36 + 1024*128 +
128*6 = 168,704 and M0 = 36,864, so batch 32 gives 40.83 MFLOP per update.

The batch (obs, actions, rewards, next_obs, dones) is random, generated once and reused, so only
the learning step is timed. After a warm-up, each repeat runs updates for `--seconds` and the
script reports the median rate over the repeats, with the min and max.

Everything runs on one thread (torch.set_num_threads(1), OMP/MKL_NUM_THREADS=1). For steadier
figures also pin the process to one core. Requires only PyTorch:

    pip install torch
    taskset -c 1 python benches/pytorch_minatar.py                  # Breakout: 4 channels, 6 actions, batch 32
    taskset -c 1 python benches/pytorch_minatar.py --json
    taskset -c 1 python benches/pytorch_minatar.py --channels 10    # e.g. Seaquest's 10 channels
"""

import argparse
import copy
import json
import os
import statistics
import sys

# Must be set before torch is imported to take effect on its thread pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:
    sys.exit("pytorch_minatar.py needs PyTorch: pip install torch")

from pytorch_dqn import learner_step, timed_rates  # the MLP benchmark's timing loop

GAMMA = 0.99
LR = 2.5e-4
ALPHA = 0.95
EPS = 0.01
SIDE = 10  # MinAtar frames are 10 x 10
CONV_CHANNELS, KERNEL, STRIDE = 16, 3, 1
HIDDEN = 128


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--channels", type=int, default=4, help="input channels (default 4, Breakout)")
    p.add_argument("--actions", type=int, default=6, help="number of actions (default 6, Breakout)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--target-every", type=int, default=1000,
                   help="hard target copy every N updates (default 1000, the preset's interval)")
    p.add_argument("--seconds", type=float, default=3.0, help="duration of each timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = p.parse_args()
    if args.repeats < 1 or args.seconds <= 0 or args.batch < 1:
        p.error("--repeats, --seconds and --batch must be positive")
    if args.channels < 1 or args.actions < 1 or args.target_every < 1:
        p.error("--channels, --actions and --target-every must be at least 1")
    return args


def conv_side():
    return (SIDE - KERNEL) // STRIDE + 1


def q_network(channels, actions):
    flat = CONV_CHANNELS * conv_side() ** 2
    return nn.Sequential(
        nn.Conv2d(channels, CONV_CHANNELS, KERNEL, stride=STRIDE), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(flat, HIDDEN), nn.ReLU(),
        nn.Linear(HIDDEN, actions),
    )


def layer_macs(channels, actions):
    """Multiply-adds of one forward pass per layer, for one observation."""
    positions = conv_side() ** 2
    flat = CONV_CHANNELS * positions
    return [positions * CONV_CHANNELS * channels * KERNEL * KERNEL, flat * HIDDEN, HIDDEN * actions]


def update_flops(channels, actions, batch):
    """FLOPs of one update, counted as `deepq bench updates` counts them (see the docstring)."""
    macs = layer_macs(channels, actions)
    total = sum(macs)
    return 2.0 * batch * (3 * total + (total - macs[0]))


def make_update(args):
    online = q_network(args.channels, args.actions)
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    optimizer = torch.optim.RMSprop(online.parameters(), lr=LR, alpha=ALPHA, eps=EPS, centered=True)

    b = args.batch
    shape = (b, args.channels, SIDE, SIDE)
    obs = (torch.rand(shape) < 0.1).float()  # 0/1, about 10% ones (MinAtar frames: ~8%), as deepq bench
    next_obs = (torch.rand(shape) < 0.1).float()
    actions = torch.randint(args.actions, (b, 1))
    rewards = torch.rand(b)
    dones = (torch.rand(b) < 0.1).float()
    step = learner_step(online, target, optimizer, args.target_every)

    def update():
        with torch.no_grad():
            next_q = target(next_obs).max(dim=1).values
            td_target = rewards + GAMMA * (1.0 - dones) * next_q
        q = online(obs).gather(1, actions).squeeze(1)
        loss = F.smooth_l1_loss(q, td_target)
        step(loss)

    return update


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    fn = make_update(args)

    rates = timed_rates(fn, args.seconds, args.repeats)

    flat = CONV_CHANNELS * conv_side() ** 2
    net = (f"conv {CONV_CHANNELS}x{KERNEL}x{KERNEL}/{STRIDE} -> "
           f"{flat}-{HIDDEN}-{args.actions}")
    framework = f"pytorch {torch.__version__}"
    mflop = update_flops(args.channels, args.actions, args.batch) / 1e6
    median = statistics.median(rates)
    result = {"updates_per_s": median, "min": min(rates), "max": max(rates),
              "network": net, "input": [args.channels, SIDE, SIDE], "batch": args.batch,
              "target_every": args.target_every, "mflop_per_update": mflop,
              "gflop_per_s": median * mflop / 1e3, "threads": torch.get_num_threads(),
              "repeats": args.repeats, "framework": framework}

    if args.json:
        print(json.dumps(result))
    else:
        print(f"{framework}, {result['threads']} thread(s), {net}, input {args.channels}x{SIDE}x{SIDE}, "
              f"batch {args.batch}, centered RMSprop, Huber:")
        print(f"  {median:,.0f} updates/s (median of {args.repeats}; min {result['min']:,.0f}, "
              f"max {result['max']:,.0f}) = {1e6 / median:.1f} us/update, {mflop:.1f} MFLOP/update, "
              f"{result['gflop_per_s']:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
