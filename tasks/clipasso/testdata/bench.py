"""PyTorch counterpart of BenchmarkIterationRN101 (run with Debian's
/usr/bin/python3):

    /usr/bin/python3 tasks/clipasso/testdata/bench.py

CLIP RN101's image tower (OpenAI's ModifiedResNet: 3-conv stem, layers
(3, 4, 23, 3) of anti-aliased bottlenecks, attention pooling; written here
from the architecture, random weights, eval-mode BatchNorm) does what one
CLIPasso step asks of it: forward the 4 augmented targets without gradient,
forward the 5 sketch views (clean + 4), layer2+layer3 L2 plus 0.1·(1 − cos)
of the embeddings, backward to the input images. No rasterizer or
augmentation (PyTorch has no diffvg here), so this is the CLIP part only.
torch.set_num_threads(2), float32, CPU.
"""
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.down = None
        if stride > 1 or cin != 4 * planes:
            self.down = nn.Sequential(nn.AvgPool2d(stride) if stride > 1 else nn.Identity(),
                                      nn.Conv2d(cin, 4 * planes, 1, bias=False), nn.BatchNorm2d(4 * planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(self.pool(y)))
        return F.relu(y + (x if self.down is None else self.down(x)))


class RN101(nn.Module):
    def __init__(self, width=64, layers=(3, 4, 23, 3), embed=512, heads=32, res=224):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, width // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, width // 2, 3, 1, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), nn.AvgPool2d(2))
        cin, self.layers = width, nn.ModuleList()
        for i, n in enumerate(layers):
            planes = width << i
            blocks = []
            for j in range(n):
                blocks.append(Bottleneck(cin, planes, 2 if (i > 0 and j == 0) else 1))
                cin = 4 * planes
            self.layers.append(nn.Sequential(*blocks))
        c = 32 * width
        self.pos = nn.Parameter(torch.randn((res // 32) ** 2 + 1, c) / c ** 0.5)
        self.q, self.k, self.v, self.c = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, embed)
        self.heads = heads

    def forward(self, x):
        x = self.stem(x)
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        t = x.flatten(2).permute(2, 0, 1)  # (HW, N, C)
        t = torch.cat([t.mean(0, keepdim=True), t]) + self.pos[:, None, :]
        out, _ = F.multi_head_attention_forward(
            t[:1], t, t, t.shape[-1], self.heads, None, torch.cat([self.q.bias, self.k.bias, self.v.bias]),
            None, None, False, 0.0, self.c.weight, self.c.bias, training=False, need_weights=False,
            use_separate_proj_weight=True, q_proj_weight=self.q.weight, k_proj_weight=self.k.weight,
            v_proj_weight=self.v.weight)
        return feats, out[0]


m = RN101().eval()
for p in m.parameters():
    p.requires_grad_(False)
clean_t = torch.rand(1, 3, 224, 224)
with torch.no_grad():
    clean_feats, clean_fc = m(clean_t)


def step():
    targets = torch.rand(4, 3, 224, 224)
    with torch.no_grad():
        tf, tfc = m(targets)
    ys = [torch.cat([clean_feats[i], tf[i]]) for i in range(4)]
    yfc = torch.cat([clean_fc, tfc])
    x = torch.rand(5, 3, 224, 224, requires_grad=True)
    xf, xfc = m(x)
    loss = sum(((xf[i] - ys[i]) ** 2).mean() for i in (1, 2))
    loss = loss + 0.1 * (1 - F.cosine_similarity(xfc, yfc, dim=1)).mean()
    loss.backward()
    return x.grad


step()  # warm-up
n = 3
t0 = time.perf_counter()
for _ in range(n):
    step()
dt = (time.perf_counter() - t0) / n
print(f"pytorch {torch.__version__} threads {torch.get_num_threads()}: {dt:.3f} s/iter (RN101 CLIP part of a CLIPasso step, 5 pairs)")
