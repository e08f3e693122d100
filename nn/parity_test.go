package nn_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Forward parity against PyTorch fixtures written by testdata/gen.py.
// Tolerance: 1e-5 relative to the output's scale, in float32.

const parityTol = 1e-5

func fixture(t *testing.T, name string) *nntest.Array {
	return nntest.LoadNpy(t, filepath.Join("testdata", "ops", name+".npy"))
}

// constOf makes a float32 graph constant from a fixture.
func constOf(g *nn.Graph, a *nntest.Array, name string) *G.Node {
	return g.Const(name, a.Data, a.Shape...)
}

func paramOf(t *testing.T, name string) *nn.Param {
	a := fixture(t, name)
	return nn.NewParam(name, a.F32(), a.Shape...)
}

// eval32 builds a float32 graph and returns the values of its outputs.
func eval32(t *testing.T, build func(g *nn.Graph) []*G.Node) [][]float32 {
	t.Helper()
	g := nn.NewGraph(tensor.Float32)
	outs := build(g)
	p, err := nn.Compile(g, nil, outs)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	vals, err := p.Run()
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float32, len(vals))
	for i, v := range vals {
		res[i] = v.Data().([]float32)
	}
	return res
}

func eval1(t *testing.T, build func(g *nn.Graph) *G.Node) []float32 {
	t.Helper()
	return eval32(t, func(g *nn.Graph) []*G.Node { return []*G.Node{build(g)} })[0]
}

func TestParityLayerNorm(t *testing.T) {
	got := eval1(t, func(g *nn.Graph) *G.Node {
		return g.LayerNorm(constOf(g, fixture(t, "ln_x"), "x"), constOf(g, fixture(t, "ln_w"), "w"), constOf(g, fixture(t, "ln_b"), "b"), 1e-5)
	})
	nntest.AssertClose(t, got, fixture(t, "ln_y").F32(), parityTol)
	ln := nn.LayerNorm{Weight: paramOf(t, "ln_w"), Bias: paramOf(t, "ln_b")}
	got = eval1(t, func(g *nn.Graph) *G.Node { return ln.Forward(g, constOf(g, fixture(t, "ln_x"), "x")) })
	nntest.AssertClose(t, got, fixture(t, "ln_y").F32(), parityTol)
}

func TestParitySoftmax(t *testing.T) {
	cases := []struct {
		in, want string
		axis     int
		log      bool
	}{
		{"sm_x", "sm_y_axis1", 1, false},
		{"sm_x", "sm_y_last", -1, false},
		{"sm_x", "lsm_y_axis1", 1, true},
		{"smbig_x", "smbig_y", 1, false},
		{"smbig_x", "lsmbig_y", -1, true},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			got := eval1(t, func(g *nn.Graph) *G.Node {
				x := constOf(g, fixture(t, c.in), "x")
				if c.log {
					return g.LogSoftmax(x, c.axis)
				}
				return g.Softmax(x, c.axis)
			})
			for _, v := range got {
				if math.IsNaN(float64(v)) {
					t.Fatal("NaN in output")
				}
			}
			nntest.AssertClose(t, got, fixture(t, c.want).F32(), parityTol)
		})
	}
}

// Softmax and LogSoftmax of the same node must stay two different nodes
// (Gorgonia merges its own SoftMax and LogSoftMax).
func TestSoftmaxLogSoftmaxDoNotMerge(t *testing.T) {
	outs := eval32(t, func(g *nn.Graph) []*G.Node {
		x := constOf(g, fixture(t, "sm_x"), "x")
		return []*G.Node{g.Softmax(x, 1), g.LogSoftmax(x, 1), g.Softmax(x, 2)}
	})
	nntest.AssertClose(t, outs[0], fixture(t, "sm_y_axis1").F32(), parityTol)
	nntest.AssertClose(t, outs[1], fixture(t, "lsm_y_axis1").F32(), parityTol)
	nntest.AssertClose(t, outs[2], fixture(t, "sm_y_last").F32(), parityTol)
}

func TestParityActivations(t *testing.T) {
	for _, c := range []struct {
		a    nn.Activation
		want string
	}{{nn.GELUAct, "gelu_y"}, {nn.QuickGELUAct, "quickgelu_y"}} {
		got := eval1(t, func(g *nn.Graph) *G.Node { return g.Activate(constOf(g, fixture(t, "act_x"), "x"), c.a) })
		nntest.AssertClose(t, got, fixture(t, c.want).F32(), parityTol)
	}
}

func TestParityPooling(t *testing.T) {
	cases := []struct {
		in, want string
		f        func(g *nn.Graph, x *G.Node) *G.Node
	}{
		{"pool_x", "avgpool_k3s2p1", func(g *nn.Graph, x *G.Node) *G.Node { return g.AvgPool2d(x, 3, 2, 1) }},
		{"pool_x", "avgpool_k2s2p0", func(g *nn.Graph, x *G.Node) *G.Node { return g.AvgPool2d(x, 2, 2, 0) }},
		{"pool_x", "maxpool_k3s2p1", func(g *nn.Graph, x *G.Node) *G.Node { return g.MaxPool2d(x, 3, 2, 1) }},
		{"apool_x", "apool_7x7", func(g *nn.Graph, x *G.Node) *G.Node { return g.AdaptiveAvgPool2d(x, 7, 7) }},
		{"apool_x", "apool_3x4", func(g *nn.Graph, x *G.Node) *G.Node { return g.AdaptiveAvgPool2d(x, 3, 4) }},
		{"apool_x", "gpool_y", func(g *nn.Graph, x *G.Node) *G.Node { return g.GlobalAvgPool2d(x) }},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			want := fixture(t, c.want)
			var shape tensor.Shape
			got := eval1(t, func(g *nn.Graph) *G.Node {
				y := c.f(g, constOf(g, fixture(t, c.in), "x"))
				if y != nil {
					shape = y.Shape()
				}
				return y
			})
			if !shape.Eq(tensor.Shape(want.Shape)) {
				t.Fatalf("shape %v, want %v", shape, want.Shape)
			}
			nntest.AssertClose(t, got, want.F32(), parityTol)
		})
	}
}

func TestParityConvLinear(t *testing.T) {
	conv := nn.Conv2d{Weight: paramOf(t, "conv_w"), Bias: paramOf(t, "conv_b"), Stride: 2, Padding: 1}
	got := eval1(t, func(g *nn.Graph) *G.Node { return conv.Forward(g, constOf(g, fixture(t, "conv_x"), "x")) })
	nntest.AssertClose(t, got, fixture(t, "conv_y").F32(), parityTol)
	lin := nn.Linear{Weight: paramOf(t, "lin_w"), Bias: paramOf(t, "lin_b")}
	got = eval1(t, func(g *nn.Graph) *G.Node { return lin.Forward(g, constOf(g, fixture(t, "lin_x"), "x")) })
	nntest.AssertClose(t, got, fixture(t, "lin_y").F32(), parityTol)
}

func TestParityBatchNorm(t *testing.T) {
	bn := nn.BatchNorm2d{Weight: paramOf(t, "bn_w"), Bias: paramOf(t, "bn_b"), RunningMean: paramOf(t, "bn_rm"), RunningVar: paramOf(t, "bn_rv")}
	got := eval1(t, func(g *nn.Graph) *G.Node { return bn.Forward(g, constOf(g, fixture(t, "bn_x"), "x")) })
	nntest.AssertClose(t, got, fixture(t, "bn_y").F32(), parityTol)
}

func TestParityEmbedding(t *testing.T) {
	emb := nn.Embedding{Weight: paramOf(t, "emb_table")}
	idx := fixture(t, "emb_idx").Ints()
	g := nn.NewGraph(tensor.Float32)
	in := g.IndexInput("tokens", len(idx))
	y := emb.Forward(g, in)
	p, err := nn.Compile(g, []*G.Node{in}, []*G.Node{y})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Run(tensor.New(tensor.WithShape(len(idx)), tensor.WithBacking(idx)))
	if err != nil {
		t.Fatal(err)
	}
	nntest.AssertClose(t, out[0].Data().([]float32), fixture(t, "emb_y").F32(), parityTol)
}

func mhaLayer(t *testing.T) *nn.MultiheadAttention {
	return &nn.MultiheadAttention{
		InProjWeight: paramOf(t, "mha_in_proj_weight"), InProjBias: paramOf(t, "mha_in_proj_bias"),
		OutProj: nn.Linear{Weight: paramOf(t, "mha_out_proj_weight"), Bias: paramOf(t, "mha_out_proj_bias")},
		Heads:   2,
	}
}

func TestParityMultiheadAttention(t *testing.T) {
	m := mhaLayer(t)
	outs := eval32(t, func(g *nn.Graph) []*G.Node {
		x := constOf(g, fixture(t, "mha_x"), "x")
		out, probs := m.Forward(g, x, x, g.CausalMask(5))
		return []*G.Node{out, probs}
	})
	nntest.AssertClose(t, outs[0], fixture(t, "mha_out").F32(), parityTol)
	nntest.AssertClose(t, outs[1], fixture(t, "mha_probs").F32(), parityTol)
	// Query subset (attention pooling): only the first token queries.
	outs = eval32(t, func(g *nn.Graph) []*G.Node {
		x := constOf(g, fixture(t, "mha_x"), "x")
		out, probs := m.Forward(g, g.Slice(x, 1, 0, 1), x, nil)
		return []*G.Node{out, probs}
	})
	nntest.AssertClose(t, outs[0], fixture(t, "mha_pool_out").F32(), parityTol)
	nntest.AssertClose(t, outs[1], fixture(t, "mha_pool_probs").F32(), parityTol)
}

// SeparateAttention with the packed weights split by rows equals
// torch's nn.MultiheadAttention.
func TestParitySeparateAttention(t *testing.T) {
	m := mhaLayer(t)
	w, b := m.InProjWeight.Data(), m.InProjBias.Data()
	part := func(i int) nn.Linear {
		return nn.Linear{Weight: nn.NewParam("w", w[i*64:(i+1)*64], 8, 8), Bias: nn.NewParam("b", b[i*8:(i+1)*8], 8)}
	}
	s := &nn.SeparateAttention{Q: part(0), K: part(1), V: part(2), Out: m.OutProj, Heads: 2}
	outs := eval32(t, func(g *nn.Graph) []*G.Node {
		x := constOf(g, fixture(t, "mha_x"), "x")
		out, probs := s.Forward(g, x, x, g.CausalMask(5))
		return []*G.Node{out, probs}
	})
	nntest.AssertClose(t, outs[0], fixture(t, "mha_out").F32(), parityTol)
	nntest.AssertClose(t, outs[1], fixture(t, "mha_probs").F32(), parityTol)
}

func TestParityAttentionProbs(t *testing.T) {
	got := eval1(t, func(g *nn.Graph) *G.Node {
		return g.AttentionProbs(constOf(g, fixture(t, "ap_q"), "q"), constOf(g, fixture(t, "ap_k"), "k"), 2, constOf(g, fixture(t, "ap_mask"), "m"))
	})
	nntest.AssertClose(t, got, fixture(t, "ap_probs").F32(), parityTol)
}
