#!/usr/bin/env python3
"""PyTorch reference for `deepq bench updates --net nature`: Nature DQN updates per second on one CPU thread.

The network is Mnih et al. (2015)'s, as CleanRL's dqn_atari.py builds it:

  * input batch x 4 x 84 x 84 uint8 frames, scaled by 1/255,
  * Conv2d(4, 32, 8, stride 4) + ReLU, Conv2d(32, 64, 4, stride 2) + ReLU,
    Conv2d(64, 64, 3, stride 1) + ReLU, flattened to 3136,
  * Linear(3136, 512) + ReLU, Linear(512, actions) (6 by default, Pong's).

One update is CleanRL's learning step: the target network's forward on next_obs and the max
over actions (no_grad), the TD target r + 0.99 (1 - done) max_a' Q_target(s', a'), the online
forward on obs and the gathered Q(s, a), MSE, zero_grad, backward, Adam (lr 1e-4), and a hard
target copy every `--target-every` updates (250: CleanRL copies every 1,000 env steps and
updates every 4).

`--autocast bf16` runs the forward passes and the loss under
`torch.autocast("cpu", torch.bfloat16)`: bf16 matrix products with f32 weights and optimizer,
PyTorch's mixed precision on CPU.

FLOPs per update are counted as `deepq bench updates` counts them (forward passes of both
networks, weight gradients, and input gradients of every layer but the first): 2,182.9 MFLOP at
batch 32. The batch is random, made once and reused. After a warm-up, each repeat runs updates
for `--seconds`; the median rate over the repeats is reported with the min and max. One thread:

    pip install torch
    taskset -c 1 python benches/pytorch_nature.py
    taskset -c 1 python benches/pytorch_nature.py --autocast bf16 --json
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
    sys.exit("pytorch_nature.py needs PyTorch: pip install torch")

from pytorch_dqn import learner_step, timed_rates  # the MLP benchmark's timing loop

GAMMA = 0.99
LR = 1e-4
SIDE, FRAMES = 84, 4
# (filters, kernel, stride) of the three conv layers, then the hidden width.
CONV = [(32, 8, 4), (64, 4, 2), (64, 3, 1)]
HIDDEN = 512


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--actions", type=int, default=6, help="number of actions (default 6, Pong)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--autocast", choices=["off", "bf16"], default="off",
                   help="bf16 autocast for the forward passes and the loss (default off: f32)")
    p.add_argument("--target-every", type=int, default=250,
                   help="hard target copy every N updates (default 250)")
    p.add_argument("--seconds", type=float, default=3.0, help="duration of each timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = p.parse_args()
    if args.repeats < 1 or args.seconds <= 0 or args.batch < 1:
        p.error("--repeats, --seconds and --batch must be positive")
    if args.actions < 1 or args.target_every < 1:
        p.error("--actions and --target-every must be at least 1")
    return args


def layer_shapes():
    """(in_channels, filters, kernel, stride, output side) of each conv layer."""
    shapes, side, channels = [], SIDE, FRAMES
    for filters, kernel, stride in CONV:
        side = (side - kernel) // stride + 1
        shapes.append((channels, filters, kernel, stride, side))
        channels = filters
    return shapes


def flat_features():
    """Length of the last conv layer's flattened output (3136)."""
    _, filters, _, _, side = layer_shapes()[-1]
    return filters * side * side


def q_network(actions):
    layers = []
    for channels, filters, kernel, stride, _ in layer_shapes():
        layers += [nn.Conv2d(channels, filters, kernel, stride=stride), nn.ReLU()]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat_features(), HIDDEN), nn.ReLU(),
                         nn.Linear(HIDDEN, actions))


def update_flops(actions, batch):
    """FLOPs of one update, counted as `deepq bench updates` counts them (see the docstring)."""
    macs = [side * side * filters * channels * kernel * kernel
            for channels, filters, kernel, _, side in layer_shapes()]
    macs += [flat_features() * HIDDEN, HIDDEN * actions]
    total = sum(macs)
    return 2.0 * batch * (3 * total + (total - macs[0]))


def make_update(args):
    online = q_network(args.actions)
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    optimizer = torch.optim.Adam(online.parameters(), lr=LR)

    b = args.batch
    shape = (b, FRAMES, SIDE, SIDE)
    obs = torch.randint(256, shape, dtype=torch.uint8)
    next_obs = torch.randint(256, shape, dtype=torch.uint8)
    actions = torch.randint(args.actions, (b, 1))
    rewards = torch.rand(b)
    dones = (torch.rand(b) < 0.1).float()
    autocast = args.autocast == "bf16"
    step = learner_step(online, target, optimizer, args.target_every)

    def update():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            with torch.no_grad():
                next_q = target(next_obs.float() / 255.0).max(dim=1).values.float()
                td_target = rewards + GAMMA * (1.0 - dones) * next_q
            q = online(obs.float() / 255.0).gather(1, actions).squeeze(1).float()
            loss = F.mse_loss(q, td_target)
        step(loss)

    return update


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    fn = make_update(args)

    rates = timed_rates(fn, args.seconds, args.repeats)

    convs = " -> ".join(f"conv {f}x{k}x{k}/{s}" for f, k, s in CONV)
    net = f"{convs} -> {flat_features()}-{HIDDEN}-{args.actions}"
    framework = f"pytorch {torch.__version__}"
    mflop = update_flops(args.actions, args.batch) / 1e6
    median = statistics.median(rates)
    result = {"updates_per_s": median, "min": min(rates), "max": max(rates), "network": net,
              "batch": args.batch, "autocast": args.autocast, "target_every": args.target_every,
              "mflop_per_update": mflop, "gflop_per_s": median * mflop / 1e3,
              "threads": torch.get_num_threads(), "repeats": args.repeats, "framework": framework}

    if args.json:
        print(json.dumps(result))
    else:
        precision = "bf16 autocast" if args.autocast == "bf16" else "f32"
        print(f"{framework}, {result['threads']} thread(s), {net}, batch {args.batch}, {precision}, "
              f"Adam, MSE:")
        print(f"  {median:,.1f} updates/s (median of {args.repeats}; min {result['min']:,.1f}, "
              f"max {result['max']:,.1f}) = {1e3 / median:.2f} ms/update, {mflop:.1f} MFLOP/update, "
              f"{result['gflop_per_s']:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
