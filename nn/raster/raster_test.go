package raster

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randomStrokes draws CLIPasso-like strokes: a random start, then control
// points a cumulative random walk of the given step, in pixels.
func randomStrokes(rng *rand.Rand, scene Scene, step float64) (points, radii, colors []float64) {
	W, H := float64(scene.Width), float64(scene.Height)
	for _, p := range scene.Paths {
		x, y := rng.Float64()*W, rng.Float64()*H
		for range p.NumPoints() {
			points = append(points, x, y)
			x += step * (rng.Float64() - 0.5)
			y += step * (rng.Float64() - 0.5)
		}
		radii = append(radii, 0.5+2*rng.Float64())
		colors = append(colors, rng.Float64(), rng.Float64(), rng.Float64(), 0.3+0.7*rng.Float64())
	}
	return points, radii, colors
}

// weightedLoss is Σ wts·rgb, whose gradient with respect to rgb is wts.
func weightedLoss(t *testing.T, r *Renderer, wts, points, radii, colors []float64) float64 {
	t.Helper()
	rgb := make([]float64, len(wts))
	if err := r.Forward(rgb, nil, points, radii, colors); err != nil {
		t.Fatal(err)
	}
	s := 0.0
	for i, v := range rgb {
		s += v * wts[i]
	}
	return s
}

// checkGrads compares the analytic gradients with central finite differences
// for every parameter listed in idx (nil: all).
func checkGrads(t *testing.T, scene Scene, points, radii, colors []float64) {
	t.Helper()
	r, err := NewRenderer(scene)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	wts := make([]float64, 3*scene.Width*scene.Height)
	for i := range wts {
		wts[i] = rng.Float64()*2 - 1
	}
	dP, dR, dC := make([]float64, len(points)), make([]float64, len(radii)), make([]float64, len(colors))
	if err := r.Backward(dP, dR, dC, points, radii, colors, wts); err != nil {
		t.Fatal(err)
	}
	const h = 1e-6
	check := func(name string, xs, grad []float64) {
		bad, maxErr := 0, 0.0
		for i := range xs {
			x0 := xs[i]
			xs[i] = x0 + h
			lp := weightedLoss(t, r, wts, points, radii, colors)
			xs[i] = x0 - h
			lm := weightedLoss(t, r, wts, points, radii, colors)
			xs[i] = x0
			fd := (lp - lm) / (2 * h)
			e := math.Abs(fd-grad[i]) / math.Max(1, math.Abs(fd))
			maxErr = math.Max(maxErr, e)
			if e > 1e-5 {
				bad++
				t.Errorf("%s[%d]: analytic %.9g, finite difference %.9g", name, i, grad[i], fd)
			}
		}
		t.Logf("%s: %d values, max relative error %.2e", name, len(xs), maxErr)
	}
	check("points", points, dP)
	check("radii", radii, dR)
	check("colors", colors, dC)
	nonzero := 0
	for _, v := range dP {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero < len(dP)/2 {
		t.Errorf("only %d of %d point gradients are non-zero: the scene does not exercise the geometry", nonzero, len(dP))
	}
}

func TestGradientsCubicStrokes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	scene := StrokeScene(40, 32, 6, 1)
	points, radii, colors := randomStrokes(rng, scene, 30)
	// stroke 0 leaves the canvas on the left; strokes 1 and 2 overlap
	for i := 0; i < 8; i += 2 {
		points[i] -= 30
	}
	copy(points[8:16], []float64{5, 5, 30, 28, 10, 30, 35, 4})
	copy(points[16:24], []float64{4, 25, 20, 0, 30, 30, 36, 10})
	checkGrads(t, scene, points, radii, colors)
}

func TestGradientsMixedPaths(t *testing.T) {
	scene := Scene{Width: 36, Height: 30, Background: [4]float64{0.2, 0.5, 0.9, 0.7}, Paths: []Path{
		{Segments: []int{Line, Quadratic, Cubic}},
		{Segments: []int{Cubic, Line}, Closed: true},
		{Segments: []int{Quadratic}},
		{Segments: []int{Line}},
	}}
	points := []float64{
		3, 4, 15, 9, 28, 2, 20, 15, 30, 25, 10, 20, 33, 28, // line, quad, cubic
		8, 8, 25, 5, 30, 20, 12, 18, // closed: cubic, then a line back to the start
		-4, 10, 20, 40, 40, 12, // quad crossing the border
		20, 3, 22.5, 27.25, // line
	}
	radii := []float64{1.3, 0.8, 2.2, 0.3}
	colors := []float64{0.9, 0.1, 0.2, 0.8, 0.1, 0.7, 0.3, 1, 0.5, 0.5, 0.1, 0.6, 0, 0, 0, 0.9}
	checkGrads(t, scene, points, radii, colors)
}

func TestGradientsSupersampled(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	scene := StrokeScene(24, 24, 3, 2)
	scene.Samples = 3
	points, radii, colors := randomStrokes(rng, scene, 12)
	checkGrads(t, scene, points, radii, colors)
}

// A stroke whose control points coincide is a dot of radius r: its radius and
// colour gradients are ordinary, and so is moving the dot as a whole; the
// split of that gradient between its control points is one valid choice of
// subgradient (the distance is not differentiable in their spread).
func TestGradientsDegenerateStroke(t *testing.T) {
	scene := CLIPassoScene(2)
	scene.Width, scene.Height = 20, 20
	points := []float64{
		9.3, 10.6, 9.3, 10.6, 9.3, 10.6, 9.3, 10.6, // a dot
		2, 3, 14, 2, 8, 18, 19, 15,
	}
	radii := []float64{2.7, 1.1}
	colors := []float64{0.2, 0.4, 0.6, 0.9, 0.8, 0.1, 0.1, 0.7}
	r, err := NewRenderer(scene)
	if err != nil {
		t.Fatal(err)
	}
	wts := make([]float64, 3*20*20)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range wts {
		wts[i] = rng.Float64()
	}
	dP, dR, dC := make([]float64, len(points)), make([]float64, 2), make([]float64, 8)
	if err := r.Backward(dP, dR, dC, points, radii, colors, wts); err != nil {
		t.Fatal(err)
	}
	const h = 1e-6
	fd := func(move func(s float64)) float64 {
		move(h)
		lp := weightedLoss(t, r, wts, points, radii, colors)
		move(-2 * h)
		lm := weightedLoss(t, r, wts, points, radii, colors)
		move(h)
		return (lp - lm) / (2 * h)
	}
	for axis := range 2 {
		want := fd(func(s float64) {
			for k := range 4 {
				points[2*k+axis] += s
			}
		})
		got := dP[axis] + dP[2+axis] + dP[4+axis] + dP[6+axis]
		if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) || want == 0 {
			t.Errorf("dot translation axis %d: analytic %.9g, finite difference %.9g", axis, got, want)
		}
	}
	if want := fd(func(s float64) { radii[0] += s }); math.Abs(dR[0]-want) > 1e-5*math.Max(1, math.Abs(want)) {
		t.Errorf("dot radius: analytic %.9g, finite difference %.9g", dR[0], want)
	}
	for k := range 4 {
		if want := fd(func(s float64) { colors[k] += s }); math.Abs(dC[k]-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("dot colour %d: analytic %.9g, finite difference %.9g", k, dC[k], want)
		}
	}
}

// A horizontal line's box-filtered coverage is the exact area of each pixel
// inside the stroke, away from the caps: hand-checkable values, in both modes.
func TestHorizontalLineCoverage(t *testing.T) {
	for _, samples := range []int{0, 4} {
		scene := Scene{Width: 40, Height: 30, Samples: samples, Background: [4]float64{0, 0, 0, 0},
			Paths: []Path{{Segments: []int{Line}}}}
		points := []float64{5, 20.25, 35, 20.25} // stroke covers y in [18.75, 21.75]
		rgb, alpha, err := RenderImage(scene, points, []float64{1.5}, []float64{1, 0.5, 0.25, 0.8})
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]float64{17: 0, 18: 0.25, 19: 1, 20: 1, 21: 0.75, 22: 0}
		plane := 40 * 30
		for row, cov := range want {
			o := row*40 + 20
			if a := alpha[o]; math.Abs(a-0.8*cov) > 1e-12 {
				t.Errorf("samples %d row %d: alpha %v, want %v", samples, row, a, 0.8*cov)
			}
			// premultiplied over a transparent background
			if g := rgb[plane+o]; math.Abs(g-0.5*0.8*cov) > 1e-12 {
				t.Errorf("samples %d row %d: green %v, want %v", samples, row, g, 0.5*0.8*cov)
			}
		}
		if a := alpha[19*40+2]; a != 0 { // left of the round cap's reach (x < 3.5)
			t.Errorf("samples %d: pixel beyond the cap has alpha %v", samples, a)
		}
	}
}

// The closest-point search must find the global minimum on wild curves (loops,
// cusps, sharp turns): never worse than a dense search over 20001 values of t.
func TestClosestPointGlobal(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	missed := 0
	for c := range 60 {
		s := seg{deg: 2 + c%2, idx: [4]int{0, 1, 2, 3}}
		pts := make([]float64, 8)
		for i := range pts {
			pts[i] = 40 * rng.Float64()
		}
		s.set(pts)
		var dense [20001][2]float64
		for k := range dense {
			dense[k][0], dense[k][1] = s.at(float64(k) / 20000)
		}
		for range 40 {
			px, py := 40*rng.Float64(), 40*rng.Float64()
			tt, d2, ok := s.closest(px, py, math.Inf(1))
			best := math.Inf(1)
			for _, q := range dense {
				best = math.Min(best, (q[0]-px)*(q[0]-px)+(q[1]-py)*(q[1]-py))
			}
			if !ok || math.Sqrt(d2) > math.Sqrt(best)+1e-9 {
				missed++
				t.Errorf("curve %d (degree %d), p = (%.3f, %.3f): distance %.9g at t=%.6f, dense search finds %.9g", c, s.deg, px, py, math.Sqrt(d2), tt, math.Sqrt(best))
			}
		}
	}
	t.Logf("%d of 2400 queries missed the global minimum", missed)
}
