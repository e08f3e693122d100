package vgg

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/goclip/goclip/internal/cnntest"
	"github.com/goclip/goclip/weights"
)

// smallD is torchvision's cfg "D" (VGG16) with channels divided by 32, as
// built by testdata/gen.py.
var smallD = []int{2, 2, M, 4, 4, M, 8, 8, 8, M, 16, 16, 16, M, 16, 16, 16, M}

func TestForwardMatchesTorchvision(t *testing.T) {
	exp := cnntest.Expected(t)
	for _, file := range []string{"vgg16s.pth", "vgg16s_legacy.pth", "vgg16s.safetensors"} {
		t.Run(file, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			c := m.Config
			if !slices.Equal(c.Layers, smallD) || c.BatchNorm || c.PoolSize != 7 || c.Hidden != 8 || c.NumClasses != 10 {
				t.Fatalf("inferred config %+v", c)
			}
			x := cnntest.Tensor(t, exp, "vgg16.input")
			var names []string
			for i := range m.features {
				names = append(names, fmt.Sprintf("features.%d", i))
			}
			names = append(names, "avgpool", "logits")
			// Conventional names of torchvision's VGG16 indices (reference §5).
			alias := map[string]string{"relu1_2": "features.3", "relu2_2": "features.8", "relu3_3": "features.15",
				"relu4_3": "features.22", "relu5_3": "features.29", "conv1_1": "features.0", "pool5": "features.30"}
			for a := range alias {
				names = append(names, a)
			}
			out, err := m.Run(x, names...)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				ref := n
				if a, ok := alias[n]; ok {
					ref = a
				}
				cnntest.AssertClose(t, n, out[n], cnntest.Tensor(t, exp, "vgg16."+ref), 1e-4)
			}
		})
	}
}

func TestBatchNormNonSquareBatch(t *testing.T) {
	exp := cnntest.Expected(t)
	m, err := Load(filepath.Join("testdata", "vgg11bns.pth"))
	if err != nil {
		t.Fatal(err)
	}
	want := []int{2, M, 4, M, 8, 8, M, 16, 16, M, 16, 16, M}
	if c := m.Config; !slices.Equal(c.Layers, want) || !c.BatchNorm || c.Hidden != 6 || c.NumClasses != 7 {
		t.Fatalf("inferred config %+v", c)
	}
	var names []string
	for i := range m.features {
		names = append(names, fmt.Sprintf("features.%d", i))
	}
	names = append(names, "avgpool", "logits", "bn1_1", "relu3_2")
	out, err := m.Run(cnntest.Tensor(t, exp, "vgg11bn.input"), names...)
	if err != nil {
		t.Fatal(err)
	}
	alias := map[string]string{"bn1_1": "features.1", "relu3_2": "features.13"}
	for _, n := range names {
		ref := n
		if a, ok := alias[n]; ok {
			ref = a
		}
		cnntest.AssertClose(t, n, out[n], cnntest.Tensor(t, exp, "vgg11bn."+ref), 1e-4)
	}
	// The same network, tapped only shallowly, gives the same shallow values.
	shallow, err := m.Run(cnntest.Tensor(t, exp, "vgg11bn.input"), "relu1_1")
	if err != nil {
		t.Fatal(err)
	}
	cnntest.AssertClose(t, "relu1_1 alone", shallow["relu1_1"], cnntest.Tensor(t, exp, "vgg11bn.features.2"), 1e-4)
}

func TestFeaturesSquare(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "vgg16s.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	pix := make([]float32, 2*3*32*32)
	for i := range pix {
		pix[i] = float32(math.Sin(float64(i)))
	}
	out, err := m.Features(pix, 2, "relu2_2", "logits")
	if err != nil {
		t.Fatal(err)
	}
	if s := out["relu2_2"].Shape(); !s.Eq(tensor.Shape{2, 4, 16, 16}) {
		t.Errorf("relu2_2 shape %v", s)
	}
	logits, err := m.Logits(pix, 2)
	if err != nil {
		t.Fatal(err)
	}
	cnntest.AssertClose(t, "logits", logits, out["logits"], 0)
	if _, err := m.Features(pix[:3*32*31], 1); err == nil || !strings.Contains(err.Error(), "square") {
		t.Errorf("non-square pixels: err = %v", err)
	}
	if _, err := m.Features(pix, 0); err == nil {
		t.Error("batch 0: no error")
	}
}

func TestNumParams(t *testing.T) {
	// torchvision's documented num_params.
	for _, c := range []struct {
		cfg  Config
		want int64
	}{{VGG11, 132863336}, {VGG13, 133047848}, {VGG16, 138357544}, {VGG19, 143667240},
		{VGG11BN, 132868840}, {VGG13BN, 133053736}, {VGG16BN, 138365992}, {VGG19BN, 143678248}} {
		if got := c.cfg.NumParams(); got != c.want {
			t.Errorf("%s: %d params, want %d", c.cfg.Name, got, c.want)
		}
	}
	if n := len(VGG16.ParamShapes()); n != 32 {
		t.Errorf("VGG16 has %d tensors, want 32", n)
	}
	if n := len(VGG19.ParamShapes()); n != 38 {
		t.Errorf("VGG19 has %d tensors, want 38", n)
	}
}

// shapeSource is a Source of tensors that have shapes but no data, for
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
		for _, prefix := range []string{"", "module."} {
			got, err := ConfigFromWeights(newShapeSource(prefix, p.ParamShapes()))
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			if got.Name != p.Name || !slices.Equal(got.Layers, p.Layers) || got.BatchNorm != p.BatchNorm ||
				got.Hidden != p.Hidden || got.NumClasses != p.NumClasses || got.PoolSize != p.PoolSize {
				t.Errorf("%s (prefix %q): inferred %+v", p.Name, prefix, got)
			}
		}
	}
	// Feature-only weights (no classifier).
	var feats []ParamShape
	for _, p := range VGG19.ParamShapes() {
		if strings.HasPrefix(p.Name, "features.") {
			feats = append(feats, p)
		}
	}
	got, err := ConfigFromWeights(newShapeSource("", feats))
	if err != nil || got.HasClassifier() || got.Name != "vgg19" {
		t.Errorf("feature-only: %+v, %v", got, err)
	}
}

func TestLoadErrors(t *testing.T) {
	f, err := weights.Open(filepath.Join("testdata", "vgg16s.pth"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err := weights.Copy(f)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromWeights(mem)
	if err != nil {
		t.Fatal(err)
	}
	// Wrong configuration for these weights.
	if _, err := New(VGG16, mem); err == nil || !strings.Contains(err.Error(), "mis-shaped features.0.weight") {
		t.Errorf("VGG16 preset on small weights: err = %v", err)
	}
	// A missing tensor is named.
	part := weights.NewMemory()
	for _, n := range mem.Names() {
		if n != "features.12.bias" {
			w, _ := mem.Tensor(n)
			part.Add(w)
		}
	}
	if _, err := New(cfg, part); err == nil || !strings.Contains(err.Error(), "missing features.12.bias") {
		t.Errorf("missing tensor: err = %v", err)
	}
	if _, err := ConfigFromWeights(weights.NewMemory()); err == nil {
		t.Error("empty source: no error")
	}
	if _, err := Load(filepath.Join("testdata", "nonexistent.pth")); err == nil {
		t.Error("missing file: no error")
	}
	bad := cfg
	bad.Hidden = 0
	if _, err := New(bad, mem); err == nil {
		t.Error("Hidden 0 with classes: no error")
	}
}

func TestRunErrors(t *testing.T) {
	m, err := Load(filepath.Join("testdata", "vgg16s.pth"))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.WithShape(1, 3, 32, 32), tensor.WithBacking(make([]float32, 3*32*32)))
	if _, err := m.Run(x, "relu9_9"); err == nil || !strings.Contains(err.Error(), `unknown activation "relu9_9"`) {
		t.Errorf("unknown tap: err = %v", err)
	}
	small := tensor.New(tensor.WithShape(1, 3, 8, 8), tensor.WithBacking(make([]float32, 3*8*8)))
	if _, err := m.Run(small, "logits"); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("8×8 input: err = %v", err)
	}
	gray := tensor.New(tensor.WithShape(1, 1, 32, 32), tensor.WithBacking(make([]float32, 32*32)))
	if _, err := m.Run(gray, "logits"); err == nil || !strings.Contains(err.Error(), "want (N, 3, H, W)") {
		t.Errorf("1-channel input: err = %v", err)
	}
	if _, err := m.Run(nil); err == nil {
		t.Error("nil input: no error")
	}
}

// TestConcurrentRun runs one model from several goroutines (shared program
// cache, shared compiled program) and checks every result.
func TestConcurrentRun(t *testing.T) {
	exp := cnntest.Expected(t)
	m, err := Load(filepath.Join("testdata", "vgg16s.pth"))
	if err != nil {
		t.Fatal(err)
	}
	x := cnntest.Tensor(t, exp, "vgg16.input")
	want := cnntest.Tensor(t, exp, "vgg16.logits")
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for range 3 {
				out, err := m.Run(x, "logits", "relu2_2")
				if err != nil {
					errs <- err
					return
				}
				g, w := out["logits"].Data().([]float32), want.Data().([]float32)
				for i := range w {
					if math.Abs(float64(g[i]-w[i])) > 1e-4 {
						errs <- fmt.Errorf("logit %d: %g, want %g", i, g[i], w[i])
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
