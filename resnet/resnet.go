// Package resnet runs torchvision's ResNets (18/34/50/101/152 and the wide
// variants, v1.5) on Gorgonia graphs, loaded from torchvision checkpoints
// (.pth in the zip or legacy format, or safetensors).
//
// Activations are named "stem" (after the max pool), "layer1" … "layer4",
// single blocks "layer3.5", "pooled" (the (N, C) global average) and
// "logits". Forward builds them into a caller's graph, so losses over them
// are differentiable with respect to the input image; *Model implements
// vgg.Extractor, so vgg.PerceptualLoss works with it.
//
// Inputs are (N, C, H, W) float32 pixels normalised with the ImageNet mean
// and standard deviation (package imagenet).
package resnet

import (
	"fmt"
	"math"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/vgg"
	"github.com/goclip/goclip/weights"
)

// convBN is a bias-free convolution followed by BatchNorm.
type convBN struct {
	Conv nn.Conv2d
	BN   nn.BatchNorm2d
}

// Forward is conv then BatchNorm.
func (c *convBN) Forward(g *nn.Graph, x *G.Node) *G.Node {
	h := c.Conv.Forward(g, x) // (N, Cout, H', W')
	return c.BN.Forward(g, h) // (N, Cout, H', W')
}

// block is one residual block: conv1..conv2 (basic) or conv1..conv3
// (bottleneck), and the optional projection shortcut.
type block struct {
	name       string // "layer2.0"
	convs      []convBN
	downsample *convBN
}

// Model is a ResNet with loaded weights. It is safe for concurrent use.
type Model struct {
	Config Config
	stem   convBN
	layers [4][]block
	fc     *nn.Linear // (classes, C); nil without fc
	runner vgg.Runner
}

// Load opens a torchvision ResNet checkpoint (.pth zip or legacy, or
// safetensors), infers its configuration and builds the model.
func Load(path string) (*Model, error) {
	f, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("resnet: load %s: %w", path, err)
	}
	defer f.Close()
	cfg, err := ConfigFromWeights(f)
	if err != nil {
		return nil, fmt.Errorf("resnet: load %s: %w", path, err)
	}
	m, err := New(cfg, f)
	if err != nil {
		return nil, fmt.Errorf("resnet: load %s: %w", path, err)
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
	l := loader{s: s, eps: cfg.BNEps}
	m := &Model{Config: cfg}
	m.stem = l.convBN("conv1.weight", "bn1.", cfg.Width, cfg.InChannels, 7, 2, 3)
	for li, layer := range cfg.blocks() {
		for _, b := range layer {
			blk := block{name: strings.TrimSuffix(b.prefix, ".")}
			p := b.prefix
			if cfg.Block == Basic {
				blk.convs = []convBN{
					l.convBN(p+"conv1.weight", p+"bn1.", b.width, b.in, 3, b.stride, 1),
					l.convBN(p+"conv2.weight", p+"bn2.", b.out, b.width, 3, 1, 1),
				}
			} else {
				blk.convs = []convBN{
					l.convBN(p+"conv1.weight", p+"bn1.", b.width, b.in, 1, 1, 0),
					l.convBN(p+"conv2.weight", p+"bn2.", b.width, b.width, 3, b.stride, 1),
					l.convBN(p+"conv3.weight", p+"bn3.", b.out, b.width, 1, 1, 0),
				}
			}
			if b.downsample {
				d := l.convBN(p+"downsample.0.weight", p+"downsample.1.", b.out, b.in, 1, b.stride, 0)
				blk.downsample = &d
			}
			m.layers[li] = append(m.layers[li], blk)
		}
	}
	if cfg.NumClasses > 0 {
		m.fc = &nn.Linear{Weight: l.param("fc.weight", cfg.NumClasses, cfg.Channels()), Bias: l.param("fc.bias", cfg.NumClasses)}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("resnet: %s: %w", cfg.Name, err)
	}
	return m, nil
}

// loader reads tensors strictly into frozen parameters.
type loader struct {
	s   *weights.Strict
	eps float64
}

func (l loader) param(name string, shape ...int) *nn.Param {
	v := l.s.Float32(name, shape...)
	if v == nil {
		return nil
	}
	p := nn.NewParam(name, v, shape...)
	p.Frozen = true
	return p
}

func (l loader) convBN(weight, bn string, cout, cin, k, stride, pad int) convBN {
	return convBN{
		Conv: nn.Conv2d{Weight: l.param(weight, cout, cin, k, k), Stride: stride, Padding: pad},
		BN: nn.BatchNorm2d{
			Weight:      l.param(bn+"weight", cout),
			Bias:        l.param(bn+"bias", cout),
			RunningMean: l.param(bn+"running_mean", cout),
			RunningVar:  l.param(bn+"running_var", cout),
			Eps:         l.eps,
		},
	}
}

// TapNames lists every activation name the model accepts, in network order.
func (m *Model) TapNames() []string {
	out := []string{"stem"}
	for l, layer := range m.layers {
		for _, b := range layer {
			out = append(out, b.name)
		}
		out = append(out, fmt.Sprintf("layer%d", l+1))
	}
	out = append(out, "pooled")
	if m.fc != nil {
		out = append(out, "logits")
	}
	return out
}

// depth orders the taps: stem 0, blocks 1…, pooled, logits.
func (m *Model) depth(tap string) (int, bool) {
	for i, n := range m.TapNames() {
		if n == tap {
			return i, true
		}
	}
	return 0, false
}

// Forward builds the activations named by taps for the input x (N, C, H, W)
// into g and returns them by name; it builds only as far as the deepest tap
// needs. With no taps it returns "logits" ("pooled" without fc). Unknown
// names and a wrong or too small input are recorded as g's error (and nil
// returned).
func (m *Model) Forward(g *nn.Graph, x *G.Node, taps ...string) map[string]*G.Node {
	if !g.OK(x) {
		return nil
	}
	if len(taps) == 0 {
		taps = m.defaultTaps()
	}
	deepest := 0
	for _, t := range taps {
		d, ok := m.depth(t)
		if !ok {
			g.Failf("resnet: unknown activation %q (want one of %s)", t, strings.Join(m.TapNames(), ", "))
			return nil
		}
		deepest = max(deepest, d)
	}
	xs := x.Shape()
	if len(xs) != 4 || xs[1] != m.Config.InChannels {
		g.Failf("resnet: input %v, want (N, %d, H, W)", xs, m.Config.InChannels)
		return nil
	}
	if xs[2] < 4 || xs[3] < 4 {
		g.Failf("resnet: input %v is too small (want H, W >= 4)", xs)
		return nil
	}
	out := map[string]*G.Node{}
	h := m.stem.Forward(g, x)   // (N, 64, H/2, W/2)
	h = g.ReLU(h)               // (N, 64, H/2, W/2)
	h = g.MaxPool2d(h, 3, 2, 1) // (N, 64, H/4, W/4)
	out["stem"] = h
	depth := 0
	for l, layer := range m.layers {
		for _, b := range layer {
			if depth++; depth > deepest {
				break
			}
			h = m.block(g, h, b) // (N, Cout, H', W')
			out[b.name] = h
		}
		if depth++; depth > deepest {
			break
		}
		out[fmt.Sprintf("layer%d", l+1)] = h
	}
	if depth++; depth <= deepest {
		h = g.GlobalAvgPool2d(h) // (N, C)
		out["pooled"] = h
		if depth++; depth <= deepest {
			h = m.fc.Forward(g, h) // (N, classes)
			out["logits"] = h
		}
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

// block is relu(convs(x) + shortcut(x)), with ReLU between the convs.
func (m *Model) block(g *nn.Graph, x *G.Node, b block) *G.Node {
	h := x // (N, Cin, H, W)
	for i, c := range b.convs {
		h = c.Forward(g, h) // (N, C, H', W')
		if i+1 < len(b.convs) {
			h = g.ReLU(h) // (N, C, H', W')
		}
	}
	short := x
	if b.downsample != nil {
		short = b.downsample.Forward(g, x) // (N, Cout, H', W')
	}
	h = g.Add(h, short) // (N, Cout, H', W')
	return g.ReLU(h)    // (N, Cout, H', W')
}

func (m *Model) defaultTaps() []string {
	if m.fc != nil {
		return []string{"logits"}
	}
	return []string{"pooled"}
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
		return nil, fmt.Errorf("resnet: %w", err)
	}
	return out, nil
}

// Features evaluates the named activations for n square images whose NCHW
// float32 pixels are concatenated in pixels (len = n·C·S·S).
func (m *Model) Features(pixels []float32, n int, names ...string) (map[string]*tensor.Dense, error) {
	if n < 1 || len(pixels) == 0 || len(pixels)%(n*m.Config.InChannels) != 0 {
		return nil, fmt.Errorf("resnet: %d pixel values are not %d images of %d channels", len(pixels), n, m.Config.InChannels)
	}
	area := len(pixels) / (n * m.Config.InChannels)
	s := int(math.Round(math.Sqrt(float64(area))))
	if s*s != area {
		return nil, fmt.Errorf("resnet: %d values per channel is not a square image; use Run with an (N, C, H, W) tensor", area)
	}
	return m.Run(tensor.New(tensor.WithShape(n, m.Config.InChannels, s, s), tensor.WithBacking(pixels)), names...)
}

// Logits returns the (N, classes) classifier scores for n square images.
func (m *Model) Logits(pixels []float32, n int) (*tensor.Dense, error) {
	if m.fc == nil {
		return nil, fmt.Errorf("resnet: %s has no fc layer", m.Config.Name)
	}
	out, err := m.Features(pixels, n, "logits")
	if err != nil {
		return nil, err
	}
	return out["logits"], nil
}
