#!/usr/bin/python3
"""Gradient fixtures for package clip (clip/testdata/grad).

Run from the repository root with Debian's interpreter, giving the path of
OpenAI's clip/model.py (openai/CLIP, MIT licence; not part of this repository):

    git --git-dir=<openai/CLIP clone>/.git show HEAD:clip/model.py > /tmp/clip_model.py
    /usr/bin/python3 clip/testdata/grad/gen.py /tmp/clip_model.py

For the tiny ViT and ModifiedResNet CLIPs of clip/testdata/models (same
weights, same pixels, the first two token rows) it computes, in float64 with
torch autograd, CLIP's symmetric InfoNCE loss

    logits = logit_scale.exp() * norm(encode_image(pixels)) @ norm(encode_text(text)).T
    loss   = (CE(logits, arange(2)) + CE(logits.T, arange(2))) / 2

and writes <name>_grads.safetensors: "loss" (F64, shape [1]), "grad.pixels"
and "grad.<parameter>" (F32) for every parameter of the ViT case and, to keep
the files small, for the ResNet case every visual parameter of at most 2048
elements, logit_scale and the pixels (the text tower is the ViT case's).
"""
import importlib.util
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "..", "models")


def load_reference(path):
    spec = importlib.util.spec_from_file_location("clip_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32"
        lo, hi = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(b[8 + n + lo:8 + n + hi], dtype="<f4").reshape(e["shape"]).copy())
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        dt = {np.float32: "F32", np.float64: "F64"}[a.dtype.type]
        b = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
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


def build(ref, cfg):
    v, t = cfg["vision"], cfg["text"]
    orig_vit, orig_rn = ref.VisionTransformer, ref.ModifiedResNet

    class VisionTransformer(orig_vit):
        def __init__(self, **kw):
            super().__init__(**{**kw, "heads": v["heads"]})

    class ModifiedResNet(orig_rn):
        def __init__(self, **kw):
            super().__init__(**{**kw, "heads": v["heads"]})

    ref.VisionTransformer, ref.ModifiedResNet = VisionTransformer, ModifiedResNet
    try:
        layers = tuple(v["layers"]) if v["kind"] == "resnet" else v["layers"]
        return ref.CLIP(cfg["embed_dim"], v["image_size"], layers, v["width"], v.get("patch_size"),
                        t["context_length"], t["vocab_size"], t["width"], t["heads"], t["layers"])
    finally:
        ref.VisionTransformer, ref.ModifiedResNet = orig_vit, orig_rn


def case(ref, name, keep):
    with open(os.path.join(MODELS, name + ".json")) as f:
        cfg = json.load(f)
    model = build(ref, cfg)
    state = read_safetensors(os.path.join(MODELS, name + ".safetensors"))
    model.load_state_dict(state, strict=False)
    model = model.double().eval()
    pixels = torch.from_numpy(np.load(os.path.join(MODELS, name + "_pixels.npy"))).double().requires_grad_()
    text = torch.from_numpy(np.load(os.path.join(MODELS, name + "_tokens.npy"))[:2]).long()
    img = model.encode_image(pixels)
    txt = model.encode_text(text)
    img = img / img.norm(dim=1, keepdim=True)
    txt = txt / txt.norm(dim=1, keepdim=True)
    logits = model.logit_scale.exp() * img @ txt.t()
    target = torch.arange(2)
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    loss.backward()
    out = {"loss": np.array([loss.item()], dtype=np.float64),
           "grad.pixels": pixels.grad.numpy().astype(np.float32)}
    for pname, p in model.named_parameters():
        if keep(pname, p):
            out["grad." + pname] = p.grad.numpy().astype(np.float32)
    path = os.path.join(HERE, name + "_grads.safetensors")
    write_safetensors(path, out)
    print(f"{path}: loss {loss.item():.10f}, {len(out) - 1} gradients")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    ref = load_reference(sys.argv[1])
    # OpenAI's LayerNorm subclass casts to float32 for fp16 weights; in a
    # float64 model the plain torch LayerNorm computes the same function.
    ref.LayerNorm.forward = torch.nn.LayerNorm.forward
    torch.manual_seed(0)
    case(ref, "vit", lambda n, p: True)
    case(ref, "rn", lambda n, p: n == "logit_scale" or (n.startswith("visual.") and p.numel() <= 2048))


if __name__ == "__main__":
    main()
