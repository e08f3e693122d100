package raster

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestSVGRoundTrip(t *testing.T) {
	scene := Scene{Width: 100, Height: 80, Background: White, Paths: []Path{
		{Segments: []int{Cubic}},
		{Segments: []int{Line, Quadratic, Cubic}},
		{Segments: []int{Cubic, Line}, Closed: true},
		{Segments: []int{Quadratic, Cubic}, Closed: true},
	}}
	rng := rand.New(rand.NewPCG(21, 22))
	points, radii, colors := randomStrokes(rng, scene, 30)
	in := &Drawing{Scene: scene, Points: points, Radii: radii, Colors: colors}
	var buf bytes.Buffer
	if err := WriteSVG(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadSVG(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(out.Scene, in.Scene) {
		t.Errorf("scene %+v, want %+v", out.Scene, in.Scene)
	}
	if !reflect.DeepEqual(out.Points, in.Points) || !reflect.DeepEqual(out.Radii, in.Radii) {
		t.Errorf("geometry changed:\npoints %v\nwant   %v\nradii %v\nwant  %v", out.Points, in.Points, out.Radii, in.Radii)
	}
	for i := range colors {
		tol := 0.5/255 + 1e-12 // rgb() holds 8-bit channels
		if i%4 == 3 {
			tol = 0
		}
		if math.Abs(out.Colors[i]-colors[i]) > tol {
			t.Errorf("color %d channel %d: %v, want %v", i/4, i%4, out.Colors[i], colors[i])
		}
	}
	if !strings.Contains(buf.String(), `stroke-linecap="round" stroke-linejoin="round" fill="none"`) {
		t.Errorf("not in diffvg's form:\n%s", buf.String())
	}
}

func TestSVGParse(t *testing.T) {
	doc := `<svg xmlns="http://www.w3.org/2000/svg" width="200px" height="100" viewBox="10 20 100 50">
<title>t</title><defs><rect/></defs>
<g stroke="#f00" stroke-width="4" fill="none">
  <path d="m10,20 l10-5 h5 v-5 Q 40 20 45 25 c1 2 3 4 5 6 z" stroke-opacity=".5"/>
  <path style="stroke: rgb(0, 50%, 255); stroke-linecap: round" d="M 30 30 L 40 40 M50 50 60 60 70 50"/>
</g></svg>`
	d, err := ReadSVG(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if d.Scene.Width != 200 || d.Scene.Height != 100 {
		t.Fatalf("canvas %dx%d", d.Scene.Width, d.Scene.Height)
	}
	wantPaths := []Path{
		{Segments: []int{Line, Line, Line, Quadratic, Cubic, Line}, Closed: true},
		{Segments: []int{Line}},
		{Segments: []int{Line, Line}},
	}
	if !reflect.DeepEqual(d.Scene.Paths, wantPaths) {
		t.Fatalf("paths %+v", d.Scene.Paths)
	}
	// user (x, y) → pixel ((x-10)·2, (y-20)·2)
	px := func(x, y float64) []float64 { return []float64{(x - 10) * 2, (y - 20) * 2} }
	var want []float64
	for _, p := range [][2]float64{{10, 20}, {20, 15}, {25, 15}, {25, 10}, {40, 20}, {45, 25}, {46, 27}, {48, 29}, {50, 31},
		{30, 30}, {40, 40}, {50, 50}, {60, 60}, {70, 50}} {
		want = append(want, px(p[0], p[1])...)
	}
	if !reflect.DeepEqual(d.Points, want) {
		t.Errorf("points\n%v\nwant\n%v", d.Points, want)
	}
	if !reflect.DeepEqual(d.Radii, []float64{4, 4, 4}) { // width 4 user units, scale 2, radius = half
		t.Errorf("radii %v", d.Radii)
	}
	wantC := []float64{1, 0, 0, 0.5, 0, 0.5, 1, 1, 0, 0.5, 1, 1}
	if !reflect.DeepEqual(d.Colors, wantC) {
		t.Errorf("colors %v, want %v", d.Colors, wantC)
	}
}

func TestSVGErrors(t *testing.T) {
	head := `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">`
	for name, doc := range map[string]string{
		"default fill": head + `<path d="M0 0 L5 5" stroke="black"/></svg>`,
		"fill":         head + `<path d="M0 0 L5 5" fill="red"/></svg>`,
		"transform":    head + `<g transform="scale(2)"><path d="M0 0 L5 5" fill="none"/></g></svg>`,
		"element":      head + `<circle r="3"/></svg>`,
		"command":      head + `<path d="M0 0 A 1 1 0 0 0 5 5" fill="none"/></svg>`,
		"numbers":      head + `<path d="M0 0 C 1 2 3" fill="none"/></svg>`,
		"no moveto":    head + `<path d="L 1 2" fill="none"/></svg>`,
		"colour":       head + `<path d="M0 0 L5 5" fill="none" stroke="hsl(1,2,3)"/></svg>`,
		"linecap":      head + `<path d="M0 0 L5 5" fill="none" stroke-linecap="butt"/></svg>`,
		"size":         `<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L5 5" fill="none"/></svg>`,
		"units":        `<svg width="10mm" height="10mm"></svg>`,
		"xml":          head + `<path`,
		"no svg":       `<g/>`,
	} {
		_, err := ReadSVG(strings.NewReader(doc))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
}

// rsvg renders an SVG file with librsvg on white, returning (3, H, W) in [0, 1].
func rsvg(t *testing.T, bin, svg string, w, h int) []float64 {
	t.Helper()
	out := svg + ".png"
	cmd := exec.Command(bin, "-w", itoa(w), "-h", itoa(h), "-b", "white", "-f", "png", "-o", out, svg)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("rsvg-convert: %v: %s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return planar(img, w, h)
}

func itoa(v int) string { return strconv.Itoa(v) }

func planar(img image.Image, w, h int) []float64 {
	out := make([]float64, 3*w*h)
	for y := range h {
		for x := range w {
			r, g, b, _ := img.At(x, y).RGBA()
			out[y*w+x] = float64(r) / 65535
			out[w*h+y*w+x] = float64(g) / 65535
			out[2*w*h+y*w+x] = float64(b) / 65535
		}
	}
	return out
}

// Random CLIPasso-like scenes exported to SVG and rendered by librsvg, an
// independent renderer, must match ours: stroke-coverage IoU ≥ 0.95 and mean
// absolute difference ≤ 0.02 at 224×224.
func TestAgainstLibrsvg(t *testing.T) {
	bin, err := exec.LookPath("rsvg-convert")
	if err != nil {
		t.Skip("rsvg-convert not installed (apt-get install librsvg2-bin); skipping the librsvg comparison")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(31, 32))
	for i, cfg := range []struct {
		strokes, segs int
		step          float64
		samples       int
		colour        bool
	}{{16, 1, 30, 0, false}, {32, 1, 60, 0, true}, {8, 3, 40, 0, true}, {16, 2, 50, 4, false}} {
		scene := StrokeScene(224, 224, cfg.strokes, cfg.segs)
		scene.Samples = cfg.samples
		points, radii, colors := randomStrokes(rng, scene, cfg.step)
		for p := range radii {
			radii[p] = 0.75 + 2*rng.Float64()
			if !cfg.colour {
				colors[4*p], colors[4*p+1], colors[4*p+2], colors[4*p+3] = 0, 0, 0, 1
			}
		}
		path := filepath.Join(dir, "scene"+itoa(i)+".svg")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		d := &Drawing{Scene: scene, Points: points, Radii: radii, Colors: colors}
		if err := WriteSVG(f, d); err != nil {
			t.Fatal(err)
		}
		f.Close()
		ref := rsvg(t, bin, path, 224, 224)
		// render what the file holds (8-bit colours), read back by ReadSVG
		f, err = os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ReadSVG(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		back.Scene.Samples = cfg.samples
		got, _, err := RenderImage(back.Scene, back.Points, back.Radii, back.Colors)
		if err != nil {
			t.Fatal(err)
		}
		var mad, madCovered float64
		inter, union := 0, 0
		const hw = 224 * 224
		for p := range hw {
			a, b := false, false
			e := 0.0
			for c := range 3 {
				e += math.Abs(got[c*hw+p] - ref[c*hw+p])
				a = a || 1-got[c*hw+p] > 0.25
				b = b || 1-ref[c*hw+p] > 0.25
			}
			mad += e
			if a || b {
				madCovered += e
			}
			if a && b {
				inter++
			}
			if a || b {
				union++
			}
		}
		mad /= 3 * hw
		madCovered /= 3 * float64(union)
		iou := float64(inter) / float64(union)
		t.Logf("scene %d (%d strokes × %d segments, samples %d): IoU %.4f, mean |diff| %.4f (%.4f over the %d covered px)", i, cfg.strokes, cfg.segs, cfg.samples, iou, mad, madCovered, union)
		if iou < 0.95 || mad > 0.02 || madCovered > 0.05 {
			t.Errorf("scene %d: IoU %.4f (want ≥ 0.95), mean |diff| %.4f (want ≤ 0.02), over covered px %.4f (want ≤ 0.05)", i, iou, mad, madCovered)
		}
	}
}
