package raster

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// Renderer renders one Scene repeatedly, forward and backward, reusing its
// buffers: after the first call neither pass allocates beyond its goroutines.
// A Renderer is not safe for concurrent use.
type Renderer struct {
	scene     Scene
	n         int     // samples per pixel side
	hw        float64 // filter half width, px
	numPoints int
	segs      []seg // all segments of all paths
	pathSeg   []int // path i owns segs[pathSeg[i]:pathSeg[i+1]]
	bbox      []sbox
	bgC       [3]float64 // premultiplied background
	bgA       float64

	// per call
	points, radii, colors, dRGB []float64
	rgb, alpha                  []float64
	backward                    bool
	workers                     []*worker
	wg                          sync.WaitGroup
}

// sbox is a path's footprint in sample indices (inclusive; empty if x0 > x1).
type sbox struct{ x0, x1, y0, y1 int }

// worker owns the buffers of one goroutine.
type worker struct {
	acc    []float64 // per sample of the current sample row: premultiplied RGB, alpha
	pix    []float64 // per pixel of the current row: RGBA sums
	g      []float64 // per sample: dL/d(RGB)
	recs   []rec
	gPts   []float64
	gRad   []float64
	gCol   []float64
	active []int
	spans  [][2]int
}

// rec is one (sample, path) pair with non-zero coverage, kept for backward.
type rec struct {
	s, path, seg       int
	t, cov, dcdd, dcdr float64
	ux, uy             float64    // unit vector from the closest point to the sample
	prev               [3]float64 // composite before this path
}

// NewRenderer validates the scene and allocates the renderer's buffers.
func NewRenderer(scene Scene) (*Renderer, error) {
	if err := scene.Validate(); err != nil {
		return nil, err
	}
	r := &Renderer{scene: scene, n: max(scene.Samples, 1), numPoints: scene.NumPoints()}
	r.hw = 0.5 / float64(r.n)
	r.pathSeg = make([]int, len(scene.Paths)+1)
	first := 0
	for i, p := range scene.Paths {
		r.pathSeg[i] = len(r.segs)
		cur := first
		for j, d := range p.Segments {
			s := seg{deg: d + 1}
			for k := 0; k <= d+1; k++ {
				s.idx[k] = cur + k
			}
			if p.Closed && j == len(p.Segments)-1 {
				s.idx[d+1] = first
			}
			cur += d + 1
			r.segs = append(r.segs, s)
		}
		first += p.NumPoints()
	}
	r.pathSeg[len(scene.Paths)] = len(r.segs)
	r.bbox = make([]sbox, len(scene.Paths))
	bg := scene.Background
	r.bgC = [3]float64{bg[0] * bg[3], bg[1] * bg[3], bg[2] * bg[3]}
	r.bgA = bg[3]
	nw := max(1, min(runtime.GOMAXPROCS(0), scene.Height))
	ws := scene.Width * r.n
	for range nw {
		r.workers = append(r.workers, &worker{
			acc:    make([]float64, 4*ws),
			pix:    make([]float64, 4*scene.Width),
			g:      make([]float64, 3*ws),
			gPts:   make([]float64, 2*r.numPoints),
			gRad:   make([]float64, len(scene.Paths)),
			gCol:   make([]float64, 4*len(scene.Paths)),
			active: make([]int, 0, len(scene.Paths)),
		})
	}
	return r, nil
}

// Scene returns the renderer's scene.
func (r *Renderer) Scene() Scene { return r.scene }

// Forward renders into rgb (3·H·W, planar, premultiplied by the final alpha)
// and, if alpha is not nil, alpha (H·W).
func (r *Renderer) Forward(rgb, alpha, points, radii, colors []float64) error {
	hw := r.scene.Height * r.scene.Width
	if len(rgb) != 3*hw {
		return fmt.Errorf("raster: forward: rgb has %d values, want %d (3×%d×%d)", len(rgb), 3*hw, r.scene.Height, r.scene.Width)
	}
	if alpha != nil && len(alpha) != hw {
		return fmt.Errorf("raster: forward: alpha has %d values, want %d", len(alpha), hw)
	}
	if err := r.setup(points, radii, colors); err != nil {
		return err
	}
	r.rgb, r.alpha, r.backward = rgb, alpha, false
	r.run()
	return nil
}

// Backward computes the gradients of a loss L with respect to points, radii
// and colors given dRGB = dL/d(rgb) (3·H·W). The gradients overwrite dPoints,
// dRadii and dColors. The background gets no gradient.
func (r *Renderer) Backward(dPoints, dRadii, dColors, points, radii, colors, dRGB []float64) error {
	hw := r.scene.Height * r.scene.Width
	if len(dRGB) != 3*hw {
		return fmt.Errorf("raster: backward: dRGB has %d values, want %d (3×%d×%d)", len(dRGB), 3*hw, r.scene.Height, r.scene.Width)
	}
	if len(dPoints) != len(points) || len(dRadii) != len(radii) || len(dColors) != len(colors) {
		return fmt.Errorf("raster: backward: gradient lengths (%d, %d, %d) differ from inputs (%d, %d, %d)",
			len(dPoints), len(dRadii), len(dColors), len(points), len(radii), len(colors))
	}
	if err := r.setup(points, radii, colors); err != nil {
		return err
	}
	r.dRGB, r.backward = dRGB, true
	r.run()
	clear(dPoints)
	clear(dRadii)
	clear(dColors)
	for _, w := range r.workers {
		for i, v := range w.gPts {
			dPoints[i] += v
		}
		for i, v := range w.gRad {
			dRadii[i] += v
		}
		for i, v := range w.gCol {
			dColors[i] += v
		}
	}
	return nil
}

// setup checks the inputs, builds segment coefficients and path footprints.
func (r *Renderer) setup(points, radii, colors []float64) error {
	if err := r.scene.checkInputs(points, radii, colors); err != nil {
		return err
	}
	r.points, r.radii, r.colors = points, radii, colors
	n := float64(r.n)
	sw, sh := r.scene.Width*r.n, r.scene.Height*r.n
	for p := range r.scene.Paths {
		minx, miny := math.Inf(1), math.Inf(1)
		maxx, maxy := math.Inf(-1), math.Inf(-1)
		for i := r.pathSeg[p]; i < r.pathSeg[p+1]; i++ {
			s := &r.segs[i]
			s.set(points)
			minx, maxx = math.Min(minx, s.minx), math.Max(maxx, s.maxx)
			miny, maxy = math.Min(miny, s.miny), math.Max(maxy, s.maxy)
		}
		e := radii[p] + r.hw
		if e <= 0 {
			r.bbox[p] = sbox{0, -1, 0, -1}
			continue
		}
		// sample s sits at (s + 0.5)/n; keep those within e of the box
		r.bbox[p] = sbox{
			x0: clampIdx(math.Ceil((minx-e)*n-0.5), sw), x1: clampIdx(math.Floor((maxx+e)*n-0.5), sw),
			y0: clampIdx(math.Ceil((miny-e)*n-0.5), sh), y1: clampIdx(math.Floor((maxy+e)*n-0.5), sh),
		}
		if (maxx+e)*n-0.5 < 0 || (maxy+e)*n-0.5 < 0 || (minx-e)*n-0.5 > float64(sw-1) || (miny-e)*n-0.5 > float64(sh-1) {
			r.bbox[p] = sbox{0, -1, 0, -1}
		}
	}
	return nil
}

// clampIdx converts v to an index clamped to [0, n-1].
func clampIdx(v float64, n int) int {
	if v < 0 {
		return 0
	}
	if v > float64(n-1) {
		return n - 1
	}
	return int(v)
}

// run processes the image rows on all workers, row y on worker y mod W, so
// gradient sums are deterministic for a given GOMAXPROCS.
func (r *Renderer) run() {
	nw := len(r.workers)
	r.wg.Add(nw)
	for i := range nw {
		go r.work(i)
	}
	r.wg.Wait()
}

func (r *Renderer) work(id int) {
	defer r.wg.Done()
	w := r.workers[id]
	if r.backward {
		clear(w.gPts)
		clear(w.gRad)
		clear(w.gCol)
	}
	for y := id; y < r.scene.Height; y += len(r.workers) {
		if r.backward {
			r.backwardRow(w, y)
		} else {
			r.forwardRow(w, y)
		}
	}
}

// distance is the distance from (x, y) to path p's centre line, with the
// segment and parameter of the closest point; limit bounds the search: if no
// point is closer than limit, ok is false.
func (r *Renderer) distance(p int, x, y, limit float64) (d float64, si int, t float64, ok bool) {
	best := limit * limit
	si = -1
	for i := r.pathSeg[p]; i < r.pathSeg[p+1]; i++ {
		ti, d2, ok := r.segs[i].closest(x, y, best)
		if ok && d2 < best {
			best, si, t = d2, i, ti
		}
	}
	if si < 0 {
		return 0, -1, 0, false
	}
	return math.Sqrt(best), si, t, true
}

// rowSpans narrows path p's footprint on the sample row at height py to the
// samples within e of the boxes (segment or piece) that the row crosses, as
// sorted disjoint inclusive intervals of sample indices.
func (r *Renderer) rowSpans(w *worker, p int, py, e float64) [][2]int {
	b := r.bbox[p]
	n := float64(r.n)
	sp := w.spans[:0]
	add := func(lo, hi float64) {
		s0 := max(b.x0, int(math.Ceil((lo-e)*n-0.5)))
		s1 := min(b.x1, int(math.Floor((hi+e)*n-0.5)))
		if s0 > s1 {
			return
		}
		i := len(sp)
		sp = append(sp, [2]int{s0, s1})
		for ; i > 0 && sp[i-1][0] > s0; i-- {
			sp[i] = sp[i-1]
		}
		sp[i] = [2]int{s0, s1}
	}
	for i := r.pathSeg[p]; i < r.pathSeg[p+1]; i++ {
		s := &r.segs[i]
		if py < s.miny-e || py > s.maxy+e {
			continue
		}
		if s.deg == 1 {
			add(s.minx, s.maxx)
			continue
		}
		for k := range s.piece {
			if pb := &s.piece[k]; py >= pb.miny-e && py <= pb.maxy+e {
				add(pb.minx, pb.maxx)
			}
		}
	}
	// merge overlapping or touching intervals
	m := 0
	for i := range sp {
		if m > 0 && sp[i][0] <= sp[m-1][1]+1 {
			sp[m-1][1] = max(sp[m-1][1], sp[i][1])
			continue
		}
		sp[m] = sp[i]
		m++
	}
	w.spans = sp
	return sp[:m]
}

// activePaths lists the paths whose footprint contains sample row sy.
func (r *Renderer) activePaths(w *worker, sy int) []int {
	a := w.active[:0]
	for p, b := range r.bbox {
		if sy >= b.y0 && sy <= b.y1 && b.x0 <= b.x1 {
			a = append(a, p)
		}
	}
	w.active = a
	return a
}

func (r *Renderer) resetRow(w *worker) {
	for s := 0; s < len(w.acc); s += 4 {
		w.acc[s], w.acc[s+1], w.acc[s+2], w.acc[s+3] = r.bgC[0], r.bgC[1], r.bgC[2], r.bgA
	}
}

func (r *Renderer) forwardRow(w *worker, y int) {
	n, inv := r.n, 1/float64(r.n)
	clear(w.pix)
	for sub := range n {
		sy := y*n + sub
		py := (float64(sy) + 0.5) * inv
		active := r.activePaths(w, sy)
		if len(active) == 0 {
			for x := range r.scene.Width {
				px := w.pix[4*x : 4*x+4]
				px[0] += r.bgC[0] * float64(n)
				px[1] += r.bgC[1] * float64(n)
				px[2] += r.bgC[2] * float64(n)
				px[3] += r.bgA * float64(n)
			}
			continue
		}
		r.resetRow(w)
		for _, p := range active {
			rad, a := r.radii[p], r.colors[4*p+3]
			cr, cg, cb := r.colors[4*p], r.colors[4*p+1], r.colors[4*p+2]
			for _, span := range r.rowSpans(w, p, py, rad+r.hw) {
				for s := span[0]; s <= span[1]; s++ {
					px := (float64(s) + 0.5) * inv
					d, _, _, ok := r.distance(p, px, py, rad+r.hw)
					if !ok {
						continue
					}
					cov, _, _ := coverage(d, rad, r.hw)
					al := cov * a
					if al == 0 {
						continue
					}
					c := w.acc[4*s : 4*s+4]
					c[0] += al * (cr - c[0])
					c[1] += al * (cg - c[1])
					c[2] += al * (cb - c[2])
					c[3] += al * (1 - c[3])
				}
			}
		}
		for s := range r.scene.Width * n {
			x := s / n
			for k := range 4 {
				w.pix[4*x+k] += w.acc[4*s+k]
			}
		}
	}
	W, plane := r.scene.Width, r.scene.Width*r.scene.Height
	norm := 1 / float64(n*n)
	for x := range W {
		o := y*W + x
		r.rgb[o] = w.pix[4*x] * norm
		r.rgb[plane+o] = w.pix[4*x+1] * norm
		r.rgb[2*plane+o] = w.pix[4*x+2] * norm
		if r.alpha != nil {
			r.alpha[o] = w.pix[4*x+3] * norm
		}
	}
}

func (r *Renderer) backwardRow(w *worker, y int) {
	n, inv := r.n, 1/float64(r.n)
	W, plane := r.scene.Width, r.scene.Width*r.scene.Height
	norm := 1 / float64(n*n)
	for sub := range n {
		sy := y*n + sub
		py := (float64(sy) + 0.5) * inv
		active := r.activePaths(w, sy)
		if len(active) == 0 {
			continue
		}
		r.resetRow(w)
		recs := w.recs[:0]
		// forward sweep, recording every covered (sample, path) pair
		for _, p := range active {
			rad, a := r.radii[p], r.colors[4*p+3]
			cr, cg, cb := r.colors[4*p], r.colors[4*p+1], r.colors[4*p+2]
			for _, span := range r.rowSpans(w, p, py, rad+r.hw) {
				for s := span[0]; s <= span[1]; s++ {
					px := (float64(s) + 0.5) * inv
					d, si, t, ok := r.distance(p, px, py, rad+r.hw)
					if !ok {
						continue
					}
					cov, dcdd, dcdr := coverage(d, rad, r.hw)
					if cov == 0 {
						continue
					}
					c := w.acc[4*s : 4*s+4]
					rc := rec{s: s, path: p, seg: si, t: t, cov: cov, dcdd: dcdd, dcdr: dcdr, prev: [3]float64{c[0], c[1], c[2]}}
					if dcdd != 0 && d > 0 {
						bx, by := r.segs[si].at(t)
						rc.ux, rc.uy = (px-bx)/d, (py-by)/d
					}
					recs = append(recs, rc)
					al := cov * a
					c[0] += al * (cr - c[0])
					c[1] += al * (cg - c[1])
					c[2] += al * (cb - c[2])
				}
			}
		}
		w.recs = recs
		if len(recs) == 0 {
			continue
		}
		for s := range W * n {
			o := y*W + s/n
			w.g[3*s] = r.dRGB[o] * norm
			w.g[3*s+1] = r.dRGB[plane+o] * norm
			w.g[3*s+2] = r.dRGB[2*plane+o] * norm
		}
		// reverse sweep: paths in reverse order
		for i := len(recs) - 1; i >= 0; i-- {
			rc := &recs[i]
			p := rc.path
			a := r.colors[4*p+3]
			al := rc.cov * a
			g := w.g[3*rc.s : 3*rc.s+3]
			dAl := g[0]*(r.colors[4*p]-rc.prev[0]) + g[1]*(r.colors[4*p+1]-rc.prev[1]) + g[2]*(r.colors[4*p+2]-rc.prev[2])
			w.gCol[4*p] += al * g[0]
			w.gCol[4*p+1] += al * g[1]
			w.gCol[4*p+2] += al * g[2]
			w.gCol[4*p+3] += dAl * rc.cov
			dCov := dAl * a
			w.gRad[p] += dCov * rc.dcdr
			if dd := dCov * rc.dcdd; dd != 0 && (rc.ux != 0 || rc.uy != 0) {
				s := &r.segs[rc.seg]
				bw := s.bernstein(rc.t)
				for k := 0; k <= s.deg; k++ {
					j := s.idx[k]
					w.gPts[2*j] -= dd * bw[k] * rc.ux
					w.gPts[2*j+1] -= dd * bw[k] * rc.uy
				}
			}
			g[0] *= 1 - al
			g[1] *= 1 - al
			g[2] *= 1 - al
		}
	}
}

// RenderImage renders a scene once: rgb (3·H·W, planar) and alpha (H·W).
func RenderImage(scene Scene, points, radii, colors []float64) (rgb, alpha []float64, err error) {
	r, err := NewRenderer(scene)
	if err != nil {
		return nil, nil, err
	}
	rgb = make([]float64, 3*scene.Width*scene.Height)
	alpha = make([]float64, scene.Width*scene.Height)
	if err := r.Forward(rgb, alpha, points, radii, colors); err != nil {
		return nil, nil, err
	}
	return rgb, alpha, nil
}

// Backward computes, once, the gradients with respect to points, radii and
// colors of a loss whose gradient with respect to the rgb image is dRGB.
func Backward(scene Scene, points, radii, colors, dRGB []float64) (dPoints, dRadii, dColors []float64, err error) {
	r, err := NewRenderer(scene)
	if err != nil {
		return nil, nil, nil, err
	}
	dPoints = make([]float64, len(points))
	dRadii = make([]float64, len(radii))
	dColors = make([]float64, len(colors))
	if err := r.Backward(dPoints, dRadii, dColors, points, radii, colors, dRGB); err != nil {
		return nil, nil, nil, err
	}
	return dPoints, dRadii, dColors, nil
}
