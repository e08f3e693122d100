package resnet

import (
	"fmt"
	"strings"

	"github.com/goclip/goclip/weights"
)

// Block is a residual block type.
type Block int

// Block types: Basic (two 3×3 convolutions, ResNet-18/34) and Bottleneck
// (1×1, 3×3, 1×1 with 4× expansion, ResNet-50/101/152).
const (
	Basic Block = iota
	Bottleneck
)

func (b Block) String() string {
	switch b {
	case Basic:
		return "basic"
	case Bottleneck:
		return "bottleneck"
	}
	return fmt.Sprintf("Block(%d)", int(b))
}

// expansion is the ratio of a block's output channels to its planes.
func (b Block) expansion() int {
	if b == Bottleneck {
		return 4
	}
	return 1
}

// Config describes a torchvision ResNet (v1.5: a strided bottleneck carries
// its stride on the 3×3 convolution).
type Config struct {
	Name          string
	Block         Block
	Layers        [4]int  // blocks in layer1..layer4
	Width         int     // stem channels and layer1 planes (64); layers use 1, 2, 4, 8× this
	WidthPerGroup int     // bottleneck inner width is planes·WidthPerGroup/64 (64; 128 for wide ResNets)
	InChannels    int     // image channels (3)
	NumClasses    int     // fc outputs (1000); 0 for weights without fc
	BNEps         float64 // BatchNorm epsilon (1e-5)
}

func preset(name string, b Block, layers [4]int, wpg int) Config {
	return Config{Name: name, Block: b, Layers: layers, Width: 64, WidthPerGroup: wpg, InChannels: 3, NumClasses: 1000, BNEps: 1e-5}
}

// torchvision's ResNet configurations.
var (
	ResNet18        = preset("resnet18", Basic, [4]int{2, 2, 2, 2}, 64)
	ResNet34        = preset("resnet34", Basic, [4]int{3, 4, 6, 3}, 64)
	ResNet50        = preset("resnet50", Bottleneck, [4]int{3, 4, 6, 3}, 64)
	ResNet101       = preset("resnet101", Bottleneck, [4]int{3, 4, 23, 3}, 64)
	ResNet152       = preset("resnet152", Bottleneck, [4]int{3, 8, 36, 3}, 64)
	WideResNet50_2  = preset("wide_resnet50_2", Bottleneck, [4]int{3, 4, 6, 3}, 128)
	WideResNet101_2 = preset("wide_resnet101_2", Bottleneck, [4]int{3, 4, 23, 3}, 128)
)

// Presets lists the named configurations.
func Presets() []Config {
	return []Config{ResNet18, ResNet34, ResNet50, ResNet101, ResNet152, WideResNet50_2, WideResNet101_2}
}

// Validate reports the first inconsistency in c.
func (c Config) Validate() error {
	switch {
	case c.Block != Basic && c.Block != Bottleneck:
		return fmt.Errorf("resnet: config %q: unknown block %v", c.Name, c.Block)
	case c.Width < 1 || c.InChannels < 1 || c.NumClasses < 0:
		return fmt.Errorf("resnet: config %q: Width %d, InChannels %d, NumClasses %d", c.Name, c.Width, c.InChannels, c.NumClasses)
	case c.Block == Basic && c.WidthPerGroup != 64:
		return fmt.Errorf("resnet: config %q: basic blocks need WidthPerGroup 64, got %d", c.Name, c.WidthPerGroup)
	case c.Block == Bottleneck && (c.WidthPerGroup < 1 || c.Width*c.WidthPerGroup%64 != 0):
		return fmt.Errorf("resnet: config %q: WidthPerGroup %d does not give whole channel counts for Width %d", c.Name, c.WidthPerGroup, c.Width)
	case !(c.BNEps > 0):
		return fmt.Errorf("resnet: config %q: BNEps %g", c.Name, c.BNEps)
	}
	for i, n := range c.Layers {
		if n < 1 {
			return fmt.Errorf("resnet: config %q: layer%d has %d blocks", c.Name, i+1, n)
		}
	}
	return nil
}

// blockSpec is one residual block's geometry.
type blockSpec struct {
	prefix     string // "layer2.0."
	in, width  int    // input channels, inner width
	out        int    // output channels
	stride     int
	downsample bool
}

// blocks expands the configuration into its residual blocks, in order.
func (c Config) blocks() [][]blockSpec {
	out := make([][]blockSpec, 4)
	in := c.Width
	for l := range 4 {
		planes := c.Width << l
		width := planes
		if c.Block == Bottleneck {
			width = planes * c.WidthPerGroup / 64
		}
		stride := 1
		if l > 0 {
			stride = 2
		}
		for i := range c.Layers[l] {
			b := blockSpec{prefix: fmt.Sprintf("layer%d.%d.", l+1, i), in: in, width: width, out: planes * c.Block.expansion(), stride: 1}
			if i == 0 {
				b.stride = stride
				b.downsample = stride != 1 || in != b.out
			}
			out[l] = append(out[l], b)
			in = b.out
		}
	}
	return out
}

// Channels is the number of pooled feature channels (fc input).
func (c Config) Channels() int { return (c.Width << 3) * c.Block.expansion() }

// ParamShape is one tensor of a checkpoint.
type ParamShape struct {
	Name  string
	Shape []int
}

func bnShapes(prefix string, c int) []ParamShape {
	var out []ParamShape
	for _, n := range []string{"weight", "bias", "running_mean", "running_var"} {
		out = append(out, ParamShape{prefix + n, []int{c}})
	}
	return out
}

// ParamShapes lists the tensors a torchvision checkpoint of c holds, in
// state_dict order, without num_batches_tracked.
func (c Config) ParamShapes() []ParamShape {
	out := []ParamShape{{"conv1.weight", []int{c.Width, c.InChannels, 7, 7}}}
	out = append(out, bnShapes("bn1.", c.Width)...)
	for _, layer := range c.blocks() {
		for _, b := range layer {
			if c.Block == Basic {
				out = append(out, ParamShape{b.prefix + "conv1.weight", []int{b.width, b.in, 3, 3}})
				out = append(out, bnShapes(b.prefix+"bn1.", b.width)...)
				out = append(out, ParamShape{b.prefix + "conv2.weight", []int{b.out, b.width, 3, 3}})
				out = append(out, bnShapes(b.prefix+"bn2.", b.out)...)
			} else {
				out = append(out, ParamShape{b.prefix + "conv1.weight", []int{b.width, b.in, 1, 1}})
				out = append(out, bnShapes(b.prefix+"bn1.", b.width)...)
				out = append(out, ParamShape{b.prefix + "conv2.weight", []int{b.width, b.width, 3, 3}})
				out = append(out, bnShapes(b.prefix+"bn2.", b.width)...)
				out = append(out, ParamShape{b.prefix + "conv3.weight", []int{b.out, b.width, 1, 1}})
				out = append(out, bnShapes(b.prefix+"bn3.", b.out)...)
			}
			if b.downsample {
				out = append(out, ParamShape{b.prefix + "downsample.0.weight", []int{b.out, b.in, 1, 1}})
				out = append(out, bnShapes(b.prefix+"downsample.1.", b.out)...)
			}
		}
	}
	if c.NumClasses > 0 {
		out = append(out, ParamShape{"fc.weight", []int{c.NumClasses, c.Channels()}}, ParamShape{"fc.bias", []int{c.NumClasses}})
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

// ConfigFromWeights infers the configuration from a torchvision ResNet state
// dict: the stem width from conv1.weight, the block type from the presence
// of conv3, the block counts from layerL.i, the bottleneck width from
// layer1.0.conv1.weight and the classes from fc.weight (optional).
// Checkpoints wrapped in a prefix (module., state_dict. …) are accepted.
func ConfigFromWeights(src weights.Source) (Config, error) {
	src, err := unwrap(src)
	if err != nil {
		return Config{}, err
	}
	stem, _ := src.Tensor("conv1.weight")
	if len(stem.Shape) != 4 || stem.Shape[2] != 7 || stem.Shape[3] != 7 {
		return Config{}, fmt.Errorf("resnet: conv1.weight has shape %v, want (C, in, 7, 7)", stem.Shape)
	}
	cfg := Config{Name: "resnet-custom", Width: stem.Shape[0], InChannels: stem.Shape[1], WidthPerGroup: 64, BNEps: 1e-5}
	if _, ok := src.Tensor("layer1.0.conv3.weight"); ok {
		cfg.Block = Bottleneck
		t, ok := src.Tensor("layer1.0.conv1.weight")
		if !ok || len(t.Shape) != 4 {
			return Config{}, fmt.Errorf("resnet: missing or malformed layer1.0.conv1.weight")
		}
		cfg.WidthPerGroup = t.Shape[0] * 64 / cfg.Width
	}
	for l := range 4 {
		for {
			if _, ok := src.Tensor(fmt.Sprintf("layer%d.%d.conv1.weight", l+1, cfg.Layers[l])); !ok {
				break
			}
			cfg.Layers[l]++
		}
	}
	if t, ok := src.Tensor("fc.weight"); ok {
		if len(t.Shape) != 2 {
			return Config{}, fmt.Errorf("resnet: fc.weight has shape %v, want (classes, features)", t.Shape)
		}
		cfg.NumClasses = t.Shape[0]
	}
	for _, p := range Presets() {
		if p.Block == cfg.Block && p.Layers == cfg.Layers && p.Width == cfg.Width && p.WidthPerGroup == cfg.WidthPerGroup && cfg.InChannels == 3 {
			cfg.Name = p.Name
		}
	}
	return cfg, cfg.Validate()
}

// unwrap finds the prefix (e.g. "module." or "state_dict.") under which the
// ResNet tensors live.
func unwrap(src weights.Source) (weights.Source, error) {
	if src == nil {
		return nil, fmt.Errorf("resnet: nil weights source")
	}
	for _, n := range src.Names() {
		if p, ok := strings.CutSuffix(n, "layer1.0.conv1.weight"); ok {
			if _, ok := src.Tensor(p + "conv1.weight"); !ok {
				continue
			}
			if p == "" {
				return src, nil
			}
			return weights.Sub(src, p), nil
		}
	}
	return nil, fmt.Errorf("resnet: no conv1.weight and layer1.0.conv1.weight tensors (not a torchvision ResNet checkpoint?)")
}
