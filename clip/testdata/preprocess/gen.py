#!/usr/bin/python3
"""Generate the preprocessing fixtures for clip/preprocess_test.go.

Run from the module root with Debian's interpreter (torchvision 0.14, Pillow 9.4):
  /usr/bin/python3 clip/testdata/preprocess/gen.py

Writes small test images and, per case, the uint8 (3, S, S) output of
torchvision's exact transform before ToTensor's /255 and Normalize:
  Resize(size, interpolation) -> CenterCrop(crop) -> convert("RGB") -> ToTensor()*255
which is OpenAI CLIP's clip._transform (BICUBIC, crop = size) without the
normalisation, or the torchvision ImageNet transform (BILINEAR, 256 -> 224
scaled down). ToTensor()*255 is exact on uint8 data, so the fixture is exact.
If ../shared/data/CLIP.png exists its 224 output is written too.
"""
import json
import os

import numpy as np
from PIL import Image
from torchvision import transforms as T

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(7)


def photo(w, h, channels=3):
    """A photo-like picture: gradients, a few soft shapes, noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([
        255 * x / max(w - 1, 1),
        255 * y / max(h - 1, 1),
        127 + 120 * np.sin(x / 5.0) * np.cos(y / 7.0),
    ], -1)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, max(w, h) / 2)
        col = rng.uniform(0, 255, 3)
        m = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))[..., None]
        base = base * (1 - m) + col * m
    base = base + rng.normal(0, 18, base.shape)
    img = np.clip(np.rint(base), 0, 255).astype(np.uint8)
    if channels == 1:
        return img[..., 0]
    return img


def save(name, im):
    path = os.path.join(here, name)
    if name.endswith(".jpg"):
        im.save(path, quality=90)
    else:
        im.save(path)
    return name


images = {}
images["photo_80x60.png"] = save("photo_80x60.png", Image.fromarray(photo(80, 60)))
images["odd_37x53.png"] = save("odd_37x53.png", Image.fromarray(photo(37, 53)))
images["wide_79x13.png"] = save("wide_79x13.png", Image.fromarray(photo(79, 13)))
rgba = np.concatenate([photo(45, 30), np.zeros((30, 45, 1), np.uint8)], -1)
alpha = np.clip(rng.uniform(-60, 320, (30, 45)), 0, 255).astype(np.uint8)
alpha[:, :6] = 0
alpha[:, -6:] = 255
rgba[..., 3] = alpha
images["rgba_45x30.png"] = save("rgba_45x30.png", Image.fromarray(rgba, "RGBA"))
images["gray_31x40.png"] = save("gray_31x40.png", Image.fromarray(photo(31, 40, 1), "L"))
la = np.stack([photo(30, 20, 1), np.clip(rng.uniform(0, 400, (20, 30)), 0, 255).astype(np.uint8)], -1)
images["la_30x20.png"] = save("la_30x20.png", Image.fromarray(la, "LA"))
pal = Image.fromarray(photo(40, 33)).quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
images["pal_40x33.gif"] = save("pal_40x33.gif", pal)
images["photo_64x48.jpg"] = save("photo_64x48.jpg", Image.fromarray(photo(64, 48)))

BICUBIC = T.InterpolationMode.BICUBIC
BILINEAR = T.InterpolationMode.BILINEAR
cases = [
    ("photo_80x60.png", 32, 32, "bicubic"), ("photo_80x60.png", 97, 97, "bicubic"),
    ("photo_80x60.png", 59, 59, "bicubic"), ("odd_37x53.png", 24, 24, "bicubic"),
    ("odd_37x53.png", 61, 61, "bicubic"), ("odd_37x53.png", 37, 37, "bicubic"),
    ("wide_79x13.png", 13, 13, "bicubic"), ("wide_79x13.png", 7, 7, "bicubic"),
    ("rgba_45x30.png", 20, 20, "bicubic"), ("rgba_45x30.png", 50, 50, "bicubic"),
    ("gray_31x40.png", 16, 16, "bicubic"), ("la_30x20.png", 15, 15, "bicubic"),
    ("pal_40x33.gif", 21, 21, "bicubic"), ("pal_40x33.gif", 50, 50, "bicubic"),
    ("photo_64x48.jpg", 32, 32, "bicubic"),
    ("photo_80x60.png", 40, 36, "bilinear"), ("odd_37x53.png", 70, 64, "bilinear"),
    ("rgba_45x30.png", 23, 21, "bilinear"),
]

out = []


def run(src, size, crop, mode, name):
    im = Image.open(os.path.join(here, src) if not os.path.isabs(src) else src)
    tf = T.Compose([
        T.Resize(size, interpolation=BICUBIC if mode == "bicubic" else BILINEAR),
        T.CenterCrop(crop),
        lambda im: im.convert("RGB"),
        T.ToTensor(),
    ])
    t = tf(im)
    arr = np.rint(t.numpy() * 255).astype(np.uint8)
    np.save(os.path.join(here, name), arr)
    return {"image": src, "mode": im.mode, "size": size, "crop": crop, "resample": mode, "expected": name}


for src, size, crop, mode in cases:
    stem = src.split(".")[0]
    out.append(run(src, size, crop, mode, "%s_%s_%d_%d.npy" % (stem, mode, size, crop)))

# Plain PIL resize to a given w x h (ResizeBicubic), RGB(A) kept.
resized = []
for src, w, h in [("photo_80x60.png", 51, 23), ("rgba_45x30.png", 90, 17), ("odd_37x53.png", 37, 20)]:
    im = Image.open(os.path.join(here, src))
    r = np.asarray(im.resize((w, h), Image.Resampling.BICUBIC))
    name = "%s_resize_%dx%d.npy" % (src.split(".")[0], w, h)
    np.save(os.path.join(here, name), r)
    resized.append({"image": src, "w": w, "h": h, "expected": name})

clip_png = os.path.join(here, "../../../../shared/data/CLIP.png")
if os.path.exists(clip_png):
    case = run(os.path.abspath(clip_png), 224, 224, "bicubic", "clip_png_224.npy")
    case["image"] = "../shared/data/CLIP.png"
    out.append(case)

json.dump({"generator": "clip/testdata/preprocess/gen.py (torchvision 0.14.1, Pillow 9.4.0)",
           "cases": out, "resize": resized},
          open(os.path.join(here, "cases.json"), "w"), indent=1)
print(len(out), "cases")
