package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "-image is required"},
		{[]string{"-image", "x.png", "-strokes", "0"}, "Strokes"},
		{[]string{"-image", "x.png", "-layer-weights", "1,2"}, "-layer-weights"},
		{[]string{"-image", "x.png", "-distance", "L3"}, "unknown distance"},
		{[]string{"-image", "x.png", "-seeds", "a"}, "-seeds"},
		{[]string{"-image", "missing.png", "-iters", "1"}, "missing.png"},
	} {
		var out, errb bytes.Buffer
		err := run(c.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// A short run on the embedded default model writes the outputs.
func TestDefaultModelRun(t *testing.T) {
	img := filepath.Join("..", "..", "..", "shared", "data", "CLIP.png")
	if _, err := os.Stat(img); err != nil {
		t.Skipf("shared test image not available: %v", err)
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := run([]string{"-image", img, "-strokes", "3", "-iters", "4", "-aug", "1", "-eval-every", "2", "-save-every", "2", "-out", dir}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "clip.Default()") {
		t.Errorf("the run does not say it uses clip.Default(): %q", errb.String())
	}
	for _, f := range []string{"best.svg", "final.svg", "loss.csv", "relevancy.png", "svg_logs/svg_iter2.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
}
