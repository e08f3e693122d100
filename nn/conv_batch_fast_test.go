package nn

import (
	"fmt"
	"testing"
)

// BenchmarkConvActBatching times the fused ConvBN forward on RN50's layer
// shapes (batch 8) as one GEMM over the batch and as one GEMM per image;
// batchMaxOHW is chosen from it (the batch GEMM wins at 14×14 and 7×7 and
// loses at 28×28). Run with
//
//	go test ./nn -run '^$' -bench ConvActBatching -benchtime 20x
func BenchmarkConvActBatching(b *testing.B) {
	for _, c := range []convDims{
		{n: 8, c: 1024, h: 14, w: 14, cout: 256, kh: 1, kw: 1, stride: 1, oh: 14, ow: 14},
		{n: 8, c: 256, h: 14, w: 14, cout: 1024, kh: 1, kw: 1, stride: 1, oh: 14, ow: 14},
		{n: 8, c: 2048, h: 7, w: 7, cout: 512, kh: 1, kw: 1, stride: 1, oh: 7, ow: 7},
		{n: 8, c: 256, h: 14, w: 14, cout: 256, kh: 3, kw: 3, stride: 1, pad: 1, oh: 14, ow: 14},
		{n: 8, c: 512, h: 7, w: 7, cout: 512, kh: 3, kw: 3, stride: 1, pad: 1, oh: 7, ow: 7},
		{n: 8, c: 128, h: 28, w: 28, cout: 128, kh: 3, kw: 3, stride: 1, pad: 1, oh: 28, ow: 28},
		{n: 8, c: 512, h: 28, w: 28, cout: 128, kh: 1, kw: 1, stride: 1, oh: 28, ow: 28},
	} {
		x := make([]float32, c.n*c.c*c.h*c.w)
		w := make([]float32, c.cout*c.k())
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		for i := range w {
			w[i] = float32(i%5) - 2
		}
		s, sh := make([]float32, c.cout), make([]float32, c.cout)
		y := make([]float32, c.n*c.cout*c.ohw())
		one := c
		one.n = 1
		per := convActFwd[float32](one, false, true)
		bc := &batchConv[float32]{d: c}
		b.Run(fmt.Sprintf("%dx%d_c%d_o%d_k%d/batched", c.h, c.w, c.c, c.cout, c.kh), func(b *testing.B) {
			for b.Loop() {
				bc.run(x, w, y, func(dst, src []float32, i, ch int) { epilogue(dst, src, s[ch], sh[ch], nil, true) })
			}
		})
		b.Run(fmt.Sprintf("%dx%d_c%d_o%d_k%d/perimage", c.h, c.w, c.c, c.cout, c.kh), func(b *testing.B) {
			xn, yn := c.c*c.h*c.w, c.cout*c.ohw()
			for b.Loop() {
				for i := 0; i < c.n; i++ {
					per([][]float32{x[i*xn : (i+1)*xn], w, s, sh}, y[i*yn:(i+1)*yn])
				}
			}
		})
	}
}
