package nn_test

import (
	"fmt"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The fused convolution equals Gorgonia's im2col Conv2d (forward), and its
// gradients match finite differences, on the direct 1×1 path and on
// strided, padded and non-square cases.
func TestConv2dFused(t *testing.T) {
	r := nntest.RandInput
	for _, c := range []struct {
		x, w        []int
		stride, pad int
	}{
		{[]int{2, 3, 5, 4}, []int{4, 3, 1, 1}, 1, 0}, // direct GEMM
		{[]int{2, 3, 7, 6}, []int{4, 3, 3, 3}, 2, 1},
		{[]int{1, 2, 6, 6}, []int{3, 2, 3, 2}, 1, 1},
		{[]int{2, 3, 8, 8}, []int{5, 3, 4, 4}, 4, 0},   // ViT patchify
		{[]int{1, 2, 5, 5}, []int{2, 2, 1, 1}, 2, 0},   // strided 1×1
		{[]int{2, 2, 17, 16}, []int{3, 2, 1, 1}, 1, 0}, // over 256 output cells: one GEMM per image
		{[]int{2, 2, 18, 16}, []int{3, 2, 3, 3}, 1, 1},
		// Stride 1, output as wide as the input: shifted-plane patch rows.
		{[]int{2, 2, 3, 1}, []int{2, 2, 3, 3}, 1, 1},
		{[]int{1, 2, 6, 5}, []int{2, 2, 1, 3}, 1, 1}, // all-padding output rows
		{[]int{1, 2, 4, 6}, []int{3, 2, 5, 5}, 1, 2},
	} {
		t.Run(fmt.Sprintf("x%v_w%v_s%d_p%d", c.x, c.w, c.stride, c.pad), func(t *testing.T) {
			xi, wi := r(c.x...), r(c.w...)
			run := func(gorgonia bool) []float32 {
				g := nn.NewGraph(tensor.Float32)
				x, w := g.Const("x", xi.Data, c.x...), g.Const("w", wi.Data, c.w...)
				var y *G.Node
				if gorgonia {
					y = g.Do("conv", func() (*G.Node, error) {
						return G.Conv2d(x, w, tensor.Shape{c.w[2], c.w[3]}, []int{c.pad, c.pad}, []int{c.stride, c.stride}, []int{1, 1})
					})
				} else {
					y = g.Conv2dNoBias(x, w, c.stride, c.pad)
				}
				return compileRun(t, g, nil, []*G.Node{y})[0].Data().([]float32)
			}
			nntest.AssertClose(t, run(false), run(true), 1e-5)
			nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
				return g.Conv2dNoBias(in[0], in[1], c.stride, c.pad)
			}, xi, wi)
		})
	}
}

// The column ranges im2col copies: every output column in [lo, hi) reads
// inside the image and every other column reads padding, for strides,
// paddings and filters wider than the image.
func TestConvValidColumns(t *testing.T) {
	r := nntest.RandInput
	for _, c := range []struct {
		x, w        []int
		stride, pad int
	}{
		{[]int{1, 1, 3, 1}, []int{1, 1, 3, 3}, 2, 1}, // filter wider than the image
		{[]int{1, 1, 4, 2}, []int{2, 1, 3, 5}, 3, 2},
		{[]int{1, 2, 5, 7}, []int{2, 2, 3, 3}, 2, 1},
		{[]int{1, 1, 6, 6}, []int{1, 1, 7, 7}, 1, 3},
	} {
		t.Run(fmt.Sprintf("x%v_w%v_s%d_p%d", c.x, c.w, c.stride, c.pad), func(t *testing.T) {
			xi, wi := r(c.x...), r(c.w...)
			run := func(gorgonia bool) []float32 {
				g := nn.NewGraph(tensor.Float32)
				x, w := g.Const("x", xi.Data, c.x...), g.Const("w", wi.Data, c.w...)
				var y *G.Node
				if gorgonia {
					y = g.Do("conv", func() (*G.Node, error) {
						return G.Conv2d(x, w, tensor.Shape{c.w[2], c.w[3]}, []int{c.pad, c.pad}, []int{c.stride, c.stride}, []int{1, 1})
					})
				} else {
					y = g.Conv2dNoBias(x, w, c.stride, c.pad)
				}
				return compileRun(t, g, nil, []*G.Node{y})[0].Data().([]float32)
			}
			nntest.AssertClose(t, run(false), run(true), 1e-5)
			nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
				return g.Conv2dNoBias(in[0], in[1], c.stride, c.pad)
			}, xi, wi)
		})
	}
}
