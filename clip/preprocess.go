package clip

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // register GIF
	_ "image/jpeg" // register JPEG
	_ "image/png"  // register PNG
	"math"
	"os"

	_ "golang.org/x/image/webp" // register WebP
)

// CLIP's normalisation constants (clip/clip.py _transform).
var (
	Mean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	Std  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// ImageNet normalisation used by torchvision's VGG and ResNet weights.
var (
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// Resample selects PIL's resampling filter.
type Resample int

const (
	Bicubic  Resample = iota // PIL BICUBIC (a = -0.5), antialiased when shrinking
	Bilinear                 // PIL BILINEAR (triangle), antialiased when shrinking
)

// PreprocessOptions describe a torchvision-style transform:
// Resize(Size, Resample) on the shorter side, CenterCrop(Crop),
// convert("RGB"), ToTensor, Normalize(Mean, Std).
type PreprocessOptions struct {
	Size     int // shorter side after resizing
	Crop     int // center crop side; 0 means Size
	Mean     [3]float32
	Std      [3]float32
	Resample Resample
}

// CLIPOptions is OpenAI CLIP's _transform for input resolution n.
func CLIPOptions(n int) PreprocessOptions {
	return PreprocessOptions{Size: n, Crop: n, Mean: Mean, Std: Std, Resample: Bicubic}
}

// ImageNetOptions is torchvision's classic evaluation transform:
// Resize(256) bilinear, CenterCrop(224), ImageNet mean/std.
func ImageNetOptions() PreprocessOptions {
	return PreprocessOptions{Size: 256, Crop: 224, Mean: ImageNetMean, Std: ImageNetStd, Resample: Bilinear}
}

// DecodeImage reads a PNG, JPEG, GIF or WebP file.
func DecodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err) // *PathError names the file
	}
	defer f.Close()
	img, _, err := image.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("image: decode %s (want PNG, JPEG, GIF or WebP): %w", path, err)
	}
	return img, nil
}

// Preprocess is OpenAI CLIP's image transform at resolution size: bicubic
// shorter-side resize, center crop, RGB, /255, CLIP mean/std. It returns
// (3, size, size) float32 values in channel-major order.
func Preprocess(img image.Image, size int) ([]float32, error) {
	return PreprocessWith(img, CLIPOptions(size))
}

// PreprocessWith applies the transform described by o and returns
// (3, Crop, Crop) float32 values in channel-major order. Resizing follows
// PIL exactly (8-bit fixed-point coefficients, two passes with 8-bit
// rounding in between, premultiplied alpha, nearest for palette images).
func PreprocessWith(img image.Image, o PreprocessOptions) ([]float32, error) {
	crop := o.Crop
	if crop == 0 {
		crop = o.Size
	}
	if o.Size < 1 || crop < 1 || crop > o.Size {
		return nil, fmt.Errorf("preprocess: size %d crop %d, want 1 <= crop <= size", o.Size, crop)
	}
	for c := 0; c < 3; c++ {
		if o.Std[c] == 0 {
			return nil, fmt.Errorf("preprocess: std[%d] is zero", c)
		}
	}
	rgb, err := resizeCrop(img, o.Size, crop, o.Resample) // (H, W, 3) uint8
	if err != nil {
		return nil, err
	}
	n := crop * crop
	out := make([]float32, 3*n)
	for c := 0; c < 3; c++ {
		scale := 1 / (255 * o.Std[c])
		shift := o.Mean[c] / o.Std[c]
		plane := out[c*n : (c+1)*n]
		for i := range plane {
			plane[i] = float32(rgb[3*i+c])*scale - shift
		}
	}
	return out, nil
}

// resizeCrop resizes the shorter side of img to size (torchvision's rule:
// the longer side becomes int(size*long/short)), center-crops crop×crop
// with Python's round-half-even offsets and returns RGB bytes (H, W, 3).
func resizeCrop(img image.Image, size, crop int, rs Resample) ([]uint8, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w < 1 || h < 1 {
		return nil, fmt.Errorf("preprocess: empty image %dx%d", w, h)
	}
	nw, nh := size, size
	if w <= h {
		nh = int(float64(size) * float64(h) / float64(w))
	} else {
		nw = int(float64(size) * float64(w) / float64(h))
	}
	top := int(math.RoundToEven(float64(nh-crop) / 2))
	left := int(math.RoundToEven(float64(nw-crop) / 2))
	src := toPlanes(img)
	out := resizeRegion(src, nw, nh, image.Rect(left, top, left+crop, top+crop), rs)
	return out.rgb(), nil
}

// ResizeBicubic resizes img to w×h exactly as PIL's
// Image.resize((w, h), BICUBIC) does, alpha included.
func ResizeBicubic(img image.Image, w, h int) *image.NRGBA {
	return Resize(img, w, h, Bicubic)
}

// Resize resizes img to w×h exactly as PIL's Image.resize with the given
// filter (palette images use nearest, as PIL does).
func Resize(img image.Image, w, h int, rs Resample) *image.NRGBA {
	if w < 1 || h < 1 {
		return image.NewNRGBA(image.Rect(0, 0, max(w, 0), max(h, 0)))
	}
	r := resizeRegion(toPlanes(img), w, h, image.Rect(0, 0, w, h), rs)
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		p := r.pix[i*r.c : (i+1)*r.c]
		d := out.Pix[4*i : 4*i+4]
		switch r.c {
		case 1:
			d[0], d[1], d[2], d[3] = p[0], p[0], p[0], 255
		case 2:
			d[0], d[1], d[2], d[3] = p[0], p[0], p[0], p[1]
		case 3:
			d[0], d[1], d[2], d[3] = p[0], p[1], p[2], 255
		default:
			copy(d, p)
		}
	}
	return out
}

// planes is an 8-bit image with c interleaved channels: 1 gray, 2 gray +
// alpha, 3 RGB, 4 RGBA (straight alpha, like PIL's modes L, LA, RGB, RGBA).
type planes struct {
	w, h, c int
	pix     []uint8
	nearest bool // palette image: PIL resizes "P" with NEAREST
}

// rgb drops alpha and replicates gray, like PIL's convert("RGB").
func (p *planes) rgb() []uint8 {
	n := p.w * p.h
	if p.c == 3 {
		return p.pix
	}
	out := make([]uint8, 3*n)
	for i := 0; i < n; i++ {
		s := p.pix[i*p.c:]
		if p.c <= 2 {
			out[3*i], out[3*i+1], out[3*i+2] = s[0], s[0], s[0]
		} else {
			out[3*i], out[3*i+1], out[3*i+2] = s[0], s[1], s[2]
		}
	}
	return out
}

// toPlanes converts a decoded image to PIL's mode for it. Gray and RGB(A)
// data are taken exactly; JPEG YCbCr is converted as libjpeg does (4:4:4,
// 4:2:2, 4:2:0; other layouts use Go's conversion); 16-bit and CMYK images
// are reduced to 8-bit RGBA through Go's colour models first.
func toPlanes(img image.Image) *planes {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.Gray:
		p := &planes{w: w, h: h, c: 1, pix: make([]uint8, w*h)}
		for y := 0; y < h; y++ {
			copy(p.pix[y*w:(y+1)*w], m.Pix[(y)*m.Stride:])
		}
		return p
	case *image.YCbCr:
		if p := ycbcrPlanes(m); p != nil {
			return p
		}
	case *image.Paletted:
		p := fromColors(img, true)
		p.nearest = true
		return p
	case *image.NRGBA:
		p := &planes{w: w, h: h, c: 4, pix: make([]uint8, 4*w*h)}
		for y := 0; y < h; y++ {
			copy(p.pix[y*4*w:(y+1)*4*w], m.Pix[y*m.Stride:])
		}
		return p.dropOpaqueAlpha()
	}
	return fromColors(img, false)
}

// fromColors reads any image through color.NRGBAModel.
func fromColors(img image.Image, keepAlpha bool) *planes {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	p := &planes{w: w, h: h, c: 4, pix: make([]uint8, 4*w*h)}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			i := 4 * (y*w + x)
			p.pix[i], p.pix[i+1], p.pix[i+2], p.pix[i+3] = c.R, c.G, c.B, c.A
		}
	}
	if keepAlpha {
		// PIL converts "P" to RGB through the palette's colours; Go stores a
		// transparent palette entry as (0,0,0,0), so alpha is dropped here.
		return p.toRGB()
	}
	return p.dropOpaqueAlpha()
}

// dropOpaqueAlpha turns RGBA with alpha 255 everywhere into RGB (PIL's
// premultiply round trip is the identity there).
func (p *planes) dropOpaqueAlpha() *planes {
	for i := 3; i < len(p.pix); i += 4 {
		if p.pix[i] != 255 {
			return p
		}
	}
	return p.toRGB()
}

func (p *planes) toRGB() *planes {
	n := p.w * p.h
	out := make([]uint8, 3*n)
	for i := 0; i < n; i++ {
		copy(out[3*i:3*i+3], p.pix[4*i:4*i+3])
	}
	return &planes{w: p.w, h: p.h, c: 3, pix: out, nearest: p.nearest}
}

// resizeRegion resizes src to nw×nh as PIL does and returns only the
// pixels inside crop (which lies within the nw×nh frame). Every output
// pixel depends only on its own coefficients, so computing a region gives
// the same bytes as resizing everything and cropping.
func resizeRegion(src *planes, nw, nh int, crop image.Rectangle, rs Resample) *planes {
	if src.nearest {
		return nearestRegion(src, nw, nh, crop)
	}
	img := src
	alpha := src.c == 2 || src.c == 4
	if alpha && (src.w != nw || src.h != nh) {
		img = premultiply(src)
	}
	f := filters[rs]
	// Horizontal pass over the source rows the vertical pass needs.
	ys, yk := coeffs(src.h, nh, f)
	y0, y1 := ys[2*crop.Min.Y], ys[2*(crop.Max.Y-1)]+ys[2*(crop.Max.Y-1)+1]
	if src.h == nh {
		y0, y1 = crop.Min.Y, crop.Max.Y
	}
	tmp := &planes{w: crop.Dx(), h: y1 - y0, c: img.c}
	if src.w != nw {
		xs, xk := coeffs(src.w, nw, f)
		tmp.pix = horizontal(img, y0, y1, crop.Min.X, crop.Max.X, xs, xk)
	} else {
		tmp.pix = make([]uint8, tmp.w*tmp.h*tmp.c)
		for y := y0; y < y1; y++ {
			copy(tmp.pix[(y-y0)*tmp.w*tmp.c:], img.pix[(y*img.w+crop.Min.X)*img.c:(y*img.w+crop.Max.X)*img.c])
		}
	}
	out := tmp
	if src.h != nh {
		out = &planes{w: crop.Dx(), h: crop.Dy(), c: img.c}
		out.pix = vertical(tmp, y0, crop.Min.Y, crop.Max.Y, ys, yk)
	}
	if img != src {
		unpremultiply(out)
	}
	return out
}

// filter is a PIL resampling kernel with its support radius.
type filter struct {
	fn      func(x float64) float64
	support float64
}

var filters = map[Resample]filter{
	Bicubic: {func(x float64) float64 {
		const a = -0.5
		x = math.Abs(x)
		switch {
		case x < 1:
			return ((a+2)*x-(a+3))*x*x + 1
		case x < 2:
			return (((x-5)*x+8)*x - 4) * a
		}
		return 0
	}, 2},
	Bilinear: {func(x float64) float64 {
		x = math.Abs(x)
		if x < 1 {
			return 1 - x
		}
		return 0
	}, 1},
}

// precisionBits is PIL's fixed-point precision for 8-bit resampling.
const precisionBits = 32 - 8 - 2

// coeffs is PIL's precompute_coeffs + normalize_coeffs_8bpc for resizing
// inSize to outSize: per output index, bounds (first source index, count)
// and ksize fixed-point weights.
func coeffs(inSize, outSize int, f filter) (bounds []int, kk []int32) {
	scale := float64(inSize) / float64(outSize)
	filterscale := math.Max(scale, 1)
	support := f.support * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	w := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w[x] = f.fn((float64(x+xmin) - center + 0.5) / filterscale)
			ww += w[x]
		}
		for x := 0; x < xmax; x++ {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				kk[xx*ksize+x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				kk[xx*ksize+x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	return bounds, kk
}

// clip8 is PIL's rounding of a fixed-point sum back to a byte.
func clip8(v int32) uint8 {
	if v >= 1<<precisionBits<<8 {
		return 255
	}
	if v <= 0 {
		return 0
	}
	return uint8(v >> precisionBits)
}

// horizontal resamples rows y0..y1 of src to output columns x0..x1.
func horizontal(src *planes, y0, y1, x0, x1 int, bounds []int, kk []int32) []uint8 {
	c := src.c
	ksize := len(kk) / (len(bounds) / 2)
	w := x1 - x0
	out := make([]uint8, (y1-y0)*w*c)
	for y := y0; y < y1; y++ {
		row := src.pix[y*src.w*c : (y+1)*src.w*c]
		dst := out[(y-y0)*w*c:]
		for xx := x0; xx < x1; xx++ {
			xmin, n := bounds[2*xx], bounds[2*xx+1]
			k := kk[xx*ksize : xx*ksize+n]
			for ch := 0; ch < c; ch++ {
				ss := int32(1 << (precisionBits - 1))
				for i, kv := range k {
					ss += int32(row[(xmin+i)*c+ch]) * kv
				}
				dst[(xx-x0)*c+ch] = clip8(ss)
			}
		}
	}
	return out
}

// vertical resamples tmp (whose row 0 is source row y0) to output rows
// yy0..yy1.
func vertical(tmp *planes, y0, yy0, yy1 int, bounds []int, kk []int32) []uint8 {
	c, w := tmp.c, tmp.w
	ksize := len(kk) / (len(bounds) / 2)
	stride := w * c
	out := make([]uint8, (yy1-yy0)*stride)
	acc := make([]int32, stride)
	for yy := yy0; yy < yy1; yy++ {
		ymin, n := bounds[2*yy]-y0, bounds[2*yy+1]
		for i := range acc {
			acc[i] = 1 << (precisionBits - 1)
		}
		for j, kv := range kk[yy*ksize : yy*ksize+n] {
			row := tmp.pix[(ymin+j)*stride : (ymin+j+1)*stride]
			for i, v := range row {
				acc[i] += int32(v) * kv
			}
		}
		dst := out[(yy-yy0)*stride:]
		for i, v := range acc {
			dst[i] = clip8(v)
		}
	}
	return out
}

// premultiply is PIL's RGBA -> RGBa (and LA -> La) conversion.
func premultiply(src *planes) *planes {
	p := &planes{w: src.w, h: src.h, c: src.c, pix: make([]uint8, len(src.pix))}
	for i := 0; i < len(src.pix); i += src.c {
		a := uint32(src.pix[i+src.c-1])
		for ch := 0; ch < src.c-1; ch++ {
			t := uint32(src.pix[i+ch])*a + 128
			p.pix[i+ch] = uint8(((t >> 8) + t) >> 8)
		}
		p.pix[i+src.c-1] = uint8(a)
	}
	return p
}

// unpremultiply is PIL's RGBa -> RGBA conversion, in place.
func unpremultiply(p *planes) {
	for i := 0; i < len(p.pix); i += p.c {
		a := uint32(p.pix[i+p.c-1])
		if a == 0 || a == 255 {
			continue
		}
		for ch := 0; ch < p.c-1; ch++ {
			p.pix[i+ch] = uint8(min(255*uint32(p.pix[i+ch])/a, 255))
		}
	}
}

// nearestRegion is PIL's NEAREST resize (ImagingScaleAffine), restricted
// to crop.
func nearestRegion(src *planes, nw, nh int, crop image.Rectangle) *planes {
	xin := nearestIndex(src.w, nw)
	yin := nearestIndex(src.h, nh)
	c := src.c
	out := &planes{w: crop.Dx(), h: crop.Dy(), c: c, pix: make([]uint8, crop.Dx()*crop.Dy()*c)}
	for y := crop.Min.Y; y < crop.Max.Y; y++ {
		for x := crop.Min.X; x < crop.Max.X; x++ {
			s := (yin[y]*src.w + xin[x]) * c
			d := ((y-crop.Min.Y)*out.w + x - crop.Min.X) * c
			copy(out.pix[d:d+c], src.pix[s:s+c])
		}
	}
	return out
}

// nearestIndex tabulates source indices the way PIL accumulates them.
func nearestIndex(inSize, outSize int) []int {
	a := float64(inSize) / float64(outSize)
	idx := make([]int, outSize)
	o := a * 0.5
	for i := range idx {
		idx[i] = min(max(int(o), 0), inSize-1)
		o += a
	}
	return idx
}
