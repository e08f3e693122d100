//go:build !amd64 || purego

package sgemm

import "unsafe"

// asmKernels returns no kernels: this build uses the portable Go kernel.
func asmKernels() []kernel { return nil }

// hasTranspose8 is false: the portable build never calls transpose8.
const hasTranspose8 = false

// transpose8 is never called when hasTranspose8 is false; this portable
// version keeps the same contract for completeness.
func transpose8(dst *float32, ldd int, src *float32, lds int, n int) {
	d := unsafe.Slice(dst, (8*n-1)*ldd+8)
	s := unsafe.Slice(src, 7*lds+8*n)
	for r := 0; r < 8; r++ {
		for p := 0; p < 8*n; p++ {
			d[p*ldd+r] = s[r*lds+p]
		}
	}
}
