package clipasso

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	"github.com/goclip/goclip/nn/raster"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Tiny CLIPs at a 64×64 canvas: a ModifiedResNet for the loss and a ViT
// for the relevancy map (random weights: the tests check the machinery,
// not sketch quality).
func tinyRN(seed int64) *clip.Model {
	return clip.NewRandom(clip.Config{Name: "tiny-rn", EmbedDim: 16, Activation: nn.QuickGELUAct,
		Vision: clip.VisionConfig{Kind: clip.ResNet, ImageSize: 64, Width: 8, Heads: 2, ResNetLayers: [4]int{1, 1, 1, 1}},
		Text:   clip.TextConfig{ContextLength: 8, VocabSize: 16, Width: 16, Heads: 2, Layers: 1}}, seed)
}

func tinyViT(seed int64) *clip.Model {
	return clip.NewRandom(clip.Config{Name: "tiny-vit", EmbedDim: 16, Activation: nn.QuickGELUAct,
		Vision: clip.VisionConfig{Kind: clip.ViT, ImageSize: 64, Width: 16, Layers: 2, Heads: 2, PatchSize: 16},
		Text:   clip.TextConfig{ContextLength: 8, VocabSize: 16, Width: 16, Heads: 2, Layers: 1}}, seed)
}

// ringTarget is a 64×64 white image with a black ring (radius 18, 3 px).
func ringTarget(s int) (img []float64, edge []bool) {
	img = make([]float64, 3*s*s)
	edge = make([]bool, s*s)
	for y := range s {
		for x := range s {
			r := math.Hypot(float64(x)+0.5-32, float64(y)+0.5-32)
			v := 1.0
			if math.Abs(r-18) < 1.5 {
				v = 0
			}
			if math.Abs(r-18) < 3.5 {
				edge[y*s+x] = true
			}
			for c := range 3 {
				img[c*s*s+y*s+x] = v
			}
		}
	}
	return img, edge
}

// overlap is the fraction of a drawing's ink (1 − luminance) that lies
// within 2 px of the target's ring.
func overlap(t *testing.T, d *raster.Drawing, edge []bool) float64 {
	rgb, _, err := raster.RenderImage(d.Scene, d.Points, d.Radii, d.Colors)
	if err != nil {
		t.Fatal(err)
	}
	n := d.Scene.Width * d.Scene.Height
	var in, all float64
	for i := range n {
		ink := 1 - rgb[i]
		all += ink
		if edge[i] {
			in += ink
		}
	}
	return in / all
}

func tinyConfig() Config {
	c := Default()
	c.Size = 64
	c.Strokes = 4
	c.Iterations = 40
	c.EvalEvery = 5
	c.SaveEvery = 20
	c.Augmentations = 1
	c.LayerWeights = [5]float64{1, 1, 1, 0, 0}
	return c
}

func TestEndToEndRing(t *testing.T) {
	target, edge := ringTarget(64)
	models := Models{ResNet: tinyRN(1), ViT: tinyViT(2)}
	cfg := tinyConfig()
	dir := t.TempDir()
	out, err := NewOutput(dir)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	res, err := Run(target, models, cfg, Options{Out: out, Progress: func(it, total int, loss, ips float64) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if calls != res.Iters {
		t.Errorf("progress called %d times for %d iterations", calls, res.Iters)
	}
	first, last := res.Evals[0].Loss, res.BestLoss
	o0, o1 := overlap(t, res.Initial, edge), overlap(t, res.Best, edge)
	t.Logf("eval loss %.5f → best %.5f (iter %d of %d); ink on the ring %.3f → %.3f", first, last, res.BestIter, res.Iters, o0, o1)
	if !(last < 0.9*first) {
		t.Errorf("loss did not fall: %.5f → %.5f", first, last)
	}
	if !(o1 > o0+0.05) {
		t.Errorf("overlap with the target's edges did not improve: %.3f → %.3f", o0, o1)
	}
	for _, f := range []string{"target.png", "relevancy.png", "saliency.png", "init.svg", "init.png", "best.svg", "best.png", "final.svg", "final.png", "loss.csv", "svg_logs/svg_iter0.svg", "png_logs/iter20.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing output %s", f)
		}
	}
	// best.svg reads back as the best drawing.
	f, err := os.Open(filepath.Join(dir, "best.svg"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := raster.ReadSVG(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Scene.Paths) != cfg.Strokes || math.Abs(d.Radii[0]-1.5) > 1e-9 {
		t.Errorf("best.svg: %d paths, radius %v", len(d.Scene.Paths), d.Radii[0])
	}
	// From uniform random starts the strokes must move onto the ring.
	rc := cfg
	rc.AttentionInit = false
	rc.Iterations = 60
	rnd, err := Run(target, Models{ResNet: models.ResNet}, rc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r0, r1 := overlap(t, rnd.Initial, edge), overlap(t, rnd.Best, edge)
	t.Logf("random init: eval loss %.5f → %.5f; ink on the ring %.3f → %.3f", rnd.Evals[0].Loss, rnd.BestLoss, r0, r1)
	if !(r1 > r0+0.1) || !(rnd.BestLoss < 0.9*rnd.Evals[0].Loss) {
		t.Errorf("random init: overlap %.3f → %.3f, loss %.5f → %.5f", r0, r1, rnd.Evals[0].Loss, rnd.BestLoss)
	}
	// Deterministic for a seed.
	again, err := Run(target, models, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Final.Points, res.Final.Points) || again.BestLoss != res.BestLoss {
		t.Error("two runs with the same seed differ")
	}
}

// The gradient of the full loss (rasterizer → augment op → CLIP ResNet
// stem…layer2 L2 + embedding cosine) with respect to the control points,
// in float64, against central finite differences.
func TestLossGradientFiniteDifferences(t *testing.T) {
	m := tinyRN(3)
	b, err := clipResNetBackbone(m, [5]float64{0.5, 0, 1, 0, 0}, L2, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	restore := freeze(b.params)
	defer restore()
	const s = 64
	rng := rand.New(rand.NewPCG(5, 6))
	scene := raster.Scene{Width: s, Height: s, Background: raster.White, Samples: 2}
	var pts []float64
	for range 3 {
		scene.Paths = append(scene.Paths, raster.Path{Segments: []int{raster.Cubic}})
		pts = append(pts, NewStroke(rng, 16*s+16+rng.IntN(30)*(s+1), s)...)
	}
	for i := range pts { // spread the control points out
		pts[i] += 6 * (rng.Float64() - 0.5)
	}
	aug, err := NewAugmenter(2, s, s, b.mean, b.std)
	if err != nil {
		t.Fatal(err)
	}
	w, err := RandomAugment(rng, s, s, 0.5, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	if err := aug.Set([]*Warp{w}); err != nil {
		t.Fatal(err)
	}
	target, _ := ringTarget(s)
	// Target features from the same network (a float32 forward).
	o := &objective{backbones: []*backbone{b}, size: s, nAug: 1, target: target}
	clean, prog, tAug, err := o.targetPrograms(b)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	o.clean, o.tgtProg, o.tgtAug = [][]*tensor.Dense{clean}, []*nn.Program{prog}, []*Augmenter{tAug}
	if err := tAug.Set([]*Warp{w}); err != nil {
		t.Fatal(err)
	}
	tin, err := o.targetInputs(2)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []nntest.Input{{Shape: []int{len(pts) / 2, 2}, Data: pts}}
	for _, x := range tin {
		d := x.Data().([]float32)
		f := make([]float64, len(d))
		for i, v := range d {
			f[i] = float64(v)
		}
		inputs = append(inputs, nntest.Input{Shape: x.Shape().Clone(), Data: f, NoGrad: true})
	}
	radii := []float64{1.5, 1.5, 1.5}
	colors := []float64{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}
	nntest.GradCheckTol(t, 1e-5, func(g *nn.Graph, in []*G.Node) *G.Node {
		rad := g.Const("radii", radii, 3)
		col := g.Const("colors", colors, 3, 4)
		img, err := raster.Render(g.Expr(), scene, in[0], rad, col)
		if err != nil {
			return g.Fail(err)
		}
		total, _, _ := o.graph(g, img, []*Augmenter{aug}, in[1:])
		return g.Scale(total, 100)
	}, inputs...)
}
