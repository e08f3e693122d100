package nn

import "math"

// Generic CPU kernels of the fused ops. Sizes are captured when the op is
// built; the slices passed in are contiguous and of exactly those sizes.

// ---- linear: y (m, n) = x (m, k) · wᵀ (k, n) + b ----

func linearFwd[T float](m, n, k int, bias bool) kernel[T] {
	return func(in [][]T, y []T) {
		x, w := in[0], in[1]
		var beta T
		if bias {
			b := in[2]
			for i := 0; i < m; i++ {
				copy(y[i*n:(i+1)*n], b)
			}
			beta = 1
		}
		gemm(false, true, m, n, k, 1, x, k, w, k, beta, y, n)
	}
}

// linearGradX: dx (m, k) = gy (m, n) · w (n, k); inputs (gy, w).
func linearGradX[T float](m, n, k int) kernel[T] {
	return func(in [][]T, dx []T) {
		gemm(false, false, m, k, n, 1, in[0], n, in[1], k, 0, dx, k)
	}
}

// linearGradW: dw (n, k) = gyᵀ (n, m) · x (m, k); inputs (gy, x).
func linearGradW[T float](m, n, k int) kernel[T] {
	return func(in [][]T, dw []T) {
		gemm(true, false, n, k, m, 1, in[0], n, in[1], k, 0, dw, k)
	}
}

// colSum: out (c) = Σ_rows x (rows, c); input (x).
func colSum[T float](rows, c int) kernel[T] {
	return func(in [][]T, out []T) {
		x := in[0]
		parallelSum(rows, c, c, out, func(lo, hi int, acc []float64) {
			for r := lo; r < hi; r++ {
				row := x[r*c : (r+1)*c]
				for j, v := range row {
					acc[j] += float64(v)
				}
			}
		})
	}
}

// ---- layer norm over the last axis of (rows, c) ----

// rowStats returns the mean and 1/sqrt(var+eps) of one row (biased variance,
// accumulated in float64).
func rowStats[T float](row []T, eps float64) (mean, rstd float64) {
	var s float64
	for _, v := range row {
		s += float64(v)
	}
	mean = s / float64(len(row))
	var ss float64
	for _, v := range row {
		d := float64(v) - mean
		ss += d * d
	}
	return mean, 1 / math.Sqrt(ss/float64(len(row))+eps)
}

// layerNormFwd: inputs (x, w, b).
func layerNormFwd[T float](rows, c int, eps float64) kernel[T] {
	return func(in [][]T, y []T) {
		x, w, b := in[0], in[1], in[2]
		parallelFor(rows, 8*c, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				xr, yr := x[r*c:(r+1)*c], y[r*c:(r+1)*c]
				mean, rstd := rowStats(xr, eps)
				for j, v := range xr {
					yr[j] = T((float64(v)-mean)*rstd)*w[j] + b[j]
				}
			}
		})
	}
}

// layerNormGradX: inputs (x, w, gy).
// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = gy·w.
func layerNormGradX[T float](rows, c int, eps float64) kernel[T] {
	return func(in [][]T, dx []T) {
		x, w, gy := in[0], in[1], in[2]
		parallelFor(rows, 12*c, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				xr, gr, dr := x[r*c:(r+1)*c], gy[r*c:(r+1)*c], dx[r*c:(r+1)*c]
				mean, rstd := rowStats(xr, eps)
				var sg, sgx float64
				for j, v := range xr {
					xh := (float64(v) - mean) * rstd
					gj := float64(gr[j]) * float64(w[j])
					sg += gj
					sgx += gj * xh
				}
				sg /= float64(c)
				sgx /= float64(c)
				for j, v := range xr {
					xh := (float64(v) - mean) * rstd
					gj := float64(gr[j]) * float64(w[j])
					dr[j] = T(rstd * (gj - sg - xh*sgx))
				}
			}
		})
	}
}

// layerNormGradW: dw (c) = Σ_rows gy·x̂; inputs (x, gy).
func layerNormGradW[T float](rows, c int, eps float64) kernel[T] {
	return func(in [][]T, dw []T) {
		x, gy := in[0], in[1]
		parallelSum(rows, 8*c, c, dw, func(lo, hi int, acc []float64) {
			for r := lo; r < hi; r++ {
				xr, gr := x[r*c:(r+1)*c], gy[r*c:(r+1)*c]
				mean, rstd := rowStats(xr, eps)
				for j, v := range xr {
					acc[j] += float64(gr[j]) * (float64(v) - mean) * rstd
				}
			}
		})
	}
}

// ---- softmax along an axis: the tensor is viewed as (outer, n, inner) ----

// softmaxLine writes softmax (or log-softmax) of the strided line x[0],
// x[s], ... x[(n-1)s] into y at the same positions.
func softmaxLine[T float](x, y []T, n, s int, log bool) {
	if x32, ok := any(x).([]float32); ok && s == 1 && !log {
		softmaxRow32(x32[:n], any(y).([]float32)[:n])
		return
	}
	m := math.Inf(-1)
	for i := 0; i < n; i++ {
		m = math.Max(m, float64(x[i*s]))
	}
	var sum float64
	for i := 0; i < n; i++ {
		e := math.Exp(float64(x[i*s]) - m)
		sum += e
		if !log {
			y[i*s] = T(e)
		}
	}
	if log {
		lse := m + math.Log(sum)
		for i := 0; i < n; i++ {
			y[i*s] = T(float64(x[i*s]) - lse)
		}
		return
	}
	inv := 1 / sum
	for i := 0; i < n; i++ {
		y[i*s] = T(float64(y[i*s]) * inv)
	}
}

func softmaxFwd[T float](outer, n, inner int, log bool) kernel[T] {
	return func(in [][]T, y []T) {
		x := in[0]
		parallelFor(outer*inner, 20*n, func(lo, hi int) {
			for l := lo; l < hi; l++ {
				base := (l/inner)*n*inner + l%inner
				softmaxLine(x[base:], y[base:], n, inner, log)
			}
		})
	}
}

// softmaxGrad: inputs (y, gy) with y the forward output.
// softmax: dx = y·(gy − Σ gy·y); log-softmax: dx = gy − exp(y)·Σ gy.
func softmaxGrad[T float](outer, n, inner int, log bool) kernel[T] {
	return func(in [][]T, dx []T) {
		y, gy := in[0], in[1]
		parallelFor(outer*inner, 6*n, func(lo, hi int) {
			for l := lo; l < hi; l++ {
				base := (l/inner)*n*inner + l%inner
				var dot float64
				for i := 0; i < n; i++ {
					p := base + i*inner
					if log {
						dot += float64(gy[p])
					} else {
						dot += float64(gy[p]) * float64(y[p])
					}
				}
				for i := 0; i < n; i++ {
					p := base + i*inner
					if log {
						dx[p] = T(float64(gy[p]) - math.Exp(float64(y[p]))*dot)
					} else {
						dx[p] = T(float64(y[p]) * (float64(gy[p]) - dot))
					}
				}
			}
		})
	}
}

// ---- elementwise activations ----

const (
	quickGELUAlpha = 1.702
	invSqrt2       = 0.70710678118654752440
	invSqrt2Pi     = 0.39894228040143267794
)

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// actValue returns f(x) and actDeriv f'(x) for the fused activations.
func actValue(a Activation, x float64) float64 {
	switch a {
	case QuickGELUAct:
		return x * sigmoid(quickGELUAlpha*x)
	case GELUAct:
		return 0.5 * x * (1 + math.Erf(x*invSqrt2))
	}
	return math.Max(x, 0)
}

func actDeriv(a Activation, x float64) float64 {
	switch a {
	case QuickGELUAct:
		s := sigmoid(quickGELUAlpha * x)
		return s + quickGELUAlpha*x*s*(1-s)
	case GELUAct:
		return 0.5*(1+math.Erf(x*invSqrt2)) + x*invSqrt2Pi*math.Exp(-0.5*x*x)
	}
	if x > 0 {
		return 1
	}
	return 0
}

func actFwd[T float](n int, a Activation) kernel[T] {
	return func(in [][]T, y []T) {
		x := in[0]
		if x32, ok := any(x).([]float32); ok && a == QuickGELUAct {
			y32 := any(y).([]float32)
			parallelFor(n, 20, func(lo, hi int) { quickGELU32(x32[lo:hi], y32[lo:hi]) })
			return
		}
		parallelFor(n, 20, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				y[i] = T(actValue(a, float64(x[i])))
			}
		})
	}
}

// actGrad: inputs (x, gy).
func actGrad[T float](n int, a Activation) kernel[T] {
	return func(in [][]T, dx []T) {
		x, gy := in[0], in[1]
		parallelFor(n, 30, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				dx[i] = T(float64(gy[i]) * actDeriv(a, float64(x[i])))
			}
		})
	}
}

// ---- average pooling over windows ----

// poolWindows describes a 2-D average pooling: output cell (i, j) averages
// the input rows [h0[i], h1[i]) and columns [w0[j], w1[j]) and divides by
// div[i*ow+j].
type poolWindows struct {
	h, w, oh, ow   int
	h0, h1, w0, w1 []int
	div            []float64
}

// avgPoolWindows: torch AvgPool2d, floor mode, count_include_pad=True.
func avgPoolWindows(h, w, kernel, stride, pad int) poolWindows {
	p := poolWindows{h: h, w: w, oh: (h+2*pad-kernel)/stride + 1, ow: (w+2*pad-kernel)/stride + 1}
	span := func(i, n int) (int, int) {
		s := i*stride - pad
		return max(s, 0), min(s+kernel, n)
	}
	for i := 0; i < p.oh; i++ {
		a, b := span(i, h)
		p.h0, p.h1 = append(p.h0, a), append(p.h1, b)
	}
	for j := 0; j < p.ow; j++ {
		a, b := span(j, w)
		p.w0, p.w1 = append(p.w0, a), append(p.w1, b)
	}
	p.div = make([]float64, p.oh*p.ow)
	for i := range p.div {
		p.div[i] = float64(kernel * kernel)
	}
	return p
}

// adaptivePoolWindows: torch AdaptiveAvgPool2d, start=⌊i·H/oh⌋, end=⌈(i+1)·H/oh⌉.
func adaptivePoolWindows(h, w, oh, ow int) poolWindows {
	p := poolWindows{h: h, w: w, oh: oh, ow: ow}
	for i := 0; i < oh; i++ {
		p.h0, p.h1 = append(p.h0, i*h/oh), append(p.h1, ((i+1)*h+oh-1)/oh)
	}
	for j := 0; j < ow; j++ {
		p.w0, p.w1 = append(p.w0, j*w/ow), append(p.w1, ((j+1)*w+ow-1)/ow)
	}
	p.div = make([]float64, oh*ow)
	for i := 0; i < oh; i++ {
		for j := 0; j < ow; j++ {
			p.div[i*ow+j] = float64((p.h1[i] - p.h0[i]) * (p.w1[j] - p.w0[j]))
		}
	}
	return p
}

// pool2x2 reports whether every window of p is the 2×2 block at (2i, 2j):
// ModifiedResNet's anti-aliasing AvgPool2d(2).
func (p poolWindows) pool2x2() bool {
	for i := 0; i < p.oh; i++ {
		if p.h0[i] != 2*i || p.h1[i] != 2*i+2 {
			return false
		}
	}
	for j := 0; j < p.ow; j++ {
		if p.w0[j] != 2*j || p.w1[j] != 2*j+2 {
			return false
		}
	}
	for _, v := range p.div {
		if v != 4 {
			return false
		}
	}
	return true
}

func poolFwd[T float](planes int, p poolWindows) kernel[T] {
	if p.pool2x2() {
		return func(in [][]T, y []T) {
			x := in[0]
			parallelFor(planes*p.oh, 4*p.ow, func(lo, hi int) {
				for r := lo; r < hi; r++ { // output row r of plane r/oh
					c, i := r/p.oh, r%p.oh
					top := x[(c*p.h+2*i)*p.w:][:2*p.ow]
					bot := x[(c*p.h+2*i+1)*p.w:][:2*p.ow]
					yr := y[r*p.ow : (r+1)*p.ow]
					for j := range yr {
						yr[j] = ((top[2*j] + top[2*j+1]) + (bot[2*j] + bot[2*j+1])) * 0.25
					}
				}
			})
		}
	}
	return func(in [][]T, y []T) {
		x := in[0]
		parallelFor(planes, p.h*p.w, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				xp, yp := x[c*p.h*p.w:(c+1)*p.h*p.w], y[c*p.oh*p.ow:(c+1)*p.oh*p.ow]
				for i := 0; i < p.oh; i++ {
					for j := 0; j < p.ow; j++ {
						var s float64
						for r := p.h0[i]; r < p.h1[i]; r++ {
							for q := p.w0[j]; q < p.w1[j]; q++ {
								s += float64(xp[r*p.w+q])
							}
						}
						yp[i*p.ow+j] = T(s / p.div[i*p.ow+j])
					}
				}
			}
		})
	}
}

// poolGrad: input (gy); spreads each output gradient evenly over its window.
func poolGrad[T float](planes int, p poolWindows) kernel[T] {
	return func(in [][]T, dx []T) {
		gy := in[0]
		parallelFor(planes, p.h*p.w, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				dp, gp := dx[c*p.h*p.w:(c+1)*p.h*p.w], gy[c*p.oh*p.ow:(c+1)*p.oh*p.ow]
				for i := 0; i < p.oh; i++ {
					for j := 0; j < p.ow; j++ {
						g := T(float64(gp[i*p.ow+j]) / p.div[i*p.ow+j])
						for r := p.h0[i]; r < p.h1[i]; r++ {
							for q := p.w0[j]; q < p.w1[j]; q++ {
								dp[r*p.w+q] += g
							}
						}
					}
				}
			}
		})
	}
}

// ---- per-channel affine on (n, c, s) ----

// channelAffineFwd: inputs x, then scale if hasScale, then shift if hasShift.
func channelAffineFwd[T float](n, c, s int, hasScale, hasShift bool) kernel[T] {
	return func(in [][]T, y []T) {
		x := in[0]
		var scale, shift []T
		k := 1
		if hasScale {
			scale, k = in[k], k+1
		}
		if hasShift {
			shift = in[k]
		}
		parallelFor(n*c, 2*s, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				ch := p % c
				a, b := T(1), T(0)
				if hasScale {
					a = scale[ch]
				}
				if hasShift {
					b = shift[ch]
				}
				xp, yp := x[p*s:(p+1)*s], y[p*s:(p+1)*s]
				for i, v := range xp {
					yp[i] = v*a + b
				}
			}
		})
	}
}

// channelScaleGrad: dx = gy·scale[c]; inputs (gy, scale).
func channelScaleGrad[T float](n, c, s int) kernel[T] {
	return func(in [][]T, dx []T) {
		gy, scale := in[0], in[1]
		parallelFor(n*c, s, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				a := scale[p%c]
				for i := p * s; i < (p+1)*s; i++ {
					dx[i] = gy[i] * a
				}
			}
		})
	}
}

// channelSum: out[c] = Σ_{n,s} gy (· x when withX); inputs (gy) or (gy, x).
func channelSum[T float](n, c, s int, withX bool) kernel[T] {
	return func(in [][]T, out []T) {
		gy := in[0]
		parallelSum(n*c, 2*s, c, out, func(lo, hi int, acc []float64) {
			for p := lo; p < hi; p++ {
				var t float64
				if withX {
					x := in[1]
					for i := p * s; i < (p+1)*s; i++ {
						t += float64(gy[i]) * float64(x[i])
					}
				} else {
					for i := p * s; i < (p+1)*s; i++ {
						t += float64(gy[i])
					}
				}
				acc[p%c] += t
			}
		})
	}
}
