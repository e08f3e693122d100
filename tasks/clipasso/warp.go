package clipasso

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Warp is one augmentation as a sparse linear map from a (H, W) plane to
// a (H, W) plane: output pixel p is Σ_k W[k]·in[Idx[k]] for k in
// [Ptr[p], Ptr[p+1]). The same map applies to every channel, so sketch and
// target get identical transforms, and it is linear in the image, so its
// gradient is its transpose.
type Warp struct {
	H, W int
	Ptr  []int32
	Idx  []int32
	Wt   []float64
}

// Identity is the warp that copies the image.
func Identity(h, w int) *Warp {
	wp := &Warp{H: h, W: w, Ptr: make([]int32, h*w+1), Idx: make([]int32, h*w), Wt: make([]float64, h*w)}
	for p := range h * w {
		wp.Ptr[p+1] = int32(p + 1)
		wp.Idx[p] = int32(p)
		wp.Wt[p] = 1
	}
	return wp
}

// Apply maps one plane (H·W values).
func (wp *Warp) Apply(dst, src []float64) {
	for p := range wp.H * wp.W {
		var s float64
		for k := wp.Ptr[p]; k < wp.Ptr[p+1]; k++ {
			s += wp.Wt[k] * src[wp.Idx[k]]
		}
		dst[p] = s
	}
}

// ApplyImage maps a (3, H, W) image, returning a new one.
func (wp *Warp) ApplyImage(img []float64) []float64 {
	n := wp.H * wp.W
	out := make([]float64, len(img))
	for c := 0; c+n <= len(img); c += n {
		wp.Apply(out[c:c+n], img[c:c+n])
	}
	return out
}

// Perspective holds torchvision's RandomPerspective corner offsets: the
// image corners (0,0), (W−1,0), (W−1,H−1), (0,H−1) move to End.
type Perspective struct {
	End [4][2]float64
}

// randInt is torch.randint(lo, hi): uniform in [lo, hi).
func randInt(rng *rand.Rand, lo, hi int) float64 {
	return float64(lo + rng.IntN(hi-lo))
}

// RandomPerspective draws corners as torchvision's
// RandomPerspective.get_params(width, height, distortion) does.
func RandomPerspective(rng *rand.Rand, w, h int, distortion float64) Perspective {
	hw, hh := int(distortion*float64(w/2)), int(distortion*float64(h/2))
	var p Perspective
	p.End[0] = [2]float64{randInt(rng, 0, hw+1), randInt(rng, 0, hh+1)}
	p.End[1] = [2]float64{randInt(rng, w-hw-1, w), randInt(rng, 0, hh+1)}
	p.End[2] = [2]float64{randInt(rng, w-hw-1, w), randInt(rng, h-hh-1, h)}
	p.End[3] = [2]float64{randInt(rng, 0, hw+1), randInt(rng, h-hh-1, h)}
	return p
}

// coeffs returns the homography (a..h) that maps output (end) points to
// input (start) points, as torchvision's _get_perspective_coeffs(start, end):
// u = (a x + b y + c)/(g x + h y + 1), v = (d x + e y + f)/(g x + h y + 1).
func (p Perspective) coeffs(w, h int) ([8]float64, error) {
	start := [4][2]float64{{0, 0}, {float64(w - 1), 0}, {float64(w - 1), float64(h - 1)}, {0, float64(h - 1)}}
	var a [8][9]float64 // augmented system
	for i := range 4 {
		x, y := p.End[i][0], p.End[i][1]
		u, v := start[i][0], start[i][1]
		a[2*i] = [9]float64{x, y, 1, 0, 0, 0, -u * x, -u * y, u}
		a[2*i+1] = [9]float64{0, 0, 0, x, y, 1, -v * x, -v * y, v}
	}
	for c := range 8 { // Gaussian elimination with partial pivoting
		piv := c
		for r := c + 1; r < 8; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[piv][c]) {
				piv = r
			}
		}
		if math.Abs(a[piv][c]) < 1e-12 {
			return [8]float64{}, fmt.Errorf("clipasso: perspective corners %v are degenerate", p.End)
		}
		a[c], a[piv] = a[piv], a[c]
		for r := range 8 {
			if r == c {
				continue
			}
			f := a[r][c] / a[c][c]
			for k := c; k < 9; k++ {
				a[r][k] -= f * a[c][k]
			}
		}
	}
	var out [8]float64
	for i := range 8 {
		out[i] = a[i][8] / a[i][i]
	}
	return out, nil
}

// tap is one weighted source pixel.
type tap struct {
	idx int32
	w   float64
}

// bilinearTaps appends grid_sample's bilinear taps (align_corners=False,
// zero padding) at pixel-index coordinates (ix, iy) of an h×w plane, and
// returns the taps and the sum of their weights (grid_sample of a plane of
// ones: torchvision's fill mask).
func bilinearTaps(dst []tap, ix, iy float64, w, h int) ([]tap, float64) {
	x0, y0 := math.Floor(ix), math.Floor(iy)
	wx := [2]float64{1 - (ix - x0), ix - x0}
	wy := [2]float64{1 - (iy - y0), iy - y0}
	var sum float64
	for dy := range 2 {
		for dx := range 2 {
			x, y := int(x0)+dx, int(y0)+dy
			wt := wx[dx] * wy[dy]
			if x < 0 || y < 0 || x >= w || y >= h || wt == 0 {
				continue
			}
			dst = append(dst, tap{int32(y*w + x), wt})
			sum += wt
		}
	}
	return dst, sum
}

// perspectiveTaps is torchvision's F.perspective(img, start, end, BILINEAR,
// fill=0) on tensors for one output pixel: the homography of the pixel
// centre, grid_sample (align_corners=False, zeros), times the grid-sampled
// ones mask (fill 0 means out = img·mask).
func perspectiveTaps(dst []tap, c [8]float64, x, y, w, h int) []tap {
	px, py := float64(x)+0.5, float64(y)+0.5
	den := c[6]*px + c[7]*py + 1
	u := (c[0]*px + c[1]*py + c[2]) / den
	v := (c[3]*px + c[4]*py + c[5]) / den
	start := len(dst)
	dst, mask := bilinearTaps(dst, u-0.5, v-0.5, w, h)
	for k := start; k < len(dst); k++ {
		dst[k].w *= mask
	}
	return dst
}

// Crop is RandomResizedCrop's window: Top, Left and the square Side.
type Crop struct{ Top, Left, Side int }

// RandomCrop draws RandomResizedCrop(size, scale=(s, s), ratio=(1, 1))'s
// window as torchvision's get_params does (the first attempt always fits).
func RandomCrop(rng *rand.Rand, w, h int, scale float64) Crop {
	side := int(math.Round(math.Sqrt(float64(w*h) * scale)))
	side = max(1, min(side, w, h))
	return Crop{Top: int(randInt(rng, 0, h-side+1)), Left: int(randInt(rng, 0, w-side+1)), Side: side}
}

// linearSrc is torch's bilinear source coordinate (align_corners=False):
// (dst+0.5)·scale − 0.5 clamped at 0, with the two taps' indices and the
// weight of the upper one.
func linearSrc(d int, scale float64, n int) (i0, i1 int, f float64) {
	s := (float64(d)+0.5)*scale - 0.5
	if s < 0 {
		s = 0
	}
	i0 = int(s)
	if i0 > n-1 {
		i0 = n - 1
	}
	i1 = min(i0+1, n-1)
	return i0, i1, s - float64(i0)
}

// NewAugment composes RandomPerspective then RandomResizedCrop back to the
// h×w canvas into one Warp: ≤ 16 taps per output pixel.
func NewAugment(p Perspective, cr Crop, w, h int) (*Warp, error) {
	c, err := p.coeffs(w, h)
	if err != nil {
		return nil, err
	}
	if cr.Side < 1 || cr.Top < 0 || cr.Left < 0 || cr.Top+cr.Side > h || cr.Left+cr.Side > w {
		return nil, fmt.Errorf("clipasso: crop %+v does not fit %d×%d", cr, w, h)
	}
	// At most 4 crop corners × 4 bilinear taps per pixel: sized once, the
	// tap lists never regrow (regrowing cost more than building them).
	wp := &Warp{H: h, W: w, Ptr: make([]int32, 0, h*w+1), Idx: make([]int32, 0, 16*h*w), Wt: make([]float64, 0, 16*h*w)}
	wp.Ptr = append(wp.Ptr, 0)
	scale := float64(cr.Side) / float64(w)
	scaleY := float64(cr.Side) / float64(h)
	var inner, acc []tap
	for y := range h {
		y0, y1, fy := linearSrc(y, scaleY, cr.Side)
		for x := range w {
			x0, x1, fx := linearSrc(x, scale, cr.Side)
			acc = acc[:0]
			corners := [4]struct {
				x, y int
				w    float64
			}{{x0, y0, (1 - fx) * (1 - fy)}, {x1, y0, fx * (1 - fy)}, {x0, y1, (1 - fx) * fy}, {x1, y1, fx * fy}}
			for _, cn := range corners {
				if cn.w == 0 {
					continue
				}
				inner = perspectiveTaps(inner[:0], c, cn.x+cr.Left, cn.y+cr.Top, w, h)
				for _, t := range inner {
					acc = append(acc, tap{t.idx, t.w * cn.w})
				}
			}
			for _, t := range acc {
				wp.Idx = append(wp.Idx, t.idx)
				wp.Wt = append(wp.Wt, t.w)
			}
			wp.Ptr = append(wp.Ptr, int32(len(wp.Idx)))
		}
	}
	return wp, nil
}

// RandomAugment draws one perspective-then-crop augmentation.
func RandomAugment(rng *rand.Rand, w, h int, distortion, cropScale float64) (*Warp, error) {
	p := RandomPerspective(rng, w, h, distortion)
	cr := RandomCrop(rng, w, h, cropScale)
	return NewAugment(p, cr, w, h)
}
