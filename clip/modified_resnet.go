package clip

import (
	"fmt"
	"strconv"

	"github.com/goclip/goclip/nn"
	G "gorgonia.org/gorgonia"
)

// Bottleneck is ModifiedResNet's anti-aliased bottleneck: every convolution
// has stride 1 and an AvgPool2d(stride) follows conv2 (and precedes the
// downsample convolution) when stride > 1.
type Bottleneck struct {
	Conv1, Conv2, Conv3 nn.Conv2d
	BN1, BN2, BN3       nn.BatchNorm2d
	// Down is the identity path's 1×1 convolution and BN (downsample.0/.1),
	// nil when the block keeps its input shape.
	Down   *Downsample
	Stride int
}

// Downsample is AvgPool2d(stride) → 1×1 conv → BN on the identity path.
type Downsample struct {
	Conv nn.Conv2d
	BN   nn.BatchNorm2d
}

// Forward applies the block to x (N, Cin, H, W) → (N, 4·planes, H/s, W/s).
// Each conv → BN (→ + identity) → ReLU is one fused op (nn.Graph.ConvBN).
func (b *Bottleneck) Forward(g *nn.Graph, x *G.Node) *G.Node {
	out := g.ConvBN(x, &b.Conv1, &b.BN1, nil, true)  // (N, P, H, W)
	out = g.ConvBN(out, &b.Conv2, &b.BN2, nil, true) // (N, P, H, W)
	if b.Stride > 1 {
		out = g.AvgPool2d(out, b.Stride, b.Stride, 0) // (N, P, H/s, W/s)
	}
	id := x
	if b.Down != nil {
		if b.Stride > 1 {
			id = g.AvgPool2d(id, b.Stride, b.Stride, 0) // (N, Cin, H/s, W/s)
		}
		id = g.ConvBN(id, &b.Down.Conv, &b.Down.BN, nil, false) // (N, 4P, H/s, W/s)
	}
	return g.ConvBN(out, &b.Conv3, &b.BN3, id, true) // (N, 4P, H/s, W/s)
}

// AttentionPool2d pools a feature map by one multi-head attention step whose
// query is the mean token (q_proj/k_proj/v_proj/c_proj).
type AttentionPool2d struct {
	PositionalEmbedding *nn.Param // (grid²+1, C)
	Attn                nn.SeparateAttention
}

// ModifiedResNet is CLIP's ResNet image tower: a 3-convolution stem with an
// average pool, four stages of anti-aliased bottlenecks, attention pooling.
type ModifiedResNet struct {
	Config              VisionConfig
	Conv1, Conv2, Conv3 nn.Conv2d
	BN1, BN2, BN3       nn.BatchNorm2d
	Layers              [4][]*Bottleneck
	AttnPool            AttentionPool2d
}

// ResNetTaps collects intermediate maps: the stem output (N, W, H/4, W/4)
// and the outputs of layer1…layer4; Layers[3] (N, 32·Width, H/32, W/32) is
// the map that attention pooling consumes.
type ResNetTaps struct {
	Stem   *G.Node
	Layers [4]*G.Node
}

func conv(mk maker, name string, out, in, k, stride, pad int) nn.Conv2d {
	return nn.Conv2d{Weight: mk.param(name+".weight", out, in, k, k), Stride: stride, Padding: pad}
}

func batchNorm(mk maker, name string, c int) nn.BatchNorm2d {
	return nn.BatchNorm2d{
		Weight:      mk.param(name+".weight", c),
		Bias:        mk.param(name+".bias", c),
		RunningMean: mk.param(name+".running_mean", c),
		RunningVar:  mk.param(name+".running_var", c),
		Eps:         1e-5,
	}
}

func newModifiedResNet(mk maker, cfg VisionConfig, embed int) *ModifiedResNet {
	w := cfg.Width
	r := &ModifiedResNet{
		Config: cfg,
		Conv1:  conv(mk, "visual.conv1", w/2, 3, 3, 2, 1),
		BN1:    batchNorm(mk, "visual.bn1", w/2),
		Conv2:  conv(mk, "visual.conv2", w/2, w/2, 3, 1, 1),
		BN2:    batchNorm(mk, "visual.bn2", w/2),
		Conv3:  conv(mk, "visual.conv3", w, w/2, 3, 1, 1),
		BN3:    batchNorm(mk, "visual.bn3", w),
	}
	inplanes := w
	for l := range 4 {
		planes := w << l
		for i := range cfg.ResNetLayers[l] {
			p := "visual.layer" + strconv.Itoa(l+1) + "." + strconv.Itoa(i) + "."
			stride := 1
			if l > 0 && i == 0 {
				stride = 2
			}
			b := &Bottleneck{
				Conv1:  conv(mk, p+"conv1", planes, inplanes, 1, 1, 0),
				BN1:    batchNorm(mk, p+"bn1", planes),
				Conv2:  conv(mk, p+"conv2", planes, planes, 3, 1, 1),
				BN2:    batchNorm(mk, p+"bn2", planes),
				Conv3:  conv(mk, p+"conv3", 4*planes, planes, 1, 1, 0),
				BN3:    batchNorm(mk, p+"bn3", 4*planes),
				Stride: stride,
			}
			if stride > 1 || inplanes != 4*planes {
				b.Down = &Downsample{
					Conv: conv(mk, p+"downsample.0", 4*planes, inplanes, 1, 1, 0),
					BN:   batchNorm(mk, p+"downsample.1", 4*planes),
				}
			}
			r.Layers[l] = append(r.Layers[l], b)
			inplanes = 4 * planes
		}
	}
	c := 32 * w
	grid := cfg.ImageSize / 32
	r.AttnPool = AttentionPool2d{
		PositionalEmbedding: mk.param("visual.attnpool.positional_embedding", grid*grid+1, c),
		Attn: nn.SeparateAttention{
			Q:     linear(mk, "visual.attnpool.q_proj", c, c),
			K:     linear(mk, "visual.attnpool.k_proj", c, c),
			V:     linear(mk, "visual.attnpool.v_proj", c, c),
			Out:   linear(mk, "visual.attnpool.c_proj", embed, c),
			Heads: cfg.Heads,
		},
	}
	return r
}

// Stem is conv1 (stride 2) → conv2 → conv3, each with BN and ReLU, then
// AvgPool2d(2): (N, 3, H, W) → (N, Width, H/4, W/4).
func (r *ModifiedResNet) Stem(g *nn.Graph, x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	if s := x.Shape(); len(s) != 4 || s[1] != 3 || s[2]%32 != 0 || s[3]%32 != 0 {
		return g.Fail(fmt.Errorf("clip: ModifiedResNet input has shape %v, want (N, 3, H, W) with H and W multiples of 32", s))
	}
	x = g.ConvBN(x, &r.Conv1, &r.BN1, nil, true) // (N, W/2, H/2, W/2)
	x = g.ConvBN(x, &r.Conv2, &r.BN2, nil, true) // (N, W/2, H/2, W/2)
	x = g.ConvBN(x, &r.Conv3, &r.BN3, nil, true) // (N, W, H/2, W/2)
	return g.AvgPool2d(x, 2, 2, 0)               // (N, W, H/4, W/4)
}

// Trunk runs the stem and layer1…layer4 on x (N, 3, H, W), any H and W
// that are multiples of 32, and returns the map (N, 32·Width, H/32, W/32)
// before attention pooling. taps may be nil.
func (r *ModifiedResNet) Trunk(g *nn.Graph, x *G.Node, taps *ResNetTaps) *G.Node {
	x = r.Stem(g, x) // (N, W, H/4, W/4)
	if taps != nil {
		taps.Stem = x
	}
	for l, blocks := range r.Layers {
		for _, b := range blocks {
			x = b.Forward(g, x) // (N, C_l, H_l, W_l)
		}
		if taps != nil {
			taps.Layers[l] = x
		}
	}
	return x
}

// tokens flattens a map (N, C, h, w) to (N, h·w, C), row-major over (h, w).
func tokens(g *nn.Graph, x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	s := x.Shape()
	x = g.Reshape(x, s[0], s[1], s[2]*s[3]) // (N, C, hw)
	return g.Transpose(x, 0, 2, 1)          // (N, hw, C)
}

// Pool is the attention pooling of a layer4 map (N, C, h, w) → (N, E). The
// map must have the training grid (ImageSize/32 square): the positional
// embedding is not interpolated.
func (r *ModifiedResNet) Pool(g *nn.Graph, x *G.Node) *G.Node {
	if !g.OK(x) {
		return nil
	}
	grid := r.Config.ImageSize / 32
	if s := x.Shape(); len(s) != 4 || s[2] != grid || s[3] != grid {
		return g.Fail(fmt.Errorf("clip: attention pool input has shape %v, want (N, %d, %d, %d) (input %d×%d pixels)", s, 32*r.Config.Width, grid, grid, r.Config.ImageSize, r.Config.ImageSize))
	}
	n, c := x.Shape()[0], x.Shape()[1]
	x = tokens(g, x)                                               // (N, hw, C)
	mean := g.Reshape(g.Mean(x, 1), n, 1, c)                       // (N, 1, C)
	x = g.Concat(1, mean, x)                                       // (N, hw+1, C)
	x = g.BroadcastAdd(x, g.Param(r.AttnPool.PositionalEmbedding)) // (N, hw+1, C)
	q := g.Slice(x, 1, 0, 1)                                       // (N, 1, C)
	out, _ := r.AttnPool.Attn.Forward(g, q, x, nil)                // (N, 1, E)
	if !g.OK(out) {
		return nil
	}
	return g.Reshape(out, n, out.Shape()[2]) // (N, E)
}

// Dense maps every location of a layer4 map (N, C, h, w) into the joint
// embedding space through the attention pool's value and output
// projections, c_proj(v_proj(x)), skipping attention and the positional
// embedding (as MaskCLIP does): (N, h·w, E), locations row-major. Any h, w.
func (r *ModifiedResNet) Dense(g *nn.Graph, x *G.Node) *G.Node {
	x = tokens(g, x)                         // (N, hw, C)
	x = r.AttnPool.Attn.V.Forward(g, x)      // (N, hw, C)
	return r.AttnPool.Attn.Out.Forward(g, x) // (N, hw, E)
}

// Forward computes image embeddings (N, E) from normalized pixels
// (N, 3, R, R). taps may be nil.
func (r *ModifiedResNet) Forward(g *nn.Graph, x *G.Node, taps *ResNetTaps) *G.Node {
	x = r.Trunk(g, x, taps) // (N, 32W, R/32, R/32)
	return r.Pool(g, x)     // (N, E)
}

func (r *ModifiedResNet) params() []*nn.Param {
	ps := []*nn.Param{r.Conv1.Weight}
	ps = append(ps, bnParams(r.BN1)...)
	ps = append(ps, r.Conv2.Weight)
	ps = append(ps, bnParams(r.BN2)...)
	ps = append(ps, r.Conv3.Weight)
	ps = append(ps, bnParams(r.BN3)...)
	for _, blocks := range r.Layers {
		for _, b := range blocks {
			ps = append(ps, b.Conv1.Weight)
			ps = append(ps, bnParams(b.BN1)...)
			ps = append(ps, b.Conv2.Weight)
			ps = append(ps, bnParams(b.BN2)...)
			ps = append(ps, b.Conv3.Weight)
			ps = append(ps, bnParams(b.BN3)...)
			if b.Down != nil {
				ps = append(ps, b.Down.Conv.Weight)
				ps = append(ps, bnParams(b.Down.BN)...)
			}
		}
	}
	a := r.AttnPool.Attn
	ps = append(ps, r.AttnPool.PositionalEmbedding)
	for _, l := range []nn.Linear{a.K, a.Q, a.V, a.Out} {
		ps = append(ps, l.Weight, l.Bias)
	}
	return ps
}

func bnParams(b nn.BatchNorm2d) []*nn.Param {
	return []*nn.Param{b.Weight, b.Bias, b.RunningMean, b.RunningVar}
}
