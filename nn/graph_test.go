package nn_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func compileRun(t *testing.T, g *nn.Graph, inputs []*G.Node, outputs []*G.Node, vals ...*tensor.Dense) []*tensor.Dense {
	t.Helper()
	p, err := nn.Compile(g, inputs, outputs)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(vals...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func f32(shape []int, data ...float32) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// A float32 graph binds the parameter's own tensor: updating the parameter
// in place is seen by the next run without rebuilding.
func TestParamBindingNoCopy(t *testing.T) {
	p := nn.NewParam("w", []float32{1, 2, 3}, 3)
	g := nn.NewGraph(tensor.Float32)
	n := g.Param(p)
	if g.Param(p) != n {
		t.Fatal("binding a parameter twice gave two nodes")
	}
	y := g.Scale(n, 2)
	prog, err := nn.Compile(g, nil, []*G.Node{y})
	if err != nil {
		t.Fatal(err)
	}
	out, err := prog.Run()
	if err != nil {
		t.Fatal(err)
	}
	nntest.AssertClose(t, out[0].Data().([]float32), []float32{2, 4, 6}, 0)
	p.Data()[1] = 10
	out, err = prog.Run()
	if err != nil {
		t.Fatal(err)
	}
	nntest.AssertClose(t, out[0].Data().([]float32), []float32{2, 20, 6}, 0)
}

// Two parameters with the same name and shape stay two nodes.
func TestParamsDoNotMerge(t *testing.T) {
	a := nn.NewParam("w", []float32{1, 2}, 2)
	b := nn.NewParam("w", []float32{10, 20}, 2)
	g := nn.NewGraph(tensor.Float32)
	na, nb := g.Param(a), g.Param(b)
	if na == nb || na.Name() == nb.Name() {
		t.Fatalf("parameters merged: %q and %q", na.Name(), nb.Name())
	}
	out := compileRun(t, g, nil, []*G.Node{g.Add(na, nb), g.Sub(nb, na)})
	nntest.AssertClose(t, out[0].Data().([]float32), []float32{11, 22}, 0)
	nntest.AssertClose(t, out[1].Data().([]float32), []float32{9, 18}, 0)
	if len(g.Params()) != 2 {
		t.Fatalf("%d params bound, want 2", len(g.Params()))
	}
}

func TestBroadcastAddShapes(t *testing.T) {
	g := nn.NewGraph(tensor.Float32)
	x := g.Const("x", make([]float64, 2*3*4), 2, 3, 4)
	row := g.Const("row", []float64{1, 2, 3, 4}, 4)
	col := g.Const("col", []float64{10, 20, 30}, 3, 1)
	a := g.BroadcastAdd(x, row) // (2, 3, 4)
	b := g.BroadcastAdd(x, col) // (2, 3, 4)
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	out := compileRun(t, g, nil, []*G.Node{a, b})
	for _, o := range out {
		if !o.Shape().Eq(tensor.Shape{2, 3, 4}) {
			t.Fatalf("shape %v", o.Shape())
		}
	}
	av, bv := out[0].Data().([]float32), out[1].Data().([]float32)
	if av[5] != 2 || av[23] != 4 || bv[5] != 20 || bv[23] != 30 {
		t.Fatalf("broadcast values wrong: %v / %v", av, bv)
	}
	g.BroadcastAdd(x, g.Const("bad", []float64{1, 2}, 2))
	if g.Err() == nil || !strings.Contains(g.Err().Error(), "broadcast") {
		t.Fatalf("want a broadcast error, got %v", g.Err())
	}
}

func TestSliceKeepsAxis(t *testing.T) {
	g := nn.NewGraph(tensor.Float32)
	x := g.Const("x", []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 2, 3, 2)
	s := g.Slice(x, 1, 1, 2)
	if !s.Shape().Eq(tensor.Shape{2, 1, 2}) {
		t.Fatalf("shape %v, want (2, 1, 2)", s.Shape())
	}
	out := compileRun(t, g, nil, []*G.Node{s})
	nntest.AssertClose(t, out[0].Data().([]float32), []float32{2, 3, 8, 9}, 0)
	g.Slice(x, 1, 2, 5)
	if g.Err() == nil {
		t.Fatal("out-of-range slice gave no error")
	}
}

func TestProgramRunErrors(t *testing.T) {
	g := nn.NewGraph(tensor.Float32)
	x := g.Input("x", 2, 3)
	y := g.Softmax(x, -1)
	p, err := nn.Compile(g, []*G.Node{x}, []*G.Node{y})
	if err != nil {
		t.Fatal(err)
	}
	good := f32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	if _, err := p.Run(good); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]*tensor.Dense{
		"inputs given":           {},
		"has shape":              {f32([]int{3, 2}, 1, 2, 3, 4, 5, 6)},
		"has dtype":              {tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float64, 6)))},
		"is nil":                 {nil},
		"inputs given, program ": {good, good},
	}
	for want, in := range cases {
		if _, err := p.Run(in...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Run with bad inputs: error %v, want one containing %q", err, want)
		}
		if err := p.RunFunc(func([]G.Value) error { return nil }, in...); err == nil {
			t.Errorf("RunFunc with bad inputs (%s): no error", want)
		}
	}
	if _, err := p.Run(good); err != nil {
		t.Fatalf("program unusable after bad inputs: %v", err)
	}
}

func TestCacheReuse(t *testing.T) {
	var c nn.Cache
	builds := 0
	build := func() (*nn.Program, error) {
		builds++
		g := nn.NewGraph(tensor.Float32)
		x := g.Input("x", 1, 4)
		return nn.Compile(g, []*G.Node{x}, []*G.Node{g.QuickGELU(x)})
	}
	p1, err := c.Get("1x4", build)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := c.Get("1x4", build)
	if p1 != p2 || builds != 1 || c.Len() != 1 {
		t.Fatalf("cache rebuilt: builds=%d len=%d same=%t", builds, c.Len(), p1 == p2)
	}
	if _, err := c.Get("bad", func() (*nn.Program, error) {
		g := nn.NewGraph(tensor.Float32)
		g.Linear(g.Input("x", 2, 3), g.Input("w", 4, 5), nil)
		return nn.Compile(g, nil, nil)
	}); err == nil || c.Len() != 1 {
		t.Fatalf("failed build: err %v, len %d", err, c.Len())
	}
	c.Clear()
	if c.Len() != 0 {
		t.Fatal("Clear left programs")
	}
}

// Bad shapes and parameters give errors that name the op, never panics,
// and the first error sticks.
func TestBuilderErrors(t *testing.T) {
	cases := map[string]func(g *nn.Graph) *G.Node{
		"linear": func(g *nn.Graph) *G.Node { return g.Linear(g.Input("x", 2, 3), g.Input("w", 4, 5), nil) },
		"linear: bias": func(g *nn.Graph) *G.Node {
			return g.Linear(g.Input("x", 2, 3), g.Input("w", 4, 3), g.Input("b", 3))
		},
		"layernorm": func(g *nn.Graph) *G.Node {
			return g.LayerNorm(g.Input("x", 2, 3), g.Input("w", 4), g.Input("b", 4), 1e-5)
		},
		"eps":        func(g *nn.Graph) *G.Node { return g.LayerNorm(g.Input("x", 2, 3), g.Input("w", 3), g.Input("b", 3), 0) },
		"softmax":    func(g *nn.Graph) *G.Node { return g.Softmax(g.Input("x", 2, 3), 2) },
		"logsoftmax": func(g *nn.Graph) *G.Node { return g.LogSoftmax(g.Input("x", 2, 3), -3) },
		"avgpool2d":  func(g *nn.Graph) *G.Node { return g.AvgPool2d(g.Input("x", 1, 1, 2, 2), 3, 1, 0) },
		"avgpool2d:": func(g *nn.Graph) *G.Node { return g.AvgPool2d(g.Input("x", 2, 2), 2, 2, 0) },
		"adaptive":   func(g *nn.Graph) *G.Node { return g.AdaptiveAvgPool2d(g.Input("x", 1, 1, 4, 4), 0, 2) },
		"global":     func(g *nn.Graph) *G.Node { return g.GlobalAvgPool2d(g.Input("x", 4, 4)) },
		"channel":    func(g *nn.Graph) *G.Node { return g.ChannelAffine(g.Input("x", 1, 3, 2, 2), g.Input("s", 2), nil) },
		"conv2d": func(g *nn.Graph) *G.Node {
			return g.Conv2d(g.Input("x", 1, 3, 4, 4), g.Input("w", 2, 2, 3, 3), nil, 1, 1)
		},
		"gather": func(g *nn.Graph) *G.Node { return g.Gather(g.Input("t", 4, 3), g.Input("i", 2)) },
		"heads": func(g *nn.Graph) *G.Node {
			return g.AttentionProbs(g.Input("q", 1, 2, 6), g.Input("k", 1, 3, 6), 4, nil)
		},
		"attention:": func(g *nn.Graph) *G.Node {
			return g.AttentionProbs(g.Input("q", 1, 2, 6), g.Input("k", 2, 3, 6), 2, nil)
		},
		"mask": func(g *nn.Graph) *G.Node {
			return g.AttentionProbs(g.Input("q", 1, 2, 6), g.Input("k", 1, 3, 6), 2, g.CausalMask(3))
		},
		"apply":      func(g *nn.Graph) *G.Node { return g.AttentionApply(g.Input("p", 1, 2, 2, 3), g.Input("v", 1, 4, 6)) },
		"activation": func(g *nn.Graph) *G.Node { return g.Activate(g.Input("x", 2), nn.Activation(9)) },
		"nil node":   func(g *nn.Graph) *G.Node { return g.QuickGELU(nil) },
		"missing weight": func(g *nn.Graph) *G.Node {
			l := nn.Linear{}
			return l.Forward(g, g.Input("x", 2, 3))
		},
		"in_proj_weight": func(g *nn.Graph) *G.Node {
			m := nn.MultiheadAttention{InProjWeight: nn.ZeroParam("w", 6, 3), Heads: 1}
			out, _ := m.Forward(g, g.Input("x", 1, 2, 3), g.Input("x", 1, 2, 3), nil)
			return out
		},
	}
	for want, build := range cases {
		t.Run(want, func(t *testing.T) {
			g := nn.NewGraph(tensor.Float32)
			var y *G.Node
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				y = build(g)
				// Later builders are no-ops once an error is recorded.
				g.LayerNorm(y, nil, nil, 1e-5)
			}()
			if y != nil || g.Err() == nil {
				t.Fatalf("no error (node %v)", y)
			}
			if !strings.Contains(g.Err().Error(), strings.TrimSuffix(want, ":")) {
				t.Errorf("error %q does not mention %q", g.Err(), want)
			}
		})
	}
}

// Indices outside the table are a run-time error, not a panic.
func TestGatherOutOfRange(t *testing.T) {
	g := nn.NewGraph(tensor.Float32)
	table := g.Const("t", make([]float64, 12), 4, 3)
	idx := g.IndexInput("idx", 2)
	y := g.Gather(table, idx)
	p, err := nn.Compile(g, []*G.Node{idx}, []*G.Node{y})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 7}))); err == nil {
		t.Fatal("index 7 of a 4-row table gave no error")
	}
	if _, err := p.Run(tensor.New(tensor.WithShape(2), tensor.WithBacking([]int{1, 3}))); err != nil {
		t.Fatalf("program unusable after the error: %v", err)
	}
}

// Frozen parameters get no backward nodes: a gradient with respect to the
// input alone builds no weight-gradient GEMM, and asking for the frozen
// parameter's gradient is an error.
func TestFrozenParamsSkipGradients(t *testing.T) {
	build := func(frozen bool) (*nn.Graph, *G.Node, *G.Node, *nn.Param) {
		w := nn.NewParam("w", make([]float32, 12), 4, 3)
		w.Frozen = frozen
		g := nn.NewGraph(tensor.Float64)
		x := g.Const("x", make([]float64, 6), 2, 3)
		loss := g.Sum(g.Linear(g.QuickGELU(x), g.Param(w), nil))
		if err := g.Err(); err != nil {
			t.Fatal(err)
		}
		return g, x, loss, w
	}
	count := func(g *nn.Graph) (n int) {
		for _, node := range g.Expr().AllNodes() {
			if op := node.Op(); op != nil && strings.Contains(fmt.Sprint(op), "linear_grad_w") {
				n++
			}
		}
		return n
	}
	for _, frozen := range []bool{false, true} {
		g, x, loss, _ := build(frozen)
		if _, err := G.Grad(loss, x); err != nil {
			t.Fatal(err)
		}
		want := 1
		if frozen {
			want = 0
		}
		if n := count(g); n != want {
			t.Errorf("frozen=%t: %d weight-gradient nodes, want %d", frozen, n, want)
		}
	}
	g, _, loss, w := build(true)
	if _, err := G.Grad(loss, g.ParamNode(w)); err == nil {
		t.Error("gradient with respect to a frozen parameter gave no error")
	}
}
