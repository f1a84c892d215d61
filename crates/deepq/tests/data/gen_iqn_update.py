"""Records one IQN update computed by a PyTorch re-implementation of Dopamine's implicit
quantile agent, for `crates/deepq/tests/iqn.rs`.

Usage (torch 2.x, safetensors; CPU, float32, one thread):
    python3 gen_iqn_update.py iqn_update.safetensors

The network is deepq's IQN network for a 4-dimensional observation, net_arch = [32, 32] and
2 actions: the torso Linear(4, 32) with a ReLU gives phi(s); the embedding
ReLU(Linear(64, 32)(cos(pi * i * tau), i = 1..64)) gives psi(tau); the head Linear(32, 32),
ReLU, Linear(32, 2) reads phi(s) * psi(tau). The update is Dopamine's: the target network's
greedy next action by the mean over K fractions, target quantiles
r + (1 - done) * gamma * Z_tau'(s', a*) at N' fractions, the online quantiles of the taken
actions at N fractions, and the quantile Huber loss (kappa = 1): |tau_i - 1{delta_ij < 0}| *
huber(delta_ij), delta_ij = target_j - current_i, summed over i, averaged over j and the batch.

Tensors (float32 unless said): params/{torso,embedding,head}.*, target_params/..., obs [B,4],
next_obs [B,4], actions [B] int64, rewards [B], dones [B], taus_choice [B,K], taus_prime
[B,N'], taus [B,N], next_greedy_actions [B] int64, target_quantiles [B,N'],
current_quantiles [B,N], loss [1], grads/<name>, after/adam/<name>: the parameters after
three Adam (lr 1e-3) steps on the same batch and fractions, each after
clip_grad_norm_(max_norm = 10), the target network held fixed.
"""
import math
import sys

import torch as th
from safetensors.torch import save_file

th.manual_seed(0)
th.set_num_threads(1)
B, N, N_PRIME, K, E, A, GAMMA = 8, 8, 6, 4, 64, 2, 0.99


class Iqn(th.nn.Module):
    def __init__(self):
        super().__init__()
        self.torso = th.nn.Sequential(th.nn.Linear(4, 32))
        self.embedding = th.nn.Linear(E, 32)
        self.head = th.nn.Sequential(th.nn.Linear(32, 32), th.nn.ReLU(), th.nn.Linear(32, A))

    def forward(self, obs, taus):  # obs [B, 4], taus [B, T] -> [B, T, A]
        phi = th.relu(self.torso(obs))
        i = th.arange(1, E + 1, dtype=th.float32)
        psi = th.relu(self.embedding(th.cos(math.pi * i * taus[..., None])))
        return self.head(phi[:, None, :] * psi)


def quantile_huber(current, target, taus):  # [B, N], [B, N'], [B, N]
    delta = target[:, None, :] - current[:, :, None]  # [B, N, N']
    huber = th.where(delta.abs() > 1, delta.abs() - 0.5, 0.5 * delta ** 2)
    weight = (taus[:, :, None] - (delta.detach() < 0).float()).abs()
    return (weight * huber).sum(dim=1).mean(dim=1).mean()


online, target = Iqn(), Iqn()
obs = th.randn(B, 4)
next_obs = obs + 0.1 * th.randn(B, 4)
actions = th.randint(0, A, (B,))
rewards = th.randn(B)
dones = (th.rand(B) < 0.25).float()
taus_choice, taus_prime, taus = th.rand(B, K), th.rand(B, N_PRIME), th.rand(B, N)

with th.no_grad():
    greedy = target(next_obs, taus_choice).mean(dim=1).argmax(dim=1)
    z_next = target(next_obs, taus_prime)[th.arange(B), :, greedy]
    target_quantiles = rewards[:, None] + (1 - dones[:, None]) * GAMMA * z_next


def loss_of():
    current = online(obs, taus)[th.arange(B), :, actions]
    return current, quantile_huber(current, target_quantiles, taus)


params0 = {k: v.detach().clone() for k, v in online.state_dict().items()}
current, loss = loss_of()
online.zero_grad()
loss.backward()
grads = {f"grads/{k}": p.grad.detach().clone() for k, p in online.named_parameters()}
opt = th.optim.Adam(online.parameters(), lr=1e-3)
for _ in range(3):
    _, step_loss = loss_of()
    opt.zero_grad()
    step_loss.backward()
    th.nn.utils.clip_grad_norm_(online.parameters(), 10.0)
    opt.step()

out = {f"params/{k}": v for k, v in params0.items()}
out.update({f"target_params/{k}": v.detach().clone() for k, v in target.state_dict().items()})
out.update({f"after/adam/{k}": v.detach().clone() for k, v in online.state_dict().items()})
out.update(grads)
out.update(obs=obs, next_obs=next_obs, actions=actions.long(), rewards=rewards, dones=dones,
           taus_choice=taus_choice, taus_prime=taus_prime, taus=taus,
           next_greedy_actions=greedy.long(), target_quantiles=target_quantiles,
           current_quantiles=current.detach(), loss=loss.detach().reshape(1))
save_file({k: v.contiguous() for k, v in out.items()}, sys.argv[1],
          metadata=dict(torch=th.__version__, gamma=str(GAMMA)))
print("loss", loss.item())
