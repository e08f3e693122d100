package optim

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
)

// TestStateResume: 3 steps, State, a fresh optimizer with SetState, 3 more
// steps gives bit-identical parameters to 6 uninterrupted steps.
func TestStateResume(t *testing.T) {
	f := loadFixture(t)
	makeOpt := func(kind string, W, b *nn.Param) Optimizer {
		groups := []Group{{Params: []*nn.Param{W}, WeightDecay: 0.1}, {Params: []*nn.Param{b}}}
		if kind == "adamw" {
			return NewAdamW(groups)
		}
		return NewSGD(groups, 0.9, true)
	}
	params := func() (*nn.Param, *nn.Param) {
		return nn.NewParam("fc.weight", slices.Clone(f.W0), f.OUT, f.IN), nn.NewParam("fc.bias", slices.Clone(f.B0), f.OUT)
	}
	steps := func(opt Optimizer, W, b *nn.Param, from, to int) {
		sched := WarmupCosine(0.05, 0.001, 3, 10)
		for s := from; s < to; s++ {
			_, gW, gb := f.lossAndGrads(W.Data(), b.Data())
			if err := opt.Step(sched(s), map[*nn.Param][]float32{W: gW, b: gb}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, kind := range []string{"adamw", "sgd"} {
		W1, b1 := params()
		o1 := makeOpt(kind, W1, b1)
		steps(o1, W1, b1, 0, 6)

		W2, b2 := params()
		o2 := makeOpt(kind, W2, b2)
		steps(o2, W2, b2, 0, 3)
		n, st := o2.(Stateful).State()
		W3, b3 := nn.NewParam("fc.weight", slices.Clone(W2.Data()), f.OUT, f.IN), nn.NewParam("fc.bias", slices.Clone(b2.Data()), f.OUT)
		o3 := makeOpt(kind, W3, b3)
		if err := o3.(Stateful).SetState(n, st); err != nil {
			t.Fatal(err)
		}
		steps(o3, W3, b3, 3, 6)
		if !slices.Equal(W1.Data(), W3.Data()) || !slices.Equal(b1.Data(), b3.Data()) || o3.Steps() != 6 {
			t.Errorf("%s: resumed parameters differ from the uninterrupted run", kind)
		}
	}
}

func TestSetStateErrors(t *testing.T) {
	W := nn.NewParam("w", make([]float32, 4), 2, 2)
	o := NewAdamW([]Group{{Params: []*nn.Param{W}}})
	for _, c := range []struct {
		steps int
		st    map[string][]float32
		msg   string
	}{
		{1, map[string][]float32{"exp_avg.w": make([]float32, 4)}, "no exp_avg_sq.w"},
		{1, map[string][]float32{"exp_avg.w": make([]float32, 3), "exp_avg_sq.w": make([]float32, 4)}, "has 3 values, parameter w has 4"},
		{1, map[string][]float32{"exp_avg.x": make([]float32, 4)}, "names no parameter"},
		{1, map[string][]float32{"momentum_buffer.w": make([]float32, 4)}, "unknown state"},
		{-1, nil, "-1 steps"},
	} {
		if err := o.SetState(c.steps, c.st); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("SetState(%d, %v): %v, want an error containing %q", c.steps, c.st, err, c.msg)
		}
	}
	dup := NewSGD([]Group{{Params: []*nn.Param{W, nn.NewParam("w", make([]float32, 4), 4)}}}, 0.9, false)
	if err := dup.SetState(0, nil); err == nil || !strings.Contains(err.Error(), `two parameters named "w"`) {
		t.Errorf("duplicate names: %v", err)
	}
}

// TestScalarParam: a 0-d parameter (CLIP's logit_scale) is updated in place.
func TestScalarParam(t *testing.T) {
	p := nn.NewParam("logit_scale", []float32{2})
	if p.Value.Shape().Dims() != 0 {
		t.Fatalf("shape %v, want a scalar", p.Value.Shape())
	}
	o := NewAdamW([]Group{{Params: []*nn.Param{p}}})
	if err := o.Step(0.1, map[*nn.Param][]float32{p: {1}}); err != nil {
		t.Fatal(err)
	}
	if v := p.Value.Data().(float32); math.Abs(float64(v)-1.9) > 1e-6 {
		t.Errorf("after one AdamW step: %v, want 1.9", v)
	}
}
