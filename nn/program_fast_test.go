package nn_test

import (
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Regression: Gorgonia's TapeMachine computes an Add in place into its first
// operand once that operand is dead, which overwrote a tapped output that
// was also the first operand of a later Add. Compile protects its outputs.
func TestCompileProtectsOutputs(t *testing.T) {
	g := nn.NewGraph(tensor.Float32)
	x := g.Input("x", 4)
	a := g.Scale(x, 2) // (4), an output and the first operand below
	b := g.Add(a, x)   // (4)
	c := g.Add(b, x)   // (4)
	prog, err := nn.Compile(g, []*G.Node{x}, []*G.Node{a, b, c})
	if err != nil {
		t.Fatal(err)
	}
	for run := range 3 { // later runs too: buffers are reused
		v := float32(run + 1)
		out, err := prog.Run(f32([]int{4}, v, 2*v, 3*v, 4*v))
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range []float32{2, 3, 4} {
			want := []float32{k * v, k * 2 * v, k * 3 * v, k * 4 * v}
			nntest.AssertClose(t, out[i].Data().([]float32), want, 0)
		}
	}
}

// Fused ops reuse their output buffers across runs: every run's results
// are those of its own inputs, including ops whose kernels accumulate into
// a zeroed output (the average-pool gradient).
func TestFusedBuffersReusedAcrossRuns(t *testing.T) {
	g := nn.NewGraph(tensor.Float32)
	x := g.Input("x", 1, 1, 2, 2)
	y := g.QuickGELU(g.AvgPool2d(x, 2, 1, 1)) // (1, 1, 3, 3)
	loss := g.Sum(y)
	grads, err := G.Grad(loss, x)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := nn.Compile(g, []*G.Node{x}, []*G.Node{y, grads[0]})
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(in []float32) [][]float32 {
		g := nn.NewGraph(tensor.Float32)
		x := g.Input("x", 1, 1, 2, 2)
		y := g.QuickGELU(g.AvgPool2d(x, 2, 1, 1))
		grads, err := G.Grad(g.Sum(y), x)
		if err != nil {
			t.Fatal(err)
		}
		out := compileRun(t, g, []*G.Node{x}, []*G.Node{y, grads[0]}, f32([]int{1, 1, 2, 2}, in...))
		return [][]float32{out[0].Data().([]float32), out[1].Data().([]float32)}
	}
	for _, in := range [][]float32{{1, -2, 3, 0.5}, {-1, 4, 0, 2}, {1, -2, 3, 0.5}} {
		out, err := prog.Run(f32([]int{1, 1, 2, 2}, in...))
		if err != nil {
			t.Fatal(err)
		}
		want := fresh(in)
		nntest.AssertClose(t, out[0].Data().([]float32), want[0], 0)
		nntest.AssertClose(t, out[1].Data().([]float32), want[1], 0)
	}
}
