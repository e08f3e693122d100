package clip

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goclip/goclip/synth"
	"github.com/goclip/goclip/weights"
)

// heldOutSeed fixes the evaluation images (examples/train-tiny -eval uses
// the same seed).
const heldOutSeed = 2024

// TestDefaultHeldOut measures the embedded model's zero-shot accuracy on
// 300 images of colour × shape combinations that never appear in its
// training data: colour among all 7 colours ("a red shape") and shape among
// all 5 shapes ("a star"); both must reach 90%.
func TestDefaultHeldOut(t *testing.T) {
	m, tok, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	set := synth.HeldOutSet(n, heldOutSeed)
	r := m.Config().Vision.ImageSize
	var pixels []float32
	colours, shapes := make([]int, n), make([]int, n)
	for i, s := range set {
		img, err := s.Render(r)
		if err != nil {
			t.Fatal(err)
		}
		px, err := Preprocess(img, r)
		if err != nil {
			t.Fatal(err)
		}
		pixels = append(pixels, px...)
		colours[i], shapes[i] = s.Colour, s.Shape
	}
	colour, err := ZeroShotAccuracy(m, tok, pixels, colours, synth.ColourPrompts())
	if err != nil {
		t.Fatal(err)
	}
	shape, err := ZeroShotAccuracy(m, tok, pixels, shapes, synth.ShapePrompts())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out (%d images): colour accuracy %.1f%%, shape accuracy %.1f%%", n, 100*colour, 100*shape)
	// Issue 6: both ≥ 0.9 on combinations never seen in training.
	if colour < 0.9 || shape < 0.9 {
		t.Fatalf("held-out zero-shot accuracy colour %.3f, shape %.3f; want both ≥ 0.9", colour, shape)
	}
}

// TestDefaultModel: the embedded bundle is the Tiny architecture over its
// learned vocabulary, within the 5 MB budget, and its tokenizer knows the
// caption words as whole tokens.
func TestDefaultModel(t *testing.T) {
	if len(defaultBundle) > 5<<20 {
		t.Fatalf("embedded bundle is %d bytes, over 5 MB", len(defaultBundle))
	}
	m, tok, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if want := Tiny(tok.VocabSize()); m.Config() != want {
		t.Fatalf("config %v, want %v", m.Config(), want)
	}
	text := "a photo of a small orange triangle at the bottom"
	if ids := tok.Encode(text); len(ids) != len(strings.Fields(text)) {
		t.Fatalf("%q encodes to %d tokens, want one per word", text, len(ids))
	}
	if s := m.LogitScale(); s < 1 || s > 100.001 {
		t.Fatalf("logit scale %g outside CLIP's clamp [1, 100]", s)
	}
}

func tinyRandom(t *testing.T) (*Model, [][2]string) {
	t.Helper()
	merges, err := LearnMerges([]string{"a small red triangle on the left", "a large blue circle"}, 50, 1)
	if err != nil {
		t.Fatal(err)
	}
	return NewRandom(Tiny(NewTokenizerFromMerges(merges).VocabSize()), 5), merges
}

// TestBundleRoundTrip: F32 bundles restore every parameter bit for bit, F16
// bundles to half precision; the tokenizer and extra metadata survive.
func TestBundleRoundTrip(t *testing.T) {
	m, merges := tinyRandom(t)
	for _, half := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "b.safetensors")
		if err := SaveBundle(path, m, merges, half, map[string]string{"note": "x"}); err != nil {
			t.Fatal(err)
		}
		f, err := weights.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Metadata()["note"] != "x" {
			t.Fatalf("extra metadata lost: %v", f.Metadata())
		}
		f.Close()
		got, tok, err := LoadBundle(path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Config() != m.Config() {
			t.Fatalf("config %v, want %v", got.Config(), m.Config())
		}
		want := NewTokenizerFromMerges(merges)
		if a, b := tok.Encode("a small red triangle"), want.Encode("a small red triangle"); len(a) != len(b) || tok.VocabSize() != want.VocabSize() {
			t.Fatalf("tokenizer differs: %v vs %v", a, b)
		}
		gp := got.Params()
		for i, p := range m.Params() {
			a, b := p.Value.Float32s(), gp[i].Value.Float32s()
			for j := range a {
				tol := 0.0
				if half {
					tol = math.Abs(float64(a[j]))*(1.0/2048) + 6e-8 // half rounding: 2^-11 relative, subnormal step
				}
				if d := math.Abs(float64(a[j] - b[j])); d > tol {
					t.Fatalf("half=%v: %s[%d] = %g, saved %g", half, p.Name, j, b[j], a[j])
				}
			}
		}
	}
}

// TestFloat32ToFloat16 checks the rounding against the exact conversion
// back: every finite half round-trips, and values halfway between two
// halves round to the even one.
func TestFloat32ToFloat16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := weights.Float16ToFloat32(uint16(h))
		if f != f {
			if g := weights.Float32ToFloat16(f); g&0x7c00 != 0x7c00 || g&0x3ff == 0 {
				t.Fatalf("NaN %#04x converts to %#04x, not a NaN", h, g)
			}
			continue
		}
		if g := weights.Float32ToFloat16(f); g != uint16(h) {
			t.Fatalf("half %#04x (%g) converts back to %#04x", h, f, g)
		}
		if h&0x7fff < 0x7bff { // halfway to the next half: round to even
			next := weights.Float16ToFloat32(uint16(h + 1))
			mid := float32((float64(f) + float64(next)) / 2)
			want := uint16(h)
			if h&1 == 1 {
				want = uint16(h + 1)
			}
			if g := weights.Float32ToFloat16(mid); g != want && h&0x8000 == 0 {
				t.Fatalf("midpoint of %#04x and %#04x (%g) converts to %#04x, want %#04x", h, h+1, mid, g, want)
			}
		}
	}
	if g := weights.Float32ToFloat16(1e6); g != 0x7c00 {
		t.Fatalf("1e6 converts to %#04x, want +Inf", g)
	}
}

func TestBundleErrors(t *testing.T) {
	m, merges := tinyRandom(t)
	path := filepath.Join(t.TempDir(), "b.safetensors")
	if err := SaveBundle(path, m, merges, false, nil); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		data     []byte
		contains string
	}{
		{"empty", nil, "empty file"},
		{"truncated", good[:len(good)-10], "data_offsets"},
		{"huge header", append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, good[8:]...), "header of"},
		{"no config", bytes.Replace(good, []byte(BundleConfigKey), []byte("goclip.xonfig"), 1), "no \"goclip.config\""},
		{"no merges", bytes.Replace(good, []byte(BundleMergesKey), []byte("goclip.xerges"), 1), "no \"goclip.merges\""},
	} {
		if _, _, err := ReadBundle(c.name, c.data); err == nil || !strings.Contains(err.Error(), c.contains) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.contains)
		}
	}
	// Fewer merges than the model's vocabulary expects.
	if err := SaveBundle(path, m, merges[:len(merges)-1], false, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadBundle(path); err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("short merges: error %v", err)
	}
	if err := SaveBundle(path, m, [][2]string{{"a b", "c"}}, false, nil); err == nil {
		t.Error("merge with a space saved without error")
	}
	if err := SaveBundle(path, m, merges, false, map[string]string{BundleConfigKey: "x"}); err == nil {
		t.Error("extra metadata overriding the config saved without error")
	}
	if err := SaveBundle(path, nil, merges, false, nil); err == nil {
		t.Error("nil model saved without error")
	}
	if _, _, err := LoadBundle(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file loaded without error")
	}
}

func TestZeroShotAccuracyErrors(t *testing.T) {
	m, merges := tinyRandom(t)
	tok := NewTokenizerFromMerges(merges)
	px := make([]float32, 2*3*32*32)
	prompts := [][]string{{"a red shape"}, {"a blue shape"}}
	for _, c := range []struct {
		pixels   []float32
		labels   []int
		prompts  [][]string
		contains string
	}{
		{px[:10], []int{0, 1}, prompts, "pixel values"},
		{px, []int{0, 2}, prompts, "label 2"},
		{px, []int{0, 1}, [][]string{{"a red shape"}, {}}, "no prompts"},
	} {
		if _, err := ZeroShotAccuracy(m, tok, c.pixels, c.labels, c.prompts); err == nil || !strings.Contains(err.Error(), c.contains) {
			t.Errorf("error %v, want one containing %q", err, c.contains)
		}
	}
	if acc, err := ZeroShotAccuracy(m, tok, px, []int{0, 1}, prompts); err != nil || (acc != 0 && acc != 0.5 && acc != 1) {
		t.Errorf("accuracy %g, %v", acc, err)
	}
}
