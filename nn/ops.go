package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Activation selects the nonlinearity of an MLP.
type Activation int

const (
	QuickGELUAct Activation = iota // x·σ(1.702x), OpenAI CLIP
	GELUAct                        // exact erf GELU
	ReLUAct                        // max(x, 0)
)

func (a Activation) String() string {
	switch a {
	case QuickGELUAct:
		return "quickgelu"
	case GELUAct:
		return "gelu"
	case ReLUAct:
		return "relu"
	}
	return fmt.Sprintf("activation(%d)", int(a))
}

// Activate applies the activation a.
func (g *Graph) Activate(x *G.Node, a Activation) *G.Node {
	switch a {
	case QuickGELUAct, GELUAct:
		return g.activation(x, a)
	case ReLUAct:
		return g.ReLU(x)
	}
	return g.Failf("unknown activation %d", int(a))
}

// QuickGELU is x·σ(1.702x) as one fused op.
func (g *Graph) QuickGELU(x *G.Node) *G.Node { return g.activation(x, QuickGELUAct) }

// GELU is the exact GELU 0.5·x·(1+erf(x/√2)) as one fused op.
func (g *Graph) GELU(x *G.Node) *G.Node { return g.activation(x, GELUAct) }

func (g *Graph) activation(x *G.Node, a Activation) *G.Node {
	if !g.OK(x) {
		return nil
	}
	s := x.Shape().Clone()
	n := s.TotalSize()
	op := &fused{key: a.String(), in: []tensor.Shape{s}, out: s,
		k32: actFwd[float32](n, a), k64: actFwd[float64](n, a), diff: []bool{true}, full: true}
	op.grad = func(in G.Nodes, _, gy *G.Node) []gradFn {
		gop := &fused{key: a.String() + "_grad", in: []tensor.Shape{s, s}, out: s,
			k32: actGrad[float32](n, a), k64: actGrad[float64](n, a), full: true}
		return []gradFn{func() (*G.Node, error) { return applyGrad(gop, in[0], gy) }}
	}
	return g.apply(op, x)
}

// Linear is x·wᵀ + b for x (..., in), w (out, in) in torch layout and b (out)
// or nil, giving (..., out). One fused op: a GEMM with transposed w and the
// bias folded in.
func (g *Graph) Linear(x, w, b *G.Node) *G.Node {
	if !g.OK(x, w) {
		return nil
	}
	xs, ws := x.Shape().Clone(), w.Shape().Clone()
	if len(xs) < 1 || len(ws) != 2 || xs[len(xs)-1] != ws[1] {
		return g.Failf("linear: input %s does not match weight %s (want (..., in) and (out, in))", shapeString(xs), shapeString(ws))
	}
	n, k := ws[0], ws[1]
	m := xs.TotalSize() / k
	ys := xs.Clone()
	ys[len(ys)-1] = n
	in := []tensor.Shape{xs, ws}
	inputs := []*G.Node{x, w}
	if b != nil {
		if !b.Shape().Eq(tensor.Shape{n}) {
			return g.Failf("linear: bias %s does not match weight %s (want (%d))", shapeString(b.Shape()), shapeString(ws), n)
		}
		in = append(in, b.Shape().Clone())
		inputs = append(inputs, b)
	}
	op := &fused{key: fmt.Sprintf("linear(bias=%t)", b != nil), in: in, out: ys,
		k32: linearFwd[float32](m, n, k, b != nil), k64: linearFwd[float64](m, n, k, b != nil),
		diff: []bool{true, true, true}, full: true}
	op.grad = func(in G.Nodes, _, gy *G.Node) []gradFn {
		gx := &fused{key: "linear_grad_x", in: []tensor.Shape{ys, ws}, out: xs,
			k32: linearGradX[float32](m, n, k), k64: linearGradX[float64](m, n, k), full: true}
		gw := &fused{key: "linear_grad_w", in: []tensor.Shape{ys, xs}, out: ws,
			k32: linearGradW[float32](m, n, k), k64: linearGradW[float64](m, n, k), full: true}
		return []gradFn{
			func() (*G.Node, error) { return applyGrad(gx, gy, in[1]) },
			func() (*G.Node, error) { return applyGrad(gw, gy, in[0]) },
			func() (*G.Node, error) { return applyGrad(colSumOp(ys, m, n), gy) },
		}
	}
	return g.apply(op, inputs...)
}

// colSumOp sums a tensor of shape s, viewed as (rows, c), over its rows.
func colSumOp(s tensor.Shape, rows, c int) *fused {
	return &fused{key: "colsum", in: []tensor.Shape{s}, out: tensor.Shape{c},
		k32: colSum[float32](rows, c), k64: colSum[float64](rows, c)}
}

// LayerNorm normalises x over its last axis (biased variance, eps inside
// the square root, as torch) and applies the affine w, b (both (C)).
func (g *Graph) LayerNorm(x, w, b *G.Node, eps float64) *G.Node {
	if !g.OK(x, w, b) {
		return nil
	}
	xs := x.Shape().Clone()
	if len(xs) < 1 {
		return g.Failf("layernorm: input must have at least one axis")
	}
	c := xs[len(xs)-1]
	rows := xs.TotalSize() / c
	cs := tensor.Shape{c}
	if !w.Shape().Eq(cs) || !b.Shape().Eq(cs) {
		return g.Failf("layernorm: weight %s and bias %s must both be (%d) for input %s", shapeString(w.Shape()), shapeString(b.Shape()), c, shapeString(xs))
	}
	if !(eps > 0) {
		return g.Failf("layernorm: eps must be positive, got %g", eps)
	}
	op := &fused{key: fmt.Sprintf("layernorm(eps=%g)", eps), in: []tensor.Shape{xs, cs, cs}, out: xs,
		k32: layerNormFwd[float32](rows, c, eps), k64: layerNormFwd[float64](rows, c, eps),
		diff: []bool{true, true, true}, full: true}
	op.grad = func(in G.Nodes, _, gy *G.Node) []gradFn {
		gx := &fused{key: fmt.Sprintf("layernorm_grad_x(eps=%g)", eps), in: []tensor.Shape{xs, cs, xs}, out: xs,
			k32: layerNormGradX[float32](rows, c, eps), k64: layerNormGradX[float64](rows, c, eps), full: true}
		gw := &fused{key: fmt.Sprintf("layernorm_grad_w(eps=%g)", eps), in: []tensor.Shape{xs, xs}, out: cs,
			k32: layerNormGradW[float32](rows, c, eps), k64: layerNormGradW[float64](rows, c, eps)}
		return []gradFn{
			func() (*G.Node, error) { return applyGrad(gx, in[0], in[1], gy) },
			func() (*G.Node, error) { return applyGrad(gw, in[0], gy) },
			func() (*G.Node, error) { return applyGrad(colSumOp(xs, rows, c), gy) },
		}
	}
	return g.apply(op, x, w, b)
}

// Softmax is the numerically stable softmax along axis (negative counts
// from the end). Unlike Gorgonia's SoftMax it subtracts each line's own
// maximum, so rows far above the tensor's first element do not overflow.
func (g *Graph) Softmax(x *G.Node, axis int) *G.Node { return g.softmax(x, axis, false) }

// LogSoftmax is log(softmax(x)) along axis, computed as x − max − log Σ exp.
func (g *Graph) LogSoftmax(x *G.Node, axis int) *G.Node { return g.softmax(x, axis, true) }

func (g *Graph) softmax(x *G.Node, axis int, log bool) *G.Node {
	if !g.OK(x) {
		return nil
	}
	s := x.Shape().Clone()
	kind := "softmax"
	if log {
		kind = "logsoftmax"
	}
	if axis < 0 {
		axis += len(s)
	}
	if axis < 0 || axis >= len(s) {
		return g.Failf("%s: axis out of range for %s", kind, shapeString(s))
	}
	outer, n, inner := prod(s[:axis]), s[axis], prod(s[axis+1:])
	op := &fused{key: fmt.Sprintf("%s(axis=%d)", kind, axis), in: []tensor.Shape{s}, out: s,
		k32: softmaxFwd[float32](outer, n, inner, log), k64: softmaxFwd[float64](outer, n, inner, log),
		diff: []bool{true}, full: true}
	op.grad = func(_ G.Nodes, y, gy *G.Node) []gradFn {
		gop := &fused{key: fmt.Sprintf("%s_grad(axis=%d)", kind, axis), in: []tensor.Shape{s, s}, out: s,
			k32: softmaxGrad[float32](outer, n, inner, log), k64: softmaxGrad[float64](outer, n, inner, log), full: true}
		return []gradFn{func() (*G.Node, error) { return applyGrad(gop, y, gy) }}
	}
	return g.apply(op, x)
}

// AvgPool2d is torch's AvgPool2d on (N, C, H, W) with a square kernel,
// stride and symmetric zero padding, floor mode and count_include_pad=True.
func (g *Graph) AvgPool2d(x *G.Node, kernel, stride, pad int) *G.Node {
	if !g.OK(x) {
		return nil
	}
	s := x.Shape()
	if len(s) != 4 {
		return g.Failf("avgpool2d: want (N, C, H, W), got %s", shapeString(s))
	}
	if kernel < 1 || stride < 1 || pad < 0 || 2*pad > kernel || s[2]+2*pad < kernel || s[3]+2*pad < kernel {
		return g.Failf("avgpool2d: kernel %d, stride %d, pad %d invalid for input %s", kernel, stride, pad, shapeString(s))
	}
	p := avgPoolWindows(s[2], s[3], kernel, stride, pad)
	return g.pool(x, fmt.Sprintf("avgpool2d(k=%d,s=%d,p=%d)", kernel, stride, pad), p)
}

// AdaptiveAvgPool2d is torch's AdaptiveAvgPool2d to an (oh, ow) output.
func (g *Graph) AdaptiveAvgPool2d(x *G.Node, oh, ow int) *G.Node {
	if !g.OK(x) {
		return nil
	}
	s := x.Shape()
	if len(s) != 4 || oh < 1 || ow < 1 {
		return g.Failf("adaptiveavgpool2d: want (N, C, H, W) input and a positive output size, got %s and (%d, %d)", shapeString(s), oh, ow)
	}
	return g.pool(x, fmt.Sprintf("adaptiveavgpool2d(%d,%d)", oh, ow), adaptivePoolWindows(s[2], s[3], oh, ow))
}

// GlobalAvgPool2d averages each (H, W) plane: (N, C, H, W) → (N, C).
func (g *Graph) GlobalAvgPool2d(x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	s := x.Shape()
	if len(s) != 4 {
		return g.Failf("globalavgpool2d: want (N, C, H, W), got %s", shapeString(s))
	}
	y := g.AdaptiveAvgPool2d(x, 1, 1) // (N, C, 1, 1)
	return g.Reshape(y, s[0], s[1])   // (N, C)
}

func (g *Graph) pool(x *G.Node, key string, p poolWindows) *G.Node {
	s := x.Shape().Clone()
	planes := s[0] * s[1]
	os := tensor.Shape{s[0], s[1], p.oh, p.ow}
	op := &fused{key: key, in: []tensor.Shape{s}, out: os,
		k32: poolFwd[float32](planes, p), k64: poolFwd[float64](planes, p), diff: []bool{true}}
	op.grad = func(_ G.Nodes, _, gy *G.Node) []gradFn {
		gop := &fused{key: key + "_grad", in: []tensor.Shape{os}, out: s,
			k32: poolGrad[float32](planes, p), k64: poolGrad[float64](planes, p)}
		return []gradFn{func() (*G.Node, error) { return applyGrad(gop, gy) }}
	}
	return g.apply(op, x)
}

// ChannelAffine is x·scale[c] + shift[c] for x (N, C, ...) and scale, shift
// of shape (C); either may be nil (then 1 or 0). Folded BatchNorm and conv
// bias use it.
func (g *Graph) ChannelAffine(x, scale, shift *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	s := x.Shape().Clone()
	if len(s) < 2 {
		return g.Failf("channel affine: want (N, C, ...), got %s", shapeString(s))
	}
	n, c := s[0], s[1]
	rest := s.TotalSize() / max(n*c, 1)
	cs := tensor.Shape{c}
	in := []tensor.Shape{s}
	inputs := []*G.Node{x}
	for _, p := range []*G.Node{scale, shift} {
		if p == nil {
			continue
		}
		if !p.Shape().Eq(cs) {
			return g.Failf("channel affine: scale/shift %s do not match %d channels of %s", shapeString(p.Shape()), c, shapeString(s))
		}
		in = append(in, cs)
		inputs = append(inputs, p)
	}
	if len(inputs) == 1 {
		return x
	}
	hasScale, hasShift := scale != nil, shift != nil
	op := &fused{key: fmt.Sprintf("channelaffine(scale=%t,shift=%t)", hasScale, hasShift), in: in, out: s,
		k32: channelAffineFwd[float32](n, c, rest, hasScale, hasShift), k64: channelAffineFwd[float64](n, c, rest, hasScale, hasShift),
		diff: []bool{true, true, true}, full: true}
	op.grad = func(in G.Nodes, _, gy *G.Node) []gradFn {
		dx := func() (*G.Node, error) { return gy, nil }
		if hasScale {
			gx := &fused{key: "channelscale_grad", in: []tensor.Shape{s, cs}, out: s,
				k32: channelScaleGrad[float32](n, c, rest), k64: channelScaleGrad[float64](n, c, rest)}
			dx = func() (*G.Node, error) { return applyGrad(gx, gy, in[1]) }
		}
		fns := []gradFn{dx}
		if hasScale {
			gs := &fused{key: "channelsum(x)", in: []tensor.Shape{s, s}, out: cs,
				k32: channelSum[float32](n, c, rest, true), k64: channelSum[float64](n, c, rest, true)}
			fns = append(fns, func() (*G.Node, error) { return applyGrad(gs, gy, in[0]) })
		}
		if hasShift {
			gb := &fused{key: "channelsum", in: []tensor.Shape{s}, out: cs,
				k32: channelSum[float32](n, c, rest, false), k64: channelSum[float64](n, c, rest, false)}
			fns = append(fns, func() (*G.Node, error) { return applyGrad(gb, gy) })
		}
		return fns
	}
	return g.apply(op, inputs...)
}

// Conv2d is a 2-D convolution (NCHW, filter (Cout, Cin, kH, kW), symmetric
// padding, stride) plus a per-channel bias b (Cout) when b is not nil.
func (g *Graph) Conv2d(x, w, b *G.Node, stride, pad int) *G.Node {
	y := g.Conv2dNoBias(x, w, stride, pad) // (N, Cout, OH, OW)
	if b == nil {
		return y
	}
	return g.ChannelAffine(y, nil, b) // (N, Cout, OH, OW)
}

// IndexInput is an Int vector placeholder of length n holding Gather indices.
func (g *Graph) IndexInput(name string, n int) *G.Node {
	if g.err != nil {
		return nil
	}
	if n < 1 {
		return g.Failf("index input %s: length %d", name, n)
	}
	return G.NewVector(g.g, tensor.Int, G.WithShape(n), G.WithName(g.UniqueName(name)))
}

// Gather returns the rows of table (V, C) at the Int indices idx (n): (n, C).
// The gradient adds into the selected rows (repeated indices accumulate).
// Indices outside the table make Program.Run return an error.
func (g *Graph) Gather(table, idx *G.Node) *G.Node {
	if !g.OK(table, idx) {
		return nil
	}
	if table.Dims() != 2 || idx.Dims() != 1 || idx.Dtype() != tensor.Int {
		return g.Failf("gather: want table (V, C) and Int indices (n), got %s %v and %s %v", shapeString(table.Shape()), table.Dtype(), shapeString(idx.Shape()), idx.Dtype())
	}
	ts := table.Shape()
	return g.Do("gather", func() (*G.Node, error) {
		return G.ApplyOp(&gatherOp{v: ts[0], c: ts[1], n: idx.Shape()[0], noGrad: !g.needsGrad(table)}, table, idx)
	})
}

// CausalMask is the (t, t) additive attention mask of a causal text
// transformer: 0 on and below the diagonal, -Inf above, as torch's
// fill_(-inf).triu_(1). Every row keeps its diagonal, so softmax stays finite
// and the backward pass never sees an infinity times a non-zero.
func (g *Graph) CausalMask(t int) *G.Node {
	if g.err != nil {
		return nil
	}
	if t < 1 {
		return g.Failf("causal mask: size %d", t)
	}
	m := make([]float64, t*t)
	for i := 0; i < t; i++ {
		for j := i + 1; j < t; j++ {
			m[i*t+j] = math.Inf(-1)
		}
	}
	return g.Const(fmt.Sprintf("causal_mask_%d", t), m, t, t)
}

// Residual is x + f(x).
func (g *Graph) Residual(x *G.Node, f func(*G.Node) *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	return g.Add(x, f(x))
}
