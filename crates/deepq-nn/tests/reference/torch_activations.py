"""Writes tests/data/torch_activations.safetensors, the PyTorch reference of tests/activations.rs.

For each activation deepq's networks offer (`torch.nn.ReLU`, `Tanh`, `ELU`, `LeakyReLU`,
`SiLU`, `GELU`, built without arguments as SB3's `activation_fn` builds them), a float32
`nn.Sequential(Linear(5, 16), Act, Linear(16, 12), Act, Linear(12, 3))` and a batch of 7
inputs spread over each activation's curved region; recorded under `<name>/`:

- `params/<state_dict name>`: the network;
- `input` [7, 5], `output` [7, 3] (the forward pass);
- `grad_output` [7, 3]: the gradient fed back (d loss / d output for loss = Σ output ⊙ grad_output);
- `grads/<state_dict name>`: d loss / d parameters; `grad_input` [7, 5]: d loss / d input.

Run with PyTorch (2.15.0 CPU was used) and the `safetensors` package from this folder:
`python torch_activations.py`.
"""
import torch
from safetensors.torch import save_file

torch.set_num_threads(1)
ACTIVATIONS = {
    "relu": torch.nn.ReLU,
    "tanh": torch.nn.Tanh,
    "elu": torch.nn.ELU,
    "leaky_relu": torch.nn.LeakyReLU,
    "silu": torch.nn.SiLU,
    "gelu": torch.nn.GELU,
}

tensors = {}
for k, (name, act) in enumerate(ACTIVATIONS.items()):
    torch.manual_seed(k)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), act(), torch.nn.Linear(16, 12), act(),
                              torch.nn.Linear(12, 3))
    x = (2.0 * torch.randn(7, 5)).requires_grad_(True)
    grad_output = torch.randn(7, 3)
    y = net(x)
    (y * grad_output).sum().backward()
    for p_name, p in net.state_dict().items():
        tensors[f"{name}/params/{p_name}"] = p.detach().clone()
    for p_name, p in net.named_parameters():
        tensors[f"{name}/grads/{p_name}"] = p.grad.detach().clone()
    tensors[f"{name}/input"] = x.detach().clone()
    tensors[f"{name}/output"] = y.detach().clone()
    tensors[f"{name}/grad_output"] = grad_output
    tensors[f"{name}/grad_input"] = x.grad.detach().clone()

save_file(tensors, "../data/torch_activations.safetensors",
          metadata={"torch": torch.__version__})
