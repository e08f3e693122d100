package train

import (
	"testing"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/loss"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Forward+backward seconds per step of CLIP's contrastive loss on random
// weights, to compare with testdata/bench.py (PyTorch, 2 threads, same
// configurations, full-length text rows):
//
//	go test ./nn/train -run '^$' -bench . -benchtime 5x
//	/usr/bin/python3 nn/train/testdata/bench.py /tmp/clip_model.py

// benchTiny is a small ViT CLIP (the scale of a from-scratch default model).
func benchTiny() clip.Config {
	return clip.Config{Name: "bench-tiny", EmbedDim: 64, Activation: nn.QuickGELUAct,
		Vision: clip.VisionConfig{Kind: clip.ViT, ImageSize: 64, Width: 128, Layers: 4, Heads: 4, PatchSize: 8},
		Text:   clip.TextConfig{ContextLength: 32, VocabSize: 1000, Width: 128, Heads: 4, Layers: 4}}
}

func benchStep(b *testing.B, cfg clip.Config, n int) {
	m := clip.NewRandom(cfg, 1)
	if m == nil {
		b.Fatalf("invalid config %+v", cfg)
	}
	ctx := cfg.Text.ContextLength
	rows := make([][]int32, n)
	for i := range rows {
		rows[i] = make([]int32, ctx)
		rows[i][0] = int32(cfg.Text.VocabSize - 2)
		for j := 1; j < ctx-1; j++ {
			rows[i][j] = int32(1 + (i*31+j*7)%(cfg.Text.VocabSize-3))
		}
		rows[i][ctx-1] = int32(cfg.Text.VocabSize - 1) // EOT last: full-length rows
	}
	tb, err := m.Text.PrepareText(rows)
	if err != nil {
		b.Fatal(err)
	}
	res := cfg.Vision.ImageSize
	scale := &loss.LogitScale{Param: m.LogitScaleParam}
	step, err := Compile(tensor.Float32, func(g *nn.Graph) ([]*G.Node, *G.Node, error) {
		px := g.Input("pixels", n, 3, res, res)              // (N, 3, R, R)
		ids, eot := m.Text.Inputs(g, n, tb.Length)           // (N·L), (N)
		img := m.ImageGraph(g, px)                           // (N, E)
		txt := m.Text.Forward(g, ids, eot, n, tb.Length)     // (N, E)
		logits := loss.Logits(g, img, txt, scale.Forward(g)) // (N, N)
		return []*G.Node{px, ids, eot}, loss.InfoNCE(g, logits), nil
	})
	if err != nil {
		b.Fatal(err)
	}
	defer step.Close()
	pix := make([]float32, n*3*res*res)
	for i := range pix {
		pix[i] = float32((i*7919)%255)/127.5 - 1
	}
	in := []*tensor.Dense{
		tensor.New(tensor.WithShape(n, 3, res, res), tensor.WithBacking(pix)),
		tensor.New(tensor.WithShape(len(tb.IDs)), tensor.WithBacking(tb.IDs)),
		tensor.New(tensor.WithShape(n), tensor.WithBacking(tb.EOT)),
	}
	if _, _, err := step.Run(in...); err != nil { // warm-up: register allocation
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, _, err := step.Run(in...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/step")
}

func BenchmarkStepTinyCLIP(b *testing.B) { benchStep(b, benchTiny(), 8) }

func BenchmarkStepViTB32(b *testing.B) { benchStep(b, clip.ViTB32(), 8) }
