package nn

import (
	"fmt"

	"github.com/goclip/goclip/nn/sgemm"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// All matrix products inside the fused ops go through gemm32 and gemm64.
// float32 uses the package sgemm (Go assembly micro-kernels, parallel over
// cores); float64 (gradient checks only) uses gonum.
//
// The init below also registers sgemm with Gorgonia and gorgonia.org/tensor,
// so Gorgonia's own Mul, BatchedMatMul and Conv2d (im2col) in any graph of a
// program importing nn run on the same kernels.
func init() { sgemm.Use() }

var blasImpl gonum.Implementation

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// gemm32 computes C = alpha·op(A)·op(B) + beta·C on row-major float32
// matrices, where op(A) is (m, k), op(B) is (k, n) and C is (m, n). The
// fused ops compute their sizes from validated shapes, so an error from
// sgemm is a programming error inside this package; it panics, and
// Program.Run turns the panic into an error.
func gemm32(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if err := sgemm.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); err != nil {
		panic(fmt.Sprintf("nn: gemm32: %v", err))
	}
}

// gemm64 is gemm32 for float64.
func gemm64(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if transB && m*n*k >= transposeMin {
		b, ldb, transB = transposed(b, ldb, n, k), n, false
	}
	blasImpl.Dgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// transposeMin is the product size above which a transposed B is copied
// to row-major (k, n) first: gonum's NoTrans×Trans path uses dot products
// and runs 2–3× slower than its NoTrans×NoTrans path at Linear sizes.
const transposeMin = 1 << 20

// transposed copies the (n, k) matrix b (leading dimension ldb) into a new
// row-major (k, n) matrix.
func transposed[T float](b []T, ldb, n, k int) []T {
	t := make([]T, k*n)
	const blk = 32
	for i0 := 0; i0 < n; i0 += blk {
		for j0 := 0; j0 < k; j0 += blk {
			for i := i0; i < min(i0+blk, n); i++ {
				row := b[i*ldb:]
				for j := j0; j < min(j0+blk, k); j++ {
					t[j*n+i] = row[j]
				}
			}
		}
	}
	return t
}

// gemm dispatches on the element type.
func gemm[T float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	switch a := any(a).(type) {
	case []float32:
		gemm32(transA, transB, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		gemm64(transA, transB, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}
