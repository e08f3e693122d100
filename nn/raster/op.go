package raster

import (
	"fmt"
	"hash"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Render adds the rasterizer to g: points (N, 2), radii (P) and colors (P, 4)
// in, the image (1, 3, H, W) out, in the dtype of the inputs (Float32 or
// Float64, all the same). Gradients flow to all three inputs through G.Grad.
func Render(g *G.ExprGraph, scene Scene, points, radii, colors *G.Node) (*G.Node, error) {
	if len(scene.Paths) == 0 {
		return nil, fmt.Errorf("raster: render: the scene has no paths")
	}
	r, err := NewRenderer(scene)
	if err != nil {
		return nil, err
	}
	n, p := scene.NumPoints(), len(scene.Paths)
	want := []struct {
		name  string
		node  *G.Node
		shape tensor.Shape
	}{{"points", points, tensor.Shape{n, 2}}, {"radii", radii, tensor.Shape{p}}, {"colors", colors, tensor.Shape{p, 4}}}
	for _, w := range want {
		if w.node == nil {
			return nil, fmt.Errorf("raster: render: %s is nil", w.name)
		}
		if !w.node.Shape().Eq(w.shape) {
			return nil, fmt.Errorf("raster: render: %s has shape %v, want %v", w.name, w.node.Shape(), w.shape)
		}
		if dt := w.node.Dtype(); dt != tensor.Float32 && dt != tensor.Float64 {
			return nil, fmt.Errorf("raster: render: %s has dtype %v, want Float32 or Float64", w.name, dt)
		}
		if w.node.Dtype() != points.Dtype() {
			return nil, fmt.Errorf("raster: render: %s has dtype %v, points has %v", w.name, w.node.Dtype(), points.Dtype())
		}
	}
	op := &renderOp{shared: &shared{r: r, key: sceneKey(scene)}}
	out, err := G.ApplyOp(op, points, radii, colors)
	if err != nil {
		return nil, fmt.Errorf("raster: render: %w", err)
	}
	return out, nil
}

// shared is the renderer and scratch buffers behind one Render node and its
// gradient; the mutex serialises machines that share the graph.
type shared struct {
	mu                     sync.Mutex
	r                      *Renderer
	key                    string
	pts, rad, col, img, gr []float64
	dPts                   []float64 // flat (dPoints, dRadii, dColors)
}

// sceneKey spells out every parameter of a scene, for op hashing.
func sceneKey(s Scene) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%dx%d/s%d/bg%v/", s.Width, s.Height, s.Samples, s.Background)
	for _, p := range s.Paths {
		fmt.Fprintf(&b, "%v%v;", p.Segments, p.Closed)
	}
	return b.String()
}

// toF64 returns v's data as float64, converting float32 into buf.
func toF64(v G.Value, buf *[]float64) ([]float64, error) {
	t, ok := v.(tensor.Tensor)
	if !ok {
		return nil, fmt.Errorf("input is %T, want a tensor", v)
	}
	switch d := t.Data().(type) {
	case []float64:
		return d, nil
	case []float32:
		if cap(*buf) < len(d) {
			*buf = make([]float64, len(d))
		}
		b := (*buf)[:len(d)]
		for i, x := range d {
			b[i] = float64(x)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("input has dtype %v, want Float32 or Float64", t.Dtype())
	}
}

// fromF64 writes src into dst, a Float32 or Float64 tensor of the same size.
func fromF64(dst tensor.Tensor, src []float64) {
	switch d := dst.Data().(type) {
	case []float64:
		copy(d, src)
	case []float32:
		for i, x := range src {
			d[i] = float32(x)
		}
	}
}

func newDense(dt tensor.Dtype, shape ...int) *tensor.Dense {
	return tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
}

// dtypeOf is the dtype of a tensor value.
func dtypeOf(v G.Value) tensor.Dtype { return v.(tensor.Tensor).Dtype() }

func (sh *shared) load(inputs []G.Value) error {
	var err error
	if sh.pts, err = toF64(inputs[0], &sh.pts); err != nil {
		return fmt.Errorf("points: %w", err)
	}
	if sh.rad, err = toF64(inputs[1], &sh.rad); err != nil {
		return fmt.Errorf("radii: %w", err)
	}
	if sh.col, err = toF64(inputs[2], &sh.col); err != nil {
		return fmt.Errorf("colors: %w", err)
	}
	return nil
}

func hashOf(op interface{ WriteHash(hash.Hash) }) uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}

// renderOp is points, radii, colors → image (1, 3, H, W).
type renderOp struct{ shared *shared }

func (op *renderOp) Arity() int { return 3 }

func (op *renderOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 4, Of: a})
}

func (op *renderOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	s := op.shared.r.scene
	return tensor.Shape{1, 3, s.Height, s.Width}, nil
}

func (op *renderOp) Do(inputs ...G.Value) (G.Value, error) {
	if len(inputs) != 3 {
		return nil, fmt.Errorf("raster: render: %d inputs, want 3", len(inputs))
	}
	s := op.shared.r.scene
	out := newDense(dtypeOf(inputs[0]), 1, 3, s.Height, s.Width)
	return op.UsePreallocDo(out, inputs...)
}

// UsePreallocDo renders into prealloc.
func (op *renderOp) UsePreallocDo(prealloc G.Value, inputs ...G.Value) (G.Value, error) {
	sh := op.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if err := sh.load(inputs); err != nil {
		return nil, fmt.Errorf("raster: render: %w", err)
	}
	out, ok := prealloc.(tensor.Tensor)
	if !ok || out.Shape().TotalSize() != 3*sh.r.scene.Width*sh.r.scene.Height {
		return nil, fmt.Errorf("raster: render: output buffer %v does not fit the image", prealloc.Shape())
	}
	img := out.Data()
	if d, ok := img.([]float64); ok {
		if err := sh.r.Forward(d, nil, sh.pts, sh.rad, sh.col); err != nil {
			return nil, err
		}
		return out, nil
	}
	if len(sh.img) != out.Shape().TotalSize() {
		sh.img = make([]float64, out.Shape().TotalSize())
	}
	if err := sh.r.Forward(sh.img, nil, sh.pts, sh.rad, sh.col); err != nil {
		return nil, err
	}
	fromF64(out, sh.img)
	return out, nil
}

func (op *renderOp) ReturnsPtr() bool     { return false }
func (op *renderOp) CallsExtern() bool    { return false }
func (op *renderOp) OverwritesInput() int { return -1 }
func (op *renderOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "raster.Render{%s}", op.shared.key)
}
func (op *renderOp) Hashcode() uint32 { return hashOf(op) }
func (op *renderOp) String() string {
	s := op.shared.r.scene
	return fmt.Sprintf("raster.Render{%dx%d, %d paths, samples %d}", s.Width, s.Height, len(s.Paths), s.Samples)
}

// DiffWRT: points, radii and colors are all differentiable.
func (op *renderOp) DiffWRT(inputs int) []bool { return []bool{true, true, true} }

// SymDiff applies the backward op, which yields all three gradients in one
// flat vector, and cuts it into the inputs' shapes.
func (op *renderOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 3 {
		return nil, fmt.Errorf("raster: render gradient: %d inputs, want 3", len(inputs))
	}
	flat, err := G.ApplyOp(&renderDiffOp{shared: op.shared}, inputs[0], inputs[1], inputs[2], grad)
	if err != nil {
		return nil, fmt.Errorf("raster: render gradient: %w", err)
	}
	out := make(G.Nodes, 3)
	off := 0
	for i, in := range inputs {
		shape := in.Shape().Clone()
		if out[i], err = G.ApplyOp(&partOp{off: off, shape: shape}, flat); err != nil {
			return nil, fmt.Errorf("raster: render gradient: %w", err)
		}
		off += shape.TotalSize()
	}
	return out, nil
}

// renderDiffOp is points, radii, colors, dImage → (dPoints, dRadii, dColors) flattened.
type renderDiffOp struct{ shared *shared }

func (op *renderDiffOp) Arity() int { return 4 }

func (op *renderDiffOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 4, Of: a}, G.TensorType{Dims: 1, Of: a})
}

func (op *renderDiffOp) size() int {
	s := op.shared.r.scene
	return 2*s.NumPoints() + 5*len(s.Paths)
}

func (op *renderDiffOp) InferShape(...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.size()}, nil
}

func (op *renderDiffOp) Do(inputs ...G.Value) (G.Value, error) {
	if len(inputs) != 4 {
		return nil, fmt.Errorf("raster: render gradient: %d inputs, want 4", len(inputs))
	}
	return op.UsePreallocDo(newDense(dtypeOf(inputs[0]), op.size()), inputs...)
}

// UsePreallocDo writes the flat gradient into prealloc.
func (op *renderDiffOp) UsePreallocDo(prealloc G.Value, inputs ...G.Value) (G.Value, error) {
	sh := op.shared
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if err := sh.load(inputs); err != nil {
		return nil, fmt.Errorf("raster: render gradient: %w", err)
	}
	gr, err := toF64(inputs[3], &sh.gr)
	if err != nil {
		return nil, fmt.Errorf("raster: render gradient: image gradient: %w", err)
	}
	out, ok := prealloc.(tensor.Tensor)
	if !ok || out.Shape().TotalSize() != op.size() {
		return nil, fmt.Errorf("raster: render gradient: output buffer %v has the wrong size", prealloc.Shape())
	}
	np, nr := len(sh.pts), len(sh.rad)
	if len(sh.dPts) != op.size() {
		sh.dPts = make([]float64, op.size())
	}
	all := sh.dPts
	if err := sh.r.Backward(all[:np], all[np:np+nr], all[np+nr:], sh.pts, sh.rad, sh.col, gr); err != nil {
		return nil, err
	}
	fromF64(out, all)
	return out, nil
}

func (op *renderDiffOp) ReturnsPtr() bool     { return false }
func (op *renderDiffOp) CallsExtern() bool    { return false }
func (op *renderDiffOp) OverwritesInput() int { return -1 }
func (op *renderDiffOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "raster.RenderGrad{%s}", op.shared.key)
}
func (op *renderDiffOp) Hashcode() uint32 { return hashOf(op) }
func (op *renderDiffOp) String() string   { return "raster.RenderGrad" }

// partOp copies [off, off+size(shape)) of a vector out as a tensor of shape.
type partOp struct {
	off   int
	shape tensor.Shape
}

func (op *partOp) Arity() int { return 1 }

func (op *partOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: len(op.shape), Of: a})
}

func (op *partOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }

func (op *partOp) Do(inputs ...G.Value) (G.Value, error) {
	if len(inputs) != 1 {
		return nil, fmt.Errorf("raster: gradient part: %d inputs, want 1", len(inputs))
	}
	return op.UsePreallocDo(newDense(dtypeOf(inputs[0]), op.shape...), inputs...)
}

// UsePreallocDo copies the part into prealloc.
func (op *partOp) UsePreallocDo(prealloc G.Value, inputs ...G.Value) (G.Value, error) {
	in, ok := inputs[0].(tensor.Tensor)
	out, ok2 := prealloc.(tensor.Tensor)
	n := op.shape.TotalSize()
	if !ok || !ok2 || in.Shape().TotalSize() < op.off+n || out.Shape().TotalSize() != n {
		return nil, fmt.Errorf("raster: gradient part [%d, %d): bad input %v or output %v", op.off, op.off+n, inputs[0].Shape(), prealloc.Shape())
	}
	switch src := in.Data().(type) {
	case []float64:
		copy(out.Data().([]float64), src[op.off:op.off+n])
	case []float32:
		copy(out.Data().([]float32), src[op.off:op.off+n])
	default:
		return nil, fmt.Errorf("raster: gradient part: dtype %v", in.Dtype())
	}
	return out, nil
}

func (op *partOp) ReturnsPtr() bool      { return false }
func (op *partOp) CallsExtern() bool     { return false }
func (op *partOp) OverwritesInput() int  { return -1 }
func (op *partOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "raster.part{%d,%v}", op.off, op.shape) }
func (op *partOp) Hashcode() uint32      { return hashOf(op) }
func (op *partOp) String() string        { return fmt.Sprintf("raster.part{%d, %v}", op.off, op.shape) }
