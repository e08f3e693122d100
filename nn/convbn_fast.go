package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Convolution, inference BatchNorm, residual add and ReLU as one op. As
// separate ops a ResNet block streams every activation through memory four
// more times (per-channel affine, add, ReLU mask, multiply) forward and
// again backward. Here BatchNorm's scale and shift are applied to each
// GEMM output row together with the residual and ReLU, in one pass while
// the row is still in cache; the filter is used as stored (no folded copy
// per run). Backward masks gy once by y > 0; the gradient of the folded
// filter W·scale[c] gives those of W and of scale.
// ConvBN is relu(bn(conv(x)) + residual) for x (N, Cin, H, W) with bn in
// inference mode: (N, Cout, OH, OW). residual, when not nil, has the output
// shape; relu false skips the ReLU. Gradients reach x, residual and the
// non-frozen parameters of conv and bn.
func (g *Graph) ConvBN(x *G.Node, conv *Conv2d, bn *BatchNorm2d, residual *G.Node, relu bool) *G.Node {
	if conv == nil || conv.Weight == nil {
		return g.Failf("convbn: missing conv weight")
	}
	if !g.OK(x) || (residual != nil && !g.OK(residual)) {
		return nil
	}
	ws := conv.Weight.Shape()
	xs := x.Shape()
	if x.Dims() != 4 || len(ws) != 4 || xs[1] != ws[1] {
		return g.Failf("convbn: input %s and filter %s do not match (want (N, C, H, W) and (Cout, C, kH, kW))", shapeString(xs), shapeString(ws))
	}
	scale, shift := bn.fold(g) // (Cout), (Cout)
	if !g.OK(scale, shift) {
		return nil
	}
	cout := ws[0]
	if scale.Shape().TotalSize() != cout {
		return g.Failf("convbn: batchnorm has %d channels, conv has %d outputs", scale.Shape().TotalSize(), cout)
	}
	if conv.Bias != nil {
		shift = g.Add(shift, g.Mul(scale, g.Param(conv.Bias))) // (Cout)
	}
	w := g.Param(conv.Weight)                                                               // (Cout, C, kH, kW)
	return g.convAct(x, w, scale, shift, residual, max(conv.Stride, 1), conv.Padding, relu) // (N, Cout, OH, OW)
}

// convAct builds act(conv(x, w)·s[c] + b[c] + residual) as one fused op.
func (g *Graph) convAct(x, w, s, b, residual *G.Node, stride, pad int, relu bool) *G.Node {
	if !g.OK(x, w, s, b) {
		return nil
	}
	xs, ws := x.Shape().Clone(), w.Shape().Clone()
	d := convDims{n: xs[0], c: xs[1], h: xs[2], w: xs[3], cout: ws[0], kh: ws[2], kw: ws[3], stride: stride, pad: pad}
	if stride < 1 || pad < 0 || d.h+2*pad < d.kh || d.w+2*pad < d.kw {
		return g.Failf("convbn: stride %d, padding %d and filter %s do not fit input %s", stride, pad, shapeString(ws), shapeString(xs))
	}
	d.oh, d.ow = (d.h+2*pad-d.kh)/stride+1, (d.w+2*pad-d.kw)/stride+1
	ys := tensor.Shape{d.n, d.cout, d.oh, d.ow}
	cs := tensor.Shape{d.cout}
	in := []tensor.Shape{xs, ws, cs, cs}
	inputs := []*G.Node{x, w, s, b}
	if residual != nil {
		if !residual.Shape().Eq(ys) {
			return g.Failf("convbn: residual %s does not match the output %s", shapeString(residual.Shape()), shapeString(ys))
		}
		in = append(in, ys)
		inputs = append(inputs, residual)
	}
	hasRes := residual != nil
	key := fmt.Sprintf("convact(s=%d,p=%d,res=%t,relu=%t)", stride, pad, hasRes, relu)
	op := &fused{key: key, in: in, out: ys,
		k32: convActFwd[float32](d, hasRes, relu), k64: convActFwd[float64](d, hasRes, relu),
		diff: []bool{true, true, true, true, true}, full: true}
	op.grad = func(in G.Nodes, y, gy *G.Node) []gradFn {
		// Backward nodes built once and shared: gy·[y > 0], and the
		// gradient of the folded filter W·s[c].
		var masked, gwf *G.Node
		gm := func() (*G.Node, error) {
			if !relu {
				return gy, nil
			}
			if masked == nil {
				var err error
				if masked, err = applyGrad(reluGradOp(ys), y, gy); err != nil {
					return nil, err
				}
			}
			return masked, nil
		}
		k := d.k()
		gFold := func() (*G.Node, error) {
			if gwf != nil {
				return gwf, nil
			}
			m, err := gm()
			if err != nil {
				return nil, err
			}
			op := &fused{key: key + "_grad_w", in: []tensor.Shape{ys, xs}, out: ws,
				k32: convGradW[float32](d), k64: convGradW[float64](d)}
			gwf, err = applyGrad(op, m, in[0])
			return gwf, err
		}
		gx := func() (*G.Node, error) { // convGradX(gm, W·s[c])
			m, err := gm()
			if err != nil {
				return nil, err
			}
			fold := &fused{key: "convact_fold", in: []tensor.Shape{ws, cs}, out: ws,
				k32: channelAffineFwd[float32](1, d.cout, k, true, false), k64: channelAffineFwd[float64](1, d.cout, k, true, false), full: true}
			wf, err := applyGrad(fold, in[1], in[2])
			if err != nil {
				return nil, err
			}
			op := &fused{key: key + "_grad_x", in: []tensor.Shape{ys, ws}, out: xs,
				k32: convGradX[float32](d), k64: convGradX[float64](d)}
			return applyGrad(op, m, wf)
		}
		gw := func() (*G.Node, error) { // dW = gwf·s[c]
			f, err := gFold()
			if err != nil {
				return nil, err
			}
			op := &fused{key: "channelscale_grad", in: []tensor.Shape{ws, cs}, out: ws,
				k32: channelScaleGrad[float32](1, d.cout, k), k64: channelScaleGrad[float64](1, d.cout, k)}
			return applyGrad(op, f, in[2])
		}
		gs := func() (*G.Node, error) { // ds[c] = Σ_k gwf·W
			f, err := gFold()
			if err != nil {
				return nil, err
			}
			op := &fused{key: "channelsum(x)", in: []tensor.Shape{ws, ws}, out: cs,
				k32: channelSum[float32](1, d.cout, k, true), k64: channelSum[float64](1, d.cout, k, true)}
			return applyGrad(op, f, in[1])
		}
		gb := func() (*G.Node, error) {
			m, err := gm()
			if err != nil {
				return nil, err
			}
			op := &fused{key: key + "_grad_b", in: []tensor.Shape{ys}, out: cs,
				k32: channelSum[float32](d.n, d.cout, d.oh*d.ow, false), k64: channelSum[float64](d.n, d.cout, d.oh*d.ow, false)}
			return applyGrad(op, m)
		}
		return []gradFn{gx, gw, gs, gb, gm}
	}
	return g.apply(op, inputs...)
}

// convActFwd: inputs (x, w, s, b[, residual]). Each image's GEMM is
// followed by the scale, shift, residual and ReLU pass over its output;
// small maps run as one GEMM over the batch whose scatter to NCHW is that
// pass.
func convActFwd[T float](d convDims, hasRes, relu bool) kernel[T] {
	yn := d.cout * d.ohw()
	if d.batched() {
		bc := &batchConv[T]{d: d}
		return func(in [][]T, y []T) {
			s, b := in[2], in[3]
			bc.run(in[0], in[1], y, func(dst, src []T, i, c int) {
				var r []T
				if hasRes {
					r = in[4][i*yn+c*len(dst):][:len(dst)]
				}
				epilogue(dst, src, s[c], b[c], r, relu)
			})
		}
	}
	conv := convFwd[T](convDims{n: 1, c: d.c, h: d.h, w: d.w, cout: d.cout, kh: d.kh, kw: d.kw,
		stride: d.stride, pad: d.pad, oh: d.oh, ow: d.ow})
	return func(in [][]T, y []T) {
		x, w, s, b := in[0], in[1], in[2], in[3]
		xn, ohw := d.c*d.h*d.w, d.ohw()
		for i := 0; i < d.n; i++ {
			yi := y[i*yn : (i+1)*yn]
			conv([][]T{x[i*xn : (i+1)*xn], w}, yi)
			parallelFor(d.cout, 2*ohw, func(lo, hi int) {
				for c := lo; c < hi; c++ {
					row := yi[c*ohw : (c+1)*ohw]
					var r []T
					if hasRes {
						r = in[4][i*yn+c*ohw:][:ohw]
					}
					epilogue(row, row, s[c], b[c], r, relu)
				}
			})
		}
	}
}

// epilogue writes src·scale + shift (+ res, when not nil) into dst,
// clamped at 0 when relu. dst may be src.
func epilogue[T float](dst, src []T, scale, shift T, res []T, relu bool) {
	src = src[:len(dst)]
	if d32, ok := any(dst).([]float32); ok {
		r32, _ := any(res).([]float32)
		n := epilogueSIMD(d32, any(src).([]float32), float32(scale), float32(shift), r32, relu)
		dst, src = dst[n:], src[n:]
		if res != nil {
			res = res[n:]
		}
	}
	switch {
	case res != nil && relu:
		r := res[:len(dst)]
		for j, v := range src {
			dst[j] = max(v*scale+shift+r[j], 0)
		}
	case res != nil:
		r := res[:len(dst)]
		for j, v := range src {
			dst[j] = v*scale + shift + r[j]
		}
	case relu:
		for j, v := range src {
			dst[j] = max(v*scale+shift, 0)
		}
	default:
		for j, v := range src {
			dst[j] = v*scale + shift
		}
	}
}
