package clip

import (
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
)

// Gradient flow through the towers: float64 graphs, symbolic gradients
// against central finite differences (nntest.GradCheck).

func TestGradViT(t *testing.T) {
	c := Config{Name: "grad-vit", EmbedDim: 4, Activation: nn.QuickGELUAct,
		Vision: VisionConfig{Kind: ViT, ImageSize: 8, Width: 8, Layers: 1, Heads: 2, PatchSize: 4},
		Text:   TextConfig{ContextLength: 5, VocabSize: 10, Width: 8, Heads: 2, Layers: 1}}
	m := NewRandom(c, 11)
	// With respect to the pixels and every vision parameter.
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return m.ViT.Forward(g, in[0], nil)
	}, nntest.RandInput(2, 3, 8, 8))
}

func TestGradText(t *testing.T) {
	c := Config{Name: "grad-text", EmbedDim: 4, Activation: nn.GELUAct,
		Vision: VisionConfig{Kind: ViT, ImageSize: 8, Width: 8, Layers: 1, Heads: 2, PatchSize: 4},
		Text:   TextConfig{ContextLength: 5, VocabSize: 10, Width: 8, Heads: 2, Layers: 1}}
	m := NewRandom(c, 12)
	b, err := m.Text.PrepareText([][]int32{{8, 1, 2, 9, 0}, {8, 3, 9, 0, 0}})
	if err != nil {
		t.Fatal(err)
	}
	// With respect to every text parameter (token and positional
	// embeddings through Gather, causal attention, EOT pooling).
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		return m.Text.Forward(g, in[0], in[1], b.N, b.Length)
	}, nntest.IntInput(b.IDs...), nntest.IntInput(b.EOT...))
}

func TestGradResNet(t *testing.T) {
	c := Config{Name: "grad-rn", EmbedDim: 4, Activation: nn.QuickGELUAct,
		Vision: VisionConfig{Kind: ResNet, ImageSize: 32, Width: 2, Heads: 2, ResNetLayers: [4]int{1, 1, 1, 1}},
		Text:   TextConfig{ContextLength: 5, VocabSize: 10, Width: 8, Heads: 2, Layers: 1}}
	m := NewRandom(c, 13)
	// With respect to the stem output (1, 2, 8, 8) and a few parameters
	// (the rest frozen to keep finite differences short): the gradient
	// crosses the anti-aliasing average pools, the downsample paths, the
	// folded BatchNorms and the attention pool.
	for _, p := range m.Params() {
		p.Frozen = p.Name != "visual.attnpool.positional_embedding" && p.Name != "visual.attnpool.q_proj.bias" && p.Name != "visual.layer2.0.bn3.weight"
	}
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		x := in[0] // (1, 2, 8, 8)
		for _, blocks := range m.ResNet.Layers {
			for _, b := range blocks {
				x = b.Forward(g, x)
			}
		}
		return m.ResNet.Pool(g, x) // (1, 4)
	}, nntest.RandInput(1, 2, 8, 8))
}
