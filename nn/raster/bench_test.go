package raster

import (
	"math/rand/v2"
	"testing"
)

// benchFwdBwd renders numStrokes single-cubic strokes of radius 1.5 whose
// control points wander step px from a random start.
func benchFwdBwd(b *testing.B, size, numStrokes int, step float64) {
	scene := StrokeScene(size, size, numStrokes, 1)
	points, radii, colors := randomStrokes(rand.New(rand.NewPCG(1, 1)), scene, step)
	for i := range radii {
		radii[i] = 1.5
	}
	r, err := NewRenderer(scene)
	if err != nil {
		b.Fatal(err)
	}
	rgb := make([]float64, 3*size*size)
	dRGB := make([]float64, 3*size*size)
	for i := range dRGB {
		dRGB[i] = 1
	}
	dP, dR, dC := make([]float64, len(points)), make([]float64, len(radii)), make([]float64, len(colors))
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Forward(rgb, nil, points, radii, colors); err != nil {
			b.Fatal(err)
		}
		if err := r.Backward(dP, dR, dC, points, radii, colors, dRGB); err != nil {
			b.Fatal(err)
		}
	}
}

// CLIPasso's initial strokes: control points within ±0.05·224/2 px per step.
func BenchmarkFwdBwd16x224Init(b *testing.B) { benchFwdBwd(b, 224, 16, 11.2) }

// Longer strokes, as after optimisation (about 4× the initial extent).
func BenchmarkFwdBwd16x224Long(b *testing.B) { benchFwdBwd(b, 224, 16, 45) }

func BenchmarkFwdBwd256x512(b *testing.B) { benchFwdBwd(b, 512, 256, 45) }
