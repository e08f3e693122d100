// Package clipasso turns an image into an abstract sketch of a few black
// Bézier strokes, following CLIPasso (Vinker et al., 2022; the reference
// implementation is yael-vinker/CLIPasso, whose defaults are the defaults
// here).
//
// The method, step by step:
//
//  1. Target preparation (PrepareTarget): RGBA composited over white, an
//     optional object mask (a user mask image, or the automatic saliency
//     mask from CLIP relevancy) whitening the background, optional
//     fix_scale padding to a white square, bicubic resize to 224×224.
//  2. Stroke initialisation (Saliency, InitStrokes): the relevancy map of a
//     CLIP ViT (class-token attention averaged over heads and blocks,
//     bicubic upsampled, min-max normalised) intersected with XDoG edges,
//     softmax with temperature 0.3 over its positive entries, start pixels
//     sampled without replacement; each stroke is one cubic segment whose 4
//     control points walk from the start pixel with the original's
//     cumulative jitter 0.05·(U−0.5); black, width 1.5 (radius, diffvg's
//     convention).
//  3. Loss (Loss): the sketch is rendered by nn/raster, then a batch of the
//     clean pair plus Augmentations pairs of RandomPerspective(0.5) →
//     RandomResizedCrop(scale 0.8) — the same warp on sketch and target, a
//     differentiable resampling op on the sketch side — goes through CLIP
//     RN101: geometric L2 (or L1/cosine) distance of the layer2 and layer3
//     maps (weights configurable over stem…layer4) plus 0.1 × (1 − cos) of
//     the final embeddings. Alternatives: a VGG16/ResNet perceptual
//     backbone (vgg.Extractor) and an optional ViT CLIP semantic loss whose
//     target is the image or a text embedding.
//  4. Optimisation (Run): Adam (lr 1.0) on the control points, 2001
//     iterations, an evaluation without augmentation every 10 iterations
//     keeping the best sketch, early stop when the change stays ≤ 1e-5 twice;
//     optional width/opacity optimisation, stages, resuming from an SVG;
//     RunSeeds runs several seeds concurrently and keeps the best.
//
// Differences from the reference, all deliberate and documented where they
// occur: random numbers come from Go's PCG (not torch/numpy), so sketches
// match the original in distribution, not bit for bit; the rasterizer is
// nn/raster's analytic-coverage renderer (2×2 supersampling as CLIPasso
// asks of diffvg), not diffvg's edge sampling; the automatic object mask
// thresholds CLIP relevancy instead of running U²-Net; the best sketch saved
// is the one evaluated (the original saves the points after that
// iteration's update); the target's clean-pair features are computed once
// (the original recomputes identical values every step), while augmented
// target features are recomputed every step because their warps are new.
package clipasso
