package nn_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// randBN is an inference BatchNorm2d of c channels with random statistics
// (variance in [0.5, 1.5)).
func randBN(name string, c int) *nn.BatchNorm2d {
	v := randParam(name+".running_var", c)
	for i, x := range v.Data() {
		v.Data()[i] = x*x + 0.5
	}
	return &nn.BatchNorm2d{Weight: randParam(name+".weight", c), Bias: randParam(name+".bias", c),
		RunningMean: randParam(name+".running_mean", c), RunningVar: v}
}

type convBNCase struct {
	x, w        []int
	stride, pad int
	bias, res   bool
	relu        bool
}

func (c convBNCase) String() string {
	return fmt.Sprintf("x%v_w%v_s%d_p%d_bias%t_res%t_relu%t", c.x, c.w, c.stride, c.pad, c.bias, c.res, c.relu)
}

func (c convBNCase) layers() (*nn.Conv2d, *nn.BatchNorm2d) {
	conv := &nn.Conv2d{Weight: randParam("conv.weight", c.w...), Stride: c.stride, Padding: c.pad}
	if c.bias {
		conv.Bias = randParam("conv.bias", c.w[0])
	}
	return conv, randBN("bn", c.w[0])
}

func (c convBNCase) outShape() []int {
	return []int{c.x[0], c.w[0], (c.x[2]+2*c.pad-c.w[2])/c.stride + 1, (c.x[3]+2*c.pad-c.w[3])/c.stride + 1}
}

// The fused ConvBN equals the unfused layers conv → BatchNorm → + residual
// → ReLU, forward and backward, and its gradients (inputs, residual and
// every conv and BN parameter) match finite differences.
func TestConvBN(t *testing.T) {
	r := nntest.RandInput
	cases := []convBNCase{
		{x: []int{2, 3, 5, 4}, w: []int{4, 3, 1, 1}, stride: 1, res: true, relu: true}, // direct GEMM, bottleneck conv3
		{x: []int{2, 3, 7, 6}, w: []int{4, 3, 3, 3}, stride: 2, pad: 1, relu: true},
		{x: []int{1, 2, 6, 6}, w: []int{3, 2, 3, 3}, stride: 1, pad: 1, bias: true, res: true},
		{x: []int{2, 2, 5, 5}, w: []int{2, 2, 1, 1}, stride: 1}, // downsample: no ReLU
		// Maps over 256 cells: one GEMM per image (the cases above run one
		// GEMM over the batch when N > 1).
		{x: []int{2, 3, 17, 16}, w: []int{4, 3, 1, 1}, stride: 1, res: true, relu: true},
		{x: []int{2, 2, 17, 16}, w: []int{3, 2, 3, 3}, stride: 1, pad: 1, relu: true},
	}
	for _, c := range cases {
		t.Run(c.String(), func(t *testing.T) {
			conv, bn := c.layers()
			fusedBuild := func(g *nn.Graph, in []*G.Node) *G.Node {
				var res *G.Node
				if c.res {
					res = in[1]
				}
				return g.ConvBN(in[0], conv, bn, res, c.relu)
			}
			plainBuild := func(g *nn.Graph, in []*G.Node) *G.Node {
				y := bn.Forward(g, conv.Forward(g, in[0]))
				if c.res {
					y = g.Add(y, in[1])
				}
				if c.relu {
					y = g.ReLU(y)
				}
				return y
			}
			inputs := []nntest.Input{r(c.x...)}
			if c.res {
				inputs = append(inputs, r(c.outShape()...))
			}
			gotF, gotG := valuesAndGrads(t, fusedBuild, inputs)
			wantF, wantG := valuesAndGrads(t, plainBuild, inputs)
			nntest.AssertClose(t, gotF, wantF, 1e-5)
			if len(gotG) != len(wantG) {
				t.Fatalf("gradients of %d inputs and parameters, want %d", len(gotG), len(wantG))
			}
			for name, want := range wantG {
				t.Run(name, func(t *testing.T) { nntest.AssertClose(t, gotG[name], want, 1e-5) })
			}
			nntest.GradCheck(t, fusedBuild, inputs...)
			nntest.Float32Check(t, 1e-5, fusedBuild, inputs...)
		})
	}
}

// valuesAndGrads runs build in float32 and returns its output and the
// gradients of Σ out² with respect to the inputs and every bound parameter,
// by input ("in0", …) and parameter name.
func valuesAndGrads(t *testing.T, build func(g *nn.Graph, in []*G.Node) *G.Node, inputs []nntest.Input) ([]float32, map[string][]float32) {
	t.Helper()
	var out []float32
	grads := map[string][]float32{}
	err := nn.Build(func() error {
		g := nn.NewGraph(tensor.Float32)
		var in []*G.Node
		for i, x := range inputs {
			in = append(in, g.Const(fmt.Sprintf("in%d", i), x.Data, x.Shape...))
		}
		y := build(g, in)
		loss := g.Sum(g.Square(y))
		if err := g.Err(); err != nil {
			return err
		}
		wrt := append([]*G.Node{}, in...)
		var names []string
		for i := range in {
			names = append(names, fmt.Sprintf("in%d", i))
		}
		for _, p := range g.Params() {
			wrt = append(wrt, g.ParamNode(p))
			names = append(names, p.Name)
		}
		gs, err := G.Grad(loss, wrt...)
		if err != nil {
			return err
		}
		p, err := nn.Compile(g, nil, append([]*G.Node{y}, gs...))
		if err != nil {
			return err
		}
		res, err := p.Run()
		if err != nil {
			return err
		}
		out = res[0].Data().([]float32)
		for i, d := range res[1:] {
			grads[names[i]] = d.Data().([]float32)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, grads
}

// Large enough for the multi-goroutine epilogue and mask kernels.
func TestConvBNParallel(t *testing.T) {
	r := nntest.RandInput
	c := convBNCase{x: []int{2, 16, 20, 20}, w: []int{32, 16, 3, 3}, stride: 1, pad: 1, res: true, relu: true}
	conv, bn := c.layers()
	nntest.Float32Check(t, 1e-5, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.ConvBN(in[0], conv, bn, in[1], true)
	}, r(c.x...), r(c.outShape()...))
	// A small map: one GEMM over the batch, scattered by several goroutines.
	c = convBNCase{x: []int{8, 32, 12, 12}, w: []int{64, 32, 3, 3}, stride: 1, pad: 1, res: true, relu: true}
	conv, bn = c.layers()
	nntest.Float32Check(t, 1e-5, func(g *nn.Graph, in []*G.Node) *G.Node {
		return g.ConvBN(in[0], conv, bn, in[1], true)
	}, r(c.x...), r(c.outShape()...))
	nntest.Float32Check(t, 1e-5, func(g *nn.Graph, in []*G.Node) *G.Node { return g.ReLU(in[0]) }, r(64, 1024))
}

// Frozen conv and BN parameters get no gradient ops: the step computes no
// weight GEMM, only the input gradient.
func TestConvBNFrozenNoWeightGrad(t *testing.T) {
	c := convBNCase{x: []int{1, 2, 4, 4}, w: []int{3, 2, 3, 3}, stride: 1, pad: 1, relu: true}
	conv, bn := c.layers()
	for _, p := range []*nn.Param{conv.Weight, bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar} {
		p.Frozen = true
	}
	g := nn.NewGraph(tensor.Float32)
	x := g.Input("x", c.x...)
	loss := g.Sum(g.ConvBN(x, conv, bn, nil, true))
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := G.Grad(loss, x); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range g.Expr().AllNodes() {
		if n.Op() != nil {
			ops = append(ops, n.Op().String())
		}
	}
	all := strings.Join(ops, " ")
	if !strings.Contains(all, "_grad_x") {
		t.Fatalf("no input-gradient op among %v", ops)
	}
	for _, bad := range []string{"_grad_w", "_grad_b", "channelsum"} {
		if strings.Contains(all, bad) {
			t.Errorf("frozen parameters still get %s: %v", bad, ops)
		}
	}
}

// Bad layers and shapes are errors naming the problem, not panics.
func TestConvBNErrors(t *testing.T) {
	c := convBNCase{x: []int{1, 2, 4, 4}, w: []int{3, 2, 3, 3}, stride: 1, pad: 1}
	conv, bn := c.layers()
	for _, tc := range []struct {
		name  string
		build func(g *nn.Graph, x *G.Node)
		want  string
	}{
		{"nil conv", func(g *nn.Graph, x *G.Node) { g.ConvBN(x, nil, bn, nil, true) }, "missing conv weight"},
		{"nil bn", func(g *nn.Graph, x *G.Node) { g.ConvBN(x, conv, nil, nil, true) }, "batchnorm2d: missing"},
		{"bn channels", func(g *nn.Graph, x *G.Node) { g.ConvBN(x, conv, randBN("bn5", 5), nil, true) }, "batchnorm has 5 channels"},
		{"channels", func(g *nn.Graph, x *G.Node) { g.ConvBN(g.Input("y", 1, 3, 4, 4), conv, bn, nil, true) }, "do not match"},
		{"residual", func(g *nn.Graph, x *G.Node) { g.ConvBN(x, conv, bn, g.Input("r", 1, 3, 2, 2), true) }, "residual (1, 3, 2, 2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := nn.NewGraph(tensor.Float32)
			tc.build(g, g.Input("x", c.x...))
			if err := g.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
