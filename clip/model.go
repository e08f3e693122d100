package clip

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Model is a complete CLIP: an image tower (exactly one of ViT and ResNet is
// set), the text tower and the learned temperature.
type Model struct {
	ViT             *VisionTransformer
	ResNet          *ModifiedResNet
	Text            *TextTransformer
	LogitScaleParam *nn.Param // logit_scale, a scalar; LogitScale returns its exp

	cfg   Config
	cache nn.Cache
}

var errNilModel = errors.New("clip: nil model (NewRandom returns nil for an invalid config)")

// maker creates a model's parameters by name and shape.
type maker interface {
	param(name string, shape ...int) *nn.Param
}

// isBuffer reports whether name is a BatchNorm running statistic: loaded
// and used, but not a trainable parameter.
func isBuffer(name string) bool {
	return strings.HasSuffix(name, ".running_mean") || strings.HasSuffix(name, ".running_var")
}

// countMaker counts trainable parameters without allocating them.
type countMaker struct{ n int }

func (c *countMaker) param(name string, shape ...int) *nn.Param {
	if !isBuffer(name) {
		c.n += numel(shape)
	}
	return &nn.Param{Name: name}
}

// loadMaker reads every parameter through weights.Strict; a missing or
// mis-shaped tensor becomes a zero parameter and is reported by Strict.Err.
// With view set, F32 parameters alias the source's memory (Float32View) and
// retain it (weights.Retain) instead of being copied.
type loadMaker struct {
	s    *weights.Strict
	view bool
	errs []string
}

func (l *loadMaker) param(name string, shape ...int) *nn.Param {
	if len(shape) == 0 { // scalar (logit_scale): accept [] or [1]
		t := l.s.Tensor(name)
		if t == nil {
			return nn.ZeroParam(name)
		}
		d, err := t.Float32()
		if err != nil || len(d) != 1 || len(t.Shape) > 1 {
			l.errs = append(l.errs, fmt.Sprintf("mis-shaped %s: file has %v, model wants a scalar", name, t.Shape))
			return nn.ZeroParam(name)
		}
		return nn.NewParam(name, d)
	}
	if l.view {
		return l.viewParam(name, shape)
	}
	d := l.s.Float32(name, shape...)
	if d == nil {
		return nn.ZeroParam(name, shape...)
	}
	p := nn.NewParam(name, d, shape...)
	p.Frozen = isBuffer(name)
	return p
}

// viewParam binds the parameter to the tensor's memory without copying
// where it can, and keeps that memory alive as long as the parameter's value.
func (l *loadMaker) viewParam(name string, shape []int) *nn.Param {
	t := l.s.Tensor(name, shape...)
	if t == nil {
		return nn.ZeroParam(name, shape...)
	}
	d, err := t.Float32View()
	if err != nil {
		l.errs = append(l.errs, fmt.Sprintf("unreadable %s: %v", name, err))
		return nn.ZeroParam(name, shape...)
	}
	p := nn.NewParam(name, d, shape...)
	weights.Retain(t, p.Value)
	p.Frozen = isBuffer(name)
	return p
}

// randMaker initialises parameters as OpenAI's CLIP does (normal weights,
// LayerNorm/BatchNorm identity, zero biases).
type randMaker struct{ rng *rand.Rand }

func (r *randMaker) param(name string, shape ...int) *nn.Param {
	d := make([]float32, numel(shape))
	fill := func(v float32) {
		for i := range d {
			d[i] = v
		}
	}
	normal := func(std float64) {
		for i := range d {
			d[i] = float32(r.rng.NormFloat64() * std)
		}
	}
	switch {
	case name == "logit_scale":
		fill(float32(math.Log(1 / 0.07)))
	case strings.HasSuffix(name, ".running_var"):
		fill(1)
	case strings.HasSuffix(name, ".bias") || strings.HasSuffix(name, ".running_mean"):
	case len(shape) == 1 && strings.HasSuffix(name, ".weight"): // LayerNorm, BatchNorm
		fill(1)
	case name == "token_embedding.weight":
		normal(0.02)
	case name == "positional_embedding":
		normal(0.01)
	case name == "text_projection" || name == "visual.proj":
		normal(1 / math.Sqrt(float64(shape[0])))
	case len(shape) == 1 || name == "visual.positional_embedding" || name == "visual.attnpool.positional_embedding":
		normal(1 / math.Sqrt(float64(shape[len(shape)-1])))
	default: // (out, in, ...) weights
		normal(1 / math.Sqrt(float64(numel(shape[1:]))))
	}
	var p *nn.Param
	if len(shape) == 0 {
		p = nn.NewParam(name, d[:1])
	} else {
		p = nn.NewParam(name, d, shape...)
	}
	p.Frozen = isBuffer(name)
	return p
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// build creates a model of architecture cfg (already validated).
func build(cfg Config, mk maker) *Model {
	m := &Model{cfg: cfg}
	// Creation order follows OpenAI's state_dict: own parameters first,
	// then visual, then the text transformer's children.
	m.Text = &TextTransformer{Config: cfg.Text}
	m.Text.PositionalEmbedding = mk.param("positional_embedding", cfg.Text.ContextLength, cfg.Text.Width)
	m.Text.Projection = mk.param("text_projection", cfg.Text.Width, cfg.EmbedDim)
	m.LogitScaleParam = mk.param("logit_scale")
	if cfg.Vision.Kind == ViT {
		m.ViT = newVisionTransformer(mk, cfg.Vision, cfg.EmbedDim, cfg.Activation)
	} else {
		m.ResNet = newModifiedResNet(mk, cfg.Vision, cfg.EmbedDim)
	}
	t := m.Text
	w := cfg.Text.Width
	t.Transformer = newTransformer(mk, "transformer.", w, cfg.Text.Heads, cfg.Text.Layers, cfg.Activation)
	t.TokenEmbedding = nn.Embedding{Weight: mk.param("token_embedding.weight", cfg.Text.VocabSize, w)}
	t.LNFinal = layerNorm(mk, "ln_final", w)
	return m
}

// New builds a model of architecture cfg with the tensors of src, strictly:
// every missing, mis-shaped or unused tensor is named in the error. The
// TorchScript scalars input_resolution, context_length and vocab_size and
// BatchNorm num_batches_tracked counters are ignored. The values are
// copied: the model shares no memory with src.
func New(cfg Config, src weights.Source) (*Model, error) {
	return newModel(cfg, src, false)
}

// newModel is New; with view set, F32 tensors are not copied but aliased
// (see loadMaker), for sources that the model alone uses.
func newModel(cfg Config, src weights.Source, view bool) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("clip: new %s: nil weights source", cfg.Name)
	}
	s := weights.NewStrict(src)
	s.Ignore("input_resolution", "context_length", "vocab_size", "*.num_batches_tracked")
	mk := &loadMaker{s: s, view: view}
	m := build(cfg, mk)
	err := s.Err()
	if len(mk.errs) > 0 {
		extra := strings.Join(mk.errs, "\n  ")
		if err == nil {
			err = fmt.Errorf("weights: strict load: %d problem(s):\n  %s", len(mk.errs), extra)
		} else {
			err = fmt.Errorf("%w\n  %s", err, extra)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("clip: load %s: %w", cfg, err)
	}
	return m, nil
}

// NewRandom builds a model with random weights initialised as OpenAI's code
// does (for shapes, benchmarks and training from scratch). It returns nil
// if cfg is invalid (see Config.Validate); every method of a nil Model
// returns an error.
func NewRandom(cfg Config, seed int64) *Model {
	if cfg.Validate() != nil {
		return nil
	}
	return build(cfg, &randMaker{rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))})
}

// Config returns the architecture.
func (m *Model) Config() Config {
	if m == nil {
		return Config{}
	}
	return m.cfg
}

// Params lists every tensor of the model in OpenAI's state_dict order,
// named as there; BatchNorm running statistics are included and Frozen.
func (m *Model) Params() []*nn.Param {
	if m == nil {
		return nil
	}
	t := m.Text
	ps := []*nn.Param{t.PositionalEmbedding, t.Projection, m.LogitScaleParam}
	if m.ViT != nil {
		ps = append(ps, m.ViT.params()...)
	} else {
		ps = append(ps, m.ResNet.params()...)
	}
	ps = append(ps, transformerParams(t.Transformer)...)
	ps = append(ps, t.TokenEmbedding.Weight)
	return append(ps, lnParams(t.LNFinal)...)
}

// NumParams counts the trainable parameters (BatchNorm running statistics
// excluded, as torch's model.parameters()).
func (m *Model) NumParams() int {
	n := 0
	for _, p := range m.Params() {
		if !isBuffer(p.Name) {
			n += p.Value.Shape().TotalSize()
		}
	}
	return n
}

// LogitScale is exp(logit_scale), the factor of Logits (100 for OpenAI's weights).
func (m *Model) LogitScale() float32 {
	if m == nil {
		return 0
	}
	var v float32
	switch d := m.LogitScaleParam.Value.Data().(type) {
	case float32: // scalar tensor
		v = d
	case []float32:
		v = d[0]
	}
	return float32(math.Exp(float64(v)))
}

// ImageGraph adds the image tower to g: normalized pixels x (N, 3, R, R) →
// embeddings (N, E).
func (m *Model) ImageGraph(g *nn.Graph, x *G.Node) *G.Node {
	if m.ViT != nil {
		return m.ViT.Forward(g, x, nil)
	}
	return m.ResNet.Forward(g, x, nil)
}

// EncodeImage embeds n images given as CLIP-normalized pixels (n, 3, R, R)
// in C order. It returns the raw (not normalized) embeddings (n, EmbedDim).
// Graphs are compiled once per batch size and reused.
func (m *Model) EncodeImage(pixels []float32, n int) ([]float32, error) {
	if m == nil {
		return nil, errNilModel
	}
	r := m.cfg.Vision.ImageSize
	if n < 1 {
		return nil, fmt.Errorf("clip: encode image: batch size %d, want at least 1", n)
	}
	if len(pixels) != n*3*r*r {
		return nil, fmt.Errorf("clip: encode image: %d values for %d images, want %d = %d×3×%d×%d", len(pixels), n, n*3*r*r, n, r, r)
	}
	prog, err := m.cache.Get(fmt.Sprintf("image:%dx3x%dx%d", n, r, r), func() (*nn.Program, error) {
		g := nn.NewGraph(tensor.Float32)
		x := g.Input("pixels", n, 3, r, r)
		y := m.ImageGraph(g, x)
		return nn.Compile(g, []*G.Node{x}, []*G.Node{y})
	})
	if err != nil {
		return nil, fmt.Errorf("clip: encode image: %w", err)
	}
	out, err := prog.Run(tensor.New(tensor.WithShape(n, 3, r, r), tensor.WithBacking(pixels)))
	if err != nil {
		return nil, fmt.Errorf("clip: encode image: %w", err)
	}
	return out[0].Data().([]float32), nil
}

// EncodeText embeds token rows (each ContextLength ids: SOT … EOT, zero
// padded, as Tokenizer.Tokenize returns) and returns the raw embeddings
// (n, EmbedDim). Only the positions up to the batch's last EOT are
// computed; the causal mask makes the result identical.
func (m *Model) EncodeText(rows [][]int32) ([]float32, error) {
	if m == nil {
		return nil, errNilModel
	}
	b, err := m.Text.PrepareText(rows)
	if err != nil {
		return nil, err
	}
	prog, err := m.cache.Get(fmt.Sprintf("text:%dx%d", b.N, b.Length), func() (*nn.Program, error) {
		g := nn.NewGraph(tensor.Float32)
		ids, eot := m.Text.Inputs(g, b.N, b.Length)
		y := m.Text.Forward(g, ids, eot, b.N, b.Length)
		return nn.Compile(g, []*G.Node{ids, eot}, []*G.Node{y})
	})
	if err != nil {
		return nil, fmt.Errorf("clip: encode text: %w", err)
	}
	// RunFunc, not Run: the inputs are Int index vectors, not float32.
	var out []float32
	err = prog.RunFunc(func(vals []G.Value) error {
		out = append([]float32(nil), vals[0].Data().([]float32)...)
		return nil
	}, tensor.New(tensor.WithShape(len(b.IDs)), tensor.WithBacking(b.IDs)),
		tensor.New(tensor.WithShape(b.N), tensor.WithBacking(b.EOT)))
	if err != nil {
		return nil, fmt.Errorf("clip: encode text: %w", err)
	}
	return out, nil
}

// Normalize returns a copy of x (rows of dim values) with every row scaled
// to unit L2 norm (zero rows stay zero).
func Normalize(x []float32, dim int) []float32 {
	out := make([]float32, len(x))
	if dim < 1 {
		return out
	}
	for r := 0; r+dim <= len(x); r += dim {
		var s float64
		for _, v := range x[r : r+dim] {
			s += float64(v) * float64(v)
		}
		if s == 0 {
			continue
		}
		inv := 1 / math.Sqrt(s)
		for i, v := range x[r : r+dim] {
			out[r+i] = float32(float64(v) * inv)
		}
	}
	return out
}

// Logits returns the (ni, nt) matrix scale · norm(img) · norm(txt)ᵀ for ni
// image and nt text embeddings of dim values each (logits per image; its
// transpose is logits per text).
func Logits(img, txt []float32, dim int, scale float32) []float32 {
	if dim < 1 {
		return nil
	}
	a, b := Normalize(img, dim), Normalize(txt, dim)
	ni, nt := len(a)/dim, len(b)/dim
	out := make([]float32, ni*nt)
	for i := range ni {
		for j := range nt {
			var s float64
			for k := range dim {
				s += float64(a[i*dim+k]) * float64(b[j*dim+k])
			}
			out[i*nt+j] = float32(float64(scale) * s)
		}
	}
	return out
}

// FeatureRequest selects the image features ImageFeatures computes.
type FeatureRequest struct {
	// Height and Width of the input; 0 means the model's ImageSize. A ViT
	// needs ImageSize; a ResNet takes any multiples of 32 (its Embedding
	// needs ImageSize, the attention pool's positional grid).
	Height, Width int
	Embedding     bool // pooled embedding (N, E), as EncodeImage
	Tokens        bool // ViT: output of every block (N, T, W), token 0 = class
	Attention     bool // ViT: attention probabilities of every block (N, Heads, T, T)
	Layers        bool // ResNet: stem (N, W, H/4, W/4) and layer1…layer4 maps
	Dense         bool // ResNet: per-location embeddings c_proj(v_proj(x)) (N, h·w, E) of the layer4 map
}

func (r FeatureRequest) key() string {
	return fmt.Sprintf("features:%dx%d:e%t:t%t:a%t:l%t:d%t", r.Height, r.Width, r.Embedding, r.Tokens, r.Attention, r.Layers, r.Dense)
}

// Array is a dense float32 array in C order.
type Array struct {
	Shape []int
	Data  []float32
}

// ImageFeatures holds the outputs an ImageFeatures call asked for; the
// others are nil.
type ImageFeatures struct {
	Embedding *Array
	Tokens    []*Array // ViT, one per block
	Attention []*Array // ViT, one per block
	Stem      *Array   // ResNet
	Layers    [4]*Array
	Dense     *Array
}

// ImageFeatures runs the image tower on n CLIP-normalized images (n, 3, H, W)
// and returns the requested intermediate outputs. Graphs are cached per
// request and batch size.
func (m *Model) ImageFeatures(pixels []float32, n int, req FeatureRequest) (*ImageFeatures, error) {
	if m == nil {
		return nil, errNilModel
	}
	res := m.cfg.Vision.ImageSize
	if req.Height == 0 {
		req.Height = res
	}
	if req.Width == 0 {
		req.Width = res
	}
	h, w := req.Height, req.Width
	switch {
	case !req.Embedding && !req.Tokens && !req.Attention && !req.Layers && !req.Dense:
		return nil, fmt.Errorf("clip: image features: nothing requested")
	case n < 1:
		return nil, fmt.Errorf("clip: image features: batch size %d, want at least 1", n)
	case len(pixels) != n*3*h*w:
		return nil, fmt.Errorf("clip: image features: %d values for %d images, want %d = %d×3×%d×%d", len(pixels), n, n*3*h*w, n, h, w)
	case m.ViT != nil && (req.Layers || req.Dense):
		return nil, fmt.Errorf("clip: image features: Layers and Dense need a ResNet image tower; %s is a ViT", m.cfg.Name)
	case m.ViT != nil && (h != res || w != res):
		return nil, fmt.Errorf("clip: image features: a ViT takes %d×%d inputs, got %d×%d", res, res, h, w)
	case m.ResNet != nil && (req.Tokens || req.Attention):
		return nil, fmt.Errorf("clip: image features: Tokens and Attention need a ViT image tower; %s is a ResNet", m.cfg.Name)
	case m.ResNet != nil && (h%32 != 0 || w%32 != 0 || h < 32 || w < 32):
		return nil, fmt.Errorf("clip: image features: a ResNet takes sizes that are multiples of 32, got %d×%d", h, w)
	case m.ResNet != nil && req.Embedding && (h != res || w != res):
		return nil, fmt.Errorf("clip: image features: the pooled embedding needs %d×%d inputs (the attention pool's grid), got %d×%d", res, res, h, w)
	}
	prog, err := m.cache.Get(fmt.Sprintf("%s:n%d", req.key(), n), func() (*nn.Program, error) {
		g := nn.NewGraph(tensor.Float32)
		x := g.Input("pixels", n, 3, h, w)
		var outs []*G.Node
		if m.ViT != nil {
			taps := &Taps{}
			tok := m.ViT.Tokens(g, x, taps) // (N, T, W)
			if req.Embedding {
				outs = append(outs, m.ViT.Head(g, tok))
			}
			if req.Tokens {
				outs = append(outs, taps.Tokens...)
			}
			if req.Attention {
				outs = append(outs, taps.Probs...)
			}
		} else {
			taps := &ResNetTaps{}
			fmap := m.ResNet.Trunk(g, x, taps) // (N, 32W, h, w)
			if req.Embedding {
				outs = append(outs, m.ResNet.Pool(g, fmap))
			}
			if req.Layers {
				outs = append(outs, taps.Stem, taps.Layers[0], taps.Layers[1], taps.Layers[2], taps.Layers[3])
			}
			if req.Dense {
				outs = append(outs, m.ResNet.Dense(g, fmap))
			}
		}
		return nn.Compile(g, []*G.Node{x}, outs)
	})
	if err != nil {
		return nil, fmt.Errorf("clip: image features: %w", err)
	}
	vals, err := prog.Run(tensor.New(tensor.WithShape(n, 3, h, w), tensor.WithBacking(pixels)))
	if err != nil {
		return nil, fmt.Errorf("clip: image features: %w", err)
	}
	next := func() *Array {
		v := vals[0]
		vals = vals[1:]
		return &Array{Shape: []int(v.Shape().Clone()), Data: v.Data().([]float32)}
	}
	f := &ImageFeatures{}
	if req.Embedding {
		f.Embedding = next()
	}
	if m.ViT != nil {
		blocks := len(m.ViT.Transformer.Blocks)
		if req.Tokens {
			for range blocks {
				f.Tokens = append(f.Tokens, next())
			}
		}
		if req.Attention {
			for range blocks {
				f.Attention = append(f.Attention, next())
			}
		}
		return f, nil
	}
	if req.Layers {
		f.Stem = next()
		for i := range f.Layers {
			f.Layers[i] = next()
		}
	}
	if req.Dense {
		f.Dense = next()
	}
	return f, nil
}
