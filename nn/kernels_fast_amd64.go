//go:build amd64 && !purego

package nn

import (
	"math"

	"golang.org/x/sys/cpu"
)

//go:noescape
func epilogue8AVX2(dst, src, res *float32, n int, scale, shift, lo float32)

// hasEpilogueAVX2 reports whether epilogue8AVX2 can run.
var hasEpilogueAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// epilogueSIMD runs the float32 epilogue on the longest prefix of dst that
// is a multiple of 8 values and returns its length (0 without AVX2+FMA).
func epilogueSIMD(dst, src []float32, scale, shift float32, res []float32, relu bool) int {
	n := len(dst) &^ 7
	if !hasEpilogueAVX2 || n == 0 {
		return 0
	}
	src = src[:n]
	var r *float32
	if res != nil {
		r = &res[:n][0]
	}
	lo := float32(math.Inf(-1))
	if relu {
		lo = 0
	}
	epilogue8AVX2(&dst[0], &src[0], r, n, scale, shift, lo)
	return n
}
