#!/usr/bin/python3
"""Generate the tiny-CLIP parity fixtures for package clip (clip/testdata/models).

Run with Debian's interpreter from the repository root:

    git --git-dir=<openai/CLIP clone>/.git show HEAD:clip/model.py > /tmp/clip_model.py
    /usr/bin/python3 clip/testdata/models/gen.py /tmp/clip_model.py

The script imports OpenAI's reference implementation (openai/CLIP clip/model.py,
MIT licence) from the path given on the command line; that file is NOT part of
this repository. It builds two tiny CLIPs with random weights (a ViT and a
ModifiedResNet, odd sizes, several heads), runs them in float32 and writes:

  <name>.safetensors   the state_dict, float32 (OpenAI tensor names)
  <name>.json          the architecture (heads are set explicitly: the tiny
                       widths are below 64, so build_model's width//64 rule
                       does not apply)
  <name>_*.npy         inputs and expected outputs

Sizes are chosen so that all fixtures stay well under 1 MB.
"""
import importlib.util
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.dirname(os.path.abspath(__file__))


def load_reference(path):
    spec = importlib.util.spec_from_file_location("clip_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def write_safetensors(path, state):
    """Minimal safetensors writer: float32, C order, header padded to 8 bytes."""
    header, blobs, off = {}, [], 0
    for name in sorted(state):
        a = np.ascontiguousarray(state[name].detach().cpu().numpy().astype("<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def init_random(model, g):
    """Non-trivial random weights for every parameter and BN buffer."""
    for name, p in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        shape = p.shape
        if name == "logit_scale":
            v = torch.tensor(math.log(100.0))
        elif name.endswith("running_var"):
            v = 0.5 + torch.rand(shape, generator=g)
        elif name.endswith("running_mean") or name.endswith("bias"):
            v = 0.1 * torch.randn(shape, generator=g)
        elif ("ln_" in name or ".bn" in name or "downsample.1" in name) and name.endswith("weight"):
            v = 1.0 + 0.2 * torch.randn(shape, generator=g)
        elif name.endswith("positional_embedding"):
            v = 0.3 * torch.randn(shape, generator=g)
        elif name.endswith("class_embedding") or name == "token_embedding.weight":
            v = torch.randn(shape, generator=g)
        else:  # conv / linear / projection weights: unit-variance outputs
            fan_in = shape[0] if name in ("text_projection", "visual.proj") else int(np.prod(shape[1:]))
            v = torch.randn(shape, generator=g) / math.sqrt(fan_in)
        p.copy_(v)


def build(ref, cfg):
    """ref.CLIP with the vision heads taken from cfg instead of build_model's rule."""
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
                        t["context_length"], t["vocab_size"], t["width"], t["heads"], t["layers"]).float().eval()
    finally:
        ref.VisionTransformer, ref.ModifiedResNet = orig_vit, orig_rn


def save(name, arr):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(arr.detach().cpu().numpy().astype(np.float32)))


def tokens(ctx, vocab, eots, g):
    sot, eot = vocab - 2, vocab - 1
    rows = torch.zeros(len(eots), ctx, dtype=torch.long)
    for i, e in enumerate(eots):
        rows[i, 0] = sot
        rows[i, 1:e] = torch.randint(1, vocab - 2, (e - 1,), generator=g)
        rows[i, e] = eot
    return rows


def text_and_logits(prefix, model, text, image_features):
    txt = model.encode_text(text)
    save(prefix + "_text_embedding", txt)
    img_n = image_features / image_features.norm(dim=1, keepdim=True)
    txt_n = txt / txt.norm(dim=1, keepdim=True)
    save(prefix + "_logits", model.logit_scale.exp() * img_n @ txt_n.t())


def vit_case(ref, g):
    cfg = dict(name="tiny-vit", embed_dim=24, vision=dict(kind="vit", image_size=40, patch_size=8, width=32, layers=2, heads=2),
               text=dict(context_length=16, vocab_size=100, width=32, heads=2, layers=2), activation="quickgelu")
    v, t = cfg["vision"], cfg["text"]
    model = build(ref, cfg)
    with torch.no_grad():
        init_random(model, g)
        pixels = torch.randn(2, 3, v["image_size"], v["image_size"], generator=g)
        text = tokens(t["context_length"], t["vocab_size"], [5, 11, 15], g)
        img = model.encode_image(pixels)
        save("vit_pixels", pixels)
        np.save(os.path.join(OUT, "vit_tokens.npy"), text.numpy().astype(np.int32))
        save("vit_image_embedding", img)
        text_and_logits("vit", model, text, img)

        # Intermediates, recomputed step by step with the reference modules.
        vis = model.visual
        x = vis.conv1(pixels).reshape(2, v["width"], -1).permute(0, 2, 1)
        cls = vis.class_embedding + torch.zeros(2, 1, v["width"])
        x = torch.cat([cls, x], dim=1) + vis.positional_embedding
        x = vis.ln_pre(x).permute(1, 0, 2)  # LND
        for i, blk in enumerate(vis.transformer.resblocks):
            h = blk.ln_1(x)
            _, probs = blk.attn(h, h, h, need_weights=True, average_attn_weights=False)
            x = blk(x)
            save(f"vit_block{i}_tokens", x.permute(1, 0, 2))  # (N, T, W)
            save(f"vit_block{i}_probs", probs)  # (N, heads, T, T)
        # check the step-by-step path reproduces encode_image
        y = vis.ln_post(x.permute(1, 0, 2)[:, 0, :]) @ vis.proj
        assert torch.allclose(y, img, atol=1e-6)
    write_safetensors(os.path.join(OUT, "vit.safetensors"), model.state_dict())
    with open(os.path.join(OUT, "vit.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def rn_case(ref, g):
    cfg = dict(name="tiny-rn", embed_dim=24, vision=dict(kind="resnet", image_size=64, width=4, layers=[1, 2, 1, 1], heads=4),
               text=dict(context_length=16, vocab_size=100, width=32, heads=4, layers=1), activation="quickgelu")
    v, t = cfg["vision"], cfg["text"]
    model = build(ref, cfg)
    with torch.no_grad():
        init_random(model, g)
        pixels = torch.randn(2, 3, v["image_size"], v["image_size"], generator=g)
        text = tokens(t["context_length"], t["vocab_size"], [3, 9, 15], g)
        img = model.encode_image(pixels)
        save("rn_pixels", pixels)
        np.save(os.path.join(OUT, "rn_tokens.npy"), text.numpy().astype(np.int32))
        save("rn_image_embedding", img)
        text_and_logits("rn", model, text, img)

        vis = model.visual
        x = vis.relu1(vis.bn1(vis.conv1(pixels)))
        x = vis.relu2(vis.bn2(vis.conv2(x)))
        x = vis.relu3(vis.bn3(vis.conv3(x)))
        x = vis.avgpool(x)
        save("rn_stem", x)
        for i, layer in enumerate([vis.layer1, vis.layer2, vis.layer3, vis.layer4]):
            x = layer(x)
            save(f"rn_layer{i + 1}", x)
        assert torch.allclose(vis.attnpool(x), img, atol=1e-6)
        # Dense per-location embeddings: value projection then c_proj applied to
        # every spatial location of the layer4 map (no positional embedding,
        # no attention), as MaskCLIP does; (N, H*W, E) in row-major (h, w) order.
        ap = vis.attnpool
        loc = x.flatten(2).permute(0, 2, 1)  # (N, HW, C)
        save("rn_dense", ap.c_proj(ap.v_proj(loc)))
    write_safetensors(os.path.join(OUT, "rn.safetensors"), model.state_dict())
    with open(os.path.join(OUT, "rn.json"), "w") as f:
        json.dump(cfg, f, indent=1)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen.py /path/to/openai/CLIP/clip/model.py")
    ref = load_reference(sys.argv[1])
    torch.set_grad_enabled(False)
    g = torch.Generator().manual_seed(20240527)
    vit_case(ref, g)
    rn_case(ref, g)


if __name__ == "__main__":
    main()
