package sgemm

import (
	"math/rand"
	"testing"
)

// BenchmarkPack times packing one KC×NC block of B and one MC×KC block of A.
func BenchmarkPack(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	const k, n = 768, 3072
	src := randSlice(r, k*n)
	for _, tr := range []bool{false, true} {
		g := gemm{kern: active, transA: tr, transB: tr, m: n, n: n, k: k, a: src, lda: k, b: src, ldb: k}
		if !tr {
			g.lda, g.ldb = n, n
			g.m = k
		}
		g.kc, g.mc, g.nc = kcBlock, mcTarget/active.mr*active.mr, ncBlock/active.nr*active.nr
		buf := g.getBuf()
		name := "notrans"
		if tr {
			name = "trans"
		}
		b.Run("B/"+name, func(b *testing.B) {
			for b.Loop() {
				g.packB(buf.b, 0, g.kc, 0, 2048)
			}
			b.ReportMetric(float64(g.kc*2048)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
		b.Run("A/"+name, func(b *testing.B) {
			for b.Loop() {
				g.packA(buf.a, 0, g.mc, 0, g.kc)
			}
			b.ReportMetric(float64(g.kc*g.mc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}
