package clipasso

import (
	"math/rand/v2"
	"testing"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/optim"
	"github.com/goclip/goclip/nn/raster"
)

// BenchmarkIterationRN101 times one CLIPasso optimisation step at the
// defaults: 224×224, 16 strokes, RN101 (random weights) layer2+layer3 L2
// and fc loss over 5 pairs (clean + 4 augmented): draw warps, the 4
// augmented targets' forward, render, sketch forward+backward to the
// points, Adam. Compare with testdata/bench.py (PyTorch, 2 threads).
// Slow: run with -run=^$ -bench=IterationRN101 -benchtime=1x.
func BenchmarkIterationRN101(b *testing.B) {
	m := clip.NewRandom(clip.RN101(), 1)
	cfg := Default()
	target, _ := ringTarget(224)
	bb, err := clipResNetBackbone(m, cfg.LayerWeights, cfg.Distance, cfg.FCWeight)
	if err != nil {
		b.Fatal(err)
	}
	obj, err := newObjective([]*backbone{bb}, target, 224, cfg.Augmentations)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	d := &raster.Drawing{Scene: raster.Scene{Width: 224, Height: 224, Background: raster.White, Samples: 2}}
	for range cfg.Strokes {
		d.Scene.Paths = append(d.Scene.Paths, raster.Path{Segments: []int{raster.Cubic}})
		d.Points = append(d.Points, NewStroke(rng, rng.IntN(224*224), 224)...)
		d.Radii = append(d.Radii, cfg.Width)
		d.Colors = append(d.Colors, 0, 0, 0, 1)
	}
	sp := newSketchParams(d)
	sp.radii.Frozen, sp.colors.Frozen = true, true
	progs, err := obj.compile(d.Scene, sp)
	if err != nil {
		b.Fatal(err)
	}
	defer progs.Close()
	adam := optim.NewAdamW([]optim.Group{{Params: []*nn.Param{sp.points}}})
	step := func() {
		if err := obj.setWarps(rng, progs.trainAugs, cfg.Distortion, cfg.CropScale); err != nil {
			b.Fatal(err)
		}
		in, err := obj.targetInputs(obj.nAug + 1)
		if err != nil {
			b.Fatal(err)
		}
		_, grads, err := progs.step.Run(in...)
		if err != nil {
			b.Fatal(err)
		}
		if err := adam.Step(cfg.LR, grads); err != nil {
			b.Fatal(err)
		}
	}
	step() // warm-up: first-run allocations
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/iter")
}
