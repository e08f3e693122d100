#!/usr/bin/python3
"""PyTorch counterpart of examples/bench: CLIP image and text encoding on
random weights, float32, torch.set_num_threads(2), inference mode.

    /usr/bin/python3 testdata/bench/bench_torch.py MODEL_PY [--model ViT-B/32|RN50]
        [--tower image|text] [--batch 8] [--n 5] [--warmup 1] [--tokens N]

MODEL_PY is OpenAI's clip/model.py (github.com/openai/CLIP, MIT; not part of
this repository), so the towers are exactly the ones goclip implements. Each
measured run prints

    TORCH model=ViT-B/32 tower=image batch=8 per_s=8.51 ms_per_batch=940.1

Texts are the same token rows as examples/bench (row i has 5 + 7i mod 16
tokens, or -tokens); OpenAI's encode_text runs all 77 positions, as
PyTorch users do.
"""
import argparse
import importlib.util
import time

import torch

PRESETS = {
    # embed, resolution, vision layers, vision width, patch, text width, heads, layers
    "ViT-B/32": (512, 224, 12, 768, 32, 512, 8, 12),
    "ViT-B/16": (512, 224, 12, 768, 16, 512, 8, 12),
    "RN50": (1024, 224, (3, 4, 6, 3), 64, None, 512, 8, 12),
    "RN101": (512, 224, (3, 4, 23, 3), 64, None, 512, 8, 12),
}
CONTEXT, VOCAB = 77, 49408


def load_reference(path):
    spec = importlib.util.spec_from_file_location("clip_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def token_rows(batch, tokens, gen):
    rows = torch.zeros(batch, CONTEXT, dtype=torch.long)
    for i in range(batch):
        n = tokens if tokens else min(5 + 7 * i % 16, CONTEXT)
        rows[i, 0] = VOCAB - 2
        rows[i, 1:n - 1] = torch.randint(0, VOCAB - 2, (n - 2,), generator=gen)
        rows[i, n - 1] = VOCAB - 1
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_py")
    ap.add_argument("--model", default="ViT-B/32", choices=sorted(PRESETS))
    ap.add_argument("--tower", default="image", choices=["image", "text"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=0)
    a = ap.parse_args()
    if a.tokens == 1 or a.tokens < 0 or a.tokens > CONTEXT:
        ap.error("--tokens: want 0 (captions) or 2..77")

    torch.set_num_threads(2)
    torch.manual_seed(0)
    ref = load_reference(a.model_py)
    embed, res, vlayers, vwidth, patch, twidth, theads, tlayers = PRESETS[a.model]
    model = ref.CLIP(embed, res, vlayers, vwidth, patch, CONTEXT, VOCAB, twidth, theads, tlayers).float().eval()

    gen = torch.Generator().manual_seed(1)
    if a.tower == "image":
        x = torch.randn(a.batch, 3, res, res, generator=gen)
        step = lambda: model.encode_image(x)
    else:
        rows = token_rows(a.batch, a.tokens, gen)
        step = lambda: model.encode_text(rows)

    with torch.inference_mode():
        for _ in range(a.warmup):
            step()
        rates = []
        for _ in range(a.n):
            t0 = time.perf_counter()
            step()
            d = time.perf_counter() - t0
            rates.append(a.batch / d)
            print(f"TORCH model={a.model} tower={a.tower} batch={a.batch} per_s={a.batch / d:.2f} ms_per_batch={d * 1000:.1f}", flush=True)
    rates.sort()
    print(f"SUMMARY model={a.model} tower={a.tower} batch={a.batch} runs={a.n} per_s_median={rates[len(rates) // 2]:.2f} per_s_best={rates[-1]:.2f}")


if __name__ == "__main__":
    main()
