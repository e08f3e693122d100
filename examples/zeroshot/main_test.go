package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/synth"
	"github.com/goclip/goclip/weights"
)

const vocabPath = "../../../shared/data/bpe_simple_vocab_16e6.txt.gz"

// randomModel writes a random tiny CLIP with the real vocabulary size and
// a PNG image to a temporary directory (the vocabulary beside the model).
func randomModel(t *testing.T) (model, img string, m *clip.Model) {
	t.Helper()
	b, err := os.ReadFile(vocabPath)
	if err != nil {
		t.Skipf("%s not found (see ../shared/data/README.md)", vocabPath)
	}
	cfg := clip.Config{EmbedDim: 16, Activation: nn.QuickGELUAct,
		Vision: clip.VisionConfig{Kind: clip.ViT, ImageSize: 32, Width: 64, Layers: 1, Heads: 1, PatchSize: 16},
		Text:   clip.TextConfig{ContextLength: 77, VocabSize: 49408, Width: 64, Heads: 1, Layers: 1}}
	m = clip.NewRandom(cfg, 11)
	mem := weights.NewMemory()
	for _, p := range m.Params() {
		mem.Add(weights.NewFloat32(p.Name, p.Shape(), paramData(p)))
	}
	dir := t.TempDir()
	model = filepath.Join(dir, "model.safetensors")
	if err := weights.WriteSafetensors(model, mem, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, clip.VocabFile), b, 0o644)
	im := image.NewRGBA(image.Rect(0, 0, 40, 50))
	for y := range 50 {
		for x := range 40 {
			im.Set(x, y, color.RGBA{uint8(6 * x), uint8(y * y), 90, 255})
		}
	}
	img = filepath.Join(dir, "x.png")
	f, _ := os.Create(img)
	png.Encode(f, im)
	f.Close()
	return model, img, m
}

// parse reads "  12.3456%  label" lines.
func parse(t *testing.T, s string) (labels []string, probs []float64) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), "%  ", 2)
		if len(f) != 2 {
			t.Fatalf("bad line %q", line)
		}
		p, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		labels, probs = append(labels, f[1]), append(probs, p)
	}
	return labels, probs
}

func TestZeroShotProgram(t *testing.T) {
	model, img, m := randomModel(t)
	tok, err := clip.LoadTokenizer(vocabPath)
	if err != nil {
		t.Fatal(err)
	}
	classes := []string{"a diagram", "a dog", "a cat"}
	for _, tc := range []struct {
		templates string
		tpls      []string
	}{{"", nil}, {"imagenet", clip.ImageNetTemplates}, {"a photo of {}.|art of {}", []string{"a photo of {}.", "art of {}"}}} {
		var buf bytes.Buffer
		args := []string{"-model", model, "-image", img, "-labels", strings.Join(classes, ",")}
		if tc.templates != "" {
			args = append(args, "-templates", tc.templates)
		}
		if err := run(args, &buf); err != nil {
			t.Fatal(err)
		}
		labels, probs := parse(t, buf.String())
		// The same through the library.
		z, err := clip.NewZeroShotClassifier(m, tok, classes, tc.tpls)
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := clip.DecodeImage(img)
		pix, _ := clip.Preprocess(dec, 32)
		emb, _ := m.EncodeImage(pix, 1)
		preds, _ := z.Classify(emb, 0)
		if len(labels) != 3 {
			t.Fatalf("%q: output %q", tc.templates, buf.String())
		}
		var sum float64
		for i, p := range preds {
			if labels[i] != p.Label || fmt.Sprintf("%.4f", probs[i]) != fmt.Sprintf("%.4f", 100*p.Prob) {
				t.Errorf("%q: line %d %q %.4f, want %q %.4f", tc.templates, i, labels[i], probs[i], p.Label, 100*p.Prob)
			}
			sum += probs[i]
		}
		if sum < 99.99 || sum > 100.01 {
			t.Errorf("%q: probabilities sum to %v", tc.templates, sum)
		}
	}
	var buf bytes.Buffer
	if err := run([]string{"-model", model, "-image", img, "-labels", "a,b,c", "-top", "1"}, &buf); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(buf.String()), "\n"); n != 0 {
		t.Errorf("-top 1 printed %d lines:\n%s", n+1, buf.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-model", model, "-image", img}, "need -image and -labels"},
		{[]string{"-model", model, "-image", img, "-labels", " , "}, "no labels"},
		{[]string{"-model", model, "-image", img, "-labels", "a", "-templates", "cifar"}, "-templates"},
		{[]string{"-model", model, "-image", model, "-labels", "a"}, "decode"},
		{[]string{"-model", model, "-image", img, "-labels", strings.Repeat("word ", 90)}, "longer than context length"},
	} {
		if err := run(tc.args, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// paramData returns a parameter's values; nn.Param.Data panics on scalar
// parameters (logit_scale), whose tensor holds a bare float32.
func paramData(p *nn.Param) []float32 {
	switch d := p.Value.Data().(type) {
	case []float32:
		return d
	case float32:
		return []float32{d}
	}
	panic(fmt.Sprintf("param %s: unexpected data %T", p.Name, p.Value.Data()))
}

// TestDefaultModel: without -model the embedded clip.Default model names
// the colour and the shape of a rendered synthetic image (a held-out
// colour × shape combination, never seen in training).
func TestDefaultModel(t *testing.T) {
	s := synth.Sample{Shape: 3, Colour: 0, Size: 1, Position: 4, Background: 1, Seed: 7} // a large red star
	im, err := s.Render(32)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "star.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, im); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tc := range []struct{ labels, want string }{
		{"a red shape,a green shape,a blue shape,a yellow shape,a purple shape,an orange shape,a white shape", "a red shape"},
		{"a circle,a square,a triangle,a star,a cross", "a star"},
	} {
		var buf bytes.Buffer
		if err := run([]string{"-image", path, "-labels", tc.labels, "-top", "1"}, &buf); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(buf.String()); !strings.HasSuffix(got, "  "+tc.want) {
			t.Errorf("labels %q: top prediction %q, want %q", tc.labels, got, tc.want)
		}
	}
}
