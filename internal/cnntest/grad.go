package cnntest

// Gradient fixtures: each holds random pixels, weightings w and v, the loss
//
//	loss = Σ w ⊙ logits + Σ v ⊙ tap
//
// and its gradients with respect to the pixels and every parameter
// ("grad.<name>"), written by the packages' testdata/grad/gen.py scripts.

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/train"
	"github.com/goclip/goclip/weights"
)

// Extractor builds named activations of an image into a graph (vgg.Model
// and resnet.Model).
type Extractor interface {
	Forward(g *nn.Graph, x *G.Node, taps ...string) map[string]*G.Node
}

// IsRunningStat reports whether p is a BatchNorm running statistic, which
// torch does not list among the parameters and which gets no gradient.
func IsRunningStat(p *nn.Param) bool {
	return strings.HasSuffix(p.Name, ".running_mean") || strings.HasSuffix(p.Name, ".running_var")
}

// RelErr is max|got−want| / max(max|want|, floor) over one tensor. The
// floor (1e-6 of the largest reference gradient of the whole model) only
// matters for a tensor whose true gradient is zero or nearly so (a unit no
// pixel activates); every other tensor is compared relative to its own scale.
func RelErr(got, want []float32, floor float64) float64 {
	var d, s float64
	for i := range want {
		if math.IsNaN(float64(got[i])) {
			return math.NaN()
		}
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		s = math.Max(s, math.Abs(float64(want[i])))
	}
	return d / math.Max(s, floor)
}

// Fixture is one case's reference data.
type Fixture struct {
	Ref      *weights.File
	Input    *nn.Param // the pixels, as a trainable parameter
	w, v     []float64 // weightings of the logits and the tap
	wShape   []int
	vShape   []int
	Loss     float64
	Floor    float64
	WantGrad map[string][]float32 // by parameter name ("input" for the pixels)
}

// LoadFixture reads the fixture at path (a safetensors file written by
// generator, named in the error when it is missing) and refuses a fixture
// whose reference gradients are (nearly) zero, which would compare nothing.
func LoadFixture(t *testing.T, path, generator string) *Fixture {
	t.Helper()
	name := filepath.Base(path)
	ref, err := weights.Open(path)
	if err != nil {
		t.Fatalf("%v (regenerate with %s)", err, generator)
	}
	t.Cleanup(func() { ref.Close() })
	f := &Fixture{Ref: ref, WantGrad: map[string][]float32{}}
	read := func(n string) ([]float32, []int) {
		rt, ok := ref.Tensor(n)
		if !ok {
			t.Fatalf("%s: fixture has no %s", name, n)
		}
		d, err := rt.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return d, rt.Shape
	}
	x, xs := read("input")
	f.Input = nn.NewParam("input", x, xs...)
	w, ws := read("w")
	v, vs := read("v")
	f.w, f.wShape, f.v, f.vShape = f64s(w), ws, f64s(v), vs
	lt, ok := ref.Tensor("loss")
	if !ok {
		t.Fatalf("%s: fixture has no loss", name)
	}
	l, err := lt.Float64()
	if err != nil {
		t.Fatal(err)
	}
	f.Loss = l[0]
	for _, n := range ref.Names() {
		if p, ok := strings.CutPrefix(n, "grad."); ok {
			d, _ := read(n)
			f.WantGrad[p] = d
			for _, x := range d {
				f.Floor = math.Max(f.Floor, 1e-6*math.Abs(float64(x)))
			}
		}
	}
	// A reference gradient at or below the floor would compare nothing.
	for p, d := range f.WantGrad {
		if RelErr(make([]float32, len(d)), d, f.Floor) < 0.5 {
			t.Fatalf("%s: reference gradient of %s is (nearly) zero: degenerate fixture", name, p)
		}
	}
	return f
}

func f64s(d []float32) []float64 {
	out := make([]float64, len(d))
	for i, x := range d {
		out[i] = float64(x)
	}
	return out
}

// Build returns the BuildFunc of Σ w ⊙ logits + Σ v ⊙ tap.
func Build(m Extractor, f *Fixture, tap string) train.BuildFunc {
	return func(g *nn.Graph) ([]*G.Node, *G.Node, error) {
		x := g.Param(f.Input)                  // (N, 3, H, W)
		acts := m.Forward(g, x, "logits", tap) // logits (N, classes), tap (N, C, H', W')
		if err := g.Err(); err != nil {
			return nil, nil, err
		}
		w := g.Const("w", f.w, f.wShape...)  // (N, classes)
		v := g.Const("v", f.v, f.vShape...)  // (N, C, H', W')
		a := g.Sum(g.Mul(w, acts["logits"])) // ()
		b := g.Sum(g.Mul(v, acts[tap]))      // ()
		return nil, g.Add(a, b), nil
	}
}

// Check compiles build in dt, runs it and compares the loss and the
// gradient of every trainable parameter with the fixture; it returns the
// number of nodes of the compiled graph.
func Check(t *testing.T, f *Fixture, build train.BuildFunc, dt tensor.Dtype, tol float64, trainable []*nn.Param) int {
	t.Helper()
	step, err := train.Compile(dt, build)
	if err != nil {
		t.Fatal(err)
	}
	defer step.Close()
	want := map[*nn.Param]bool{}
	for _, p := range trainable {
		want[p] = true
	}
	if len(step.Params) != len(trainable) {
		t.Errorf("%v: %d parameters get gradients, want %d", dt, len(step.Params), len(trainable))
	}
	for _, p := range step.Params {
		if !want[p] {
			t.Errorf("%v: %s (frozen or a running statistic) gets a gradient", dt, p.Name)
		}
	}
	l, grads, err := step.Run()
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(l - f.Loss); !(d <= tol*math.Max(1, math.Abs(f.Loss))) {
		t.Errorf("%v: loss %.10f, torch %.10f", dt, l, f.Loss)
	}
	worst, at := -1.0, ""
	for _, p := range trainable {
		w, ok := f.WantGrad[p.Name]
		if !ok {
			t.Fatalf("fixture has no gradient of %s", p.Name)
		}
		got, ok := grads[p]
		if !ok {
			t.Errorf("%v: no gradient of %s", dt, p.Name)
			continue
		}
		if e := RelErr(got, w, f.Floor); !(e <= worst) {
			worst, at = e, p.Name
		}
	}
	msg := fmt.Sprintf("%v: loss %.8f (torch %.8f); %d gradients, worst relative error %.2g (%s)", dt, l, f.Loss, len(trainable), worst, at)
	if !(worst <= tol) {
		t.Errorf("%s exceeds %.0e", msg, tol)
	} else {
		t.Log(msg)
	}
	return len(step.Prog.Graph.Expr().AllNodes())
}
