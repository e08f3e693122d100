package nn

import (
	"fmt"
	"math"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Multi-head attention on the (B, T, C) layout. Head h of a token is the
// channel block [h·D, (h+1)·D) with D = C/heads, so each (batch, head) pair
// is a strided (T, D) matrix with leading dimension C, handed to the GEMM
// directly: no transposes or copies to (B, H, T, D).

// attnDims are the sizes of one attention op. q, k and v rows are read
// with row strides lq, lk, lv from channel offsets oq, ok, ov: (C, 0) for
// separate (B, T, C) tensors, (3C, 0/C/2C) for a packed (B, T, 3C) qkv.
type attnDims struct {
	b, tq, tk, c, h, d int
	scale              float64
	lq, lk, lv         int
	oq, ok, ov         int
}

// separate sets the strides of separate q, k, v tensors.
func (a attnDims) separate() attnDims {
	a.lq, a.lk, a.lv = a.c, a.c, a.c
	return a
}

// AttentionProbs returns softmax(q·kᵀ/√D + mask) per head: q (B, Tq, C),
// k (B, Tk, C), mask nil or additive (Tq, Tk) → (B, heads, Tq, Tk).
func (g *Graph) AttentionProbs(q, k *G.Node, heads int, mask *G.Node) *G.Node {
	if !g.OK(q, k) {
		return nil
	}
	qs, ks := q.Shape().Clone(), k.Shape().Clone()
	if len(qs) != 3 || len(ks) != 3 || qs[0] != ks[0] || qs[2] != ks[2] {
		return g.Failf("attention: q %s and k %s must be (B, Tq, C) and (B, Tk, C)", shapeString(qs), shapeString(ks))
	}
	if heads < 1 || qs[2]%heads != 0 {
		return g.Failf("attention: %d heads do not divide %d channels", heads, qs[2])
	}
	a := attnDims{b: qs[0], tq: qs[1], tk: ks[1], c: qs[2], h: heads, d: qs[2] / heads}.separate()
	a.scale = 1 / math.Sqrt(float64(a.d))
	ps := tensor.Shape{a.b, a.h, a.tq, a.tk}
	ms := tensor.Shape{a.tq, a.tk}
	in := []tensor.Shape{qs, ks}
	inputs := []*G.Node{q, k}
	if mask != nil {
		if !mask.Shape().Eq(ms) {
			return g.Failf("attention: mask %s, want %s", shapeString(mask.Shape()), shapeString(ms))
		}
		in = append(in, ms)
		inputs = append(inputs, mask)
	}
	key := fmt.Sprintf("attention_probs(heads=%d,mask=%t)", heads, mask != nil)
	op := &fused{key: key, in: in, out: ps,
		k32: attnProbsFwd[float32](a, mask != nil), k64: attnProbsFwd[float64](a, mask != nil),
		diff: []bool{true, true, true}, full: true}
	op.grad = func(in G.Nodes, p, gp *G.Node) []gradFn {
		gq := &fused{key: key + "_grad_q", in: []tensor.Shape{ps, ps, ks}, out: qs,
			k32: attnProbsGradQK[float32](a, true), k64: attnProbsGradQK[float64](a, true)}
		gk := &fused{key: key + "_grad_k", in: []tensor.Shape{ps, ps, qs}, out: ks,
			k32: attnProbsGradQK[float32](a, false), k64: attnProbsGradQK[float64](a, false)}
		gm := &fused{key: key + "_grad_mask", in: []tensor.Shape{ps, ps}, out: ms,
			k32: attnProbsGradMask[float32](a), k64: attnProbsGradMask[float64](a)}
		return []gradFn{
			func() (*G.Node, error) { return applyGrad(gq, p, gp, in[1]) },
			func() (*G.Node, error) { return applyGrad(gk, p, gp, in[0]) },
			func() (*G.Node, error) { return applyGrad(gm, p, gp) },
		}
	}
	return g.apply(op, inputs...)
}

// AttentionApply mixes values by attention probabilities and re-merges the
// heads: probs (B, H, Tq, Tk), v (B, Tk, C) → (B, Tq, C).
func (g *Graph) AttentionApply(probs, v *G.Node) *G.Node {
	if !g.OK(probs, v) {
		return nil
	}
	ps, vs := probs.Shape().Clone(), v.Shape().Clone()
	if len(ps) != 4 || len(vs) != 3 || ps[0] != vs[0] || ps[3] != vs[1] || ps[1] < 1 || vs[2]%ps[1] != 0 {
		return g.Failf("attention apply: probs %s and v %s must be (B, H, Tq, Tk) and (B, Tk, C) with H dividing C", shapeString(ps), shapeString(vs))
	}
	a := attnDims{b: ps[0], h: ps[1], tq: ps[2], tk: ps[3], c: vs[2], d: vs[2] / ps[1]}.separate()
	os := tensor.Shape{a.b, a.tq, a.c}
	key := fmt.Sprintf("attention_apply(heads=%d)", a.h)
	op := &fused{key: key, in: []tensor.Shape{ps, vs}, out: os,
		k32: attnApplyFwd[float32](a), k64: attnApplyFwd[float64](a), diff: []bool{true, true}, full: true}
	op.grad = func(in G.Nodes, _, gy *G.Node) []gradFn {
		gp := &fused{key: key + "_grad_p", in: []tensor.Shape{os, vs}, out: ps,
			k32: attnApplyGradP[float32](a), k64: attnApplyGradP[float64](a)}
		gv := &fused{key: key + "_grad_v", in: []tensor.Shape{ps, os}, out: vs,
			k32: attnApplyGradV[float32](a), k64: attnApplyGradV[float64](a)}
		return []gradFn{
			func() (*G.Node, error) { return applyGrad(gp, gy, in[1]) },
			func() (*G.Node, error) { return applyGrad(gv, in[0], gy) },
		}
	}
	return g.apply(op, probs, v)
}

// Offsets of head h of batch b: in q, k, v, in the (B, Tq, C) output and
// in the probabilities (B, H, Tq, Tk).
func (a attnDims) qi(b, h int) int { return b*a.tq*a.lq + a.oq + h*a.d }
func (a attnDims) ki(b, h int) int { return b*a.tk*a.lk + a.ok + h*a.d }
func (a attnDims) vi(b, h int) int { return b*a.tk*a.lv + a.ov + h*a.d }
func (a attnDims) yi(b, h int) int { return b*a.tq*a.c + h*a.d }
func (a attnDims) pr(bh int) int   { return bh * a.tq * a.tk }

// attnProbsFwd: inputs (q, k[, mask]).
func attnProbsFwd[T float](a attnDims, masked bool) kernel[T] {
	return func(in [][]T, p []T) {
		q, k := in[0], in[1]
		parallelFor(a.b*a.h, 2*a.tq*a.tk*a.d, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				b, h := bh/a.h, bh%a.h
				s := p[a.pr(bh):a.pr(bh+1)]
				gemm(false, true, a.tq, a.tk, a.d, T(a.scale), q[a.qi(b, h):], a.lq, k[a.ki(b, h):], a.lk, 0, s, a.tk)
				if masked {
					for i, m := range in[2] {
						s[i] += m
					}
				}
				for r := 0; r < a.tq; r++ {
					softmaxLine(s[r*a.tk:], s[r*a.tk:], a.tk, 1, false)
				}
			}
		})
	}
}

// scoreGrad writes dS = P ⊙ (gP − rowsum(gP ⊙ P)), the gradient at the
// pre-softmax scores of one (batch, head).
func scoreGrad[T float](a attnDims, p, gp, ds []T) {
	for r := 0; r < a.tq; r++ {
		pr, gr, dr := p[r*a.tk:(r+1)*a.tk], gp[r*a.tk:(r+1)*a.tk], ds[r*a.tk:(r+1)*a.tk]
		var dot float64
		for j, v := range pr {
			dot += float64(v) * float64(gr[j])
		}
		for j, v := range pr {
			dr[j] = T(float64(v) * (float64(gr[j]) - dot))
		}
	}
}

// attnProbsGradQK: inputs (P, gP, other) where other is k for dq and q for
// dk. dq = scale·dS·K, dk = scale·dSᵀ·Q, per (batch, head).
func attnProbsGradQK[T float](a attnDims, wantQ bool) kernel[T] {
	return func(in [][]T, dx []T) {
		p, gp, other := in[0], in[1], in[2]
		parallelFor(a.b*a.h, 4*a.tq*a.tk*a.d, func(lo, hi int) {
			ds := make([]T, a.tq*a.tk)
			for bh := lo; bh < hi; bh++ {
				b, h := bh/a.h, bh%a.h
				scoreGrad(a, p[a.pr(bh):a.pr(bh+1)], gp[a.pr(bh):a.pr(bh+1)], ds)
				if wantQ {
					gemm(false, false, a.tq, a.d, a.tk, T(a.scale), ds, a.tk, other[a.ki(b, h):], a.lk, 0, dx[a.qi(b, h):], a.lq)
				} else {
					gemm(true, false, a.tk, a.d, a.tq, T(a.scale), ds, a.tk, other[a.qi(b, h):], a.lq, 0, dx[a.ki(b, h):], a.lk)
				}
			}
		})
	}
}

// attnProbsGradMask: inputs (P, gP); dmask = Σ_{b,h} dS.
func attnProbsGradMask[T float](a attnDims) kernel[T] {
	return func(in [][]T, dm []T) {
		p, gp := in[0], in[1]
		var mu sync.Mutex
		total := make([]T, a.tq*a.tk)
		parallelFor(a.b*a.h, 4*a.tq*a.tk, func(lo, hi int) {
			ds := make([]T, a.tq*a.tk)
			acc := make([]T, a.tq*a.tk)
			for bh := lo; bh < hi; bh++ {
				scoreGrad(a, p[a.pr(bh):a.pr(bh+1)], gp[a.pr(bh):a.pr(bh+1)], ds)
				for i, v := range ds {
					acc[i] += v
				}
			}
			mu.Lock()
			for i, v := range acc {
				total[i] += v
			}
			mu.Unlock()
		})
		copy(dm, total)
	}
}

// attnApplyFwd: inputs (P, v); y[b, :, head h] = P_bh · V_bh.
func attnApplyFwd[T float](a attnDims) kernel[T] {
	return func(in [][]T, y []T) {
		p, v := in[0], in[1]
		parallelFor(a.b*a.h, 2*a.tq*a.tk*a.d, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				b, h := bh/a.h, bh%a.h
				gemm(false, false, a.tq, a.d, a.tk, 1, p[a.pr(bh):], a.tk, v[a.vi(b, h):], a.lv, 0, y[a.yi(b, h):], a.c)
			}
		})
	}
}

// attnApplyGradP: inputs (gy, v); dP_bh = gY_bh · V_bhᵀ.
func attnApplyGradP[T float](a attnDims) kernel[T] {
	return func(in [][]T, dp []T) {
		gy, v := in[0], in[1]
		parallelFor(a.b*a.h, 2*a.tq*a.tk*a.d, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				b, h := bh/a.h, bh%a.h
				gemm(false, true, a.tq, a.tk, a.d, 1, gy[a.yi(b, h):], a.c, v[a.vi(b, h):], a.lv, 0, dp[a.pr(bh):], a.tk)
			}
		})
	}
}

// attnApplyGradV: inputs (P, gy); dV_bh = P_bhᵀ · gY_bh.
func attnApplyGradV[T float](a attnDims) kernel[T] {
	return func(in [][]T, dv []T) {
		p, gy := in[0], in[1]
		parallelFor(a.b*a.h, 2*a.tq*a.tk*a.d, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				b, h := bh/a.h, bh%a.h
				gemm(true, false, a.tk, a.d, a.tq, 1, p[a.pr(bh):], a.tk, gy[a.yi(b, h):], a.c, 0, dv[a.vi(b, h):], a.lv)
			}
		})
	}
}
