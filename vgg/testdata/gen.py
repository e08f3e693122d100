"""Reference data for package vgg.

Run from this directory with Debian's interpreter:
    /usr/bin/python3 gen.py

Builds reduced-width torchvision VGGs (torchvision.models.vgg.VGG and
make_layers, so the module structure and state_dict names are torchvision's;
only the channel counts and the classifier widths are small), gives the
BatchNorm layers random running statistics, and writes:

  vgg16s.pth              VGG16 layout (cfg D / 16), zip format
  vgg16s_legacy.pth       the same weights, legacy (pre-1.6) format
  vgg16s.safetensors      the same weights, safetensors (no num_batches_tracked)
  vgg11bns.pth            VGG11-BN layout (cfg A / 16), zip format
  expected.safetensors    inputs, activations, logits and perceptual-loss gradients

References are computed in float64 and stored as float32.
"""
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.vgg import VGG, cfgs, make_layers


def write_safetensors(path, tensors):
    """Minimal safetensors writer (F32/I64), sorted as the reference writer does."""
    header, blobs, off = {}, [], 0
    order = sorted(tensors.items(), key=lambda kv: ({"I64": 0, "F32": 1}[kv[1][0]], kv[0]))
    for name, (dt, arr) in order:
        b = arr.tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def state_to_st(sd, drop_nbt):
    out = {}
    for k, v in sd.items():
        if drop_nbt and k.endswith("num_batches_tracked"):
            continue
        if v.dtype == torch.int64:
            out[k] = ("I64", v.numpy().astype("<i8"))
        else:
            out[k] = ("F32", v.float().numpy().astype("<f4"))
    return out


def small_vgg(cfg, bn, div, hidden, classes):
    small = [c if c == "M" else c // div for c in cfg]
    m = VGG(make_layers(small, batch_norm=bn), num_classes=classes, init_weights=False)
    last = [c for c in small if c != "M"][-1]
    # Same names as torchvision (classifier.0/3/6), smaller widths.
    m.classifier = nn.Sequential(
        nn.Linear(last * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
        nn.Linear(hidden, classes),
    )
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
                mod.bias.uniform_(-0.1, 0.1)
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.3, 0.3)
                mod.running_var.uniform_(0.5, 2.0)
                mod.num_batches_tracked.fill_(7)
            elif isinstance(mod, nn.Linear):
                nn.init.normal_(mod.weight, 0, 0.05)
                mod.bias.uniform_(-0.1, 0.1)
    return m.eval()


def relu_names(cfg, bn):
    """features index -> torch-style tap name (conv/relu/pool)."""
    names, i, b, k = {}, 0, 1, 1
    for c in cfg:
        if c == "M":
            names[i] = f"pool{b}"
            i, b, k = i + 1, b + 1, 1
            continue
        names[i] = f"conv{b}_{k}"
        if bn:
            names[i + 1] = f"bn{b}_{k}"
            i += 1
        names[i + 1] = f"relu{b}_{k}"
        i, k = i + 2, k + 1
    return names


def taps(model, cfg, bn, x):
    names = relu_names(cfg, bn)
    out = {}
    h = x
    for i, mod in enumerate(model.features):
        h = mod(h.clone())  # ReLU is in place in torchvision; keep taps intact
        out[f"features.{i}"] = h
        out[names[i]] = h
    h = model.avgpool(h)
    out["avgpool"] = h
    out["logits"] = model.classifier(torch.flatten(h, 1))
    return out


def stored(name):
    """Named taps duplicate features.N; store each tensor once to keep fixtures small."""
    return name.startswith("features.") or name in ("avgpool", "logits")


def perceptual(fa, fb, layers, dist, eps=1e-8):
    loss = 0.0
    for name, w in layers:
        a, b = fa[name], fb[name]
        if dist == "l2":
            d = ((a - b) ** 2).mean()
        elif dist == "l1":
            d = (a - b).abs().mean()
        else:  # cosine along the channel axis (1), mean over the rest
            d = (1 - F.cosine_similarity(a, b, dim=1, eps=eps)).mean()
        loss = loss + w * d
    return loss


def image(*shape):
    """Random pixels in [-2, 2), rounded to float32 (what the Go side reads)."""
    return (torch.rand(*shape, dtype=torch.float64) * 4 - 2).float().double()


def main():
    torch.manual_seed(1234)
    exp = {}

    # --- VGG16 layout, plain ---
    m16 = small_vgg(cfgs["D"], False, 32, 8, 10)
    sd = m16.state_dict()
    torch.save(sd, "vgg16s.pth")
    torch.save(sd, "vgg16s_legacy.pth", _use_new_zipfile_serialization=False)
    write_safetensors("vgg16s.safetensors", state_to_st(sd, True))
    m16d = m16.double()
    x = image(1, 3, 64, 48)
    exp["vgg16.input"] = x
    with torch.no_grad():
        for k, v in taps(m16d, cfgs["D"], False, x).items():
            if stored(k):
                exp["vgg16." + k] = v

    # Perceptual-loss gradients w.r.t. a 1x3x32x32 input (VGG16 layout).
    xs = image(1, 3, 32, 32)
    ys = image(1, 3, 32, 32)
    exp["perc.x"], exp["perc.y"] = xs, ys
    layers = [("relu1_2", 1.0), ("relu2_2", 0.5), ("relu3_3", 2.0), ("logits", 0.25)]
    with torch.no_grad():
        fb = taps(m16d, cfgs["D"], False, ys)
    for dist in ("l2", "l1", "cosine"):
        xg = xs.clone().requires_grad_(True)
        fa = taps(m16d, cfgs["D"], False, xg)
        loss = perceptual(fa, fb, layers, dist)
        loss.backward()
        exp[f"perc.{dist}.loss"] = loss.detach().reshape(1)
        exp[f"perc.{dist}.grad"] = xg.grad

    # --- VGG11-BN layout ---
    m11 = small_vgg(cfgs["A"], True, 32, 6, 7)
    sd = m11.state_dict()
    torch.save(sd, "vgg11bns.pth")
    m11d = m11.double()
    x = image(2, 3, 32, 48)  # non-square
    exp["vgg11bn.input"] = x
    with torch.no_grad():
        for k, v in taps(m11d, cfgs["A"], True, x).items():
            if stored(k):
                exp["vgg11bn." + k] = v

    write_safetensors("expected.safetensors",
                      {k: ("F32", v.detach().float().numpy().astype("<f4")) for k, v in exp.items()})


if __name__ == "__main__":
    main()
