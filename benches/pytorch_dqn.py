#!/usr/bin/env python3
"""PyTorch reference for `deepq bench updates`: DQN gradient updates per second on one CPU thread.

One update is the whole DQN learning step, written the way Stable-Baselines3 writes it:

  * target-network forward on next_obs, max over actions (under no_grad),
  * TD target  r + gamma * (1 - done) * max_a' Q_target(s', a'),
  * online-network forward on obs, gather Q(s, a),
  * MSE or smooth-L1 (Huber) loss, backward, Adam step (lr 1e-3),
  * Polyak update of the target network in place under no_grad (tau 0.005), as SB3's
    `polyak_update`.

The batch (obs, actions, rewards, next_obs, dones) is random, generated once and reused, so only
the learning step is timed. After a warm-up, each repeat runs updates for `--seconds` and the
script reports the median rate over the repeats, with the min and max.

`--act` instead times greedy action selection for a single observation: forward on a 1 x obs_dim
tensor under no_grad, argmax, `.item()`; it reports microseconds per action.

Everything runs on one thread (torch.set_num_threads(1), OMP/MKL_NUM_THREADS=1). For steadier
figures also pin the process to one core. Requires only PyTorch:

    pip install torch
    taskset -c 1 python benches/pytorch_dqn.py                      # 4-64-64-2, batch 64, MSE
    taskset -c 1 python benches/pytorch_dqn.py --net 256,256 --json
    taskset -c 1 python benches/pytorch_dqn.py --act                # greedy action latency
"""

import argparse
import copy
import json
import os
import statistics
import sys
import time

# Must be set before torch is imported to take effect on its thread pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:
    sys.exit("pytorch_dqn.py needs PyTorch: pip install torch")

GAMMA = 0.99
LR = 1e-3
TAU = 0.005


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--net", default="64,64", help="hidden layer sizes, comma separated (default 64,64)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--obs-dim", type=int, default=4)
    p.add_argument("--actions", type=int, default=2)
    p.add_argument("--loss", choices=["mse", "huber"], default="mse")
    p.add_argument("--seconds", type=float, default=3.0, help="duration of each timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--act", action="store_true", help="time greedy single-observation actions instead")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = p.parse_args()
    try:
        args.hidden = [int(h) for h in args.net.split(",") if h.strip()]
    except ValueError:
        p.error(f"--net must be comma-separated integers, got {args.net!r}")
    if args.repeats < 1 or args.seconds <= 0 or args.batch < 1:
        p.error("--repeats, --seconds and --batch must be positive")
    return args


def mlp(obs_dim, hidden, actions):
    layers, width = [], obs_dim
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, actions))
    return nn.Sequential(*layers)


def make_update(args):
    online = mlp(args.obs_dim, args.hidden, args.actions)
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    optimizer = torch.optim.Adam(online.parameters(), lr=LR)
    loss_fn = F.mse_loss if args.loss == "mse" else F.smooth_l1_loss
    online_params = list(online.parameters())
    target_params = list(target.parameters())

    b = args.batch
    obs = torch.randn(b, args.obs_dim)
    next_obs = torch.randn(b, args.obs_dim)
    actions = torch.randint(args.actions, (b, 1))
    rewards = torch.rand(b)
    dones = (torch.rand(b) < 0.1).float()

    def update():
        with torch.no_grad():
            next_q = target(next_obs).max(dim=1).values
            td_target = rewards + GAMMA * (1.0 - dones) * next_q
        q = online(obs).gather(1, actions).squeeze(1)
        loss = loss_fn(q, td_target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # SB3's polyak_update
            for p, tp in zip(online_params, target_params):
                tp.mul_(1.0 - TAU)
                torch.add(tp, p, alpha=TAU, out=tp)

    return update


def make_act(args):
    net = mlp(args.obs_dim, args.hidden, args.actions)
    x = torch.randn(1, args.obs_dim)

    def act():
        with torch.no_grad():
            return net(x).argmax(dim=1).item()

    return act


def rate(fn, seconds):
    """Call fn repeatedly for about `seconds`; return calls per second."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def learner_step(online, target, optimizer, target_every):
    """`step(loss)`: backward, an optimizer step, and a hard target copy every `target_every`
    calls, as DQN's conv benchmarks (MinAtar, Nature) run their updates."""
    count = 0

    def step(loss):
        nonlocal count
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        count += 1
        if count % target_every == 0:
            target.load_state_dict(online.state_dict())

    return step


def timed_rates(fn, seconds, repeats):
    """One warm-up (allocator, optimizer state, caches), then `repeats` rates of `seconds` each."""
    rate(fn, min(1.0, seconds))
    return [rate(fn, seconds) for _ in range(repeats)]


def main():
    args = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    fn = make_act(args) if args.act else make_update(args)
    rates = timed_rates(fn, args.seconds, args.repeats)

    net = "-".join(str(d) for d in [args.obs_dim, *args.hidden, args.actions])
    framework = f"pytorch {torch.__version__}"
    if args.act:
        us = sorted(1e6 / r for r in rates)
        result = {"act_us": statistics.median(us), "min": us[0], "max": us[-1], "net": net}
    else:
        result = {"updates_per_s": statistics.median(rates), "min": min(rates), "max": max(rates),
                  "net": net, "batch": args.batch, "loss": args.loss}
    result.update(repeats=args.repeats, framework=framework)

    if args.json:
        print(json.dumps(result))
    elif args.act:
        print(f"{framework}, 1 thread, net {net}: greedy action {result['act_us']:.2f} us "
              f"(median of {args.repeats}; min {result['min']:.2f}, max {result['max']:.2f})")
    else:
        print(f"{framework}, 1 thread, net {net}, batch {args.batch}, {args.loss}: "
              f"{result['updates_per_s']:,.0f} updates/s (median of {args.repeats}; "
              f"min {result['min']:,.0f}, max {result['max']:,.0f})")


if __name__ == "__main__":
    main()
