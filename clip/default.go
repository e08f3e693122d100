package clip

import (
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
)

// A bundle is one safetensors file holding a model's parameters (F32 or
// F16, OpenAI names) with the architecture and the tokenizer's BPE merges
// in its metadata, so that it loads without any other file.
const (
	BundleConfigKey = "goclip.config" // JSON of Config
	BundleMergesKey = "goclip.merges" // BPE merges, one "a b" per line, in rank order
)

// defaultBundle is goclip's own small CLIP, trained from scratch on the
// synthetic shapes of package synth by examples/train-tiny.
//
//go:embed assets/tiny.safetensors
var defaultBundle []byte

// Tiny is the architecture of goclip's default model for a vocabulary of
// vocab tokens: a ViT on 32×32 images with 8×8 patches, width 64, 2
// layers, and a 2-layer width-64 text transformer over 16 positions.
func Tiny(vocab int) Config {
	return Config{
		Name:       "goclip-tiny",
		EmbedDim:   64,
		Vision:     VisionConfig{Kind: ViT, ImageSize: 32, Width: 64, Layers: 2, Heads: 2, PatchSize: 8},
		Text:       TextConfig{ContextLength: 16, VocabSize: vocab, Width: 64, Heads: 2, Layers: 2},
		Activation: nn.QuickGELUAct,
	}
}

// Default returns goclip's embedded default model and its tokenizer: a
// tiny CLIP (Tiny) trained in Go on synthetic images of coloured shapes
// (package synth), with a BPE vocabulary learned from their captions. It
// knows words such as "small", "red", "triangle", "on the left"; it is a
// demonstration model, not a general-purpose one. On colour × shape
// combinations it never saw in training it names the colour of 100% and
// the shape of 96.8% of 500 images (go run ./examples/train-tiny -eval).
// Reproduce it with go run ./examples/train-tiny.
func Default() (*Model, *Tokenizer, error) {
	m, tok, err := ReadBundle("embedded default model", defaultBundle)
	if err != nil {
		return nil, nil, fmt.Errorf("clip: default model: %w", err)
	}
	return m, tok, nil
}

// LoadBundle reads a bundle file written by SaveBundle.
func LoadBundle(path string) (*Model, *Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("clip: load bundle: %w", err)
	}
	return ReadBundle(path, data)
}

// SaveBundle writes m's parameters (as F32, or F16 when half is set), its
// configuration and the merges of its tokenizer to one safetensors file.
// extra adds metadata entries (it may not use the bundle keys).
func SaveBundle(path string, m *Model, merges [][2]string, half bool, extra map[string]string) error {
	if m == nil {
		return fmt.Errorf("clip: save bundle %s: %w", path, errNilModel)
	}
	cfg, err := json.Marshal(m.Config())
	if err != nil {
		return fmt.Errorf("clip: save bundle %s: %w", path, err)
	}
	var lines strings.Builder
	for i, p := range merges {
		if p[0] == "" || p[1] == "" || strings.ContainsAny(p[0]+p[1], " \n") {
			return fmt.Errorf("clip: save bundle %s: merge %d %q is not two non-empty symbols without spaces", path, i, p)
		}
		lines.WriteString(p[0] + " " + p[1] + "\n")
	}
	meta := map[string]string{BundleConfigKey: string(cfg), BundleMergesKey: lines.String()}
	for k, v := range extra {
		if _, taken := meta[k]; taken {
			return fmt.Errorf("clip: save bundle %s: extra metadata may not set %q", path, k)
		}
		meta[k] = v
	}
	mem := weights.NewMemory()
	for _, p := range m.Params() {
		shape, d := []int(p.Value.Shape()), p.Value.Float32s()
		if !half {
			mem.Add(weights.NewFloat32(p.Name, shape, d))
			continue
		}
		raw := make([]byte, 2*len(d))
		for i, v := range d {
			binary.LittleEndian.PutUint16(raw[2*i:], float32ToFloat16(v))
		}
		t, err := weights.NewRaw(p.Name, weights.F16, shape, raw)
		if err != nil {
			return fmt.Errorf("clip: save bundle %s: %w", path, err)
		}
		mem.Add(t)
	}
	if err := weights.WriteSafetensors(path, mem, meta); err != nil {
		return fmt.Errorf("clip: save bundle: %w", err)
	}
	return nil
}

// ReadBundle parses a bundle held in data; name is used in errors.
func ReadBundle(name string, data []byte) (*Model, *Tokenizer, error) {
	src, meta, err := parseSafetensors(data)
	if err != nil {
		return nil, nil, fmt.Errorf("clip: bundle %s: %w", name, err)
	}
	cj, ok := meta[BundleConfigKey]
	if !ok {
		return nil, nil, fmt.Errorf("clip: bundle %s: no %q metadata (not a bundle written by SaveBundle)", name, BundleConfigKey)
	}
	var cfg Config
	if err := json.Unmarshal([]byte(cj), &cfg); err != nil {
		return nil, nil, fmt.Errorf("clip: bundle %s: metadata %q: %w", name, BundleConfigKey, err)
	}
	ml, ok := meta[BundleMergesKey]
	if !ok {
		return nil, nil, fmt.Errorf("clip: bundle %s: no %q metadata", name, BundleMergesKey)
	}
	merges, err := parseMerges(strings.Split(strings.TrimSuffix(ml, "\n"), "\n"), name+" metadata "+BundleMergesKey, 1)
	if err != nil {
		return nil, nil, err
	}
	tok := NewTokenizerFromMerges(merges)
	if tok.VocabSize() != cfg.Text.VocabSize {
		return nil, nil, fmt.Errorf("clip: bundle %s: %d merges give %d tokens, the model's vocabulary has %d", name, len(merges), tok.VocabSize(), cfg.Text.VocabSize)
	}
	m, err := New(cfg, src)
	if err != nil {
		return nil, nil, fmt.Errorf("clip: bundle %s: %w", name, err)
	}
	return m, tok, nil
}

// parseSafetensors reads an in-memory safetensors file with F32 or F16
// tensors into float32 tensors, checking every offset.
func parseSafetensors(data []byte) (weights.Source, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("safetensors: %d bytes, too short for a header", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("safetensors: header of %d bytes in a %d-byte file", n, len(data))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		return nil, nil, fmt.Errorf("safetensors: header: %w", err)
	}
	body := data[8+n:]
	var meta map[string]string
	names := make([]string, 0, len(header))
	for k, v := range header {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, fmt.Errorf("safetensors: __metadata__: %w", err)
			}
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	mem := weights.NewMemory()
	for _, name := range names {
		var e struct {
			DType   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets []uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(header[name], &e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		size := map[string]uint64{"F32": 4, "F16": 2}[e.DType]
		if size == 0 {
			return nil, nil, fmt.Errorf("safetensors: tensor %q has dtype %q, want F32 or F16", name, e.DType)
		}
		count := uint64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("safetensors: tensor %q has shape %v", name, e.Shape)
			}
			count *= uint64(d)
		}
		if len(e.Offsets) != 2 || e.Offsets[0] > e.Offsets[1] || e.Offsets[1] > uint64(len(body)) || e.Offsets[1]-e.Offsets[0] != count*size {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: data offsets %v do not hold %v %s values in a %d-byte body", name, e.Offsets, e.Shape, e.DType, len(body))
		}
		raw := body[e.Offsets[0]:e.Offsets[1]]
		d := make([]float32, count)
		for i := range d {
			if size == 4 {
				d[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			} else {
				d[i] = weights.Float16ToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
			}
		}
		mem.Add(weights.NewFloat32(name, e.Shape, d))
	}
	return mem, meta, nil
}

// float32ToFloat16 rounds to the nearest IEEE half (ties to even),
// saturating to ±Inf.
func float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case b&0x7fffffff == 0x7f800000: // ±Inf
		return sign | 0x7c00
	case b&0x7fffffff > 0x7f800000: // NaN
		return sign | 0x7e00
	case exp >= 31:
		return sign | 0x7c00
	case exp <= 0: // subnormal half (or zero)
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, up to Inf: still correct
	}
	return sign | uint16(h)
}

// ZeroShotAccuracy classifies n images, given as CLIP-normalized pixels
// (n, 3, R, R), among len(prompts) classes, class c described by the
// prompts prompts[c] (their normalized embeddings are averaged), and
// returns the fraction whose best class is labels[i].
func ZeroShotAccuracy(m *Model, tok *Tokenizer, pixels []float32, labels []int, prompts [][]string) (float64, error) {
	if m == nil {
		return 0, errNilModel
	}
	if tok == nil {
		return 0, fmt.Errorf("clip: zero-shot accuracy: nil tokenizer")
	}
	n := len(labels)
	r := m.Config().Vision.ImageSize
	if n == 0 || len(pixels) != n*3*r*r {
		return 0, fmt.Errorf("clip: zero-shot accuracy: %d pixel values for %d labels, want %d×3×%d×%d", len(pixels), n, n, r, r)
	}
	names := make([]string, len(prompts))
	perClass := make([][]float32, len(prompts))
	for c, ps := range prompts {
		if len(ps) == 0 {
			return 0, fmt.Errorf("clip: zero-shot accuracy: class %d has no prompts", c)
		}
		emb, err := encodeTexts(m, tok, ps, m.Config().Text.ContextLength)
		if err != nil {
			return 0, fmt.Errorf("clip: zero-shot accuracy: class %d %q: %w", c, ps[0], err)
		}
		names[c], perClass[c] = ps[0], emb
	}
	for i, l := range labels {
		if l < 0 || l >= len(prompts) {
			return 0, fmt.Errorf("clip: zero-shot accuracy: label %d of image %d outside [0, %d)", l, i, len(prompts))
		}
	}
	dim := m.Config().EmbedDim
	zs, err := NewZeroShotClassifierFromEmbeddings(names, perClass, dim, m.LogitScale())
	if err != nil {
		return 0, err
	}
	const batch = 100
	correct := 0
	for i := 0; i < n; i += batch {
		j := min(i+batch, n)
		emb, err := m.EncodeImage(pixels[i*3*r*r:j*3*r*r], j-i)
		if err != nil {
			return 0, fmt.Errorf("clip: zero-shot accuracy: %w", err)
		}
		for k := i; k < j; k++ {
			logits, err := zs.logits(emb[(k-i)*dim : (k-i+1)*dim])
			if err != nil {
				return 0, err
			}
			best := 0
			for c, v := range logits {
				if v > logits[best] {
					best = c
				}
			}
			if best == labels[k] {
				correct++
			}
		}
	}
	return float64(correct) / float64(n), nil
}
