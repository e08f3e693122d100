package clipasso

import (
	"fmt"
	"math"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn/raster"
	"github.com/goclip/goclip/vgg"
)

// Config holds every setting of a sketch run. Default returns CLIPasso's.
type Config struct {
	Size    int     // canvas side (224)
	Strokes int     // strokes per stage (16)
	Width   float64 // stroke radius in pixels, diffvg's convention (1.5: 3 px lines)
	Samples int     // raster supersampling per axis (2, as CLIPasso asks of diffvg)

	Iterations int     // optimisation steps per stage (2001)
	LR         float64 // Adam learning rate on the points (1.0)
	EvalEvery  int     // evaluate without augmentation every this many steps (10)
	SaveEvery  int     // write svg_logs/png_logs every this many steps (10; 0 = never)
	MinDelta   float64 // early stop when |eval − best| ≤ MinDelta twice in a row (1e-5)
	Stages     int     // num_stages (1): each stage adds Strokes strokes, earlier ones frozen

	OptimizeWidth   bool    // also optimise stroke radii (not in CLIPasso), lr LR·WidthLRScale
	WidthLRScale    float64 // 0.1
	OptimizeOpacity bool    // CLIPasso's force_sparse: optimise stroke alpha (RGB kept black), lr ColorLR
	ColorLR         float64 // 0.01

	Augmentations int     // augmented pairs per step (4), plus the clean pair
	Distortion    float64 // RandomPerspective distortion_scale (0.5)
	CropScale     float64 // RandomResizedCrop scale (0.8)

	SoftmaxTemp   float64     // saliency softmax temperature (0.3)
	XDoG          *XDoGConfig // edges intersected with the relevancy; nil = relevancy only
	AttentionInit bool        // start strokes from saliency (needs Models.ViT); false = uniform random starts

	Distance       Distance   // geometric distance (L2)
	LayerWeights   [5]float64 // stem, layer1…layer4 of the CLIP ResNet (0, 0, 1, 1, 0)
	FCWeight       float64    // (1 − cos) of the CLIP ResNet embeddings (0.1)
	SemanticWeight float64    // ViT CLIP semantic loss (0 = off, CLIPasso's train_with_clip)

	Seed int64 // RNG seed of initialisation and augmentations
}

// Default is CLIPasso's configuration (run_object_sketching.py defaults).
func Default() Config {
	x := DefaultXDoG()
	return Config{
		Size: 224, Strokes: 16, Width: 1.5, Samples: 2,
		Iterations: 2001, LR: 1.0, EvalEvery: 10, SaveEvery: 10, MinDelta: 1e-5, Stages: 1,
		WidthLRScale: 0.1, ColorLR: 0.01,
		Augmentations: 4, Distortion: 0.5, CropScale: 0.8,
		SoftmaxTemp: 0.3, XDoG: &x, AttentionInit: true,
		Distance: L2, LayerWeights: [5]float64{0, 0, 1, 1, 0}, FCWeight: 0.1,
	}
}

// Validate reports the first bad setting.
func (c Config) Validate() error {
	bad := func(what string, v any) error { return fmt.Errorf("clipasso: config: %s = %v is invalid", what, v) }
	switch {
	case c.Size < 32 || c.Size%32 != 0:
		return bad("Size (a multiple of 32, at least 32)", c.Size)
	case c.Strokes < 1:
		return bad("Strokes", c.Strokes)
	case !(c.Width > 0) || math.IsInf(c.Width, 0):
		return bad("Width", c.Width)
	case c.Samples < 0 || c.Samples > raster.MaxSamples:
		return bad("Samples", c.Samples)
	case c.Iterations < 1:
		return bad("Iterations", c.Iterations)
	case !(c.LR > 0):
		return bad("LR", c.LR)
	case c.EvalEvery < 1:
		return bad("EvalEvery", c.EvalEvery)
	case c.SaveEvery < 0:
		return bad("SaveEvery", c.SaveEvery)
	case c.MinDelta < 0:
		return bad("MinDelta", c.MinDelta)
	case c.Stages < 1:
		return bad("Stages", c.Stages)
	case c.Augmentations < 0:
		return bad("Augmentations", c.Augmentations)
	case c.Distortion < 0 || c.Distortion > 1:
		return bad("Distortion", c.Distortion)
	case !(c.CropScale > 0) || c.CropScale > 1:
		return bad("CropScale", c.CropScale)
	case !(c.SoftmaxTemp > 0):
		return bad("SoftmaxTemp", c.SoftmaxTemp)
	case c.Distance < L2 || c.Distance > Cosine:
		return bad("Distance", c.Distance)
	case c.OptimizeWidth && !(c.WidthLRScale > 0):
		return bad("WidthLRScale", c.WidthLRScale)
	case c.OptimizeOpacity && !(c.ColorLR > 0):
		return bad("ColorLR", c.ColorLR)
	}
	return nil
}

// Models are the networks a run uses.
type Models struct {
	// ResNet is the CLIP ResNet of the geometric and fc losses (RN101 in
	// CLIPasso). nil skips them (then Perceptual or a semantic loss must
	// be set).
	ResNet *clip.Model
	// ViT is the CLIP ViT for the relevancy map (ViT-B/32 in CLIPasso) and
	// the optional semantic loss.
	ViT *clip.Model
	// Perceptual is an alternative feature backbone (a vgg.Model or
	// resnet.Model) compared at PerceptualLayers with Config.Distance.
	Perceptual       vgg.Extractor
	PerceptualLayers []vgg.LayerWeight
	// TextEmbedding, when set, is the semantic loss's target instead of
	// the target image's ViT embedding (e.g. ViT.EncodeText of a caption).
	TextEmbedding []float32
}
