"""PyTorch timings for the Go benchmarks (vgg BenchmarkVGG16Relu3_3 and
BenchmarkPerceptualVGG16, resnet BenchmarkResNet50): 224x224, batch 1 and 8,
random weights, float32, eval mode, 2 threads; forward passes without
autograd. Prints the fastest of 5 runs after a warm-up (the minimum is the
least disturbed by other processes on a shared machine).

    /usr/bin/python3 vgg/testdata/bench.py
"""
import time

import torch
from torchvision.models import resnet50, vgg16

torch.set_num_threads(2)
torch.manual_seed(0)


def bench(name, f, n):
    x = torch.randn(n, 3, 224, 224)
    with torch.no_grad():
        f(x)
        ts = []
        for _ in range(5):
            t = time.perf_counter()
            f(x)
            ts.append(time.perf_counter() - t)
    t = min(ts)
    print(f"{name} batch={n}: {t * 1000:.0f} ms/op, {t * 1000 / n:.0f} ms/image")


v = vgg16(weights=None).eval().features[:16]  # up to relu3_3 (features.15)
r = resnet50(weights=None).eval()
for n in (1, 8):
    bench("VGG16 to relu3_3", v, n)
for n in (1, 8):
    bench("ResNet-50", r, n)

# Perceptual loss (L2 over relu1_2, relu2_2, relu3_3) and its input gradient,
# 1x3x224x224, as vgg's BenchmarkPerceptualVGG16.
for p in v.parameters():
    p.requires_grad_(False)
taps = (3, 8, 15)
y = torch.randn(1, 3, 224, 224)


def feats(x):
    out = []
    for i, mod in enumerate(v):
        x = mod(x)
        if i in taps:
            out.append(x.clone())
    return out


with torch.no_grad():
    fy = feats(y)


def step():
    x = torch.randn(1, 3, 224, 224, requires_grad=True)
    loss = sum(((a - b) ** 2).mean() for a, b in zip(feats(x), fy))
    loss.backward()


step()
ts = []
for _ in range(5):
    t = time.perf_counter()
    step()
    ts.append(time.perf_counter() - t)
print(f"VGG16 perceptual loss+grad batch=1: {min(ts) * 1000:.0f} ms/op")
