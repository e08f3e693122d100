package clip

import (
	"fmt"
	"strconv"

	"github.com/goclip/goclip/nn"
	G "gorgonia.org/gorgonia"
)

// ResidualBlock is CLIP's pre-LayerNorm transformer block:
// x += attn(ln_1(x)); x += mlp(ln_2(x)).
type ResidualBlock struct {
	LN1  nn.LayerNorm
	Attn nn.MultiheadAttention
	LN2  nn.LayerNorm
	MLP  nn.MLP
}

// Forward applies the block to x (B, T, W). mask is nil or an additive
// (T, T) mask. It also returns the attention probabilities (B, Heads, T, T).
func (b *ResidualBlock) Forward(g *nn.Graph, x, mask *G.Node) (out, probs *G.Node) {
	h := b.LN1.Forward(g, x)                     // (B, T, W)
	a, probs := b.Attn.SelfAttention(g, h, mask) // (B, T, W), (B, H, T, T)
	x = g.Add(x, a)                              // (B, T, W)
	h = b.LN2.Forward(g, x)                      // (B, T, W)
	h = b.MLP.Forward(g, h)                      // (B, T, W)
	return g.Add(x, h), probs
}

// Transformer is a stack of residual attention blocks.
type Transformer struct {
	Width, Heads int
	Blocks       []*ResidualBlock
}

// Taps collects intermediate nodes of a transformer: the output of every
// block (B, T, W) and its attention probabilities (B, Heads, T, T).
type Taps struct {
	Tokens []*G.Node
	Probs  []*G.Node
}

// VisionTaps is Taps for an image transformer: Tokens[i] (N, grid²+1, W)
// is the output of block i (token 0 = class token), Probs[i]
// (N, Heads, T, T) its attention probabilities.
type VisionTaps = Taps

// Forward runs every block on x (B, T, W); taps may be nil.
func (t *Transformer) Forward(g *nn.Graph, x, mask *G.Node, taps *Taps) *G.Node {
	for _, b := range t.Blocks {
		var probs *G.Node
		x, probs = b.Forward(g, x, mask) // (B, T, W)
		if taps != nil {
			taps.Tokens = append(taps.Tokens, x)
			taps.Probs = append(taps.Probs, probs)
		}
	}
	return x
}

func newTransformer(mk maker, prefix string, width, heads, layers int, act nn.Activation) *Transformer {
	t := &Transformer{Width: width, Heads: heads}
	for i := range layers {
		p := prefix + "resblocks." + strconv.Itoa(i) + "."
		t.Blocks = append(t.Blocks, &ResidualBlock{
			LN1: layerNorm(mk, p+"ln_1", width),
			Attn: nn.MultiheadAttention{
				InProjWeight: mk.param(p+"attn.in_proj_weight", 3*width, width),
				InProjBias:   mk.param(p+"attn.in_proj_bias", 3*width),
				OutProj:      linear(mk, p+"attn.out_proj", width, width),
				Heads:        heads,
			},
			LN2: layerNorm(mk, p+"ln_2", width),
			MLP: nn.MLP{
				FC1: linear(mk, p+"mlp.c_fc", 4*width, width),
				FC2: linear(mk, p+"mlp.c_proj", width, 4*width),
				Act: act,
			},
		})
	}
	return t
}

// VisionTransformer is CLIP's ViT image tower.
type VisionTransformer struct {
	Config              VisionConfig
	Conv1               nn.Conv2d // patch embedding, no bias, kernel = stride = patch
	ClassEmbedding      *nn.Param // (W)
	PositionalEmbedding *nn.Param // (grid²+1, W)
	LNPre               nn.LayerNorm
	Transformer         *Transformer
	LNPost              nn.LayerNorm
	Proj                *nn.Param // (W, E)
}

func newVisionTransformer(mk maker, cfg VisionConfig, embed int, act nn.Activation) *VisionTransformer {
	w, p := cfg.Width, cfg.PatchSize
	grid := cfg.ImageSize / p
	return &VisionTransformer{
		Config:              cfg,
		Conv1:               nn.Conv2d{Weight: mk.param("visual.conv1.weight", w, 3, p, p), Stride: p},
		ClassEmbedding:      mk.param("visual.class_embedding", w),
		PositionalEmbedding: mk.param("visual.positional_embedding", grid*grid+1, w),
		LNPre:               layerNorm(mk, "visual.ln_pre", w),
		Transformer:         newTransformer(mk, "visual.transformer.", w, cfg.Heads, cfg.Layers, act),
		LNPost:              layerNorm(mk, "visual.ln_post", w),
		Proj:                mk.param("visual.proj", w, embed),
	}
}

// Tokens runs the tower up to the last block on x (N, 3, R, R) and returns
// all tokens (N, grid²+1, W) before ln_post; taps may be nil.
func (v *VisionTransformer) Tokens(g *nn.Graph, x *G.Node, taps *Taps) *G.Node {
	if !g.OK(x) {
		return nil
	}
	r, w := v.Config.ImageSize, v.Config.Width
	if s := x.Shape(); len(s) != 4 || s[1] != 3 || s[2] != r || s[3] != r {
		return g.Fail(fmt.Errorf("clip: ViT input has shape %v, want (N, 3, %d, %d)", s, r, r))
	}
	n := x.Shape()[0]
	grid := r / v.Config.PatchSize
	x = v.Conv1.Forward(g, x)                              // (N, W, grid, grid)
	x = g.Reshape(x, n, w, grid*grid)                      // (N, W, grid²)
	x = g.Transpose(x, 0, 2, 1)                            // (N, grid², W)
	cls := g.Const("zeros", make([]float64, n*w), n, 1, w) // (N, 1, W)
	cls = g.BroadcastAdd(cls, g.Param(v.ClassEmbedding))   // (N, 1, W)
	x = g.Concat(1, cls, x)                                // (N, T, W)
	x = g.BroadcastAdd(x, g.Param(v.PositionalEmbedding))  // (N, T, W)
	x = v.LNPre.Forward(g, x)                              // (N, T, W)
	x = v.Transformer.Forward(g, x, nil, taps)             // (N, T, W)
	return x
}

// Head maps the tokens (N, T, W) of Tokens to embeddings (N, E): ln_post
// of the class token, times proj.
func (v *VisionTransformer) Head(g *nn.Graph, x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	n, w := x.Shape()[0], v.Config.Width
	x = g.Slice(x, 1, 0, 1)             // (N, 1, W)
	x = g.Reshape(x, n, w)              // (N, W)
	x = v.LNPost.Forward(g, x)          // (N, W)
	return g.MatMul(x, g.Param(v.Proj)) // (N, E)
}

// Forward computes image embeddings (N, E) from normalized pixels
// (N, 3, R, R). taps may be nil.
func (v *VisionTransformer) Forward(g *nn.Graph, x *G.Node, taps *Taps) *G.Node {
	x = v.Tokens(g, x, taps) // (N, T, W)
	return v.Head(g, x)      // (N, E)
}

func (v *VisionTransformer) params() []*nn.Param {
	ps := []*nn.Param{v.ClassEmbedding, v.PositionalEmbedding, v.Proj, v.Conv1.Weight}
	ps = append(ps, lnParams(v.LNPre)...)
	ps = append(ps, transformerParams(v.Transformer)...)
	return append(ps, lnParams(v.LNPost)...)
}

func transformerParams(t *Transformer) []*nn.Param {
	var ps []*nn.Param
	for _, b := range t.Blocks {
		ps = append(ps, b.Attn.InProjWeight, b.Attn.InProjBias, b.Attn.OutProj.Weight, b.Attn.OutProj.Bias)
		ps = append(ps, lnParams(b.LN1)...)
		ps = append(ps, b.MLP.FC1.Weight, b.MLP.FC1.Bias, b.MLP.FC2.Weight, b.MLP.FC2.Bias)
		ps = append(ps, lnParams(b.LN2)...)
	}
	return ps
}

func lnParams(l nn.LayerNorm) []*nn.Param { return []*nn.Param{l.Weight, l.Bias} }

func layerNorm(mk maker, name string, width int) nn.LayerNorm {
	return nn.LayerNorm{Weight: mk.param(name+".weight", width), Bias: mk.param(name+".bias", width), Eps: 1e-5}
}

func linear(mk maker, name string, out, in int) nn.Linear {
	return nn.Linear{Weight: mk.param(name+".weight", out, in), Bias: mk.param(name+".bias", out)}
}
