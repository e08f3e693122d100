// Package vgg runs torchvision's VGG networks (VGG11/13/16/19, with and
// without BatchNorm) on Gorgonia graphs, loaded from the torchvision
// checkpoints people already have (.pth in the zip or legacy format, or
// safetensors).
//
// Any intermediate activation can be read by name: the torchvision module
// index ("features.15") or the conventional name ("relu3_3", "conv1_2",
// "bn2_1", "pool4"), plus "avgpool", "classifier.N" and "logits". Forward
// builds the same activations into a caller's graph, so losses over them
// (see PerceptualLoss) are differentiable with respect to the input image.
//
// Inputs are (N, C, H, W) float32 pixels normalised with the ImageNet mean
// and standard deviation (package imagenet).
package vgg

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
)

// layer is one torchvision features module.
type layer struct {
	spec
	conv *nn.Conv2d      // convLayer
	bn   *nn.BatchNorm2d // bnLayer
}

// Model is a VGG with loaded weights. It is safe for concurrent use.
type Model struct {
	Config     Config
	features   []layer
	classifier []nn.Linear // classifier.0, .3, .6; empty for feature-only weights
	taps       map[string]int
	runner     Runner
}

// Load opens a torchvision VGG checkpoint (.pth zip or legacy, or
// safetensors), infers its configuration and builds the model.
func Load(path string) (*Model, error) {
	f, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vgg: load %s: %w", path, err)
	}
	defer f.Close()
	cfg, err := ConfigFromWeights(f)
	if err != nil {
		return nil, fmt.Errorf("vgg: load %s: %w", path, err)
	}
	m, err := New(cfg, f)
	if err != nil {
		return nil, fmt.Errorf("vgg: load %s: %w", path, err)
	}
	return m, nil
}

// New builds a model of configuration cfg from the tensors of src, strictly:
// every tensor must be present with the right shape and every tensor of src
// used (num_batches_tracked is optional). The weights are copied, so src
// may be closed afterwards.
func New(cfg Config, src weights.Source) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	src, err := unwrap(src)
	if err != nil {
		return nil, err
	}
	s := weights.NewStrict(src)
	s.Ignore("*.num_batches_tracked")
	m := &Model{Config: cfg, taps: map[string]int{}}
	for _, sp := range cfg.layout() {
		l := layer{spec: sp}
		p := fmt.Sprintf("features.%d.", sp.index)
		switch sp.kind {
		case convLayer:
			l.conv = &nn.Conv2d{
				Weight:  param(s, p+"weight", sp.cout, sp.cin, 3, 3),
				Bias:    param(s, p+"bias", sp.cout),
				Stride:  1,
				Padding: 1,
			}
		case bnLayer:
			l.bn = &nn.BatchNorm2d{
				Weight:      param(s, p+"weight", sp.cout),
				Bias:        param(s, p+"bias", sp.cout),
				RunningMean: param(s, p+"running_mean", sp.cout),
				RunningVar:  param(s, p+"running_var", sp.cout),
				Eps:         cfg.BNEps,
			}
		}
		m.features = append(m.features, l)
		m.taps["features."+strconv.Itoa(sp.index)] = sp.index
		m.taps[sp.name] = sp.index
	}
	if cfg.HasClassifier() {
		in := cfg.lastChannels() * cfg.PoolSize * cfg.PoolSize
		for i, d := range [][2]int{{cfg.Hidden, in}, {cfg.Hidden, cfg.Hidden}, {cfg.NumClasses, cfg.Hidden}} {
			p := fmt.Sprintf("classifier.%d.", 3*i)
			m.classifier = append(m.classifier, nn.Linear{Weight: param(s, p+"weight", d[0], d[1]), Bias: param(s, p+"bias", d[0])})
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("vgg: %s: %w", cfg.Name, err)
	}
	return m, nil
}

// param reads one tensor into a frozen parameter (nil if it is missing; s
// records the problem).
func param(s *weights.Strict, name string, shape ...int) *nn.Param {
	v := s.Float32(name, shape...)
	if v == nil {
		return nil
	}
	p := nn.NewParam(name, v, shape...)
	p.Frozen = true
	return p
}

// TapNames lists every activation name the model accepts, in network order.
func (m *Model) TapNames() []string {
	var out []string
	for _, l := range m.features {
		out = append(out, "features."+strconv.Itoa(l.index), l.name)
	}
	if m.Config.HasClassifier() {
		out = append(out, "avgpool", "classifier.0", "classifier.1", "classifier.3", "classifier.4", "logits")
	}
	return out
}

// head taps: position after the features, in order of evaluation.
var headTaps = map[string]int{"avgpool": 0, "classifier.0": 1, "classifier.1": 2, "classifier.3": 3, "classifier.4": 4, "classifier.6": 5, "logits": 5}

// Forward builds the activations named by taps for the input x (N, C, H, W)
// into g and returns them by name; it builds only as far as the deepest tap
// needs. With no taps it returns "logits" (or the last features module for
// feature-only weights). Unknown names, a wrong input shape or an input too
// small for the pooling layers are recorded as g's error (and nil returned).
func (m *Model) Forward(g *nn.Graph, x *G.Node, taps ...string) map[string]*G.Node {
	if !g.OK(x) {
		return nil
	}
	if len(taps) == 0 {
		taps = m.defaultTaps()
	}
	lastFeature, lastHead := -1, -1
	for _, t := range taps {
		if i, ok := m.taps[t]; ok {
			lastFeature = max(lastFeature, i)
		} else if h, ok := headTaps[t]; ok && m.Config.HasClassifier() {
			lastFeature, lastHead = len(m.features)-1, max(lastHead, h)
		} else {
			g.Failf("vgg: unknown activation %q (want one of %s)", t, strings.Join(m.TapNames(), ", "))
			return nil
		}
	}
	xs := x.Shape()
	if len(xs) != 4 || xs[1] != m.Config.InChannels {
		g.Failf("vgg: input %v, want (N, %d, H, W)", xs, m.Config.InChannels)
		return nil
	}
	out := map[string]*G.Node{}
	h := x // (N, C, H, W)
	for _, l := range m.features[:lastFeature+1] {
		switch l.kind {
		case convLayer:
			h = l.conv.Forward(g, h) // (N, Cout, H, W)
		case bnLayer:
			h = l.bn.Forward(g, h) // (N, C, H, W)
		case reluLayer:
			h = g.ReLU(h) // (N, C, H, W)
		case poolLayer:
			if s := h.Shape(); s[2] < 2 || s[3] < 2 {
				g.Failf("vgg: %s: input %v is too small (%d×%d before the pool)", l.name, xs, s[2], s[3])
				return nil
			}
			h = g.MaxPool2d(h, 2, 2, 0) // (N, C, H/2, W/2)
		}
		out["features."+strconv.Itoa(l.index)] = h
		out[l.name] = h
	}
	if lastHead >= 0 {
		p := m.Config.PoolSize
		h = g.AdaptiveAvgPool2d(h, p, p) // (N, C, 7, 7)
		out["avgpool"] = h
		n := xs[0]
		h = g.Reshape(h, n, m.Config.lastChannels()*p*p) // (N, C·49)
		h = m.classifier[0].Forward(g, h)                // (N, hidden)
		out["classifier.0"] = h
		h = g.ReLU(h) // (N, hidden); Dropout is the identity at inference
		out["classifier.1"] = h
		h = m.classifier[1].Forward(g, h) // (N, hidden)
		out["classifier.3"] = h
		h = g.ReLU(h) // (N, hidden)
		out["classifier.4"] = h
		h = m.classifier[2].Forward(g, h) // (N, classes)
		out["classifier.6"] = h
		out["logits"] = h
	}
	if g.Err() != nil {
		return nil
	}
	res := make(map[string]*G.Node, len(taps))
	for _, t := range taps {
		res[t] = out[t]
	}
	return res
}

// defaultTaps is "logits", or the last features module for feature-only weights.
func (m *Model) defaultTaps() []string {
	if m.Config.HasClassifier() {
		return []string{"logits"}
	}
	return []string{"features." + strconv.Itoa(len(m.features)-1)}
}

// Run evaluates the named activations (default: logits) for a batch x of
// shape (N, C, H, W). The compiled program is cached per input shape and
// tap set.
func (m *Model) Run(x *tensor.Dense, names ...string) (map[string]*tensor.Dense, error) {
	if len(names) == 0 {
		names = m.defaultTaps()
	}
	out, err := m.runner.Run(m, x, names...)
	if err != nil {
		return nil, fmt.Errorf("vgg: %w", err)
	}
	return out, nil
}

// Features evaluates the named activations for n square images whose NCHW
// float32 pixels are concatenated in pixels (len = n·C·S·S).
func (m *Model) Features(pixels []float32, n int, names ...string) (map[string]*tensor.Dense, error) {
	x, err := squareBatch(pixels, n, m.Config.InChannels)
	if err != nil {
		return nil, fmt.Errorf("vgg: %w", err)
	}
	return m.Run(x, names...)
}

// Logits returns the (N, classes) classifier scores for n square images.
func (m *Model) Logits(pixels []float32, n int) (*tensor.Dense, error) {
	if !m.Config.HasClassifier() {
		return nil, fmt.Errorf("vgg: %s has no classifier (feature-only weights)", m.Config.Name)
	}
	out, err := m.Features(pixels, n, "logits")
	if err != nil {
		return nil, err
	}
	return out["logits"], nil
}

// squareBatch wraps n square NCHW images as a (n, c, s, s) tensor.
func squareBatch(pixels []float32, n, c int) (*tensor.Dense, error) {
	if n < 1 {
		return nil, fmt.Errorf("batch size %d", n)
	}
	if len(pixels) == 0 || len(pixels)%(n*c) != 0 {
		return nil, fmt.Errorf("%d pixel values are not %d images of %d channels", len(pixels), n, c)
	}
	area := len(pixels) / (n * c)
	s := int(math.Round(math.Sqrt(float64(area))))
	if s*s != area {
		return nil, fmt.Errorf("%d values per channel is not a square image; use Run with an (N, C, H, W) tensor", area)
	}
	return tensor.New(tensor.WithShape(n, c, s, s), tensor.WithBacking(pixels)), nil
}
