#!/usr/bin/python3
"""Writes the checkpoint fixtures of clip.Load and their PyTorch reference outputs.

Run with Debian's interpreter from this directory:

    git --git-dir=<openai/CLIP git dir> show HEAD:clip/model.py > /tmp/clip_model.py
    /usr/bin/python3 gen.py

OpenAI's clip/model.py (github.com/openai/CLIP, MIT) is imported from
/tmp/clip_model.py at generation time; it is not part of this repository.

Two tiny random-weight CLIPs built by OpenAI's own classes:
  vit: ViT, image 30, patch 6, width 64, 1 vision layer; text width 64, 1 layer,
       context 8, vocab 64; embed 32.
  rn:  ModifiedResNet, layers (1,2,1,1), width 2 (attention pool 64 wide), image 64;
       the same text tower shape; embed 32.
build_model infers heads = width // 64 (one head here); the expected outputs also
hold a "heads2" variant (same weights, 2 heads in every attention) for WithConfig,
so the multi-head split is checked too.
Every parameter is rounded to float16 first, so the fp16 storage of the
TorchScript files is lossless and one float32 reference serves every format.

Files:
  vit_jit.pt          TorchScript (torch.jit.trace of forward, torch.jit.save) with
                      OpenAI's mixed dtypes (convert_weights: conv/linear/attention/
                      projections fp16, the rest fp32) and the JIT scalars
                      input_resolution, context_length, vocab_size.
  rn_jit.pt           the same for the ResNet model.
  rn_openclip.bin     torch.save zip of {'state_dict': {'module.'+name: fp16}, 'epoch': 3}
                      (open_clip / DDP training checkpoint layout).
  rn_legacy.pt        torch.save legacy (non-zip) format, plain state dict, fp16.
  vit_hf/             Hugging Face CLIPModel directory: config.json and model.safetensors
                      (fp16) with names mapped by the OpenAI->HF rules of
                      transformers' convert_clip_original_pytorch_to_hf.py
                      (q/k/v split, projections transposed, position_ids buffers).
  (OpenAI-named safetensors are tested by writing one from Go, keeping fixtures < 1.5 MB.)
  hf_config_gelu.json an HF config.json with hidden_act "gelu" (for ConfigFromHF).
  vit_images.npy      float32 (2,3,30,30) inputs (already normalized pixels).
  rn_images.npy       float16 (2,3,64,64) inputs (fp16 to halve the fixture).
  tokens.npy          int32 (3,8) token rows; SOT=62, EOT=63 (largest id), zero padded.
  {vit,rn}_expected.json  float32 PyTorch outputs: image_embeds, text_embeds (raw),
                      (vit: "zeroshot", prompt-ensembled class probabilities),
                      logit_scale (exp), logits_per_image; "heads2" (see above); for vit also
                      "gelu": exact GELU in place of QuickGELU (open_clip non-quickgelu models).
"""
import collections
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, "/tmp")
import clip_model as M  # noqa: E402  (openai/CLIP clip/model.py, copied to /tmp)

torch.manual_seed(1234)
EMBED = 32
CTX = 8
VOCAB = 64


def make_vit(heads=1):
    m = M.CLIP(EMBED, 30, 1, 64, 6, CTX, VOCAB, 64, heads, 1)
    if heads != 1:  # CLIP.__init__ derives vision heads from the width; rebuild with `heads`
        m.visual = M.VisionTransformer(30, 6, 64, 1, heads, EMBED)
    return m


def make_rn(heads=1):
    m = M.CLIP(EMBED, 64, (1, 2, 1, 1), 2, None, CTX, VOCAB, 64, heads, 1)
    if heads != 1:
        m.visual = M.ModifiedResNet((1, 2, 1, 1), EMBED, heads, 64, 2)
    return m


def randomize(model):
    """Random weights (all of them, incl. LayerNorm/BatchNorm statistics), rounded to fp16."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("logit_scale"):
                p.fill_(float(np.log(1 / 0.07)))
            elif p.dim() >= 2:
                fan_in = p[0].numel()
                p.normal_(0, 1.0 / np.sqrt(fan_in))
            else:
                p.normal_(0, 0.1)
                if ".ln" in name or name.startswith("ln") or ".bn" in name or "downsample.1" in name:
                    if name.endswith("weight"):
                        p.add_(1.0)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0, 0.1)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
        for p in list(model.parameters()) + list(model.buffers()):
            if p.dtype == torch.float32:
                p.copy_(p.half().float())
    model.eval()
    return model


def fp16_names(model):
    """Names convert_weights (clip/model.py) casts to fp16."""
    names = set()
    for mname, m in model.named_modules():
        pre = mname + "." if mname else ""
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            names.add(pre + "weight")
            if m.bias is not None:
                names.add(pre + "bias")
        if isinstance(m, torch.nn.MultiheadAttention):
            for a in ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v"]:
                if getattr(m, a, None) is not None:
                    names.add(pre + a)
        for a in ["text_projection", "proj"]:
            if getattr(m, a, None) is not None and isinstance(getattr(m, a), torch.nn.Parameter):
                names.add(pre + a)
    return names


def save_jit(model, image, tokens, path, resolution):
    """TorchScript as OpenAI ships it: traced forward, mixed fp16/fp32, JIT scalars."""
    ints = {n: getattr(model, n, None) for n in ["context_length", "vocab_size"]}
    for n in ints:
        if hasattr(model, n):
            delattr(model, n)
    model.register_buffer("input_resolution", torch.tensor(resolution))
    model.register_buffer("context_length", torch.tensor(CTX))
    model.register_buffer("vocab_size", torch.tensor(VOCAB))
    traced = torch.jit.trace(model, (image, tokens), check_trace=False)
    half = fp16_names(model)
    params = dict(traced.named_parameters())
    for n in half:
        params[n].data = params[n].data.half()
    torch.jit.save(traced, path)
    for n in ["input_resolution", "context_length", "vocab_size"]:
        delattr(model, n)
    for n, v in ints.items():
        setattr(model, n, v)
    # Check the file: it must hold exactly the mixed dtypes.
    sd = torch.jit.load(path).state_dict()
    for n, t in sd.items():
        want = torch.float16 if n in half else (torch.int64 if n in ("input_resolution", "context_length", "vocab_size") else torch.float32)
        if n.endswith("num_batches_tracked"):
            want = torch.int64
        assert t.dtype == want, (n, t.dtype, want)


ST_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.int32: "I32"}
ST_ORDER = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]


def write_safetensors(path, tensors, metadata=None):
    """huggingface/safetensors layout (the python package is not installed here)."""
    items = sorted(tensors.items(), key=lambda kv: (-ST_ORDER.index(ST_NAMES[kv[1].dtype]), kv[0]))
    header = collections.OrderedDict()
    if metadata:
        header["__metadata__"] = metadata
    off, blobs = 0, []
    for name, t in items:
        b = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def to_hf(sd):
    """OpenAI names -> transformers CLIPModel names (convert_clip_original_pytorch_to_hf.py rules)."""
    out = collections.OrderedDict()

    def layer(src, dst):
        w = sd[src + ".attn.in_proj_weight"]
        b = sd[src + ".attn.in_proj_bias"]
        for i, qkv in enumerate("qkv"):
            out[f"{dst}.self_attn.{qkv}_proj.weight"] = w.chunk(3, dim=0)[i].clone()
            out[f"{dst}.self_attn.{qkv}_proj.bias"] = b.chunk(3, dim=0)[i].clone()
        for a, c in [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
                     ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")]:
            out[f"{dst}.{c}.weight"] = sd[f"{src}.{a}.weight"]
            out[f"{dst}.{c}.bias"] = sd[f"{src}.{a}.bias"]

    out["text_model.embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    out["text_model.embeddings.position_embedding.weight"] = sd["positional_embedding"]
    out["text_model.embeddings.position_ids"] = torch.arange(CTX, dtype=torch.int64)[None]
    nt = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks")})
    for i in range(nt):
        layer(f"transformer.resblocks.{i}", f"text_model.encoder.layers.{i}")
    out["text_model.final_layer_norm.weight"] = sd["ln_final.weight"]
    out["text_model.final_layer_norm.bias"] = sd["ln_final.bias"]
    out["text_projection.weight"] = sd["text_projection"].t().contiguous()
    out["vision_model.embeddings.class_embedding"] = sd["visual.class_embedding"]
    out["vision_model.embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    out["vision_model.embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    npos = sd["visual.positional_embedding"].shape[0]
    out["vision_model.embeddings.position_ids"] = torch.arange(npos, dtype=torch.int64)[None]
    out["vision_model.pre_layrnorm.weight"] = sd["visual.ln_pre.weight"]
    out["vision_model.pre_layrnorm.bias"] = sd["visual.ln_pre.bias"]
    nv = len({k.split(".")[3] for k in sd if k.startswith("visual.transformer.resblocks")})
    for i in range(nv):
        layer(f"visual.transformer.resblocks.{i}", f"vision_model.encoder.layers.{i}")
    out["vision_model.post_layernorm.weight"] = sd["visual.ln_post.weight"]
    out["vision_model.post_layernorm.bias"] = sd["visual.ln_post.bias"]
    out["visual_projection.weight"] = sd["visual.proj"].t().contiguous()
    out["logit_scale"] = sd["logit_scale"]
    return out


def hf_config(act):
    common = {"hidden_act": act, "layer_norm_eps": 1e-5, "intermediate_size": 256, "hidden_size": 64,
              "num_attention_heads": 1, "projection_dim": EMBED}
    text = dict(common, num_hidden_layers=1, max_position_embeddings=CTX, vocab_size=VOCAB,
                bos_token_id=62, eos_token_id=63, pad_token_id=1)
    vision = dict(common, num_hidden_layers=1, image_size=30, patch_size=6, num_channels=3)
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": EMBED,
            "logit_scale_init_value": 2.6592, "torch_dtype": "float32",
            "text_config": text, "vision_config": vision}


def expected(model, images, tokens):
    with torch.no_grad():
        img = model.encode_image(images)
        txt = model.encode_text(tokens)
        li, _ = model(images, tokens)
    return {"image_embeds": img.numpy().tolist(), "text_embeds": txt.numpy().tolist(),
            "logit_scale": float(model.logit_scale.exp()), "logits_per_image": li.numpy().tolist()}


class GELU(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.gelu(x)


def with_gelu(model):
    for m in model.modules():
        if isinstance(m, M.ResidualAttentionBlock):
            m.mlp.gelu = GELU()
    return model


def zeroshot(exp):
    """OpenAI's prompt ensembling (Prompt_Engineering_for_ImageNet.ipynb) on the text rows:
    class 0 = token rows 0 and 1 (two "templates"), class 1 = row 2; probs per image."""
    txt = torch.tensor(exp["text_embeds"])
    img = torch.tensor(exp["image_embeds"])
    weights = []
    for rows in ([0, 1], [2]):
        e = txt[rows]
        e = e / e.norm(dim=-1, keepdim=True)
        e = e.mean(dim=0)
        weights.append(e / e.norm())
    w = torch.stack(weights, dim=1)
    img = img / img.norm(dim=-1, keepdim=True)
    probs = (exp["logit_scale"] * img @ w).softmax(dim=-1)
    return {"classes": [[0, 1], [2]], "probs": probs.numpy().tolist()}


def variant(make, sd, heads=1, gelu=False):
    """A model with the weights sd but other attention heads or exact GELU."""
    m = make(heads)
    m.load_state_dict(sd)
    m.eval()
    return with_gelu(m) if gelu else m


def main():
    tokens = torch.tensor([[62, 5, 17, 63, 0, 0, 0, 0],
                           [62, 9, 9, 40, 9, 30, 11, 63],
                           [62, 63, 0, 0, 0, 0, 0, 0]], dtype=torch.int32)
    np.save("tokens.npy", tokens.numpy())
    ids = tokens.long()

    # ViT
    vit = randomize(make_vit())
    sd = collections.OrderedDict((k, v.clone()) for k, v in vit.state_dict().items())
    vimg = torch.randn(2, 3, 30, 30)
    np.save("vit_images.npy", vimg.numpy())
    exp = expected(vit, vimg, ids)
    exp["gelu"] = expected(variant(make_vit, sd, gelu=True), vimg, ids)
    exp["heads2"] = expected(variant(make_vit, sd, heads=2), vimg, ids)
    exp["zeroshot"] = zeroshot(exp)
    with open("vit_expected.json", "w") as f:
        json.dump(exp, f)
    save_jit(vit, vimg, ids, "vit_jit.pt", 30)
    os.makedirs("vit_hf", exist_ok=True)
    write_safetensors("vit_hf/model.safetensors",
                      collections.OrderedDict((k, v.half() if v.dtype == torch.float32 else v)
                                              for k, v in to_hf(sd).items()), {"format": "pt"})
    with open("vit_hf/config.json", "w") as f:
        json.dump(hf_config("quick_gelu"), f, indent=2)
    with open("hf_config_gelu.json", "w") as f:
        json.dump(hf_config("gelu"), f, indent=2)

    # ModifiedResNet; its images are stored as float16 (values rounded first) to keep the fixture small.
    rn = randomize(make_rn())
    sd = collections.OrderedDict((k, v.clone()) for k, v in rn.state_dict().items())
    rimg = torch.randn(2, 3, 64, 64).half()
    np.save("rn_images.npy", rimg.numpy())
    rimg = rimg.float()
    exp = expected(rn, rimg, ids)
    exp["heads2"] = expected(variant(make_rn, sd, heads=2), rimg, ids)
    with open("rn_expected.json", "w") as f:
        json.dump(exp, f)
    save_jit(rn, rimg, ids, "rn_jit.pt", 64)
    half = collections.OrderedDict((k, v.half() if v.dtype == torch.float32 else v) for k, v in sd.items())
    torch.save({"epoch": 3, "state_dict": collections.OrderedDict(("module." + k, v) for k, v in half.items())},
               "rn_openclip.bin")
    torch.save(half, "rn_legacy.pt", _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
