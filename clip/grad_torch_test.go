package clip

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/loss"
	"github.com/goclip/goclip/nn/train"
	"github.com/goclip/goclip/weights"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Gradients against PyTorch autograd: testdata/grad/gen.py runs OpenAI's
// model.py in float64 on the tiny fixture models and writes the gradients of
// CLIP's symmetric InfoNCE loss with respect to the pixels and the
// parameters. The Go side builds the same loss with nn/loss and compiles it
// with nn/train (gradients of trainable parameters only).

// gradRelErr is max|got−want| / max(max|want|, floor) over one tensor.
// The floor (1e-3 of the largest reference gradient) matters only for
// tensors whose true gradient is zero, such as the attention pool's key
// bias (softmax ignores a shift shared by all keys): torch reports rounding
// noise there, which no relative comparison can match.
func gradRelErr(got, want []float32, floor float64) float64 {
	var d, s float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		s = math.Max(s, math.Abs(float64(want[i])))
		if math.IsNaN(float64(got[i])) {
			return math.NaN()
		}
	}
	return d / math.Max(s, floor)
}

// contrastiveBuild returns a train.BuildFunc computing InfoNCE over the
// CLIP logits of pixels (a parameter, so its gradient is reported) and
// the token rows.
func contrastiveBuild(m *Model, pixels *nn.Param, rows [][]int32) (train.BuildFunc, *TextBatch, error) {
	tb, err := m.Text.PrepareText(rows)
	if err != nil {
		return nil, nil, err
	}
	scale := &loss.LogitScale{Param: m.LogitScaleParam}
	return func(g *nn.Graph) ([]*G.Node, *G.Node, error) {
		ids, eot := m.Text.Inputs(g, tb.N, tb.Length)
		img := m.ImageGraph(g, g.Param(pixels))              // (N, E)
		txt := m.Text.Forward(g, ids, eot, tb.N, tb.Length)  // (N, E)
		logits := loss.Logits(g, img, txt, scale.Forward(g)) // (N, N)
		return []*G.Node{ids, eot}, loss.InfoNCE(g, logits), nil
	}, tb, nil
}

func TestGradMatchesPyTorch(t *testing.T) {
	for _, name := range []string{"vit", "rn"} {
		t.Run(name, func(t *testing.T) {
			ref, err := weights.Open(filepath.Join("testdata/grad", name+"_grads.safetensors"))
			if err != nil {
				t.Fatalf("%v (regenerate with clip/testdata/grad/gen.py)", err)
			}
			defer ref.Close()
			m := loadFixtureModel(t, name)
			// Graph.Param converts float64 copies through Param.Data, which
			// needs a vector: hold logit_scale as a one-element vector.
			m.LogitScaleParam = nn.NewParam("logit_scale", []float32{float32(math.Log(float64(m.LogitScale())))}, 1)
			pixData := npy(t, name+"_pixels")
			pixels := nn.NewParam("pixels", pixData.F32(), pixData.Shape...)
			// Parameters without a reference gradient are frozen: they get
			// no gradient nodes (the ResNet case freezes the text tower).
			want := map[*nn.Param][]float32{}
			for _, p := range append(m.Params(), pixels) {
				rt, ok := ref.Tensor("grad." + p.Name)
				if !ok {
					p.Frozen = true
					continue
				}
				d, err := rt.Float32()
				if err != nil {
					t.Fatal(err)
				}
				want[p] = d
			}
			if n := len(ref.Names()) - 1; len(want) != n {
				t.Fatalf("%d reference gradients match a parameter, file has %d", len(want), n)
			}
			var floor float64
			for _, w := range want {
				for _, x := range w {
					floor = math.Max(floor, 1e-3*math.Abs(float64(x)))
				}
			}
			lt, _ := ref.Tensor("loss")
			wantLoss, _ := lt.Float64()
			build, tb, err := contrastiveBuild(m, pixels, npyTokens(t, name+"_tokens")[:2])
			if err != nil {
				t.Fatal(err)
			}
			ids := tensor.New(tensor.WithShape(len(tb.IDs)), tensor.WithBacking(tb.IDs))
			eot := tensor.New(tensor.WithShape(len(tb.EOT)), tensor.WithBacking(tb.EOT))
			for _, c := range []struct {
				dt  tensor.Dtype
				tol float64
			}{{tensor.Float64, 1e-8}, {tensor.Float32, 1e-4}} {
				step, err := train.Compile(c.dt, build)
				if err != nil {
					t.Fatal(err)
				}
				if len(step.Params) != len(want) {
					t.Errorf("%v: %d trainable parameters, want %d", c.dt, len(step.Params), len(want))
				}
				l, grads, err := step.Run(ids, eot)
				step.Close()
				if err != nil {
					t.Fatal(err)
				}
				if d := math.Abs(l - wantLoss[0]); d > c.tol {
					t.Errorf("%v: loss %.10f, torch %.10f", c.dt, l, wantLoss[0])
				}
				worst, at := 0.0, ""
				for p, w := range want {
					e := gradRelErr(grads[p], w, floor)
					if !(e <= worst) {
						worst, at = e, p.Name
					}
				}
				msg := fmt.Sprintf("%v: loss %.8f (torch %.8f); %d gradients, worst relative error %.2g (%s)", c.dt, l, wantLoss[0], len(want), worst, at)
				if !(worst <= c.tol) {
					t.Errorf("%s exceeds %.0e", msg, c.tol)
				} else {
					t.Log(msg)
				}
			}
		})
	}
}
