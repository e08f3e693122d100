package resnet

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/goclip/goclip/internal/cnntest"
	"github.com/goclip/goclip/nn/sgemm"
	"github.com/goclip/goclip/weights"
)

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

// randomWeights fills every tensor of cfg with random values (see
// cnntest.RandomWeights).
func randomWeights(cfg Config) *weights.Memory {
	var shapes []cnntest.ParamShape
	for _, p := range cfg.ParamShapes() {
		shapes = append(shapes, cnntest.ParamShape(p))
	}
	return cnntest.RandomWeights(shapes)
}
