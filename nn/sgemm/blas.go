package sgemm

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	"gorgonia.org/gorgonia"
)

// Implementation is a complete BLAS (blas.Float32, Float64, Complex64 and
// Complex128, as gorgonia.BLAS and tensor.BLAS require): gonum's pure-Go
// implementation with Sgemm replaced by this package's.
type Implementation struct {
	gonum.Implementation
}

var _ gorgonia.BLAS = Implementation{}

// Sgemm follows gonum's row-major blas.Float32 contract. Like every
// blas.Float32 implementation it has no error result, so invalid arguments
// panic, with the message Sgemm would return as an error.
func (Implementation) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	transA, err := isTrans(tA, "tA")
	if err != nil {
		panic(err)
	}
	transB, err := isTrans(tB, "tB")
	if err != nil {
		panic(err)
	}
	if err := Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); err != nil {
		panic(err)
	}
}

// isTrans maps a blas.Transpose to a flag; ConjTrans is Trans for reals.
func isTrans(t blas.Transpose, name string) (bool, error) {
	switch t {
	case blas.NoTrans:
		return false, nil
	case blas.Trans, blas.ConjTrans:
		return true, nil
	}
	return false, fmt.Errorf("sgemm: %s=%d is not a blas.Transpose", name, t)
}

// Use registers Implementation as Gorgonia's and gorgonia.org/tensor's BLAS.
func Use() {
	gorgonia.Use(Implementation{})
}

// Kernel names the micro-kernel Sgemm uses on this CPU
// ("avx512-14x32", "avx2-6x16" or "go4x4").
func Kernel() string { return active.name }
