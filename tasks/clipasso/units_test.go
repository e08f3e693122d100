package clipasso

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn/raster"
)

func TestConfigValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"Size": func(c *Config) { c.Size = 100 }, "Strokes": func(c *Config) { c.Strokes = 0 },
		"Width": func(c *Config) { c.Width = math.NaN() }, "LR": func(c *Config) { c.LR = 0 },
		"CropScale": func(c *Config) { c.CropScale = 1.5 }, "SoftmaxTemp": func(c *Config) { c.SoftmaxTemp = 0 },
		"Stages": func(c *Config) { c.Stages = 0 }, "Distance": func(c *Config) { c.Distance = 7 },
	} {
		c := Default()
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

// Sampling without replacement: distinct indices, only where p > 0, and
// frequencies that follow p for single draws.
func TestSaliencySample(t *testing.T) {
	s := &Saliency{Size: 4, Prob: make([]float64, 16)}
	s.Prob[1], s.Prob[5], s.Prob[10] = 0.7, 0.2, 0.1
	rng := rand.New(rand.NewPCG(1, 1))
	var counts [16]int
	for range 20000 {
		idx, err := s.Sample(rng, 1)
		if err != nil {
			t.Fatal(err)
		}
		counts[idx[0]]++
	}
	for i, p := range s.Prob {
		if f := float64(counts[i]) / 20000; math.Abs(f-p) > 0.015 {
			t.Errorf("index %d drawn %.3f of the time, p = %.2f", i, f, p)
		}
	}
	idx, err := s.Sample(rng, 3)
	if err != nil || len(idx) != 3 || idx[0] == idx[1] || idx[1] == idx[2] || idx[0] == idx[2] {
		t.Errorf("3 distinct draws: %v, %v", idx, err)
	}
	if _, err := s.Sample(rng, 4); err == nil {
		t.Error("more strokes than positive pixels accepted")
	}
}

// The softmax covers positive entries only and sums to one.
func TestNewSaliency(t *testing.T) {
	const n = 64
	rel := make([]float64, n*n)
	for i := range rel {
		rel[i] = float64(i%n) / n
	}
	target, edge := ringTarget(n)
	s, err := NewSaliency(rel, target, n, &[]XDoGConfig{DefaultXDoG()}[0], 0.3)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for i, p := range s.Prob {
		sum += p
		if p > 0 && s.Edges[i] != 0 {
			t.Fatalf("pixel %d off the XDoG edges has probability %g", i, p)
		}
		if p > 0 && !edge[i] {
			t.Fatalf("pixel %d far from the ring has probability %g", i, p)
		}
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("probabilities sum to %v", sum)
	}
	if _, err := NewSaliency(make([]float64, n*n), target, n, nil, 0.3); err == nil {
		t.Error("all-zero map accepted")
	}
}

func TestNewStrokeJitter(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	p := NewStroke(rng, 50*224+100, 224)
	if len(p) != 8 || p[0] != 100 || p[1] != 50 {
		t.Fatalf("stroke %v", p)
	}
	for i := 2; i < 8; i++ { // each step ≤ 0.025·224 = 5.6 px per axis
		if d := math.Abs(p[i] - p[i-2]); d > 5.6 {
			t.Errorf("step %d of %.2f px", i, d)
		}
	}
}

func TestPrepareTarget(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 20)) // transparent red half, opaque blue half
	for y := range 20 {
		for x := range 40 {
			if x < 20 {
				img.Set(x, y, color.NRGBA{255, 0, 0, 0})
			} else {
				img.Set(x, y, color.NRGBA{0, 0, 255, 255})
			}
		}
	}
	out, err := PrepareTarget(img, TargetOptions{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	n := 64 * 64
	if out[10*64+5] != 1 || out[2*n+10*64+5] != 1 { // transparent → white
		t.Errorf("transparent pixel = %v, %v", out[10*64+5], out[2*n+10*64+5])
	}
	if out[10*64+60] != 0 || out[2*n+10*64+60] != 1 {
		t.Errorf("blue pixel = %v, %v", out[10*64+60], out[2*n+10*64+60])
	}
	padded, err := PrepareTarget(img, TargetOptions{Size: 64, FixScale: true})
	if err != nil {
		t.Fatal(err)
	}
	if padded[2*64+32] != 1 || padded[32*64+48] != 0 { // white pad above, blue inside
		t.Errorf("fix_scale: top %v, inside %v", padded[2*64+32], padded[32*64+48])
	}
	mask := image.NewGray(image.Rect(0, 0, 4, 2)) // all dark: everything whitened
	masked, err := PrepareTarget(img, TargetOptions{Size: 64, Mask: mask})
	if err != nil {
		t.Fatal(err)
	}
	if masked[10*64+60] != 1 {
		t.Errorf("masked pixel = %v", masked[10*64+60])
	}
	if _, err := PrepareTarget(nil, TargetOptions{Size: 64}); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := PrepareTarget(img, TargetOptions{Size: 8}); err == nil {
		t.Error("size 8 accepted")
	}
}

// Stages add strokes and keep earlier ones fixed; resuming starts from
// the given strokes; the semantic ViT loss runs at the ViT's resolution.
func TestStagesResumeSemantic(t *testing.T) {
	target, _ := ringTarget(64)
	cfg := tinyConfig()
	cfg.Iterations, cfg.Stages, cfg.Strokes, cfg.SaveEvery = 6, 2, 2, 0
	cfg.SemanticWeight = 0.5
	vit := tinyViT(2)
	res, err := Run(target, Models{ResNet: tinyRN(1), ViT: vit}, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(res.Final.Scene.Paths); got != 4 {
		t.Fatalf("2 stages of 2 strokes gave %d paths", got)
	}
	if len(res.TermNames) != 5 || res.TermNames[4] != "clip_semantic/fc" {
		t.Errorf("terms %v", res.TermNames)
	}
	resume := &raster.Drawing{Scene: raster.Scene{Width: 128, Height: 128, Paths: []raster.Path{{Segments: []int{raster.Cubic}}}},
		Points: []float64{20, 20, 40, 30, 60, 30, 80, 20}, Radii: []float64{3}, Colors: []float64{0, 0, 0, 1}}
	cfg.Stages, cfg.SemanticWeight, cfg.Iterations = 1, 0, 2
	r2, err := Run(target, Models{ResNet: tinyRN(1), ViT: vit}, cfg, Options{Resume: resume})
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Initial.Scene.Paths) != 2 || r2.Initial.Points[0] != 10 || r2.Initial.Radii[0] != 1.5 {
		t.Errorf("resume: %d paths, first point %v, radius %v", len(r2.Initial.Scene.Paths), r2.Initial.Points[0], r2.Initial.Radii[0])
	}
	if _, err := Run(target, Models{}, cfg, Options{}); err == nil {
		t.Error("no models accepted")
	}
	if _, err := Run(target[:10], Models{ResNet: tinyRN(1)}, cfg, Options{}); err == nil {
		t.Error("short target accepted")
	}
}
