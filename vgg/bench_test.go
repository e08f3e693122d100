package vgg

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

func randomImages(n, s int) *tensor.Dense {
	r := rand.New(rand.NewPCG(3, 4))
	v := make([]float32, n*3*s*s)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return tensor.New(tensor.WithShape(n, 3, s, s), tensor.WithBacking(v))
}

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
				x := randomImages(n, 224)
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
	p, err := NewPerceptual(m, PerceptualConfig{Distance: L2, Layers: layers}, randomImages(1, 224))
	if err != nil {
		b.Fatal(err)
	}
	x := randomImages(1, 224)
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
