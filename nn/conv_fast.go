package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A fused 2-D convolution. Gorgonia's Conv2d runs im2col into a fresh
// (N·OH·OW, C·kH·kW) matrix, a GEMM, then a reshape and a copying transpose
// back to NCHW. Here each image is one GEMM straight into its NCHW output,
// y[n] (Cout, OH·OW) = W (Cout, C·kH·kW) · col[n] (C·kH·kW, OH·OW), with
// col built in a buffer reused across runs, and no im2col at all for 1×1
// stride-1 convolutions (col[n] is x[n] itself).
//
// Late ResNet layers have small maps (14×14, 7×7) and large filters: one
// GEMM per image packs the whole filter once per image for only 49–196
// output columns, and pads those columns up to the micro-kernel width.
// There the batch is one GEMM instead: the patch matrices of all images
// side by side, col (C·kH·kW, N·OH·OW), W · col into (Cout, N·OH·OW), then
// a scatter to NCHW (which the fused ConvBN merges with its epilogue).

// convDims are the sizes of one convolution.
type convDims struct {
	n, c, h, w, cout, kh, kw, stride, pad, oh, ow int
}

func (d convDims) k() int       { return d.c * d.kh * d.kw }
func (d convDims) ohw() int     { return d.oh * d.ow }
func (d convDims) direct() bool { return d.kh == 1 && d.kw == 1 && d.stride == 1 && d.pad == 0 }

// batchMaxOHW is the largest output map (OH·OW) convolved as one GEMM over
// the batch; larger maps run one GEMM per image.
const batchMaxOHW = 256

// batched reports whether the forward pass runs one GEMM over the batch.
func (d convDims) batched() bool { return d.n > 1 && d.ohw() <= batchMaxOHW }

// conv2d builds the fused convolution of x (N, C, H, W) with w (Cout, C, kH, kW).
func (g *Graph) conv2d(x, w *G.Node, stride, pad int) *G.Node {
	xs, ws := x.Shape().Clone(), w.Shape().Clone()
	d := convDims{n: xs[0], c: xs[1], h: xs[2], w: xs[3], cout: ws[0], kh: ws[2], kw: ws[3], stride: stride, pad: pad}
	if stride < 1 || pad < 0 || d.h+2*pad < d.kh || d.w+2*pad < d.kw {
		return g.Failf("conv2d: stride %d, padding %d and filter %s do not fit input %s", stride, pad, shapeString(ws), shapeString(xs))
	}
	d.oh, d.ow = (d.h+2*pad-d.kh)/stride+1, (d.w+2*pad-d.kw)/stride+1
	ys := tensor.Shape{d.n, d.cout, d.oh, d.ow}
	key := fmt.Sprintf("conv2d(s=%d,p=%d)", stride, pad)
	op := &fused{key: key, in: []tensor.Shape{xs, ws}, out: ys,
		k32: convFwd[float32](d), k64: convFwd[float64](d), diff: []bool{true, true}, full: true}
	op.grad = func(in G.Nodes, _, gy *G.Node) []gradFn {
		gx := &fused{key: key + "_grad_x", in: []tensor.Shape{ys, ws}, out: xs,
			k32: convGradX[float32](d), k64: convGradX[float64](d)}
		gw := &fused{key: key + "_grad_w", in: []tensor.Shape{ys, xs}, out: ws,
			k32: convGradW[float32](d), k64: convGradW[float64](d)}
		return []gradFn{
			func() (*G.Node, error) { return applyGrad(gx, gy, in[1]) },
			func() (*G.Node, error) { return applyGrad(gw, gy, in[0]) },
		}
	}
	return g.apply(op, x, w)
}

// validX is the range [lo, hi) of output columns whose input column
// ox·stride − pad + kx lies inside the image.
func (d convDims) validX(kx int) (lo, hi int) {
	if last := d.w - 1 + d.pad - kx; last >= 0 { // else no column fits
		hi = min(d.ow, last/d.stride+1)
	}
	if first := d.pad - kx; first > 0 {
		lo = (first + d.stride - 1) / d.stride
	}
	return min(lo, hi), hi
}

// im2col writes the (C·kH·kW, OH·OW) patch matrix of one image x (C, H, W)
// into col, row r at col[r·ld:], zeros where the window overhangs the
// padding.
func im2col[T float](d convDims, x, col []T, ld int) {
	ohw := d.ohw()
	parallelFor(d.c, d.kh*d.kw*ohw, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			plane := x[ci*d.h*d.w : (ci+1)*d.h*d.w]
			for ky := 0; ky < d.kh; ky++ {
				for kx := 0; kx < d.kw; kx++ {
					row := col[((ci*d.kh+ky)*d.kw+kx)*ld:][:ohw]
					if d.stride == 1 && d.ow == d.w {
						shiftRow(d, plane, row, ky-d.pad, kx-d.pad)
						continue
					}
					for oy := 0; oy < d.oh; oy++ {
						dst := row[oy*d.ow : (oy+1)*d.ow]
						iy := oy*d.stride - d.pad + ky
						if iy < 0 || iy >= d.h {
							clear(dst)
							continue
						}
						src := plane[iy*d.w : (iy+1)*d.w]
						lo, hi := d.validX(kx)
						clear(dst[:lo])
						clear(dst[hi:])
						if d.stride == 1 {
							copy(dst[lo:hi], src[lo-d.pad+kx:])
							continue
						}
						for ox := lo; ox < hi; ox++ {
							dst[ox] = src[ox*d.stride-d.pad+kx]
						}
					}
				}
			}
		}
	})
}

// shiftRow writes one patch row of a stride-1 convolution whose output is
// as wide as its input: row[oy·W+ox] = plane[(oy+dy)·W + ox+dx], 0 outside
// the plane. That is one copy of the plane shifted by dy·W+dx, then the |dx|
// columns of each output row that wrapped around to the neighbouring input
// row are zeroed. Small maps have rows of 7 or 14 values; a copy per row
// would cost more in calls than in moves.
func shiftRow[T float](d convDims, plane, row []T, dy, dx int) {
	oy0, oy1 := max(0, -dy), min(d.oh, d.h-dy) // output rows inside the plane
	if oy0 >= oy1 {
		clear(row)
		return
	}
	clear(row[:oy0*d.ow])
	clear(row[oy1*d.ow:])
	off := dy*d.w + dx
	if t0, t1 := max(oy0*d.ow, -off), min(oy1*d.ow, d.h*d.w-off); t0 < t1 {
		copy(row[t0:t1], plane[t0+off:t1+off])
	}
	lo, hi := d.validX(dx + d.pad) // columns [lo, hi) read inside the plane
	for oy := oy0; oy < oy1; oy++ {
		r := row[oy*d.ow : (oy+1)*d.ow]
		for j := 0; j < lo; j++ {
			r[j] = 0
		}
		for j := hi; j < d.ow; j++ {
			r[j] = 0
		}
	}
}

// col2im adds the patch-matrix gradient dcol back into dx (C, H, W).
func col2im[T float](d convDims, dcol, dx []T) {
	ohw := d.ohw()
	parallelFor(d.c, d.kh*d.kw*ohw, func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			plane := dx[ci*d.h*d.w : (ci+1)*d.h*d.w]
			for ky := 0; ky < d.kh; ky++ {
				for kx := 0; kx < d.kw; kx++ {
					row := dcol[((ci*d.kh+ky)*d.kw+kx)*ohw:][:ohw]
					for oy := 0; oy < d.oh; oy++ {
						iy := oy*d.stride - d.pad + ky
						if iy < 0 || iy >= d.h {
							continue
						}
						lo, hi := d.validX(kx)
						src, dst := row[oy*d.ow:(oy+1)*d.ow], plane[iy*d.w:(iy+1)*d.w]
						if d.stride == 1 {
							dst = dst[lo-d.pad+kx:]
							for ox, v := range src[lo:hi] {
								dst[ox] += v
							}
							continue
						}
						for ox := lo; ox < hi; ox++ {
							dst[ox*d.stride-d.pad+kx] += src[ox]
						}
					}
				}
			}
		}
	})
}

// convFwd: inputs (x, w). The patch buffer lives as long as the op.
func convFwd[T float](d convDims) kernel[T] {
	if d.batched() {
		bc := &batchConv[T]{d: d}
		return func(in [][]T, y []T) {
			bc.run(in[0], in[1], y, func(dst, src []T, _, _ int) { copy(dst, src) })
		}
	}
	var col []T
	return func(in [][]T, y []T) {
		x, w := in[0], in[1]
		k, ohw, xn := d.k(), d.ohw(), d.c*d.h*d.w
		if !d.direct() && len(col) != k*ohw {
			col = make([]T, k*ohw)
		}
		for i := 0; i < d.n; i++ {
			b := x[i*xn : (i+1)*xn]
			if !d.direct() {
				im2col(d, b, col, ohw)
				b = col
			}
			gemm(false, false, d.cout, ohw, k, 1, w, k, b, ohw, 0, y[i*d.cout*ohw:], ohw)
		}
	}
}

// batchConv is the forward convolution of a whole batch as one GEMM; its
// buffers live as long as the op.
type batchConv[T float] struct {
	d        convDims
	col, out []T // (C·kH·kW, N·OH·OW), (Cout, N·OH·OW)
}

// run convolves x (N, C, H, W) with w (Cout, C·kH·kW) and hands each output
// plane to fin: dst is y[i, c] (OH·OW), src the GEMM's row for it.
func (b *batchConv[T]) run(x, w, y []T, fin func(dst, src []T, i, c int)) {
	d := b.d
	k, ohw, xn := d.k(), d.ohw(), d.c*d.h*d.w
	cols := d.n * ohw
	if len(b.col) != k*cols {
		b.col, b.out = make([]T, k*cols), make([]T, d.cout*cols)
	}
	if d.direct() { // col[c, i·HW+j] = x[i, c, j]
		parallelFor(d.n*d.c, ohw, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				i, c := p/d.c, p%d.c
				copy(b.col[c*cols+i*ohw:][:ohw], x[p*ohw:(p+1)*ohw])
			}
		})
	} else {
		for i := 0; i < d.n; i++ {
			im2col(d, x[i*xn:(i+1)*xn], b.col[i*ohw:], cols)
		}
	}
	gemm(false, false, d.cout, cols, k, 1, w, k, b.col, cols, 0, b.out, cols) // (Cout, N·OH·OW)
	parallelFor(d.n*d.cout, 2*ohw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			i, c := p/d.cout, p%d.cout
			fin(y[p*ohw:(p+1)*ohw], b.out[c*cols+i*ohw:][:ohw], i, c)
		}
	})
}

// convGradX: inputs (gy, w); dx[n] = col2im(Wᵀ · gy[n]).
func convGradX[T float](d convDims) kernel[T] {
	var dcol []T // lives as long as the op, as convFwd's col
	return func(in [][]T, dx []T) {
		gy, w := in[0], in[1]
		k, ohw, xn := d.k(), d.ohw(), d.c*d.h*d.w
		if !d.direct() && len(dcol) != k*ohw {
			dcol = make([]T, k*ohw)
		}
		for i := 0; i < d.n; i++ {
			dst := dx[i*xn : (i+1)*xn]
			if d.direct() {
				gemm(true, false, k, ohw, d.cout, 1, w, k, gy[i*d.cout*ohw:], ohw, 0, dst, ohw)
				continue
			}
			gemm(true, false, k, ohw, d.cout, 1, w, k, gy[i*d.cout*ohw:], ohw, 0, dcol, ohw)
			col2im(d, dcol, dst)
		}
	}
}

// convGradW: inputs (gy, x); dW = Σ_n gy[n] · col[n]ᵀ.
func convGradW[T float](d convDims) kernel[T] {
	return func(in [][]T, dw []T) {
		gy, x := in[0], in[1]
		k, ohw, xn := d.k(), d.ohw(), d.c*d.h*d.w
		var col []T
		if !d.direct() {
			col = make([]T, k*ohw)
		}
		for i := 0; i < d.n; i++ {
			b := x[i*xn : (i+1)*xn]
			if !d.direct() {
				im2col(d, b, col, ohw)
				b = col
			}
			gemm(false, true, d.cout, k, ohw, 1, gy[i*d.cout*ohw:], ohw, b, ohw, 1, dw, k)
		}
	}
}
