package clip

import (
	"math/rand/v2"
	"testing"
)

// Benchmarks use random (non-zero) weights: gonum's GEMM skips zero
// multiplicands, so zero weights would flatter the timings. Run with
//
//	go test ./clip/ -run '^$' -bench EncodeImageViTB32 -benchtime 10x

func benchModel(b *testing.B, cfg Config) *Model {
	b.Helper()
	m := NewRandom(cfg, 1)
	if m == nil {
		b.Fatal("invalid config")
	}
	return m
}

func randPixels(n, r int) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	p := make([]float32, n*3*r*r)
	for i := range p {
		p[i] = float32(rng.NormFloat64())
	}
	return p
}

func benchImage(b *testing.B, cfg Config, n int) {
	m := benchModel(b, cfg)
	pix := randPixels(n, cfg.Vision.ImageSize)
	if _, err := m.EncodeImage(pix, n); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.EncodeImage(pix, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/float64(n), "ms/image")
}

func BenchmarkEncodeImageViTB32(b *testing.B)   { benchImage(b, ViTB32(), 1) }
func BenchmarkEncodeImageViTB32x8(b *testing.B) { benchImage(b, ViTB32(), 8) }
func BenchmarkEncodeImageRN50(b *testing.B)     { benchImage(b, RN50(), 1) }

// BenchmarkEncodeTextViTB32 encodes 8 prompts whose last EOT is at
// position 12, so the graph runs 13 of the 77 positions.
func BenchmarkEncodeTextViTB32(b *testing.B) {
	m := benchModel(b, ViTB32())
	rows := make([][]int32, 8)
	for i := range rows {
		rows[i] = make([]int32, 77)
		rows[i][0] = 49406
		for j := 1; j < 6+i%7; j++ {
			rows[i][j] = int32(1000 + 37*i + j)
		}
		rows[i][6+i%7] = 49407
	}
	if _, err := m.EncodeText(rows); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.EncodeText(rows); err != nil {
			b.Fatal(err)
		}
	}
}
