package loss

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The fixture comes from testdata/gen.py (torch.nn.functional in float64,
// gradients from torch autograd).

type fixtureInput struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type fixtureCase struct {
	Name      string         `json:"name"`
	Loss      float64        `json:"loss"`
	Inputs    []fixtureInput `json:"inputs"`
	Grads     [][]float64    `json:"grads"`
	Classes   []int          `json:"classes"`
	Smoothing float64        `json:"smoothing"`
	Labels    []int          `json:"labels"`
	Target    []float64      `json:"target"`
}

func loadCases(t *testing.T) []fixtureCase {
	t.Helper()
	b, err := os.ReadFile("testdata/losses.json")
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 nn/loss/testdata/gen.py)", err)
	}
	var f struct{ Cases []fixtureCase }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Cases
}

// builder returns the loss of a fixture case over its input nodes.
func builder(t *testing.T, c fixtureCase) func(g *nn.Graph, in []*G.Node) *G.Node {
	switch c.Name {
	case "infonce":
		return func(g *nn.Graph, in []*G.Node) *G.Node { return InfoNCE(g, in[0]) }
	case "cross_entropy":
		return func(g *nn.Graph, in []*G.Node) *G.Node {
			return CrossEntropyClasses(g, in[0], c.Classes, c.Smoothing)
		}
	case "multi_positive_kl":
		target, err := MultiPositiveTarget(c.Labels)
		if err != nil {
			t.Fatal(err)
		}
		for i := range target {
			if math.Abs(target[i]-c.Target[i]) > 1e-15 {
				t.Fatalf("MultiPositiveTarget[%d] = %v, torch %v", i, target[i], c.Target[i])
			}
		}
		return func(g *nn.Graph, in []*G.Node) *G.Node {
			b := len(c.Labels)
			return MultiPositiveKL(g, in[0], g.Const("target", target, b, b))
		}
	case "mse":
		return func(g *nn.Graph, in []*G.Node) *G.Node { return MSE(g, in[0], in[1]) }
	case "l1":
		return func(g *nn.Graph, in []*G.Node) *G.Node { return L1(g, in[0], in[1]) }
	case "cosine":
		return func(g *nn.Graph, in []*G.Node) *G.Node { return Cosine(g, in[0], in[1]) }
	case "clip_logits_infonce":
		return func(g *nn.Graph, in []*G.Node) *G.Node {
			return InfoNCE(g, Logits(g, in[0], in[1], g.Exp(g.Reshape(in[2], 1, 1))))
		}
	}
	t.Fatalf("unknown case %q", c.Name)
	return nil
}

// evalGrad builds loss = build(g, inputs) in dtype dt with the inputs as
// constants and returns the loss and its gradients with respect to every
// input (symbolic gradient, TapeMachine).
func evalGrad(dt tensor.Dtype, build func(g *nn.Graph, in []*G.Node) *G.Node, inputs []fixtureInput) (loss float64, grads [][]float64, err error) {
	err = nn.Build(func() error {
		g := nn.NewGraph(dt)
		nodes := make([]*G.Node, len(inputs))
		for i, in := range inputs {
			nodes[i] = g.Const(fmt.Sprintf("in%d", i), in.Data, in.Shape...)
		}
		l := build(g, nodes)
		if err := g.Err(); err != nil {
			return err
		}
		if l.Shape().Dims() != 0 {
			return fmt.Errorf("loss has shape %v, want a scalar", l.Shape())
		}
		gn, err := G.Grad(l, nodes...)
		if err != nil {
			return err
		}
		vm := G.NewTapeMachine(g.Expr())
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			return err
		}
		loss = nntest.Float64s(l.Value())[0]
		for _, n := range gn {
			grads = append(grads, nntest.Float64s(n.Value()))
		}
		return nil
	})
	return loss, grads, err
}

// relErr is max|got−want| / max(1, max|want|).
func relErr(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d, s float64
	for i := range got {
		d = math.Max(d, math.Abs(got[i]-want[i]))
		s = math.Max(s, math.Abs(want[i]))
		if math.IsNaN(got[i]) {
			return math.NaN()
		}
	}
	return d / math.Max(1, s)
}

// TestMatchesPyTorch compares every loss value and its input gradients
// with torch (float64 fixture) in float64 (tol 1e-12) and float32 (tol 1e-5).
func TestMatchesPyTorch(t *testing.T) {
	for i, c := range loadCases(t) {
		t.Run(fmt.Sprintf("%d_%s", i, c.Name), func(t *testing.T) {
			for _, tc := range []struct {
				dt  tensor.Dtype
				tol float64
			}{{tensor.Float64, 1e-12}, {tensor.Float32, 1e-5}} {
				loss, grads, err := evalGrad(tc.dt, builder(t, c), c.Inputs)
				if err != nil {
					t.Fatalf("%v: %v", tc.dt, err)
				}
				if e := relErr([]float64{loss}, []float64{c.Loss}); !(e <= tc.tol) {
					t.Errorf("%v: loss %.10g, torch %.10g (rel err %.3g > %.0e)", tc.dt, loss, c.Loss, e, tc.tol)
				}
				worst := 0.0
				for k := range c.Grads {
					e := relErr(grads[k], c.Grads[k])
					if !(e <= tc.tol) {
						t.Errorf("%v: gradient of input %d: rel err %.3g > %.0e", tc.dt, k, e, tc.tol)
					}
					worst = math.Max(worst, e)
				}
				t.Logf("%v: loss %.8f (torch %.8f), worst gradient rel err %.2g", tc.dt, loss, c.Loss, worst)
			}
		})
	}
}

// TestGradCheck checks each loss's symbolic gradient against finite
// differences (float64) at the fixture's inputs.
func TestGradCheck(t *testing.T) {
	for i, c := range loadCases(t) {
		t.Run(fmt.Sprintf("%d_%s", i, c.Name), func(t *testing.T) {
			var in []nntest.Input
			for _, x := range c.Inputs {
				if len(x.Shape) == 0 { // nntest perturbs slices: a scalar becomes (1)
					x.Shape = []int{1}
				}
				in = append(in, nntest.Input{Shape: x.Shape, Data: x.Data})
			}
			nntest.GradCheck(t, builder(t, c), in...)
		})
	}
}

func TestClassTargets(t *testing.T) {
	d, err := ClassTargets([]int{1, 0}, 3, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.1, 0.8, 0.1, 0.8, 0.1, 0.1}
	if relErr(d, want) > 1e-15 {
		t.Errorf("ClassTargets = %v, want %v", d, want)
	}
	for _, bad := range []struct {
		classes []int
		n       int
		eps     float64
		msg     string
	}{
		{[]int{3}, 3, 0, "class 3 outside [0, 3)"},
		{[]int{-1}, 3, 0, "class -1"},
		{[]int{0}, 0, 0, "0 classes"},
		{[]int{0}, 3, 1.5, "smoothing 1.5"},
	} {
		if _, err := ClassTargets(bad.classes, bad.n, bad.eps); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("ClassTargets(%v, %d, %g): error %v, want one containing %q", bad.classes, bad.n, bad.eps, err, bad.msg)
		}
	}
	if _, err := MultiPositiveTarget(nil); err == nil {
		t.Error("MultiPositiveTarget(nil): no error")
	}
}

// TestShapeErrors: wrong shapes become graph errors naming the loss.
func TestShapeErrors(t *testing.T) {
	cases := []struct {
		msg   string
		build func(g *nn.Graph) *G.Node
	}{
		{"infonce: logits have shape [2 3]", func(g *nn.Graph) *G.Node { return InfoNCE(g, g.Input("x", 2, 3)) }},
		{"cross entropy: logits [2 3] and target [3 2]", func(g *nn.Graph) *G.Node {
			return CrossEntropy(g, g.Input("x", 2, 3), g.Input("t", 3, 2))
		}},
		{"cross entropy: logits [2 3] for 3 class targets", func(g *nn.Graph) *G.Node {
			return CrossEntropyClasses(g, g.Input("x", 2, 3), []int{0, 1, 2}, 0)
		}},
		{"class 7 outside [0, 3)", func(g *nn.Graph) *G.Node {
			return CrossEntropyClasses(g, g.Input("x", 2, 3), []int{0, 7}, 0)
		}},
		{"multi-positive kl: target [3 3]", func(g *nn.Graph) *G.Node {
			return MultiPositiveKL(g, g.Input("x", 2, 2), g.Input("t", 3, 3))
		}},
		{"mse: shapes [2 3] and [3 2] differ", func(g *nn.Graph) *G.Node { return MSE(g, g.Input("a", 2, 3), g.Input("b", 3, 2)) }},
		{"l1: shapes", func(g *nn.Graph) *G.Node { return L1(g, g.Input("a", 2), g.Input("b", 3)) }},
		{"cosine: inputs [4]", func(g *nn.Graph) *G.Node { return Cosine(g, g.Input("a", 4), g.Input("b", 4)) }},
		{"logits: image [2 4] and text [3 5]", func(g *nn.Graph) *G.Node {
			return Logits(g, g.Input("a", 2, 4), g.Input("b", 3, 5), g.Scalar(1))
		}},
		{"logits: scale has shape [2]", func(g *nn.Graph) *G.Node {
			return Logits(g, g.Input("a", 2, 4), g.Input("b", 3, 4), g.Input("s", 2))
		}},
		{"logit scale: parameter s has shape [2]", func(g *nn.Graph) *G.Node {
			return (&LogitScale{Param: nn.ZeroParam("s", 2)}).Forward(g)
		}},
	}
	for _, c := range cases {
		g := nn.NewGraph(tensor.Float32)
		if n := c.build(g); n != nil {
			t.Errorf("%q: builder returned a node", c.msg)
		}
		if err := g.Err(); err == nil || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "loss: ") {
			t.Errorf("error %v, want one starting with loss: and containing %q", err, c.msg)
		}
	}
}

// TestLogitScale: Forward is exp(param) in the graph, gradients reach the
// parameter, and Clamp keeps it in [0, ln 100].
func TestLogitScale(t *testing.T) {
	ls := NewLogitScale("logit_scale")
	if v := ls.Value(); math.Abs(v-1/0.07) > 1e-4 {
		t.Fatalf("initial scale %v, want 1/0.07", v)
	}
	// nntest converts parameters with Param.Data, which needs a
	// one-element vector rather than a scalar tensor.
	vec := &LogitScale{Param: nn.NewParam("logit_scale", []float32{2.5}, 1)}
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return Logits(g, in[0], in[1], vec.Forward(g))
	}, nntest.RandInput(3, 4), nntest.RandInput(2, 4))
	// The scalar parameter works in float32 graphs.
	g := nn.NewGraph(tensor.Float32)
	if n := Logits(g, g.Input("i", 3, 4), g.Input("t", 2, 4), ls.Forward(g)); n == nil || g.Err() != nil {
		t.Fatalf("scalar logit scale: %v", g.Err())
	}

	ls.Param.Value.Float32s()[0] = 7
	if v := ls.Clamp(); math.Abs(v-math.Log(100)) > 1e-6 {
		t.Errorf("Clamp(7) = %v, want ln 100", v)
	}
	if v := ls.Value(); math.Abs(v-100) > 1e-3 {
		t.Errorf("scale after clamp %v, want 100", v)
	}
	ls.Param.Value.Float32s()[0] = -1
	if v := ls.Clamp(); v != 0 {
		t.Errorf("Clamp(-1) = %v, want 0", v)
	}
	one := &LogitScale{Param: nn.NewParam("s", []float32{9}, 1), Max: 2}
	if v := one.Clamp(); v != 2 {
		t.Errorf("Clamp with Max 2 = %v", v)
	}
	g = nn.NewGraph(tensor.Float32)
	if n := one.Forward(g); n == nil || n.Shape().TotalSize() != 1 {
		t.Errorf("Forward of a (1) parameter: %v, %v", n, g.Err())
	}
}

// TestCosineMaps: on activation maps (N, C, H, W) Cosine compares the
// channel vectors at every location, (1 − F.cosine_similarity(a, b,
// dim=1)).mean(), checked against a direct float64 computation, and its
// gradient against finite differences.
func TestCosineMaps(t *testing.T) {
	a, b := nntest.RandInput(2, 3, 2, 2), nntest.RandInput(2, 3, 2, 2)
	var want float64
	for n := 0; n < 2; n++ {
		for p := 0; p < 4; p++ {
			var dot, na, nb float64
			for c := 0; c < 3; c++ {
				i := (n*3+c)*4 + p
				dot += a.Data[i] * b.Data[i]
				na += a.Data[i] * a.Data[i]
				nb += b.Data[i] * b.Data[i]
			}
			want += 1 - dot/math.Sqrt(na*nb)
		}
	}
	want /= 8
	g := nn.NewGraph(tensor.Float64)
	x := g.Const("a", a.Data, a.Shape...)
	y := g.Const("b", b.Data, b.Shape...)
	out := Cosine(g, x, y)
	prog, err := nn.Compile(g, nil, []*G.Node{out})
	if err != nil {
		t.Fatal(err)
	}
	res, err := prog.Run()
	if err != nil {
		t.Fatal(err)
	}
	if got := res[0].Data().(float64); math.Abs(got-want) > 1e-12 {
		t.Fatalf("Cosine on maps = %.15g, want %.15g", got, want)
	}
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node { return Cosine(g, in[0], in[1]) }, a, b)
}
