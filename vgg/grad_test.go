package vgg

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

// Gradients against PyTorch autograd: testdata/grad/gen.py loads the small
// torchvision VGGs of testdata (plain VGG16 and VGG11-BN layouts) in float64
// eval mode and writes the gradients of
//
//	loss = Σ w ⊙ logits + Σ v ⊙ tap
//
// with respect to the pixels and every parameter. The Go side builds the
// same loss with Forward and compiles it with nn/train (gradients of the
// trainable parameters only), in float64 and float32.

// gradCase is one fixture of testdata/grad.
type gradCase struct {
	name, checkpoint, tap string
}

var gradCases = []gradCase{
	{"vgg16s", "vgg16s.pth", "relu2_2"},
	{"vgg11bns", "vgg11bns.pth", "bn3_1"},
}

// Tolerances on gradRelErr. The reference gradients are stored as float32,
// so even a float64 graph differs by float32 rounding (≈ 6e-8 of each value).
const (
	gradTol64 = 1e-6
	gradTol32 = 1e-4
)

// modelParams lists every parameter of m (BatchNorm running statistics
// included), in network order.
func modelParams(m *Model) []*nn.Param {
	var ps []*nn.Param
	for _, l := range m.features {
		switch {
		case l.conv != nil:
			ps = append(ps, l.conv.Weight, l.conv.Bias)
		case l.bn != nil:
			ps = append(ps, l.bn.Weight, l.bn.Bias, l.bn.RunningMean, l.bn.RunningVar)
		}
	}
	for _, c := range m.classifier {
		ps = append(ps, c.Weight, c.Bias)
	}
	return ps
}

// isRunningStat reports whether p is a BatchNorm running statistic, which
// torch does not list among the parameters and which gets no gradient.
func isRunningStat(p *nn.Param) bool {
	return strings.HasSuffix(p.Name, ".running_mean") || strings.HasSuffix(p.Name, ".running_var")
}

// gradRelErr is max|got−want| / max(max|want|, floor) over one tensor. The
// floor (1e-6 of the largest reference gradient of the whole model) only
// matters for a tensor whose true gradient is zero or nearly so (a unit no
// pixel activates); every other tensor is compared relative to its own scale.
func gradRelErr(got, want []float32, floor float64) float64 {
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

// gradFixture is one case's reference data.
type gradFixture struct {
	ref      *weights.File
	input    *nn.Param // the pixels, as a trainable parameter
	w, v     []float64 // weightings of the logits and the tap
	wShape   []int
	vShape   []int
	loss     float64
	floor    float64
	wantGrad map[string][]float32 // by parameter name ("input" for the pixels)
}

func loadGradFixture(t *testing.T, name string) *gradFixture {
	t.Helper()
	ref, err := weights.Open(filepath.Join("testdata", "grad", name+".safetensors"))
	if err != nil {
		t.Fatalf("%v (regenerate with vgg/testdata/grad/gen.py)", err)
	}
	t.Cleanup(func() { ref.Close() })
	f := &gradFixture{ref: ref, wantGrad: map[string][]float32{}}
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
	f.input = nn.NewParam("input", x, xs...)
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
	f.loss = l[0]
	for _, n := range ref.Names() {
		if p, ok := strings.CutPrefix(n, "grad."); ok {
			d, _ := read(n)
			f.wantGrad[p] = d
			for _, x := range d {
				f.floor = math.Max(f.floor, 1e-6*math.Abs(float64(x)))
			}
		}
	}
	// A reference gradient at or below the floor would compare nothing.
	for p, d := range f.wantGrad {
		if gradRelErr(make([]float32, len(d)), d, f.floor) < 0.5 {
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

// gradBuild returns the BuildFunc of Σ w ⊙ logits + Σ v ⊙ tap.
func gradBuild(m *Model, f *gradFixture, tap string) train.BuildFunc {
	return func(g *nn.Graph) ([]*G.Node, *G.Node, error) {
		x := g.Param(f.input)                  // (N, 3, H, W)
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

// checkGrads compiles build in dt, runs it and compares the loss and the
// gradient of every trainable parameter with the fixture; it returns the
// number of nodes of the compiled graph.
func checkGrads(t *testing.T, f *gradFixture, build train.BuildFunc, dt tensor.Dtype, tol float64, trainable []*nn.Param) int {
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
	if d := math.Abs(l - f.loss); !(d <= tol*math.Max(1, math.Abs(f.loss))) {
		t.Errorf("%v: loss %.10f, torch %.10f", dt, l, f.loss)
	}
	worst, at := -1.0, ""
	for _, p := range trainable {
		w, ok := f.wantGrad[p.Name]
		if !ok {
			t.Fatalf("fixture has no gradient of %s", p.Name)
		}
		got, ok := grads[p]
		if !ok {
			t.Errorf("%v: no gradient of %s", dt, p.Name)
			continue
		}
		if e := gradRelErr(got, w, f.floor); !(e <= worst) {
			worst, at = e, p.Name
		}
	}
	msg := fmt.Sprintf("%v: loss %.8f (torch %.8f); %d gradients, worst relative error %.2g (%s)", dt, l, f.loss, len(trainable), worst, at)
	if !(worst <= tol) {
		t.Errorf("%s exceeds %.0e", msg, tol)
	} else {
		t.Log(msg)
	}
	return len(step.Prog.Graph.Expr().AllNodes())
}

func TestGradMatchesPyTorch(t *testing.T) {
	for _, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			f := loadGradFixture(t, c.name)
			m, err := Load(filepath.Join("testdata", c.checkpoint))
			if err != nil {
				t.Fatal(err)
			}
			// Every parameter torch lists is trainable; the running
			// statistics stay frozen (torch gives them no gradient).
			all := []*nn.Param{f.input}
			for _, p := range modelParams(m) {
				p.Frozen = isRunningStat(p)
				if !p.Frozen {
					all = append(all, p)
				}
			}
			if len(all) != len(f.wantGrad) {
				t.Fatalf("%d trainable parameters, fixture has %d gradients", len(all), len(f.wantGrad))
			}
			build := gradBuild(m, f, c.tap)
			full := checkGrads(t, f, build, tensor.Float64, gradTol64, all)
			checkGrads(t, f, build, tensor.Float32, gradTol32, all)

			// Freeze the features: only the classifier and the pixels get
			// gradients, and the graph has no gradient nodes for the
			// convolution weights (fewer nodes).
			trainable := []*nn.Param{f.input}
			for _, p := range modelParams(m) {
				p.Frozen = !strings.HasPrefix(p.Name, "classifier.")
				if !p.Frozen {
					trainable = append(trainable, p)
				}
			}
			part := checkGrads(t, f, build, tensor.Float32, gradTol32, trainable)
			if part >= full {
				t.Errorf("frozen features: %d graph nodes, all trainable: %d; want fewer", part, full)
			} else {
				t.Logf("graph nodes: %d with frozen features, %d with all trainable", part, full)
			}
		})
	}
}
