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
	piece                  [numPieces]box            // boxes of the curve over t in [i/numPieces, (i+1)/numPieces]
	knot                   [numPieces + 1][2]float64 // B(i/numPieces)
}

// numPieces is how many sub-curves each curve is split into for culling.
const numPieces = 8

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
	h := 1.0 / numPieces
	x, y := s.at(1)
	s.knot[numPieces] = [2]float64{x, y}
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
		s.knot[i] = [2]float64{px, py}
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
// ok is false). Lines are projected exactly. Curves are sampled at the ends of
// the pieces whose boxes come within the limit, and the best sample is refined
// by Newton's method on g(t) = (B(t) - p)·B'(t), so t is a stationary point of
// the distance (or an end point), which the gradient relies on.
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
	d2, best, last := math.Inf(1), -1, -1
	for i := range s.piece {
		if s.piece[i].dist2(px, py) >= limit2 {
			continue
		}
		for k := max(i, last+1); k <= i+1; k++ {
			ex, ey := s.knot[k][0]-px, s.knot[k][1]-py
			if e := ex*ex + ey*ey; e < d2 {
				d2, best = e, k
			}
		}
		last = i + 1
	}
	if best < 0 {
		return 0, 0, false
	}
	t = float64(best) / numPieces
	tn := t
	for range 16 {
		x, y := s.at(tn)
		ex, ey := x-px, y-py
		dxt := (3*s.ax*tn+2*s.bx)*tn + s.cx // B'(t)
		dyt := (3*s.ay*tn+2*s.by)*tn + s.cy
		ddx := 6*s.ax*tn + 2*s.bx // B''(t)
		ddy := 6*s.ay*tn + 2*s.by
		g := ex*dxt + ey*dyt
		h := dxt*dxt + dyt*dyt + ex*ddx + ey*ddy
		if !(h > 0) {
			break
		}
		next := tn - g/h
		if next < 0 {
			next = 0
		} else if next > 1 {
			next = 1
		}
		step := next - tn
		tn = next
		if math.Abs(step) < 1e-9 { // quadratic convergence: t is now good to ~1e-18
			break
		}
	}
	x, y := s.at(tn)
	if e := (x-px)*(x-px) + (y-py)*(y-py); e <= d2 {
		t, d2 = tn, e
	}
	return t, d2, d2 < limit2
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
