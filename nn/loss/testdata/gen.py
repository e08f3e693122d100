#!/usr/bin/python3
"""Reference values and gradients for package loss (nn/loss/testdata/losses.json).

Run from the repository root with Debian's interpreter:

    /usr/bin/python3 nn/loss/testdata/gen.py

Every loss is computed in float64 with torch.nn.functional (or, for
ActionCLIP's KL loss, with the formula of ActionCLIP's utils/KLLoss.py), and
torch autograd gives the gradients with respect to every input.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "losses.json")
g = torch.Generator().manual_seed(6)


def rand(*shape, scale=1.0):
    return (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()


def case(name, fn, inputs, **extra):
    loss = fn(*inputs)
    grads = torch.autograd.grad(loss, inputs)
    c = {"name": name, "loss": loss.item(),
         "inputs": [{"shape": list(x.shape), "data": x.detach().flatten().tolist()} for x in inputs],
         "grads": [gr.flatten().tolist() for gr in grads]}
    c.update(extra)
    return c


cases = []
N = 5
logits = rand(N, N, scale=3.0)
cases.append(case("infonce", lambda l: (F.cross_entropy(l, torch.arange(N)) + F.cross_entropy(l.t(), torch.arange(N))) / 2, [logits]))

# Cross-entropy with integer targets and label smoothing (N=4 rows, C=6 classes).
classes = [2, 0, 5, 2]
for eps in (0.0, 0.1):
    x = rand(4, 6, scale=2.0)
    cases.append(case("cross_entropy", lambda l: F.cross_entropy(l, torch.tensor(classes), label_smoothing=eps),
                      [x], classes=classes, smoothing=eps))

# ActionCLIP multi-positive KL: labels with repeated classes.
labels = [3, 1, 3, 0, 1, 3]
B = len(labels)
lab = torch.tensor(labels)
gt = (lab[:, None] == lab[None, :]).double()
target = F.softmax(gt * 10, 1)


def kl(pred):
    return F.kl_div(F.log_softmax(pred, 1), target, reduction="mean") * B


x = rand(B, B, scale=3.0)
c = case("multi_positive_kl", lambda l: (kl(l) + kl(l.t())) / 2, [x], labels=labels)
c["target"] = target.flatten().tolist()
cases.append(c)

a, b = rand(3, 7), rand(3, 7)
cases.append(case("mse", lambda a, b: F.mse_loss(a, b), [a, b]))
a, b = rand(3, 7), rand(3, 7)
cases.append(case("l1", lambda a, b: F.l1_loss(a, b), [a, b]))
a, b = rand(4, 5), rand(4, 5)
cases.append(case("cosine", lambda a, b: (1 - F.cosine_similarity(a, b, dim=1)).mean(), [a, b]))

# CLIP logits (image rows) with a learnable log scale, then InfoNCE.
img, txt = rand(4, 6), rand(4, 6)
ls = torch.tensor(math.log(1 / 0.07), dtype=torch.float64, requires_grad=True)


def clip_loss(img, txt, ls):
    i = img / img.norm(dim=1, keepdim=True)
    t = txt / txt.norm(dim=1, keepdim=True)
    l = ls.exp() * i @ t.t()
    return (F.cross_entropy(l, torch.arange(4)) + F.cross_entropy(l.t(), torch.arange(4))) / 2


cases.append(case("clip_logits_infonce", clip_loss, [img, txt, ls]))

with open(OUT, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=0)
print("wrote", OUT)
