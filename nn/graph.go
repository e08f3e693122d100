package nn

import (
	"fmt"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Param is one named model parameter. Name is the checkpoint name
// (e.g. "visual.transformer.resblocks.0.ln_1.weight"); Value holds float32
// data in the checkpoint's layout. Optimizers update Value in place, so every
// graph bound to the parameter sees the new values on its next run.
type Param struct {
	Name   string
	Value  *tensor.Dense
	Frozen bool // excluded from gradients when a graph is built for training
}

// NewParam wraps float32 data of the given shape as a parameter.
// It panics only on a programming error (len(data) != prod(shape)).
func NewParam(name string, data []float32, shape ...int) *Param {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if len(data) != n {
		panic(fmt.Sprintf("nn.NewParam %s: %d values for shape %v", name, len(data), shape))
	}
	var t *tensor.Dense
	if len(shape) == 0 {
		t = tensor.New(tensor.FromScalar(data[0]))
	} else {
		t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	}
	return &Param{Name: name, Value: t}
}

// ZeroParam is a parameter of the given shape filled with zeros (for building
// graphs from shapes alone, e.g. to count parameters).
func ZeroParam(name string, shape ...int) *Param {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return NewParam(name, make([]float32, n), shape...)
}

// Data returns the parameter's float32 backing slice (length 1 for scalars).
func (p *Param) Data() []float32 { return p.Value.Float32s() }

// Shape returns the parameter's shape.
func (p *Param) Shape() tensor.Shape { return p.Value.Shape() }

// Graph is a Gorgonia expression graph with parameter binding and a sticky
// error: every builder method returns nil once an error has occurred, and the
// first error is reported by Err. Forward code is therefore a plain pipeline
//
//	x = g.Linear(x, w, b)   // (N, C)
//	x = g.QuickGELU(x)
//	...
//	if err := g.Err(); err != nil { ... }
//
// Every leaf gets a unique name, which avoids Gorgonia's silent merging of
// unnamed leaves with equal shapes (see the package documentation).
//
// A Graph is not safe for concurrent use. Build graphs from one goroutine at
// a time (see Cache): Gorgonia v0.9.18 races on shared constants while
// building.
type Graph struct {
	g      *G.ExprGraph
	dt     tensor.Dtype
	params map[*Param]*G.Node
	order  []*Param
	names  map[string]int
	err    error

	// gradient reachability memo (see needsGrad in fused.go)
	gradMemo map[*G.Node]bool
	frozen   map[*G.Node]bool
}

// NewGraph starts a graph whose nodes have element type dt (tensor.Float32
// or tensor.Float64). Float64 graphs convert bound parameters to float64
// copies; they exist for gradient checks.
func NewGraph(dt tensor.Dtype) *Graph {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		g := &Graph{g: G.NewGraph(), dt: tensor.Float32}
		g.err = fmt.Errorf("nn: unsupported graph dtype %v (want float32 or float64)", dt)
		return g
	}
	return &Graph{g: G.NewGraph(), dt: dt, params: map[*Param]*G.Node{}, names: map[string]int{}}
}

// Expr returns the underlying Gorgonia graph.
func (g *Graph) Expr() *G.ExprGraph { return g.g }

// Dtype is the element type of the graph.
func (g *Graph) Dtype() tensor.Dtype { return g.dt }

// Err returns the first error met while building.
func (g *Graph) Err() error { return g.err }

// Fail records err (the first one wins) and returns nil, so builders can
// `return g.Fail(...)`.
func (g *Graph) Fail(err error) *G.Node {
	if g.err == nil && err != nil {
		g.err = err
	}
	return nil
}

// Failf records a formatted error.
func (g *Graph) Failf(format string, args ...any) *G.Node {
	return g.Fail(fmt.Errorf("nn: "+format, args...))
}

// OK reports whether building may go on: no error so far and no nil node among ns.
func (g *Graph) OK(ns ...*G.Node) bool {
	if g.err != nil {
		return false
	}
	for _, n := range ns {
		if n == nil {
			g.err = fmt.Errorf("nn: nil node passed to a builder")
			return false
		}
	}
	return true
}

// Do runs one Gorgonia builder call under the sticky error. what names the
// operation in the error message.
func (g *Graph) Do(what string, f func() (*G.Node, error)) *G.Node {
	if g.err != nil {
		return nil
	}
	n, err := f()
	if err != nil {
		return g.Fail(fmt.Errorf("nn: %s: %w", what, err))
	}
	return n
}

// Apply applies a Gorgonia op to the inputs.
func (g *Graph) Apply(op G.Op, inputs ...*G.Node) *G.Node {
	if !g.OK(inputs...) {
		return nil
	}
	return g.Do(op.String(), func() (*G.Node, error) { return G.ApplyOp(op, inputs...) })
}

// UniqueName returns base, or base#k when base is already taken in this graph.
func (g *Graph) UniqueName(base string) string {
	k := g.names[base]
	g.names[base] = k + 1
	if k == 0 {
		return base
	}
	return fmt.Sprintf("%s#%d", base, k)
}

// Param returns the node bound to p, creating it on first use. In float32
// graphs the node is bound to p.Value itself (no copy).
func (g *Graph) Param(p *Param) *G.Node {
	if g.err != nil {
		return nil
	}
	if p == nil || p.Value == nil {
		return g.Failf("nil parameter")
	}
	if n, ok := g.params[p]; ok {
		return n
	}
	v := p.Value
	if g.dt == tensor.Float64 {
		src := p.Data()
		d := make([]float64, len(src))
		for i, x := range src {
			d[i] = float64(x)
		}
		v = denseOf(tensor.Float64, d, p.Value.Shape())
	}
	n := g.leaf(g.UniqueName(p.Name), v.Shape(), v)
	if n == nil {
		return nil
	}
	g.params[p] = n
	g.order = append(g.order, p)
	return n
}

// Params lists the parameters bound into the graph, in binding order.
func (g *Graph) Params() []*Param { return g.order }

// ParamNode returns the node bound to p, or nil if p is not in the graph.
func (g *Graph) ParamNode(p *Param) *G.Node { return g.params[p] }

// TrainableNodes returns the nodes of the bound parameters that are not Frozen.
func (g *Graph) TrainableNodes() (params []*Param, nodes G.Nodes) {
	for _, p := range g.order {
		if !p.Frozen {
			params = append(params, p)
			nodes = append(nodes, g.params[p])
		}
	}
	return params, nodes
}

// Input creates a named input placeholder of the given shape; set its value
// with gorgonia.Let before running (Program does this).
func (g *Graph) Input(name string, shape ...int) *G.Node {
	return g.leaf(g.UniqueName(name), tensor.Shape(shape), nil)
}

// Const creates a named constant leaf holding data (float64 values are
// converted to the graph dtype).
func (g *Graph) Const(name string, data []float64, shape ...int) *G.Node {
	if g.err != nil {
		return nil
	}
	if prod(shape) != len(data) {
		return g.Failf("const %s: %d values for shape %v", name, len(data), shape)
	}
	return g.leaf(g.UniqueName(name), tensor.Shape(shape), g.dense(data, shape))
}

// Scalar creates a named scalar constant of the graph dtype.
func (g *Graph) Scalar(v float64) *G.Node {
	if g.err != nil {
		return nil
	}
	var val G.Value
	if g.dt == tensor.Float64 {
		val = G.NewF64(v)
	} else {
		val = G.NewF32(float32(v))
	}
	return G.NewScalar(g.g, g.dt, G.WithName(g.UniqueName(fmt.Sprintf("scalar(%g)", v))), G.WithValue(val))
}

func (g *Graph) leaf(name string, shape tensor.Shape, v *tensor.Dense) *G.Node {
	if g.err != nil {
		return nil
	}
	opts := []G.NodeConsOpt{G.WithName(name)}
	if v != nil {
		opts = append(opts, G.WithValue(v))
	}
	if len(shape) == 0 {
		return G.NewScalar(g.g, g.dt, opts...)
	}
	opts = append(opts, G.WithShape(shape...))
	return G.NewTensor(g.g, g.dt, len(shape), opts...)
}

// dense makes a tensor of the graph dtype from float64 data.
func (g *Graph) dense(data []float64, shape []int) *tensor.Dense {
	if g.dt == tensor.Float64 {
		return denseOf(tensor.Float64, append([]float64(nil), data...), shape)
	}
	d := make([]float32, len(data))
	for i, x := range data {
		d[i] = float32(x)
	}
	return denseOf(tensor.Float32, d, shape)
}

func denseOf(dt tensor.Dtype, backing any, shape []int) *tensor.Dense {
	if len(shape) == 0 {
		switch b := backing.(type) {
		case []float64:
			return tensor.New(tensor.FromScalar(b[0]))
		case []float32:
			return tensor.New(tensor.FromScalar(b[0]))
		}
	}
	return tensor.New(tensor.Of(dt), tensor.WithShape(shape...), tensor.WithBacking(backing))
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// shapeString formats a shape as (a, b, c) for error messages.
func shapeString(s tensor.Shape) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// ---- thin wrappers over Gorgonia ops (all under the sticky error) ----

// Add adds two nodes of equal shape.
func (g *Graph) Add(a, b *G.Node) *G.Node {
	if !g.OK(a, b) {
		return nil
	}
	return g.Do("add", func() (*G.Node, error) { return G.Add(a, b) })
}

// Sub subtracts b from a (equal shapes).
func (g *Graph) Sub(a, b *G.Node) *G.Node {
	if !g.OK(a, b) {
		return nil
	}
	return g.Do("sub", func() (*G.Node, error) { return G.Sub(a, b) })
}

// Mul multiplies elementwise (equal shapes).
func (g *Graph) Mul(a, b *G.Node) *G.Node {
	if !g.OK(a, b) {
		return nil
	}
	return g.Do("hadamard product", func() (*G.Node, error) { return G.HadamardProd(a, b) })
}

// Scale multiplies every element by the constant s.
func (g *Graph) Scale(x *G.Node, s float64) *G.Node {
	if !g.OK(x) {
		return nil
	}
	c := g.Scalar(s)
	return g.Do("scale", func() (*G.Node, error) { return G.Mul(x, c) })
}

// MatMul multiplies 2-D matrices: (M, K) × (K, N) → (M, N).
func (g *Graph) MatMul(a, b *G.Node) *G.Node {
	if !g.OK(a, b) {
		return nil
	}
	if a.Dims() != 2 || b.Dims() != 2 {
		return g.Failf("matmul wants 2-D operands, got %s × %s", shapeString(a.Shape()), shapeString(b.Shape()))
	}
	return g.Do("matmul", func() (*G.Node, error) { return G.Mul(a, b) })
}

// BatchedMatMul multiplies (B, M, K) × (B, K, N) → (B, M, N), optionally with
// transposed operands.
func (g *Graph) BatchedMatMul(a, b *G.Node, transA, transB bool) *G.Node {
	if !g.OK(a, b) {
		return nil
	}
	return g.Do("batched matmul", func() (*G.Node, error) { return G.BatchedMatMul(a, b, transA, transB) })
}

// Reshape changes the shape (same number of elements).
func (g *Graph) Reshape(x *G.Node, shape ...int) *G.Node {
	if !g.OK(x) {
		return nil
	}
	if prod(shape) != x.Shape().TotalSize() {
		return g.Failf("reshape %s to %v: element counts differ", shapeString(x.Shape()), shape)
	}
	return g.Do("reshape", func() (*G.Node, error) { return G.Reshape(x, tensor.Shape(shape)) })
}

// Transpose permutes axes.
func (g *Graph) Transpose(x *G.Node, perm ...int) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("transpose", func() (*G.Node, error) { return G.Transpose(x, perm...) })
}

// Slice takes x[..., start:end, ...] along axis, keeping the axis even when
// end-start == 1 (unlike gorgonia.Slice, which drops it).
func (g *Graph) Slice(x *G.Node, axis, start, end int) *G.Node {
	if !g.OK(x) {
		return nil
	}
	s := x.Shape()
	if axis < 0 || axis >= len(s) || start < 0 || end > s[axis] || start >= end {
		return g.Failf("slice [%d:%d] on axis %d of %s is out of range", start, end, axis, shapeString(s))
	}
	sl := make([]tensor.Slice, len(s))
	sl[axis] = G.S(start, end)
	y := g.Do("slice", func() (*G.Node, error) { return G.Slice(x, sl...) })
	if y == nil || end-start != 1 {
		return y
	}
	keep := append([]int(nil), s...)
	keep[axis] = 1
	return g.Reshape(y, keep...)
}

// Concat joins nodes along axis.
func (g *Graph) Concat(axis int, xs ...*G.Node) *G.Node {
	if !g.OK(xs...) {
		return nil
	}
	return g.Do("concat", func() (*G.Node, error) { return G.Concat(axis, xs...) })
}

// ReLU is max(x, 0).
func (g *Graph) ReLU(x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.relu(x) // fused, see relu_fast.go
}

// Sigmoid is 1/(1+exp(-x)).
func (g *Graph) Sigmoid(x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("sigmoid", func() (*G.Node, error) { return G.Sigmoid(x) })
}

// Tanh is the hyperbolic tangent.
func (g *Graph) Tanh(x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("tanh", func() (*G.Node, error) { return G.Tanh(x) })
}

// Exp is e^x.
func (g *Graph) Exp(x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("exp", func() (*G.Node, error) { return G.Exp(x) })
}

// Sum reduces over the given axes (all axes when none are given); the
// reduced axes are removed.
func (g *Graph) Sum(x *G.Node, axes ...int) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("sum", func() (*G.Node, error) { return G.Sum(x, axes...) })
}

// Mean averages over the given axes (all axes when none are given); the
// reduced axes are removed.
func (g *Graph) Mean(x *G.Node, axes ...int) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("mean", func() (*G.Node, error) { return G.Mean(x, axes...) })
}

// BroadcastAdd adds b to a, where b's shape equals a's trailing shape or is
// 1 on the axes where a is larger (e.g. a (N, C, H, W), b (1, C, 1, 1) or
// (C, 1, 1)). Lower-rank b is reshaped to a's rank first.
func (g *Graph) BroadcastAdd(a, b *G.Node) *G.Node {
	return g.broadcast("broadcast add", a, b, G.BroadcastAdd)
}

// BroadcastMul multiplies a by b elementwise with b broadcast as in BroadcastAdd.
func (g *Graph) BroadcastMul(a, b *G.Node) *G.Node {
	return g.broadcast("broadcast mul", a, b, G.BroadcastHadamardProd)
}

func (g *Graph) broadcast(what string, a, b *G.Node, f func(a, b *G.Node, l, r []byte) (*G.Node, error)) *G.Node {
	if !g.OK(a, b) {
		return nil
	}
	as, bs := a.Shape(), b.Shape()
	if len(bs) > len(as) {
		return g.Failf("%s: %s has higher rank than %s", what, shapeString(bs), shapeString(as))
	}
	full := make([]int, len(as))
	for i := range full {
		full[i] = 1
	}
	copy(full[len(as)-len(bs):], bs)
	var pat []byte
	for i := range full {
		switch {
		case full[i] == as[i]:
		case full[i] == 1:
			pat = append(pat, byte(i))
		default:
			return g.Failf("%s: cannot broadcast %s to %s", what, shapeString(bs), shapeString(as))
		}
	}
	if len(bs) != len(as) || len(bs) == 0 {
		b = g.Reshape(b, full...)
	}
	if len(pat) == 0 {
		if what == "broadcast add" {
			return g.Add(a, b)
		}
		return g.Mul(a, b)
	}
	return g.Do(what, func() (*G.Node, error) { return f(a, b, nil, pat) })
}

// Conv2dNoBias is a 2-D convolution in NCHW layout with square kernel
// from the filter shape (Cout, Cin, kH, kW), symmetric padding and stride.
func (g *Graph) Conv2dNoBias(x, w *G.Node, stride, pad int) *G.Node {
	if !g.OK(x, w) {
		return nil
	}
	ws := w.Shape()
	if x.Dims() != 4 || len(ws) != 4 || x.Shape()[1] != ws[1] {
		return g.Failf("conv2d: input %s and filter %s do not match (want (N, C, H, W) and (Cout, C, kH, kW))", shapeString(x.Shape()), shapeString(ws))
	}
	return g.conv2d(x, w, stride, pad) // (N, Cout, OH, OW), see conv_fast.go
}

// MaxPool2d is max pooling in NCHW layout.
func (g *Graph) MaxPool2d(x *G.Node, kernel, stride, pad int) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("maxpool2d", func() (*G.Node, error) {
		return G.MaxPool2D(x, tensor.Shape{kernel, kernel}, []int{pad, pad}, []int{stride, stride})
	})
}

// Sqrt is √x.
func (g *Graph) Sqrt(x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("sqrt", func() (*G.Node, error) { return G.Sqrt(x) })
}

// Square is x².
func (g *Graph) Square(x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("square", func() (*G.Node, error) { return G.Square(x) })
}

// Neg is -x.
func (g *Graph) Neg(x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("neg", func() (*G.Node, error) { return G.Neg(x) })
}

// Div divides elementwise (equal shapes).
func (g *Graph) Div(a, b *G.Node) *G.Node {
	if !g.OK(a, b) {
		return nil
	}
	return g.Do("div", func() (*G.Node, error) { return G.HadamardDiv(a, b) })
}

// Log is the natural logarithm.
func (g *Graph) Log(x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Do("log", func() (*G.Node, error) { return G.Log(x) })
}
