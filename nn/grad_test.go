package nn_test

import (
	"fmt"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
)

// Float64 finite-difference gradient checks and float32-vs-float64 checks
// (forward and backward) of every fused op and layer.

type gradCase struct {
	name   string
	build  func(g *nn.Graph, in []*G.Node) *G.Node
	inputs []nntest.Input
}

func randParam(name string, shape ...int) *nn.Param {
	in := nntest.RandInput(shape...)
	d := make([]float32, len(in.Data))
	for i, v := range in.Data {
		d[i] = float32(v)
	}
	return nn.NewParam(name, d, shape...)
}

func randLinear(name string, out, in int) nn.Linear {
	return nn.Linear{Weight: randParam(name+".weight", out, in), Bias: randParam(name+".bias", out)}
}

func gradCases() []gradCase {
	r := nntest.RandInput
	mha := &nn.MultiheadAttention{InProjWeight: randParam("in_proj_weight", 12, 4), InProjBias: randParam("in_proj_bias", 12),
		OutProj: randLinear("out_proj", 4, 4), Heads: 2}
	sep := &nn.SeparateAttention{Q: randLinear("q", 4, 4), K: randLinear("k", 4, 4), V: randLinear("v", 4, 4), Out: randLinear("c", 4, 4), Heads: 2}
	mlp := &nn.MLP{FC1: randLinear("fc1", 6, 4), FC2: randLinear("fc2", 4, 6), Act: nn.QuickGELUAct}
	mlpGELU := &nn.MLP{FC1: randLinear("fc1", 6, 4), FC2: randLinear("fc2", 4, 6), Act: nn.GELUAct}
	bnVar := randParam("running_var", 3)
	for i, v := range bnVar.Data() {
		bnVar.Data()[i] = v*v + 0.5
	}
	bn := &nn.BatchNorm2d{Weight: randParam("weight", 3), Bias: randParam("bias", 3), RunningMean: randParam("running_mean", 3), RunningVar: bnVar}
	bn.RunningMean.Frozen, bn.RunningVar.Frozen = true, true
	ln := &nn.LayerNorm{Weight: randParam("ln.weight", 4), Bias: randParam("ln.bias", 4)}
	emb := &nn.Embedding{Weight: randParam("token_embedding", 6, 3)}
	conv := &nn.Conv2d{Weight: randParam("conv.weight", 3, 2, 3, 3), Bias: randParam("conv.bias", 3), Stride: 2, Padding: 1}

	cases := []gradCase{
		{"linear", func(g *nn.Graph, in []*G.Node) *G.Node { return g.Linear(in[0], in[1], in[2]) }, []nntest.Input{r(2, 3, 4), r(5, 4), r(5)}},
		{"linear_nobias", func(g *nn.Graph, in []*G.Node) *G.Node { return g.Linear(in[0], in[1], nil) }, []nntest.Input{r(3, 4), r(2, 4)}},
		{"layernorm", func(g *nn.Graph, in []*G.Node) *G.Node { return g.LayerNorm(in[0], in[1], in[2], 1e-5) }, []nntest.Input{r(2, 3, 6), r(6), r(6)}},
		{"quickgelu", func(g *nn.Graph, in []*G.Node) *G.Node { return g.QuickGELU(g.Scale(in[0], 3)) }, []nntest.Input{r(4, 7)}},
		{"gelu", func(g *nn.Graph, in []*G.Node) *G.Node { return g.GELU(g.Scale(in[0], 3)) }, []nntest.Input{r(4, 7)}},
		{"avgpool_k3s2p1", func(g *nn.Graph, in []*G.Node) *G.Node { return g.AvgPool2d(in[0], 3, 2, 1) }, []nntest.Input{r(2, 2, 7, 6)}},
		{"avgpool_k2s2", func(g *nn.Graph, in []*G.Node) *G.Node { return g.AvgPool2d(in[0], 2, 2, 0) }, []nntest.Input{r(2, 2, 7, 6)}},
		{"adaptiveavgpool", func(g *nn.Graph, in []*G.Node) *G.Node { return g.AdaptiveAvgPool2d(in[0], 3, 4) }, []nntest.Input{r(2, 2, 7, 6)}},
		{"globalavgpool", func(g *nn.Graph, in []*G.Node) *G.Node { return g.GlobalAvgPool2d(in[0]) }, []nntest.Input{r(2, 2, 7, 6)}},
		{"channelaffine", func(g *nn.Graph, in []*G.Node) *G.Node { return g.ChannelAffine(in[0], in[1], in[2]) }, []nntest.Input{r(2, 3, 2, 2), r(3), r(3)}},
		{"conv2d", func(g *nn.Graph, in []*G.Node) *G.Node { return g.Conv2d(in[0], in[1], in[2], 2, 1) }, []nntest.Input{r(1, 2, 5, 5), r(3, 2, 3, 3), r(3)}},
		{"gather", func(g *nn.Graph, in []*G.Node) *G.Node { return g.Gather(in[0], in[1]) }, []nntest.Input{r(5, 3), nntest.IntInput(4, 0, 4, 2)}},
		{"attention_masked", func(g *nn.Graph, in []*G.Node) *G.Node {
			return g.AttentionApply(g.AttentionProbs(in[0], in[1], 2, in[3]), in[2])
		}, []nntest.Input{r(2, 3, 4), r(2, 5, 4), r(2, 5, 4), r(3, 5)}},
		{"attention_probs", func(g *nn.Graph, in []*G.Node) *G.Node { return g.AttentionProbs(in[0], in[1], 1, nil) }, []nntest.Input{r(2, 3, 4), r(2, 5, 4)}},
		{"attention_causal", func(g *nn.Graph, in []*G.Node) *G.Node {
			return g.AttentionApply(g.AttentionProbs(in[0], in[0], 2, g.CausalMask(4)), in[0])
		}, []nntest.Input{r(1, 4, 4)}},
		{"residual", func(g *nn.Graph, in []*G.Node) *G.Node {
			return g.Residual(in[0], func(x *G.Node) *G.Node { return g.Linear(x, in[1], nil) })
		}, []nntest.Input{r(3, 4), r(4, 4)}},
		// Layers: gradients reach the inputs and every non-frozen parameter.
		{"layer_mha_self", func(g *nn.Graph, in []*G.Node) *G.Node {
			out, _ := mha.Forward(g, in[0], in[0], g.CausalMask(3))
			return out
		}, []nntest.Input{r(2, 3, 4)}},
		{"layer_mha_pool", func(g *nn.Graph, in []*G.Node) *G.Node {
			out, _ := mha.Forward(g, g.Slice(in[0], 1, 0, 1), in[0], nil)
			return out
		}, []nntest.Input{r(2, 3, 4)}},
		{"layer_separate_attention", func(g *nn.Graph, in []*G.Node) *G.Node {
			out, _ := sep.Forward(g, in[0], in[1], nil)
			return out
		}, []nntest.Input{r(2, 1, 4), r(2, 3, 4)}},
		{"layer_mlp_quickgelu", func(g *nn.Graph, in []*G.Node) *G.Node { return mlp.Forward(g, in[0]) }, []nntest.Input{r(2, 3, 4)}},
		{"layer_mlp_gelu", func(g *nn.Graph, in []*G.Node) *G.Node { return mlpGELU.Forward(g, in[0]) }, []nntest.Input{r(2, 3, 4)}},
		{"layer_batchnorm", func(g *nn.Graph, in []*G.Node) *G.Node { return bn.Forward(g, in[0]) }, []nntest.Input{r(2, 3, 2, 2)}},
		{"layer_layernorm", func(g *nn.Graph, in []*G.Node) *G.Node { return ln.Forward(g, in[0]) }, []nntest.Input{r(3, 4)}},
		{"layer_embedding", func(g *nn.Graph, in []*G.Node) *G.Node { return emb.Forward(g, in[0]) }, []nntest.Input{nntest.IntInput(5, 1, 1)}},
		{"layer_conv2d", func(g *nn.Graph, in []*G.Node) *G.Node { return conv.Forward(g, in[0]) }, []nntest.Input{r(1, 2, 5, 4)}},
	}
	for _, axis := range []int{0, 1, -1} {
		for _, log := range []bool{false, true} {
			cases = append(cases, gradCase{fmt.Sprintf("softmax_axis%d_log%t", axis, log), func(g *nn.Graph, in []*G.Node) *G.Node {
				if log {
					return g.LogSoftmax(in[0], axis)
				}
				return g.Softmax(in[0], axis)
			}, []nntest.Input{r(3, 4, 5)}})
		}
	}
	return cases
}

func TestGradCheck(t *testing.T) {
	for _, c := range gradCases() {
		t.Run(c.name, func(t *testing.T) { nntest.GradCheck(t, c.build, c.inputs...) })
	}
}

func TestFloat32MatchesFloat64(t *testing.T) {
	for _, c := range gradCases() {
		t.Run(c.name, func(t *testing.T) { nntest.Float32Check(t, 1e-5, c.build, c.inputs...) })
	}
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Errorf(format string, args ...any) { r.failed = true }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = true }
func (r *recorder) Logf(format string, args ...any)   {}
func (r *recorder) Helper()                           {}

// The checker must catch a wrong gradient: Gorgonia's InverseSqrt has one.
func TestGradCheckCatchesWrongGradient(t *testing.T) {
	rec := &recorder{TB: t}
	in := nntest.RandInput(5)
	for i := range in.Data {
		in.Data[i] = 0.5 + in.Data[i]*in.Data[i]
	}
	worst := nntest.GradCheck(rec, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.Do("inversesqrt", func() (*G.Node, error) { return G.InverseSqrt(in[0]) })
	}, in)
	if !rec.failed {
		t.Fatalf("GradCheck passed Gorgonia's wrong InverseSqrt gradient (error %.3g)", worst)
	}
	t.Logf("wrong gradient detected, relative error %.3g", worst)
	// And the correct composition Inverse(Sqrt(x)) passes.
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.Do("inverse", func() (*G.Node, error) { return G.Inverse(g.Sqrt(in[0])) })
	}, in)
}

// Sizes large enough for the kernels' multi-goroutine paths: float32
// against float64 on forward and backward (run with -race too).
func TestParallelKernels(t *testing.T) {
	r := nntest.RandInput
	cases := []gradCase{
		{"linear", func(g *nn.Graph, in []*G.Node) *G.Node { return g.Linear(in[0], in[1], in[2]) }, []nntest.Input{r(64, 96), r(80, 96), r(80)}},
		{"layernorm", func(g *nn.Graph, in []*G.Node) *G.Node { return g.LayerNorm(in[0], in[1], in[2], 1e-5) }, []nntest.Input{r(64, 512), r(512), r(512)}},
		{"softmax", func(g *nn.Graph, in []*G.Node) *G.Node { return g.Softmax(in[0], 1) }, []nntest.Input{r(16, 64, 32)}},
		{"logsoftmax", func(g *nn.Graph, in []*G.Node) *G.Node { return g.LogSoftmax(in[0], -1) }, []nntest.Input{r(64, 512)}},
		{"gelu", func(g *nn.Graph, in []*G.Node) *G.Node { return g.GELU(in[0]) }, []nntest.Input{r(64, 1024)}},
		{"avgpool", func(g *nn.Graph, in []*G.Node) *G.Node { return g.AvgPool2d(in[0], 3, 2, 1) }, []nntest.Input{r(4, 16, 32, 32)}},
		{"adaptivepool", func(g *nn.Graph, in []*G.Node) *G.Node { return g.AdaptiveAvgPool2d(in[0], 7, 7) }, []nntest.Input{r(4, 16, 30, 30)}},
		{"channelaffine", func(g *nn.Graph, in []*G.Node) *G.Node { return g.ChannelAffine(in[0], in[1], in[2]) }, []nntest.Input{r(4, 16, 32, 32), r(16), r(16)}},
		{"attention", func(g *nn.Graph, in []*G.Node) *G.Node {
			return g.AttentionApply(g.AttentionProbs(in[0], in[1], 4, in[3]), in[2])
		}, []nntest.Input{r(2, 20, 64), r(2, 24, 64), r(2, 24, 64), r(20, 24)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { nntest.Float32Check(t, 1e-5, c.build, c.inputs...) })
	}
}
