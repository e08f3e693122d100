#!/usr/bin/python3
"""GFLOP/s of PyTorch's float32 matmul (Debian's torch: OpenBLAS) on 2
threads at the shapes of nn/sgemm's BenchmarkSgemm, for the SGEMM ratio.

    /usr/bin/python3 testdata/bench/gemm_torch.py [repeats]
"""
import sys
import time

import torch

torch.set_num_threads(2)
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
print("torch config:", [l.strip() for l in torch.__config__.show().splitlines() if "BLAS" in l or "LAPACK" in l][:2])
for m, k, n in [(512, 768, 3072), (50, 768, 3072), (197, 768, 768), (768, 768, 3072)]:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    c = torch.empty(m, n)
    for _ in range(3):
        torch.mm(a, b, out=c)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b, out=c)
    d = (time.perf_counter() - t0) / reps
    print(f"TORCHGEMM {m}x{k}x{n} GFLOP/s={2 * m * n * k / d / 1e9:.1f}")
