package nn

import (
	"fmt"
	"hash"
	"hash/fnv"
	"runtime"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// float is the element type of the kernels.
type float interface{ ~float32 | ~float64 }

// kernel computes one op output from its inputs; all slices are contiguous,
// row-major and exactly as long as their shapes say. out starts zeroed
// unless the op sets full (the kernel writes every element).
type kernel[T float] func(in [][]T, out []T)

// fused is the one Gorgonia op type behind every custom op of this package.
// An op is described by a key that names its kind and every parameter
// (hashed, so ops differing in any parameter never merge), the static input
// and output shapes, a float32 and a float64 kernel, and a gradient builder.
type fused struct {
	key  string
	in   []tensor.Shape
	out  tensor.Shape
	k32  kernel[float32]
	k64  kernel[float64]
	diff []bool // which inputs get a gradient; nil: none (backward ops)
	// grad returns, per input, a builder of its gradient node; SymDiff
	// calls only those of inputs whose diff is true.
	grad func(in G.Nodes, out, gy *G.Node) []gradFn
	// full: the kernel writes every output element, so a reused output
	// buffer need not be zeroed first.
	full bool

	// Output buffers, reused across runs (see execKernel).
	buf32 []float32
	buf64 []float64
}

// gradFn builds one gradient node.
type gradFn func() (*G.Node, error)

var _ G.SDOp = (*fused)(nil)

func (op *fused) Arity() int { return len(op.in) }

func (op *fused) Type() hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, 0, len(op.in)+1)
	for _, s := range op.in {
		ts = append(ts, G.TensorType{Dims: s.Dims(), Of: a})
	}
	ts = append(ts, G.TensorType{Dims: op.out.Dims(), Of: a})
	return hm.NewFnType(ts...)
}

func (op *fused) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.out.Clone(), nil }
func (op *fused) ReturnsPtr() bool                               { return false }
func (op *fused) CallsExtern() bool                              { return false }
func (op *fused) OverwritesInput() int                           { return -1 }
func (op *fused) String() string                                 { return op.key }

func (op *fused) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "goclip/nn.%s", op.key)
	for _, s := range op.in {
		fmt.Fprintf(h, " %v", []int(s))
	}
	fmt.Fprintf(h, " -> %v", []int(op.out))
}

func (op *fused) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

func (op *fused) DiffWRT(n int) []bool {
	d := make([]bool, n)
	copy(d, op.diff)
	return d
}

func (op *fused) SymDiff(in G.Nodes, out, gy *G.Node) (G.Nodes, error) {
	if op.grad == nil {
		return nil, fmt.Errorf("nn: %s has no gradient", op.key)
	}
	fns := op.grad(in, out, gy)
	grads := make(G.Nodes, len(in))
	for i := range in {
		if i >= len(op.diff) || !op.diff[i] || i >= len(fns) {
			continue
		}
		d, err := fns[i]()
		if err != nil {
			return nil, err
		}
		grads[i] = d
	}
	return grads, nil
}

func (op *fused) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != len(op.in) {
		return nil, fmt.Errorf("nn: %s: %d inputs, want %d", op.key, len(vals), len(op.in))
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("nn: %s: no inputs", op.key)
	}
	switch vals[0].Dtype() {
	case tensor.Float32:
		return execKernel(op, vals, op.k32, tensor.Float32)
	case tensor.Float64:
		return execKernel(op, vals, op.k64, tensor.Float64)
	}
	return nil, fmt.Errorf("nn: %s: unsupported dtype %v", op.key, vals[0].Dtype())
}

func execKernel[T float](op *fused, vals []G.Value, k kernel[T], dt tensor.Dtype) (G.Value, error) {
	in := make([][]T, len(vals))
	for i, v := range vals {
		if !v.Shape().Eq(op.in[i]) {
			return nil, fmt.Errorf("nn: %s: input %d has shape %v, want %v", op.key, i, v.Shape(), op.in[i])
		}
		d, err := contiguous[T](v)
		if err != nil {
			return nil, fmt.Errorf("nn: %s: input %d: %w", op.key, i, err)
		}
		in[i] = d
	}
	out := outBuffer[T](op)
	k(in, out)
	return tensor.New(tensor.Of(dt), tensor.WithShape(op.out.Clone()...), tensor.WithBacking(out)), nil
}

// outBuffer returns the op's output buffer, allocated on the first run and
// reused afterwards (zeroed first unless op.full). A fresh multi-megabyte
// allocation per op and run costs more than many kernels (clearing, page
// faults, GC); reuse is safe because each op instance belongs to one node,
// a Program runs one at a time, and every consumer of a run's values
// (Program.Run, RunFunc callers, Gorgonia's Read nodes) copies them before
// the next run. Each tensor header is new: Gorgonia may reshape it in place.
func outBuffer[T float](op *fused) []T {
	n := op.out.TotalSize()
	var buf *[]T
	switch b := any(&op.buf32).(type) {
	case *[]T:
		buf = b
	default:
		buf = any(&op.buf64).(*[]T)
	}
	if len(*buf) != n {
		*buf = make([]T, n)
		return *buf
	}
	if !op.full {
		clear(*buf)
	}
	return *buf
}

// contiguous returns the row-major data of v, copying views that need it.
func contiguous[T float](v G.Value) ([]T, error) {
	d, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("want a dense tensor, got %T", v)
	}
	if d.RequiresIterator() {
		d = d.Materialize().(*tensor.Dense)
	}
	data, ok := d.Data().([]T)
	if !ok {
		return nil, fmt.Errorf("element type %v does not match the other inputs", d.Dtype())
	}
	n := d.Shape().TotalSize()
	if len(data) < n {
		return nil, fmt.Errorf("%d values for shape %v", len(data), d.Shape())
	}
	return data[:n], nil
}

// apply builds a fused op node, under the graph's sticky error. Inputs
// that no gradient can flow to (frozen parameters and what is computed from
// them alone) get no backward node.
func (g *Graph) apply(op *fused, inputs ...*G.Node) *G.Node {
	if !g.OK(inputs...) {
		return nil
	}
	op.diff = append([]bool(nil), op.diff...)
	for i, n := range inputs {
		if i < len(op.diff) && op.diff[i] && !g.needsGrad(n) {
			op.diff[i] = false
		}
	}
	return g.Do(op.key, func() (*G.Node, error) { return G.ApplyOp(op, inputs...) })
}

// needsGrad reports whether a gradient can reach n: false for frozen
// parameters, Int tensors, Gorgonia constants, and nodes computed only
// from those; true otherwise. Results are memoised per graph.
func (g *Graph) needsGrad(n *G.Node) bool {
	if v, ok := g.gradMemo[n]; ok {
		return v
	}
	if g.gradMemo == nil {
		g.gradMemo = map[*G.Node]bool{}
		g.frozen = map[*G.Node]bool{}
	}
	for p, pn := range g.params {
		if _, seen := g.frozen[pn]; !seen {
			g.frozen[pn] = p.Frozen
		}
	}
	var v bool
	switch {
	case n.Dtype() == tensor.Int:
	case g.frozen[n]:
	case n.IsVar():
		v = true
	default:
		it := g.g.From(n.ID())
		for it.Next() {
			if c, ok := it.Node().(*G.Node); ok && g.needsGrad(c) {
				v = true
				break
			}
		}
	}
	g.gradMemo[n] = v
	return v
}

// applyGrad builds a backward node inside a SymDiff.
func applyGrad(op *fused, inputs ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(op, inputs...)
	if err != nil {
		return nil, fmt.Errorf("nn: %s: %w", op.key, err)
	}
	return n, nil
}

// parallelFor splits [0, n) into chunks run on up to GOMAXPROCS goroutines
// when the total work (n·cost, roughly in flops) is large enough to pay for it.
func parallelFor(n, cost int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n*cost < 1<<15 {
		if n > 0 {
			f(0, n)
		}
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// parallelSum runs f over chunks of [0, n), each accumulating into its own
// zeroed buffer of length m, and adds the buffers into out.
func parallelSum[T float](n, cost, m int, out []T, f func(lo, hi int, acc []float64)) {
	var mu sync.Mutex
	total := make([]float64, m)
	parallelFor(n, cost, func(lo, hi int) {
		acc := make([]float64, m)
		f(lo, hi, acc)
		mu.Lock()
		for i, v := range acc {
			total[i] += v
		}
		mu.Unlock()
	})
	for i, v := range total {
		out[i] = T(v)
	}
}
