package resnet

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/goclip/goclip/internal/cnntest"
	"github.com/goclip/goclip/vgg"
	"github.com/goclip/goclip/weights"
)

func checkAll(t *testing.T, m *Model, exp *weights.File, prefix string) {
	t.Helper()
	names := m.TapNames()
	out, err := m.Run(cnntest.Tensor(t, exp, prefix+".input"), names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		cnntest.AssertClose(t, n, out[n], cnntest.Tensor(t, exp, prefix+"."+n), 1e-4)
	}
}

func TestBottleneckMatchesTorchvision(t *testing.T) {
	exp := cnntest.Expected(t)
	for _, file := range []string{"wide_bottleneck.pth", "wide_bottleneck_legacy.pth", "wide_bottleneck.safetensors"} {
		t.Run(file, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			c := m.Config
			if c.Block != Bottleneck || c.Layers != [4]int{1, 2, 1, 1} || c.Width != 2 || c.WidthPerGroup != 128 || c.NumClasses != 10 {
				t.Fatalf("inferred config %+v", c)
			}
			checkAll(t, m, exp, "bottleneck")
		})
	}
}

func TestBasicMatchesTorchvision(t *testing.T) {
	exp := cnntest.Expected(t)
	m, err := Load(filepath.Join("testdata", "basic.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Config; c.Block != Basic || c.Layers != [4]int{2, 1, 1, 2} || c.Width != 4 || c.NumClasses != 6 {
		t.Fatalf("inferred config %+v", c)
	}
	checkAll(t, m, exp, "basic")
	// Building only to the stem gives the same stem.
	out, err := m.Run(cnntest.Tensor(t, exp, "basic.input"), "stem")
	if err != nil {
		t.Fatal(err)
	}
	cnntest.AssertClose(t, "stem alone", out["stem"], cnntest.Tensor(t, exp, "basic.stem"), 1e-4)
}

// TestPerceptualMatchesAutograd runs vgg's perceptual loss on a ResNet and
// compares loss and input gradient with torch autograd.
func TestPerceptualMatchesAutograd(t *testing.T) {
	exp := cnntest.Expected(t)
	m, err := Load(filepath.Join("testdata", "wide_bottleneck.pth"))
	if err != nil {
		t.Fatal(err)
	}
	layers := []vgg.LayerWeight{{Layer: "stem", Weight: 1}, {Layer: "layer2", Weight: 0.5}, {Layer: "layer4", Weight: 2}, {Layer: "pooled", Weight: 0.25}}
	for _, d := range []vgg.Distance{vgg.L2, vgg.L1, vgg.Cosine} {
		p, err := vgg.NewPerceptual(m, vgg.PerceptualConfig{Distance: d, Layers: layers}, cnntest.Tensor(t, exp, "perc.y"))
		if err != nil {
			t.Fatal(err)
		}
		loss, grad, err := p.Eval(cnntest.Tensor(t, exp, "perc.x"))
		if err != nil {
			t.Fatal(err)
		}
		want := float64(cnntest.Tensor(t, exp, "perc."+d.String()+".loss").Data().([]float32)[0])
		if math.Abs(loss-want) > 1e-4*math.Abs(want) {
			t.Errorf("%v: loss %.7g, torch %.7g", d, loss, want)
		}
		cnntest.AssertClose(t, d.String()+" grad", grad, cnntest.Tensor(t, exp, "perc."+d.String()+".grad"), 1e-4)
	}
}

func TestNumParams(t *testing.T) {
	// torchvision's documented num_params.
	for _, c := range []struct {
		cfg  Config
		want int64
	}{{ResNet18, 11689512}, {ResNet34, 21797672}, {ResNet50, 25557032}, {ResNet101, 44549160},
		{ResNet152, 60192808}, {WideResNet50_2, 68883240}, {WideResNet101_2, 126886696}} {
		if got := c.cfg.NumParams(); got != c.want {
			t.Errorf("%s: %d params, want %d", c.cfg.Name, got, c.want)
		}
	}
	// Keys without num_batches_tracked: 320 (ResNet-50), 626 (ResNet-101) with it.
	for _, c := range []struct {
		cfg  Config
		keys int
	}{{ResNet50, 320}, {ResNet101, 626}} {
		n := len(c.cfg.ParamShapes())
		bns := 0
		for _, p := range c.cfg.ParamShapes() {
			if strings.HasSuffix(p.Name, "running_var") {
				bns++
			}
		}
		if n+bns != c.keys {
			t.Errorf("%s: %d tensors + %d num_batches_tracked, want %d keys", c.cfg.Name, n, bns, c.keys)
		}
	}
}

// shapeSource is a Source of tensors with shapes but no data, for
// configuration inference on full-size layouts without allocating weights.
type shapeSource struct {
	names  []string
	shapes map[string][]int
}

func newShapeSource(prefix string, ps []ParamShape) *shapeSource {
	s := &shapeSource{shapes: map[string][]int{}}
	for _, p := range ps {
		s.names = append(s.names, prefix+p.Name)
		s.shapes[prefix+p.Name] = p.Shape
	}
	return s
}

func (s *shapeSource) Names() []string { return s.names }
func (s *shapeSource) Tensor(n string) (*weights.Tensor, bool) {
	sh, ok := s.shapes[n]
	if !ok {
		return nil, false
	}
	return &weights.Tensor{Name: n, DType: weights.F32, Shape: sh}, true
}

func TestConfigFromWeightsPresets(t *testing.T) {
	for _, p := range Presets() {
		for _, prefix := range []string{"", "module.", "state_dict."} {
			got, err := ConfigFromWeights(newShapeSource(prefix, p.ParamShapes()))
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			if got != p {
				t.Errorf("%s (prefix %q): inferred %+v", p.Name, prefix, got)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	f, err := weights.Open(filepath.Join("testdata", "basic.pth"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := New(ResNet18, f); err == nil || !strings.Contains(err.Error(), "mis-shaped conv1.weight") {
		t.Errorf("ResNet18 preset on small weights: err = %v", err)
	}
	cfg, err := ConfigFromWeights(f)
	if err != nil {
		t.Fatal(err)
	}
	part := weights.NewMemory()
	for _, n := range f.Names() {
		if n != "layer2.0.downsample.1.running_var" {
			w, _ := f.Tensor(n)
			part.Add(w)
		}
	}
	if _, err := New(cfg, part); err == nil || !strings.Contains(err.Error(), "missing layer2.0.downsample.1.running_var") {
		t.Errorf("missing tensor: err = %v", err)
	}
	if _, err := ConfigFromWeights(weights.NewMemory()); err == nil {
		t.Error("empty source: no error")
	}
	m, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.WithShape(1, 3, 32, 32), tensor.WithBacking(make([]float32, 3*32*32)))
	if _, err := m.Run(x, "layer5"); err == nil || !strings.Contains(err.Error(), `unknown activation "layer5"`) {
		t.Errorf("unknown tap: err = %v", err)
	}
	gray := tensor.New(tensor.WithShape(1, 1, 32, 32), tensor.WithBacking(make([]float32, 32*32)))
	if _, err := m.Run(gray); err == nil || !strings.Contains(err.Error(), "want (N, 3, H, W)") {
		t.Errorf("1-channel input: err = %v", err)
	}
	if _, err := m.Features(make([]float32, 3*10*12), 1); err == nil {
		t.Error("non-square Features: no error")
	}
	logits, err := m.Logits(make([]float32, 2*3*32*32), 2)
	if err != nil || !logits.Shape().Eq(tensor.Shape{2, 6}) {
		t.Errorf("Logits: %v, %v", logits, err)
	}
}
