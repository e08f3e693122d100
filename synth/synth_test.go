package synth

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRenderDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		s := Random(r)
		a, err := s.Render(32)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Render(32)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Pix, b.Pix) {
			t.Fatalf("%+v renders differently twice", s)
		}
		s.Seed++
		c, _ := s.Render(32)
		if bytes.Equal(a.Pix, c.Pix) {
			t.Fatalf("%+v: another seed gives the same pixels", s)
		}
	}
}

// TestRenderContent checks the pixels: the shape's colour at its centre,
// the background in the far corner, and a large shape covering more pixels
// than a small one.
func TestRenderContent(t *testing.T) {
	for shape := range Shapes {
		for colour, c := range Colours {
			var area [2]int
			for size := range Sizes {
				s := Sample{Shape: shape, Colour: colour, Size: size, Position: 4, Background: 0, Seed: uint64(7 * shape)}
				img, err := s.Render(32)
				if err != nil {
					t.Fatal(err)
				}
				px := img.RGBAAt(16, 16)
				got := [3]uint8{px.R, px.G, px.B}
				for ch := range 3 {
					if d := int(got[ch]) - int(c.RGB[ch]); d > ColourJitter || d < -ColourJitter {
						t.Fatalf("%s: centre pixel %v, want %v ± %d", s.Caption(), got, c.RGB, ColourJitter)
					}
				}
				if corner := img.RGBAAt(0, 0); corner.R != Backgrounds[0].Grey || corner.G != corner.R || corner.B != corner.R {
					t.Fatalf("%s: corner pixel %v, want the background grey %d", s.Caption(), corner, Backgrounds[0].Grey)
				}
				for i := 0; i < len(img.Pix); i += 4 {
					if img.Pix[i] != Backgrounds[0].Grey || img.Pix[i+1] != Backgrounds[0].Grey || img.Pix[i+2] != Backgrounds[0].Grey {
						area[size]++
					}
				}
			}
			if area[1] < 2*area[0] {
				t.Fatalf("%s %s: large covers %d pixels, small %d; want at least twice", c.Name, Shapes[shape], area[1], area[0])
			}
		}
	}
}

// TestPositions: the shape's pixel centroid lies on the named side.
func TestPositions(t *testing.T) {
	for pos, p := range Positions {
		s := Sample{Shape: 0, Colour: 6, Size: 0, Position: pos, Seed: 1}
		img, err := s.Render(32)
		if err != nil {
			t.Fatal(err)
		}
		var sx, sy, n float64
		for y := range 32 {
			for x := range 32 {
				if img.RGBAAt(x, y).R > 128 {
					sx, sy, n = sx+float64(x)+0.5, sy+float64(y)+0.5, n+1
				}
			}
		}
		cx, cy := sx/n/32, sy/n/32
		if d := cx - p.X; d > 0.05 || d < -0.05 {
			t.Errorf("%s: centroid x %.2f, want %.2f", p.Phrase, cx, p.X)
		}
		if d := cy - p.Y; d > 0.05 || d < -0.05 {
			t.Errorf("%s: centroid y %.2f, want %.2f", p.Phrase, cy, p.Y)
		}
	}
}

func TestTrainExcludesHeldOut(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	seen := map[[2]int]bool{}
	for range 20000 {
		s := Train(r)
		if IsHeldOut(s.Shape, s.Colour) {
			t.Fatalf("training sample %q is a held-out combination", s.Caption())
		}
		seen[[2]int{s.Shape, s.Colour}] = true
	}
	if want := len(Shapes)*len(Colours) - len(HeldOut); len(seen) != want {
		t.Fatalf("training covers %d shape×colour combinations, want %d", len(seen), want)
	}
	// Every shape and every held-out colour still appears in training.
	for _, h := range HeldOut {
		if IsHeldOut(h[0], (h[1]+1)%len(Colours)) {
			t.Fatalf("two colours held out for shape %s", Shapes[h[0]])
		}
	}
	set := HeldOutSet(50, 9)
	for i, s := range set {
		if !IsHeldOut(s.Shape, s.Colour) {
			t.Fatalf("held-out sample %d %q is not held out", i, s.Caption())
		}
		if h := HeldOut[i%len(HeldOut)]; s.Shape != h[0] || s.Colour != h[1] {
			t.Fatalf("held-out sample %d is %q, want cycle entry %v", i, s.Caption(), h)
		}
	}
	again := HeldOutSet(50, 9)
	for i := range set {
		if set[i] != again[i] {
			t.Fatalf("HeldOutSet is not deterministic at %d", i)
		}
	}
}

func TestCaptions(t *testing.T) {
	s := Sample{Shape: 2, Colour: 0, Size: 0, Position: 0}
	if got := s.Caption(); got != "a small red triangle on the left" {
		t.Fatalf("caption %q", got)
	}
	s = Sample{Shape: 0, Colour: 5, Size: 1, Position: 4}
	if got := s.Caption(); got != "a large orange circle in the center" {
		t.Fatalf("caption %q", got)
	}
	r := rand.New(rand.NewPCG(5, 5))
	kinds := map[string]bool{}
	for range 2000 {
		s := Random(r)
		c := s.RandomCaption(r)
		hasColour := strings.Contains(c, Colours[s.Colour].Name)
		hasShape := strings.Contains(c, Shapes[s.Shape])
		if !hasColour && !hasShape {
			t.Fatalf("caption %q of %q names neither colour nor shape", c, s.Caption())
		}
		if !hasShape && !strings.Contains(c, " shape") {
			t.Fatalf("caption %q drops the shape without saying \"shape\"", c)
		}
		for _, w := range strings.Fields(c) {
			if w == "an" && !strings.Contains(c, "an orange") {
				t.Fatalf("caption %q: wrong article", c)
			}
		}
		kinds[map[bool]string{true: "colour", false: "nocolour"}[hasColour]+map[bool]string{true: "shape", false: "noshape"}[hasShape]] = true
	}
	if len(kinds) != 3 {
		t.Fatalf("caption kinds %v, want colour+shape, colour only and shape only", kinds)
	}
	if got := ColourPrompts()[5]; len(got) != 2+len(Shapes) || got[0] != "an orange shape" || got[1] != "a photo of an orange shape" || got[5] != "an orange star" {
		t.Fatalf("colour prompts %q", got)
	}
	if got := ShapePrompts()[3]; len(got) != 2+len(Colours) || got[0] != "a star" || got[1] != "a photo of a star" || got[2] != "a red star" {
		t.Fatalf("shape prompts %q", got)
	}
}

func TestErrors(t *testing.T) {
	if _, err := (Sample{Shape: 9}).Render(32); err == nil || !strings.Contains(err.Error(), "shape index 9") {
		t.Fatalf("bad shape: %v", err)
	}
	if _, err := (Sample{Colour: -1}).Render(32); err == nil || !strings.Contains(err.Error(), "colour index -1") {
		t.Fatalf("bad colour: %v", err)
	}
	if _, err := (Sample{}).Render(4); err == nil || !strings.Contains(err.Error(), "image size 4") {
		t.Fatalf("bad size: %v", err)
	}
}

func TestGreyAndColourless(t *testing.T) {
	s := Sample{Shape: 3, Colour: 1, Size: 1, Position: 4, Background: 4, Seed: 3}
	img, err := s.Render(32)
	if err != nil {
		t.Fatal(err)
	}
	c := img.RGBAAt(16, 16)
	Grey(img)
	g := img.RGBAAt(16, 16)
	if want := uint8((299*int(c.R) + 587*int(c.G) + 114*int(c.B) + 500) / 1000); g.R != want || g.G != want || g.B != want {
		t.Fatalf("grey of %v is %v, want %d in every channel", c, g, want)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 200 {
		capt := s.ColourlessCaption(r)
		if !strings.Contains(capt, "star") || strings.Contains(capt, "green") {
			t.Fatalf("colourless caption %q", capt)
		}
	}
}

// TestRandomShapeColourAvoidsHeldOut renders random-hue training images of
// every shape and checks every coloured pixel: its hue stays at least
// HueMargin (less 2° for 8-bit rounding) from the hue of the shape's
// held-out colour, so a held-out combination never appears through the
// random hues. It also checks that the hues drawn cover the rest of the
// circle.
func TestRandomShapeColourAvoidsHeldOut(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, h := range HeldOut {
		shape := h[0]
		avoid, _ := Hue(Colours[h[1]].RGB)
		var bins [36]int // 10° bins of the hues drawn
		for i := range 400 {
			rgb := RandomShapeColour(r, shape)
			hue, sat := Hue(rgb)
			if sat < 0.44 {
				t.Fatalf("%s: colour %v has saturation %.2f, want ≥ 0.45", Shapes[shape], rgb, sat)
			}
			bins[int(hue/10)]++
			if i%20 != 0 {
				if d := HueDistance(hue, avoid); d < HueMargin-1 {
					t.Fatalf("%s: colour %v hue %.1f is %.1f° from held-out %s", Shapes[shape], rgb, hue, d, Colours[h[1]].Name)
				}
				continue
			}
			s := Train(r)
			s.Shape = shape
			img, err := s.RenderRGB(32, rgb)
			if err != nil {
				t.Fatal(err)
			}
			coloured := 0
			for p := 0; p < len(img.Pix); p += 4 {
				px := [3]uint8{img.Pix[p], img.Pix[p+1], img.Pix[p+2]}
				if max(px[0], px[1], px[2])-min(px[0], px[1], px[2]) < 24 {
					continue // background grey, or an edge too faint to carry a hue
				}
				coloured++
				if ph, _ := Hue(px); HueDistance(ph, avoid) < HueMargin-2 {
					t.Fatalf("%s in %v: pixel %v hue %.1f within %d° of held-out %s (hue %.1f)", Shapes[shape], rgb, px, ph, HueMargin, Colours[h[1]].Name, avoid)
				}
			}
			if coloured == 0 {
				t.Fatalf("%s in %v: no coloured pixel", Shapes[shape], rgb)
			}
		}
		for b, n := range bins {
			centre := float64(b)*10 + 5
			if d := HueDistance(centre, avoid); d > HueMargin+5 && n == 0 {
				t.Errorf("%s: no hue drawn in [%d°, %d°)", Shapes[shape], 10*b, 10*b+10)
			}
			if d := HueDistance(centre, avoid); d < HueMargin-5 && n != 0 {
				t.Errorf("%s: %d hues drawn in [%d°, %d°), near held-out %s", Shapes[shape], n, 10*b, 10*b+10, Colours[h[1]].Name)
			}
		}
	}
	// Hue and HueDistance themselves, on primaries and across 0°.
	for _, c := range []struct {
		rgb  [3]uint8
		want float64
	}{{[3]uint8{255, 0, 0}, 0}, {[3]uint8{0, 255, 0}, 120}, {[3]uint8{0, 0, 255}, 240}, {[3]uint8{255, 0, 255}, 300}} {
		if h, s := Hue(c.rgb); math.Abs(h-c.want) > 1e-9 || s != 1 {
			t.Errorf("Hue(%v) = %g, %g; want %g, 1", c.rgb, h, s, c.want)
		}
	}
	if HueDistance(350, 10) != 20 || HueDistance(10, 190) != 180 {
		t.Errorf("HueDistance wrong: %g %g", HueDistance(350, 10), HueDistance(10, 190))
	}
}

// TestRenderRGB: RenderRGB draws the same shape as Render, in exactly the
// given colour at its centre, and validates like Render.
func TestRenderRGB(t *testing.T) {
	s := Sample{Shape: 0, Colour: 2, Size: 1, Position: 4, Background: 0, Seed: 7}
	a, err := s.Render(32)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.RenderRGB(32, [3]uint8{10, 200, 90})
	if err != nil {
		t.Fatal(err)
	}
	if c := b.RGBAAt(16, 16); c.R != 10 || c.G != 200 || c.B != 90 {
		t.Fatalf("centre pixel %v, want {10 200 90}", c)
	}
	for p := 0; p < len(a.Pix); p += 4 {
		bgA := a.Pix[p] == 10 && a.Pix[p+1] == 10 && a.Pix[p+2] == 10
		bgB := b.Pix[p] == 10 && b.Pix[p+1] == 10 && b.Pix[p+2] == 10
		if bgA != bgB {
			t.Fatalf("pixel %d: background in one rendering only: %v vs %v", p/4, a.Pix[p:p+3], b.Pix[p:p+3])
		}
	}
	if _, err := (Sample{Shape: 5}).RenderRGB(32, [3]uint8{}); err == nil || !strings.Contains(err.Error(), "shape index 5") {
		t.Fatalf("bad shape: %v", err)
	}
	if _, err := (Sample{}).RenderRGB(7, [3]uint8{}); err == nil || !strings.Contains(err.Error(), "image size 7") {
		t.Fatalf("bad size: %v", err)
	}
}

// TestRenderBlob: the blob is an elongated patch of the sample's colour
// (the ratio of its principal second moments is below 0.5², so it is never
// a circle, square or other shape of Shapes), and ShapelessCaption names
// the colour and no shape.
func TestRenderBlob(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for range 30 {
		s := Train(r)
		s.Size = 1
		img, err := s.RenderBlob(64)
		if err != nil {
			t.Fatal(err)
		}
		bg := Backgrounds[s.Background]
		var n, mx, my, sxx, syy, sxy float64
		for y := range 64 {
			for x := range 64 {
				c := img.RGBAAt(x, y)
				// Pixels at least halfway from the background to the colour.
				d := 0
				for ch, v := range []uint8{c.R, c.G, c.B} {
					d += abs(int(v)-int(bg.Grey)) - abs(int(v)-int(Colours[s.Colour].RGB[ch]))
				}
				if d <= 0 {
					continue
				}
				fx, fy := float64(x), float64(y)
				n++
				mx, my = mx+fx, my+fy
				sxx, syy, sxy = sxx+fx*fx, syy+fy*fy, sxy+fx*fy
			}
		}
		if n < 20 {
			t.Fatalf("%+v: blob covers %v pixels", s, n)
		}
		mx, my = mx/n, my/n
		a, b, c := sxx/n-mx*mx, syy/n-my*my, sxy/n-mx*my
		tr, det := a+b, a*b-c*c
		l1 := tr/2 + math.Sqrt(tr*tr/4-det)
		l2 := tr/2 - math.Sqrt(tr*tr/4-det)
		if l2/l1 > 0.25+0.05 {
			t.Fatalf("%+v: blob moment ratio %.2f, not elongated", s, l2/l1)
		}
		capt := s.ShapelessCaption(r)
		if !strings.Contains(capt, Colours[s.Colour].Name+" shape") {
			t.Fatalf("shapeless caption %q lacks %q", capt, Colours[s.Colour].Name+" shape")
		}
		for _, sh := range Shapes {
			if strings.Contains(capt, sh) {
				t.Fatalf("shapeless caption %q names %s", capt, sh)
			}
		}
	}
	if _, err := (Sample{Background: 6}).RenderBlob(32); err == nil || !strings.Contains(err.Error(), "background index 6") {
		t.Fatalf("bad background: %v", err)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
