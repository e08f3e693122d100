#!/usr/bin/python3
"""Reference trajectories for package optim, from PyTorch.

Run with Debian's python3 (it has torch):  /usr/bin/python3 nn/optim/testdata/gen.py
Writes nn/optim/testdata/trajectories.json: a fixed tiny linear-regression
problem (loss = mean((x Wᵀ + b − y)²)) and, for each optimizer setting, the
loss before every step and the final parameters after ten steps.
"""
import json, math, os
import torch

torch.manual_seed(0)
N, IN, OUT = 8, 4, 3
x = torch.randn(N, IN)
y = torch.randn(N, OUT)
W0 = torch.randn(OUT, IN) * 0.5
b0 = torch.randn(OUT) * 0.5


def lr_at(step, base, minlr, warmup, total):
    if step < warmup:
        return base * (step + 1) / warmup
    if step >= total:
        return minlr
    e = (step - warmup) / max(total - warmup, 1)
    return minlr + 0.5 * (1 + math.cos(math.pi * e)) * (base - minlr)


def run(kind, clip=None):
    W = W0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    if kind == "adamw":
        opt = torch.optim.AdamW([{"params": [W], "weight_decay": 0.1},
                                 {"params": [b], "weight_decay": 0.0}], lr=0.05, betas=(0.9, 0.98), eps=1e-6)
    elif kind == "sgd_nesterov":
        opt = torch.optim.SGD([{"params": [W], "weight_decay": 0.01},
                               {"params": [b], "weight_decay": 0.0}], lr=0.05, momentum=0.9, nesterov=True)
    elif kind == "sgd_momentum":
        opt = torch.optim.SGD([{"params": [W], "weight_decay": 0.0},
                               {"params": [b], "weight_decay": 0.0}], lr=0.05, momentum=0.8, dampening=0.1)
    losses, lrs, norms = [], [], []
    for step in range(10):
        lr = lr_at(step, 0.05, 0.001, 3, 10)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss = ((x @ W.T + b - y) ** 2).mean()
        loss.backward()
        if clip is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_([W, b], clip)))
        losses.append(float(loss))
        lrs.append(lr)
        opt.step()
    return {"kind": kind, "clip": clip, "losses": losses, "lrs": lrs, "norms": norms,
            "W": W.detach().flatten().tolist(), "b": b.detach().flatten().tolist()}


out = {"N": N, "IN": IN, "OUT": OUT,
       "x": x.flatten().tolist(), "y": y.flatten().tolist(),
       "W0": W0.flatten().tolist(), "b0": b0.flatten().tolist(),
       "runs": [run("adamw"), run("adamw", clip=0.5), run("sgd_nesterov"), run("sgd_momentum")],
       "torch": torch.__version__}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "trajectories.json"), "w") as f:
    json.dump(out, f)
