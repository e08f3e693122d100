package vgg

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/loss"
)

// Extractor builds an image's named activations into a graph. *vgg.Model
// and *resnet.Model implement it.
type Extractor interface {
	Forward(g *nn.Graph, x *G.Node, taps ...string) map[string]*G.Node
}

// Distance compares two activations.
type Distance int

// Distances. Each is averaged, so layers of different sizes weigh alike:
//
//	L2:     mean((a−b)²)
//	L1:     mean(|a−b|)
//	Cosine: mean over all positions but the channel axis (1) of
//	        1 − Σ_c a·b / (√(Σ_c a² + eps) · √(Σ_c b² + eps))
const (
	L2 Distance = iota
	L1
	Cosine
)

func (d Distance) String() string {
	switch d {
	case L2:
		return "l2"
	case L1:
		return "l1"
	case Cosine:
		return "cosine"
	}
	return fmt.Sprintf("Distance(%d)", int(d))
}

// LayerWeight is one term of a perceptual loss.
type LayerWeight struct {
	Layer  string  // activation name, e.g. "relu3_3" or "layer2"
	Weight float64 // multiplier of the layer's distance
}

// PerceptualConfig selects the layers and distance of a perceptual loss.
type PerceptualConfig struct {
	Distance Distance
	Layers   []LayerWeight
}

func (c PerceptualConfig) validate() error {
	if c.Distance < L2 || c.Distance > Cosine {
		return fmt.Errorf("perceptual: unknown distance %v", c.Distance)
	}
	if len(c.Layers) == 0 {
		return fmt.Errorf("perceptual: no layers")
	}
	for _, l := range c.Layers {
		if math.IsNaN(l.Weight) || math.IsInf(l.Weight, 0) {
			return fmt.Errorf("perceptual: layer %q has weight %v", l.Layer, l.Weight)
		}
	}
	return nil
}

func (c PerceptualConfig) layerNames() []string {
	out := make([]string, len(c.Layers))
	for i, l := range c.Layers {
		out[i] = l.Layer
	}
	return out
}

// PerceptualLoss builds Σ_l w_l · D(f_l(x), f_l(target)) into g, a scalar
// differentiable with respect to x (and target). Both images go through m in
// the same graph; use PerceptualLossTo with precomputed target activations
// when the target is fixed. Errors are recorded in g.
func PerceptualLoss(g *nn.Graph, m Extractor, x, target *G.Node, cfg PerceptualConfig) *G.Node {
	if !g.OK(x, target) {
		return nil
	}
	if err := cfg.validate(); err != nil {
		return g.Fail(err)
	}
	ft := m.Forward(g, target, cfg.layerNames()...)
	return PerceptualLossTo(g, m, x, ft, cfg)
}

// PerceptualLossTo is PerceptualLoss against target activations given by
// name (nodes of the same shapes as m's activations of x, e.g. inputs or
// constants holding a precomputed forward pass).
func PerceptualLossTo(g *nn.Graph, m Extractor, x *G.Node, target map[string]*G.Node, cfg PerceptualConfig) *G.Node {
	if !g.OK(x) {
		return nil
	}
	if err := cfg.validate(); err != nil {
		return g.Fail(err)
	}
	fx := m.Forward(g, x, cfg.layerNames()...)
	if g.Err() != nil {
		return nil
	}
	var loss *G.Node
	for _, l := range cfg.Layers {
		a, b := fx[l.Layer], target[l.Layer]
		if b == nil {
			return g.Failf("perceptual: no target activation %q", l.Layer)
		}
		if !a.Shape().Eq(b.Shape()) {
			return g.Failf("perceptual: %s: activation %v and target %v differ in shape", l.Layer, a.Shape(), b.Shape())
		}
		d := distance(g, a, b, cfg) // ()
		d = g.Scale(d, l.Weight)    // ()
		if loss == nil {
			loss = d
		} else {
			loss = g.Add(loss, d) // ()
		}
	}
	return loss
}

// distance builds D(a, b) as a scalar with nn/loss's MSE, L1 or Cosine
// (1 − cos along the channel axis, averaged over locations).
func distance(g *nn.Graph, a, b *G.Node, cfg PerceptualConfig) *G.Node {
	switch cfg.Distance {
	case L2:
		return loss.MSE(g, a, b)
	case L1:
		return loss.L1(g, a, b)
	}
	return loss.Cosine(g, a, b)
}

// Perceptual is a compiled perceptual loss against a fixed target image:
// the target's activations are computed once, and each Eval returns the loss
// and its gradient with respect to the input image.
type Perceptual struct {
	cfg     PerceptualConfig
	shape   tensor.Shape
	prog    *nn.Program
	targets []*tensor.Dense
	loss    *G.Value
	grad    *G.Value
}

// NewPerceptual prepares the loss of cfg for images shaped like target
// (N, C, H, W), float32, normalised as the model expects.
func NewPerceptual(m Extractor, cfg PerceptualConfig, target *tensor.Dense) (*Perceptual, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if m == nil || target == nil {
		return nil, fmt.Errorf("perceptual: nil model or target")
	}
	names := cfg.layerNames()
	feats, err := new(Runner).Run(m, target, names...)
	if err != nil {
		return nil, fmt.Errorf("perceptual: target activations: %w", err)
	}
	p := &Perceptual{cfg: cfg, shape: target.Shape().Clone(), loss: new(G.Value), grad: new(G.Value)}
	err = nn.Build(func() error {
		g := nn.NewGraph(tensor.Float32)
		x := g.Input("image", p.shape...)
		inputs := []*G.Node{x}
		tn := map[string]*G.Node{}
		for _, n := range names {
			if _, ok := tn[n]; ok {
				continue
			}
			f := feats[n]
			tn[n] = g.Input("target_"+n, f.Shape()...)
			inputs = append(inputs, tn[n])
			p.targets = append(p.targets, f)
		}
		loss := PerceptualLossTo(g, m, x, tn, cfg)
		if err := g.Err(); err != nil {
			return err
		}
		grads, err := G.Grad(loss, x)
		if err != nil {
			return fmt.Errorf("gradient: %w", err)
		}
		G.Read(loss, p.loss)
		G.Read(grads[0], p.grad)
		p.prog, err = nn.Compile(g, inputs, []*G.Node{loss, grads[0]})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("perceptual: %w", err)
	}
	return p, nil
}

// Eval returns the loss for x and its gradient with respect to x (same shape
// as x). Safe for concurrent use (runs take turns).
func (p *Perceptual) Eval(x *tensor.Dense) (float64, *tensor.Dense, error) {
	if x == nil || !x.Shape().Eq(p.shape) || x.Dtype() != tensor.Float32 {
		return 0, nil, fmt.Errorf("perceptual: input must be float32 %v (the target's shape)", p.shape)
	}
	var loss float64
	var grad *tensor.Dense
	err := p.prog.RunFunc(func([]G.Value) error {
		l, ok := (*p.loss).(*G.F32)
		if !ok {
			return fmt.Errorf("loss: unexpected value %T", *p.loss)
		}
		loss = float64(*l)
		d, ok := (*p.grad).(*tensor.Dense)
		if !ok {
			return fmt.Errorf("gradient: unexpected value %T", *p.grad)
		}
		grad = d.Clone().(*tensor.Dense)
		return nil
	}, append([]*tensor.Dense{x}, p.targets...)...)
	if err != nil {
		return 0, nil, fmt.Errorf("perceptual: %w", err)
	}
	return loss, grad, nil
}
