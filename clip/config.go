package clip

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
)

// VisionKind selects the image tower.
type VisionKind string

// Image tower kinds.
const (
	ViT    VisionKind = "vit"    // VisionTransformer
	ResNet VisionKind = "resnet" // ModifiedResNet with attention pooling
)

// VisionConfig describes the image tower.
type VisionConfig struct {
	Kind      VisionKind
	ImageSize int // input resolution R (images are R×R)
	Width     int // ViT: transformer width; ResNet: stem width (feature dim = 32·Width)
	Layers    int // ViT: number of residual attention blocks
	Heads     int // ViT: attention heads; ResNet: attention-pool heads
	PatchSize int // ViT: patch (= conv kernel = stride)
	// ResNetLayers is the number of bottleneck blocks in layer1…layer4.
	ResNetLayers [4]int
}

// TextConfig describes the causal text transformer.
type TextConfig struct {
	ContextLength int // token positions (77 for OpenAI CLIP)
	VocabSize     int // 49408 for OpenAI CLIP
	Width         int
	Heads         int
	Layers        int
}

// Config is a complete CLIP architecture.
type Config struct {
	Name     string
	EmbedDim int // joint embedding dimension
	Vision   VisionConfig
	Text     TextConfig
	// Activation of the transformer MLPs: QuickGELU for OpenAI's weights,
	// exact GELU for open_clip's non-"quickgelu" models.
	Activation nn.Activation
}

func openAIText(width, heads int) TextConfig {
	return TextConfig{ContextLength: 77, VocabSize: 49408, Width: width, Heads: heads, Layers: 12}
}

func vitPreset(name string, embed, res, width, layers, patch, textWidth int) Config {
	return Config{
		Name:       name,
		EmbedDim:   embed,
		Vision:     VisionConfig{Kind: ViT, ImageSize: res, Width: width, Layers: layers, Heads: width / 64, PatchSize: patch},
		Text:       openAIText(textWidth, textWidth/64),
		Activation: nn.QuickGELUAct,
	}
}

func resnetPreset(name string, embed, res, width int, layers [4]int, textWidth int) Config {
	return Config{
		Name:       name,
		EmbedDim:   embed,
		Vision:     VisionConfig{Kind: ResNet, ImageSize: res, Width: width, Heads: width * 32 / 64, ResNetLayers: layers},
		Text:       openAIText(textWidth, textWidth/64),
		Activation: nn.QuickGELUAct,
	}
}

// ViTB32 is OpenAI's ViT-B/32 (151,277,313 parameters).
func ViTB32() Config { return vitPreset("ViT-B/32", 512, 224, 768, 12, 32, 512) }

// ViTB16 is OpenAI's ViT-B/16.
func ViTB16() Config { return vitPreset("ViT-B/16", 512, 224, 768, 12, 16, 512) }

// ViTL14 is OpenAI's ViT-L/14.
func ViTL14() Config { return vitPreset("ViT-L/14", 768, 224, 1024, 24, 14, 768) }

// ViTL14336 is OpenAI's ViT-L/14@336px.
func ViTL14336() Config { return vitPreset("ViT-L/14@336px", 768, 336, 1024, 24, 14, 768) }

// RN50 is OpenAI's RN50 (102,007,137 parameters).
func RN50() Config { return resnetPreset("RN50", 1024, 224, 64, [4]int{3, 4, 6, 3}, 512) }

// RN101 is OpenAI's RN101 (119,688,033 parameters).
func RN101() Config { return resnetPreset("RN101", 512, 224, 64, [4]int{3, 4, 23, 3}, 512) }

// RN50x4 is OpenAI's RN50x4.
func RN50x4() Config { return resnetPreset("RN50x4", 640, 288, 80, [4]int{4, 6, 10, 6}, 640) }

// RN50x16 is OpenAI's RN50x16.
func RN50x16() Config { return resnetPreset("RN50x16", 768, 384, 96, [4]int{6, 8, 18, 8}, 768) }

// RN50x64 is OpenAI's RN50x64.
func RN50x64() Config { return resnetPreset("RN50x64", 1024, 448, 128, [4]int{3, 15, 36, 10}, 1024) }

var presets = []func() Config{RN50, RN101, RN50x4, RN50x16, RN50x64, ViTB32, ViTB16, ViTL14, ViTL14336}

// PresetNames lists the preset names in OpenAI's order.
func PresetNames() []string {
	out := make([]string, len(presets))
	for i, p := range presets {
		out[i] = p().Name
	}
	return out
}

// presetKey folds the spellings of a model name: "ViT-B/32", "ViT-B-32",
// "vit_b_32" and "ViT-L/14@336px" / "ViT-L-14-336" compare equal.
func presetKey(name string) string {
	k := strings.ToLower(strings.TrimSpace(name))
	k = strings.TrimSuffix(k, "px")
	k = strings.NewReplacer("/", "-", "@", "-", "_", "-").Replace(k)
	return k
}

// Preset returns the named OpenAI architecture. Names are OpenAI's
// ("ViT-B/32", "ViT-L/14@336px", "RN50x4") or file-name style ("ViT-B-32",
// "ViT-L-14-336"); a "-quickgelu" suffix (open_clip) is accepted. All
// presets use QuickGELU; set Activation to nn.GELUAct for open_clip models
// trained with exact GELU.
func Preset(name string) (Config, error) {
	k := presetKey(name)
	k = strings.TrimSuffix(k, "-quickgelu")
	for _, p := range presets {
		c := p()
		if presetKey(c.Name) == k {
			return c, nil
		}
	}
	return Config{}, fmt.Errorf("clip: unknown architecture %q (known: %s)", name, strings.Join(PresetNames(), ", "))
}

// Validate checks that the configuration describes a buildable model.
func (c Config) Validate() error {
	v, t := c.Vision, c.Text
	var bad []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			bad = append(bad, fmt.Sprintf(format, args...))
		}
	}
	check(c.EmbedDim > 0, "EmbedDim %d must be positive", c.EmbedDim)
	check(v.ImageSize > 0, "Vision.ImageSize %d must be positive", v.ImageSize)
	check(v.Width > 0, "Vision.Width %d must be positive", v.Width)
	check(v.Heads > 0, "Vision.Heads %d must be positive", v.Heads)
	switch v.Kind {
	case ViT:
		check(v.Layers > 0, "Vision.Layers %d must be positive", v.Layers)
		check(v.PatchSize > 0, "Vision.PatchSize %d must be positive", v.PatchSize)
		check(v.PatchSize <= 0 || v.ImageSize%v.PatchSize == 0, "Vision.ImageSize %d is not a multiple of PatchSize %d", v.ImageSize, v.PatchSize)
		check(v.Heads <= 0 || v.Width%v.Heads == 0, "Vision.Width %d is not divisible by Heads %d", v.Width, v.Heads)
	case ResNet:
		for i, n := range v.ResNetLayers {
			check(n > 0, "Vision.ResNetLayers[%d] = %d must be positive", i, n)
		}
		check(v.Width%2 == 0, "Vision.Width %d must be even (the stem starts at Width/2)", v.Width)
		check(v.ImageSize%32 == 0, "Vision.ImageSize %d is not a multiple of 32", v.ImageSize)
		check(v.Heads <= 0 || (32*v.Width)%v.Heads == 0, "attention-pool width %d is not divisible by Vision.Heads %d", 32*v.Width, v.Heads)
	default:
		bad = append(bad, fmt.Sprintf("Vision.Kind %q is not %q or %q", v.Kind, ViT, ResNet))
	}
	check(t.ContextLength > 0, "Text.ContextLength %d must be positive", t.ContextLength)
	check(t.VocabSize > 0, "Text.VocabSize %d must be positive", t.VocabSize)
	check(t.Width > 0, "Text.Width %d must be positive", t.Width)
	check(t.Layers > 0, "Text.Layers %d must be positive", t.Layers)
	check(t.Heads > 0, "Text.Heads %d must be positive", t.Heads)
	check(t.Heads <= 0 || t.Width%t.Heads == 0, "Text.Width %d is not divisible by Heads %d", t.Width, t.Heads)
	check(c.Activation == nn.QuickGELUAct || c.Activation == nn.GELUAct, "Activation %v is not QuickGELU or GELU", c.Activation)
	if len(bad) > 0 {
		return fmt.Errorf("clip: invalid config %q: %s", c.Name, strings.Join(bad, "; "))
	}
	return nil
}

// NumParams counts the parameters of the architecture from shapes alone
// (nothing is allocated).
func (c Config) NumParams() (int, error) {
	if err := c.Validate(); err != nil {
		return 0, err
	}
	var cm countMaker
	build(c, &cm)
	return cm.n, nil
}

// ConfigFromWeights infers the architecture from tensor names and shapes
// exactly as OpenAI's build_model does (OpenAI and open_clip state dicts
// share the names): ViT when "visual.proj" exists; heads are width/64 for
// the transformers and 32·width/64 for the ResNet attention pool. The
// activation is QuickGELU (it is not recorded in the weights). Name is the
// matching preset's name, or "" for a custom architecture.
func ConfigFromWeights(src weights.Source) (Config, error) {
	shape := func(name string, dims int) ([]int, error) {
		t, ok := src.Tensor(name)
		if !ok {
			return nil, fmt.Errorf("clip: config from weights: missing tensor %q (not an OpenAI/open_clip CLIP state dict?)", name)
		}
		if len(t.Shape) != dims {
			return nil, fmt.Errorf("clip: config from weights: tensor %q has shape %v, want %d dimensions", name, t.Shape, dims)
		}
		return t.Shape, nil
	}
	names := src.Names()
	// distinct counts the distinct values of the third dot-separated field
	// among names starting with prefix (build_model's k.split(".")[2]).
	distinct := func(prefix string) int {
		seen := map[string]bool{}
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				if f := strings.Split(n, "."); len(f) > 2 {
					seen[f[2]] = true
				}
			}
		}
		return len(seen)
	}
	var c Config
	c.Activation = nn.QuickGELUAct
	if _, vit := src.Tensor("visual.proj"); vit {
		conv, err := shape("visual.conv1.weight", 4)
		if err != nil {
			return Config{}, err
		}
		pos, err := shape("visual.positional_embedding", 2)
		if err != nil {
			return Config{}, err
		}
		layers := 0
		for _, n := range names {
			if strings.HasPrefix(n, "visual.") && strings.HasSuffix(n, ".attn.in_proj_weight") {
				layers++
			}
		}
		grid := int(math.Round(math.Sqrt(float64(pos[0] - 1))))
		c.Vision = VisionConfig{Kind: ViT, Width: conv[0], Layers: layers, Heads: conv[0] / 64, PatchSize: conv[3], ImageSize: conv[3] * grid}
	} else {
		if _, ok := src.Tensor("visual.attnpool.positional_embedding"); !ok {
			return Config{}, fmt.Errorf("clip: config from weights: neither visual.proj (ViT) nor visual.attnpool.positional_embedding (ModifiedResNet) found: not an OpenAI/open_clip CLIP state dict")
		}
		c1, err := shape("visual.layer1.0.conv1.weight", 4)
		if err != nil {
			return Config{}, err
		}
		pos, err := shape("visual.attnpool.positional_embedding", 2)
		if err != nil {
			return Config{}, err
		}
		out := int(math.Round(math.Sqrt(float64(pos[0] - 1))))
		if out*out+1 != pos[0] {
			return Config{}, fmt.Errorf("clip: config from weights: visual.attnpool.positional_embedding has %d rows, not a square grid plus one", pos[0])
		}
		c.Vision = VisionConfig{Kind: ResNet, Width: c1[0], Heads: c1[0] * 32 / 64, ImageSize: out * 32}
		for b := range 4 {
			c.Vision.ResNetLayers[b] = distinct("visual.layer" + strconv.Itoa(b+1))
		}
	}
	proj, err := shape("text_projection", 2)
	if err != nil {
		return Config{}, err
	}
	pos, err := shape("positional_embedding", 2)
	if err != nil {
		return Config{}, err
	}
	tok, err := shape("token_embedding.weight", 2)
	if err != nil {
		return Config{}, err
	}
	lnf, err := shape("ln_final.weight", 1)
	if err != nil {
		return Config{}, err
	}
	c.EmbedDim = proj[1]
	c.Text = TextConfig{ContextLength: pos[0], VocabSize: tok[0], Width: lnf[0], Heads: lnf[0] / 64, Layers: distinct("transformer.resblocks")}
	c.Name = matchPreset(c)
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("clip: config from weights: %w", err)
	}
	return c, nil
}

// matchPreset returns the name of the preset equal to c (ignoring Name), or "".
func matchPreset(c Config) string {
	for _, p := range presets {
		pc := p()
		name := pc.Name
		pc.Name = c.Name
		if pc == c {
			return name
		}
	}
	return ""
}

// String is a one-line summary, e.g. "ViT-B/32 (vit 224px w768 L12 p32; text w512 L12; embed 512)".
func (c Config) String() string {
	v := c.Vision
	arch := fmt.Sprintf("vit %dpx w%d L%d h%d p%d", v.ImageSize, v.Width, v.Layers, v.Heads, v.PatchSize)
	if v.Kind == ResNet {
		arch = fmt.Sprintf("resnet %dpx w%d layers%v h%d", v.ImageSize, v.Width, v.ResNetLayers, v.Heads)
	}
	return fmt.Sprintf("%s (%s; text w%d L%d h%d ctx%d; embed %d)", c.Name, arch, c.Text.Width, c.Text.Layers, c.Text.Heads, c.Text.ContextLength, c.EmbedDim)
}
