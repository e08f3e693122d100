package clipasso

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"

	"github.com/goclip/goclip/clip"
)

// TargetOptions control target preparation.
type TargetOptions struct {
	Size     int         // canvas side (224)
	FixScale bool        // pad to a white square of side max(h, w)+20 first
	Mask     image.Image // optional object mask: pixels where it is dark (< 50% gray) become white
}

// flattenWhite composites img over opaque white (PIL's paste of an RGBA
// image onto a white RGBA canvas with itself as the mask, then RGB).
func flattenWhite(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			a := uint32(c.A)
			blend := func(v uint8) uint8 { // PIL: (src·a + dst·(255−a)) / 255, rounded
				t := uint32(v)*a + 255*(255-a) + 128
				return uint8((t + t>>8) >> 8)
			}
			i := out.PixOffset(x-b.Min.X, y-b.Min.Y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = blend(c.R), blend(c.G), blend(c.B), 255
		}
	}
	return out
}

// applyMask whitens the pixels where mask (resized to the image by nearest
// neighbour) is below half intensity.
func applyMask(img *image.NRGBA, mask image.Image) {
	b, mb := img.Bounds(), mask.Bounds()
	for y := range b.Dy() {
		for x := range b.Dx() {
			mx := mb.Min.X + x*mb.Dx()/b.Dx()
			my := mb.Min.Y + y*mb.Dy()/b.Dy()
			g := color.GrayModel.Convert(mask.At(mx, my)).(color.Gray)
			_, _, _, a := mask.At(mx, my).RGBA()
			if g.Y < 128 || a < 0x8000 {
				i := img.PixOffset(x, y)
				img.Pix[i], img.Pix[i+1], img.Pix[i+2] = 255, 255, 255
			}
		}
	}
}

// fixScale pads to a white square of side max(h, w)+20, the image centred
// as CLIPasso's fix_image_scale places it.
func fixScale(img *image.NRGBA) *image.NRGBA {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	side := max(w, h) + 20
	out := image.NewNRGBA(image.Rect(0, 0, side, side))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	y0, x0 := side/2-h/2, side/2-w/2
	draw.Draw(out, image.Rect(x0, y0, x0+w, y0+h), img, image.Point{}, draw.Src)
	return out
}

// PrepareTarget turns an image into CLIPasso's target (3, Size, Size) in
// [0, 1]: composite over white, optional mask, optional fix_scale padding,
// then PIL bicubic Resize((Size, Size)) for non-square images or
// Resize(Size) + CenterCrop(Size) for square ones (the same thing).
func PrepareTarget(img image.Image, o TargetOptions) ([]float64, error) {
	if img == nil {
		return nil, fmt.Errorf("clipasso: target: nil image")
	}
	if o.Size < 32 {
		return nil, fmt.Errorf("clipasso: target: size %d, want at least 32", o.Size)
	}
	if b := img.Bounds(); b.Dx() < 1 || b.Dy() < 1 {
		return nil, fmt.Errorf("clipasso: target: empty image %v", b)
	}
	rgb := flattenWhite(img)
	if o.Mask != nil {
		if mb := o.Mask.Bounds(); mb.Dx() < 1 || mb.Dy() < 1 {
			return nil, fmt.Errorf("clipasso: target: empty mask %v", mb)
		}
		applyMask(rgb, o.Mask)
	}
	if o.FixScale {
		rgb = fixScale(rgb)
	}
	r := clip.Resize(rgb, o.Size, o.Size, clip.Bicubic)
	return toCHW(r), nil
}

// toCHW converts an 8-bit image to (3, H, W) floats in [0, 1] (ToTensor).
func toCHW(img *image.NRGBA) []float64 {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	n := w * h
	out := make([]float64, 3*n)
	for i := range n {
		for c := range 3 {
			out[c*n+i] = float64(img.Pix[4*i+c]) / 255
		}
	}
	return out
}

// ToImage converts a (3, H, W) image in [0, 1] to 8 bits.
func ToImage(chw []float64, h, w int) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	n := h * w
	for i := range n {
		for c := range 3 {
			out.Pix[4*i+c] = to8(chw[c*n+i])
		}
		out.Pix[4*i+3] = 255
	}
	return out
}

// MapImage renders a map in [0, 1] (row-major h×w) as gray levels.
func MapImage(m []float64, h, w int) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, w, h))
	for i, v := range m {
		out.Pix[i] = to8(v)
	}
	return out
}

func to8(v float64) uint8 {
	v = v*255 + 0.5
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// SaliencyMask thresholds a relevancy map (size×size, [0, 1]) at th into an
// object mask image: CLIPasso's automatic mask option, with CLIP relevancy
// standing in for U²-Net.
func SaliencyMask(relevancy []float64, size int, th float64) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, size, size))
	for i, v := range relevancy {
		if v >= th {
			m.Pix[i] = 255
		}
	}
	return m
}
