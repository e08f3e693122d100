package vgg

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/goclip/goclip/weights"
)

// M marks a 2×2, stride-2 max-pooling layer in Config.Layers.
const M = 0

// Config describes a torchvision VGG. Layers lists the features in order:
// a positive number is a 3×3 convolution (padding 1, with bias) with that
// many output channels followed by [BatchNorm and] ReLU, M is a max pool.
type Config struct {
	Name       string
	Layers     []int   // conv output channels, M for max pooling
	BatchNorm  bool    // conv → BatchNorm2d → ReLU (the *_bn models)
	BNEps      float64 // BatchNorm epsilon (1e-5)
	InChannels int     // image channels (3)
	PoolSize   int     // AdaptiveAvgPool2d output side before the classifier (7)
	Hidden     int     // classifier.0 and classifier.3 width (4096); 0 with NumClasses 0 for feature-only weights
	NumClasses int     // classifier.6 outputs (1000); 0 for feature-only weights
}

var (
	cfgA = []int{64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M}
	cfgB = []int{64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M}
	cfgD = []int{64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M}
	cfgE = []int{64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M}
)

func preset(name string, layers []int, bn bool) Config {
	return Config{Name: name, Layers: layers, BatchNorm: bn, BNEps: 1e-5, InChannels: 3, PoolSize: 7, Hidden: 4096, NumClasses: 1000}
}

// torchvision's VGG configurations (cfgs "A", "B", "D", "E").
var (
	VGG11   = preset("vgg11", cfgA, false)
	VGG13   = preset("vgg13", cfgB, false)
	VGG16   = preset("vgg16", cfgD, false)
	VGG19   = preset("vgg19", cfgE, false)
	VGG11BN = preset("vgg11_bn", cfgA, true)
	VGG13BN = preset("vgg13_bn", cfgB, true)
	VGG16BN = preset("vgg16_bn", cfgD, true)
	VGG19BN = preset("vgg19_bn", cfgE, true)
)

// Presets lists the named configurations.
func Presets() []Config {
	return []Config{VGG11, VGG13, VGG16, VGG19, VGG11BN, VGG13BN, VGG16BN, VGG19BN}
}

// Validate reports the first inconsistency in c.
func (c Config) Validate() error {
	convs := 0
	for i, v := range c.Layers {
		if v < 0 {
			return fmt.Errorf("vgg: config %q: layer %d has %d channels", c.Name, i, v)
		}
		if v > 0 {
			convs++
		}
	}
	switch {
	case convs == 0:
		return fmt.Errorf("vgg: config %q has no convolution", c.Name)
	case c.InChannels < 1:
		return fmt.Errorf("vgg: config %q: InChannels %d", c.Name, c.InChannels)
	case c.BatchNorm && !(c.BNEps > 0):
		return fmt.Errorf("vgg: config %q: BatchNorm needs BNEps > 0, got %g", c.Name, c.BNEps)
	case (c.Hidden == 0) != (c.NumClasses == 0) || c.Hidden < 0 || c.NumClasses < 0:
		return fmt.Errorf("vgg: config %q: Hidden %d and NumClasses %d must both be positive (classifier) or both 0 (features only)", c.Name, c.Hidden, c.NumClasses)
	case c.HasClassifier() && c.PoolSize < 1:
		return fmt.Errorf("vgg: config %q: PoolSize %d", c.Name, c.PoolSize)
	}
	return nil
}

// HasClassifier reports whether the model has avgpool and classifier layers.
func (c Config) HasClassifier() bool { return c.NumClasses > 0 }

// layerKind is the type of one torchvision features module.
type layerKind int

const (
	convLayer layerKind = iota
	bnLayer
	reluLayer
	poolLayer
)

// spec is one features module: its torchvision index, kind, channels and
// conventional tap name (conv3_1, bn3_1, relu3_1, pool3).
type spec struct {
	index     int
	kind      layerKind
	cin, cout int
	name      string
}

// layout expands Layers into torchvision's features modules.
func (c Config) layout() []spec {
	var out []spec
	cin, block, k := c.InChannels, 1, 1
	for _, v := range c.Layers {
		if v == M {
			out = append(out, spec{index: len(out), kind: poolLayer, cin: cin, cout: cin, name: fmt.Sprintf("pool%d", block)})
			block, k = block+1, 1
			continue
		}
		out = append(out, spec{index: len(out), kind: convLayer, cin: cin, cout: v, name: fmt.Sprintf("conv%d_%d", block, k)})
		if c.BatchNorm {
			out = append(out, spec{index: len(out), kind: bnLayer, cin: v, cout: v, name: fmt.Sprintf("bn%d_%d", block, k)})
		}
		out = append(out, spec{index: len(out), kind: reluLayer, cin: v, cout: v, name: fmt.Sprintf("relu%d_%d", block, k)})
		cin, k = v, k+1
	}
	return out
}

// lastChannels is the channel count of the features output.
func (c Config) lastChannels() int {
	ch := c.InChannels
	for _, v := range c.Layers {
		if v != M {
			ch = v
		}
	}
	return ch
}

// ParamShape is one tensor of a checkpoint.
type ParamShape struct {
	Name  string
	Shape []int
}

// ParamShapes lists the tensors a torchvision checkpoint of c holds, in
// state_dict order, without num_batches_tracked.
func (c Config) ParamShapes() []ParamShape {
	var out []ParamShape
	for _, s := range c.layout() {
		p := fmt.Sprintf("features.%d.", s.index)
		switch s.kind {
		case convLayer:
			out = append(out, ParamShape{p + "weight", []int{s.cout, s.cin, 3, 3}}, ParamShape{p + "bias", []int{s.cout}})
		case bnLayer:
			for _, n := range []string{"weight", "bias", "running_mean", "running_var"} {
				out = append(out, ParamShape{p + n, []int{s.cout}})
			}
		}
	}
	if c.HasClassifier() {
		in := c.lastChannels() * c.PoolSize * c.PoolSize
		for i, d := range [][2]int{{c.Hidden, in}, {c.Hidden, c.Hidden}, {c.NumClasses, c.Hidden}} {
			p := fmt.Sprintf("classifier.%d.", 3*i)
			out = append(out, ParamShape{p + "weight", []int{d[0], d[1]}}, ParamShape{p + "bias", []int{d[0]}})
		}
	}
	return out
}

// NumParams counts the learnable parameters (BatchNorm running statistics
// excluded), as torch's sum(p.numel() for p in model.parameters()).
func (c Config) NumParams() int64 {
	var n int64
	for _, p := range c.ParamShapes() {
		if strings.HasSuffix(p.Name, "running_mean") || strings.HasSuffix(p.Name, "running_var") {
			continue
		}
		k := int64(1)
		for _, d := range p.Shape {
			k *= int64(d)
		}
		n += k
	}
	return n
}

// ConfigFromWeights infers the configuration from a torchvision VGG state
// dict: convolutions from the 4-D features.N.weight tensors, BatchNorm from
// features.N.running_var, pooling from the gaps in the module indices, and
// the classifier (if present) from classifier.0/6. A trailing max pool is
// assumed, as in every torchvision configuration. Checkpoints wrapped in a
// prefix (module., state_dict. …) are accepted.
func ConfigFromWeights(src weights.Source) (Config, error) {
	src, err := unwrap(src)
	if err != nil {
		return Config{}, err
	}
	type conv struct{ index, cin, cout int }
	var convs []conv
	for _, n := range src.Names() {
		var idx int
		if _, err := fmt.Sscanf(n, "features.%d.weight", &idx); err != nil || n != fmt.Sprintf("features.%d.weight", idx) {
			continue
		}
		t, _ := src.Tensor(n)
		if len(t.Shape) == 4 {
			if t.Shape[2] != 3 || t.Shape[3] != 3 {
				return Config{}, fmt.Errorf("vgg: %s has shape %v, want a 3×3 kernel", n, t.Shape)
			}
			convs = append(convs, conv{idx, t.Shape[1], t.Shape[0]})
		}
	}
	if len(convs) == 0 {
		return Config{}, fmt.Errorf("vgg: no features.N.weight convolution tensors found (not a torchvision VGG checkpoint?)")
	}
	slices.SortFunc(convs, func(a, b conv) int { return a.index - b.index })
	_, bn := src.Tensor(fmt.Sprintf("features.%d.running_var", convs[0].index+1))
	cfg := Config{Name: "vgg-custom", BatchNorm: bn, BNEps: 1e-5, InChannels: convs[0].cin}
	step := 2
	if bn {
		step = 3
	}
	if convs[0].index != 0 {
		return Config{}, fmt.Errorf("vgg: first convolution is features.%d, want features.0", convs[0].index)
	}
	for i, cv := range convs {
		if _, ok := src.Tensor(fmt.Sprintf("features.%d.running_var", cv.index+1)); ok != bn {
			return Config{}, fmt.Errorf("vgg: features.%d: BatchNorm present on some convolutions but not others", cv.index)
		}
		cfg.Layers = append(cfg.Layers, cv.cout)
		if i+1 == len(convs) {
			cfg.Layers = append(cfg.Layers, M)
			break
		}
		next := convs[i+1]
		if next.cin != cv.cout {
			return Config{}, fmt.Errorf("vgg: features.%d has %d input channels, features.%d gives %d", next.index, next.cin, cv.index, cv.cout)
		}
		switch next.index - cv.index {
		case step:
		case step + 1:
			cfg.Layers = append(cfg.Layers, M)
		default:
			return Config{}, fmt.Errorf("vgg: features.%d follows features.%d: not a torchvision VGG layout", next.index, cv.index)
		}
	}
	if t, ok := src.Tensor("classifier.0.weight"); ok {
		t6, ok6 := src.Tensor("classifier.6.weight")
		if len(t.Shape) != 2 || !ok6 || len(t6.Shape) != 2 {
			return Config{}, fmt.Errorf("vgg: classifier.0.weight %v / classifier.6.weight: want 2-D Linear weights", t.Shape)
		}
		c := cfg.lastChannels()
		side := int(math.Round(math.Sqrt(float64(t.Shape[1] / c))))
		if side*side*c != t.Shape[1] {
			return Config{}, fmt.Errorf("vgg: classifier.0.weight %v does not take %d channels × a square pool", t.Shape, c)
		}
		cfg.PoolSize, cfg.Hidden, cfg.NumClasses = side, t.Shape[0], t6.Shape[0]
	}
	for _, p := range Presets() {
		if slices.Equal(p.Layers, cfg.Layers) && p.BatchNorm == cfg.BatchNorm && cfg.InChannels == 3 {
			cfg.Name = p.Name
		}
	}
	return cfg, cfg.Validate()
}

// unwrap finds the prefix (e.g. "module." or "state_dict.") under which the
// VGG tensors live.
func unwrap(src weights.Source) (weights.Source, error) {
	if src == nil {
		return nil, fmt.Errorf("vgg: nil weights source")
	}
	for _, n := range src.Names() {
		if p, ok := strings.CutSuffix(n, "features.0.weight"); ok {
			if p == "" {
				return src, nil
			}
			return weights.Sub(src, p), nil
		}
	}
	return nil, fmt.Errorf("vgg: no features.0.weight tensor (not a torchvision VGG checkpoint?)")
}
