"""Prints the reference trajectories hard-coded in tests/optim.rs.

Run with PyTorch (2.15.0 CPU was used): `python torch_optim.py`. Every optimizer starts
from the same float64 parameters and is fed the same gradient sequence; the parameters
after each step are printed as Rust array literals in their shortest round-trip form.
"""
import torch

torch.set_default_dtype(torch.float64)  # NAdam's mu_product and the step counters in f64

P0 = [0.5, -1.25, 2.0, 0.0, -0.03125]
GRADS = [
    [0.1, -0.2, 0.3, -0.4, 0.5],
    [-0.3, 0.25, 0.05, 1.5, -0.75],
    [0.2, 0.0, -0.6, 0.125, 2.0],
    [1.0, -1.0, 0.5, -0.5, 0.01],
]

CASES = {
    "adam": lambda p: torch.optim.Adam(p, lr=0.1),
    "adam_wd": lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.1),
    "adamw_wd": lambda p: torch.optim.AdamW(p, lr=0.05, betas=(0.3, 0.9), eps=1e-4, weight_decay=0.5),
    "nadam": lambda p: torch.optim.NAdam(p, lr=0.1),
    "nadam_wd": lambda p: torch.optim.NAdam(p, lr=0.05, betas=(0.85, 0.95), eps=1e-3, weight_decay=0.2, momentum_decay=0.5),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01),
    "rmsprop_centered_momentum": lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-4, weight_decay=0.1, momentum=0.8, centered=True),
    "rmsprop_momentum": lambda p: torch.optim.RMSprop(p, lr=0.02, alpha=0.5, momentum=0.5),
    "rmsprop_centered": lambda p: torch.optim.RMSprop(p, lr=0.02, centered=True),
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
    "sgd_momentum_dampening_wd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05),
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.7, nesterov=True, weight_decay=0.01),
}

for name, make in CASES.items():
    p = torch.nn.Parameter(torch.tensor(P0))
    opt = make([p])
    rows = []
    for g in GRADS:
        p.grad = torch.tensor(g)
        opt.step()
        rows.append("[" + ", ".join(repr(x) for x in p.detach().tolist()) + "]")
    print(f"const {name.upper()}: [[f64; 5]; 4] = [\n    " + ",\n    ".join(rows) + ",\n];")
