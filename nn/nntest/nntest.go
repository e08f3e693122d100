// Package nntest holds test helpers for graph code built with package nn:
// finite-difference gradient checks, deterministic random inputs, a .npy
// reader for PyTorch fixtures, and closeness assertions.
package nntest

import (
	"fmt"
	"math"
	"math/rand"
	"sync"
	"testing"

	"github.com/goclip/goclip/nn"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Input is one input of a gradient check: float data of a shape, or Int
// indices (Ints non-nil), which are passed through without a gradient.
// NoGrad float inputs are fed to the graph but not checked.
type Input struct {
	Shape  []int
	Data   []float64
	Ints   []int
	NoGrad bool
}

var (
	rngMu sync.Mutex
	rng   = rand.New(rand.NewSource(1))
)

// Seed resets the generator behind RandInput.
func Seed(s int64) {
	rngMu.Lock()
	rng = rand.New(rand.NewSource(s))
	rngMu.Unlock()
}

// RandInput is an input of the given shape with values uniform in [-1, 1),
// from a fixed-seed generator (deterministic for a fixed call order).
func RandInput(shape ...int) Input {
	n := 1
	for _, d := range shape {
		n *= d
	}
	rngMu.Lock()
	defer rngMu.Unlock()
	d := make([]float64, n)
	for i := range d {
		d[i] = 2*rng.Float64() - 1
	}
	return Input{Shape: append([]int(nil), shape...), Data: d}
}

// IntInput is an Int index vector input.
func IntInput(idx ...int) Input {
	return Input{Shape: []int{len(idx)}, Ints: append([]int(nil), idx...)}
}

// DefaultTol is GradCheck's tolerance on the relative error.
const DefaultTol = 1e-6

// GradCheck builds out = build(g, nodes) on a float64 graph, forms the loss
// Σ w ⊙ out with a fixed random weighting w, and compares the symbolic
// gradient of every float input (TapeMachine) against central finite
// differences. It fails t when the max relative error
// |a−n| / max(1, |a|, |n|) exceeds DefaultTol and returns that error.
func GradCheck(t testing.TB, build func(g *nn.Graph, in []*G.Node) *G.Node, inputs ...Input) float64 {
	t.Helper()
	return GradCheckTol(t, DefaultTol, build, inputs...)
}

// GradCheckTol is GradCheck with an explicit tolerance.
func GradCheckTol(t testing.TB, tol float64, build func(g *nn.Graph, in []*G.Node) *G.Node, inputs ...Input) float64 {
	t.Helper()
	worst, err := gradCheck(build, inputs)
	if err != nil {
		t.Fatalf("gradcheck: %v", err)
	}
	t.Logf("gradcheck: max relative error %.3g (tol %.1g)", worst, tol)
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("gradcheck: max relative error %.3g exceeds %.1g", worst, tol)
	}
	return worst
}

func gradCheck(build func(g *nn.Graph, in []*G.Node) *G.Node, inputs []Input) (worst float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	g := nn.NewGraph(tensor.Float64)
	nodes := make([]*G.Node, len(inputs))
	var wrt []*G.Node
	var wrtIdx []int
	for i, in := range inputs {
		if in.Ints != nil {
			v := tensor.New(tensor.WithShape(in.Shape...), tensor.WithBacking(append([]int(nil), in.Ints...)))
			nodes[i] = G.NewTensor(g.Expr(), tensor.Int, len(in.Shape), G.WithShape(in.Shape...), G.WithName(fmt.Sprintf("in%d", i)), G.WithValue(v))
			continue
		}
		nodes[i] = g.Const(fmt.Sprintf("in%d", i), in.Data, in.Shape...)
		if !in.NoGrad {
			wrt = append(wrt, nodes[i])
			wrtIdx = append(wrtIdx, i)
		}
	}
	out := build(g, nodes)
	if err := g.Err(); err != nil {
		return 0, err
	}
	if out == nil {
		return 0, fmt.Errorf("build returned nil")
	}
	rngW := rand.New(rand.NewSource(7))
	wd := make([]float64, out.Shape().TotalSize())
	for i := range wd {
		wd[i] = 2*rngW.Float64() - 1
	}
	shape := []int(out.Shape())
	if len(shape) == 0 {
		shape = nil
	}
	var loss *G.Node
	if len(shape) == 0 {
		loss = g.Scale(out, wd[0])
	} else {
		wn := g.Const("gradcheck_weight", wd, shape...)
		loss = g.Sum(g.Mul(out, wn))
	}
	if err := g.Err(); err != nil {
		return 0, err
	}
	grads, err := G.Grad(loss, wrt...)
	if err != nil {
		return 0, fmt.Errorf("symbolic gradient: %w", err)
	}
	vm := G.NewTapeMachine(g.Expr())
	defer vm.Close()
	run := func() (float64, error) {
		defer vm.Reset()
		if err := vm.RunAll(); err != nil {
			return 0, err
		}
		return loss.Value().Data().(float64), nil
	}
	if _, err := run(); err != nil {
		return 0, fmt.Errorf("run: %w", err)
	}
	// Re-run once more and read the gradients before the reset.
	if err := vm.RunAll(); err != nil {
		return 0, fmt.Errorf("run: %w", err)
	}
	analytic := make([][]float64, len(grads))
	for i, gn := range grads {
		analytic[i] = append([]float64(nil), gn.Value().Data().([]float64)...)
	}
	vm.Reset()
	const h = 1e-6
	for gi, i := range wrtIdx {
		data := nodes[i].Value().Data().([]float64)
		for j := range data {
			orig := data[j]
			data[j] = orig + h
			lp, err := run()
			if err != nil {
				return 0, err
			}
			data[j] = orig - h
			lm, err := run()
			if err != nil {
				return 0, err
			}
			data[j] = orig
			num := (lp - lm) / (2 * h)
			a := analytic[gi][j]
			rel := math.Abs(a-num) / math.Max(1, math.Max(math.Abs(a), math.Abs(num)))
			if rel > worst || math.IsNaN(rel) {
				worst = rel
			}
		}
	}
	return worst, nil
}

// AssertClose fails t unless got and want have equal length and
// max|got−want| ≤ tol·max(1, max|want|) (tolerance relative to the output's
// scale). It logs the max abs difference and returns it.
func AssertClose(t testing.TB, got, want []float32, tol float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("length %d, want %d", len(got), len(want))
		return math.Inf(1)
	}
	var diff, scale float64
	at := -1
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > diff || math.IsNaN(d) {
			diff, at = d, i
		}
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	limit := tol * math.Max(1, scale)
	t.Logf("max abs diff %.3g (scale %.3g, limit %.3g)", diff, scale, limit)
	if diff > limit || math.IsNaN(diff) {
		t.Errorf("max abs diff %.3g at %d (got %v, want %v) exceeds %.3g", diff, at, got[at], want[at], limit)
	}
	return diff
}
