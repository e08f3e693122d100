#!/usr/bin/python3
"""Writes PyTorch reference inputs and outputs for the nn op tests.

Run from the repository root with Debian's interpreter:
    /usr/bin/python3 nn/testdata/gen.py
Inputs are float32 (stored as <f4); references are computed in float64 from
those same float32 values and stored as <f4.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)


def save(name, t):
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    if a.dtype.kind == "f":
        a = a.astype("<f4")
    else:
        a = a.astype("<i8")
    np.save(os.path.join(OUT, name + ".npy"), a)


def rand(*shape, scale=1.0):
    """float32 random values, returned as float64 for the reference math."""
    return (torch.randn(*shape) * scale).float().double()


# layer_norm over the last axis
x = rand(6, 10, scale=3.0) + 2.0
w, b = rand(10), rand(10)
save("ln_x", x); save("ln_w", w); save("ln_b", b)
save("ln_y", F.layer_norm(x, (10,), w, b, 1e-5))

# softmax / log_softmax on two axes; rows far above the first element
x = rand(3, 4, 5, scale=2.0)
save("sm_x", x)
save("sm_y_axis1", F.softmax(x, dim=1))
save("sm_y_last", F.softmax(x, dim=-1))
save("lsm_y_axis1", F.log_softmax(x, dim=1))
x = rand(4, 6)
x[1] += 100.0  # > 88 above element 0: Gorgonia's tensor.SoftMax gives NaN here
x[3] -= 150.0
save("smbig_x", x)
save("smbig_y", F.softmax(x, dim=-1))
save("lsmbig_y", F.log_softmax(x, dim=-1))

# activations
x = torch.cat([torch.linspace(-8, 8, 81).double(), rand(40, scale=3.0)]).float().double()
save("act_x", x)
save("gelu_y", F.gelu(x))
save("quickgelu_y", x * torch.sigmoid(1.702 * x))

# pooling
x = rand(2, 3, 9, 8)
save("pool_x", x)
save("avgpool_k3s2p1", F.avg_pool2d(x, 3, 2, 1, count_include_pad=True))
save("avgpool_k2s2p0", F.avg_pool2d(x, 2, 2, 0))
save("maxpool_k3s2p1", F.max_pool2d(x, 3, 2, 1))
x = rand(1, 2, 10, 9)
save("apool_x", x)
save("apool_7x7", F.adaptive_avg_pool2d(x, (7, 7)))
save("apool_3x4", F.adaptive_avg_pool2d(x, (3, 4)))
save("gpool_y", x.mean(dim=(2, 3)))

# conv2d with bias, stride 2, padding 1
x, w, b = rand(2, 3, 9, 9), rand(4, 3, 3, 3), rand(4)
save("conv_x", x); save("conv_w", w); save("conv_b", b)
save("conv_y", F.conv2d(x, w, b, stride=2, padding=1))

# linear
x, w, b = rand(2, 5, 8), rand(6, 8), rand(6)
save("lin_x", x); save("lin_w", w); save("lin_b", b)
save("lin_y", F.linear(x, w, b))

# batch_norm, eval mode
x = rand(2, 3, 4, 4)
rm, rv = rand(3), rand(3).abs() + 0.5
w, b = rand(3), rand(3)
save("bn_x", x); save("bn_rm", rm); save("bn_rv", rv); save("bn_w", w); save("bn_b", b)
save("bn_y", F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5))

# embedding
table = rand(10, 4)
idx = torch.tensor([3, 0, 9, 3, 7, 1])
save("emb_table", table); save("emb_idx", idx)
save("emb_y", F.embedding(idx, table))

# nn.MultiheadAttention (batch_first): causal self-attention and a query subset
mha = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
with torch.no_grad():
    mha.in_proj_weight.copy_(rand(24, 8, scale=0.5))
    mha.in_proj_bias.copy_(rand(24, scale=0.5))
    mha.out_proj.weight.copy_(rand(8, 8, scale=0.5))
    mha.out_proj.bias.copy_(rand(8, scale=0.5))
x = rand(2, 5, 8)
mask = torch.full((5, 5), float("-inf")).triu_(1).double()
out, probs = mha(x, x, x, attn_mask=mask, need_weights=True, average_attn_weights=False)
save("mha_in_proj_weight", mha.in_proj_weight); save("mha_in_proj_bias", mha.in_proj_bias)
save("mha_out_proj_weight", mha.out_proj.weight); save("mha_out_proj_bias", mha.out_proj.bias)
save("mha_x", x); save("mha_out", out); save("mha_probs", probs)
q = x[:, :1]
out, probs = mha(q, x, x, need_weights=True, average_attn_weights=False)
save("mha_pool_out", out); save("mha_pool_probs", probs)

# attention probabilities with an additive mask, 2 heads of width 4
q, k, m = rand(2, 3, 8), rand(2, 4, 8), rand(3, 4)
qh = q.view(2, 3, 2, 4).transpose(1, 2)
kh = k.view(2, 4, 2, 4).transpose(1, 2)
save("ap_q", q); save("ap_k", k); save("ap_mask", m)
save("ap_probs", torch.softmax(qh @ kh.transpose(-1, -2) / 2.0 + m, dim=-1))
