#!/usr/bin/python3
"""PyTorch reference timings for nn/train's BenchmarkStep* (forward+backward
of CLIP's symmetric InfoNCE on random weights, batch 8, full-length text).

    /usr/bin/python3 nn/train/testdata/bench.py /tmp/clip_model.py [steps]

The argument is OpenAI's clip/model.py (openai/CLIP, MIT; not part of this
repository). torch runs float32 on 2 threads; the median step time of
`steps` (default 5) timed steps after one warm-up step is printed.
"""
import importlib.util
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def load_reference(path):
    spec = importlib.util.spec_from_file_location("clip_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build(ref, embed, res, vlayers, vwidth, patch, vheads, ctx, vocab, twidth, theads, tlayers):
    orig = ref.VisionTransformer

    class VisionTransformer(orig):
        def __init__(self, **kw):
            super().__init__(**{**kw, "heads": vheads})

    ref.VisionTransformer = VisionTransformer
    try:
        return ref.CLIP(embed, res, vlayers, vwidth, patch, ctx, vocab, twidth, theads, tlayers).float()
    finally:
        ref.VisionTransformer = orig


def bench(name, model, n, res, ctx, vocab, steps):
    pixels = torch.randn(n, 3, res, res)
    text = torch.randint(1, vocab - 2, (n, ctx))
    text[:, 0] = vocab - 2
    text[:, -1] = vocab - 1
    target = torch.arange(n)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        logits, _ = model(pixels, text)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        loss.backward()
        if i > 0:
            times.append(time.perf_counter() - t0)
    print(f"{name}: batch {n}: {statistics.median(times):.4f} s/step (median of {steps}; torch {torch.__version__}, {torch.get_num_threads()} threads)")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(2)
    torch.manual_seed(0)
    ref = load_reference(sys.argv[1])
    tiny = build(ref, 64, 64, 4, 128, 8, 4, 32, 1000, 128, 4, 4)
    bench("tiny", tiny, 8, 64, 32, 1000, steps)
    b32 = build(ref, 512, 224, 12, 768, 32, 12, 77, 49408, 512, 8, 12)
    bench("ViT-B/32", b32, 8, 224, 77, 49408, steps)


if __name__ == "__main__":
    main()
