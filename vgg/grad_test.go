package vgg

import (
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/goclip/goclip/internal/cnntest"
	"github.com/goclip/goclip/nn"
)

// Gradients against PyTorch autograd: testdata/grad/gen.py loads the small
// torchvision VGGs of testdata (plain VGG16 and VGG11-BN layouts) in float64
// eval mode and writes the gradients of
//
//	loss = Σ w ⊙ logits + Σ v ⊙ tap
//
// with respect to the pixels and every parameter. The Go side builds the
// same loss with Forward and compiles it with nn/train (gradients of the
// trainable parameters only), in float64 and float32.

// gradCase is one fixture of testdata/grad.
type gradCase struct {
	name, checkpoint, tap string
}

var gradCases = []gradCase{
	{"vgg16s", "vgg16s.pth", "relu2_2"},
	{"vgg11bns", "vgg11bns.pth", "bn3_1"},
}

// Tolerances on gradRelErr. The reference gradients are stored as float32,
// so even a float64 graph differs by float32 rounding (≈ 6e-8 of each value).
const (
	gradTol64 = 1e-6
	gradTol32 = 1e-4
)

// modelParams lists every parameter of m (BatchNorm running statistics
// included), in network order.
func modelParams(m *Model) []*nn.Param {
	var ps []*nn.Param
	for _, l := range m.features {
		switch {
		case l.conv != nil:
			ps = append(ps, l.conv.Weight, l.conv.Bias)
		case l.bn != nil:
			ps = append(ps, l.bn.Weight, l.bn.Bias, l.bn.RunningMean, l.bn.RunningVar)
		}
	}
	for _, c := range m.classifier {
		ps = append(ps, c.Weight, c.Bias)
	}
	return ps
}

func TestGradMatchesPyTorch(t *testing.T) {
	for _, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			f := cnntest.LoadFixture(t, filepath.Join("testdata", "grad", c.name+".safetensors"), "vgg/testdata/grad/gen.py")
			m, err := Load(filepath.Join("testdata", c.checkpoint))
			if err != nil {
				t.Fatal(err)
			}
			// Every parameter torch lists is trainable; the running
			// statistics stay frozen (torch gives them no gradient).
			all := []*nn.Param{f.Input}
			for _, p := range modelParams(m) {
				p.Frozen = cnntest.IsRunningStat(p)
				if !p.Frozen {
					all = append(all, p)
				}
			}
			if len(all) != len(f.WantGrad) {
				t.Fatalf("%d trainable parameters, fixture has %d gradients", len(all), len(f.WantGrad))
			}
			build := cnntest.Build(m, f, c.tap)
			full := cnntest.Check(t, f, build, tensor.Float64, gradTol64, all)
			cnntest.Check(t, f, build, tensor.Float32, gradTol32, all)

			// Freeze the features: only the classifier and the pixels get
			// gradients, and the graph has no gradient nodes for the
			// convolution weights (fewer nodes).
			trainable := []*nn.Param{f.Input}
			for _, p := range modelParams(m) {
				p.Frozen = !strings.HasPrefix(p.Name, "classifier.")
				if !p.Frozen {
					trainable = append(trainable, p)
				}
			}
			part := cnntest.Check(t, f, build, tensor.Float32, gradTol32, trainable)
			if part >= full {
				t.Errorf("frozen features: %d graph nodes, all trainable: %d; want fewer", part, full)
			} else {
				t.Logf("graph nodes: %d with frozen features, %d with all trainable", part, full)
			}
		})
	}
}
