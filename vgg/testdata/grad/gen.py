#!/usr/bin/python3
"""Gradient fixtures for package vgg (vgg/testdata/grad).

Run from this directory with Debian's interpreter:
    /usr/bin/python3 gen.py

Loads the reduced-width torchvision VGGs of ../ (vgg16s.pth: VGG16 layout,
plain; vgg11bns.pth: VGG11-BN layout), in float64 and eval mode (Dropout is
the identity, BatchNorm uses its running statistics, so the gradient reaches
its weight and bias through the folded affine and the running statistics
get none), and computes with torch autograd

    loss = sum(w * logits) + sum(v * tap)

for random pixels x and random weightings w, v (tap: one intermediate
activation). Writes <case>.safetensors with

    input, w, v          F32 (what the Go side feeds; exact in float64)
    loss                 F64, shape [1]
    grad.input           F32, gradient with respect to the pixels
    grad.<parameter>     F32, for every parameter (model.named_parameters())
"""
import importlib.util
import json
import os
import struct

import numpy as np
import torch
from torchvision.models.vgg import cfgs

HERE = os.path.dirname(os.path.abspath(__file__))
PARENT = os.path.join(HERE, "..")


def load_parent_gen():
    spec = importlib.util.spec_from_file_location("vgg_gen", os.path.join(PARENT, "gen.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_safetensors(path, tensors):
    """Minimal safetensors writer (F32/F64 numpy arrays), sorted by name."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        b = np.ascontiguousarray(a).tobytes()
        dt = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64"}[a.dtype]
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rounded(*shape, lo=-2.0, hi=2.0):
    """Random values in [lo, hi), rounded to float32 (what the Go side reads)."""
    return (torch.rand(*shape, dtype=torch.float64) * (hi - lo) + lo).float().double()


def case(gen, name, checkpoint, cfg, bn, div, hidden, classes, shape, tap):
    model = gen.small_vgg(cfg, bn, div, hidden, classes)
    model.load_state_dict(torch.load(os.path.join(PARENT, checkpoint)))
    model = model.double().eval()
    x = rounded(*shape).requires_grad_(True)
    acts = gen.taps(model, cfg, bn, x)
    logits, t = acts["logits"], acts[tap]
    w = rounded(*logits.shape, lo=-1, hi=1)
    v = rounded(*t.shape, lo=-1, hi=1)
    loss = (w * logits).sum() + (v * t).sum()
    loss.backward()
    out = {
        "input": x.detach().numpy().astype("<f4"),
        "w": w.numpy().astype("<f4"),
        "v": v.numpy().astype("<f4"),
        "loss": np.array([loss.item()], dtype="<f8"),
        "grad.input": x.grad.numpy().astype("<f4"),
    }
    for pname, p in model.named_parameters():
        out["grad." + pname] = p.grad.numpy().astype("<f4")
    path = os.path.join(HERE, name + ".safetensors")
    write_safetensors(path, out)
    print(f"{path}: loss {loss.item():.10f}, tap {tap} {tuple(t.shape)}, {len(out) - 4} gradients")


def main():
    gen = load_parent_gen()
    torch.manual_seed(606)
    # Plain VGG16 layout; 32×32 leaves 1×1 before AdaptiveAvgPool2d(7), so
    # the pool replicates; tap relu2_2 (features.8).
    case(gen, "vgg16s", "vgg16s.pth", cfgs["D"], False, 32, 8, 10, (2, 3, 32, 32), "relu2_2")
    # VGG11-BN layout; 32×64 leaves 1×2 (overlapping pool windows); tap
    # bn3_1 (features.9, before its ReLU).
    case(gen, "vgg11bns", "vgg11bns.pth", cfgs["A"], True, 32, 6, 7, (2, 3, 32, 64), "bn3_1")


if __name__ == "__main__":
    main()
