"""Reference data for package resnet.

Run from this directory with Debian's interpreter:
    /usr/bin/python3 gen.py

Builds reduced-width torchvision ResNets: torchvision.models.resnet.ResNet
with its own _make_layer, BasicBlock and Bottleneck (so module structure,
forward code and state_dict names are torchvision's, v1.5 with the stride on
the 3x3 conv), but with a small stem width instead of 64. BatchNorm layers get
random affine parameters and running statistics. Writes:

  wide_bottleneck.pth           Bottleneck [1,2,1,1], stem width 2, width_per_group 128, zip format
  wide_bottleneck_legacy.pth    the same weights, legacy (pre-1.6) format
  wide_bottleneck.safetensors   the same weights, safetensors, no num_batches_tracked
  basic.pth                     BasicBlock [2,1,1,2], stem width 4, zip format
  expected.safetensors          inputs, activations, logits and perceptual-loss gradients

References are computed in float64 and stored as float32.
"""
import json
import struct

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet


def write_safetensors(path, tensors):
    """Minimal safetensors writer (F32/I64): sorted by dtype, then name."""
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


def small_resnet(block, layers, width, width_per_group, classes):
    m = ResNet(block, layers, num_classes=classes, width_per_group=width_per_group)
    # Rebuild with a small stem width using torchvision's own _make_layer.
    m.inplanes = width
    m.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(width)
    m.layer1 = m._make_layer(block, width, layers[0])
    m.layer2 = m._make_layer(block, 2 * width, layers[1], stride=2)
    m.layer3 = m._make_layer(block, 4 * width, layers[2], stride=2)
    m.layer4 = m._make_layer(block, 8 * width, layers[3], stride=2)
    m.fc = nn.Linear(8 * width * block.expansion, classes)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.3, 0.3)
                mod.running_var.uniform_(0.5, 2.0)
                mod.num_batches_tracked.fill_(7)
            elif isinstance(mod, nn.Linear):
                nn.init.normal_(mod.weight, 0, 0.1)
                mod.bias.uniform_(-0.1, 0.1)
    return m.eval()


def taps(m, x):
    out = {}
    h = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    out["stem"] = h
    for L in range(1, 5):
        for i, blk in enumerate(getattr(m, f"layer{L}")):
            h = blk(h)
            out[f"layer{L}.{i}"] = h
        out[f"layer{L}"] = h
    h = torch.flatten(m.avgpool(h), 1)
    out["pooled"] = h
    out["logits"] = m.fc(h)
    return out


def perceptual(fa, fb, layers, dist, eps=1e-8):
    loss = 0.0
    for name, w in layers:
        a, b = fa[name], fb[name]
        if dist == "l2":
            d = ((a - b) ** 2).mean()
        elif dist == "l1":
            d = (a - b).abs().mean()
        else:  # cosine along the channel axis (1), mean over the rest
            dot = (a * b).sum(1)
            na = ((a * a).sum(1) + eps).sqrt()
            nb = ((b * b).sum(1) + eps).sqrt()
            d = (1 - dot / (na * nb)).mean()
        loss = loss + w * d
    return loss


def to_st(sd, drop_nbt):
    out = {}
    for k, v in sd.items():
        if drop_nbt and k.endswith("num_batches_tracked"):
            continue
        if v.dtype == torch.int64:
            out[k] = ("I64", v.numpy().astype("<i8"))
        else:
            out[k] = ("F32", v.numpy().astype("<f4"))
    return out


def image(*shape):
    """Random pixels in [-2, 2), rounded to float32 (what the Go side reads)."""
    return (torch.rand(*shape, dtype=torch.float64) * 4 - 2).float().double()


def main():
    torch.manual_seed(4321)
    exp = {}

    wb = small_resnet(Bottleneck, [1, 2, 1, 1], 2, 128, 10)
    sd = wb.state_dict()
    torch.save(sd, "wide_bottleneck.pth")
    torch.save(sd, "wide_bottleneck_legacy.pth", _use_new_zipfile_serialization=False)
    write_safetensors("wide_bottleneck.safetensors", to_st(sd, True))
    wbd = wb.double()
    x = image(2, 3, 64, 48)
    exp["bottleneck.input"] = x
    with torch.no_grad():
        for k, v in taps(wbd, x).items():
            exp["bottleneck." + k] = v

    # Perceptual-loss gradients w.r.t. the input.
    xs = image(1, 3, 48, 48)
    ys = image(1, 3, 48, 48)
    exp["perc.x"], exp["perc.y"] = xs, ys
    layers = [("stem", 1.0), ("layer2", 0.5), ("layer4", 2.0), ("pooled", 0.25)]
    with torch.no_grad():
        fb = taps(wbd, ys)
    for dist in ("l2", "l1", "cosine"):
        xg = xs.clone().requires_grad_(True)
        loss = perceptual(taps(wbd, xg), fb, layers, dist)
        loss.backward()
        exp[f"perc.{dist}.loss"] = loss.detach().reshape(1)
        exp[f"perc.{dist}.grad"] = xg.grad

    bb = small_resnet(BasicBlock, [2, 1, 1, 2], 4, 64, 6)
    torch.save(bb.state_dict(), "basic.pth")
    bbd = bb.double()
    x = image(1, 3, 40, 56)
    exp["basic.input"] = x
    with torch.no_grad():
        for k, v in taps(bbd, x).items():
            exp["basic." + k] = v

    write_safetensors("expected.safetensors",
                      {k: ("F32", v.detach().float().numpy().astype("<f4")) for k, v in exp.items()})


if __name__ == "__main__":
    main()
