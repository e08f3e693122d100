package nn_test

import (
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
)

// Float64 finite-difference gradient checks of every fused op and layer.

func TestGradLinear(t *testing.T) {
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.Linear(in[0], in[1], in[2])
	}, nntest.RandInput(2, 3, 4), nntest.RandInput(5, 4), nntest.RandInput(5))
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.Linear(in[0], in[1], nil)
	}, nntest.RandInput(3, 4), nntest.RandInput(2, 4))
}

func TestGradLayerNorm(t *testing.T) {
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.LayerNorm(in[0], in[1], in[2], 1e-5)
	}, nntest.RandInput(2, 3, 6), nntest.RandInput(6), nntest.RandInput(6))
}

func TestGradSoftmax(t *testing.T) {
	for _, axis := range []int{0, 1, -1} {
		for _, log := range []bool{false, true} {
			nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
				if log {
					return g.LogSoftmax(in[0], axis)
				}
				return g.Softmax(in[0], axis)
			}, nntest.RandInput(3, 4, 5))
		}
	}
}

func TestGradActivations(t *testing.T) {
	for _, a := range []nn.Activation{nn.QuickGELUAct, nn.GELUAct} {
		nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
			return g.Activate(g.Scale(in[0], 3), a)
		}, nntest.RandInput(4, 7))
	}
}

func TestGradPooling(t *testing.T) {
	x := nntest.RandInput(2, 2, 7, 6)
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node { return g.AvgPool2d(in[0], 3, 2, 1) }, x)
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node { return g.AvgPool2d(in[0], 2, 2, 0) }, x)
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node { return g.AdaptiveAvgPool2d(in[0], 3, 4) }, x)
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node { return g.GlobalAvgPool2d(in[0]) }, x)
}

func TestGradChannelAffineConv(t *testing.T) {
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.ChannelAffine(in[0], in[1], in[2])
	}, nntest.RandInput(2, 3, 2, 2), nntest.RandInput(3), nntest.RandInput(3))
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.Conv2d(in[0], in[1], in[2], 2, 1)
	}, nntest.RandInput(1, 2, 5, 5), nntest.RandInput(3, 2, 3, 3), nntest.RandInput(3))
}

func TestGradGather(t *testing.T) {
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.Gather(in[0], in[1])
	}, nntest.RandInput(5, 3), nntest.IntInput(4, 0, 4, 2))
}

func TestGradAttention(t *testing.T) {
	q, k, v := nntest.RandInput(2, 3, 4), nntest.RandInput(2, 5, 4), nntest.RandInput(2, 5, 4)
	mask := nntest.RandInput(3, 5)
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		p := g.AttentionProbs(in[0], in[1], 2, in[3])
		return g.AttentionApply(p, in[2])
	}, q, k, v, mask)
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.AttentionProbs(in[0], in[1], 1, nil)
	}, q, k)
	// Causal self-attention: -Inf entries of the mask must not break backward.
	x := nntest.RandInput(1, 4, 4)
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		p := g.AttentionProbs(in[0], in[0], 2, g.CausalMask(4))
		return g.AttentionApply(p, in[0])
	}, x)
}
