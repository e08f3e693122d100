#!/usr/bin/python3
"""Gradient fixtures for package resnet (resnet/testdata/grad).

Run from this directory with Debian's interpreter:
    /usr/bin/python3 gen.py

Loads the reduced-width torchvision ResNets of ../ (wide_bottleneck.pth:
Bottleneck blocks; basic.pth: BasicBlock), in float64 and eval mode
(BatchNorm uses its running statistics, so the gradient reaches its weight
and bias through the folded affine and the running statistics get none),
and computes with torch autograd

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
from torchvision.models.resnet import BasicBlock, Bottleneck

HERE = os.path.dirname(os.path.abspath(__file__))
PARENT = os.path.join(HERE, "..")


def load_parent_gen():
    spec = importlib.util.spec_from_file_location("resnet_gen", os.path.join(PARENT, "gen.py"))
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


def case(gen, name, checkpoint, block, layers, width, wpg, classes, shape, tap):
    model = gen.small_resnet(block, layers, width, wpg, classes)
    model.load_state_dict(torch.load(os.path.join(PARENT, checkpoint)))
    model = model.double().eval()
    x = rounded(*shape).requires_grad_(True)
    acts = gen.taps(model, x)
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
    # Bottleneck [1,2,1,1], stem width 2, width_per_group 128 (grouped
    # widths, projection shortcuts); 48×40 leaves 2×2 at layer4; tap layer2.
    case(gen, "bottleneck", "wide_bottleneck.pth", Bottleneck, [1, 2, 1, 1], 2, 128, 10, (1, 3, 48, 40), "layer2")
    # BasicBlock [2,1,1,2], stem width 4; tap stem (after the overlapping
    # 3×3 stride-2 max pool).
    case(gen, "basic", "basic.pth", BasicBlock, [2, 1, 1, 2], 4, 64, 6, (2, 3, 32, 40), "stem")


if __name__ == "__main__":
    main()
