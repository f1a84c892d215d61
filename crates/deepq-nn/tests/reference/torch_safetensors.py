"""Writes tests/data/torch_3_4_2_f32.safetensors and prints the constants of
tests/safetensors.rs's PyTorch round trip.

Run with PyTorch (2.15.0 CPU was used) and the `safetensors` package from this folder:
`python torch_safetensors.py`.
"""
import torch
from safetensors.torch import save_file

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
save_file(model.state_dict(), "../data/torch_3_4_2_f32.safetensors")
x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
with torch.no_grad():
    y = model(x)
print("const TORCH_INPUT: [f32; 6] =", [f"{v:.9e}" for v in x.flatten().tolist()])
print("const TORCH_OUTPUT: [f32; 4] =", [f"{v:.9e}" for v in y.flatten().tolist()])
