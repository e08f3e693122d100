package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testSVG = `<?xml version="1.0" encoding="utf-8" ?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="100" height="50">
<path d="M 10 40 C 20 0 60 0 90 40" stroke-width="3" stroke="rgb(0, 0, 0)" stroke-opacity="1" stroke-linecap="round" stroke-linejoin="round" fill="none"/>
</svg>`

func TestRenderCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.svg")
	if err := os.WriteFile(in, []byte(testSVG), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.png")
	if err := run([]string{"-svg", in, "-o", out, "-w", "200"}); err != nil {
		t.Fatal(err)
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
	if b := img.Bounds(); b.Dx() != 200 || b.Dy() != 100 {
		t.Fatalf("size %v, want 200×100 (aspect kept)", b)
	}
	// the curve starts at (10, 40) → (20, 80) after scaling ×2: dark there, white in a corner
	if r, _, _, _ := img.At(20, 80).RGBA(); r > 0x2000 {
		t.Errorf("stroke start pixel is not dark: %#x", r)
	}
	if r, g, b, a := img.At(199, 99).RGBA(); r != 0xffff || g != 0xffff || b != 0xffff || a != 0xffff {
		t.Errorf("corner pixel is not opaque white: %x %x %x %x", r, g, b, a)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", out}, "required"},
		{[]string{"-svg", filepath.Join(dir, "missing.svg"), "-o", out}, "no such file"},
		{[]string{"-svg", in, "-o", out, "-bg", "hsl(0,0,0)"}, "-bg"},
		{[]string{"-svg", in, "-o", out, "-samples", "99"}, "samples"},
		{[]string{"-svg", in, "-o", filepath.Join(dir, "no", "dir.png")}, "no such file"},
	} {
		err := run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
}
