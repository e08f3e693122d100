"""Reference fixtures for tasks/clipasso (run with Debian's /usr/bin/python3,
which has numpy, scipy, scikit-image, torch and torchvision):

    cd tasks/clipasso/testdata && /usr/bin/python3 gen.py

xdog_*.npy: CLIPasso's XDoG_ (models/painter_params.py, yael-vinker/CLIPasso
    92262f7), reproduced line for line with scipy.ndimage.gaussian_filter,
    skimage.color.rgb2gray and skimage.filters.threshold_otsu, on a
    synthetic CLIP-normalised image (float64 throughout).
bicubic_*.npy: torch.nn.functional.interpolate(mode="bicubic",
    align_corners=False), the relevancy upsampling of CLIPasso's interpret.
warp_*.npy: torchvision's F.perspective(BILINEAR, fill=0) then
    F.resized_crop(BILINEAR), CLIPasso's RandomPerspective → RandomResizedCrop
    with fixed parameters, on a float64 image; plus the gradient of
    sum(out * w) with respect to the image (autograd).
"""
import numpy as np
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
from scipy.ndimage import gaussian_filter
from skimage.color import rgb2gray
from skimage.filters import threshold_otsu

rng = np.random.default_rng(7)

# ---- XDoG on a synthetic image: a dark disc, a bar and soft noise ----
H = W = 64
yy, xx = np.mgrid[0:H, 0:W]
img = np.ones((3, H, W))
disc = (yy - 30) ** 2 + (xx - 26) ** 2 < 14 ** 2
img[:, disc] = np.array([0.2, 0.3, 0.6])[:, None]
img[:, 45:50, 8:58] = np.array([0.8, 0.1, 0.1])[:, None, None]
img += 0.03 * rng.standard_normal(img.shape)
img = np.clip(img, 0, 1)
np.save("xdog_image.npy", img)  # (3, H, W) in [0, 1]
mean = np.array([0.48145466, 0.4578275, 0.40821073])[:, None, None]
std = np.array([0.26862954, 0.26130258, 0.27577711])[:, None, None]
norm = (img - mean) / std

gamma, phi, eps, sigma, k = 0.98, 200, -0.1, 0.8, 10
im = rgb2gray(norm.transpose(1, 2, 0))
imf1 = gaussian_filter(im, sigma)
imf2 = gaussian_filter(im, sigma * k)
imdiff = imf1 - gamma * imf2
imdiff = (imdiff < eps) * 1.0 + (imdiff >= eps) * (1.0 + np.tanh(phi * imdiff))
imdiff -= imdiff.min()
imdiff /= imdiff.max()
th = threshold_otsu(imdiff)
np.save("xdog_soft.npy", imdiff)
np.save("xdog_otsu.npy", np.array([th]))
np.save("xdog_binary.npy", (imdiff >= th).astype(np.float64))

# ---- bicubic upsampling 7x7 -> 56x56 ----
m = rng.random((7, 7))
np.save("bicubic_in.npy", m)
up = torch.nn.functional.interpolate(torch.tensor(m)[None, None], size=56, mode="bicubic", align_corners=False)
np.save("bicubic_out.npy", up[0, 0].numpy())

# ---- perspective + resized crop on a 3x32x32 image ----
S = 32
x = torch.tensor(rng.random((1, 3, S, S)), requires_grad=True)
start = [[0, 0], [S - 1, 0], [S - 1, S - 1], [0, S - 1]]
end = [[5, 3], [S - 4, 6], [S - 2, S - 7], [2, S - 3]]
top, left, side = 3, 2, 29
y = F.perspective(x, start, end, InterpolationMode.BILINEAR, fill=[0.0, 0.0, 0.0])
y = F.resized_crop(y, top, left, side, side, [S, S], InterpolationMode.BILINEAR)
w = torch.tensor(rng.standard_normal((1, 3, S, S)))
(y * w).sum().backward()
np.save("warp_in.npy", x.detach().numpy()[0])
np.save("warp_out.npy", y.detach().numpy()[0])
np.save("warp_w.npy", w.numpy()[0])
np.save("warp_grad.npy", x.grad.numpy()[0])
np.save("warp_params.npy", np.array([c for p in end for c in p] + [top, left, side], dtype=np.float64))
# The crop alone (torchvision 0.14 solves the perspective coefficients in
# float32, so the composed warp matches to ~1e-5 only; the crop is exact).
z = F.resized_crop(x.detach(), top, left, side, side, [S, S], InterpolationMode.BILINEAR)
np.save("crop_out.npy", z.numpy()[0])
print("ok: otsu", th, "edges", int((imdiff < th).sum()))
