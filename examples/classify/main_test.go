package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClassifyMatchesTorchvision runs the command on a PNG with the small
// torchvision models of the vgg and resnet fixtures and compares the top-5
// with torchvision's transform and models (testdata/gen.py).
func TestClassifyMatchesTorchvision(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Index []int
		Prob  []float64
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	models := map[string]string{
		"vgg16s.pth": "../../vgg/testdata/vgg16s.pth",
		"basic.pth":  "../../resnet/testdata/basic.pth",
	}
	for name, path := range models {
		var buf bytes.Buffer
		img := filepath.Join("testdata", "pattern.png")
		if err := run([]string{"-model", path, "-image", img, "-image", img, "-json"}, &buf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sc := bufio.NewScanner(&buf)
		lines := 0
		for sc.Scan() {
			lines++
			var r result
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			w := want[name]
			if len(r.Predictions) != 5 {
				t.Fatalf("%s: %d predictions", name, len(r.Predictions))
			}
			for i, p := range r.Predictions {
				if p.Index != w.Index[i] || math.Abs(float64(p.Prob)-w.Prob[i]) > 1e-4 {
					t.Errorf("%s rank %d: class %d p=%.6f, torchvision class %d p=%.6f", name, i, p.Index, p.Prob, w.Index[i], w.Prob[i])
				}
			}
		}
		if lines != 2 {
			t.Errorf("%s: %d JSON lines, want 2", name, lines)
		}
	}
}

func TestClassifyText(t *testing.T) {
	var buf bytes.Buffer
	err := run([]string{"-model", "../../resnet/testdata/wide_bottleneck.safetensors", "-image", filepath.Join("testdata", "pattern.png"), "-k", "3"}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "resnet-custom") || strings.Count(out, "% ") != 3 || !strings.Contains(out, "class ") {
		t.Errorf("output:\n%s", out)
	}
}

func TestClassifyErrors(t *testing.T) {
	img := filepath.Join("testdata", "pattern.png")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-image", img}, "-model is required"},
		{[]string{"-model", "../../vgg/testdata/vgg16s.pth"}, "at least one -image"},
		{[]string{"-model", "../../vgg/testdata/vgg16s.pth", "-image", img, "-k", "0"}, "-k 0"},
		{[]string{"-model", "testdata/nonexistent.pth", "-image", img}, "nonexistent.pth"},
		{[]string{"-model", "testdata/expected.json", "-image", img}, "expected.json"},
		{[]string{"-model", "../../vgg/testdata/expected.safetensors", "-image", img}, "neither a torchvision VGG"},
		{[]string{"-model", "../../vgg/testdata/vgg16s.pth", "-image", "testdata/gen.py"}, "gen.py"},
		{[]string{"-model", "../../vgg/testdata/vgg16s.pth", "-image", img, "-crop", "300"}, "crop"},
		{[]string{"-model", "../../vgg/testdata/vgg16s.pth", "stray"}, "unexpected argument"},
	} {
		err := run(c.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want it to mention %q", c.args, err, c.want)
		}
	}
}
