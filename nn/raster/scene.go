// Package raster is a differentiable vector rasterizer for stroked Bézier paths.
//
// A Scene fixes the canvas and the structure of each path (how many segments,
// and of which degree); the geometry lives in plain slices so it can be
// optimised: points (N, 2) in pixel coordinates (x right, y down, the pixel
// (i, j) covers [i, i+1)×[j, j+1)), radii (P) (half the drawn stroke width,
// diffvg's convention) and straight RGBA colours (P, 4). Strokes have round
// caps and joins, are composited in path order with the "over" operator onto
// the background, and the output is an RGB image (3, H, W) plus alpha, in [0, 1].
//
// Coverage is analytic: for a sample at distance d from the stroke's centre
// line, coverage is the overlap of a box filter of width w with the stroke's
// cross-section [-r, r], divided by w. With Samples ≤ 1 there is one sample per
// pixel centre and w = 1 px (prefiltered anti-aliasing). With Samples = n ≥ 2
// each pixel has n×n samples on a regular grid, each filtered with w = 1/n px,
// composited per sample and averaged (supersampling). Both modes are
// differentiable almost everywhere: gradients with respect to points, radii and
// colours are analytic, flowing through the closest point on the curve
// (envelope theorem), and are exposed as a Gorgonia op by Render. Coverage is
// piecewise linear in the distance, so gradients vanish where a sample is
// fully inside or outside a stroke; a stroke whose radius is ≤ -w/2 draws
// nothing and gets no gradient; colours are not clamped. For a stroke whose
// control points coincide (a dot) the split of the point gradient among its
// control points is one subgradient; their sum is the exact gradient.
//
// Speed comes from culling: each curve is split into 8 pieces bounded by the
// boxes of their own control points, rows are visited only where a piece's
// box reaches them, and rows run in parallel (GOMAXPROCS goroutines).
package raster

import (
	"fmt"
	"math"
)

// Segment degrees, as the number of interior control points (diffvg's
// num_control_points convention).
const (
	Line      = 0 // 2 points
	Quadratic = 1 // 3 points
	Cubic     = 2 // 4 points
)

// Path is the structure of one stroked path: its segments, in order, each
// sharing its first point with the previous segment's last point.
type Path struct {
	Segments []int // per segment: Line, Quadratic or Cubic
	Closed   bool  // the last segment ends at the path's first point
}

// NumPoints is the number of points the path takes from the points array.
func (p Path) NumPoints() int {
	n := 0
	for _, s := range p.Segments {
		n += s + 1
	}
	if !p.Closed {
		n++
	}
	return n
}

// Scene fixes everything about a rendering except the optimisable geometry.
type Scene struct {
	Width, Height int
	Paths         []Path
	Background    [4]float64 // straight RGBA in [0, 1]; output RGB is premultiplied by the final alpha
	Samples       int        // ≤ 1: prefiltered, one sample per pixel; n ≥ 2: n×n samples per pixel
}

// MaxSamples bounds Scene.Samples.
const MaxSamples = 16

// maxSide bounds the canvas side.
const maxSide = 1 << 14

// White is an opaque white background.
var White = [4]float64{1, 1, 1, 1}

// StrokeScene is a width×height white canvas with numStrokes open paths of
// segments cubic segments each.
func StrokeScene(width, height, numStrokes, segments int) Scene {
	paths := make([]Path, numStrokes)
	for i := range paths {
		segs := make([]int, segments)
		for j := range segs {
			segs[j] = Cubic
		}
		paths[i] = Path{Segments: segs}
	}
	return Scene{Width: width, Height: height, Paths: paths, Background: White}
}

// CLIPassoScene is CLIPasso's canvas: 224×224, white, numStrokes strokes of one
// cubic segment (4 control points) each.
func CLIPassoScene(numStrokes int) Scene {
	return StrokeScene(224, 224, numStrokes, 1)
}

// NumPoints is the number of (x, y) points the scene's paths take.
func (s Scene) NumPoints() int {
	n := 0
	for _, p := range s.Paths {
		n += p.NumPoints()
	}
	return n
}

// Validate reports the first problem with the scene.
func (s Scene) Validate() error {
	if s.Width <= 0 || s.Height <= 0 || s.Width > maxSide || s.Height > maxSide {
		return fmt.Errorf("raster: canvas %d×%d: each side must be in [1, %d]", s.Width, s.Height, maxSide)
	}
	if s.Samples < 0 || s.Samples > MaxSamples {
		return fmt.Errorf("raster: samples %d: must be in [0, %d]", s.Samples, MaxSamples)
	}
	for i, v := range s.Background {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("raster: background[%d] = %v: must be in [0, 1]", i, v)
		}
	}
	for i, p := range s.Paths {
		if len(p.Segments) == 0 {
			return fmt.Errorf("raster: path %d has no segments", i)
		}
		for j, d := range p.Segments {
			if d < Line || d > Cubic {
				return fmt.Errorf("raster: path %d segment %d: degree code %d: want 0 (line), 1 (quadratic) or 2 (cubic)", i, j, d)
			}
		}
	}
	return nil
}

// checkInputs validates slice lengths and values against the scene.
func (s Scene) checkInputs(points, radii, colors []float64) error {
	n, p := s.NumPoints(), len(s.Paths)
	if len(points) != 2*n {
		return fmt.Errorf("raster: points has %d values, want %d (%d points × 2)", len(points), 2*n, n)
	}
	if len(radii) != p {
		return fmt.Errorf("raster: radii has %d values, want %d (one per path)", len(radii), p)
	}
	if len(colors) != 4*p {
		return fmt.Errorf("raster: colors has %d values, want %d (%d paths × RGBA)", len(colors), 4*p, p)
	}
	for i, v := range points {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("raster: point %d coordinate %d is %v", i/2, i%2, v)
		}
	}
	for i, v := range radii {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("raster: radius %d is %v", i, v)
		}
	}
	for i, v := range colors {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("raster: color %d channel %d is %v", i/4, i%4, v)
		}
	}
	return nil
}
