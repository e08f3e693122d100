package clip

import (
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
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
			binary.LittleEndian.PutUint16(raw[2*i:], weights.Float32ToFloat16(v))
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
	f, err := weights.OpenBytes(name, data)
	if err != nil {
		return nil, nil, fmt.Errorf("clip: bundle: %w", err)
	}
	if f.Format() != weights.Safetensors {
		return nil, nil, fmt.Errorf("clip: bundle %s: %s file, want safetensors", name, f.Format())
	}
	src, meta := f, f.Metadata()
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
