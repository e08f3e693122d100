package clipasso

import (
	"fmt"
	"sync"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/loss"
	"github.com/goclip/goclip/vgg"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Distance compares two activations.
type Distance int

// Distances, each averaged over all elements (cosine: over all positions,
// the channel axis 1 reduced) so layers of different sizes weigh alike.
const (
	L2     Distance = iota // mean((a−b)²), CLIPasso's default
	L1                     // mean(|a−b|)
	Cosine                 // mean(1 − cos(a, b) along axis 1); CLIPasso's RN "Cos" branch is broken (torch.square with two tensors), this is the evident intent
)

func (d Distance) String() string {
	switch d {
	case L2:
		return "L2"
	case L1:
		return "L1"
	case Cosine:
		return "Cos"
	}
	return fmt.Sprintf("Distance(%d)", int(d))
}

// ParseDistance reads "L2", "L1" or "Cos" (CLIPasso's names).
func ParseDistance(s string) (Distance, error) {
	switch s {
	case "L2", "l2":
		return L2, nil
	case "L1", "l1":
		return L1, nil
	case "Cos", "cos", "cosine":
		return Cosine, nil
	}
	return 0, fmt.Errorf("clipasso: unknown distance %q (want L2, L1 or Cos)", s)
}

// ResNetLayers names the CLIP ResNet activations the geometric loss can
// weigh, in LayerWeights order.
var ResNetLayers = [5]string{"stem", "layer1", "layer2", "layer3", "layer4"}

// term is one weighted distance between a sketch feature and the target's.
type term struct {
	feature string
	weight  float64
	dist    Distance
}

// backbone is a feature network the loss compares sketch and target with.
type backbone struct {
	name      string
	mean, std [3]float64
	terms     []term
	forward   func(g *nn.Graph, x *G.Node) map[string]*G.Node
	// fixedTarget: the target features are constants (the clean target's
	// embedding or a text embedding), not recomputed per augmentation.
	fixedTarget [][]float32 // per term, one row, repeated over the batch
	params      []*nn.Param // frozen while graphs are built
}

// clipResNetBackbone is CLIPasso's CLIPConvLoss: weighted distances of the
// stem…layer4 maps plus fcWeight × (1 − cos) of the attention-pooled
// embeddings.
func clipResNetBackbone(m *clip.Model, weights [5]float64, dist Distance, fcWeight float64) (*backbone, error) {
	if m == nil || m.ResNet == nil {
		return nil, fmt.Errorf("clipasso: the geometric loss needs a CLIP ResNet model")
	}
	b := &backbone{name: "clip_conv", params: m.Params()}
	for c := range 3 {
		b.mean[c], b.std[c] = float64(clip.Mean[c]), float64(clip.Std[c])
	}
	depth := -1
	for i, w := range weights {
		if w != 0 {
			b.terms = append(b.terms, term{feature: ResNetLayers[i], weight: w, dist: dist})
			depth = i
		}
	}
	if fcWeight != 0 {
		b.terms = append(b.terms, term{feature: "fc", weight: fcWeight, dist: Cosine})
		depth = 4
	}
	if len(b.terms) == 0 {
		return nil, fmt.Errorf("clipasso: every CLIP loss weight is zero")
	}
	r := m.ResNet
	b.forward = func(g *nn.Graph, x *G.Node) map[string]*G.Node {
		out := map[string]*G.Node{}
		x = r.Stem(g, x) // (N, W, H/4, W/4)
		out["stem"] = x
		for l := 0; l < depth; l++ {
			for _, blk := range r.Layers[l] {
				x = blk.Forward(g, x) // (N, C_l, H_l, W_l)
			}
			out[ResNetLayers[l+1]] = x
		}
		if fcWeight != 0 {
			out["fc"] = r.Pool(g, x) // (N, E)
		}
		return out
	}
	return b, nil
}

// perceptualBackbone compares ImageNet-normalised features of a VGG or
// torchvision ResNet (our vgg and resnet packages).
func perceptualBackbone(m vgg.Extractor, layers []vgg.LayerWeight, dist Distance) (*backbone, error) {
	if m == nil || len(layers) == 0 {
		return nil, fmt.Errorf("clipasso: the perceptual loss needs a model and at least one layer")
	}
	b := &backbone{name: "perceptual"}
	for c := range 3 {
		b.mean[c], b.std[c] = float64(clip.ImageNetMean[c]), float64(clip.ImageNetStd[c])
	}
	names := make([]string, len(layers))
	for i, l := range layers {
		b.terms = append(b.terms, term{feature: l.Layer, weight: l.Weight, dist: dist})
		names[i] = l.Layer
	}
	b.forward = func(g *nn.Graph, x *G.Node) map[string]*G.Node { return m.Forward(g, x, names...) }
	// Discover the parameters by building once, so they can be frozen.
	err := nn.Build(func() error {
		g := nn.NewGraph(tensor.Float32)
		b.forward(g, g.Input("probe", 1, 3, 224, 224))
		b.params = g.Params()
		return g.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("clipasso: perceptual backbone: %w", err)
	}
	return b, nil
}

// semanticBackbone is CLIPasso's CLIPLoss: weight × (1 − cos) between the
// ViT embedding of each sketch view and a fixed target embedding (the clean
// target image's, or a text embedding).
func semanticBackbone(m *clip.Model, weight float64, target []float32) (*backbone, error) {
	if m == nil || m.ViT == nil {
		return nil, fmt.Errorf("clipasso: the semantic loss needs a CLIP ViT model")
	}
	if e := m.Config().EmbedDim; len(target) != e {
		return nil, fmt.Errorf("clipasso: semantic target has %d values, the model embeds in %d", len(target), e)
	}
	b := &backbone{name: "clip_semantic", params: m.Params(), fixedTarget: [][]float32{target}}
	for c := range 3 {
		b.mean[c], b.std[c] = float64(clip.Mean[c]), float64(clip.Std[c])
	}
	b.terms = []term{{feature: "fc", weight: weight, dist: Cosine}}
	r := m.Config().Vision.ImageSize
	b.forward = func(g *nn.Graph, x *G.Node) map[string]*G.Node {
		if !g.OK(x) {
			return nil
		}
		if s := x.Shape()[2]; s != r {
			if s%r != 0 {
				g.Failf("clipasso: the semantic ViT takes %d×%d, the canvas %d×%d is not a multiple", r, r, s, s)
				return nil
			}
			x = g.AvgPool2d(x, s/r, s/r, 0) // (N, 3, R, R), box-filtered
		}
		return map[string]*G.Node{"fc": m.ViT.Forward(g, x, nil)} // (N, E)
	}
	return b, nil
}

// distance builds D(a, b) as a scalar node with nn/loss's MSE, L1 or Cosine
// (1 − cos along the channel axis, averaged over locations).
func distance(g *nn.Graph, a, b *G.Node, d Distance) *G.Node {
	switch d {
	case L2:
		return loss.MSE(g, a, b)
	case L1:
		return loss.L1(g, a, b)
	}
	return loss.Cosine(g, a, b)
}

// freezeMu serialises freeze … build … restore spans: concurrent runs
// (RunSeeds) share the models' parameters.
var freezeMu sync.Mutex

// freeze marks params Frozen and returns a function restoring their state.
func freeze(params []*nn.Param) func() {
	old := make([]bool, len(params))
	for i, p := range params {
		old[i] = p.Frozen
		p.Frozen = true
	}
	return func() {
		for i, p := range params {
			p.Frozen = old[i]
		}
	}
}
