package clip

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/nn/nntest"
	"github.com/goclip/goclip/weights"
)

// The fixtures in testdata/models come from gen.py, which runs OpenAI's
// clip/model.py (PyTorch float32) on two tiny random-weight CLIPs.

const fixtureDir = "testdata/models"

// fixtureConfig reads <name>.json written by gen.py.
func fixtureConfig(t *testing.T, name string) Config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Name     string `json:"name"`
		EmbedDim int    `json:"embed_dim"`
		Vision   struct {
			Kind      string `json:"kind"`
			ImageSize int    `json:"image_size"`
			PatchSize int    `json:"patch_size"`
			Width     int    `json:"width"`
			Heads     int    `json:"heads"`
			Layers    json.RawMessage
		} `json:"vision"`
		Text struct {
			ContextLength int `json:"context_length"`
			VocabSize     int `json:"vocab_size"`
			Width         int `json:"width"`
			Heads         int `json:"heads"`
			Layers        int `json:"layers"`
		} `json:"text"`
		Activation string `json:"activation"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	c := Config{Name: j.Name, EmbedDim: j.EmbedDim, Activation: nn.QuickGELUAct}
	v := &c.Vision
	v.Kind, v.ImageSize, v.PatchSize, v.Width, v.Heads = VisionKind(j.Vision.Kind), j.Vision.ImageSize, j.Vision.PatchSize, j.Vision.Width, j.Vision.Heads
	var err2 error
	if v.Kind == ResNet {
		var l []int
		err2 = json.Unmarshal(j.Vision.Layers, &l)
		copy(v.ResNetLayers[:], l)
	} else {
		err2 = json.Unmarshal(j.Vision.Layers, &v.Layers)
	}
	if err2 != nil {
		t.Fatal(err2)
	}
	c.Text = TextConfig(j.Text)
	if j.Activation != "quickgelu" {
		t.Fatalf("fixture activation %q", j.Activation)
	}
	return c
}

func loadFixtureModel(t *testing.T, name string) *Model {
	t.Helper()
	cfg := fixtureConfig(t, name)
	f, err := weights.Open(filepath.Join(fixtureDir, name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func npy(t *testing.T, name string) *nntest.Array {
	t.Helper()
	return nntest.LoadNpy(t, filepath.Join(fixtureDir, name+".npy"))
}

func npyTokens(t *testing.T, name string) [][]int32 {
	a := npy(t, name)
	rows := make([][]int32, a.Shape[0])
	for i := range rows {
		for _, v := range a.Ints()[i*a.Shape[1] : (i+1)*a.Shape[1]] {
			rows[i] = append(rows[i], int32(v))
		}
	}
	return rows
}

// assertParity checks got against want row by row (rows of dim values):
// cosine ≥ 0.99999 and max abs diff ≤ 1e-4 × the output scale.
func assertParity(t *testing.T, what string, got []float32, want *nntest.Array, shape []int) {
	t.Helper()
	if shape != nil && !slices.Equal(shape, want.Shape) {
		t.Errorf("%s: shape %v, want %v", what, shape, want.Shape)
		return
	}
	w := want.F32()
	if len(got) != len(w) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(w))
		return
	}
	dim := want.Shape[len(want.Shape)-1]
	worst := 1.0
	for r := 0; r < len(w); r += dim {
		var ab, aa, bb float64
		for i := r; i < r+dim; i++ {
			ab += float64(got[i]) * float64(w[i])
			aa += float64(got[i]) * float64(got[i])
			bb += float64(w[i]) * float64(w[i])
		}
		if aa == 0 && bb == 0 {
			continue
		}
		worst = math.Min(worst, ab/math.Sqrt(aa*bb))
	}
	if worst < 0.99999 || math.IsNaN(worst) {
		t.Errorf("%s: worst row cosine %.7f < 0.99999", what, worst)
	}
	t.Logf("%s: worst row cosine %.8f", what, worst)
	nntest.AssertClose(t, got, w, 1e-4)
}

func TestParity(t *testing.T) {
	for _, name := range []string{"vit", "rn"} {
		t.Run(name, func(t *testing.T) {
			m := loadFixtureModel(t, name)
			cfg := m.Config()
			pix := npy(t, name+"_pixels")
			n := pix.Shape[0]
			img, err := m.EncodeImage(pix.F32(), n)
			if err != nil {
				t.Fatal(err)
			}
			assertParity(t, "image embedding", img, npy(t, name+"_image_embedding"), []int{n, cfg.EmbedDim})
			// The last image alone (a batch-1 graph) gives the same embedding.
			r := cfg.Vision.ImageSize
			last, err := m.EncodeImage(pix.F32()[(n-1)*3*r*r:], 1)
			if err != nil {
				t.Fatal(err)
			}
			nntest.AssertClose(t, last, img[(n-1)*cfg.EmbedDim:], 1e-5)

			rows := npyTokens(t, name+"_tokens")
			txt, err := m.EncodeText(rows)
			if err != nil {
				t.Fatal(err)
			}
			assertParity(t, "text embedding", txt, npy(t, name+"_text_embedding"), []int{len(rows), cfg.EmbedDim})
			// Each row alone (a shorter graph: up to its own EOT) gives the same embedding.
			for i, r := range rows {
				one, err := m.EncodeText([][]int32{r})
				if err != nil {
					t.Fatal(err)
				}
				d := cfg.EmbedDim
				nntest.AssertClose(t, one, txt[i*d:(i+1)*d], 1e-5)
			}

			if s := m.LogitScale(); math.Abs(float64(s)-100) > 1e-3 {
				t.Errorf("logit scale %v, want 100", s)
			}
			logits := Logits(img, txt, cfg.EmbedDim, m.LogitScale())
			assertParity(t, "logits", logits, npy(t, name+"_logits"), []int{n, len(rows)})
		})
	}
}

func TestParityViTIntermediates(t *testing.T) {
	m := loadFixtureModel(t, "vit")
	pix := npy(t, "vit_pixels")
	f, err := m.ImageFeatures(pix.F32(), pix.Shape[0], FeatureRequest{Embedding: true, Tokens: true, Attention: true})
	if err != nil {
		t.Fatal(err)
	}
	assertParity(t, "embedding", f.Embedding.Data, npy(t, "vit_image_embedding"), f.Embedding.Shape)
	if len(f.Tokens) != 2 || len(f.Attention) != 2 {
		t.Fatalf("%d token taps and %d attention taps, want 2 each", len(f.Tokens), len(f.Attention))
	}
	for i := range 2 {
		name := "vit_block" + string(rune('0'+i))
		assertParity(t, name+" tokens", f.Tokens[i].Data, npy(t, name+"_tokens"), f.Tokens[i].Shape)
		assertParity(t, name+" probs", f.Attention[i].Data, npy(t, name+"_probs"), f.Attention[i].Shape)
	}
}

func TestParityResNetIntermediates(t *testing.T) {
	m := loadFixtureModel(t, "rn")
	pix := npy(t, "rn_pixels")
	f, err := m.ImageFeatures(pix.F32(), pix.Shape[0], FeatureRequest{Embedding: true, Layers: true, Dense: true})
	if err != nil {
		t.Fatal(err)
	}
	assertParity(t, "embedding", f.Embedding.Data, npy(t, "rn_image_embedding"), f.Embedding.Shape)
	assertParity(t, "stem", f.Stem.Data, npy(t, "rn_stem"), f.Stem.Shape)
	for i, l := range f.Layers {
		name := "rn_layer" + string(rune('1'+i))
		assertParity(t, name, l.Data, npy(t, name), l.Shape)
	}
	assertParity(t, "dense", f.Dense.Data, npy(t, "rn_dense"), f.Dense.Shape)

	// A non-square input of other multiples of 32 runs the trunk and the
	// dense head (as DepthCLIP's 416×544); the pooled embedding refuses it.
	h, w := 96, 64
	other := make([]float32, 3*h*w)
	for i := range other {
		other[i] = float32(math.Sin(float64(i)))
	}
	f2, err := m.ImageFeatures(other, 1, FeatureRequest{Height: h, Width: w, Layers: true, Dense: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := f2.Layers[3].Shape; !slices.Equal(got, []int{1, 128, 3, 2}) {
		t.Errorf("layer4 shape %v, want [1 128 3 2]", got)
	}
	if got := f2.Dense.Shape; !slices.Equal(got, []int{1, 6, 24}) {
		t.Errorf("dense shape %v, want [1 6 24]", got)
	}
	_, err = m.ImageFeatures(other, 1, FeatureRequest{Height: h, Width: w, Embedding: true})
	if err == nil || !strings.Contains(err.Error(), "64×64") {
		t.Errorf("pooled embedding at %d×%d: err %v, want one naming 64×64", h, w, err)
	}
}

func TestConcurrentEncode(t *testing.T) {
	m := loadFixtureModel(t, "vit")
	pix := npy(t, "vit_pixels").F32()
	rows := npyTokens(t, "vit_tokens")
	want, err := m.EncodeImage(pix, 2)
	if err != nil {
		t.Fatal(err)
	}
	wantTxt, err := m.EncodeText(rows)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			var got, ref []float32
			var err error
			if i%2 == 0 {
				got, err = m.EncodeImage(pix, 2)
				ref = want
			} else {
				got, err = m.EncodeText(rows)
				ref = wantTxt
			}
			if err == nil && !slices.Equal(got, ref) {
				err = fmt.Errorf("goroutine %d: result differs from the sequential one", i)
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
