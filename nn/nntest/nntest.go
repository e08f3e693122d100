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
// gradient (TapeMachine) of every float input and of every non-frozen
// parameter bound by build against central finite differences. It fails t when the max relative error
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

// session is a built gradient-check graph: its loss, the float inputs and
// parameters it differentiates, their gradient nodes, and a VM.
type session struct {
	g     *nn.Graph
	out   *G.Node
	loss  *G.Node
	wrt   []*G.Node
	grads G.Nodes
	vm    G.VM
}

// newSession builds out = build(g, inputs) in a graph of dtype dt, the loss
// Σ w ⊙ out with a fixed weighting, and the symbolic gradients of the loss
// with respect to every float input (unless NoGrad) and every bound,
// non-frozen parameter.
func newSession(dt tensor.Dtype, build func(g *nn.Graph, in []*G.Node) *G.Node, inputs []Input) (s *session, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	g := nn.NewGraph(dt)
	s = &session{g: g}
	nodes := make([]*G.Node, len(inputs))
	for i, in := range inputs {
		if in.Ints != nil {
			v := tensor.New(tensor.WithShape(in.Shape...), tensor.WithBacking(append([]int(nil), in.Ints...)))
			nodes[i] = G.NewTensor(g.Expr(), tensor.Int, len(in.Shape), G.WithShape(in.Shape...), G.WithName(fmt.Sprintf("in%d", i)), G.WithValue(v))
			continue
		}
		nodes[i] = g.Const(fmt.Sprintf("in%d", i), in.Data, in.Shape...)
		if !in.NoGrad {
			s.wrt = append(s.wrt, nodes[i])
		}
	}
	s.out = build(g, nodes)
	if err := g.Err(); err != nil {
		return nil, err
	}
	if s.out == nil {
		return nil, fmt.Errorf("build returned nil")
	}
	_, params := g.TrainableNodes()
	s.wrt = append(s.wrt, params...)
	rngW := rand.New(rand.NewSource(7))
	wd := make([]float64, s.out.Shape().TotalSize())
	for i := range wd {
		wd[i] = 2*rngW.Float64() - 1
	}
	if s.out.Shape().Dims() == 0 {
		s.loss = g.Scale(s.out, wd[0])
	} else {
		wn := g.Const("gradcheck_weight", wd, s.out.Shape()...)
		s.loss = g.Sum(g.Mul(s.out, wn))
	}
	if err := g.Err(); err != nil {
		return nil, err
	}
	if len(s.wrt) > 0 {
		if s.grads, err = G.Grad(s.loss, s.wrt...); err != nil {
			return nil, fmt.Errorf("symbolic gradient: %w", err)
		}
	}
	s.vm = G.NewTapeMachine(g.Expr())
	return s, nil
}

// run executes the graph; read runs before the reset with the live values.
func (s *session) run(read func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	defer s.vm.Reset()
	if err := s.vm.RunAll(); err != nil {
		return err
	}
	if read != nil {
		return read()
	}
	return nil
}

// values returns the output and the gradients as float64.
func (s *session) values() (out []float64, grads [][]float64, err error) {
	err = s.run(func() error {
		out = Float64s(s.out.Value())
		for _, gn := range s.grads {
			grads = append(grads, Float64s(gn.Value()))
		}
		return nil
	})
	return out, grads, err
}

func (s *session) lossValue() (float64, error) {
	var l float64
	err := s.run(func() error {
		l = Float64s(s.loss.Value())[0]
		return nil
	})
	return l, err
}

// Float64s copies a graph value (float32 or float64, tensor or scalar) into
// a new []float64; other types give nil.
func Float64s(v G.Value) []float64 {
	switch d := v.Data().(type) {
	case []float64:
		return append([]float64(nil), d...)
	case []float32:
		out := make([]float64, len(d))
		for i, x := range d {
			out[i] = float64(x)
		}
		return out
	case float64:
		return []float64{d}
	case float32:
		return []float64{float64(d)}
	}
	return nil
}

func gradCheck(build func(g *nn.Graph, in []*G.Node) *G.Node, inputs []Input) (worst float64, err error) {
	s, err := newSession(tensor.Float64, build, inputs)
	if err != nil {
		return 0, err
	}
	defer s.vm.Close()
	_, analytic, err := s.values()
	if err != nil {
		return 0, fmt.Errorf("run: %w", err)
	}
	const h = 1e-6
	for gi, n := range s.wrt {
		data := n.Value().Data().([]float64)
		for j := range data {
			orig := data[j]
			data[j] = orig + h
			lp, err := s.lossValue()
			if err != nil {
				return 0, err
			}
			data[j] = orig - h
			lm, err := s.lossValue()
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

// Float32Check builds the graph in float32 and in float64 and compares the
// outputs and the gradients of Σ w ⊙ out (inputs and bound parameters):
// the max difference relative to each tensor's scale max(1, max|x|) must
// stay within tol.
// It returns the worst relative difference.
func Float32Check(t testing.TB, tol float64, build func(g *nn.Graph, in []*G.Node) *G.Node, inputs ...Input) float64 {
	t.Helper()
	var res [2][][]float64
	for k, dt := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		s, err := newSession(dt, build, inputs)
		if err != nil {
			t.Fatalf("float32 check (%v): %v", dt, err)
		}
		out, grads, err := s.values()
		s.vm.Close()
		if err != nil {
			t.Fatalf("float32 check (%v): run: %v", dt, err)
		}
		res[k] = append([][]float64{out}, grads...)
	}
	var worst float64
	for i := range res[1] {
		var diff, scale float64
		for j, want := range res[1][i] {
			diff = math.Max(diff, math.Abs(res[0][i][j]-want))
			scale = math.Max(scale, math.Abs(want))
		}
		rel := diff / math.Max(scale, 1)
		if rel > worst || math.IsNaN(diff) {
			worst = rel
		}
	}
	t.Logf("float32 vs float64: max relative difference %.3g (tol %.1g)", worst, tol)
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("float32 vs float64: max relative difference %.3g exceeds %.1g", worst, tol)
	}
	return worst
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
