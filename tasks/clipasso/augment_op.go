package clipasso

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Augmenter is the state behind an augment node: the warps of the current
// step, replaced by Set between runs. Warp 0 of every batch is the clean
// image (the identity).
type Augmenter struct {
	mu        sync.Mutex
	h, w      int
	warps     []*Warp
	mean, std [3]float64
	id        uint64
}

var augmenterIDs atomic.Uint64

// NewAugmenter makes the state for batches of n images (the clean one plus
// n−1 augmentations) of h×w pixels, normalised with mean and std after the
// warp. It starts with every warp the identity.
func NewAugmenter(n, h, w int, mean, std [3]float64) (*Augmenter, error) {
	if n < 1 || h < 1 || w < 1 {
		return nil, fmt.Errorf("clipasso: augmenter: batch %d of %d×%d images", n, h, w)
	}
	for _, s := range std {
		if s == 0 {
			return nil, fmt.Errorf("clipasso: augmenter: std %v has a zero", std)
		}
	}
	a := &Augmenter{h: h, w: w, mean: mean, std: std, id: augmenterIDs.Add(1)}
	id := Identity(h, w)
	for range n {
		a.warps = append(a.warps, id)
	}
	return a, nil
}

// N is the batch size the augmenter produces.
func (a *Augmenter) N() int { return len(a.warps) }

// Set replaces the augmentations (warps 1…n−1); warp 0 stays the identity.
func (a *Augmenter) Set(augs []*Warp) error {
	if len(augs) != len(a.warps)-1 {
		return fmt.Errorf("clipasso: augmenter: %d warps for %d augmentations", len(augs), len(a.warps)-1)
	}
	for i, w := range augs {
		if w == nil || w.H != a.h || w.W != a.w {
			return fmt.Errorf("clipasso: augmenter: warp %d does not fit %d×%d", i, a.w, a.h)
		}
	}
	a.mu.Lock()
	copy(a.warps[1:], augs)
	a.mu.Unlock()
	return nil
}

// Batch applies the current warps and the normalisation to an image
// (3, H, W) in plain Go (the target side, which needs no gradient):
// (N, 3, H, W).
func (a *Augmenter) Batch(img []float64) []float32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.h * a.w
	out := make([]float32, len(a.warps)*3*n)
	plane := make([]float64, n)
	for b, wp := range a.warps {
		for c := range 3 {
			wp.Apply(plane, img[c*n:(c+1)*n])
			o := out[(b*3+c)*n : (b*3+c+1)*n]
			for i, v := range plane {
				o[i] = float32((v - a.mean[c]) / a.std[c])
			}
		}
	}
	return out
}

// Apply adds the augment op to g: image x (1, 3, H, W) → normalised batch
// (N, 3, H, W), differentiable with respect to x.
func (a *Augmenter) Apply(g *G.ExprGraph, x *G.Node) (*G.Node, error) {
	if x == nil {
		return nil, fmt.Errorf("clipasso: augment: nil input")
	}
	if s := x.Shape(); len(s) != 4 || s[0] != 1 || s[1] != 3 || s[2] != a.h || s[3] != a.w {
		return nil, fmt.Errorf("clipasso: augment: input %v, want (1, 3, %d, %d)", s, a.h, a.w)
	}
	n, err := G.ApplyOp(&augmentOp{a: a}, x)
	if err != nil {
		return nil, fmt.Errorf("clipasso: augment: %w", err)
	}
	return n, nil
}

// augmentOp is x (1, 3, H, W) → (N, 3, H, W); augmentGradOp is its
// transpose, gy (N, 3, H, W) → gx (1, 3, H, W).
type augmentOp struct{ a *Augmenter }
type augmentGradOp struct{ a *Augmenter }

func (op *augmentOp) Arity() int { return 1 }
func (op *augmentOp) Type() hm.Type {
	t := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 4, Of: t}, G.TensorType{Dims: 4, Of: t})
}
func (op *augmentOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.a.N(), 3, op.a.h, op.a.w}, nil
}
func (op *augmentOp) ReturnsPtr() bool      { return false }
func (op *augmentOp) CallsExtern() bool     { return false }
func (op *augmentOp) OverwritesInput() int  { return -1 }
func (op *augmentOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "clipasso.augment#%d", op.a.id) }
func (op *augmentOp) Hashcode() uint32      { return hashOf(op) }
func (op *augmentOp) String() string        { return fmt.Sprintf("clipasso.augment#%d", op.a.id) }
func (op *augmentOp) DiffWRT(int) []bool    { return []bool{true} }

func (op *augmentOp) SymDiff(in G.Nodes, _, gy *G.Node) (G.Nodes, error) {
	gx, err := G.ApplyOp(&augmentGradOp{a: op.a}, gy)
	if err != nil {
		return nil, fmt.Errorf("clipasso: augment gradient: %w", err)
	}
	return G.Nodes{gx}, nil
}

func (op *augmentOp) Do(vals ...G.Value) (G.Value, error) {
	a := op.a
	if len(vals) != 1 {
		return nil, fmt.Errorf("clipasso: augment: %d inputs, want 1", len(vals))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := vals[0].(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("clipasso: augment: input %T, want a dense tensor", vals[0])
	}
	if d.RequiresIterator() {
		d = d.Materialize().(*tensor.Dense)
	}
	n := a.h * a.w
	switch src := d.Data().(type) {
	case []float32:
		out := make([]float32, a.N()*3*n)
		forwardWarps(a, out, src)
		return tensor.New(tensor.WithShape(a.N(), 3, a.h, a.w), tensor.WithBacking(out)), nil
	case []float64:
		out := make([]float64, a.N()*3*n)
		forwardWarps(a, out, src)
		return tensor.New(tensor.WithShape(a.N(), 3, a.h, a.w), tensor.WithBacking(out)), nil
	}
	return nil, fmt.Errorf("clipasso: augment: dtype %v, want Float32 or Float64", vals[0].Dtype())
}

func forwardWarps[T float32 | float64](a *Augmenter, out, src []T) {
	n := a.h * a.w
	for b, wp := range a.warps {
		for c := range 3 {
			in := src[c*n : (c+1)*n]
			o := out[(b*3+c)*n : (b*3+c+1)*n]
			inv := 1 / a.std[c]
			for p := range n {
				var s float64
				for k := wp.Ptr[p]; k < wp.Ptr[p+1]; k++ {
					s += wp.Wt[k] * float64(in[wp.Idx[k]])
				}
				o[p] = T((s - a.mean[c]) * inv)
			}
		}
	}
}

func backwardWarps[T float32 | float64](a *Augmenter, gx, gy []T) {
	n := a.h * a.w
	acc := make([]float64, 3*n)
	for b, wp := range a.warps {
		for c := range 3 {
			g := gy[(b*3+c)*n : (b*3+c+1)*n]
			d := acc[c*n : (c+1)*n]
			inv := 1 / a.std[c]
			for p := range n {
				v := float64(g[p]) * inv
				if v == 0 {
					continue
				}
				for k := wp.Ptr[p]; k < wp.Ptr[p+1]; k++ {
					d[wp.Idx[k]] += wp.Wt[k] * v
				}
			}
		}
	}
	for i, v := range acc {
		gx[i] = T(v)
	}
}

func (op *augmentGradOp) Arity() int { return 1 }
func (op *augmentGradOp) Type() hm.Type {
	t := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 4, Of: t}, G.TensorType{Dims: 4, Of: t})
}
func (op *augmentGradOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{1, 3, op.a.h, op.a.w}, nil
}
func (op *augmentGradOp) ReturnsPtr() bool      { return false }
func (op *augmentGradOp) CallsExtern() bool     { return false }
func (op *augmentGradOp) OverwritesInput() int  { return -1 }
func (op *augmentGradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "clipasso.augment_grad#%d", op.a.id) }
func (op *augmentGradOp) Hashcode() uint32      { return hashOf(op) }
func (op *augmentGradOp) String() string        { return fmt.Sprintf("clipasso.augment_grad#%d", op.a.id) }

func (op *augmentGradOp) Do(vals ...G.Value) (G.Value, error) {
	a := op.a
	if len(vals) != 1 {
		return nil, fmt.Errorf("clipasso: augment gradient: %d inputs, want 1", len(vals))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := vals[0].(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("clipasso: augment gradient: input %T, want a dense tensor", vals[0])
	}
	if d.RequiresIterator() {
		d = d.Materialize().(*tensor.Dense)
	}
	n := a.h * a.w
	switch gy := d.Data().(type) {
	case []float32:
		gx := make([]float32, 3*n)
		backwardWarps(a, gx, gy)
		return tensor.New(tensor.WithShape(1, 3, a.h, a.w), tensor.WithBacking(gx)), nil
	case []float64:
		gx := make([]float64, 3*n)
		backwardWarps(a, gx, gy)
		return tensor.New(tensor.WithShape(1, 3, a.h, a.w), tensor.WithBacking(gx)), nil
	}
	return nil, fmt.Errorf("clipasso: augment gradient: dtype %v", d.Dtype())
}

func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
