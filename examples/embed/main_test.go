package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
)

const (
	fixtures  = "../../clip/testdata/load"
	vocabPath = "../../../shared/data/bpe_simple_vocab_16e6.txt.gz"
)

func runJSON(t *testing.T, args ...string) (output, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := run(append(args, "-json"), &buf); err != nil {
		t.Fatal(err)
	}
	var out output
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	return out, buf.String()
}

// TestEmbedFixture runs the program on the PyTorch fixture model and
// compares its JSON embeddings with PyTorch's.
func TestEmbedFixture(t *testing.T) {
	var want struct {
		ImageEmbeds [][]float32 `json:"image_embeds"`
		LogitScale  float32     `json:"logit_scale"`
	}
	b, err := os.ReadFile(filepath.Join(fixtures, "vit_expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &want)
	npy := filepath.Join(fixtures, "vit_images.npy")
	out, _ := runJSON(t, "-model", filepath.Join(fixtures, "vit_jit.pt"), "-image", npy)
	if len(out.Images) != 2 || len(out.Texts) != 0 || out.LogitScale == nil {
		t.Fatalf("output %+v", out)
	}
	for i, im := range out.Images {
		if want := npy + "[" + string(rune('0'+i)) + "]"; im.Source != want {
			t.Errorf("source %q, want %q", im.Source, want)
		}
		for k, v := range want.ImageEmbeds[i] {
			if math.Abs(float64(im.Embedding[k]-v)) > 1e-4*4 {
				t.Fatalf("image %d dim %d: %v, want %v", i, k, im.Embedding[k], v)
			}
		}
	}
	if math.Abs(float64(*out.LogitScale-want.LogitScale)) > 1e-4 {
		t.Errorf("logit_scale %v, want %v", *out.LogitScale, want.LogitScale)
	}
}

func needVocab(t *testing.T) {
	if _, err := os.Stat(vocabPath); err != nil {
		t.Skipf("%s not found (see ../shared/data/README.md)", vocabPath)
	}
}

// TestEmbedTokensOnly: -vocab without -model only tokenizes.
func TestEmbedTokensOnly(t *testing.T) {
	needVocab(t)
	out, raw := runJSON(t, "-vocab", vocabPath, "-text", "Hello World!", "-text", "a photo of a cat")
	if len(out.Texts) != 2 || len(out.Images) != 0 {
		t.Fatalf("%s", raw)
	}
	want := [][]int32{{49406, 3306, 1002, 256, 49407}, {49406, 320, 1125, 539, 320, 2368, 49407}}
	for i, w := range want {
		if out.Texts[i].Text == "" || !equal(out.Texts[i].Tokens, w) {
			t.Errorf("text %d: %+v, want tokens %v", i, out.Texts[i], w)
		}
	}
	if strings.Contains(raw, "embedding") || strings.Contains(raw, "logit_scale") {
		t.Errorf("token-only output has embeddings: %s", raw)
	}
	if !strings.Contains(raw, `"images":[]`) {
		t.Errorf("images should be an empty list: %s", raw)
	}
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// randomModelDir writes a random tiny CLIP with the real vocabulary size to
// dir/model.safetensors, with the tokenizer vocabulary beside it.
func randomModelDir(t *testing.T) (string, *clip.Model) {
	t.Helper()
	needVocab(t)
	cfg := clip.Config{EmbedDim: 16, Activation: nn.QuickGELUAct,
		Vision: clip.VisionConfig{Kind: clip.ViT, ImageSize: 32, Width: 64, Layers: 1, Heads: 1, PatchSize: 16},
		Text:   clip.TextConfig{ContextLength: 77, VocabSize: 49408, Width: 64, Heads: 1, Layers: 1}}
	m := clip.NewRandom(cfg, 3)
	mem := weights.NewMemory()
	for _, p := range m.Params() {
		mem.Add(weights.NewFloat32(p.Name, p.Shape(), paramData(p)))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := weights.WriteSafetensors(path, mem, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(vocabPath)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, clip.VocabFile), b, 0o644)
	return path, m
}

func writePNG(t *testing.T, path string, w, h int) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(7 * x), uint8(5 * y), uint8(x * y), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// TestEmbedMatchesAPI checks images (PNG and .npy) and texts against direct
// library calls, in input order, and the human-readable output.
func TestEmbedMatchesAPI(t *testing.T) {
	model, m := randomModelDir(t)
	dir := filepath.Dir(model)
	pngPath := filepath.Join(dir, "x.png")
	writePNG(t, pngPath, 45, 37)
	npyPath := filepath.Join(dir, "p.npy")
	pix := make([]float32, 3*32*32)
	for i := range pix {
		pix[i] = float32(math.Sin(float64(i)))
	}
	clip.WriteNPY(npyPath, pix, 3, 32, 32)
	texts := []string{"a dog", "a cat on a mat"}
	out, _ := runJSON(t, "-model", model, "-image", pngPath, "-text", texts[0], "-image", npyPath, "-text", texts[1])

	img, _ := clip.DecodeImage(pngPath)
	pngPix, _ := clip.Preprocess(img, 32)
	wantImg, err := m.EncodeImage(append(pngPix, pix...), 2)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := clip.LoadTokenizer(vocabPath)
	rows, _ := tok.Tokenize(texts, 77, false)
	wantTxt, err := m.EncodeText(rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 2 || out.Images[0].Source != pngPath || out.Images[1].Source != npyPath {
		t.Fatalf("images %+v", out.Images)
	}
	for i, im := range out.Images {
		for k, v := range im.Embedding {
			if v != wantImg[i*16+k] {
				t.Fatalf("image %d: %v, want %v", i, im.Embedding, wantImg[i*16:(i+1)*16])
			}
		}
	}
	for i, tx := range out.Texts {
		if tx.Text != texts[i] || tx.Tokens[0] != 49406 || tx.Tokens[len(tx.Tokens)-1] != 49407 || len(tx.Tokens) != 2+len(tok.Encode(texts[i])) {
			t.Errorf("text %d: %+v", i, tx)
		}
		for k, v := range tx.Embedding {
			if v != wantTxt[i*16+k] {
				t.Fatalf("text %d: %v, want %v", i, tx.Embedding, wantTxt[i*16:(i+1)*16])
			}
		}
	}
	var buf bytes.Buffer
	if err := run([]string{"-model", model, "-image", pngPath, "-text", "a dog"}, &buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"image " + pngPath, `text "a dog"`, "logits", "dim 16"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, buf.String())
		}
	}
	// -truncate cuts a long text to the context length, ending with EOT.
	long := strings.Repeat("word ", 100)
	out, _ = runJSON(t, "-model", model, "-text", long, "-truncate")
	if tk := out.Texts[0].Tokens; len(tk) != 77 || tk[76] != 49407 {
		t.Errorf("truncated tokens %v", tk)
	}
}

func TestEmbedErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.npy")
	clip.WriteNPY(bad, make([]float32, 3*31*31), 3, 31, 31)
	junk := filepath.Join(dir, "junk.png")
	os.WriteFile(junk, []byte("not an image"), 0o644)
	vit := filepath.Join(fixtures, "vit_jit.pt")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "need -model"},
		{[]string{"-vocab", vocabPath, "-image", "x.png"}, "-image needs -model"},
		{[]string{"-model", vit}, "nothing to do"},
		{[]string{"-model", vit, "-image", bad}, "want (3,30,30) or (N,3,30,30)"},
		{[]string{"-model", vit, "-image", junk}, "decode"},
		{[]string{"-model", vit, "-image", filepath.Join(dir, "absent.png")}, "no such file"},
		{[]string{"-model", vit, "-text", "a dog"}, clip.VocabURL},
		{[]string{"-model", filepath.Join(dir, "absent.pt"), "-text", "a"}, "no such file"},
		{[]string{"-model", vit, "stray"}, "unexpected argument"},
	} {
		err := run(tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(vocabPath); err == nil {
		err := run([]string{"-vocab", vocabPath, "-text", strings.Repeat("word ", 100)}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "longer than context length 77") {
			t.Errorf("too-long text: %v", err)
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
