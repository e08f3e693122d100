package clip

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/goclip/goclip/weights"
)

// saveRandom writes a random model of cfg as an F32 safetensors file.
func saveRandom(t *testing.T, cfg Config, seed int64) (string, *Model) {
	t.Helper()
	m := NewRandom(cfg, seed)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := weights.WriteSafetensors(path, export(m), nil); err != nil {
		t.Fatal(err)
	}
	return path, m
}

// sameParams fails unless a and b hold bit-identical parameters.
func sameParams(t *testing.T, what string, a, b *Model) {
	t.Helper()
	pa, pb := a.Params(), b.Params()
	if len(pa) != len(pb) {
		t.Fatalf("%s: %d vs %d params", what, len(pa), len(pb))
	}
	for i := range pa {
		da, db := paramValues(pa[i]), paramValues(pb[i])
		if pa[i].Name != pb[i].Name || len(da) != len(db) || pa[i].Frozen != pb[i].Frozen {
			t.Fatalf("%s: param %d is %s (%d) vs %s (%d)", what, i, pa[i].Name, len(da), pb[i].Name, len(db))
		}
		for j := range da {
			if math.Float32bits(da[j]) != math.Float32bits(db[j]) {
				t.Fatalf("%s: %s[%d] = %v vs %v", what, pa[i].Name, j, da[j], db[j])
			}
		}
	}
}

// TestLoadAliasesFile checks the zero-copy load: parameters are the file's
// (copy-on-write) memory, bit-identical to the copying path and to the
// saved model, and writing to them changes neither the file nor a new Load.
func TestLoadAliasesFile(t *testing.T) {
	for _, cfg := range []Config{tinyViT(), tinyRN()} {
		path, orig := saveRandom(t, cfg, 3)
		disk, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := Load(path, WithConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		f, err := weights.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		copied, err := New(cfg, f)
		if err != nil {
			t.Fatal(err)
		}
		viewed, err := newModel(cfg, f, true)
		if err != nil {
			t.Fatal(err)
		}
		sameParams(t, "Load vs saved", loaded, orig)
		sameParams(t, "Load vs New (copy)", loaded, copied)
		sameParams(t, "view vs New (copy)", viewed, copied)

		// The view path binds F32 matrices to the mapping itself; New copies.
		for i, p := range viewed.Params() {
			tn, _ := f.Tensor(p.Name)
			raw, err := tn.Raw()
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Shape()) == 0 {
				continue // logit_scale: a scalar tensor holds its value
			}
			if unsafe.Pointer(&p.Data()[0]) != unsafe.Pointer(&raw[0]) {
				t.Errorf("%s: view path copied the tensor", p.Name)
			}
			if unsafe.Pointer(&copied.Params()[i].Data()[0]) == unsafe.Pointer(&raw[0]) {
				t.Errorf("%s: New aliases the file", p.Name)
			}
		}
		f.Close()

		// Same outputs through both paths.
		r := cfg.Vision.ImageSize
		pix := make([]float32, 2*3*r*r)
		for i := range pix {
			pix[i] = float32(math.Sin(float64(i)))
		}
		e1, err := loaded.EncodeImage(pix, 2)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := copied.EncodeImage(pix, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i := range e1 {
			if math.Float32bits(e1[i]) != math.Float32bits(e2[i]) {
				t.Fatalf("%s: embedding[%d] %v (Load) vs %v (New)", cfg.Vision.Kind, i, e1[i], e2[i])
			}
		}

		// Fine-tuning-style writes stay private to the loaded model.
		for _, p := range loaded.Params() {
			d := p.Data()
			for j := range d {
				d[j] += 1
			}
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(disk, after) {
			t.Fatal("writing to loaded parameters changed the file on disk")
		}
		again, err := Load(path, WithConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		sameParams(t, "Load after writes vs saved", again, orig)
		if d := paramValues(loaded.Params()[0]); d[0] != paramValues(orig.Params()[0])[0]+1 {
			t.Fatalf("write to %s lost: %v", loaded.Params()[0].Name, d[0])
		}
	}
}

// TestLoadedParamsOutliveModel drops the Model and keeps one tower: its
// parameters must stay mapped (reading unmapped memory would crash).
func TestLoadedParamsOutliveModel(t *testing.T) {
	cfg := tinyViT()
	path, orig := saveRandom(t, cfg, 5)
	m, err := Load(path, WithConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	text := m.Text
	m = nil
	for range 3 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	want := paramValues(orig.Text.Projection)
	got := text.Projection.Data()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("text_projection[%d] = %v after the model was collected, want %v", i, got[i], want[i])
		}
	}
	runtime.KeepAlive(text)
}
