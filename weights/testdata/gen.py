#!/usr/bin/python3
"""Writes the tiny checkpoint fixtures of package weights and their manifest.

Run with Debian's interpreter from this directory:  /usr/bin/python3 gen.py

Files (all written by PyTorch itself, except st.safetensors which is written
here byte by byte following huggingface/safetensors' layout because the
`safetensors` package is not installed):
  st.safetensors   every dtype, scalar, zero-size tensor, __metadata__
  sd_zip.pt        torch.save zip state dict (views, strides, offsets, dtypes)
  sd_legacy.pt     the same dict, _use_new_zipfile_serialization=False
  wrapped.pt       {'state_dict': {'module.'+k: v}, 'epoch': .., 'arch': ..}
  script.pt        torch.jit.trace + torch.jit.save, nested fp16/fp32 module
  proto{1,3,4,5}_{zip,legacy}.pt  a small dict saved with other pickle protocols
  cuda_tag.pt      sd_zip.pt rewritten by zipfile with storage location 'cuda:0'
                   and a different archive prefix
  expected.json    for each file: tensor name, dtype, shape, sha256 of the
                   contiguous little-endian bytes, and (small tensors) the
                   float32 bit patterns of tensor.float()
"""
import collections
import hashlib
import io
import json
import struct
import zipfile

import numpy as np
import torch

torch.manual_seed(0)

ST_NAMES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
    torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
}
# huggingface/safetensors orders tensors by descending dtype (enum order), then name.
ST_ORDER = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]


def raw_bytes(t):
    """Contiguous little-endian bytes of t in its own dtype."""
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def f32_bits(t):
    f = t.detach().float().contiguous().numpy().reshape(-1)
    return [int(x) for x in f.view(np.uint32)]


def describe(name, t):
    d = {"name": name, "dtype": ST_NAMES[t.dtype], "shape": list(t.shape),
         "sha256": hashlib.sha256(raw_bytes(t)).hexdigest()}
    if t.numel() <= 256:
        d["f32bits"] = f32_bits(t)
    return d


def write_safetensors(path, tensors, metadata):
    items = sorted(tensors.items(), key=lambda kv: (-ST_ORDER.index(ST_NAMES[kv[1].dtype]), kv[0]))
    header = collections.OrderedDict()
    if metadata:
        header["__metadata__"] = metadata
    off = 0
    blobs = []
    for name, t in items:
        b = raw_bytes(t)
        header[name] = collections.OrderedDict(
            [("dtype", ST_NAMES[t.dtype]), ("shape", list(t.shape)), ("data_offsets", [off, off + len(b)])])
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def special_f16():
    # zeros, subnormals, normals, max, inf, nan
    bits = [0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x3555]
    return torch.tensor(np.array(bits, dtype=np.uint16).view(np.int16)).view(torch.float16)


def special_bf16():
    bits = [0x0000, 0x8000, 0x0001, 0x3f80, 0xbf80, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0x4049]
    return torch.tensor(np.array(bits, dtype=np.uint16).view(np.int16)).view(torch.bfloat16)


def all_dtypes():
    d = collections.OrderedDict()
    d["f32"] = torch.randn(3, 4)
    d["f16"] = special_f16()
    d["bf16"] = special_bf16()
    d["f64"] = torch.randn(2, 3, dtype=torch.float64)
    d["i64"] = torch.tensor([-3, 0, 7, 1 << 40], dtype=torch.int64)
    d["i32"] = torch.tensor([[-5, 6], [2147483647, -2147483648]], dtype=torch.int32)
    d["i16"] = torch.tensor([-32768, 1, 32767], dtype=torch.int16)
    d["i8"] = torch.tensor([-128, 5, 127], dtype=torch.int8)
    d["u8"] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["scalar"] = torch.tensor(2.5)
    d["empty"] = torch.zeros(0, 3)
    return d


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 2)


def state_dict():
    net = Net()
    net.bn.running_mean.uniform_()
    net.bn.running_var.uniform_(0.5, 2)
    d = collections.OrderedDict(net.state_dict())
    d.update(all_dtypes())
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    d["base"] = base
    d["base_t"] = base.t()               # strides (1, 6): non-contiguous view of base's storage
    d["base_rows"] = base[1:3]           # contiguous view with storage offset 6
    d["base_cols"] = base[:, 2:5]        # non-contiguous with offset
    d["base_step"] = base[::2, ::3]      # strided
    d["half_t"] = torch.randn(3, 5).half().t()
    d["expand"] = torch.tensor([1.0, 2.0]).expand(3, 2)   # stride 0
    d["permuted"] = torch.randn(2, 3, 4, dtype=torch.float64).permute(2, 0, 1)  # 3-D strided, 8-byte elements
    return d


class Attn(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(w, 2)
        self.ln_1 = torch.nn.LayerNorm(w)


class Transformer(torch.nn.Module):
    def __init__(self, w, n):
        super().__init__()
        self.resblocks = torch.nn.Sequential(*[Attn(w) for _ in range(n)])


class Visual(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, w, 2, 2, bias=False)
        self.class_embedding = torch.nn.Parameter(torch.randn(w))
        self.transformer = Transformer(w, 2)
        self.proj = torch.nn.Parameter(torch.randn(w, 3))


class Clipish(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = Visual(4)
        self.positional_embedding = torch.nn.Parameter(torch.randn(5, 4))
        self.logit_scale = torch.nn.Parameter(torch.tensor(4.6052))
        self.register_buffer("input_resolution", torch.tensor(224))
        self.visual.conv1.half()
        for blk in self.visual.transformer.resblocks:
            blk.attn.in_proj_weight.data = blk.attn.in_proj_weight.data.half()
            blk.attn.in_proj_bias.data = blk.attn.in_proj_bias.data.half()
        self.visual.proj.data = self.visual.proj.data.half()

    def forward(self, x):
        y = x @ self.visual.proj.float()
        return y * self.logit_scale.exp() + self.positional_embedding.sum()


def rewrite_cuda(src, dst):
    zin = zipfile.ZipFile(src)
    zout = zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED)
    for info in zin.infolist():
        data = zin.read(info.filename)
        name = "renamed_prefix/" + info.filename.split("/", 1)[1]
        if name.endswith("/data.pkl"):
            n = data.count(b"X\x03\x00\x00\x00cpu")
            assert n > 0, "location string not found"
            data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
        zout.writestr(name, data)
    zout.close()


def main():
    manifest = collections.OrderedDict()

    st = all_dtypes()
    write_safetensors("st.safetensors", st, {"format": "pt", "note": "goclip fixture"})
    manifest["st.safetensors"] = {"format": "safetensors", "ordered": False,
                                  "metadata": {"format": "pt", "note": "goclip fixture"},
                                  "tensors": [describe(k, v) for k, v in st.items()]}

    sd = state_dict()
    torch.save(sd, "sd_zip.pt")
    torch.save(sd, "sd_legacy.pt", _use_new_zipfile_serialization=False)
    rewrite_cuda("sd_zip.pt", "cuda_tag.pt")
    for fn, fmt in [("sd_zip.pt", "torch-zip"), ("sd_legacy.pt", "torch-legacy"), ("cuda_tag.pt", "torch-zip")]:
        back = torch.load(fn, map_location="cpu")
        assert list(back.keys()) == list(sd.keys())
        for k in sd:
            assert raw_bytes(back[k]) == raw_bytes(sd[k]) and back[k].stride() == sd[k].stride(), (fn, k)
        manifest[fn] = {"format": fmt, "ordered": True, "tensors": [describe(k, v) for k, v in back.items()]}

    # Other pickle protocols (torch.save's pickle_protocol): text LONG/INT in
    # protocol 1, FRAME/MEMOIZE/STACK_GLOBAL/SHORT_BINUNICODE in 4 and 5.
    small = collections.OrderedDict(
        half=torch.randn(3, 4).half(), strided=torch.arange(12.0).reshape(3, 4).t(), long=torch.tensor(7))
    for proto in [1, 3, 4, 5]:
        for fn, fmt, zipped in [(f"proto{proto}_zip.pt", "torch-zip", True), (f"proto{proto}_legacy.pt", "torch-legacy", False)]:
            torch.save(small, fn, pickle_protocol=proto, _use_new_zipfile_serialization=zipped)
            back = torch.load(fn)
            manifest[fn] = {"format": fmt, "ordered": True, "tensors": [describe(k, v) for k, v in back.items()]}

    inner = Net().state_dict()
    wrapped = {"epoch": 3, "arch": "net", "state_dict": collections.OrderedDict(("module." + k, v) for k, v in inner.items())}
    torch.save(wrapped, "wrapped.pt")
    manifest["wrapped.pt"] = {"format": "torch-zip", "ordered": True,
                              "tensors": [describe(k, v) for k, v in inner.items()]}

    m = Clipish().eval()
    traced = torch.jit.trace(m, torch.randn(2, 4))
    torch.jit.save(traced, "script.pt")
    loaded = torch.jit.load("script.pt", map_location="cpu")
    sd = loaded.state_dict()
    # data.pkl attribute order matches state_dict() order (checked by the Go test).
    manifest["script.pt"] = {"format": "torchscript", "ordered": True,
                             "tensors": [describe(k, v) for k, v in sd.items()]}

    # Exhaustive half / bfloat16 -> float32 conversion: sha256 of the float32
    # bytes of all 65536 bit patterns in order 0x0000 … 0xffff.
    allbits = torch.tensor(np.arange(65536, dtype=np.uint16).view(np.int16))
    manifest["conversions"] = {
        "f16_all_sha256": hashlib.sha256(allbits.view(torch.float16).float().numpy().tobytes()).hexdigest(),
        "bf16_all_sha256": hashlib.sha256(allbits.view(torch.bfloat16).float().numpy().tobytes()).hexdigest(),
    }

    with open("expected.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
