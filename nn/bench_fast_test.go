package nn_test

import (
	"testing"

	"github.com/goclip/goclip/nn"
	G "gorgonia.org/gorgonia"
)

// Benchmarks of the fused ops added for speed, at CLIP sizes (see
// bench_test.go for benchGraph).

func packedAttention(g *nn.Graph, in []*G.Node) *G.Node {
	p := g.PackedAttentionProbs(in[0], 12, nil) // (8, 12, 50, 50)
	return g.PackedAttentionApply(p, in[0])     // (8, 50, 768)
}

func conv(stride, pad int) func(g *nn.Graph, in []*G.Node) *G.Node {
	return func(g *nn.Graph, in []*G.Node) *G.Node { return g.Conv2dNoBias(in[0], in[1], stride, pad) }
}

func gorgoniaConv(g *nn.Graph, in []*G.Node) *G.Node {
	return g.Do("conv", func() (*G.Node, error) {
		return G.Conv2d(in[0], in[1], []int{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
	})
}

var (
	packedQKV = []int{8, 50, 2304}
	rnX       = []int{8, 64, 56, 56} // RN50 layer1
	rnW3      = []int{64, 64, 3, 3}
	rnW1      = []int{256, 64, 1, 1}
	vitX      = []int{8, 3, 224, 224}
	vitW      = []int{768, 3, 32, 32}
)

func BenchmarkPackedAttentionFwd(b *testing.B)    { benchGraph(b, false, packedAttention, packedQKV) }
func BenchmarkPackedAttentionFwdBwd(b *testing.B) { benchGraph(b, true, packedAttention, packedQKV) }
func BenchmarkConv3x3Fwd(b *testing.B)            { benchGraph(b, false, conv(1, 1), rnX, rnW3) }
func BenchmarkGorgoniaConv3x3Fwd(b *testing.B)    { benchGraph(b, false, gorgoniaConv, rnX, rnW3) }
func BenchmarkConv3x3FwdBwd(b *testing.B)         { benchGraph(b, true, conv(1, 1), rnX, rnW3) }
func BenchmarkConv1x1Fwd(b *testing.B)            { benchGraph(b, false, conv(1, 0), rnX, rnW1) }
func BenchmarkConvPatchifyFwd(b *testing.B)       { benchGraph(b, false, conv(32, 0), vitX, vitW) }
