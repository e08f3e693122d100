package nn_test

import (
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Benchmarks at ViT-B/32 sizes (batch 8: 8·50 tokens, width 768, 12 heads),
// float32. "Fwd" runs the op; "FwdBwd" also its backward (gradient of
// Σ out with respect to every input).

func benchGraph(b *testing.B, backward bool, build func(g *nn.Graph, in []*G.Node) *G.Node, shapes ...[]int) {
	g := nn.NewGraph(tensor.Float32)
	var in []*G.Node
	for i, s := range shapes {
		r := nntest.RandInput(s...)
		in = append(in, g.Const("in", r.Data, s...))
		_ = i
	}
	out := build(g, in)
	if backward {
		loss := g.Sum(out)
		if _, err := G.Grad(loss, in...); err != nil {
			b.Fatal(err)
		}
	}
	if err := g.Err(); err != nil {
		b.Fatal(err)
	}
	p, err := nn.Compile(g, nil, []*G.Node{out})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	run := func() {
		if err := p.RunFunc(func([]G.Value) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	run()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
}

func linear(g *nn.Graph, in []*G.Node) *G.Node { return g.Linear(in[0], in[1], in[2]) }

func gorgoniaLinear(g *nn.Graph, in []*G.Node) *G.Node {
	wt := g.Transpose(in[1], 1, 0)                      // (768, 3072)
	y := g.MatMul(in[0], wt)                            // (400, 3072)
	return g.BroadcastAdd(y, g.Reshape(in[2], 1, 3072)) // (400, 3072)
}

func layerNorm(g *nn.Graph, in []*G.Node) *G.Node { return g.LayerNorm(in[0], in[1], in[2], 1e-5) }
func softmax(g *nn.Graph, in []*G.Node) *G.Node   { return g.Softmax(in[0], -1) }
func quickGELU(g *nn.Graph, in []*G.Node) *G.Node { return g.QuickGELU(in[0]) }
func gelu(g *nn.Graph, in []*G.Node) *G.Node      { return g.GELU(in[0]) }
func attention(g *nn.Graph, in []*G.Node) *G.Node {
	p := g.AttentionProbs(in[0], in[1], 12, nil) // (8, 12, 50, 50)
	return g.AttentionApply(p, in[2])            // (8, 50, 768)
}

var (
	tok     = []int{400, 768}
	vec768  = []int{768}
	hidden  = []int{400, 3072}
	qkv     = []int{8, 50, 768}
	scores  = []int{96, 50, 50}
	linearW = [][]int{tok, {3072, 768}, {3072}}
)

func BenchmarkLinearFwd(b *testing.B)         { benchGraph(b, false, linear, linearW...) }
func BenchmarkLinearFwdBwd(b *testing.B)      { benchGraph(b, true, linear, linearW...) }
func BenchmarkGorgoniaLinearFwd(b *testing.B) { benchGraph(b, false, gorgoniaLinear, linearW...) }
func BenchmarkLayerNormFwd(b *testing.B)      { benchGraph(b, false, layerNorm, tok, vec768, vec768) }
func BenchmarkLayerNormFwdBwd(b *testing.B)   { benchGraph(b, true, layerNorm, tok, vec768, vec768) }
func BenchmarkSoftmaxFwd(b *testing.B)        { benchGraph(b, false, softmax, scores) }
func BenchmarkSoftmaxFwdBwd(b *testing.B)     { benchGraph(b, true, softmax, scores) }
func BenchmarkQuickGELUFwd(b *testing.B)      { benchGraph(b, false, quickGELU, hidden) }
func BenchmarkQuickGELUFwdBwd(b *testing.B)   { benchGraph(b, true, quickGELU, hidden) }
func BenchmarkGELUFwd(b *testing.B)           { benchGraph(b, false, gelu, hidden) }
func BenchmarkAttentionFwd(b *testing.B)      { benchGraph(b, false, attention, qkv, qkv, qkv) }
func BenchmarkAttentionFwdBwd(b *testing.B)   { benchGraph(b, true, attention, qkv, qkv, qkv) }
func BenchmarkAvgPoolFwdBwd(b *testing.B) {
	benchGraph(b, true, func(g *nn.Graph, in []*G.Node) *G.Node { return g.AvgPool2d(in[0], 2, 2, 0) }, []int{8, 256, 56, 56})
}
