package sgemm

import (
	"fmt"
	"math/rand"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// benchShapes are M×K·K×N products from CLIP ViT-B/32 (batch 8 of 50 tokens,
// one image, one 197-token sequence).
var benchShapes = [][3]int{{512, 768, 3072}, {50, 768, 3072}, {197, 768, 768}, {768, 768, 3072}}

// benchGemm times f on an M×K·K×N product and reports GFLOP/s.
func benchGemm(b *testing.B, mkn [3]int, transB bool, f func(tB bool, m, n, k int, a, bm, c []float32)) {
	m, k, n := mkn[0], mkn[1], mkn[2]
	r := rand.New(rand.NewSource(1))
	a, bm, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	f(transB, m, n, k, a, bm, c)
	b.ResetTimer()
	for b.Loop() {
		f(transB, m, n, k, a, bm, c)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func ldb(tB bool, n, k int) int {
	if tB {
		return k
	}
	return n
}

// BenchmarkSgemm compares this package (each kernel) with gonum's Sgemm.
// Run: go test -run '^$' -bench Sgemm ./nn/sgemm/
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, tB := range []bool{false, true} {
			name := fmt.Sprintf("%dx%dx%d/tB=%v", s[0], s[1], s[2], tB)
			b.Run(name+"/goclip", func(b *testing.B) {
				benchGemm(b, s, tB, func(tB bool, m, n, k int, a, bm, c []float32) {
					if err := Sgemm(false, tB, m, n, k, 1, a, k, bm, ldb(tB, n, k), 0, c, n); err != nil {
						b.Fatal(err)
					}
				})
			})
			b.Run(name+"/gonum", func(b *testing.B) {
				benchGemm(b, s, tB, func(tB bool, m, n, k int, a, bm, c []float32) {
					t := blas.NoTrans
					if tB {
						t = blas.Trans
					}
					gonum.Implementation{}.Sgemm(blas.NoTrans, t, m, n, k, 1, a, k, bm, ldb(tB, n, k), 0, c, n)
				})
			})
		}
	}
}

// BenchmarkKernels times each available micro-kernel path at 512×768×3072.
func BenchmarkKernels(b *testing.B) {
	for _, kern := range availableKernels() {
		b.Run(kern.name, func(b *testing.B) {
			benchGemm(b, benchShapes[0], false, func(tB bool, m, n, k int, a, bm, c []float32) {
				if err := sgemmWith(kern, false, tB, m, n, k, 1, a, k, bm, n, 0, c, n); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkSgemmSmall covers per-head attention products (single-threaded
// path): scores Q·Kᵀ (50×64·64×50) and weights·V (50×50·50×64), and a tiny one.
func BenchmarkSgemmSmall(b *testing.B) {
	for _, s := range [][3]int{{50, 64, 50}, {50, 50, 64}, {8, 8, 8}} {
		name := fmt.Sprintf("%dx%dx%d", s[0], s[1], s[2])
		b.Run(name+"/goclip", func(b *testing.B) {
			benchGemm(b, s, true, func(tB bool, m, n, k int, a, bm, c []float32) {
				if err := Sgemm(false, tB, m, n, k, 1, a, k, bm, k, 0, c, n); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run(name+"/gonum", func(b *testing.B) {
			benchGemm(b, s, true, func(tB bool, m, n, k int, a, bm, c []float32) {
				gonum.Implementation{}.Sgemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, k, bm, k, 0, c, n)
			})
		})
	}
}
