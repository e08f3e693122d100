package nn

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A fused ReLU. Gorgonia's Rectify is x ⊙ (x ≥ 0): forward builds a mask
// tensor by copying x and multiplies; backward builds the mask again and
// multiplies gy by it, each a fresh allocation and a copy. Here forward is
// one pass max(x, 0) and backward one pass gy·[y > 0] reading the output
// (torch's rule: the gradient at 0 is 0).

// relu builds the fused ReLU of x (any shape).
func (g *Graph) relu(x *G.Node) *G.Node {
	s := x.Shape().Clone()
	n := s.TotalSize()
	op := &fused{key: "relu", in: []tensor.Shape{s}, out: s,
		k32: reluFwd[float32](n), k64: reluFwd[float64](n), diff: []bool{true}, full: true}
	op.grad = func(_ G.Nodes, y, gy *G.Node) []gradFn {
		return []gradFn{func() (*G.Node, error) { return applyGrad(reluGradOp(s), y, gy) }}
	}
	return g.apply(op, x)
}

// reluGradOp is gy·[y > 0] on inputs (y, gy) of shape s.
func reluGradOp(s tensor.Shape) *fused {
	n := s.TotalSize()
	return &fused{key: "relu_grad", in: []tensor.Shape{s, s}, out: s,
		k32: reluGrad[float32](n), k64: reluGrad[float64](n), full: true}
}

func reluFwd[T float](n int) kernel[T] {
	return func(in [][]T, y []T) {
		x := in[0]
		parallelFor(n, 1, func(lo, hi int) {
			for i, v := range x[lo:hi] {
				y[lo+i] = max(v, 0)
			}
		})
	}
}

// reluGrad: inputs (y, gy).
func reluGrad[T float](n int) kernel[T] {
	return func(in [][]T, dx []T) {
		y, gy := in[0], in[1]
		parallelFor(n, 1, func(lo, hi int) {
			for i, v := range y[lo:hi] {
				if v > 0 {
					dx[lo+i] = gy[lo+i]
				} else {
					dx[lo+i] = 0
				}
			}
		})
	}
}
