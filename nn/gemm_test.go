package nn

import (
	"math"
	"math/rand"
	"testing"
)

// gemm against a naive triple loop, in all transpose combinations and with
// B large enough to take the copy-transposed path.
func TestGemmAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, sz := range [][3]int{{5, 7, 3}, {130, 100, 90}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				a, b := make([]float64, m*k), make([]float64, k*n)
				for i := range a {
					a[i] = rng.Float64() - 0.5
				}
				for i := range b {
					b[i] = rng.Float64() - 0.5
				}
				c := make([]float64, m*n)
				for i := range c {
					c[i] = 1
				}
				lda, ldb := k, n
				if tA {
					lda = m
				}
				if tB {
					ldb = k
				}
				gemm(tA, tB, m, n, k, 2, a, lda, b, ldb, 0.5, c, n)
				var worst float64
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						var s float64
						for p := 0; p < k; p++ {
							av, bv := a[i*k+p], b[p*n+j]
							if tA {
								av = a[p*m+i]
							}
							if tB {
								bv = b[j*k+p]
							}
							s += av * bv
						}
						worst = math.Max(worst, math.Abs(c[i*n+j]-(2*s+0.5)))
					}
				}
				if worst > 1e-12 {
					t.Errorf("m=%d n=%d k=%d transA=%t transB=%t: max error %g", m, n, k, tA, tB, worst)
				}
			}
		}
	}
}
