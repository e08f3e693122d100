// Package synth generates the synthetic image–caption data that goclip's
// default CLIP is trained on: small RGB images of one coloured shape
// (circle, square, triangle, star, cross) of a given size at a given
// position on a dark, plain or lightly noisy background, with captions such
// as "a small red triangle on the left".
//
// Everything is deterministic: a Sample holds its attributes and a seed, and
// renders the same pixels every time. A fixed set of colour × shape
// combinations (HeldOut) never appears in training samples (Train), so a
// model can be evaluated zero-shot on combinations it has never seen
// (HeldOutSet) Training images in other hues
// (RandomShapeColour, RenderRGB) keep away from the hue of each shape's
// held-out colour, and colour-only examples (RenderBlob) show none of the
// shapes.
package synth

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"
)

// Shape names, indexed by Sample.Shape.
var Shapes = []string{"circle", "square", "triangle", "star", "cross"}

// Colour is a named shape colour.
type Colour struct {
	Name string
	RGB  [3]uint8
}

// Colours, indexed by Sample.Colour. Rendered colours are jittered by up to
// ±ColourJitter per channel.
var Colours = []Colour{
	{"red", [3]uint8{220, 35, 35}},
	{"green", [3]uint8{40, 180, 60}},
	{"blue", [3]uint8{45, 85, 235}},
	{"yellow", [3]uint8{240, 220, 40}},
	{"purple", [3]uint8{150, 60, 195}},
	{"orange", [3]uint8{250, 140, 20}},
	{"white", [3]uint8{245, 245, 245}},
}

// ColourJitter is the largest per-channel offset added to a shape colour.
const ColourJitter = 15

// Sizes, indexed by Sample.Size, and each size's radius as a fraction of the
// image side.
var (
	Sizes     = []string{"small", "large"}
	sizeRadii = []float64{0.2, 0.3}
)

// Positions, indexed by Sample.Position: the phrase used in captions and the
// shape's centre as a fraction of the image side.
var Positions = []struct {
	Phrase string
	X, Y   float64
}{
	{"on the left", 0.3, 0.5},
	{"on the right", 0.7, 0.5},
	{"at the top", 0.5, 0.3},
	{"at the bottom", 0.5, 0.7},
	{"in the center", 0.5, 0.5},
}

// Backgrounds, indexed by Sample.Background: dark and mid greys, each plain
// or with light per-pixel noise.
var Backgrounds = []struct {
	Name  string
	Grey  uint8
	Noise uint8 // per-pixel noise amplitude (±)
}{
	{"black", 10, 0},
	{"dark grey", 55, 0},
	{"grey", 100, 0},
	{"noisy black", 20, 14},
	{"noisy dark grey", 60, 14},
	{"noisy grey", 100, 14},
}

// HeldOut lists the (shape, colour) index pairs that Train never produces:
// one colour per shape, every pair's colour different.
var HeldOut = [][2]int{
	{0, 4}, // purple circle
	{1, 3}, // yellow square
	{2, 2}, // blue triangle
	{3, 0}, // red star
	{4, 1}, // green cross
}

// IsHeldOut reports whether the shape × colour combination is held out of
// training.
func IsHeldOut(shape, colour int) bool {
	for _, p := range HeldOut {
		if p[0] == shape && p[1] == colour {
			return true
		}
	}
	return false
}

// Sample is one synthetic image: its attributes (indices into Shapes,
// Colours, Sizes, Positions and Backgrounds) and the seed of its jitter
// and noise.
type Sample struct {
	Shape, Colour, Size, Position, Background int
	Seed                                      uint64
}

// Validate checks that every attribute index is in range.
func (s Sample) Validate() error {
	check := []struct {
		what string
		v, n int
	}{
		{"shape", s.Shape, len(Shapes)}, {"colour", s.Colour, len(Colours)}, {"size", s.Size, len(Sizes)},
		{"position", s.Position, len(Positions)}, {"background", s.Background, len(Backgrounds)},
	}
	for _, c := range check {
		if c.v < 0 || c.v >= c.n {
			return fmt.Errorf("synth: sample %s index %d outside [0, %d)", c.what, c.v, c.n)
		}
	}
	return nil
}

// Random draws a sample uniformly over all attributes.
func Random(r *rand.Rand) Sample {
	return Sample{
		Shape:      r.IntN(len(Shapes)),
		Colour:     r.IntN(len(Colours)),
		Size:       r.IntN(len(Sizes)),
		Position:   r.IntN(len(Positions)),
		Background: r.IntN(len(Backgrounds)),
		Seed:       r.Uint64(),
	}
}

// Train draws a training sample: uniform over all attributes except the
// held-out shape × colour combinations.
func Train(r *rand.Rand) Sample {
	for {
		s := Random(r)
		if !IsHeldOut(s.Shape, s.Colour) {
			return s
		}
	}
}

// HeldOutSet returns n samples of the held-out combinations only, cycling
// through HeldOut evenly, with the other attributes drawn from seed.
func HeldOutSet(n int, seed uint64) []Sample {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]Sample, n)
	for i := range out {
		s := Random(r)
		s.Shape, s.Colour = HeldOut[i%len(HeldOut)][0], HeldOut[i%len(HeldOut)][1]
		out[i] = s
	}
	return out
}

// article is "an" before a vowel, else "a".
func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// phrase builds "a small red triangle on the left"-style text; empty
// attributes are left out and an empty shape becomes "shape".
func phrase(size, colour, shape, position string) string {
	if shape == "" {
		shape = "shape"
	}
	words := []string{}
	for _, w := range []string{size, colour, shape} {
		if w != "" {
			words = append(words, w)
		}
	}
	out := article(words[0]) + " " + strings.Join(words, " ")
	if position != "" {
		out += " " + position
	}
	return out
}

// Caption is the full description, e.g. "a small red triangle on the left".
func (s Sample) Caption() string {
	return phrase(Sizes[s.Size], Colours[s.Colour].Name, Shapes[s.Shape], Positions[s.Position].Phrase)
}

// RandomCaption describes the sample with some attributes left out, so that
// single-attribute prompts ("a red shape", "a photo of a star") are in the
// training distribution: size and position each appear with probability
// 1/2; colour or shape (never both) is dropped with probability 1/5 each,
// the shape then named "shape"; one caption in two starts with "a photo of".
func (s Sample) RandomCaption(r *rand.Rand) string {
	size, colour, shape, pos := Sizes[s.Size], Colours[s.Colour].Name, Shapes[s.Shape], Positions[s.Position].Phrase
	if r.IntN(2) == 0 {
		size = ""
	}
	if r.IntN(2) == 0 {
		pos = ""
	}
	switch r.IntN(5) {
	case 0:
		colour = ""
	case 1:
		shape = ""
	}
	c := phrase(size, colour, shape, pos)
	if r.IntN(2) == 0 {
		c = "a photo of " + c
	}
	return c
}

// ColourlessCaption is RandomCaption without the colour, for the sample
// rendered in grey levels ("a large star on the left", "a photo of a star").
func (s Sample) ColourlessCaption(r *rand.Rand) string {
	size, pos := Sizes[s.Size], Positions[s.Position].Phrase
	if r.IntN(2) == 0 {
		size = ""
	}
	if r.IntN(2) == 0 {
		pos = ""
	}
	c := phrase(size, "", Shapes[s.Shape], pos)
	if r.IntN(2) == 0 {
		c = "a photo of " + c
	}
	return c
}

// Grey converts img in place to its luma (ITU-R BT.601), the same value in
// every channel.
func Grey(img *image.RGBA) {
	for i := 0; i+3 < len(img.Pix); i += 4 {
		y := (299*int(img.Pix[i]) + 587*int(img.Pix[i+1]) + 114*int(img.Pix[i+2]) + 500) / 1000
		img.Pix[i], img.Pix[i+1], img.Pix[i+2] = uint8(y), uint8(y), uint8(y)
	}
}

// ColourPrompts returns, for each colour, a zero-shot prompt ensemble
// naming the colour: "a red shape", "a photo of a red shape", and the
// colour with every shape ("a red circle", …, "a red cross"). Averaging
// over all shapes makes the ensembles of all colours carry the same shape
// content, so an unseen colour × shape combination is not pulled towards
// the colours that its shape was trained with.
func ColourPrompts() [][]string {
	out := make([][]string, len(Colours))
	for i, c := range Colours {
		p := phrase("", c.Name, "", "")
		out[i] = []string{p, "a photo of " + p}
		for _, s := range Shapes {
			out[i] = append(out[i], phrase("", c.Name, s, ""))
		}
	}
	return out
}

// ShapePrompts returns, for each shape, a zero-shot prompt ensemble naming
// the shape: "a star", "a photo of a star", and the shape in every colour
// ("a red star", …, "a white star"), for the same reason as ColourPrompts.
func ShapePrompts() [][]string {
	out := make([][]string, len(Shapes))
	for i, s := range Shapes {
		p := phrase("", "", s, "")
		out[i] = []string{p, "a photo of " + p}
		for _, c := range Colours {
			out[i] = append(out[i], phrase("", c.Name, s, ""))
		}
	}
	return out
}

// supersample is the number of sub-pixel samples per axis (anti-aliasing).
const supersample = 4

// Render draws the sample as a size×size RGB image (opaque RGBA). The
// shape's exact centre (±3% of the side), radius (±5%), rotation (±12°)
// and colour (±ColourJitter) and the background noise come from Seed.
func (s Sample) Render(size int) (*image.RGBA, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if size < 8 {
		return nil, fmt.Errorf("synth: render: image size %d, want at least 8", size)
	}
	return s.render(size, Colours[s.Colour].RGB, ColourJitter, shapeTest(s.Shape)), nil
}

// RenderRGB draws the sample like Render but in exactly the colour rgb (no
// jitter) instead of Colours[s.Colour] (s.Colour is still validated, and
// is otherwise unused). Training uses it for shape-only captions with
// RandomShapeColour. Anti-aliased edges blend rgb with the grey background,
// which keeps its hue.
func (s Sample) RenderRGB(size int, rgb [3]uint8) (*image.RGBA, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if size < 8 {
		return nil, fmt.Errorf("synth: render: image size %d, want at least 8", size)
	}
	return s.render(size, rgb, 0, shapeTest(s.Shape)), nil
}

// RenderBlob draws, in place of the sample's shape, an elongated ellipse
// (axis ratio 0.3–0.5, any orientation, from Seed) of the sample's colour,
// size and position: a colour example that is none of the Shapes, for
// captions that name the colour only (ShapelessCaption).
func (s Sample) RenderBlob(size int) (*image.RGBA, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if size < 8 {
		return nil, fmt.Errorf("synth: render: image size %d, want at least 8", size)
	}
	r := rand.New(rand.NewPCG(s.Seed, 0xb10b))
	aspect := 0.3 + 0.2*r.Float64()
	a := r.Float64() * math.Pi
	cos, sin := math.Cos(a), math.Sin(a)
	ellipse := func(x, y float64) bool {
		u, v := cos*x+sin*y, (-sin*x+cos*y)/aspect
		return u*u+v*v <= 1
	}
	return s.render(size, Colours[s.Colour].RGB, ColourJitter, ellipse), nil
}

// ShapelessCaption describes a RenderBlob image by its colour, and its
// size and position each with probability 1/2: "a red shape", "a photo of
// a large red shape on the left".
func (s Sample) ShapelessCaption(r *rand.Rand) string {
	size, pos := Sizes[s.Size], Positions[s.Position].Phrase
	if r.IntN(2) == 0 {
		size = ""
	}
	if r.IntN(2) == 0 {
		pos = ""
	}
	c := phrase(size, Colours[s.Colour].Name, "", pos)
	if r.IntN(2) == 0 {
		c = "a photo of " + c
	}
	return c
}

// render draws a validated sample in the base colour rgb, each channel
// offset by up to ±jitter, with the inside test of its shape.
func (s Sample) render(size int, rgb [3]uint8, jitter int, inside func(x, y float64) bool) *image.RGBA {
	r := rand.New(rand.NewPCG(s.Seed, 0xc0105))
	side := float64(size)
	pos := Positions[s.Position]
	cx := (pos.X + (r.Float64()*2-1)*0.03) * side
	cy := (pos.Y + (r.Float64()*2-1)*0.03) * side
	rad := sizeRadii[s.Size] * (1 + (r.Float64()*2-1)*0.05) * side
	rot := (r.Float64()*2 - 1) * 12 * math.Pi / 180
	var fg [3]float64
	for c := range fg {
		v := int(rgb[c]) + r.IntN(2*jitter+1) - jitter
		fg[c] = float64(min(max(v, 0), 255))
	}
	bg := Backgrounds[s.Background]
	cos, sin := math.Cos(rot), math.Sin(rot)
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			base := float64(bg.Grey)
			if bg.Noise > 0 {
				base += float64(r.IntN(2*int(bg.Noise)+1) - int(bg.Noise))
			}
			hits := 0
			for sy := range supersample {
				for sx := range supersample {
					px := (float64(x) + (float64(sx)+0.5)/supersample - cx) / rad
					py := (float64(y) + (float64(sy)+0.5)/supersample - cy) / rad
					u, v := cos*px+sin*py, -sin*px+cos*py // rotate into the shape's frame
					if inside(u, v) {
						hits++
					}
				}
			}
			a := float64(hits) / (supersample * supersample)
			var out [3]uint8
			for c := range out {
				out[c] = uint8(math.Round(min(max(a*fg[c]+(1-a)*base, 0), 255)))
			}
			img.SetRGBA(x, y, color.RGBA{out[0], out[1], out[2], 255})
		}
	}
	return img
}

// HueMargin is how far, in degrees of hue, a RandomShapeColour stays from
// the hue of its shape's held-out colour.
const HueMargin = 40

// Hue returns the HSV hue of rgb in degrees [0, 360), and its saturation
// in [0, 1] (0 for greys, whose hue is then 0).
func Hue(rgb [3]uint8) (hue, sat float64) {
	r, g, b := float64(rgb[0]), float64(rgb[1]), float64(rgb[2])
	hi, lo := max(r, g, b), min(r, g, b)
	if hi == 0 || hi == lo {
		return 0, 0
	}
	d := hi - lo
	switch hi {
	case r:
		hue = 60 * math.Mod((g-b)/d, 6)
	case g:
		hue = 60 * ((b-r)/d + 2)
	default:
		hue = 60 * ((r-g)/d + 4)
	}
	if hue < 0 {
		hue += 360
	}
	return hue, d / hi
}

// HueDistance is the angle in degrees between two hues, in [0, 180].
func HueDistance(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 360)
	return min(d, 360-d)
}

// heldOutColour returns the colour index held out for shape, or -1.
func heldOutColour(shape int) int {
	for _, p := range HeldOut {
		if p[0] == shape {
			return p[1]
		}
	}
	return -1
}

// RandomShapeColour draws a saturated colour of random hue for an image of
// shape whose caption names no colour: hue uniform over the circle except
// within HueMargin degrees of the hue of the shape's held-out colour,
// saturation in [0.45, 1], value in [0.55, 1]. Such images teach shape
// features that hold across hues without ever showing a held-out
// combination (a test checks the hue of every colour drawn).
func RandomShapeColour(r *rand.Rand, shape int) [3]uint8 {
	avoid := -1.0
	if c := heldOutColour(shape); c >= 0 {
		avoid, _ = Hue(Colours[c].RGB)
	}
	for {
		h := r.Float64() * 360
		if avoid >= 0 && HueDistance(h, avoid) < HueMargin {
			continue
		}
		return hsv(h, 0.45+0.55*r.Float64(), 0.55+0.45*r.Float64())
	}
}

// hsv converts a hue in degrees, saturation and value in [0, 1] to RGB.
func hsv(h, s, v float64) [3]uint8 {
	c := v * s
	x := c * (1 - math.Abs(math.Mod(h/60, 2)-1))
	var r, g, b float64
	switch int(h/60) % 6 {
	case 0:
		r, g = c, x
	case 1:
		r, g = x, c
	case 2:
		g, b = c, x
	case 3:
		g, b = x, c
	case 4:
		r, b = x, c
	default:
		r, b = c, x
	}
	m := v - c
	to := func(f float64) uint8 { return uint8(math.Round(min(max((f+m)*255, 0), 255))) }
	return [3]uint8{to(r), to(g), to(b)}
}

// shapeTest returns the inside test of a shape in unit coordinates (centre
// at the origin, circumradius about 1, y pointing down).
func shapeTest(shape int) func(x, y float64) bool {
	switch shape {
	case 0: // circle
		return func(x, y float64) bool { return x*x+y*y <= 1 }
	case 1: // square, same area as the circle would be too large: side 1.6
		return func(x, y float64) bool { return math.Abs(x) <= 0.8 && math.Abs(y) <= 0.8 }
	case 2: // upward triangle inscribed in the unit circle
		return polygon(regular(3, 1, 0))
	case 3: // five-pointed star
		return polygon(regular(5, 1, 0.42))
	default: // cross (plus sign)
		return func(x, y float64) bool {
			ax, ay := math.Abs(x), math.Abs(y)
			return (ax <= 0.3 && ay <= 0.95) || (ay <= 0.3 && ax <= 0.95)
		}
	}
}

// regular returns the vertices of a regular polygon with n corners on the
// unit circle pointing up; with inner > 0 a star alternating between radius
// 1 and inner.
func regular(n int, outer, inner float64) [][2]float64 {
	var pts [][2]float64
	steps := n
	if inner > 0 {
		steps = 2 * n
	}
	for i := range steps {
		rad := outer
		if inner > 0 && i%2 == 1 {
			rad = inner
		}
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(steps)
		pts = append(pts, [2]float64{rad * math.Cos(a), rad * math.Sin(a)})
	}
	return pts
}

// polygon returns an even–odd point-in-polygon test.
func polygon(pts [][2]float64) func(x, y float64) bool {
	return func(x, y float64) bool {
		in := false
		for i, j := 0, len(pts)-1; i < len(pts); j, i = i, i+1 {
			a, b := pts[i], pts[j]
			if (a[1] > y) != (b[1] > y) && x < (b[0]-a[0])*(y-a[1])/(b[1]-a[1])+a[0] {
				in = !in
			}
		}
		return in
	}
}
