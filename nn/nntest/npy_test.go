package nntest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadNPY(t *testing.T) {
	a, err := ReadNPY(filepath.Join("..", "testdata", "ops", "emb_idx.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Shape) != 1 || a.Shape[0] != 6 || a.Dtype != "<i8" {
		t.Fatalf("shape %v dtype %s", a.Shape, a.Dtype)
	}
	if got := a.Ints(); got[0] != 3 || got[2] != 9 {
		t.Fatalf("values %v", got)
	}
	b, err := ReadNPY(filepath.Join("..", "testdata", "ops", "conv_w.npy"))
	if err != nil || len(b.Shape) != 4 || len(b.F32()) != 4*3*3*3 {
		t.Fatalf("conv_w: %v %v", b, err)
	}
}

func TestReadNPYBadFiles(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "testdata", "ops", "ln_w.npy"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := map[string][]byte{
		"not a .npy":      []byte("hello world!"),
		"beyond file":     good[:20],
		"data bytes":      good[:len(good)-1],
		"unsupported dty": []byte(strings.Replace(string(good), "<f4", "<c8", 1)),
		"bad shape":       []byte(strings.Replace(string(good), "(10,)", "(-1,)", 1)),
	}
	for want, data := range cases {
		p := filepath.Join(dir, "f.npy")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadNPY(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want one containing %q", err, want)
		}
	}
}
