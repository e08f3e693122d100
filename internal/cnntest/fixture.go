// Package cnntest holds the test helpers shared by goclip's CNN feature
// extractors (vgg, resnet): PyTorch reference fixtures and tolerances,
// random weights and images for benchmarks, and gradient fixtures compared
// with PyTorch autograd.
package cnntest

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/goclip/goclip/weights"
)

// Expected opens testdata/expected.safetensors of the calling package,
// written by its testdata/gen.py from torchvision in float64.
func Expected(t *testing.T) *weights.File {
	t.Helper()
	f, err := weights.Open(filepath.Join("testdata", "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Tensor reads the fixture tensor name as float32.
func Tensor(t *testing.T, f *weights.File, name string) *tensor.Dense {
	t.Helper()
	w, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("fixture has no %s", name)
	}
	v, err := w.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return tensor.New(tensor.WithShape(w.Shape...), tensor.WithBacking(v))
}

// AssertClose checks max|got-want| <= tol·max|want| and equal shapes; an
// all-zero reference is reported as a degenerate fixture.
func AssertClose(t *testing.T, what string, got, want *tensor.Dense, tol float64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: missing", what)
		return
	}
	if !got.Shape().Eq(want.Shape()) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
		return
	}
	g, w := got.Data().([]float32), want.Data().([]float32)
	var maxDiff, maxRef float64
	for i := range w {
		maxDiff = math.Max(maxDiff, math.Abs(float64(g[i])-float64(w[i])))
		maxRef = math.Max(maxRef, math.Abs(float64(w[i])))
	}
	if maxRef == 0 {
		t.Errorf("%s: reference is all zeros (degenerate fixture)", what)
		return
	}
	if maxDiff > tol*maxRef {
		t.Errorf("%s: max |diff| %.3g > %.0e × max |ref| %.3g", what, maxDiff, tol, maxRef)
	}
}

// ParamShape names one tensor of a model and its shape.
type ParamShape struct {
	Name  string
	Shape []int
}

// RandomWeights fills every tensor with He-scaled normal values
// (BatchNorm variances in [0.5, 1.5]), so no kernel can skip zeros.
func RandomWeights(shapes []ParamShape) *weights.Memory {
	r := rand.New(rand.NewPCG(1, 2))
	mem := weights.NewMemory()
	for _, p := range shapes {
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

// RandomImages is a (n, 3, s, s) batch of standard-normal pixels.
func RandomImages(n, s int) *tensor.Dense {
	r := rand.New(rand.NewPCG(3, 4))
	v := make([]float32, n*3*s*s)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return tensor.New(tensor.WithShape(n, 3, s, s), tensor.WithBacking(v))
}
