package clip

import "image"

// ycbcrPlanes converts a decoded JPEG to RGB as libjpeg (PIL's decoder)
// does: "fancy" triangular chroma upsampling for 4:2:0 and 4:2:2, then
// libjpeg's fixed-point YCbCr -> RGB. Go's own conversion replicates chroma
// samples, which differs from PIL by up to ~15/255 on noisy photos. Other
// subsamplings and sub-images return nil (the caller falls back to Go's).
func ycbcrPlanes(m *image.YCbCr) *planes {
	if m.Rect.Min != (image.Point{}) {
		return nil
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	var cb, cr []uint8 // full-resolution chroma, w*h
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		cb, cr = make([]uint8, w*h), make([]uint8, w*h)
		for y := 0; y < h; y++ {
			copy(cb[y*w:(y+1)*w], m.Cb[y*m.CStride:])
			copy(cr[y*w:(y+1)*w], m.Cr[y*m.CStride:])
		}
	case image.YCbCrSubsampleRatio422:
		cb, cr = upsampleH2V1(m.Cb, m.CStride, w, h), upsampleH2V1(m.Cr, m.CStride, w, h)
	case image.YCbCrSubsampleRatio420:
		cb, cr = upsampleH2V2(m.Cb, m.CStride, w, h), upsampleH2V2(m.Cr, m.CStride, w, h)
	default:
		return nil
	}
	p := &planes{w: w, h: h, c: 3, pix: make([]uint8, 3*w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := y*w + x
			r, g, b := libjpegRGB(int32(m.Y[y*m.YStride+x]), int32(cb[i])-128, int32(cr[i])-128)
			p.pix[3*i], p.pix[3*i+1], p.pix[3*i+2] = r, g, b
		}
	}
	return p
}

// libjpegRGB is jdcolor.c's ycc_rgb_convert (16-bit fixed point,
// arithmetic right shifts, range limiting).
func libjpegRGB(y, cb, cr int32) (uint8, uint8, uint8) {
	const half = 1 << 15
	r := y + (91881*cr+half)>>16
	g := y + (-22554*cb-46802*cr+half)>>16
	b := y + (116130*cb+half)>>16
	return clamp8(r), clamp8(g), clamp8(b)
}

func clamp8(v int32) uint8 {
	return uint8(min(max(v, 0), 255))
}

// upsampleH2V1 is jdsample.c's h2v1_fancy_upsample applied to each row.
func upsampleH2V1(src []uint8, stride, w, h int) []uint8 {
	out := make([]uint8, w*h)
	cw := (w + 1) / 2
	row := make([]int32, cw)
	for y := 0; y < h; y++ {
		for i := range row {
			row[i] = int32(src[y*stride+i])
		}
		fancyRowH2(row, out[y*w:(y+1)*w], 1, 2, 2) // samples: 3:1, 2-bit rounding
	}
	return out
}

// upsampleH2V2 is jdsample.c's h2v2_fancy_upsample: each output row mixes
// the nearer chroma row (×3) with the next nearer one (edge rows repeat),
// then columns mix 3:1 with 4-bit rounding.
func upsampleH2V2(src []uint8, stride, w, h int) []uint8 {
	out := make([]uint8, w*h)
	cw, ch := (w+1)/2, (h+1)/2
	sums := make([]int32, cw)
	for y := 0; y < h; y++ {
		near := y / 2
		far := near - 1
		if y%2 == 1 {
			far = near + 1
		}
		far = min(max(far, 0), ch-1)
		for i := range sums {
			sums[i] = 3*int32(src[near*stride+i]) + int32(src[far*stride+i])
		}
		fancyRowH2(sums, out[y*w:(y+1)*w], 8, 7, 4) // column sums: 4-bit rounding
	}
	return out
}

// fancyRowH2 doubles a row horizontally as libjpeg does: each input
// value v[i] gives (3v[i] + v[i-1] + roundL) >> shift and
// (3v[i] + v[i+1] + roundR) >> shift, with edge neighbours clamped, which
// reproduces libjpeg's special first and last columns exactly.
func fancyRowH2(in []int32, out []uint8, roundL, roundR int32, shift uint) {
	n := len(in)
	for i := 0; i < n; i++ {
		left, right := in[max(i-1, 0)], in[min(i+1, n-1)]
		out[2*i] = uint8((3*in[i] + left + roundL) >> shift)
		if 2*i+1 < len(out) {
			out[2*i+1] = uint8((3*in[i] + right + roundR) >> shift)
		}
	}
}
