package vgg

import (
	"fmt"
	"testing"

	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"

	"github.com/goclip/goclip/internal/cnntest"
	"github.com/goclip/goclip/nn/sgemm"
	"github.com/goclip/goclip/weights"
)

// BenchmarkVGG16Relu3_3 times VGG16's features up to relu3_3 at 224×224
// (random weights; the classifier is left out, Forward builds only up to the tap).
func BenchmarkVGG16Relu3_3(b *testing.B) {
	cfg := VGG16
	cfg.Hidden, cfg.NumClasses = 0, 0
	m, err := New(cfg, randomWeights(cfg))
	if err != nil {
		b.Fatal(err)
	}
	for _, blas := range blasChoices {
		for _, n := range []int{1, 8} {
			b.Run(fmt.Sprintf("blas=%s/batch=%d", blas.name, n), func(b *testing.B) {
				blas.use()
				x := cnntest.RandomImages(n, 224)
				if _, err := m.Run(x, "relu3_3"); err != nil { // compile and warm up
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if _, err := m.Run(x, "relu3_3"); err != nil {
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

// BenchmarkPerceptualVGG16 times one loss-and-input-gradient evaluation of an
// L2 perceptual loss over relu1_2, relu2_2 and relu3_3 at 1×3×224×224.
func BenchmarkPerceptualVGG16(b *testing.B) {
	cfg := VGG16
	cfg.Hidden, cfg.NumClasses = 0, 0
	m, err := New(cfg, randomWeights(cfg))
	if err != nil {
		b.Fatal(err)
	}
	layers := []LayerWeight{{"relu1_2", 1}, {"relu2_2", 1}, {"relu3_3", 1}}
	p, err := NewPerceptual(m, PerceptualConfig{Distance: L2, Layers: layers}, cnntest.RandomImages(1, 224))
	if err != nil {
		b.Fatal(err)
	}
	x := cnntest.RandomImages(1, 224)
	if _, _, err := p.Eval(x); err != nil { // warm up
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, _, err := p.Eval(x); err != nil {
			b.Fatal(err)
		}
	}
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
