package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Layers hold *Param fields named as in torch; Forward builds the layer's
// part of the graph. A nil required parameter makes the graph fail with an
// error naming the layer.

// Linear is torch.nn.Linear: weight (out, in), bias (out) or nil.
type Linear struct{ Weight, Bias *Param }

// Forward maps x (..., in) to (..., out).
func (l *Linear) Forward(g *Graph, x *G.Node) *G.Node {
	if l == nil || l.Weight == nil {
		return g.Failf("linear: missing weight")
	}
	return g.Linear(x, g.Param(l.Weight), g.optParam(l.Bias)) // (..., out)
}

// optParam binds p, or returns nil for a nil p.
func (g *Graph) optParam(p *Param) *G.Node {
	if p == nil {
		return nil
	}
	return g.Param(p)
}

// LayerNorm is torch.nn.LayerNorm over the last axis. Eps 0 means torch's
// default 1e-5.
type LayerNorm struct {
	Weight, Bias *Param
	Eps          float64
}

// Forward normalises x (..., C).
func (l *LayerNorm) Forward(g *Graph, x *G.Node) *G.Node {
	if l == nil || l.Weight == nil || l.Bias == nil {
		return g.Failf("layernorm: missing weight or bias")
	}
	eps := l.Eps
	if eps == 0 {
		eps = 1e-5
	}
	return g.LayerNorm(x, g.Param(l.Weight), g.Param(l.Bias), eps) // (..., C)
}

// Conv2d is torch.nn.Conv2d without groups or dilation: weight
// (Cout, Cin, kH, kW), bias (Cout) or nil.
type Conv2d struct {
	Weight, Bias    *Param
	Stride, Padding int
}

// Forward convolves x (N, Cin, H, W) to (N, Cout, OH, OW). Stride 0 means 1.
func (l *Conv2d) Forward(g *Graph, x *G.Node) *G.Node {
	if l == nil || l.Weight == nil {
		return g.Failf("conv2d: missing weight")
	}
	stride := max(l.Stride, 1)
	return g.Conv2d(x, g.Param(l.Weight), g.optParam(l.Bias), stride, l.Padding) // (N, Cout, OH, OW)
}

// BatchNorm2d is torch.nn.BatchNorm2d in inference mode. Eps 0 means 1e-5.
type BatchNorm2d struct {
	Weight, Bias, RunningMean, RunningVar *Param
	Eps                                   float64
}

// Forward folds the running statistics into a per-channel affine:
// scale = w/√(var+eps), shift = b − mean·scale, then y = x·scale + shift.
// The folding is built from graph ops, so gradients reach w and b.
func (l *BatchNorm2d) Forward(g *Graph, x *G.Node) *G.Node {
	scale, shift := l.fold(g)               // (C), (C)
	return g.ChannelAffine(x, scale, shift) // (N, C, H, W)
}

// fold returns the per-channel scale w/√(var+eps) and shift b − mean·scale.
func (l *BatchNorm2d) fold(g *Graph) (scale, shift *G.Node) {
	if l == nil || l.Weight == nil || l.Bias == nil || l.RunningMean == nil || l.RunningVar == nil {
		return g.Failf("batchnorm2d: missing weight, bias or running statistics"), nil
	}
	eps := l.Eps
	if eps == 0 {
		eps = 1e-5
	}
	w, b := g.Param(l.Weight), g.Param(l.Bias)                      // (C)
	mean, variance := g.Param(l.RunningMean), g.Param(l.RunningVar) // (C)
	// eps as a Gorgonia constant, not a leaf: no gradient is sought for
	// it, so frozen statistics keep the whole fold gradient-free.
	var epsv G.Value = G.NewF32(float32(eps))
	if g.Dtype() == tensor.Float64 {
		epsv = G.NewF64(eps)
	}
	std := g.Sqrt(g.Do("add eps", func() (*G.Node, error) { return G.Add(variance, G.NewConstant(epsv)) })) // (C)
	scale = g.Div(w, std)                                                                                   // (C)
	shift = g.Sub(b, g.Mul(mean, scale))                                                                    // (C)
	return scale, shift
}

// Embedding is torch.nn.Embedding: weight (V, C).
type Embedding struct{ Weight *Param }

// Forward gathers rows for the Int indices idx (n) → (n, C).
func (l *Embedding) Forward(g *Graph, idx *G.Node) *G.Node {
	if l == nil || l.Weight == nil {
		return g.Failf("embedding: missing weight")
	}
	return g.Gather(g.Param(l.Weight), idx) // (n, C)
}

// MLP is the transformer feed-forward block fc1 → activation → fc2.
type MLP struct {
	FC1, FC2 Linear
	Act      Activation
}

// Forward maps x (..., C) through the hidden width back to (..., C).
func (m *MLP) Forward(g *Graph, x *G.Node) *G.Node {
	x = m.FC1.Forward(g, x) // (..., hidden)
	x = g.Activate(x, m.Act)
	return m.FC2.Forward(g, x) // (..., C)
}

// MultiheadAttention is torch.nn.MultiheadAttention (batch-first here) with
// packed in_proj_weight (3C, C), in_proj_bias (3C) and out_proj.
type MultiheadAttention struct {
	InProjWeight, InProjBias *Param
	OutProj                  Linear
	Heads                    int
}

// Forward attends from q (B, Tq, C) to kv (B, Tk, C) with an optional
// additive mask (Tq, Tk). It returns the output (B, Tq, C) and the attention
// probabilities (B, heads, Tq, Tk). Self-attention passes the same node as q
// and kv; attention pooling passes a query subset as q.
//
// Self-attention (q == kv) takes the packed path of SelfAttention; other
// queries slice the weight into its q, k and v rows.
func (m *MultiheadAttention) Forward(g *Graph, q, kv, mask *G.Node) (out, probs *G.Node) {
	if q == kv {
		return m.SelfAttention(g, q, mask)
	}
	if m == nil || m.InProjWeight == nil {
		return g.Failf("multihead attention: missing in_proj_weight"), nil
	}
	ws := m.InProjWeight.Shape()
	if len(ws) != 2 || ws[0] != 3*ws[1] {
		return g.Failf("multihead attention: in_proj_weight %s, want (3C, C)", shapeString(ws)), nil
	}
	c := ws[1]
	w := g.Param(m.InProjWeight) // (3C, C)
	var b *G.Node
	if m.InProjBias != nil {
		b = g.Param(m.InProjBias) // (3C)
	}
	part := func(i int) (*G.Node, *G.Node) {
		wi := g.Slice(w, 0, i*c, (i+1)*c) // (C, C)
		if b == nil {
			return wi, nil
		}
		return wi, g.Slice(b, 0, i*c, (i+1)*c) // (C)
	}
	wq, bq := part(0)
	wk, bk := part(1)
	wv, bv := part(2)
	qp := g.Linear(q, wq, bq)  // (B, Tq, C)
	kp := g.Linear(kv, wk, bk) // (B, Tk, C)
	vp := g.Linear(kv, wv, bv) // (B, Tk, C)
	return attend(g, qp, kp, vp, m.Heads, mask, &m.OutProj)
}

// SeparateAttention is multi-head attention with separate projections
// (q_proj, k_proj, v_proj and an output projection such as c_proj).
type SeparateAttention struct {
	Q, K, V, Out Linear
	Heads        int
}

// Forward is as MultiheadAttention.Forward.
func (m *SeparateAttention) Forward(g *Graph, q, kv, mask *G.Node) (out, probs *G.Node) {
	if m == nil {
		return g.Failf("separate attention: nil layer"), nil
	}
	qp := m.Q.Forward(g, q)  // (B, Tq, C)
	kp := m.K.Forward(g, kv) // (B, Tk, C)
	vp := m.V.Forward(g, kv) // (B, Tk, C)
	return attend(g, qp, kp, vp, m.Heads, mask, &m.Out)
}

func attend(g *Graph, q, k, v *G.Node, heads int, mask *G.Node, outProj *Linear) (out, probs *G.Node) {
	if heads < 1 {
		return g.Fail(fmt.Errorf("nn: attention: %d heads", heads)), nil
	}
	probs = g.AttentionProbs(q, k, heads, mask) // (B, H, Tq, Tk)
	y := g.AttentionApply(probs, v)             // (B, Tq, C)
	return outProj.Forward(g, y), probs         // (B, Tq, C)
}
