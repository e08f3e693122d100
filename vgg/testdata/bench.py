"""PyTorch timings for the Go benchmarks (vgg BenchmarkVGG16Relu3_3 and
resnet BenchmarkResNet50): 224x224, batch 1 and 8, random weights, float32,
eval mode, no autograd, 2 threads. Prints the median of 3 runs after a warm-up.

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
        for _ in range(3):
            t = time.perf_counter()
            f(x)
            ts.append(time.perf_counter() - t)
    t = sorted(ts)[1]
    print(f"{name} batch={n}: {t * 1000:.0f} ms/op, {t * 1000 / n:.0f} ms/image")


v = vgg16(weights=None).eval().features[:16]  # up to relu3_3 (features.15)
r = resnet50(weights=None).eval()
for n in (1, 8):
    bench("VGG16 to relu3_3", v, n)
for n in (1, 8):
    bench("ResNet-50", r, n)
