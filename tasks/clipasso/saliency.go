package clipasso

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/goclip/goclip/clip"
)

// Normalize applies CLIP's mean/std to a (3, H, W) image in [0, 1].
func Normalize(img []float64, h, w int) []float64 {
	n := h * w
	out := make([]float64, len(img))
	for c := range 3 {
		m, s := float64(clip.Mean[c]), float64(clip.Std[c])
		for i := range n {
			out[c*n+i] = (img[c*n+i] - m) / s
		}
	}
	return out
}

// Relevancy is CLIPasso's `interpret` map for a ViT CLIP: the attention
// probabilities of every block, clamped at 0 and averaged over heads; the
// class token's row to the patches, averaged over blocks; bicubic upsampled
// (torch's interpolate, align_corners=False) to size×size; min-max
// normalised. img is the target (3, R, R) in [0, 1] with R the model's
// resolution; the result is row-major (size, size).
func Relevancy(m *clip.Model, img []float64, size int) ([]float64, error) {
	if m == nil || m.ViT == nil {
		return nil, fmt.Errorf("clipasso: relevancy needs a ViT CLIP model")
	}
	r := m.Config().Vision.ImageSize
	if len(img) != 3*r*r {
		return nil, fmt.Errorf("clipasso: relevancy: %d values, want a 3×%d×%d image", len(img), r, r)
	}
	norm := Normalize(img, r, r)
	px := make([]float32, len(norm))
	for i, v := range norm {
		px[i] = float32(v)
	}
	f, err := m.ImageFeatures(px, 1, clip.FeatureRequest{Attention: true})
	if err != nil {
		return nil, fmt.Errorf("clipasso: relevancy: %w", err)
	}
	grid := r / m.Config().Vision.PatchSize
	t := grid*grid + 1
	rel := make([]float64, grid*grid)
	for _, a := range f.Attention { // (1, heads, T, T)
		heads := a.Shape[1]
		for h := range heads {
			row := a.Data[h*t*t : h*t*t+t] // query = class token
			for j := 1; j < t; j++ {
				rel[j-1] += math.Max(0, float64(row[j])) / float64(heads*len(f.Attention))
			}
		}
	}
	up := UpsampleBicubic(rel, grid, grid, size, size)
	return minMax(up), nil
}

func minMax(x []float64) []float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	out := make([]float64, len(x))
	if hi > lo {
		for i, v := range x {
			out[i] = (v - lo) / (hi - lo)
		}
	}
	return out
}

// cubicWeights are torch's bicubic coefficients (A = −0.75) for fraction t.
func cubicWeights(t float64) [4]float64 {
	const a = -0.75
	c1 := func(x float64) float64 { return ((a+2)*x-(a+3))*x*x + 1 }
	c2 := func(x float64) float64 { return ((a*x-5*a)*x+8*a)*x - 4*a }
	return [4]float64{c2(t + 1), c1(t), c1(1 - t), c2(2 - t)}
}

// UpsampleBicubic resizes an (ih, iw) map to (oh, ow) as
// torch.nn.functional.interpolate(mode="bicubic", align_corners=False):
// unclamped source coordinates, border-replicated taps.
func UpsampleBicubic(x []float64, ih, iw, oh, ow int) []float64 {
	tmp := make([]float64, ih*ow)
	for y := range ih {
		for xo := range ow {
			s := (float64(xo)+0.5)*float64(iw)/float64(ow) - 0.5
			i0 := int(math.Floor(s))
			wt := cubicWeights(s - float64(i0))
			var v float64
			for k := range 4 {
				v += wt[k] * x[y*iw+min(max(i0-1+k, 0), iw-1)]
			}
			tmp[y*ow+xo] = v
		}
	}
	out := make([]float64, oh*ow)
	for yo := range oh {
		s := (float64(yo)+0.5)*float64(ih)/float64(oh) - 0.5
		i0 := int(math.Floor(s))
		wt := cubicWeights(s - float64(i0))
		for xo := range ow {
			var v float64
			for k := range 4 {
				v += wt[k] * tmp[min(max(i0-1+k, 0), ih-1)*ow+xo]
			}
			out[yo*ow+xo] = v
		}
	}
	return out
}

// Saliency is the stroke-initialisation map: relevancy, optionally
// intersected with the XDoG edges of the CLIP-normalised target
// ((1 − xdog)·relevancy), then a softmax with temperature tau over the
// positive entries (zero entries stay zero). It returns the probability
// map and the relevancy map (both row-major size×size).
type Saliency struct {
	Size      int
	Relevancy []float64
	Edges     []float64 // XDoG (1 background, 0 edge); nil without intersection
	Prob      []float64
}

// NewSaliency builds the map from a relevancy map and the target image
// (3, size, size) in [0, 1].
func NewSaliency(relevancy, target []float64, size int, xdog *XDoGConfig, tau float64) (*Saliency, error) {
	n := size * size
	if len(relevancy) != n || len(target) != 3*n {
		return nil, fmt.Errorf("clipasso: saliency: %d relevancy and %d target values for %d×%d", len(relevancy), len(target), size, size)
	}
	if tau <= 0 {
		return nil, fmt.Errorf("clipasso: saliency: softmax temperature %g must be positive", tau)
	}
	s := &Saliency{Size: size, Relevancy: relevancy}
	attn := minMax(relevancy)
	if xdog != nil {
		e, err := XDoG(Normalize(target, size, size), size, size, *xdog)
		if err != nil {
			return nil, err
		}
		s.Edges = e
		for i := range attn {
			attn[i] *= 1 - e[i]
		}
	}
	s.Prob = make([]float64, n)
	var sum float64
	for i, v := range attn {
		if v > 0 {
			s.Prob[i] = math.Exp(v / tau)
			sum += s.Prob[i]
		}
	}
	if sum == 0 {
		return nil, fmt.Errorf("clipasso: saliency: the map has no positive entry (no edges where CLIP attends); try without the XDoG intersection")
	}
	for i := range s.Prob {
		s.Prob[i] /= sum
	}
	return s, nil
}

// Sample draws k distinct pixel indices with probabilities Prob, as
// numpy's choice(replace=False, p=Prob): each draw from the remaining mass.
func (s *Saliency) Sample(rng *rand.Rand, k int) ([]int, error) {
	positive := 0
	for _, p := range s.Prob {
		if p > 0 {
			positive++
		}
	}
	if k > positive {
		return nil, fmt.Errorf("clipasso: saliency: %d strokes but only %d pixels with positive probability", k, positive)
	}
	p := append([]float64(nil), s.Prob...)
	out := make([]int, 0, k)
	for len(out) < k {
		var total float64
		for _, v := range p {
			total += v
		}
		u := rng.Float64() * total
		idx := -1
		for i, v := range p {
			if v <= 0 {
				continue
			}
			idx = i
			if u < v {
				break
			}
			u -= v
		}
		out = append(out, idx)
		p[idx] = 0
	}
	return out, nil
}

// NewStroke makes one CLIPasso stroke: 4 control points starting at pixel
// index idx of a size×size canvas (x = column/size, y = row/size), each next
// point the previous plus 0.05·(U(0,1) − 0.5) per axis, scaled to pixels.
func NewStroke(rng *rand.Rand, idx, size int) []float64 {
	x, y := float64(idx%size)/float64(size), float64(idx/size)/float64(size)
	pts := []float64{x * float64(size), y * float64(size)}
	for range 3 {
		x += 0.05 * (rng.Float64() - 0.5)
		y += 0.05 * (rng.Float64() - 0.5)
		pts = append(pts, x*float64(size), y*float64(size))
	}
	return pts
}
