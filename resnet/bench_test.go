package resnet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/goclip/goclip/nn/sgemm"

	"github.com/goclip/goclip/weights"
)

// randomWeights fills every tensor of cfg with He-scaled normal values
// (BatchNorm variances in [0.5, 1.5]), so no kernel can skip zeros.
func randomWeights(cfg Config) *weights.Memory {
	r := rand.New(rand.NewPCG(1, 2))
	mem := weights.NewMemory()
	for _, p := range cfg.ParamShapes() {
		n := 1
		for _, d := range p.Shape {
			n *= d
		}
		v := make([]float32, n)
		scale := 0.1
		if len(p.Shape) > 1 {
			scale = math.Sqrt(2 / float64(n/p.Shape[0]))
		}
		for i := range v {
			if strings.HasSuffix(p.Name, "running_var") {
				v[i] = float32(0.5 + r.Float64())
			} else {
				v[i] = float32(r.NormFloat64() * scale)
			}
		}
		mem.Add(weights.NewFloat32(p.Name, p.Shape, v))
	}
	return mem
}

// BenchmarkResNet50 times ResNet-50's forward pass to the logits at 224×224
// (random weights).
func BenchmarkResNet50(b *testing.B) {
	m, err := New(ResNet50, randomWeights(ResNet50))
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, blas := range blasChoices {
		for _, n := range []int{1, 8} {
			b.Run(fmt.Sprintf("blas=%s/batch=%d", blas.name, n), func(b *testing.B) {
				blas.use()
				v := make([]float32, n*3*224*224)
				for i := range v {
					v[i] = float32(r.NormFloat64())
				}
				x := tensor.New(tensor.WithShape(n, 3, 224, 224), tensor.WithBacking(v))
				if _, err := m.Run(x); err != nil { // compile and warm up
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if _, err := m.Run(x); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*n), "ms/image")
			})
		}
	}
}

// blasChoices are the BLAS back ends Gorgonia's own ops (Conv2d's im2col
// product) can use: gonum (the default) and nn/sgemm's kernels.
var blasChoices = []struct {
	name string
	use  func()
}{
	{"gonum", func() { G.Use(gonum.Implementation{}) }},
	{"sgemm", sgemm.Use},
}
