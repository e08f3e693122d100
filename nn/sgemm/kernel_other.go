//go:build !amd64 || purego

package sgemm

// asmKernels returns no kernels: this build uses the portable Go kernel.
func asmKernels() []kernel { return nil }
