package resnet

import (
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/goclip/goclip/internal/cnntest"
	"github.com/goclip/goclip/nn"
)

// Gradients against PyTorch autograd: testdata/grad/gen.py loads the small
// torchvision ResNets of testdata (Bottleneck and BasicBlock) in float64
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
	{"bottleneck", "wide_bottleneck.pth", "layer2"},
	{"basic", "basic.pth", "stem"},
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
	convBNParams := func(c *convBN) []*nn.Param {
		return []*nn.Param{c.Conv.Weight, c.BN.Weight, c.BN.Bias, c.BN.RunningMean, c.BN.RunningVar}
	}
	ps := convBNParams(&m.stem)
	for _, layer := range m.layers {
		for _, b := range layer {
			for i := range b.convs {
				ps = append(ps, convBNParams(&b.convs[i])...)
			}
			if b.downsample != nil {
				ps = append(ps, convBNParams(b.downsample)...)
			}
		}
	}
	if m.fc != nil {
		ps = append(ps, m.fc.Weight, m.fc.Bias)
	}
	return ps
}

func TestGradMatchesPyTorch(t *testing.T) {
	for _, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			f := cnntest.LoadFixture(t, filepath.Join("testdata", "grad", c.name+".safetensors"), "resnet/testdata/grad/gen.py")
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

			// Freeze all but layer4 and fc: only they and the pixels get
			// gradients, and the graph has no gradient nodes for the
			// frozen weights (fewer nodes).
			trainable := []*nn.Param{f.Input}
			for _, p := range modelParams(m) {
				p.Frozen = cnntest.IsRunningStat(p) || !(strings.HasPrefix(p.Name, "layer4.") || strings.HasPrefix(p.Name, "fc."))
				if !p.Frozen {
					trainable = append(trainable, p)
				}
			}
			part := cnntest.Check(t, f, build, tensor.Float32, gradTol32, trainable)
			if part >= full {
				t.Errorf("frozen up to layer3: %d graph nodes, all trainable: %d; want fewer", part, full)
			} else {
				t.Logf("graph nodes: %d frozen up to layer3, %d with all trainable", part, full)
			}
		})
	}
}
