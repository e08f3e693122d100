package clip

import (
	"fmt"

	"github.com/goclip/goclip/nn"
	G "gorgonia.org/gorgonia"
)

// TextTransformer is CLIP's causal text tower: token plus positional
// embeddings, a transformer with a causal mask, ln_final at the EOT token
// (the largest id of each row), times text_projection.
type TextTransformer struct {
	Config              TextConfig
	TokenEmbedding      nn.Embedding // (V, W)
	PositionalEmbedding *nn.Param    // (ContextLength, W)
	Transformer         *Transformer
	LNFinal             nn.LayerNorm
	Projection          *nn.Param // text_projection (W, E)
}

func newTextTransformer(mk maker, cfg TextConfig, embed int, act nn.Activation) *TextTransformer {
	w := cfg.Width
	return &TextTransformer{
		Config:              cfg,
		TokenEmbedding:      nn.Embedding{Weight: mk.param("token_embedding.weight", cfg.VocabSize, w)},
		PositionalEmbedding: mk.param("positional_embedding", cfg.ContextLength, w),
		Transformer:         newTransformer(mk, "transformer.", w, cfg.Heads, cfg.Layers, act),
		LNFinal:             layerNorm(mk, "ln_final", w),
		Projection:          mk.param("text_projection", w, embed),
	}
}

// TextBatch is a batch of token rows prepared for the graph: the ids of the
// first Length positions of each row, flattened (N·Length), and the flat
// index row·Length+eot of each row's EOT token (its largest id, as OpenAI's
// text.argmax(-1)). Because the mask is causal, positions after the last
// EOT of the batch cannot change any output and are dropped.
type TextBatch struct {
	N, Length int
	IDs       []int
	EOT       []int
}

// PrepareText checks token rows (each ContextLength ids, SOT … EOT, zero
// padded) and builds a TextBatch.
func (t *TextTransformer) PrepareText(rows [][]int32) (*TextBatch, error) {
	ctx, vocab := t.Config.ContextLength, t.Config.VocabSize
	if len(rows) == 0 {
		return nil, fmt.Errorf("clip: encode text: no token rows")
	}
	eot := make([]int, len(rows))
	length := 0
	for i, r := range rows {
		if len(r) != ctx {
			return nil, fmt.Errorf("clip: encode text: row %d has %d tokens, want the context length %d", i, len(r), ctx)
		}
		best := 0
		for j, id := range r {
			if id < 0 || int(id) >= vocab {
				return nil, fmt.Errorf("clip: encode text: row %d position %d: token id %d outside the vocabulary [0, %d)", i, j, id, vocab)
			}
			if id > r[best] {
				best = j
			}
		}
		eot[i] = best
		length = max(length, best+1)
	}
	b := &TextBatch{N: len(rows), Length: length, IDs: make([]int, 0, len(rows)*length), EOT: eot}
	for i, r := range rows {
		for _, id := range r[:length] {
			b.IDs = append(b.IDs, int(id))
		}
		b.EOT[i] = i*length + eot[i]
	}
	return b, nil
}

// Inputs creates the graph placeholders for a batch of n rows of length
// positions: ids (n·length) and eot (n), both Int vectors.
func (t *TextTransformer) Inputs(g *nn.Graph, n, length int) (ids, eot *G.Node) {
	return g.IndexInput("text_ids", n*length), g.IndexInput("text_eot", n)
}

// Hidden runs the embeddings and the causal transformer on ids (n·length)
// and returns all hidden states (n, length, W) before ln_final. taps may be nil.
func (t *TextTransformer) Hidden(g *nn.Graph, ids *G.Node, n, length int, taps *Taps) *G.Node {
	if !g.OK(ids) {
		return nil
	}
	w := t.Config.Width
	if length < 1 || length > t.Config.ContextLength || ids.Shape().TotalSize() != n*length {
		return g.Fail(fmt.Errorf("clip: text ids %v do not hold %d rows of length 1…%d", ids.Shape(), n, t.Config.ContextLength))
	}
	x := t.TokenEmbedding.Forward(g, ids)                          // (n·L, W)
	x = g.Reshape(x, n, length, w)                                 // (n, L, W)
	pos := g.Slice(g.Param(t.PositionalEmbedding), 0, 0, length)   // (L, W)
	x = g.BroadcastAdd(x, pos)                                     // (n, L, W)
	return t.Transformer.Forward(g, x, g.CausalMask(length), taps) // (n, L, W)
}

// Forward computes text embeddings (n, E) from ids (n·length) and the flat
// EOT indices eot (n) of a TextBatch.
func (t *TextTransformer) Forward(g *nn.Graph, ids, eot *G.Node, n, length int) *G.Node {
	x := t.Hidden(g, ids, n, length, nil)      // (n, L, W)
	x = g.Reshape(x, n*length, t.Config.Width) // (n·L, W)
	x = g.Gather(x, eot)                       // (n, W)
	x = t.LNFinal.Forward(g, x)                // (n, W)
	return g.MatMul(x, g.Param(t.Projection))  // (n, E)
}

func (t *TextTransformer) params() []*nn.Param {
	ps := []*nn.Param{t.PositionalEmbedding, t.Projection}
	ps = append(ps, transformerParams(t.Transformer)...)
	ps = append(ps, t.TokenEmbedding.Weight)
	return append(ps, lnParams(t.LNFinal)...)
}
