package clip

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestPresetParamCounts(t *testing.T) {
	// Exact counts: ViT-B/32 from OpenAI's notebook, RN50 and RN101 from
	// open_clip's model_profile.csv. The others are checked against
	// open_clip's rounded millions.
	exact := map[string]int{"ViT-B/32": 151277313, "RN50": 102007137, "RN101": 119688033}
	approx := map[string]float64{"RN50x4": 178.3, "RN50x16": 291.0, "RN50x64": 623.3,
		"ViT-B/16": 149.6, "ViT-L/14": 427.6, "ViT-L/14@336px": 427.9}
	for _, p := range presets {
		c := p()
		n, err := c.NumParams()
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if want, ok := exact[c.Name]; ok {
			if n != want {
				t.Errorf("%s: %d parameters, want %d", c.Name, n, want)
			}
		} else if m := float64(n) / 1e6; math.Abs(m-approx[c.Name]) > 0.05 {
			t.Errorf("%s: %.2fM parameters, want %.1fM", c.Name, m, approx[c.Name])
		}
		t.Logf("%s: %d", c, n)
	}
}

// zeroMaker builds zero parameters (untouched pages: cheap even for big models).
type zeroMaker struct{}

func (zeroMaker) param(name string, shape ...int) *nn.Param { return nn.ZeroParam(name, shape...) }

// TestPresetGraphsBuild builds the full image and text graphs of ViT-B/32
// and RN50 from shapes (zero weights) without running them.
func TestPresetGraphsBuild(t *testing.T) {
	for _, c := range []Config{ViTB32(), RN50()} {
		m := build(c, zeroMaker{})
		if got, want := m.NumParams(), must(c.NumParams()); got != want {
			t.Errorf("%s: model has %d parameters, config says %d", c.Name, got, want)
		}
		err := nn.Build(func() error {
			g := nn.NewGraph(tensor.Float32)
			r := c.Vision.ImageSize
			img := m.ImageGraph(g, g.Input("pixels", 2, 3, r, r))
			ids, eot := m.Text.Inputs(g, 2, c.Text.ContextLength)
			txt := m.Text.Forward(g, ids, eot, 2, c.Text.ContextLength)
			if err := g.Err(); err != nil {
				return err
			}
			if s := img.Shape(); !s.Eq(tensor.Shape{2, c.EmbedDim}) {
				t.Errorf("%s: image output %v", c.Name, s)
			}
			if s := txt.Shape(); !s.Eq(tensor.Shape{2, c.EmbedDim}) {
				t.Errorf("%s: text output %v", c.Name, s)
			}
			t.Logf("%s: %d nodes", c.Name, len(g.Expr().AllNodes()))
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestPresetNames(t *testing.T) {
	for name, want := range map[string]string{
		"ViT-B/32": "ViT-B/32", "ViT-B-32": "ViT-B/32", "vit_b_32": "ViT-B/32",
		"ViT-L/14@336px": "ViT-L/14@336px", "ViT-L-14-336": "ViT-L/14@336px",
		"RN50x4": "RN50x4", "rn50": "RN50", "ViT-B-16-quickgelu": "ViT-B/16",
	} {
		c, err := Preset(name)
		if err != nil || c.Name != want {
			t.Errorf("Preset(%q) = %q, %v; want %q", name, c.Name, err, want)
		}
		if err == nil && c.Validate() != nil {
			t.Errorf("%s: %v", want, c.Validate())
		}
	}
	_, err := Preset("ViT-H/14")
	if err == nil || !strings.Contains(err.Error(), `unknown architecture "ViT-H/14"`) || !strings.Contains(err.Error(), "RN50x64") {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestValidate(t *testing.T) {
	c := ViTB32()
	c.Vision.PatchSize = 30
	c.Text.Heads = 7
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "not a multiple of PatchSize 30") || !strings.Contains(err.Error(), "not divisible by Heads 7") {
		t.Errorf("got %v", err)
	}
	c = RN50()
	c.Vision.Kind = "vgg"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"vgg"`) {
		t.Errorf("got %v", err)
	}
	if NewRandom(c, 1) != nil {
		t.Error("NewRandom accepted an invalid config")
	}
	var m *Model
	if _, err := m.EncodeImage(nil, 1); err == nil {
		t.Error("nil model encoded an image")
	}
}

// export writes a model's parameters into a weights.Memory under their
// OpenAI names, plus the TorchScript scalars that loading ignores.
func export(m *Model) *weights.Memory {
	mem := weights.NewMemory()
	for _, p := range m.Params() {
		var d []float32
		switch v := p.Value.Data().(type) {
		case float32:
			d = []float32{v}
		case []float32:
			d = v
		}
		mem.Add(weights.NewFloat32(p.Name, []int(p.Value.Shape().Clone()), d))
	}
	mem.Add(weights.NewFloat32("input_resolution", nil, []float32{224}))
	mem.Add(weights.NewFloat32("visual.bn1.num_batches_tracked", nil, []float32{0}))
	return mem
}

func tinyViT() Config {
	return Config{Name: "tiny", EmbedDim: 16, Activation: nn.QuickGELUAct,
		Vision: VisionConfig{Kind: ViT, ImageSize: 24, Width: 128, Layers: 3, Heads: 2, PatchSize: 12},
		Text:   TextConfig{ContextLength: 7, VocabSize: 20, Width: 64, Heads: 1, Layers: 2}}
}

func tinyRN() Config {
	return Config{Name: "tiny", EmbedDim: 16, Activation: nn.QuickGELUAct,
		Vision: VisionConfig{Kind: ResNet, ImageSize: 96, Width: 4, Heads: 2, ResNetLayers: [4]int{2, 1, 3, 1}},
		Text:   TextConfig{ContextLength: 7, VocabSize: 20, Width: 64, Heads: 1, Layers: 2}}
}

func TestConfigFromWeightsRoundTrip(t *testing.T) {
	for _, c := range []Config{tinyViT(), tinyRN()} {
		m := NewRandom(c, 7)
		got, err := ConfigFromWeights(export(m))
		if err != nil {
			t.Fatal(err)
		}
		c.Name = ""
		if got != c {
			t.Errorf("inferred\n %+v\nwant\n %+v", got, c)
		}
		// Strict loading of the exported tensors reproduces the model.
		m2, err := New(c, export(m))
		if err != nil {
			t.Fatal(err)
		}
		if m2.NumParams() != m.NumParams() {
			t.Errorf("reloaded %d parameters, want %d", m2.NumParams(), m.NumParams())
		}
	}
}

func TestConfigFromWeightsFixtures(t *testing.T) {
	// gen.py's tiny models have widths below 64, where build_model's
	// heads = width/64 rule gives 0: inference must refuse them, naming
	// the heads, but every other field is inferred.
	for _, name := range []string{"vit", "rn"} {
		f, err := weights.Open(filepath.Join(fixtureDir, name+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		_, err = ConfigFromWeights(f)
		if err == nil || !strings.Contains(err.Error(), "Heads 0 must be positive") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

func TestConfigFromWeightsErrors(t *testing.T) {
	mem := weights.NewMemory()
	mem.Add(weights.NewFloat32("fc.weight", []int{2, 2}, make([]float32, 4)))
	if _, err := ConfigFromWeights(mem); err == nil || !strings.Contains(err.Error(), "not an OpenAI/open_clip CLIP") {
		t.Errorf("got %v", err)
	}
	m := NewRandom(tinyViT(), 1)
	src := export(m)
	src.Add(weights.NewFloat32("ln_final.weight", []int{64, 2}, make([]float32, 128)))
	if _, err := ConfigFromWeights(src); err == nil || !strings.Contains(err.Error(), `"ln_final.weight" has shape [64 2]`) {
		t.Errorf("got %v", err)
	}
}

func TestNewStrictErrors(t *testing.T) {
	c := tinyViT()
	src := export(NewRandom(c, 3))
	bad := weights.NewMemory()
	for _, n := range src.Names() {
		tt, _ := src.Tensor(n)
		switch n {
		case "visual.ln_pre.bias": // missing
		case "visual.proj": // mis-shaped
			bad.Add(weights.NewFloat32(n, []int{16, 128}, make([]float32, 16*128)))
		default:
			bad.Add(tt)
		}
	}
	bad.Add(weights.NewFloat32("visual.extra", []int{3}, make([]float32, 3))) // unused
	_, err := New(c, bad)
	for _, want := range []string{"missing visual.ln_pre.bias", "mis-shaped visual.proj", "unused visual.extra"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	m := NewRandom(tinyViT(), 1)
	if _, err := m.EncodeImage(make([]float32, 10), 1); err == nil || !strings.Contains(err.Error(), "want 1728") {
		t.Errorf("short pixels: %v", err)
	}
	if _, err := m.EncodeText([][]int32{{1, 2, 3}}); err == nil || !strings.Contains(err.Error(), "context length 7") {
		t.Errorf("short row: %v", err)
	}
	if _, err := m.EncodeText([][]int32{{18, 1, 20, 0, 0, 0, 0}}); err == nil || !strings.Contains(err.Error(), "token id 20 outside") {
		t.Errorf("bad id: %v", err)
	}
	if _, err := m.EncodeText(nil); err == nil {
		t.Error("empty batch accepted")
	}
	if _, err := m.ImageFeatures(make([]float32, 3*24*24), 1, FeatureRequest{Dense: true}); err == nil || !strings.Contains(err.Error(), "ResNet") {
		t.Errorf("dense on ViT: %v", err)
	}
}

func TestTextLengthInvariance(t *testing.T) {
	// Computing only up to the last EOT equals running the full context:
	// compare EncodeText with a full-length graph built by hand.
	c := tinyViT()
	m := NewRandom(c, 5)
	rows := [][]int32{{18, 3, 4, 19, 0, 0, 0}, {18, 5, 19, 0, 0, 0, 0}}
	got, err := m.EncodeText(rows)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Text.PrepareText(rows)
	if b.Length != 4 || b.EOT[0] != 3 || b.EOT[1] != 6 {
		t.Fatalf("batch %+v", b)
	}
	n, L := 2, c.Text.ContextLength
	var ids, eot []int
	for i, r := range rows {
		for _, v := range r {
			ids = append(ids, int(v))
		}
		eot = append(eot, i*L+[]int{3, 2}[i])
	}
	g := nn.NewGraph(tensor.Float32)
	in, ein := m.Text.Inputs(g, n, L)
	y := m.Text.Forward(g, in, ein, n, L)
	prog, err := nn.Compile(g, []*G.Node{in, ein}, []*G.Node{y})
	if err != nil {
		t.Fatal(err)
	}
	var want []float32
	err = prog.RunFunc(func(v []G.Value) error {
		want = append(want, v[0].Data().([]float32)...)
		return nil
	}, tensor.New(tensor.WithShape(n*L), tensor.WithBacking(ids)), tensor.New(tensor.WithShape(n), tensor.WithBacking(eot)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("element %d: %v (short) vs %v (full)", i, got[i], want[i])
		}
	}
}

func TestLogitsNormalize(t *testing.T) {
	img := []float32{3, 4, 0, 0}
	txt := []float32{1, 0, 0, 2}
	got := Logits(img, txt, 2, 10)
	want := []float32{6, 8, 0, 0}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("Logits = %v, want %v", got, want)
		}
	}
	if n := Normalize([]float32{0, 0, 6, 8}, 2); n[0] != 0 || n[2] != 0.6 || n[3] != 0.8 {
		t.Errorf("Normalize = %v", n)
	}
}
