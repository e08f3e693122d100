package optim

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
)

type trajectory struct {
	Kind   string    `json:"kind"`
	Clip   *float64  `json:"clip"`
	Losses []float64 `json:"losses"`
	LRs    []float64 `json:"lrs"`
	Norms  []float64 `json:"norms"`
	WRaw   []float32 `json:"W"`
	BRaw   []float32 `json:"b"`
}

type fixture struct {
	N, IN, OUT int
	X          []float32 `json:"x"`
	Y          []float32 `json:"y"`
	W0         []float32 `json:"W0"`
	B0         []float32 `json:"b0"`
	Runs       []trajectory
}

// lossAndGrads computes mean((x Wᵀ + b − y)²) and its gradients.
func (f *fixture) lossAndGrads(W, b []float32) (float64, []float32, []float32) {
	gW := make([]float32, len(W))
	gb := make([]float32, len(b))
	var loss float64
	scale := 2 / float64(f.N*f.OUT)
	for n := 0; n < f.N; n++ {
		for o := 0; o < f.OUT; o++ {
			var s float32 = b[o]
			for i := 0; i < f.IN; i++ {
				s += f.X[n*f.IN+i] * W[o*f.IN+i]
			}
			r := float64(s - f.Y[n*f.OUT+o])
			loss += r * r
			gr := float32(scale * r)
			gb[o] += gr
			for i := 0; i < f.IN; i++ {
				gW[o*f.IN+i] += gr * f.X[n*f.IN+i]
			}
		}
	}
	return loss / float64(f.N*f.OUT), gW, gb
}

func loadFixture(t *testing.T) *fixture {
	t.Helper()
	b, err := os.ReadFile("testdata/trajectories.json")
	if err != nil {
		t.Fatalf("read fixture: %v (regenerate with /usr/bin/python3 nn/optim/testdata/gen.py)", err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// TestMatchesPyTorch runs ten steps of each optimizer on the fixed problem and
// compares the losses and the final parameters with PyTorch's.
func TestMatchesPyTorch(t *testing.T) {
	f := loadFixture(t)
	for _, run := range f.Runs {
		name := run.Kind
		if run.Clip != nil {
			name += "_clip"
		}
		t.Run(name, func(t *testing.T) {
			W := nn.NewParam("fc.weight", append([]float32(nil), f.W0...), f.OUT, f.IN)
			b := nn.NewParam("fc.bias", append([]float32(nil), f.B0...), f.OUT)
			var opt Optimizer
			switch run.Kind {
			case "adamw":
				a := NewAdamW([]Group{{Params: []*nn.Param{W}, WeightDecay: 0.1}, {Params: []*nn.Param{b}}})
				a.Beta2, a.Eps = 0.98, 1e-6
				opt = a
			case "sgd_nesterov":
				opt = NewSGD([]Group{{Params: []*nn.Param{W}, WeightDecay: 0.01}, {Params: []*nn.Param{b}}}, 0.9, true)
			case "sgd_momentum":
				s := NewSGD([]Group{{Params: []*nn.Param{W}}, {Params: []*nn.Param{b}}}, 0.8, false)
				s.Dampening = 0.1
				opt = s
			default:
				t.Fatalf("unknown run %q", run.Kind)
			}
			sched := WarmupCosine(0.05, 0.001, 3, 10)
			for step := 0; step < 10; step++ {
				lr := sched(step)
				if math.Abs(lr-run.LRs[step]) > 1e-12 {
					t.Fatalf("step %d: lr %g, torch %g", step, lr, run.LRs[step])
				}
				loss, gW, gb := f.lossAndGrads(W.Data(), b.Data())
				if d := math.Abs(loss - run.Losses[step]); d > 1e-5 {
					t.Fatalf("step %d: loss %.8f, torch %.8f (diff %.2g)", step, loss, run.Losses[step], d)
				}
				grads := map[*nn.Param][]float32{W: gW, b: gb}
				if run.Clip != nil {
					norm := ClipGlobalNorm(grads, *run.Clip)
					if d := math.Abs(norm - run.Norms[step]); d > 1e-5*math.Max(1, norm) {
						t.Fatalf("step %d: grad norm %.8f, torch %.8f", step, norm, run.Norms[step])
					}
				}
				if err := opt.Step(lr, grads); err != nil {
					t.Fatal(err)
				}
			}
			for i, w := range W.Data() {
				if d := math.Abs(float64(w - run.WRaw[i])); d > 1e-5 {
					t.Errorf("W[%d] = %.7f, torch %.7f", i, w, run.WRaw[i])
				}
			}
			for i, w := range b.Data() {
				if d := math.Abs(float64(w - run.BRaw[i])); d > 1e-5 {
					t.Errorf("b[%d] = %.7f, torch %.7f", i, w, run.BRaw[i])
				}
			}
			if opt.Steps() != 10 {
				t.Errorf("Steps() = %d, want 10", opt.Steps())
			}
		})
	}
}

func TestStepDoesNotModifyGradients(t *testing.T) {
	W := nn.NewParam("w", []float32{1, 2, 3, 4}, 2, 2)
	g := []float32{0.5, -0.5, 0.25, 1}
	keep := append([]float32(nil), g...)
	for _, opt := range []Optimizer{NewAdamW([]Group{{Params: []*nn.Param{W}, WeightDecay: 0.1}}), NewSGD([]Group{{Params: []*nn.Param{W}}}, 0.9, true)} {
		if err := opt.Step(0.1, map[*nn.Param][]float32{W: g}); err != nil {
			t.Fatal(err)
		}
		for i := range g {
			if g[i] != keep[i] {
				t.Fatalf("%T.Step changed gradient %d: %v → %v", opt, i, keep[i], g[i])
			}
		}
	}
}

func TestStepErrors(t *testing.T) {
	W := nn.NewParam("visual.proj", []float32{1, 2, 3, 4}, 2, 2)
	opt := NewAdamW([]Group{{Params: []*nn.Param{W}}})
	if err := opt.Step(0.1, map[*nn.Param][]float32{}); err == nil || !strings.Contains(err.Error(), "visual.proj") {
		t.Fatalf("missing gradient: got %v, want an error naming visual.proj", err)
	}
	if err := opt.Step(0.1, map[*nn.Param][]float32{W: {1}}); err == nil || !strings.Contains(err.Error(), "1 values") {
		t.Fatalf("short gradient: got %v", err)
	}
	s := NewSGD([]Group{{Params: []*nn.Param{W}}}, 0, true)
	if err := s.Step(0.1, map[*nn.Param][]float32{W: {1, 1, 1, 1}}); err == nil {
		t.Fatal("Nesterov without momentum: want an error")
	}
}

func TestDecayGroups(t *testing.T) {
	mk := func(name string, shape ...int) *nn.Param { return nn.ZeroParam(name, shape...) }
	params := []*nn.Param{
		mk("visual.conv1.weight", 4, 3, 2, 2),
		mk("visual.transformer.resblocks.0.attn.in_proj_weight", 6, 2),
		mk("visual.transformer.resblocks.0.attn.in_proj_bias", 6),
		mk("visual.transformer.resblocks.0.ln_1.weight", 2),
		mk("visual.bn1.weight", 2),
		mk("logit_scale"),
		mk("positional_embedding", 5, 2),
		mk("text_projection", 2, 2),
	}
	frozen := mk("token_embedding.weight", 10, 2)
	frozen.Frozen = true
	params = append(params, frozen)
	gs := DecayGroups(params, 0.2)
	names := func(ps []*nn.Param) (s []string) {
		for _, p := range ps {
			s = append(s, p.Name)
		}
		return s
	}
	wantDecay := []string{"visual.conv1.weight", "visual.transformer.resblocks.0.attn.in_proj_weight", "text_projection"}
	if got := names(gs[0].Params); !equal(got, wantDecay) || gs[0].WeightDecay != 0.2 {
		t.Errorf("decay group %v (wd %v), want %v", got, gs[0].WeightDecay, wantDecay)
	}
	if got := names(gs[1].Params); len(got) != 5 || gs[1].WeightDecay != 0 {
		t.Errorf("no-decay group %v", got)
	}
}

func TestWarmupCosine(t *testing.T) {
	s := WarmupCosine(1, 0, 10, 110)
	if got := s(0); math.Abs(got-0.1) > 1e-12 {
		t.Errorf("step 0: %g", got)
	}
	if got := s(9); math.Abs(got-1) > 1e-12 {
		t.Errorf("end of warmup: %g", got)
	}
	if got := s(60); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("half-way: %g", got)
	}
	if got := s(200); got != 0 {
		t.Errorf("after total: %g", got)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
