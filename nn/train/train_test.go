package train

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/loss"
	"github.com/goclip/goclip/nn/optim"
	"github.com/goclip/goclip/weights"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// mlp is a tiny classifier x (N, 4) → (N, 3) trained with cross-entropy
// against a target distribution fed as an input.
type mlp struct {
	fc1, fc2 nn.Linear
	frozen   *nn.Param // multiplies the hidden layer; never trained
}

const batchN = 6

func newMLP(seed uint64) *mlp {
	r := rand.New(rand.NewPCG(seed, 9))
	p := func(name string, shape ...int) *nn.Param {
		n := 1
		for _, d := range shape {
			n *= d
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.NormFloat64() * 0.5)
		}
		return nn.NewParam(name, d, shape...)
	}
	m := &mlp{
		fc1:    nn.Linear{Weight: p("fc1.weight", 8, 4), Bias: p("fc1.bias", 8)},
		fc2:    nn.Linear{Weight: p("fc2.weight", 3, 8), Bias: p("fc2.bias", 3)},
		frozen: p("gain", 8),
	}
	m.frozen.Frozen = true
	return m
}

func (m *mlp) params() []*nn.Param {
	return []*nn.Param{m.fc1.Weight, m.fc1.Bias, m.fc2.Weight, m.fc2.Bias, m.frozen}
}

func (m *mlp) build(g *nn.Graph) ([]*G.Node, *G.Node, error) {
	x := g.Input("x", batchN, 4)             // (N, 4)
	target := g.Input("target", batchN, 3)   // (N, 3)
	h := g.Tanh(m.fc1.Forward(g, x))         // (N, 8)
	h = g.BroadcastMul(h, g.Param(m.frozen)) // (N, 8)
	logits := m.fc2.Forward(g, h)            // (N, 3)
	return []*G.Node{x, target}, loss.CrossEntropy(g, logits, target), nil
}

// batch draws inputs and labels (label = argmax of the first 3 features).
func batch(_ int, r *rand.Rand) ([]*tensor.Dense, error) {
	x := make([]float32, batchN*4)
	classes := make([]int, batchN)
	for i := range batchN {
		best := 0
		for j := range 4 {
			x[i*4+j] = float32(r.NormFloat64())
			if j < 3 && x[i*4+j] > x[i*4+best] {
				best = j
			}
		}
		classes[i] = best
	}
	t, err := loss.ClassTargets(classes, 3, 0.1)
	if err != nil {
		return nil, err
	}
	t32 := make([]float32, len(t))
	for i, v := range t {
		t32[i] = float32(v)
	}
	return []*tensor.Dense{
		tensor.New(tensor.WithShape(batchN, 4), tensor.WithBacking(x)),
		tensor.New(tensor.WithShape(batchN, 3), tensor.WithBacking(t32)),
	}, nil
}

func newTrainer(t *testing.T, m *mlp, kind string) *Trainer {
	t.Helper()
	s, err := Compile(tensor.Float32, m.build)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var opt optim.Optimizer
	if kind == "sgd" {
		opt = optim.NewSGD(optim.DecayGroups(s.Params, 1e-3), 0.9, true)
	} else {
		opt = optim.NewAdamW(optim.DecayGroups(s.Params, 0.1))
	}
	return &Trainer{Step: s, Opt: opt, Sched: optim.WarmupCosine(0.05, 0.001, 2, 6), ClipNorm: 1,
		Model: m.params(), RNG: rand.NewPCG(42, 7)}
}

// TestResumeExact: 6 steps in one run equal 3 steps, a checkpoint, a fresh
// model/optimizer/RNG loaded from it, and 3 more steps, bit for bit.
func TestResumeExact(t *testing.T) {
	for _, kind := range []string{"adamw", "sgd"} {
		t.Run(kind, func(t *testing.T) {
			a := newMLP(1)
			ta := newTrainer(t, a, kind)
			full, err := ta.Run(6, batch)
			if err != nil {
				t.Fatal(err)
			}

			b := newMLP(1)
			tb := newTrainer(t, b, kind)
			first, err := tb.Run(3, batch)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			if err := tb.Save(path, map[string]string{"note": "half"}); err != nil {
				t.Fatal(err)
			}

			c := newMLP(99) // different initial weights: all must come from the file
			tc := newTrainer(t, c, kind)
			tc.RNG = rand.NewPCG(0, 0)
			meta, err := tc.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Step != 3 || tc.Steps() != 3 || meta.Extra["note"] != "half" || meta.Optimizer != kind {
				t.Fatalf("metadata %+v", meta)
			}
			rest, err := tc.Run(6, batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 3 {
				t.Fatalf("resumed run did %d steps, want 3", len(rest))
			}
			for i, r := range append(first, rest...) {
				if r.Loss != full[i].Loss || r.LR != full[i].LR || r.GradNorm != full[i].GradNorm {
					t.Errorf("step %d: loss %v lr %v norm %v, uninterrupted %v %v %v", i+1, r.Loss, r.LR, r.GradNorm, full[i].Loss, full[i].LR, full[i].GradNorm)
				}
			}
			for i, p := range a.params() {
				if q := c.params()[i]; !slices.Equal(p.Data(), q.Data()) {
					t.Errorf("%s differs after resuming", p.Name)
				}
			}
		})
	}
}

// TestFrozen: frozen parameters get no gradient node and never change.
func TestFrozen(t *testing.T) {
	m := newMLP(3)
	tr := newTrainer(t, m, "adamw")
	if len(tr.Step.Params) != 4 || len(tr.Step.Grads) != 4 {
		t.Fatalf("%d trainable parameters, %d gradients; want 4 (gain frozen)", len(tr.Step.Params), len(tr.Step.Grads))
	}
	for _, p := range tr.Step.Params {
		if p == m.frozen {
			t.Fatal("frozen parameter is trainable")
		}
	}
	before := slices.Clone(m.frozen.Data())
	w := slices.Clone(m.fc1.Weight.Data())
	if _, err := tr.Run(2, batch); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(before, m.frozen.Data()) {
		t.Error("frozen parameter changed")
	}
	if slices.Equal(w, m.fc1.Weight.Data()) {
		t.Error("trainable parameter did not change")
	}
}

// TestLossFalls: on one fixed batch, 20 AdamW steps reduce the loss.
func TestLossFalls(t *testing.T) {
	tr := newTrainer(t, newMLP(8), "adamw")
	tr.Sched = optim.Constant(0.05)
	fixed := func(int, *rand.Rand) ([]*tensor.Dense, error) { return batch(0, rand.New(rand.NewPCG(5, 5))) }
	recs, err := tr.Run(20, fixed)
	if err != nil {
		t.Fatal(err)
	}
	if first, last := recs[0].Loss, recs[19].Loss; !(last < 0.5*first) {
		t.Errorf("loss %v → %v, want at least halved", first, last)
	}
}

// TestStepGradientsMatchFloat64: the float32 step's gradients equal those
// of the float64 graph (same inputs) to float32 precision.
func TestStepGradientsMatchFloat64(t *testing.T) {
	m := newMLP(5)
	in, _ := batch(0, rand.New(rand.NewPCG(1, 1)))
	s32, err := Compile(tensor.Float32, m.build)
	if err != nil {
		t.Fatal(err)
	}
	s64, err := Compile(tensor.Float64, m.build)
	if err != nil {
		t.Fatal(err)
	}
	in64 := make([]*tensor.Dense, len(in))
	for i, x := range in {
		d := x.Data().([]float32)
		f := make([]float64, len(d))
		for j, v := range d {
			f[j] = float64(v)
		}
		in64[i] = tensor.New(tensor.WithShape(x.Shape()...), tensor.WithBacking(f))
	}
	l32, g32, err := s32.Run(in...)
	if err != nil {
		t.Fatal(err)
	}
	l64, g64, err := s64.Run(in64...)
	if err != nil {
		t.Fatal(err)
	}
	if d := l32 - l64; d > 1e-6 || d < -1e-6 {
		t.Errorf("loss float32 %v, float64 %v", l32, l64)
	}
	for _, p := range s32.Params {
		a, b := g32[p], g64[p]
		for i := range a {
			if d := a[i] - b[i]; d > 1e-6 || d < -1e-6 {
				t.Errorf("%s[%d]: float32 %v, float64 %v", p.Name, i, a[i], b[i])
				break
			}
		}
	}
	if _, _, err := s32.Run(in[0]); err == nil || !strings.Contains(err.Error(), "1 inputs given, program wants 2") {
		t.Errorf("wrong input count: %v", err)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		msg   string
		build BuildFunc
	}{
		{"nil build", nil},
		{"want a scalar", func(g *nn.Graph) ([]*G.Node, *G.Node, error) {
			x := g.Input("x", 2)
			return []*G.Node{x}, g.Param(nn.ZeroParam("w", 2)), nil
		}},
		{"no trainable parameter", func(g *nn.Graph) ([]*G.Node, *G.Node, error) {
			x := g.Input("x", 2)
			return []*G.Node{x}, g.Sum(x), nil
		}},
		{"nil loss", func(g *nn.Graph) ([]*G.Node, *G.Node, error) { return nil, nil, nil }},
		{"matmul wants 2-D", func(g *nn.Graph) ([]*G.Node, *G.Node, error) {
			return nil, g.MatMul(g.Input("a", 2), g.Input("b", 2)), nil
		}},
	} {
		var b BuildFunc = c.build
		if _, err := Compile(tensor.Float32, b); err == nil || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "train: compile") {
			t.Errorf("error %v, want train: compile … %q", err, c.msg)
		}
	}
}

// TestLogs: JSONL and CSV records and plain progress lines.
func TestLogs(t *testing.T) {
	m := newMLP(4)
	tr := newTrainer(t, m, "adamw")
	var jl, cs, prog bytes.Buffer
	tr.Log = &Logger{JSONL: &jl, CSV: &cs}
	tr.Progress = &Progress{W: &prog, Lines: 2}
	recs, err := tr.Run(4, batch)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&jl)
	n := 0
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if r.Step != n+1 || r.Loss != recs[n].Loss || r.LR != recs[n].LR {
			t.Errorf("jsonl line %d: %+v, want %+v", n, r, recs[n])
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d jsonl lines, want 4", n)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || strings.Join(rows[0], ",") != "step,loss,lr,grad_norm,seconds,elapsed" || rows[4][0] != "4" {
		t.Errorf("csv rows %v", rows)
	}
	lines := strings.Split(strings.TrimSpace(prog.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "step 2/4  loss ") || !strings.Contains(lines[1], "steps/s  ETA 0:00") {
		t.Errorf("progress lines %q", lines)
	}

	var tty bytes.Buffer
	p := &Progress{W: &tty, TTY: true}
	p.Update(Record{Step: 1, Loss: 2, LR: 0.1, Elapsed: 2}, 0, 100)
	p.Update(Record{Step: 2, Loss: 1, LR: 0.1, Elapsed: 4}, 0, 100)
	p.Done()
	if got := tty.String(); !strings.HasPrefix(got, "\rstep   1/100  loss 2.0000  lr 0.1  0.50 steps/s  ETA 3:18\rstep   2/100") || !strings.HasSuffix(got, "\n") {
		t.Errorf("tty progress %q", got)
	}
}

// TestCheckpointErrors: loads that do not fit fail with clear errors and
// leave the parameters untouched.
func TestCheckpointErrors(t *testing.T) {
	dir := t.TempDir()
	m := newMLP(6)
	tr := newTrainer(t, m, "adamw")
	if _, err := tr.Run(1, batch); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "c.safetensors")
	if err := tr.Save(path, nil); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.safetensors")
	mem := weights.NewMemory()
	mem.Add(weights.NewFloat32("fc1.bias", []int{8}, make([]float32, 8)))
	if err := weights.WriteSafetensors(plain, mem, nil); err != nil {
		t.Fatal(err)
	}
	other := newMLP(7)
	keep := slices.Clone(other.fc1.Weight.Data())
	cases := []struct {
		msg    string
		path   string
		params []*nn.Param
		opt    optim.Optimizer
	}{
		{"not a training checkpoint", plain, other.params(), nil},
		{"no tensor for parameter extra", path, append(other.params(), nn.ZeroParam("extra", 2)), nil},
		{"fc1.weight has shape [8 4], parameter has [4 8]", path, []*nn.Param{nn.ZeroParam("fc1.weight", 4, 8)}, nil},
		{"tensor fc1.bias matches no parameter", path, other.params()[:1], nil},
		{`holds "adamw" optimizer state, optimizer is "sgd"`, path, other.params(), optim.NewSGD(nil, 0, false)},
		{`optim: state "exp_avg.fc1.bias" names no parameter`, path, other.params(),
			optim.NewAdamW([]optim.Group{{Params: other.params()[:1]}})},
		{"no such file", filepath.Join(dir, "missing"), other.params(), nil},
	}
	for _, c := range cases {
		_, err := Load(c.path, c.params, c.opt, nil)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("Load: %v, want an error containing %q", err, c.msg)
		}
	}
	if !slices.Equal(keep, other.fc1.Weight.Data()) {
		t.Error("a failed load changed parameters")
	}
	dup := []*nn.Param{nn.ZeroParam("a", 1), nn.ZeroParam("a", 1)}
	if err := Save(filepath.Join(dir, "d"), dup, nil, 0, nil, nil); err == nil || !strings.Contains(err.Error(), `two parameters named "a"`) {
		t.Errorf("duplicate names: %v", err)
	}
}
