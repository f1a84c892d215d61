#!/usr/bin/env python3
"""Loads a deepq run's `model.safetensors` into PyTorch and compares its Q-values with deepq's.

deepq saves networks with PyTorch `nn.Sequential` names: `Conv2d` weights `[out, in, k, k]`,
`Linear` weights `[out, in]`, a LayerNorm's weight and bias right after the layer it normalises.
This script rebuilds the network from those names alone (plain MLP/conv heads; the dueling,
noisy and C51 heads are left out) and checks PyTorch's Q-values against deepq's Python package
on random observations of the run's environment. A LayerNorm after a conv layer normalises each
pixel's channels, which is PyTorch's `nn.LayerNorm(filters)` applied channels-last. Images
reach the conv layers as `obs.permute(0, 3, 1, 2)` (deepq's observations are channels-last).

Needs PyTorch and the deepq package in one environment:

    pip install . torch
    deepq train --preset pqn-minatar-breakout --total-timesteps 300000 --out runs/pqn-breakout
    python benches/pytorch_load.py runs/pqn-breakout
"""

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:
    sys.exit("pytorch_load.py needs PyTorch: pip install torch")

import deepq


def read_safetensors(path: Path):
    """Tensors (float32) and metadata of a safetensors file."""
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    data = raw[8 + header_len:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        values = np.frombuffer(data[start:end], dtype=np.float32).reshape(info["shape"])
        tensors[name] = torch.from_numpy(values.copy())
    return tensors, meta


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of each pixel of an NCHW tensor."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def build(tensors: dict, meta: dict) -> nn.Module:
    """The `nn.Sequential` the tensor names describe."""
    eps = float(meta.get("layer_norm_eps", 1e-5))
    strides = [int(s) for s in meta.get("conv_strides", "").split(",") if s]
    paddings = [int(p) for p in meta.get("conv_paddings", "").split(",") if p]
    indices = sorted({int(name.split(".")[0]) for name in tensors})
    layers, conv_count, flattened = [], 0, False
    for position, index in enumerate(indices):
        weight, bias = tensors[f"{index}.weight"], tensors[f"{index}.bias"]
        if weight.ndim == 4:
            out_ch, in_ch, kernel, _ = weight.shape
            layer = nn.Conv2d(in_ch, out_ch, kernel, stride=strides[conv_count],
                              padding=paddings[conv_count])
            conv_count += 1
        elif weight.ndim == 2:
            if conv_count and not flattened:
                layers.append(nn.Flatten())
                flattened = True
            layer = nn.Linear(weight.shape[1], weight.shape[0])
        elif isinstance(layers[-1], nn.Conv2d):
            layer = ChannelLayerNorm(weight.shape[0], eps)
        else:
            layer = nn.LayerNorm(weight.shape[0], eps=eps)
        target = layer.norm if isinstance(layer, ChannelLayerNorm) else layer
        with torch.no_grad():
            target.weight.copy_(weight)
            target.bias.copy_(bias)
        layers.append(layer)
        # ReLU after every layer but the last, except where a LayerNorm comes first.
        last = position == len(indices) - 1
        if not last and tensors[f"{indices[position + 1]}.weight"].ndim != 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("run", type=Path, help="a run directory (config.toml, model.safetensors)")
    p.add_argument("--n", type=int, default=64, help="random observations to compare")
    args = p.parse_args()
    tensors, meta = read_safetensors(args.run / "model.safetensors")
    net = build(tensors, meta)
    model = deepq.DQN.load(args.run)
    space = model.observation_space
    rng = np.random.default_rng(0)
    if space.dtype == np.bool_:
        obs = rng.random((args.n, *space.shape)) < 0.2
    else:
        obs = rng.uniform(-1, 1, (args.n, *space.shape)).astype(np.float32)
    ours = model.q_values(obs)
    x = torch.from_numpy(np.asarray(obs, dtype=np.float32))
    if x.ndim == 4:
        x = x.permute(0, 3, 1, 2)
    with torch.no_grad():
        theirs = net(x).numpy()
    diff = float(np.abs(theirs - ours).max())
    print(json.dumps({"run": str(args.run), "network": str(net).replace("\n", ""),
                      "observations": args.n, "max_abs_diff": diff,
                      "max_abs_q": float(np.abs(ours).max()), "torch": torch.__version__}))
    if diff > 1e-4:
        sys.exit(f"PyTorch's Q-values differ from deepq's by {diff}")


if __name__ == "__main__":
    main()
