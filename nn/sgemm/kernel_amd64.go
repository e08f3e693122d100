//go:build amd64 && !purego

package sgemm

import "golang.org/x/sys/cpu"

//go:generate go run gen_asm.go

//go:noescape
func kern14x32AVX512(k int, a, b, c *float32, ldb, ldc int, alpha, beta float32)

//go:noescape
func kern6x16AVX2(k int, a, b, c *float32, ldb, ldc int, alpha, beta float32)

// asmKernels returns the assembly kernels this CPU and OS support, best first.
func asmKernels() []kernel {
	var ks []kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, kernel{name: "avx512-14x32", mr: 14, nr: 32, fn: kern14x32AVX512, simdPack: hasTranspose8})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, kernel{name: "avx2-6x16", mr: 6, nr: 16, fn: kern6x16AVX2, simdPack: hasTranspose8})
	}
	return ks
}

//go:noescape
func transpose8(dst *float32, ldd int, src *float32, lds int, n int)

// hasTranspose8 reports whether transpose8 (AVX) can run.
var hasTranspose8 = cpu.X86.HasAVX
