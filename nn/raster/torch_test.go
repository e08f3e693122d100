package raster

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// torchRef is testdata/torch_ref.json, written by testdata/gen.py.
type torchRef struct {
	Width, Height int
	Background    [4]float64
	Paths         []struct {
		Segments []int
		Closed   bool
	}
	Cases []struct {
		Samples                  int
		Points, Radii, Colors    []float64
		Weights, Image           []float64
		DPoints, DRadii, DColors []float64 `json:"-"`
		DPointsJ                 []float64 `json:"d_points"`
		DRadiiJ                  []float64 `json:"d_radii"`
		DColorsJ                 []float64 `json:"d_colors"`
	}
}

// The renderer and its hand-written backward against an independent PyTorch
// implementation of the same model with autograd gradients (float64).
func TestAgainstTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/torch_ref.json")
	if err != nil {
		t.Fatalf("reference missing (run /usr/bin/python3 nn/raster/testdata/gen.py): %v", err)
	}
	var ref torchRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	scene := Scene{Width: ref.Width, Height: ref.Height, Background: ref.Background}
	for _, p := range ref.Paths {
		scene.Paths = append(scene.Paths, Path{Segments: p.Segments, Closed: p.Closed})
	}
	for _, c := range ref.Cases {
		scene.Samples = c.Samples
		img, _, err := RenderImage(scene, c.Points, c.Radii, c.Colors)
		if err != nil {
			t.Fatal(err)
		}
		dP, dR, dC, err := Backward(scene, c.Points, c.Radii, c.Colors, c.Weights)
		if err != nil {
			t.Fatal(err)
		}
		for _, cmp := range []struct {
			name      string
			got, want []float64
			tol       float64
		}{
			{"image", img, c.Image, 1e-12},
			{"d_points", dP, c.DPointsJ, 1e-8},
			{"d_radii", dR, c.DRadiiJ, 1e-8},
			{"d_colors", dC, c.DColorsJ, 1e-8},
		} {
			if len(cmp.got) != len(cmp.want) {
				t.Fatalf("samples %d %s: %d values, reference has %d", c.Samples, cmp.name, len(cmp.got), len(cmp.want))
			}
			scale, diff, nonzero := 0.0, 0.0, 0
			for i := range cmp.got {
				scale = math.Max(scale, math.Abs(cmp.want[i]))
				diff = math.Max(diff, math.Abs(cmp.got[i]-cmp.want[i]))
				if cmp.want[i] != 0 {
					nonzero++
				}
			}
			t.Logf("samples %d %-8s: max |diff| %.2e (max |ref| %.3g, %d of %d non-zero)", c.Samples, cmp.name, diff, scale, nonzero, len(cmp.want))
			if diff > cmp.tol*math.Max(1, scale) || nonzero == 0 {
				t.Errorf("samples %d %s: max |diff| %.3g exceeds %.0e·max(1, %.3g)", c.Samples, cmp.name, diff, cmp.tol, scale)
			}
		}
	}
}
