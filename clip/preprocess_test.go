package clip

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const preDir = "testdata/preprocess"

// readNpyU8 reads a little-endian uint8 .npy array written by numpy.save.
func readNpyU8(t *testing.T, path string) ([]uint8, []int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 10 || string(raw[1:6]) != "NUMPY" {
		t.Fatalf("%s: not a .npy file", path)
	}
	var hlen, off int
	if raw[6] == 1 {
		hlen, off = int(raw[8])|int(raw[9])<<8, 10
	} else {
		hlen, off = int(raw[8])|int(raw[9])<<8|int(raw[10])<<16|int(raw[11])<<24, 12
	}
	header := string(raw[off : off+hlen])
	if !strings.Contains(header, "'|u1'") || strings.Contains(header, "'fortran_order': True") {
		t.Fatalf("%s: want C-order uint8, header %s", path, header)
	}
	m := regexp.MustCompile(`'shape': \(([^)]*)\)`).FindStringSubmatch(header)
	var shape []int
	for _, s := range strings.Split(m[1], ",") {
		if s = strings.TrimSpace(s); s != "" {
			n, _ := strconv.Atoi(s)
			shape = append(shape, n)
		}
	}
	return raw[off+hlen:], shape
}

type preCases struct {
	Cases []struct {
		Image    string `json:"image"`
		Mode     string `json:"mode"`
		Size     int    `json:"size"`
		Crop     int    `json:"crop"`
		Resample string `json:"resample"`
		Expected string `json:"expected"`
	} `json:"cases"`
	Resize []struct {
		Image    string `json:"image"`
		W        int    `json:"w"`
		H        int    `json:"h"`
		Expected string `json:"expected"`
	} `json:"resize"`
}

func loadPreCases(t *testing.T) *preCases {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(preDir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c preCases
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestPreprocessMatchesTorchvision compares the uint8 pixels (before
// ToTensor's /255 and Normalize) with torchvision's Resize + CenterCrop +
// convert("RGB") on PIL: exact for PNG and GIF inputs; JPEG is decoded by Go,
// whose YCbCr upsampling differs from libjpeg's, so it gets 2/255.
func TestPreprocessMatchesTorchvision(t *testing.T) {
	for _, c := range loadPreCases(t).Cases {
		name := fmt.Sprintf("%s/%s_%d_%d", c.Image, c.Resample, c.Size, c.Crop)
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(preDir, c.Image)
			if strings.HasPrefix(c.Image, "../shared/") {
				path = filepath.Join("..", c.Image)
				if _, err := os.Stat(path); err != nil {
					t.Skipf("skipping: %s not found (%v)", path, err)
				}
			}
			img, err := DecodeImage(path)
			if err != nil {
				t.Fatal(err)
			}
			rs := Bicubic
			if c.Resample == "bilinear" {
				rs = Bilinear
			}
			got, err := resizeCrop(img, c.Size, c.Crop, rs)
			if err != nil {
				t.Fatal(err)
			}
			want, shape := readNpyU8(t, filepath.Join(preDir, c.Expected))
			if len(shape) != 3 || shape[0] != 3 || shape[1] != c.Crop || shape[2] != c.Crop {
				t.Fatalf("expected shape %v", shape)
			}
			n := c.Crop * c.Crop
			maxDiff, count := 0, 0
			for ch := 0; ch < 3; ch++ {
				for i := 0; i < n; i++ {
					d := int(got[3*i+ch]) - int(want[ch*n+i])
					if d < 0 {
						d = -d
					}
					if d > 0 {
						count++
					}
					maxDiff = max(maxDiff, d)
				}
			}
			tol := 0
			if strings.HasSuffix(c.Image, ".jpg") {
				tol = 2
			}
			t.Logf("%s (PIL mode %s): max |diff| %d/255, %d of %d values differ", name, c.Mode, maxDiff, count, 3*n)
			if maxDiff > tol {
				t.Errorf("max |diff| %d/255 > %d/255 (%d values differ)", maxDiff, tol, count)
			}
		})
	}
}

// TestResizeBicubicMatchesPIL checks a plain PIL resize, alpha included.
func TestResizeBicubicMatchesPIL(t *testing.T) {
	for _, c := range loadPreCases(t).Resize {
		img, err := DecodeImage(filepath.Join(preDir, c.Image))
		if err != nil {
			t.Fatal(err)
		}
		got := ResizeBicubic(img, c.W, c.H)
		want, shape := readNpyU8(t, filepath.Join(preDir, c.Expected))
		ch := shape[2]
		for y := 0; y < c.H; y++ {
			for x := 0; x < c.W; x++ {
				g := got.NRGBAAt(x, y)
				gv := []uint8{g.R, g.G, g.B, g.A}
				for k := 0; k < ch; k++ {
					if w := want[(y*c.W+x)*ch+k]; gv[k] != w {
						t.Fatalf("%s %dx%d pixel (%d,%d) channel %d = %d, want %d", c.Image, c.W, c.H, x, y, k, gv[k], w)
					}
				}
			}
		}
	}
}

// TestPreprocessNormalization checks the /255 and mean/std step and the
// (3, S, S) layout on a constant image.
func TestPreprocessNormalization(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = 10, 128, 250, 255
	}
	out, err := Preprocess(img, 16)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3*16*16 {
		t.Fatalf("len %d", len(out))
	}
	for c, v := range []float64{10, 128, 250} {
		want := (v/255 - float64(Mean[c])) / float64(Std[c])
		for i := c * 256; i < (c+1)*256; i++ {
			if math.Abs(float64(out[i])-want) > 1e-5 {
				t.Fatalf("channel %d value %v, want %v", c, out[i], want)
			}
		}
	}
	o := ImageNetOptions()
	o.Size, o.Crop = 20, 18
	out, err = PreprocessWith(img, o)
	if err != nil || len(out) != 3*18*18 {
		t.Fatalf("PreprocessWith: len %d err %v", len(out), err)
	}
	if want := (10.0/255 - 0.485) / 0.229; math.Abs(float64(out[0])-want) > 1e-5 {
		t.Errorf("ImageNet value %v, want %v", out[0], want)
	}
}

func TestPreprocessErrors(t *testing.T) {
	if _, err := DecodeImage(filepath.Join(preDir, "missing.png")); err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: err %v", err)
	}
	if _, err := DecodeImage(filepath.Join(preDir, "cases.json")); err == nil || !strings.Contains(err.Error(), "cases.json") {
		t.Errorf("not an image: err %v", err)
	}
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	if _, err := Preprocess(img, 0); err == nil {
		t.Error("size 0: want an error")
	}
	if _, err := PreprocessWith(img, PreprocessOptions{Size: 8, Crop: 9, Std: [3]float32{1, 1, 1}}); err == nil {
		t.Error("crop > size: want an error")
	}
	if _, err := PreprocessWith(img, PreprocessOptions{Size: 8}); err == nil {
		t.Error("zero std: want an error")
	}
	if _, err := Preprocess(image.NewRGBA(image.Rect(0, 0, 0, 5)), 8); err == nil {
		t.Error("empty image: want an error")
	}
}

// TestPreprocessOffsetBounds checks that an image whose bounds do not start
// at the origin (a SubImage) is read correctly.
func TestPreprocessOffsetBounds(t *testing.T) {
	full := image.NewNRGBA(image.Rect(0, 0, 20, 20))
	for y := 0; y < 20; y++ {
		for x := 0; x < 20; x++ {
			full.SetNRGBA(x, y, color.NRGBA{uint8(x * 10), uint8(y * 10), 7, 255})
		}
	}
	sub := full.SubImage(image.Rect(5, 5, 15, 15))
	a, err := resizeCrop(sub, 10, 10, Bicubic)
	if err != nil {
		t.Fatal(err)
	}
	if a[0] != 50 || a[1] != 50 || a[3*99] != 140 {
		t.Errorf("sub-image pixels %v .. %v", a[:3], a[3*99:])
	}
}

func BenchmarkPreprocess640x480(b *testing.B) {
	img := image.NewNRGBA(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Preprocess(img, 224); err != nil {
			b.Fatal(err)
		}
	}
}
