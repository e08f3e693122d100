package clipasso

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	G "gorgonia.org/gorgonia"
)

// Fixtures come from testdata/gen.py (scipy/scikit-image XDoG exactly as
// CLIPasso's XDoG_, torch bicubic interpolate, torchvision perspective and
// resized_crop with autograd).

func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func TestXDoGMatchesScipySkimage(t *testing.T) {
	img := nntest.LoadNpy(t, "testdata/xdog_image.npy")
	h, w := img.Shape[1], img.Shape[2]
	norm := Normalize(img.Data, h, w)
	cfg := DefaultXDoG()
	cfg.Binarize = false
	soft, err := XDoG(norm, h, w, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantSoft := nntest.LoadNpy(t, "testdata/xdog_soft.npy").Data
	if d := maxAbsDiff(soft, wantSoft); d > 1e-6 { // tanh(200·x) amplifies rounding
		t.Errorf("soft XDoG differs from scipy/skimage by %.3g", d)
	}
	th := Otsu(soft)
	if want := nntest.LoadNpy(t, "testdata/xdog_otsu.npy").Data[0]; math.Abs(th-want) > 1e-12 {
		t.Errorf("Otsu threshold %v, skimage %v", th, want)
	}
	bin, err := XDoG(norm, h, w, DefaultXDoG())
	if err != nil {
		t.Fatal(err)
	}
	wantBin := nntest.LoadNpy(t, "testdata/xdog_binary.npy").Data
	edges := 0
	for i := range bin {
		if bin[i] != wantBin[i] {
			t.Fatalf("binary XDoG pixel %d: %v, reference %v", i, bin[i], wantBin[i])
		}
		if bin[i] == 0 {
			edges++
		}
	}
	if edges == 0 || edges == len(bin) {
		t.Fatalf("degenerate fixture: %d edge pixels of %d", edges, len(bin))
	}
	t.Logf("XDoG: %d edge pixels, Otsu %.6f, soft max diff %.2g", edges, th, maxAbsDiff(soft, wantSoft))
}

func TestUpsampleBicubicMatchesTorch(t *testing.T) {
	in := nntest.LoadNpy(t, "testdata/bicubic_in.npy")
	want := nntest.LoadNpy(t, "testdata/bicubic_out.npy")
	got := UpsampleBicubic(in.Data, 7, 7, 56, 56)
	if d := maxAbsDiff(got, want.Data); d > 1e-12 {
		t.Errorf("bicubic upsampling differs from torch by %.3g", d)
	}
}

func loadWarp(t *testing.T) (*Warp, []float64) {
	p := nntest.LoadNpy(t, "testdata/warp_params.npy").Data
	var persp Perspective
	for i := range 4 {
		persp.End[i] = [2]float64{p[2*i], p[2*i+1]}
	}
	wp, err := NewAugment(persp, Crop{Top: int(p[8]), Left: int(p[9]), Side: int(p[10])}, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	return wp, nntest.LoadNpy(t, "testdata/warp_in.npy").Data
}

func TestAugmentMatchesTorchvision(t *testing.T) {
	wp, in := loadWarp(t)
	got := wp.ApplyImage(in)
	want := nntest.LoadNpy(t, "testdata/warp_out.npy").Data
	// torchvision 0.14 solves the homography in float32 (we solve in
	// float64), hence the loose bound on the composed warp.
	d := maxAbsDiff(got, want)
	t.Logf("perspective+crop max diff %.3g", d)
	if d > 3e-5 {
		t.Errorf("perspective+resized crop differs from torchvision by %.3g", d)
	}
	// The crop alone (identity perspective) is exact.
	p := nntest.LoadNpy(t, "testdata/warp_params.npy").Data
	id := Perspective{End: [4][2]float64{{0, 0}, {31, 0}, {31, 31}, {0, 31}}}
	cw, err := NewAugment(id, Crop{Top: int(p[8]), Left: int(p[9]), Side: int(p[10])}, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(cw.ApplyImage(in), nntest.LoadNpy(t, "testdata/crop_out.npy").Data); d > 1e-12 {
		t.Errorf("resized crop differs from torchvision by %.3g", d)
	}
	// The backward op is the transpose: compare with torch autograd.
	wt := nntest.LoadNpy(t, "testdata/warp_w.npy").Data
	a := &Augmenter{h: 32, w: 32, warps: []*Warp{wp}, std: [3]float64{1, 1, 1}}
	gx := make([]float64, len(in))
	backwardWarps(a, gx, wt)
	if d := maxAbsDiff(gx, nntest.LoadNpy(t, "testdata/warp_grad.npy").Data); d > 1e-4 {
		t.Errorf("augment gradient differs from torch autograd by %.3g", d)
	}
}

// The augment op inside a float64 graph: symbolic gradient against finite
// differences (clean image plus two random augmentations, normalised).
func TestAugmentOpGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a, err := NewAugmenter(3, 32, 32, [3]float64{0.4, 0.5, 0.6}, [3]float64{0.2, 0.3, 0.25})
	if err != nil {
		t.Fatal(err)
	}
	var ws []*Warp
	for range 2 {
		w, err := RandomAugment(rng, 32, 32, 0.5, 0.8)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	if err := a.Set(ws); err != nil {
		t.Fatal(err)
	}
	nntest.GradCheck(t, func(g *nn.Graph, in []*G.Node) *G.Node {
		y, err := a.Apply(g.Expr(), in[0])
		if err != nil {
			g.Fail(err)
		}
		return y
	}, nntest.RandInput(1, 3, 32, 32))
}

func TestAugmenterErrors(t *testing.T) {
	if _, err := NewAugmenter(0, 8, 8, [3]float64{}, [3]float64{1, 1, 1}); err == nil {
		t.Error("batch 0 accepted")
	}
	if _, err := NewAugmenter(2, 8, 8, [3]float64{}, [3]float64{1, 0, 1}); err == nil {
		t.Error("zero std accepted")
	}
	a, _ := NewAugmenter(2, 8, 8, [3]float64{}, [3]float64{1, 1, 1})
	if err := a.Set(nil); err == nil {
		t.Error("wrong warp count accepted")
	}
	if err := a.Set([]*Warp{Identity(4, 4)}); err == nil {
		t.Error("wrong warp size accepted")
	}
	if _, err := NewAugment(Perspective{}, Crop{Side: 8}, 8, 8); err == nil {
		t.Error("degenerate perspective accepted")
	}
}

// RandomPerspective and RandomCrop stay in torchvision's ranges.
func TestRandomAugmentRanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		p := RandomPerspective(rng, 224, 224, 0.5)
		for i, c := range p.End {
			lo := [4][2]float64{{0, 0}, {167, 0}, {167, 167}, {0, 167}}[i]
			hi := [4][2]float64{{56, 56}, {223, 56}, {223, 223}, {56, 223}}[i]
			if c[0] < lo[0] || c[0] > hi[0] || c[1] < lo[1] || c[1] > hi[1] {
				t.Fatalf("corner %d = %v outside [%v, %v]", i, c, lo, hi)
			}
		}
		c := RandomCrop(rng, 224, 224, 0.8)
		if c.Side != 200 || c.Top < 0 || c.Top > 24 || c.Left < 0 || c.Left > 24 {
			t.Fatalf("crop %+v", c)
		}
	}
}
