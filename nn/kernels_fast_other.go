//go:build !amd64 || purego

package nn

// epilogueSIMD handles nothing on this build: the portable loop does all.
func epilogueSIMD(dst, src []float32, scale, shift float32, res []float32, relu bool) int {
	return 0
}
