package clipasso

import (
	"fmt"
	"math"
)

// XDoGConfig holds the eXtended Difference-of-Gaussians parameters.
type XDoGConfig struct {
	Sigma, K, Gamma, Phi, Eps float64
	Binarize                  bool // Otsu threshold the result
}

// DefaultXDoG is CLIPasso's XDoG_: σ 0.8, k 10, γ 0.98, φ 200, ε −0.1, Otsu.
func DefaultXDoG() XDoGConfig {
	return XDoGConfig{Sigma: 0.8, K: 10, Gamma: 0.98, Phi: 200, Eps: -0.1, Binarize: true}
}

// Gray converts a (3, H, W) image to luminance as skimage.color.rgb2gray
// does (0.2125 R + 0.7154 G + 0.0721 B).
func Gray(img []float64, h, w int) []float64 {
	n := h * w
	out := make([]float64, n)
	for i := range n {
		out[i] = 0.2125*img[i] + 0.7154*img[n+i] + 0.0721*img[2*n+i]
	}
	return out
}

// gaussianKernel is scipy.ndimage.gaussian_filter1d's kernel: radius
// int(4σ + 0.5), weights exp(−x²/2σ²) normalised to sum 1.
func gaussianKernel(sigma float64) []float64 {
	r := int(4*sigma + 0.5)
	k := make([]float64, 2*r+1)
	var s float64
	for i := range k {
		x := float64(i - r)
		k[i] = math.Exp(-0.5 * x * x / (sigma * sigma))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	return k
}

// reflect maps an out-of-range index as scipy's mode "reflect"
// (d c b a | a b c d | d c b a).
func reflect(i, n int) int {
	if n == 1 {
		return 0
	}
	p := 2 * n
	i %= p
	if i < 0 {
		i += p
	}
	if i >= n {
		i = p - 1 - i
	}
	return i
}

// GaussianFilter blurs an h×w plane as scipy.ndimage.gaussian_filter(x, σ)
// (separable, truncate 4, mode "reflect").
func GaussianFilter(x []float64, h, w int, sigma float64) []float64 {
	k := gaussianKernel(sigma)
	r := len(k) / 2
	tmp := make([]float64, h*w)
	for y := range h { // along axis 0 first, as scipy does
		for xx := range w {
			var s float64
			for j, kv := range k {
				s += kv * x[reflect(y+j-r, h)*w+xx]
			}
			tmp[y*w+xx] = s
		}
	}
	out := make([]float64, h*w)
	for y := range h {
		row := tmp[y*w : (y+1)*w]
		for xx := range w {
			var s float64
			for j, kv := range k {
				s += kv * row[reflect(xx+j-r, w)]
			}
			out[y*w+xx] = s
		}
	}
	return out
}

// Otsu is skimage.filters.threshold_otsu with 256 bins over the value
// range: the bin centre maximising the between-class variance.
func Otsu(x []float64) float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if len(x) == 0 || lo == hi {
		return lo
	}
	const bins = 256
	edges := make([]float64, bins+1) // np.linspace(lo, hi, bins+1)
	step := (hi - lo) / bins
	for i := range edges {
		edges[i] = lo + float64(i)*step
	}
	edges[bins] = hi
	var counts [bins]float64
	norm := bins / (hi - lo)
	for _, v := range x { // np.histogram's binning with its edge corrections
		i := int((v - lo) * norm)
		if i == bins {
			i--
		}
		if v < edges[i] {
			i--
		} else if v >= edges[i+1] && i != bins-1 {
			i++
		}
		counts[i]++
	}
	centers := make([]float64, bins)
	for i := range centers {
		centers[i] = (edges[i] + edges[i+1]) / 2
	}
	var w1, m1 [bins]float64
	var cw, cm float64
	for i := range bins {
		cw += counts[i]
		cm += counts[i] * centers[i]
		w1[i], m1[i] = cw, cm
	}
	var w2, m2 [bins]float64
	cw, cm = 0, 0
	for i := bins - 1; i >= 0; i-- {
		cw += counts[i]
		cm += counts[i] * centers[i]
		w2[i], m2[i] = cw, cm
	}
	best, idx := math.Inf(-1), 0
	for i := range bins - 1 {
		a, b := m1[i]/w1[i], m2[i+1]/w2[i+1]
		v := w1[i] * w2[i+1] * (a - b) * (a - b)
		if w1[i] == 0 || w2[i+1] == 0 {
			v = math.NaN()
		}
		if v > best { // np.argmax: first maximum, NaN skipped here
			best, idx = v, i
		}
	}
	return centers[idx]
}

// XDoG computes CLIPasso's edge map of a (3, H, W) image: gray, two
// Gaussian blurs, D = G_σ − γ·G_kσ, soft threshold (1 where D < ε, else
// 1 + tanh(φD)), min-max normalised, then binarised at Otsu's threshold
// (1 = background, 0 = edge). CLIPasso applies it to the CLIP-normalised
// target; so does Saliency.
func XDoG(img []float64, h, w int, c XDoGConfig) ([]float64, error) {
	if len(img) != 3*h*w || h < 1 || w < 1 {
		return nil, fmt.Errorf("clipasso: xdog: %d values for a 3×%d×%d image", len(img), h, w)
	}
	if c.Sigma <= 0 || c.K <= 0 {
		return nil, fmt.Errorf("clipasso: xdog: sigma %g and k %g must be positive", c.Sigma, c.K)
	}
	g := Gray(img, h, w)
	f1 := GaussianFilter(g, h, w, c.Sigma)
	f2 := GaussianFilter(g, h, w, c.Sigma*c.K)
	d := make([]float64, len(g))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range d {
		v := f1[i] - c.Gamma*f2[i]
		if v < c.Eps {
			v = 1
		} else {
			v = 1 + math.Tanh(c.Phi*v)
		}
		d[i] = v
		lo = math.Min(lo, v)
	}
	for i := range d {
		d[i] -= lo
		hi = math.Max(hi, d[i])
	}
	if hi > 0 {
		for i := range d {
			d[i] /= hi
		}
	}
	if !c.Binarize {
		return d, nil
	}
	th := Otsu(d)
	for i, v := range d {
		if v >= th {
			d[i] = 1
		} else {
			d[i] = 0
		}
	}
	return d, nil
}
