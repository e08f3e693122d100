package nn_test

import (
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
)

// SelfAttention (one packed in_proj GEMM, attention read in place from
// qkv) equals torch's nn.MultiheadAttention with a causal mask.
func TestParitySelfAttention(t *testing.T) {
	m := mhaLayer(t)
	outs := eval32(t, func(g *nn.Graph) []*G.Node {
		x := constOf(g, fixture(t, "mha_x"), "x")
		out, probs := m.SelfAttention(g, x, g.CausalMask(5))
		return []*G.Node{out, probs}
	})
	nntest.AssertClose(t, outs[0], fixture(t, "mha_out").F32(), parityTol)
	nntest.AssertClose(t, outs[1], fixture(t, "mha_probs").F32(), parityTol)
}

// Gradients of the packed attention ops (to x, every weight, and a learned
// mask) against finite differences.
func TestGradSelfAttention(t *testing.T) {
	r := nntest.RandInput
	mha := &nn.MultiheadAttention{InProjWeight: randParam("in_proj_weight", 12, 4), InProjBias: randParam("in_proj_bias", 12),
		OutProj: randLinear("out_proj", 4, 4), Heads: 2}
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		out, _ := mha.SelfAttention(g, in[0], in[1])
		return out
	}, r(2, 3, 4), r(3, 3))
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.PackedAttentionApply(g.PackedAttentionProbs(in[0], 3, g.CausalMask(4)), in[0])
	}, r(2, 4, 18))
}

func TestPackedAttentionErrors(t *testing.T) {
	for name, f := range map[string]func(g *nn.Graph) *G.Node{
		"not 3C": func(g *nn.Graph) *G.Node { return g.PackedAttentionProbs(g.Input("qkv", 1, 2, 7), 1, nil) },
		"heads":  func(g *nn.Graph) *G.Node { return g.PackedAttentionProbs(g.Input("qkv", 1, 2, 9), 2, nil) },
		"mask":   func(g *nn.Graph) *G.Node { return g.PackedAttentionProbs(g.Input("qkv", 1, 2, 6), 1, g.CausalMask(3)) },
		"probs": func(g *nn.Graph) *G.Node {
			return g.PackedAttentionApply(g.Input("p", 1, 2, 3, 3), g.Input("qkv", 1, 2, 12))
		},
		"rank": func(g *nn.Graph) *G.Node {
			return g.PackedAttentionApply(g.Input("p", 2, 3, 3), g.Input("qkv", 1, 3, 12))
		},
		"weight": func(g *nn.Graph) *G.Node {
			o, _ := (&nn.MultiheadAttention{InProjWeight: nn.ZeroParam("w", 6, 3), Heads: 1}).SelfAttention(g, g.Input("x", 1, 2, 3), nil)
			return o
		},
		"nil attn": func(g *nn.Graph) *G.Node {
			o, _ := (*nn.MultiheadAttention)(nil).SelfAttention(g, g.Input("x", 1, 2, 3), nil)
			return o
		},
	} {
		g := nn.NewGraph(G.Float32)
		if f(g) != nil || g.Err() == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, g.Err())
		}
	}
}
