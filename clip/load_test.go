package clip

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
)

const loadDir = "testdata/load"

// loadExpected is one PyTorch reference of clip/testdata/load/gen.py.
type loadExpected struct {
	ImageEmbeds    [][]float32 `json:"image_embeds"`
	TextEmbeds     [][]float32 `json:"text_embeds"`
	LogitScale     float32     `json:"logit_scale"`
	LogitsPerImage [][]float32 `json:"logits_per_image"`
}

type loadFixture struct {
	loadExpected
	GELU     *loadExpected `json:"gelu"`
	Heads2   *loadExpected `json:"heads2"`
	ZeroShot *struct {
		Classes [][]int     `json:"classes"`
		Probs   [][]float32 `json:"probs"`
	} `json:"zeroshot"`
	images []float32
	nImg   int
	tokens [][]int32
}

func readLoadFixture(t *testing.T, kind string) *loadFixture {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(loadDir, kind+"_expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f loadFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	img, shape, err := ReadNPY(filepath.Join(loadDir, kind+"_images.npy"))
	if err != nil {
		t.Fatal(err)
	}
	f.images, f.nImg = img, shape[0]
	tok, tshape, err := ReadNPY(filepath.Join(loadDir, "tokens.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for r := range tshape[0] {
		row := make([]int32, tshape[1])
		for c := range row {
			row[c] = int32(tok[r*tshape[1]+c])
		}
		f.tokens = append(f.tokens, row)
	}
	return &f
}

func flat(x [][]float32) []float32 {
	var out []float32
	for _, r := range x {
		out = append(out, r...)
	}
	return out
}

// assertEmbeddings checks got against want row by row: cosine ≥ 0.99999 and
// max abs difference ≤ 1e-4 × the output scale (max |want|).
func assertEmbeddings(t *testing.T, what string, got []float32, want [][]float32) {
	t.Helper()
	w := flat(want)
	if len(got) != len(w) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(w))
	}
	scale := 0.0
	for _, v := range w {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	maxDiff := 0.0
	for i := range w {
		maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-w[i])))
	}
	if maxDiff > 1e-4*scale {
		t.Errorf("%s: max abs diff %.3g > 1e-4 × scale %.3g", what, maxDiff, scale)
	}
	dim := len(want[0])
	for r := range want {
		var dot, na, nb float64
		for k := range dim {
			a, b := float64(got[r*dim+k]), float64(w[r*dim+k])
			dot, na, nb = dot+a*b, na+a*a, nb+b*b
		}
		if c := dot / math.Sqrt(na*nb); c < 0.99999 {
			t.Errorf("%s row %d: cosine %.7f < 0.99999", what, r, c)
		}
	}
}

func checkModel(t *testing.T, m *Model, f *loadFixture, want *loadExpected) {
	t.Helper()
	img, err := m.EncodeImage(f.images, f.nImg)
	if err != nil {
		t.Fatal(err)
	}
	assertEmbeddings(t, "image", img, want.ImageEmbeds)
	txt, err := m.EncodeText(f.tokens)
	if err != nil {
		t.Fatal(err)
	}
	assertEmbeddings(t, "text", txt, want.TextEmbeds)
	if d := math.Abs(float64(m.LogitScale() - want.LogitScale)); d > 1e-5*float64(want.LogitScale) {
		t.Errorf("logit scale %v, want %v", m.LogitScale(), want.LogitScale)
	}
	logits := Logits(img, txt, m.Config().EmbedDim, m.LogitScale())
	assertEmbeddings(t, "logits", logits, want.LogitsPerImage)
}

// TestLoadFormats loads the same two tiny CLIPs from every checkpoint
// format PyTorch writes and compares embeddings with PyTorch's.
func TestLoadFormats(t *testing.T) {
	vit, rn := readLoadFixture(t, "vit"), readLoadFixture(t, "rn")
	// An OpenAI-named safetensors file, written from the TorchScript tensors.
	st := filepath.Join(t.TempDir(), "rn_openai.safetensors")
	src, err := weights.Open(filepath.Join(loadDir, "rn_jit.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := weights.WriteSafetensors(st, src, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	src.Close()
	for _, tc := range []struct {
		path string
		f    *loadFixture
		kind VisionKind
	}{
		{filepath.Join(loadDir, "vit_jit.pt"), vit, ViT},
		{filepath.Join(loadDir, "vit_hf"), vit, ViT},
		{filepath.Join(loadDir, "vit_hf", "model.safetensors"), vit, ViT},
		{filepath.Join(loadDir, "rn_jit.pt"), rn, ResNet},
		{filepath.Join(loadDir, "rn_openclip.bin"), rn, ResNet},
		{filepath.Join(loadDir, "rn_legacy.pt"), rn, ResNet},
		{st, rn, ResNet},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			m, err := Load(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			cfg := m.Config()
			want := Config{EmbedDim: 32, Activation: nn.QuickGELUAct,
				Text: TextConfig{ContextLength: 8, VocabSize: 64, Width: 64, Heads: 1, Layers: 1}}
			if tc.kind == ViT {
				want.Vision = VisionConfig{Kind: ViT, ImageSize: 30, Width: 64, Layers: 1, Heads: 1, PatchSize: 6}
			} else {
				want.Vision = VisionConfig{Kind: ResNet, ImageSize: 64, Width: 2, Heads: 1, ResNetLayers: [4]int{1, 2, 1, 1}}
			}
			if cfg != want {
				t.Fatalf("config %+v, want %+v", cfg, want)
			}
			checkModel(t, m, tc.f, &tc.f.loadExpected)
		})
	}
}

// TestLoadOptions checks WithActivation (open_clip GELU models) and
// WithConfig (here: 2 heads, so the multi-head split is exercised) against
// PyTorch runs of the same weights.
func TestLoadOptions(t *testing.T) {
	vit, rn := readLoadFixture(t, "vit"), readLoadFixture(t, "rn")
	m, err := Load(filepath.Join(loadDir, "vit_jit.pt"), WithActivation(nn.GELUAct))
	if err != nil {
		t.Fatal(err)
	}
	if m.Config().Activation != nn.GELUAct {
		t.Fatalf("activation %v", m.Config().Activation)
	}
	checkModel(t, m, vit, vit.GELU)

	for _, tc := range []struct {
		path string
		f    *loadFixture
	}{{"vit_jit.pt", vit}, {"rn_openclip.bin", rn}, {"vit_hf", vit}} {
		m, err := Load(filepath.Join(loadDir, tc.path))
		if err != nil {
			t.Fatal(err)
		}
		cfg := m.Config()
		cfg.Vision.Heads, cfg.Text.Heads = 2, 2
		m2, err := Load(filepath.Join(loadDir, tc.path), WithConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		if m2.Config() != cfg {
			t.Fatalf("%s: config %+v, want %+v", tc.path, m2.Config(), cfg)
		}
		t.Run(tc.path+"/heads2", func(t *testing.T) { checkModel(t, m2, tc.f, tc.f.Heads2) })
	}
}

func TestConfigFromHF(t *testing.T) {
	cfg, err := ConfigFromHF(filepath.Join(loadDir, "vit_hf", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{EmbedDim: 32, Activation: nn.QuickGELUAct,
		Vision: VisionConfig{Kind: ViT, ImageSize: 30, Width: 64, Layers: 1, Heads: 1, PatchSize: 6},
		Text:   TextConfig{ContextLength: 8, VocabSize: 64, Width: 64, Heads: 1, Layers: 1}}
	if cfg != want {
		t.Fatalf("config %+v, want %+v", cfg, want)
	}
	cfg, err = ConfigFromHF(filepath.Join(loadDir, "hf_config_gelu.json"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Activation != nn.GELUAct {
		t.Errorf("hidden_act gelu gave %v", cfg.Activation)
	}
	// An empty config means transformers' defaults: ViT-B/32.
	cfg, err = parseHFConfig([]byte(`{"model_type": "clip"}`))
	if err != nil {
		t.Fatal(err)
	}
	if b32 := ViTB32(); cfg != b32 {
		t.Errorf("defaults %+v, want ViT-B/32 %+v", cfg, b32)
	}
	// The older text_config_dict/vision_config_dict spelling.
	cfg, err = parseHFConfig([]byte(`{"projection_dim": 768, "text_config_dict": {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12},
		"vision_config_dict": {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 24, "patch_size": 14}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "ViT-L/14" {
		t.Errorf("config_dict spelling: %+v, want ViT-L/14", cfg)
	}
	for _, tc := range []struct{ json, want string }{
		{`{"text_config": {"hidden_act": "relu"}}`, `hidden_act "relu"`},
		{`{"text_config": {"hidden_act": "gelu"}}`, "differ"},
		{`{"vision_config": {"intermediate_size": 100}}`, "intermediate_size 100"},
		{`{"model_type": "siglip"}`, "siglip"},
		{`{"vision_config": {"image_size": 100}}`, "not a multiple"},
		{`{`, "unexpected end"},
	} {
		if _, err := parseHFConfig([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.json, err, tc.want)
		}
	}
	if _, err := ConfigFromHF(filepath.Join(loadDir, "absent.json")); err == nil {
		t.Error("missing file: no error")
	}
}

// mutated writes the tensors of a fixture to a safetensors file after
// edit has changed the set.
func mutated(t *testing.T, file string, edit func(m *weights.Memory, src weights.Source)) string {
	t.Helper()
	src, err := weights.Open(filepath.Join(loadDir, file))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	mem := weights.NewMemory()
	edit(mem, src)
	out := filepath.Join(t.TempDir(), "edited.safetensors")
	if err := weights.WriteSafetensors(out, mem, nil); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadStrict(t *testing.T) {
	path := mutated(t, "rn_legacy.pt", func(mem *weights.Memory, src weights.Source) {
		for _, n := range src.Names() {
			tt, _ := src.Tensor(n)
			d, err := tt.Float32()
			if err != nil {
				t.Fatal(err)
			}
			switch n {
			case "visual.layer2.1.bn2.running_var": // missing
			case "ln_final.bias": // mis-shaped
				mem.Add(weights.NewFloat32(n, []int{65}, append(d, 0)))
			default:
				mem.Add(weights.NewFloat32(n, tt.Shape, d))
			}
		}
		mem.Add(weights.NewFloat32("visual.extra_head.weight", []int{2, 2}, make([]float32, 4)))
	})
	_, err := Load(path)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"visual.layer2.1.bn2.running_var", "ln_final.bias", "visual.extra_head.weight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}

	// HF names: a missing k_proj is named, an unknown tensor kept as unused.
	path = mutated(t, "vit_hf/model.safetensors", func(mem *weights.Memory, src weights.Source) {
		for _, n := range src.Names() {
			if n == "text_model.encoder.layers.0.self_attn.k_proj.bias" {
				continue
			}
			tt, _ := src.Tensor(n)
			d, _ := tt.Float32()
			mem.Add(weights.NewFloat32(n, tt.Shape, d))
		}
		mem.Add(weights.NewFloat32("vision_model.head.weight", []int{3}, make([]float32, 3)))
	})
	_, err = Load(path)
	if err == nil {
		t.Fatal("HF: no error")
	}
	for _, want := range []string{"k_proj.bias", "vision_model.head.weight"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("HF error does not name %s:\n%v", want, err)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	notCLIP := mutated(t, "rn_legacy.pt", func(mem *weights.Memory, _ weights.Source) {
		mem.Add(weights.NewFloat32("features.0.weight", []int{2}, []float32{1, 2}))
	})
	junk := filepath.Join(dir, "junk.pt")
	os.WriteFile(junk, []byte("this is not a checkpoint"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{notCLIP, "not a CLIP checkpoint"},
		{junk, "unrecognized format"},
		{filepath.Join(dir, "absent.pt"), "no such file"},
		{dir, "model.safetensors"},
	} {
		_, err := Load(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s): %v, want an error mentioning %q", tc.path, err, tc.want)
		}
	}
	// A ViT without its projection is not a ResNet either: unknown architecture.
	noProj := mutated(t, "vit_jit.pt", func(mem *weights.Memory, src weights.Source) {
		for _, n := range src.Names() {
			if n != "visual.proj" {
				tt, _ := src.Tensor(n)
				d, _ := tt.Float32()
				mem.Add(weights.NewFloat32(n, tt.Shape, d))
			}
		}
	})
	if _, err := Load(noProj); err == nil || !strings.Contains(err.Error(), "visual.proj") {
		t.Errorf("ViT without visual.proj: %v", err)
	}
}

func TestSHA256(t *testing.T) {
	if len(OpenAIFiles) != 9 {
		t.Fatalf("%d OpenAI files", len(OpenAIFiles))
	}
	fake := filepath.Join(t.TempDir(), "ViT-B-32.pt")
	os.WriteFile(fake, []byte("not the real weights"), 0o644)
	got, err := FileSHA256(fake)
	if err != nil {
		t.Fatal(err)
	}
	// sha256("not the real weights"), computed independently with sha256sum.
	if got != "622816042de1e68e2f841611c77763d092419cd6a29df34e79347a4d40029362" {
		t.Fatalf("hash %s", got)
	}
	_, err = Load(fake, WithSHA256Check())
	if err == nil || !strings.Contains(err.Error(), "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af") || !strings.Contains(err.Error(), got) {
		t.Errorf("want an error naming expected and actual hash, got %v", err)
	}
	vit := filepath.Join(loadDir, "vit_jit.pt")
	if _, err := Load(vit, WithSHA256Check()); err == nil || !strings.Contains(err.Error(), "none of OpenAI's") {
		t.Errorf("unknown file: %v", err)
	}
	sum, err := FileSHA256(vit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(vit, WithSHA256(strings.ToUpper(sum))); err != nil {
		t.Errorf("matching hash: %v", err)
	}
	if _, err := Load(vit, WithSHA256(strings.Repeat("0", 64))); err == nil || !strings.Contains(err.Error(), sum) {
		t.Errorf("wrong hash: %v", err)
	}
}

func TestLoadTokenizerFor(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.pt")
	os.WriteFile(model, []byte("x"), 0o644)
	_, err := LoadTokenizerFor(model)
	if !errors.Is(err, ErrNoVocab) || !strings.Contains(err.Error(), VocabURL) {
		t.Fatalf("no vocab: %v", err)
	}
	// A Hugging Face directory: vocab.json + merges.txt (a tiny vocabulary
	// with two merges) beside the weights.
	hf := t.TempDir()
	enc := map[string]int{}
	for i, r := range byteRunes {
		enc[string(r)], enc[string(r)+"</w>"] = i, 256+i
	}
	enc["do"], enc["dog</w>"], enc["<|startoftext|>"], enc["<|endoftext|>"] = 512, 513, 514, 515
	vj, _ := json.Marshal(enc)
	os.WriteFile(filepath.Join(hf, "vocab.json"), vj, 0o644)
	os.WriteFile(filepath.Join(hf, "merges.txt"), []byte("#version: 0.2\nd o\ndo g</w>\n"), 0o644)
	os.WriteFile(filepath.Join(hf, "model.safetensors"), []byte("x"), 0o644)
	for _, p := range []string{hf, filepath.Join(hf, "model.safetensors")} {
		tok, err := LoadTokenizerFor(p)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := tok.Tokenize([]string{"Dog"}, 4, false)
		if err != nil || ids[0][0] != 514 || ids[0][1] != 513 || ids[0][2] != 515 {
			t.Errorf("HF tokenizer beside %s: %v %v", p, ids, err)
		}
	}

	b, err := os.ReadFile(vocabPath)
	if err != nil {
		t.Skipf("%s not found (see ../shared/data/README.md): %v", vocabPath, err)
	}
	os.WriteFile(filepath.Join(dir, VocabFile), b, 0o644)
	for _, p := range []string{model, dir} {
		tok, err := LoadTokenizerFor(p)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := tok.Tokenize([]string{"a dog"}, 77, false)
		if err != nil || ids[0][1] != 320 || ids[0][2] != 1929 {
			t.Errorf("tokenizer beside %s: %v %v", p, ids, err)
		}
	}
}

func TestNPY(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.npy")
	data := []float32{1, -2, 3.5, 4, 5, 6}
	if err := WriteNPY(p, data, 2, 3); err != nil {
		t.Fatal(err)
	}
	got, shape, err := ReadNPY(p)
	if err != nil || len(shape) != 2 || shape[0] != 2 || shape[1] != 3 {
		t.Fatalf("%v %v", shape, err)
	}
	for i := range data {
		if got[i] != data[i] {
			t.Fatalf("round trip %v", got)
		}
	}
	// numpy-written float16 and int32 fixtures.
	if _, shape, err := ReadNPY(filepath.Join(loadDir, "rn_images.npy")); err != nil || len(shape) != 4 {
		t.Errorf("float16: %v %v", shape, err)
	}
	tok, _, err := ReadNPY(filepath.Join(loadDir, "tokens.npy"))
	if err != nil || tok[0] != 62 || tok[3] != 63 {
		t.Errorf("int32: %v %v", tok[:4], err)
	}
	img := filepath.Join(dir, "img.npy")
	WriteNPY(img, make([]float32, 3*30*30), 3, 30, 30)
	if _, n, err := ReadImageNPY(img, 30); err != nil || n != 1 {
		t.Errorf("(3,30,30): %d %v", n, err)
	}
	if _, n, err := ReadImageNPY(filepath.Join(loadDir, "vit_images.npy"), 30); err != nil || n != 2 {
		t.Errorf("(2,3,30,30): %d %v", n, err)
	}
	for _, shape := range [][]int{{3, 30, 31}, {1, 30, 30}, {2700}, {1, 1, 3, 30, 30}, {3, 32, 32}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		WriteNPY(img, make([]float32, n), shape...)
		if _, _, err := ReadImageNPY(img, 30); err == nil || !strings.Contains(err.Error(), "want (3,30,30) or (N,3,30,30)") {
			t.Errorf("shape %v: %v", shape, err)
		}
	}
	os.WriteFile(img, []byte("\x93NUMPY\x01\x00\x10\x00{'descr': '>f4'}"), 0o644)
	if _, _, err := ReadNPY(img); err == nil {
		t.Error("big-endian / truncated header accepted")
	}
	os.WriteFile(img, []byte("PNG"), 0o644)
	if _, _, err := ReadNPY(img); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("not npy: %v", err)
	}
}

// TestLoadModulePrefix: a safetensors file whose names all carry DDP's
// "module." prefix loads like the plain one.
func TestLoadModulePrefix(t *testing.T) {
	rn := readLoadFixture(t, "rn")
	path := mutated(t, "rn_legacy.pt", func(mem *weights.Memory, src weights.Source) {
		for _, n := range src.Names() {
			tt, _ := src.Tensor(n)
			d, _ := tt.Float32()
			mem.Add(weights.NewFloat32("module."+n, tt.Shape, d))
		}
	})
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checkModel(t, m, rn, &rn.loadExpected)
}
