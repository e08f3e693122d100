"""Reference renderings and gradients for nn/raster, computed with PyTorch.

An independent float64 implementation of the same model (box-filtered
coverage of the distance to the closest point of each stroke, "over"
compositing in path order, n×n supersampling) whose gradients come from
torch.autograd instead of hand-written backward code. The closest-point
parameter is found by a dense search (2049 values) plus Newton steps, then
detached (envelope theorem).

Run with Debian's interpreter:  /usr/bin/python3 nn/raster/testdata/gen.py
Writes nn/raster/testdata/torch_ref.json.
"""
import json
import os

import torch

torch.manual_seed(0)
DT = torch.float64

W, H = 32, 24
BG = [0.9, 0.85, 0.8, 1.0]
# (segment codes: 0 line, 1 quadratic, 2 cubic), closed
PATHS = [([2], False), ([0, 1, 2], False), ([2, 0], True), ([1], False), ([2, 2], False)]


def num_points(segs, closed):
    return sum(s + 1 for s in segs) + (0 if closed else 1)


def segments(paths):
    """Per segment: (path index, list of point indices)."""
    out, first = [], 0
    for p, (segs, closed) in enumerate(paths):
        cur = first
        for j, s in enumerate(segs):
            idx = [cur + k for k in range(s + 2)]
            if closed and j == len(segs) - 1:
                idx[-1] = first
            cur += s + 1
            out.append((p, idx))
        first += num_points(segs, closed)
    return out


def bezier(ctrl, t):
    """ctrl (k, 2), t (M,) -> (M, 2) and the first two derivatives."""
    n = ctrl.shape[0] - 1
    t = t[:, None]
    u = 1 - t
    if n == 1:
        b = u * ctrl[0] + t * ctrl[1]
        d1 = (ctrl[1] - ctrl[0]).expand_as(b)
        d2 = torch.zeros_like(b)
    elif n == 2:
        b = u * u * ctrl[0] + 2 * u * t * ctrl[1] + t * t * ctrl[2]
        d1 = 2 * u * (ctrl[1] - ctrl[0]) + 2 * t * (ctrl[2] - ctrl[1])
        d2 = (2 * (ctrl[2] - 2 * ctrl[1] + ctrl[0])).expand_as(b)
    else:
        b = u**3 * ctrl[0] + 3 * u * u * t * ctrl[1] + 3 * u * t * t * ctrl[2] + t**3 * ctrl[3]
        d1 = 3 * u * u * (ctrl[1] - ctrl[0]) + 6 * u * t * (ctrl[2] - ctrl[1]) + 3 * t * t * (ctrl[3] - ctrl[2])
        d2 = 6 * u * (ctrl[2] - 2 * ctrl[1] + ctrl[0]) + 6 * t * (ctrl[3] - 2 * ctrl[2] + ctrl[1])
    return b, d1, d2


def closest_t(ctrl, pts):
    with torch.no_grad():
        grid = torch.linspace(0, 1, 2049, dtype=DT)
        b, _, _ = bezier(ctrl, grid)
        d2 = ((pts[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        t = grid[d2.argmin(1)]
        for _ in range(30):
            b, d1, dd = bezier(ctrl, t)
            e = b - pts
            g = (e * d1).sum(-1)
            h = (d1 * d1).sum(-1) + (e * dd).sum(-1)
            step = torch.where(h > 0, g / h, torch.zeros_like(g))
            t = (t - step).clamp(0, 1)
    return t


def render(points, radii, colors, n):
    hw = 0.5 / n
    ys, xs = torch.meshgrid(torch.arange(H * n, dtype=DT), torch.arange(W * n, dtype=DT), indexing="ij")
    pts = torch.stack([(xs.reshape(-1) + 0.5) / n, (ys.reshape(-1) + 0.5) / n], 1)
    segs = segments(PATHS)
    bg = torch.tensor(BG, dtype=DT)
    c = (bg[:3] * bg[3]).expand(pts.shape[0], 3)
    for p in range(len(PATHS)):
        ds = []
        for sp, idx in segs:
            if sp != p:
                continue
            ctrl = points[idx]
            t = closest_t(ctrl, pts)
            b, _, _ = bezier(ctrl, t)
            ds.append(((pts - b) ** 2).sum(-1).sqrt())
        d = torch.stack(ds, 0).min(0).values
        r = radii[p]
        cov = ((torch.minimum(d + hw, r) - torch.maximum(d - hw, -r)) / (2 * hw)).clamp(min=0)
        a = cov * colors[p, 3]
        c = c * (1 - a[:, None]) + a[:, None] * colors[p, :3]
    img = c.reshape(H, n, W, n, 3).mean((1, 3))  # (H, W, 3)
    return img.permute(2, 0, 1)  # (3, H, W)


def case(n):
    npts = sum(num_points(s, c) for s, c in PATHS)
    points = (torch.rand(npts, 2, dtype=DT) * torch.tensor([W, H], dtype=DT)).requires_grad_()
    radii = (0.4 + 2.0 * torch.rand(len(PATHS), dtype=DT)).requires_grad_()
    colors = torch.rand(len(PATHS), 4, dtype=DT)
    colors[:, 3] = 0.4 + 0.6 * colors[:, 3]
    colors.requires_grad_()
    wts = torch.rand(3, H, W, dtype=DT) * 2 - 1
    img = render(points, radii, colors, n)
    (img * wts).sum().backward()
    flat = lambda x: x.detach().reshape(-1).tolist()
    return {
        "samples": n,
        "points": flat(points), "radii": flat(radii), "colors": flat(colors), "weights": flat(wts),
        "image": flat(img), "d_points": flat(points.grad), "d_radii": flat(radii.grad), "d_colors": flat(colors.grad),
    }


def main():
    out = {
        "width": W, "height": H, "background": BG,
        "paths": [{"segments": s, "closed": c} for s, c in PATHS],
        "cases": [case(1), case(3)],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
