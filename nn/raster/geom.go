package raster

import "math"

// seg is one segment's control points as polynomial coefficients,
// B(t) = ((a·t + b)·t + c)·t + d, with its control-point bounding box.
type seg struct {
	deg                    int    // 1 line, 2 quadratic, 3 cubic
	idx                    [4]int // point indices of the control points
	ax, ay, bx, by         float64
	cx, cy, dx, dy         float64
	minx, miny, maxx, maxy float64
	piece                  [numPieces]box           // boxes of the curve over t in [i/numPieces, (i+1)/numPieces]
	knot                   [numKnots + 1][4]float64 // B and B' at t = k/numKnots
}

// numPieces is how many sub-curves each curve is split into for culling;
// the closest-point search scans subSteps sub-intervals of each.
const (
	numPieces = 8
	subSteps  = 4
	numKnots  = numPieces * subSteps
)

// box is an axis-aligned bounding box.
type box struct{ minx, miny, maxx, maxy float64 }

// dist2 is the squared distance from (px, py) to the box.
func (b *box) dist2(px, py float64) float64 {
	return gap2(px, py, b.minx, b.miny, b.maxx, b.maxy)
}

// gap2 is the squared distance from (px, py) to a box (plain comparisons:
// this is the innermost culling test).
func gap2(px, py, minx, miny, maxx, maxy float64) float64 {
	dx, dy := 0.0, 0.0
	if px < minx {
		dx = minx - px
	} else if px > maxx {
		dx = px - maxx
	}
	if py < miny {
		dy = miny - py
	} else if py > maxy {
		dy = py - maxy
	}
	return dx*dx + dy*dy
}

// set loads the control points of s from pts and builds its coefficients.
func (s *seg) set(pts []float64) {
	x0, y0 := pts[2*s.idx[0]], pts[2*s.idx[0]+1]
	x1, y1 := pts[2*s.idx[1]], pts[2*s.idx[1]+1]
	s.minx, s.maxx = math.Min(x0, x1), math.Max(x0, x1)
	s.miny, s.maxy = math.Min(y0, y1), math.Max(y0, y1)
	switch s.deg {
	case 1:
		s.ax, s.ay, s.bx, s.by = 0, 0, 0, 0
		s.cx, s.cy = x1-x0, y1-y0
		s.dx, s.dy = x0, y0
	case 2:
		x2, y2 := pts[2*s.idx[2]], pts[2*s.idx[2]+1]
		s.grow(x2, y2)
		s.ax, s.ay = 0, 0
		s.bx, s.by = x0-2*x1+x2, y0-2*y1+y2
		s.cx, s.cy = 2*(x1-x0), 2*(y1-y0)
		s.dx, s.dy = x0, y0
	case 3:
		x2, y2 := pts[2*s.idx[2]], pts[2*s.idx[2]+1]
		x3, y3 := pts[2*s.idx[3]], pts[2*s.idx[3]+1]
		s.grow(x2, y2)
		s.grow(x3, y3)
		s.ax, s.ay = -x0+3*x1-3*x2+x3, -y0+3*y1-3*y2+y3
		s.bx, s.by = 3*x0-6*x1+3*x2, 3*y0-6*y1+3*y2
		s.cx, s.cy = 3*(x1-x0), 3*(y1-y0)
		s.dx, s.dy = x0, y0
	}
	s.setPieces()
}

// setPieces bounds each sub-curve by the box of its own Bézier control points
// (the convex hull property): over [t0, t0+h] the curve is the cubic
// polynomial with coefficients a·h³, (3a·t0 + b)·h², B'(t0)·h, B(t0).
func (s *seg) setPieces() {
	if s.deg == 1 {
		return
	}
	for k := range s.knot {
		t := float64(k) / numKnots
		x, y := s.at(t)
		dx, dy := s.deriv(t)
		s.knot[k] = [4]float64{x, y, dx, dy}
	}
	h := 1.0 / numPieces
	for i := range s.piece {
		t0 := float64(i) * h
		px, py := s.at(t0)
		cx := ((3*s.ax*t0+2*s.bx)*t0 + s.cx) * h
		cy := ((3*s.ay*t0+2*s.by)*t0 + s.cy) * h
		bx := (3*s.ax*t0 + s.bx) * h * h
		by := (3*s.ay*t0 + s.by) * h * h
		ax, ay := s.ax*h*h*h, s.ay*h*h*h
		x1, y1 := px+cx/3, py+cy/3
		x2, y2 := px+2*cx/3+bx/3, py+2*cy/3+by/3
		x3, y3 := px+cx+bx+ax, py+cy+by+ay
		s.piece[i] = box{
			math.Min(math.Min(px, x1), math.Min(x2, x3)), math.Min(math.Min(py, y1), math.Min(y2, y3)),
			math.Max(math.Max(px, x1), math.Max(x2, x3)), math.Max(math.Max(py, y1), math.Max(y2, y3)),
		}
	}
}

func (s *seg) grow(x, y float64) {
	s.minx, s.maxx = math.Min(s.minx, x), math.Max(s.maxx, x)
	s.miny, s.maxy = math.Min(s.miny, y), math.Max(s.maxy, y)
}

// deriv evaluates B'(t).
func (s *seg) deriv(t float64) (x, y float64) {
	return (3*s.ax*t+2*s.bx)*t + s.cx, (3*s.ay*t+2*s.by)*t + s.cy
}

// at evaluates B(t).
func (s *seg) at(t float64) (x, y float64) {
	x = ((s.ax*t+s.bx)*t+s.cx)*t + s.dx
	y = ((s.ay*t+s.by)*t+s.cy)*t + s.dy
	return x, y
}

// boxDist2 is the squared distance from (px, py) to the control-point box,
// a lower bound on the squared distance to the segment (convex hull property).
func (s *seg) boxDist2(px, py float64) float64 {
	return gap2(px, py, s.minx, s.miny, s.maxx, s.maxy)
}

// closest returns the parameter t in [0, 1] of the point of the segment
// closest to (px, py) and the squared distance d2 to it, if d2 < limit2 (else
// ok is false). Lines are projected exactly. On curves, the local minima of
// f(t) = |B(t) - p|²/2 are where g = f' = (B - p)·B' changes sign from - to +:
// g is scanned at the knots of the pieces whose boxes come within the limit,
// each such bracket is refined by safeguarded Newton, and the ends t = 0 and
// t = 1 are candidates too. The result is a stationary point of the distance
// (or an end point), which the gradient relies on.
func (s *seg) closest(px, py, limit2 float64) (t, d2 float64, ok bool) {
	if s.boxDist2(px, py) >= limit2 {
		return 0, 0, false
	}
	if s.deg == 1 {
		ex, ey := px-s.dx, py-s.dy
		l2 := s.cx*s.cx + s.cy*s.cy
		if l2 > 0 {
			t = math.Max(0, math.Min(1, (ex*s.cx+ey*s.cy)/l2))
		}
		qx, qy := ex-s.cx*t, ey-s.cy*t
		d2 = qx*qx + qy*qy
		return t, d2, d2 < limit2
	}
	d2 = math.Inf(1)
	for i := range s.piece {
		if s.piece[i].dist2(px, py) >= limit2 {
			continue
		}
		k0 := i * subSteps
		kn := &s.knot[k0]
		ex, ey := kn[0]-px, kn[1]-py
		e0, g0 := ex*ex+ey*ey, ex*kn[2]+ey*kn[3]
		if e0 < d2 { // knots are fallbacks; t = 0 is a true candidate
			t, d2 = float64(k0)/numKnots, e0
		}
		for k := k0 + 1; k <= k0+subSteps; k++ {
			kn = &s.knot[k]
			ex, ey = kn[0]-px, kn[1]-py
			e1, g1 := ex*ex+ey*ey, ex*kn[2]+ey*kn[3]
			if e1 < d2 {
				t, d2 = float64(k)/numKnots, e1
			}
			if g0 < 0 && g1 > 0 {
				if tr, er := s.refine(px, py, float64(k-1)/numKnots, float64(k)/numKnots); er < d2 {
					t, d2 = tr, er
				}
			}
			g0 = g1
		}
	}
	return t, d2, d2 < limit2
}

// refine finds the root of g(t) = (B(t) - p)·B'(t) in [lo, hi], where
// g(lo) < 0 < g(hi), by Newton steps kept inside the shrinking bracket
// (bisection when a step leaves it), and returns it with its squared distance.
func (s *seg) refine(px, py, lo, hi float64) (t, d2 float64) {
	t = 0.5 * (lo + hi)
	for range 50 {
		x, y := s.at(t)
		ex, ey := x-px, y-py
		dx, dy := s.deriv(t)
		ddx, ddy := 6*s.ax*t+2*s.bx, 6*s.ay*t+2*s.by
		g := ex*dx + ey*dy
		if g < 0 {
			lo = t
		} else {
			hi = t
		}
		h := dx*dx + dy*dy + ex*ddx + ey*ddy
		next := t - g/h
		if !(h > 0) || !(next > lo && next < hi) {
			next = 0.5 * (lo + hi)
		}
		step := next - t
		t = next
		if math.Abs(step) < 1e-10 || hi-lo < 1e-14 { // Newton: t is now good to ~1e-18
			break
		}
	}
	x, y := s.at(t)
	return t, (x-px)*(x-px) + (y-py)*(y-py)
}

// bernstein returns the weights of the control points in B(t).
func (s *seg) bernstein(t float64) (w [4]float64) {
	u := 1 - t
	switch s.deg {
	case 1:
		w[0], w[1] = u, t
	case 2:
		w[0], w[1], w[2] = u*u, 2*u*t, t*t
	case 3:
		w[0], w[1], w[2], w[3] = u*u*u, 3*u*u*t, 3*u*t*t, t*t*t
	}
	return w
}

// coverage is the box-filtered coverage of a stroke of radius r at distance d
// from its centre line, for a filter of half width hw, with its derivatives.
func coverage(d, r, hw float64) (cov, dd, dr float64) {
	hi, lo := d+hw, d-hw
	dHi, dLo := 1.0, 1.0 // d hi/d d, d lo/d d
	rHi, rLo := 0.0, 0.0 // d hi/d r, d lo/d r
	if r < hi {
		hi, dHi, rHi = r, 0, 1
	}
	if -r > lo {
		lo, dLo, rLo = -r, 0, -1
	}
	w := 2 * hw
	cov = (hi - lo) / w
	if cov <= 0 {
		return 0, 0, 0
	}
	return cov, (dHi - dLo) / w, (rHi - rLo) / w
}
