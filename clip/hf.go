package clip

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
)

// IsHFNames reports whether src uses Hugging Face transformers CLIPModel
// names (text_model.*, vision_model.*) rather than OpenAI/open_clip names.
func IsHFNames(src weights.Source) bool {
	for _, n := range src.Names() {
		if strings.HasPrefix(n, "text_model.") || strings.HasPrefix(n, "vision_model.") {
			return true
		}
	}
	return false
}

// hfSimple maps HF names to OpenAI names one to one (no data change).
var hfSimple = map[string]string{
	"text_model.embeddings.token_embedding.weight":      "token_embedding.weight",
	"text_model.embeddings.position_embedding.weight":   "positional_embedding",
	"text_model.final_layer_norm.weight":                "ln_final.weight",
	"text_model.final_layer_norm.bias":                  "ln_final.bias",
	"vision_model.embeddings.class_embedding":           "visual.class_embedding",
	"vision_model.embeddings.patch_embedding.weight":    "visual.conv1.weight",
	"vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
	"vision_model.pre_layrnorm.weight":                  "visual.ln_pre.weight",
	"vision_model.pre_layrnorm.bias":                    "visual.ln_pre.bias",
	"vision_model.post_layernorm.weight":                "visual.ln_post.weight",
	"vision_model.post_layernorm.bias":                  "visual.ln_post.bias",
	"logit_scale":                                       "logit_scale",
}

// hfTransposed maps HF Linear projections [E,W] to OpenAI matrices [W,E].
var hfTransposed = map[string]string{
	"text_projection.weight":   "text_projection",
	"visual_projection.weight": "visual.proj",
}

// hfLayerParts maps the per-layer HF suffixes to OpenAI suffixes.
var hfLayerParts = map[string]string{
	"self_attn.out_proj.weight": "attn.out_proj.weight",
	"self_attn.out_proj.bias":   "attn.out_proj.bias",
	"layer_norm1.weight":        "ln_1.weight",
	"layer_norm1.bias":          "ln_1.bias",
	"layer_norm2.weight":        "ln_2.weight",
	"layer_norm2.bias":          "ln_2.bias",
	"mlp.fc1.weight":            "mlp.c_fc.weight",
	"mlp.fc1.bias":              "mlp.c_fc.bias",
	"mlp.fc2.weight":            "mlp.c_proj.weight",
	"mlp.fc2.bias":              "mlp.c_proj.bias",
}

var hfLayer = regexp.MustCompile(`^(text_model|vision_model)\.encoder\.layers\.(\d+)\.(.+)$`)

// hfSource presents a Hugging Face CLIPModel state dict under OpenAI names:
// q/k/v projections are concatenated into in_proj (rows q, k, v), the two
// projection matrices are transposed, position_ids buffers are dropped.
// Names it cannot map keep their HF names, so strict loading reports them.
type hfSource struct {
	src   weights.Source
	names []string
	make  map[string]func() (*weights.Tensor, error)
	mu    sync.Mutex
	err   error // first conversion error
}

// FromHF maps a Hugging Face CLIPModel state dict to OpenAI names. Tensors
// are converted lazily, when the model asks for them.
func FromHF(src weights.Source) weights.Source {
	h := &hfSource{src: src, make: map[string]func() (*weights.Tensor, error){}}
	add := func(name string, f func() (*weights.Tensor, error)) {
		if _, dup := h.make[name]; !dup {
			h.names = append(h.names, name)
		}
		h.make[name] = f
	}
	for _, n := range src.Names() {
		t, _ := src.Tensor(n)
		switch {
		case strings.HasSuffix(n, "embeddings.position_ids"):
			continue
		case hfSimple[n] != "":
			add(hfSimple[n], renamed(t, hfSimple[n]))
		case hfTransposed[n] != "":
			add(hfTransposed[n], transposed(t, hfTransposed[n]))
		default:
			m := hfLayer.FindStringSubmatch(n)
			if m == nil {
				add(n, renamed(t, n))
				continue
			}
			prefix := "transformer.resblocks." + m[2] + "."
			if m[1] == "vision_model" {
				prefix = "visual." + prefix
			}
			hfPrefix := m[1] + ".encoder.layers." + m[2] + ".self_attn."
			switch m[3] {
			case "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight":
				add(prefix+"attn.in_proj_weight", h.concatQKV(hfPrefix, "weight", prefix+"attn.in_proj_weight"))
			case "self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias":
				add(prefix+"attn.in_proj_bias", h.concatQKV(hfPrefix, "bias", prefix+"attn.in_proj_bias"))
			default:
				if o, ok := hfLayerParts[m[3]]; ok {
					add(prefix+o, renamed(t, prefix+o))
				} else {
					add(n, renamed(t, n))
				}
			}
		}
	}
	return h
}

func (h *hfSource) Names() []string { return append([]string(nil), h.names...) }

func (h *hfSource) Tensor(name string) (*weights.Tensor, bool) {
	f, ok := h.make[name]
	if !ok {
		return nil, false
	}
	t, err := f()
	if err != nil {
		h.mu.Lock()
		if h.err == nil {
			h.err = err
		}
		h.mu.Unlock()
		// A tensor without data: strict loading reports it as unreadable,
		// and Err returns the cause.
		return &weights.Tensor{Name: name, DType: weights.F32, Shape: []int{0}}, true
	}
	return t, true
}

// Err returns the first error met while converting a tensor.
func (h *hfSource) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// renamed returns t under another name, sharing its data.
func renamed(t *weights.Tensor, name string) func() (*weights.Tensor, error) {
	return func() (*weights.Tensor, error) {
		c := *t
		c.Name = name
		c.Shape = append([]int(nil), t.Shape...)
		return &c, nil
	}
}

// transposed returns the transpose of a 2-D tensor as float32.
func transposed(t *weights.Tensor, name string) func() (*weights.Tensor, error) {
	return func() (*weights.Tensor, error) {
		if len(t.Shape) != 2 {
			return nil, fmt.Errorf("hf: %s: shape %v is not 2-D", t.Name, t.Shape)
		}
		d, err := t.Float32View() // read only: no copy before the transpose
		if err != nil {
			return nil, err
		}
		r, c := t.Shape[0], t.Shape[1]
		out := make([]float32, len(d))
		for i := range r {
			for j := range c {
				out[j*r+i] = d[i*c+j]
			}
		}
		return weights.NewFloat32(name, []int{c, r}, out), nil
	}
}

// concatQKV stacks q_proj, k_proj, v_proj (weight or bias) along dim 0.
func (h *hfSource) concatQKV(prefix, kind, name string) func() (*weights.Tensor, error) {
	return func() (*weights.Tensor, error) {
		var qkv [3]*weights.Tensor
		for i, p := range []string{"q", "k", "v"} {
			t, ok := h.src.Tensor(prefix + p + "_proj." + kind)
			if !ok {
				return nil, fmt.Errorf("hf: %s%s_proj.%s missing", prefix, p, kind)
			}
			if i > 0 && !slices.Equal(qkv[0].Shape, t.Shape) {
				return nil, fmt.Errorf("hf: %s%s_proj.%s: shape %v does not match %v", prefix, p, kind, t.Shape, qkv[0].Shape)
			}
			qkv[i] = t
		}
		shape := append([]int(nil), qkv[0].Shape...)
		if len(shape) == 0 {
			return nil, fmt.Errorf("hf: %s: scalar q/k/v", name)
		}
		n := qkv[0].NumElements()
		data := make([]float32, 3*n) // one copy: read views, write once
		for i, t := range qkv {
			d, err := t.Float32View()
			if err != nil {
				return nil, err
			}
			copy(data[i*n:], d)
		}
		shape[0] *= 3
		return weights.NewFloat32(name, shape, data), nil
	}
}

// hfTowerConfig holds the fields of an HF CLIPTextConfig / CLIPVisionConfig
// that matter here; zero values are filled with transformers' defaults.
type hfTowerConfig struct {
	HiddenSize       int      `json:"hidden_size"`
	IntermediateSize int      `json:"intermediate_size"`
	NumLayers        int      `json:"num_hidden_layers"`
	NumHeads         int      `json:"num_attention_heads"`
	MaxPositions     int      `json:"max_position_embeddings"`
	VocabSize        int      `json:"vocab_size"`
	ImageSize        int      `json:"image_size"`
	PatchSize        int      `json:"patch_size"`
	NumChannels      int      `json:"num_channels"`
	HiddenAct        string   `json:"hidden_act"`
	LayerNormEps     *float64 `json:"layer_norm_eps"`
	ProjectionDim    int      `json:"projection_dim"`
}

type hfConfig struct {
	ModelType      string         `json:"model_type"`
	ProjectionDim  int            `json:"projection_dim"`
	Text           *hfTowerConfig `json:"text_config"`
	Vision         *hfTowerConfig `json:"vision_config"`
	TextOld        *hfTowerConfig `json:"text_config_dict"`
	VisionOld      *hfTowerConfig `json:"vision_config_dict"`
	Architectures  []string       `json:"architectures"`
	InitLogitScale float64        `json:"logit_scale_init_value"`
}

// ConfigFromHF reads a Hugging Face CLIPModel config.json: projection_dim,
// text_config and vision_config (or the older *_config_dict keys), with
// transformers' defaults for absent fields, and hidden_act → Activation
// ("quick_gelu" → QuickGELU, "gelu" → exact GELU).
func ConfigFromHF(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("clip: hf config: %w", err)
	}
	cfg, err := parseHFConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("clip: hf config %s: %w", path, err)
	}
	return cfg, nil
}

func parseHFConfig(b []byte) (Config, error) {
	var hc hfConfig
	if err := json.Unmarshal(b, &hc); err != nil {
		return Config{}, err
	}
	if hc.ModelType != "" && hc.ModelType != "clip" {
		return Config{}, fmt.Errorf("model_type %q is not \"clip\" (only CLIPModel configs are supported)", hc.ModelType)
	}
	text, vision := hc.Text, hc.Vision
	if text == nil {
		text = hc.TextOld
	}
	if vision == nil {
		vision = hc.VisionOld
	}
	if text == nil {
		text = &hfTowerConfig{}
	}
	if vision == nil {
		vision = &hfTowerConfig{}
	}
	// transformers' CLIPTextConfig / CLIPVisionConfig defaults.
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&text.HiddenSize, 512)
	def(&text.IntermediateSize, 2048)
	def(&text.NumLayers, 12)
	def(&text.NumHeads, 8)
	def(&text.MaxPositions, 77)
	def(&text.VocabSize, 49408)
	def(&vision.HiddenSize, 768)
	def(&vision.IntermediateSize, 3072)
	def(&vision.NumLayers, 12)
	def(&vision.NumHeads, 12)
	def(&vision.ImageSize, 224)
	def(&vision.PatchSize, 32)
	def(&vision.NumChannels, 3)
	def(&hc.ProjectionDim, 512)
	var bad []string
	act := map[string]nn.Activation{"": nn.QuickGELUAct, "quick_gelu": nn.QuickGELUAct, "gelu": nn.GELUAct}
	ta, ok1 := act[text.HiddenAct]
	va, ok2 := act[vision.HiddenAct]
	if !ok1 {
		bad = append(bad, fmt.Sprintf("text_config.hidden_act %q is not quick_gelu or gelu", text.HiddenAct))
	}
	if !ok2 {
		bad = append(bad, fmt.Sprintf("vision_config.hidden_act %q is not quick_gelu or gelu", vision.HiddenAct))
	}
	if ok1 && ok2 && ta != va {
		bad = append(bad, fmt.Sprintf("text hidden_act %q and vision hidden_act %q differ", text.HiddenAct, vision.HiddenAct))
	}
	for _, tc := range []struct {
		name string
		c    *hfTowerConfig
	}{{"text_config", text}, {"vision_config", vision}} {
		if tc.c.IntermediateSize != 4*tc.c.HiddenSize {
			bad = append(bad, fmt.Sprintf("%s.intermediate_size %d is not 4×hidden_size %d", tc.name, tc.c.IntermediateSize, tc.c.HiddenSize))
		}
		if tc.c.LayerNormEps != nil && math.Abs(*tc.c.LayerNormEps-1e-5) > 1e-12 {
			bad = append(bad, fmt.Sprintf("%s.layer_norm_eps %g is not 1e-5", tc.name, *tc.c.LayerNormEps))
		}
	}
	if vision.NumChannels != 3 {
		bad = append(bad, fmt.Sprintf("vision_config.num_channels %d is not 3", vision.NumChannels))
	}
	if len(bad) > 0 {
		return Config{}, fmt.Errorf("unsupported: %s", strings.Join(bad, "; "))
	}
	cfg := Config{
		EmbedDim: hc.ProjectionDim,
		Vision: VisionConfig{Kind: ViT, ImageSize: vision.ImageSize, Width: vision.HiddenSize,
			Layers: vision.NumLayers, Heads: vision.NumHeads, PatchSize: vision.PatchSize},
		Text: TextConfig{ContextLength: text.MaxPositions, VocabSize: text.VocabSize,
			Width: text.HiddenSize, Heads: text.NumHeads, Layers: text.NumLayers},
		Activation: ta,
	}
	q := cfg
	q.Activation = nn.QuickGELUAct
	cfg.Name = matchPreset(q)
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
