package clipasso

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/raster"
	"github.com/goclip/goclip/nn/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// objective is the complete CLIPasso loss against one target: its
// backbones, the target image, the target features of the clean pair
// (computed once) and programs for the augmented target features.
type objective struct {
	backbones []*backbone
	size      int
	nAug      int
	target    []float64 // (3, size, size) in [0, 1]
	clean     [][]*tensor.Dense
	tgtProg   []*nn.Program // per backbone: augmented targets → term features (nil: fixed target)
	tgtAug    []*Augmenter  // per backbone, batch nAug+1 (row 0 unused: clean)
	fixed     [][]*tensor.Dense
}

func newObjective(bbs []*backbone, target []float64, size, nAug int) (*objective, error) {
	if len(target) != 3*size*size {
		return nil, fmt.Errorf("clipasso: target has %d values, want 3×%d×%d", len(target), size, size)
	}
	o := &objective{backbones: bbs, size: size, nAug: nAug, target: target}
	for _, b := range bbs {
		freezeMu.Lock()
		restore := freeze(b.params)
		clean, prog, aug, err := o.targetPrograms(b)
		restore()
		freezeMu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("clipasso: %s target features: %w", b.name, err)
		}
		o.clean = append(o.clean, clean)
		o.tgtProg = append(o.tgtProg, prog)
		o.tgtAug = append(o.tgtAug, aug)
	}
	return o, nil
}

// targetPrograms computes the clean target's features and compiles the
// forward program for augmented targets.
func (o *objective) targetPrograms(b *backbone) ([]*tensor.Dense, *nn.Program, *Augmenter, error) {
	s := o.size
	if b.fixedTarget != nil {
		var clean []*tensor.Dense
		for _, row := range b.fixedTarget {
			clean = append(clean, tensor.New(tensor.WithShape(1, len(row)), tensor.WithBacking(append([]float32(nil), row...))))
		}
		return clean, nil, nil, nil
	}
	build := func(n int) (*nn.Program, error) {
		var p *nn.Program
		err := nn.Build(func() error {
			g := nn.NewGraph(tensor.Float32)
			x := g.Input("target", n, 3, s, s)
			f := b.forward(g, x)
			if err := g.Err(); err != nil {
				return err
			}
			outs := make([]*G.Node, len(b.terms))
			for i, t := range b.terms {
				if outs[i] = f[t.feature]; outs[i] == nil {
					return fmt.Errorf("no feature %q", t.feature)
				}
			}
			var err error
			p, err = nn.Compile(g, []*G.Node{x}, outs)
			return err
		})
		return p, err
	}
	one, err := build(1)
	if err != nil {
		return nil, nil, nil, err
	}
	a1, err := NewAugmenter(1, s, s, b.mean, b.std)
	if err != nil {
		return nil, nil, nil, err
	}
	clean, err := one.Run(tensor.New(tensor.WithShape(1, 3, s, s), tensor.WithBacking(a1.Batch(o.target))))
	one.Close()
	if err != nil {
		return nil, nil, nil, err
	}
	if o.nAug == 0 {
		return clean, nil, nil, nil
	}
	prog, err := build(o.nAug)
	if err != nil {
		return nil, nil, nil, err
	}
	aug, err := NewAugmenter(o.nAug+1, s, s, b.mean, b.std)
	return clean, prog, aug, err
}

// graph builds the loss of a rendered sketch img (1, 3, S, S) into g with
// one augmenter per backbone (batch N = augs[i].N()). It returns the total,
// each weighted term, and the target-feature inputs (N, ...) in backbone
// then term order. given, when not nil, supplies those target nodes
// instead of new inputs.
func (o *objective) graph(g *nn.Graph, img *G.Node, augs []*Augmenter, given []*G.Node) (total *G.Node, terms, targets []*G.Node) {
	for bi, b := range o.backbones {
		x, err := augs[bi].Apply(g.Expr(), img) // (N, 3, S, S)
		if err != nil {
			g.Fail(err)
			return nil, nil, nil
		}
		n := augs[bi].N()
		f := b.forward(g, x)
		if g.Err() != nil {
			return nil, nil, nil
		}
		for ti, t := range b.terms {
			a := f[t.feature]
			if a == nil {
				g.Failf("clipasso: %s has no feature %q", b.name, t.feature)
				return nil, nil, nil
			}
			want := o.clean[bi][ti].Shape()
			if a.Shape()[0] != n || !tensor.Shape(a.Shape()[1:]).Eq(want[1:]) {
				g.Failf("clipasso: %s %s: sketch feature %v, target %v", b.name, t.feature, a.Shape(), want)
				return nil, nil, nil
			}
			var y *G.Node
			if k := len(targets); given != nil && k < len(given) {
				y = given[k] // (N, ...)
				if !y.Shape().Eq(a.Shape()) {
					g.Failf("clipasso: %s %s: target node %v, want %v", b.name, t.feature, y.Shape(), a.Shape())
					return nil, nil, nil
				}
			} else {
				y = g.Input(fmt.Sprintf("target/%s/%s", b.name, t.feature), a.Shape()...) // (N, ...)
			}
			d := g.Scale(distance(g, a, y, t.dist), t.weight) // ()
			targets = append(targets, y)
			terms = append(terms, d)
			if total == nil {
				total = d
			} else {
				total = g.Add(total, d)
			}
		}
	}
	return total, terms, targets
}

// targetInputs returns the target features for a batch of n: the clean
// features in row 0 and, when n > 1, the current augmentations' in rows
// 1…n−1 (warps must already be set on tgtAug).
func (o *objective) targetInputs(n int) ([]*tensor.Dense, error) {
	var out []*tensor.Dense
	for bi, b := range o.backbones {
		var aug []*tensor.Dense
		if n > 1 && o.tgtProg[bi] != nil {
			batch := o.tgtAug[bi].Batch(o.target)
			per := 3 * o.size * o.size
			in := tensor.New(tensor.WithShape(o.nAug, 3, o.size, o.size), tensor.WithBacking(batch[per:]))
			var err error
			if aug, err = o.tgtProg[bi].Run(in); err != nil {
				return nil, fmt.Errorf("clipasso: %s target features: %w", b.name, err)
			}
		}
		for ti := range b.terms {
			c := o.clean[bi][ti]
			row := c.Data().([]float32)
			shape := c.Shape().Clone()
			shape[0] = n
			data := make([]float32, 0, n*len(row))
			data = append(data, row...)
			for k := 1; k < n; k++ {
				if aug != nil {
					a := aug[ti].Data().([]float32)
					data = append(data, a[(k-1)*len(row):k*len(row)]...)
				} else {
					data = append(data, row...)
				}
			}
			out = append(out, tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data)))
		}
	}
	return out, nil
}

// setWarps draws the augmentations of one step and installs them on the
// training and target augmenters.
func (o *objective) setWarps(rng *rand.Rand, train []*Augmenter, distortion, cropScale float64) error {
	if o.nAug == 0 {
		return nil
	}
	// Draw in RandomAugment's order (deterministic for a seed), then build
	// the warps concurrently.
	persp := make([]Perspective, o.nAug)
	crops := make([]Crop, o.nAug)
	for i := range persp {
		persp[i] = RandomPerspective(rng, o.size, o.size, distortion)
		crops[i] = RandomCrop(rng, o.size, o.size, cropScale)
	}
	warps := make([]*Warp, o.nAug)
	errs := make([]error, o.nAug)
	var wg sync.WaitGroup
	for i := range warps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			warps[i], errs[i] = NewAugment(persp[i], crops[i], o.size, o.size)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, a := range append(append([]*Augmenter{}, train...), o.tgtAug...) {
		if a == nil {
			continue
		}
		if err := a.Set(warps); err != nil {
			return err
		}
	}
	return nil
}

// programs are the compiled training step and evaluation of one scene.
type programs struct {
	step      *train.Step
	eval      *nn.Program
	trainAugs []*Augmenter
	nTerms    int
}

func (p *programs) Close() {
	if p.step != nil {
		p.step.Close()
	}
	if p.eval != nil {
		p.eval.Close()
	}
}

// sketchParams are the optimisable geometry of a drawing as parameters.
type sketchParams struct {
	points, radii, colors *nn.Param
}

func newSketchParams(d *raster.Drawing) sketchParams {
	f32 := func(x []float64) []float32 {
		out := make([]float32, len(x))
		for i, v := range x {
			out[i] = float32(v)
		}
		return out
	}
	return sketchParams{
		points: nn.NewParam("sketch.points", f32(d.Points), len(d.Points)/2, 2),
		radii:  nn.NewParam("sketch.radii", f32(d.Radii), len(d.Radii)),
		colors: nn.NewParam("sketch.colors", f32(d.Colors), len(d.Colors)/4, 4),
	}
}

// compile builds the training step (gradients of the non-frozen sketch
// parameters only) and the evaluation program for scene.
func (o *objective) compile(scene raster.Scene, sp sketchParams) (*programs, error) {
	p := &programs{}
	var all []*nn.Param
	for _, b := range o.backbones {
		all = append(all, b.params...)
		a, err := NewAugmenter(o.nAug+1, o.size, o.size, b.mean, b.std)
		if err != nil {
			return nil, err
		}
		p.trainAugs = append(p.trainAugs, a)
	}
	freezeMu.Lock()
	defer freezeMu.Unlock()
	restore := freeze(all)
	defer restore()
	render := func(g *nn.Graph) *G.Node {
		img, err := raster.Render(g.Expr(), scene, g.Param(sp.points), g.Param(sp.radii), g.Param(sp.colors))
		if err != nil {
			g.Fail(err)
		}
		return img // (1, 3, S, S)
	}
	step, err := train.Compile(tensor.Float32, func(g *nn.Graph) ([]*G.Node, *G.Node, error) {
		total, terms, targets := o.graph(g, render(g), p.trainAugs, nil)
		p.nTerms = len(terms)
		return targets, total, g.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("clipasso: compile training step: %w", err)
	}
	p.step = step
	err = nn.Build(func() error {
		g := nn.NewGraph(tensor.Float32)
		var augs []*Augmenter
		for _, b := range o.backbones {
			a, err := NewAugmenter(1, o.size, o.size, b.mean, b.std)
			if err != nil {
				return err
			}
			augs = append(augs, a)
		}
		total, terms, targets := o.graph(g, render(g), augs, nil)
		if err := g.Err(); err != nil {
			return err
		}
		var err error
		p.eval, err = nn.Compile(g, targets, append([]*G.Node{total}, terms...))
		return err
	})
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("clipasso: compile evaluation: %w", err)
	}
	return p, nil
}

// termNames lists the loss terms as "<backbone>/<feature>".
func (o *objective) termNames() []string {
	var out []string
	for _, b := range o.backbones {
		for _, t := range b.terms {
			out = append(out, b.name+"/"+t.feature)
		}
	}
	return out
}
