package clipasso

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/optim"
	"github.com/goclip/goclip/nn/raster"
	"gorgonia.org/tensor"
)

// Eval is one evaluation (no augmentation) of the sketch.
type Eval struct {
	Iter  int       // global iteration (over all stages)
	Loss  float64   // total
	Terms []float64 // weighted terms, in Result.TermNames order
}

// Progress reports a training step: the global iteration, its total
// (augmented) loss and the iterations per second so far.
type Progress func(iter, total int, loss, itPerSec float64)

// Result is the outcome of one run.
type Result struct {
	Seed      int64
	Initial   *raster.Drawing // the strokes before optimisation
	Best      *raster.Drawing // the sketch with the lowest evaluation loss
	Final     *raster.Drawing
	BestLoss  float64
	BestIter  int
	Evals     []Eval
	TermNames []string
	Saliency  *Saliency // nil without attention initialisation
	Iters     int       // iterations run (early stop may cut them short)
	Stopped   bool      // early stop triggered
}

// Options are the side channels of a run.
type Options struct {
	Resume   *raster.Drawing // start from these strokes (CLIPasso's path_svg); more are added up to Strokes
	Progress Progress        // called after every step; may be nil
	Out      *Output         // writes best.svg etc.; may be nil
}

// Run sketches target (3, Size, Size) in [0, 1] (see PrepareTarget).
func Run(target []float64, models Models, cfg Config, opt Options) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := cfg.Size
	if len(target) != 3*s*s {
		return nil, fmt.Errorf("clipasso: target has %d values, want 3×%d×%d", len(target), s, s)
	}
	bbs, err := backbones(target, models, cfg)
	if err != nil {
		return nil, err
	}
	obj, err := newObjective(bbs, target, s, cfg.Augmentations)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed))
	res := &Result{Seed: cfg.Seed, TermNames: obj.termNames(), BestLoss: math.Inf(1)}

	// Start pixels for every stage.
	need := cfg.Strokes * cfg.Stages
	var starts []int
	if cfg.AttentionInit {
		if models.ViT == nil {
			return nil, fmt.Errorf("clipasso: attention initialisation needs Models.ViT (or set AttentionInit false)")
		}
		rel, err := Relevancy(models.ViT, ResizeTo(target, s, models.ViT.Config().Vision.ImageSize), s)
		if err != nil {
			return nil, err
		}
		sal, err := NewSaliency(rel, target, s, cfg.XDoG, cfg.SoftmaxTemp)
		if err != nil {
			return nil, err
		}
		res.Saliency = sal
		if starts, err = sal.Sample(rng, need); err != nil {
			return nil, err
		}
	} else {
		for range need {
			starts = append(starts, rng.IntN(s*s))
		}
	}

	d := &raster.Drawing{Scene: raster.Scene{Width: s, Height: s, Background: raster.White, Samples: cfg.Samples}}
	if opt.Resume != nil {
		r := *opt.Resume
		r.Points = append([]float64(nil), r.Points...)
		r.Radii = append([]float64(nil), r.Radii...)
		r.Colors = append([]float64(nil), r.Colors...)
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("clipasso: resume: %w", err)
		}
		if r.Scene.Width != s || r.Scene.Height != s {
			r.Resize(s, s)
		}
		d.Scene.Paths = append(d.Scene.Paths, r.Scene.Paths...)
		d.Points, d.Radii, d.Colors = r.Points, r.Radii, r.Colors
	}
	next := 0
	addStrokes := func(k int) {
		for range k {
			d.Scene.Paths = append(d.Scene.Paths, raster.Path{Segments: []int{raster.Cubic}})
			d.Points = append(d.Points, NewStroke(rng, starts[next], s)...)
			d.Radii = append(d.Radii, cfg.Width)
			d.Colors = append(d.Colors, 0, 0, 0, 1)
			next++
		}
	}
	addStrokes(max(0, cfg.Strokes-len(d.Scene.Paths)))
	res.Initial = cloneDrawing(d)
	if opt.Out != nil {
		if err := opt.Out.start(res, target); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	iter := 0
	for stage := range cfg.Stages {
		if stage > 0 {
			addStrokes(cfg.Strokes)
		}
		frozenPts := 0 // points of strokes from earlier stages
		if stage > 0 {
			frozenPts = 2 * (d.Scene.NumPoints() - 4*cfg.Strokes)
		}
		stopped, err := runStage(obj, d, cfg, opt, rng, res, &iter, frozenPts, start)
		if err != nil {
			return nil, err
		}
		if stopped {
			res.Stopped = true
			break
		}
	}
	res.Iters = iter
	res.Final = cloneDrawing(d)
	if res.Best == nil {
		res.Best = cloneDrawing(d)
	}
	if opt.Out != nil {
		if err := opt.Out.finish(res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// backbones assembles the loss networks of cfg.
func backbones(target []float64, m Models, cfg Config) ([]*backbone, error) {
	var out []*backbone
	if m.ResNet != nil {
		b, err := clipResNetBackbone(m.ResNet, cfg.LayerWeights, cfg.Distance, cfg.FCWeight)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if m.Perceptual != nil {
		b, err := perceptualBackbone(m.Perceptual, m.PerceptualLayers, cfg.Distance)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if cfg.SemanticWeight != 0 {
		if m.ViT == nil {
			return nil, fmt.Errorf("clipasso: SemanticWeight needs Models.ViT")
		}
		emb := m.TextEmbedding
		if emb == nil {
			r := m.ViT.Config().Vision.ImageSize
			norm := Normalize(ResizeTo(target, cfg.Size, r), r, r)
			px := make([]float32, len(norm))
			for i, v := range norm {
				px[i] = float32(v)
			}
			e, err := m.ViT.EncodeImage(px, 1)
			if err != nil {
				return nil, fmt.Errorf("clipasso: semantic target: %w", err)
			}
			emb = e
		}
		b, err := semanticBackbone(m.ViT, cfg.SemanticWeight, emb)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("clipasso: no loss: set Models.ResNet, Models.Perceptual or a SemanticWeight with Models.ViT")
	}
	return out, nil
}

// ResizeTo resamples a (3, s, s) image to (3, r, r): identity when r == s
// (the usual 224 case), a box average when r divides s, else bilinear.
func ResizeTo(img []float64, s, r int) []float64 {
	if r == s {
		return img
	}
	out := make([]float64, 3*r*r)
	if s%r == 0 {
		k := s / r
		for c := range 3 {
			for y := range s {
				for x := range s {
					out[c*r*r+(y/k)*r+x/k] += img[c*s*s+y*s+x] / float64(k*k)
				}
			}
		}
		return out
	}
	for c := range 3 {
		p := img[c*s*s:]
		for y := range r {
			y0, y1, fy := linearSrc(y, float64(s)/float64(r), s)
			for x := range r {
				x0, x1, fx := linearSrc(x, float64(s)/float64(r), s)
				out[c*r*r+y*r+x] = (1-fy)*((1-fx)*p[y0*s+x0]+fx*p[y0*s+x1]) + fy*((1-fx)*p[y1*s+x0]+fx*p[y1*s+x1])
			}
		}
	}
	return out
}

func cloneDrawing(d *raster.Drawing) *raster.Drawing {
	c := &raster.Drawing{Scene: d.Scene}
	c.Scene.Paths = append([]raster.Path(nil), d.Scene.Paths...)
	c.Points = append([]float64(nil), d.Points...)
	c.Radii = append([]float64(nil), d.Radii...)
	c.Colors = append([]float64(nil), d.Colors...)
	return c
}

// drawingOf reads the current parameter values into a drawing of scene.
func drawingOf(scene raster.Scene, sp sketchParams) *raster.Drawing {
	f64 := func(p *nn.Param) []float64 {
		d := p.Data()
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	d := &raster.Drawing{Scene: scene, Points: f64(sp.points), Radii: f64(sp.radii), Colors: f64(sp.colors)}
	d.Scene.Paths = append([]raster.Path(nil), scene.Paths...)
	return d
}

// runStage optimises d for cfg.Iterations steps (or until early stop).
// The first frozenPts point coordinates are kept fixed.
func runStage(obj *objective, d *raster.Drawing, cfg Config, opt Options, rng *rand.Rand, res *Result, iter *int, frozenPts int, start time.Time) (bool, error) {
	sp := newSketchParams(d)
	sp.radii.Frozen = !cfg.OptimizeWidth
	sp.colors.Frozen = !cfg.OptimizeOpacity
	progs, err := obj.compile(d.Scene, sp)
	if err != nil {
		return false, err
	}
	defer progs.Close()
	groups := []optim.Group{{Name: "points", Params: []*nn.Param{sp.points}}}
	if cfg.OptimizeWidth {
		groups = append(groups, optim.Group{Name: "radii", Params: []*nn.Param{sp.radii}, LRScale: cfg.WidthLRScale})
	}
	if cfg.OptimizeOpacity {
		groups = append(groups, optim.Group{Name: "colors", Params: []*nn.Param{sp.colors}, LRScale: cfg.ColorLR / cfg.LR})
	}
	adam := optim.NewAdamW(groups) // weight decay 0: plain Adam
	frozen := append([]float32(nil), sp.points.Data()[:frozenPts]...)
	terminate := false
	total := cfg.Iterations * cfg.Stages
	evalIn, err := obj.targetInputs(1)
	if err != nil {
		return false, err
	}
	for range cfg.Iterations {
		it := *iter
		before := drawingOf(d.Scene, sp)
		if err := obj.setWarps(rng, progs.trainAugs, cfg.Distortion, cfg.CropScale); err != nil {
			return false, err
		}
		in, err := obj.targetInputs(obj.nAug + 1)
		if err != nil {
			return false, err
		}
		loss, grads, err := progs.step.Run(in...)
		if err != nil {
			return false, fmt.Errorf("clipasso: iteration %d: %w", it, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return false, fmt.Errorf("clipasso: iteration %d: loss is %v", it, loss)
		}
		if err := adam.Step(cfg.LR, grads); err != nil {
			return false, fmt.Errorf("clipasso: iteration %d: %w", it, err)
		}
		copy(sp.points.Data(), frozen)
		if cfg.OptimizeOpacity { // force_sparse: black strokes, alpha in [0, 1]
			c := sp.colors.Data()
			for i := 0; i < len(c); i += 4 {
				c[i], c[i+1], c[i+2] = 0, 0, 0
				c[i+3] = min(max(c[i+3], 0), 1)
			}
		}
		if cfg.OptimizeWidth {
			for i, r := range sp.radii.Data() {
				sp.radii.Data()[i] = max(r, 0.1)
			}
		}
		*iter++
		if opt.Out != nil && cfg.SaveEvery > 0 && it%cfg.SaveEvery == 0 {
			if err := opt.Out.log(it, before); err != nil {
				return false, err
			}
		}
		if it%cfg.EvalEvery == 0 {
			// Evaluate the sketch this step rendered (before its update).
			ev, err := evaluate(progs, before, sp, evalIn)
			if err != nil {
				return false, fmt.Errorf("clipasso: evaluation at %d: %w", it, err)
			}
			ev.Iter = it
			res.Evals = append(res.Evals, ev)
			delta := ev.Loss - res.BestLoss
			if math.Abs(delta) > cfg.MinDelta && delta < 0 {
				res.BestLoss, res.BestIter, res.Best = ev.Loss, it, before
				terminate = false
				if opt.Out != nil {
					if err := opt.Out.best(before); err != nil {
						return false, err
					}
				}
			}
			if opt.Out != nil {
				if err := opt.Out.eval(ev); err != nil {
					return false, err
				}
			}
			if math.Abs(delta) <= cfg.MinDelta {
				if terminate {
					cur := drawingOf(d.Scene, sp)
					d.Points, d.Radii, d.Colors = cur.Points, cur.Radii, cur.Colors
					return true, nil
				}
				terminate = true
			}
		}
		if opt.Progress != nil {
			opt.Progress(*iter, total, loss, float64(*iter)/time.Since(start).Seconds())
		}
	}
	cur := drawingOf(d.Scene, sp)
	d.Points, d.Radii, d.Colors = cur.Points, cur.Radii, cur.Colors
	return false, nil
}

// evaluate runs the evaluation program on the sketch whose geometry is
// before (temporarily loaded into the parameters).
func evaluate(p *programs, before *raster.Drawing, sp sketchParams, in []*tensor.Dense) (Eval, error) {
	saved := [3][]float32{append([]float32(nil), sp.points.Data()...), append([]float32(nil), sp.radii.Data()...), append([]float32(nil), sp.colors.Data()...)}
	load := func(dst []float32, src []float64) {
		for i, v := range src {
			dst[i] = float32(v)
		}
	}
	load(sp.points.Data(), before.Points)
	load(sp.radii.Data(), before.Radii)
	load(sp.colors.Data(), before.Colors)
	defer func() {
		copy(sp.points.Data(), saved[0])
		copy(sp.radii.Data(), saved[1])
		copy(sp.colors.Data(), saved[2])
	}()
	out, err := p.eval.Run(in...)
	if err != nil {
		return Eval{}, err
	}
	ev := Eval{}
	for i, o := range out {
		v := float64(o.Data().(float32))
		if i == 0 {
			ev.Loss = v
		} else {
			ev.Terms = append(ev.Terms, v)
		}
	}
	return ev, nil
}

// RunSeeds runs one sketch per seed concurrently (CLIPasso's num_sketches
// with multiprocess; seeds 0, 1000, 2000 by default) and returns all
// results and the index of the one with the lowest best loss. Each run
// writes to out(seed) when out is not nil.
func RunSeeds(target []float64, models Models, cfg Config, seeds []int64, out func(seed int64) (*Output, error), progress Progress) ([]*Result, int, error) {
	if len(seeds) == 0 {
		return nil, -1, fmt.Errorf("clipasso: no seeds")
	}
	results := make([]*Result, len(seeds))
	errs := make([]error, len(seeds))
	var wg sync.WaitGroup
	for i, seed := range seeds {
		c := cfg
		c.Seed = seed
		o := Options{}
		if i == 0 {
			o.Progress = progress
		}
		if out != nil {
			var err error
			if o.Out, err = out(seed); err != nil {
				return nil, -1, err
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Run(target, models, c, o)
		}()
	}
	wg.Wait()
	best := -1
	for i, r := range results {
		if errs[i] != nil {
			return nil, -1, fmt.Errorf("clipasso: seed %d: %w", seeds[i], errs[i])
		}
		if best < 0 || r.BestLoss < results[best].BestLoss {
			best = i
		}
	}
	return results, best, nil
}
