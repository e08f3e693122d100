package sgemm

import "unsafe"

// kernelFunc computes one mr×nr tile of C:
// acc[i][j] = Σ_p a[p*mr+i]·b[p*ldb+j], then c = alpha·acc when beta == 0,
// else c = alpha·acc + beta·c. Rows of c are ldc floats apart.
type kernelFunc func(k int, a, b, c *float32, ldb, ldc int, alpha, beta float32)

// kernel is a micro-kernel and its tile shape.
type kernel struct {
	name   string
	mr, nr int
	fn     kernelFunc
	// simdPack selects the transpose8 packing path (else plain Go packing).
	simdPack bool
}

// goKernel is the portable fallback micro-kernel.
var goKernel = kernel{name: "go4x4", mr: 4, nr: 4, fn: kern4x4Go}

// active is the kernel Sgemm uses; set at init from the CPU features.
var active = bestKernel()

// availableKernels lists every kernel this CPU can run, best first.
func availableKernels() []kernel {
	return append(asmKernels(), goKernel)
}

func bestKernel() kernel { return availableKernels()[0] }

// kern4x4Go is a scalar 4×4 micro-kernel in plain Go.
func kern4x4Go(k int, a, b, c *float32, ldb, ldc int, alpha, beta float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	if k > 0 {
		as := unsafe.Slice(a, 4*k)
		bs := unsafe.Slice(b, (k-1)*ldb+4)
		for p := 0; p < k; p++ {
			ap := as[4*p : 4*p+4 : 4*p+4]
			bp := bs[p*ldb : p*ldb+4 : p*ldb+4]
			a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			c20 += a2 * b0
			c21 += a2 * b1
			c22 += a2 * b2
			c23 += a2 * b3
			c30 += a3 * b0
			c31 += a3 * b1
			c32 += a3 * b2
			c33 += a3 * b3
		}
	}
	acc := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	for i := range acc {
		row := cs[i*ldc : i*ldc+4]
		for j, v := range acc[i] {
			if beta == 0 {
				row[j] = alpha * v
			} else {
				row[j] = alpha*v + beta*row[j]
			}
		}
	}
}
