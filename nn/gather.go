package nn

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Gather is a custom op rather than Gorgonia's ByIndices, which reads
// outside the table for out-of-range indices instead of failing.

// gatherOp: table (V, C), idx (n) Int → (n, C). With scatter set it is the
// backward op instead: gy (n, C), idx (n) → (V, C), adding each gradient row
// into its table row.
type gatherOp struct {
	v, c, n int
	scatter bool
	noGrad  bool // the table is frozen: no backward node
}

var _ G.SDOp = (*gatherOp)(nil)

func (op *gatherOp) key() string {
	if op.scatter {
		return fmt.Sprintf("scatter_add(v=%d,c=%d,n=%d)", op.v, op.c, op.n)
	}
	return fmt.Sprintf("gather(v=%d,c=%d,n=%d,nograd=%t)", op.v, op.c, op.n, op.noGrad)
}

func (op *gatherOp) Arity() int { return 2 }
func (op *gatherOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, G.TensorType{Dims: 1, Of: tensor.Int}, m)
}
func (op *gatherOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	if op.scatter {
		return tensor.Shape{op.v, op.c}, nil
	}
	return tensor.Shape{op.n, op.c}, nil
}
func (op *gatherOp) ReturnsPtr() bool      { return false }
func (op *gatherOp) CallsExtern() bool     { return false }
func (op *gatherOp) OverwritesInput() int  { return -1 }
func (op *gatherOp) String() string        { return op.key() }
func (op *gatherOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "goclip/nn.%s", op.key()) }
func (op *gatherOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
func (op *gatherOp) DiffWRT(n int) []bool {
	d := make([]bool, n)
	d[0] = !op.scatter && !op.noGrad
	return d
}

func (op *gatherOp) SymDiff(in G.Nodes, _, gy *G.Node) (G.Nodes, error) {
	if op.scatter {
		return nil, fmt.Errorf("nn: %s has no gradient", op.key())
	}
	if op.noGrad {
		return G.Nodes{nil, nil}, nil
	}
	back := &gatherOp{v: op.v, c: op.c, n: op.n, scatter: true}
	dt, err := G.ApplyOp(back, gy, in[1])
	if err != nil {
		return nil, fmt.Errorf("nn: %s: %w", back.key(), err)
	}
	return G.Nodes{dt, nil}, nil
}

func (op *gatherOp) Do(vals ...G.Value) (G.Value, error) {
	if len(vals) != 2 {
		return nil, fmt.Errorf("nn: %s: %d inputs, want 2", op.key(), len(vals))
	}
	it, ok := vals[1].(*tensor.Dense)
	if !ok || it.Dtype() != tensor.Int || it.Shape().TotalSize() != op.n {
		return nil, fmt.Errorf("nn: %s: indices must be %d Ints, got %v %v", op.key(), op.n, vals[1].Dtype(), vals[1].Shape())
	}
	if it.RequiresIterator() {
		it = it.Materialize().(*tensor.Dense)
	}
	idx := it.Data().([]int)[:op.n]
	for i, k := range idx {
		if k < 0 || k >= op.v {
			return nil, fmt.Errorf("nn: gather: index %d at position %d is outside the table's %d rows", k, i, op.v)
		}
	}
	switch vals[0].Dtype() {
	case tensor.Float32:
		return gatherDo[float32](op, vals[0], idx, tensor.Float32)
	case tensor.Float64:
		return gatherDo[float64](op, vals[0], idx, tensor.Float64)
	}
	return nil, fmt.Errorf("nn: %s: unsupported dtype %v", op.key(), vals[0].Dtype())
}

func gatherDo[T float](op *gatherOp, v G.Value, idx []int, dt tensor.Dtype) (G.Value, error) {
	src, err := contiguous[T](v)
	if err != nil {
		return nil, fmt.Errorf("nn: %s: %w", op.key(), err)
	}
	c := op.c
	var out []T
	if op.scatter {
		if len(src) != op.n*c {
			return nil, fmt.Errorf("nn: %s: gradient has %d values, want %d", op.key(), len(src), op.n*c)
		}
		out = make([]T, op.v*c)
		for i, k := range idx {
			row := out[k*c : (k+1)*c]
			for j, g := range src[i*c : (i+1)*c] {
				row[j] += g
			}
		}
		return tensor.New(tensor.Of(dt), tensor.WithShape(op.v, c), tensor.WithBacking(out)), nil
	}
	if len(src) != op.v*c {
		return nil, fmt.Errorf("nn: %s: table has %d values, want %d", op.key(), len(src), op.v*c)
	}
	out = make([]T, op.n*c)
	for i, k := range idx {
		copy(out[i*c:(i+1)*c], src[k*c:(k+1)*c])
	}
	return tensor.New(tensor.Of(dt), tensor.WithShape(op.n, c), tensor.WithBacking(out)), nil
}
