package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Self-attention on a packed qkv (B, T, 3C): q, k and v are the channel
// blocks [0, C), [C, 2C) and [2C, 3C) of each token, read in place by the
// attention kernels (row stride 3C), so the one in_proj GEMM's output is
// never sliced or copied.

// SelfAttention is m applied to x (B, T, C) as self-attention with an
// optional additive mask (T, T): one GEMM against the packed
// in_proj_weight gives qkv (B, T, 3C). It returns the output (B, T, C) and
// the attention probabilities (B, heads, T, T), equal to
// m.Forward(g, x, x, mask) without its per-run copies of weight slices.
func (m *MultiheadAttention) SelfAttention(g *Graph, x, mask *G.Node) (out, probs *G.Node) {
	if m == nil || m.InProjWeight == nil {
		return g.Failf("multihead attention: missing in_proj_weight"), nil
	}
	ws := m.InProjWeight.Shape()
	if len(ws) != 2 || ws[0] != 3*ws[1] {
		return g.Failf("multihead attention: in_proj_weight %s, want (3C, C)", shapeString(ws)), nil
	}
	qkv := g.Linear(x, g.Param(m.InProjWeight), g.optParam(m.InProjBias)) // (B, T, 3C)
	probs = g.PackedAttentionProbs(qkv, m.Heads, mask)                    // (B, H, T, T)
	y := g.PackedAttentionApply(probs, qkv)                               // (B, T, C)
	return m.OutProj.Forward(g, y), probs                                 // (B, T, C)
}

// packedDims checks a packed qkv (B, T, 3C) and returns its attention sizes.
func (g *Graph) packedDims(what string, qkv *G.Node, heads int) (attnDims, bool) {
	s := qkv.Shape()
	if len(s) != 3 || s[2]%3 != 0 {
		g.Failf("%s: qkv %s must be (B, T, 3C)", what, shapeString(s))
		return attnDims{}, false
	}
	c := s[2] / 3
	if heads < 1 || c%heads != 0 {
		g.Failf("%s: %d heads do not divide %d channels", what, heads, c)
		return attnDims{}, false
	}
	a := attnDims{b: s[0], tq: s[1], tk: s[1], c: c, h: heads, d: c / heads,
		lq: 3 * c, lk: 3 * c, lv: 3 * c, oq: 0, ok: c, ov: 2 * c}
	a.scale = 1 / math.Sqrt(float64(a.d))
	return a, true
}

// PackedAttentionProbs is AttentionProbs with q and k read from a packed
// qkv (B, T, 3C): softmax(q·kᵀ/√D + mask) per head → (B, heads, T, T).
func (g *Graph) PackedAttentionProbs(qkv *G.Node, heads int, mask *G.Node) *G.Node {
	if !g.OK(qkv) {
		return nil
	}
	a, ok := g.packedDims("packed attention", qkv, heads)
	if !ok {
		return nil
	}
	qs := qkv.Shape().Clone()
	ps := tensor.Shape{a.b, a.h, a.tq, a.tk}
	ms := tensor.Shape{a.tq, a.tk}
	in := []tensor.Shape{qs}
	inputs := []*G.Node{qkv}
	if mask != nil {
		if !mask.Shape().Eq(ms) {
			return g.Failf("packed attention: mask %s, want %s", shapeString(mask.Shape()), shapeString(ms))
		}
		in = append(in, ms)
		inputs = append(inputs, mask)
	}
	key := fmt.Sprintf("packed_attention_probs(heads=%d,mask=%t)", heads, mask != nil)
	op := &fused{key: key, in: in, out: ps,
		k32: packedProbsFwd[float32](a, mask != nil), k64: packedProbsFwd[float64](a, mask != nil),
		diff: []bool{true, true}, full: true}
	op.grad = func(in G.Nodes, p, gp *G.Node) []gradFn {
		gqk := &fused{key: key + "_grad_qk", in: []tensor.Shape{ps, ps, qs}, out: qs,
			k32: packedProbsGrad[float32](a), k64: packedProbsGrad[float64](a)}
		gm := &fused{key: key + "_grad_mask", in: []tensor.Shape{ps, ps}, out: ms,
			k32: attnProbsGradMask[float32](a), k64: attnProbsGradMask[float64](a)}
		return []gradFn{
			func() (*G.Node, error) { return applyGrad(gqk, p, gp, in[0]) },
			func() (*G.Node, error) { return applyGrad(gm, p, gp) },
		}
	}
	return g.apply(op, inputs...)
}

// PackedAttentionApply is AttentionApply with v read from a packed qkv
// (B, T, 3C): probs (B, H, T, T) → (B, T, C).
func (g *Graph) PackedAttentionApply(probs, qkv *G.Node) *G.Node {
	if !g.OK(probs, qkv) {
		return nil
	}
	ps := probs.Shape().Clone()
	if len(ps) != 4 {
		return g.Failf("packed attention apply: probs %s must be (B, H, T, T)", shapeString(ps))
	}
	a, ok := g.packedDims("packed attention apply", qkv, ps[1])
	if !ok {
		return nil
	}
	if !ps.Eq(tensor.Shape{a.b, a.h, a.tq, a.tk}) {
		return g.Failf("packed attention apply: probs %s do not match qkv %s", shapeString(ps), shapeString(qkv.Shape()))
	}
	qs := qkv.Shape().Clone()
	os := tensor.Shape{a.b, a.tq, a.c}
	key := fmt.Sprintf("packed_attention_apply(heads=%d)", a.h)
	op := &fused{key: key, in: []tensor.Shape{ps, qs}, out: os,
		k32: attnApplyFwd[float32](a), k64: attnApplyFwd[float64](a), diff: []bool{true, true}, full: true}
	op.grad = func(in G.Nodes, _, gy *G.Node) []gradFn {
		gp := &fused{key: key + "_grad_p", in: []tensor.Shape{os, qs}, out: ps,
			k32: attnApplyGradP[float32](a), k64: attnApplyGradP[float64](a)}
		// dV lands in the v block of a zeroed (B, T, 3C).
		gv := &fused{key: key + "_grad_v", in: []tensor.Shape{ps, os}, out: qs,
			k32: attnApplyGradV[float32](a), k64: attnApplyGradV[float64](a)}
		return []gradFn{
			func() (*G.Node, error) { return applyGrad(gp, gy, in[1]) },
			func() (*G.Node, error) { return applyGrad(gv, in[0], gy) },
		}
	}
	return g.apply(op, probs, qkv)
}

// packedProbsFwd: inputs (qkv[, mask]).
func packedProbsFwd[T float](a attnDims, masked bool) kernel[T] {
	fwd := attnProbsFwd[T](a, masked)
	return func(in [][]T, p []T) {
		args := [][]T{in[0], in[0]} // q and k both live in qkv
		if masked {
			args = append(args, in[1])
		}
		fwd(args, p)
	}
}

// packedProbsGrad: inputs (P, gP, qkv); writes dq and dk into their blocks
// of a zeroed (B, T, 3C), leaving the v block zero.
func packedProbsGrad[T float](a attnDims) kernel[T] {
	return func(in [][]T, dx []T) {
		p, gp, qkv := in[0], in[1], in[2]
		parallelFor(a.b*a.h, 8*a.tq*a.tk*a.d, func(lo, hi int) {
			ds := make([]T, a.tq*a.tk)
			for bh := lo; bh < hi; bh++ {
				b, h := bh/a.h, bh%a.h
				scoreGrad(a, p[a.pr(bh):a.pr(bh+1)], gp[a.pr(bh):a.pr(bh+1)], ds)
				gemm(false, false, a.tq, a.d, a.tk, T(a.scale), ds, a.tk, qkv[a.ki(b, h):], a.lk, 0, dx[a.qi(b, h):], a.lq)
				gemm(true, false, a.tk, a.d, a.tq, T(a.scale), ds, a.tk, qkv[a.qi(b, h):], a.lq, 0, dx[a.ki(b, h):], a.lk)
			}
		})
	}
}
