package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goclip/goclip/clip"
	"github.com/goclip/goclip/nn"
	"github.com/goclip/goclip/weights"
)

// tinyCLIP is a random-weight ViT CLIP whose vocabulary fits a byte-level
// tokenizer without merges (512 byte tokens + 2 specials). Widths are 64 so
// that loading infers one head per 64 channels, as OpenAI's build_model.
func tinyCLIP() clip.Config {
	return clip.Config{Name: "tiny-finetune", EmbedDim: 32, Activation: nn.QuickGELUAct,
		Vision: clip.VisionConfig{Kind: clip.ViT, ImageSize: 32, Width: 64, Layers: 1, Heads: 1, PatchSize: 16},
		Text:   clip.TextConfig{ContextLength: 16, VocabSize: 514, Width: 64, Heads: 1, Layers: 1}}
}

// byteSymbols is GPT-2's bytes_to_unicode order: printable bytes map to
// themselves, the others to 256+n.
func byteSymbols() []rune {
	var out []rune
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			out = append(out, rune(b))
		}
	}
	for b := 0; b < 256; b++ {
		if !((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
			out = append(out, rune(256+n))
			n++
		}
	}
	return out
}

// writeFixture writes the model, a merge-free HF tokenizer beside it, six
// solid-colour PNGs and their captions CSV; it returns the model and CSV paths.
func writeFixture(t *testing.T) (string, string) {
	dir := t.TempDir()
	m := clip.NewRandom(tinyCLIP(), 3)
	mem := weights.NewMemory()
	for _, p := range m.Params() {
		mem.Add(weights.NewFloat32(p.Name, []int(p.Value.Shape()), p.Value.Float32s()))
	}
	model := filepath.Join(dir, "tiny.safetensors")
	if err := weights.WriteSafetensors(model, mem, nil); err != nil {
		t.Fatal(err)
	}
	vocab := map[string]int{}
	for i, r := range byteSymbols() {
		vocab[string(r)] = i
		vocab[string(r)+"</w>"] = 256 + i
	}
	vocab["<|startoftext|>"], vocab["<|endoftext|>"] = 512, 513
	b, _ := json.Marshal(vocab)
	if err := os.WriteFile(filepath.Join(dir, "vocab.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "merges.txt"), []byte("#version: 0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	colours := []struct {
		name string
		c    color.NRGBA
	}{{"red", color.NRGBA{220, 20, 20, 255}}, {"green", color.NRGBA{20, 200, 40, 255}}, {"blue", color.NRGBA{30, 40, 220, 255}},
		{"yellow", color.NRGBA{230, 220, 30, 255}}, {"black", color.NRGBA{5, 5, 5, 255}}, {"white", color.NRGBA{250, 250, 250, 255}}}
	csv := "image,caption\n"
	for _, c := range colours {
		img := image.NewNRGBA(image.Rect(0, 0, 40, 32))
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.c.R, c.c.G, c.c.B, 255
		}
		f, err := os.Create(filepath.Join(dir, c.name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
		csv += fmt.Sprintf("%s.png,a %s square\n", c.name, c.name)
	}
	data := filepath.Join(dir, "captions.csv")
	if err := os.WriteFile(data, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	return model, data
}

// TestRun fine-tunes the tiny model on six colour/caption pairs: the
// report has both recall rows, the logged loss falls, and the written
// weights load as a model.
func TestRun(t *testing.T) {
	model, data := writeFixture(t)
	dir := filepath.Dir(model)
	out, logPath := filepath.Join(dir, "tuned.safetensors"), filepath.Join(dir, "log.jsonl")
	var stdout, stderr bytes.Buffer
	err := run([]string{"-model", model, "-data", data, "-epochs", "10", "-batch", "3", "-lr", "2e-3", "-wd", "0.1",
		"-out", out, "-log", logPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stdout:\n%s", stdout.String())
	s := stdout.String()
	for _, want := range []string{"6 pairs, batch 3, 20 steps", "i→t R@1", "before ", "after ", "wrote " + out} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(stderr.String(), "step 20/20") {
		t.Errorf("progress output %q", stderr.String())
	}
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var losses []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r struct{ Loss float64 }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		losses = append(losses, r.Loss)
	}
	if len(losses) != 20 {
		t.Fatalf("%d log lines, want 20", len(losses))
	}
	first := (losses[0] + losses[1]) / 2
	last := (losses[18] + losses[19]) / 2
	if !(last < 0.7*first) {
		t.Errorf("loss %v → %v: want a clear fall", first, last)
	}
	tuned, err := clip.Load(out)
	if err != nil {
		t.Fatalf("load tuned weights: %v", err)
	}
	if tuned.Config().Text.VocabSize != 514 {
		t.Errorf("tuned config %+v", tuned.Config())
	}
}

func TestErrors(t *testing.T) {
	model, data := writeFixture(t)
	dir := filepath.Dir(model)
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("red.png,a red square\nmissing.png,nothing\n"), 0o644)
	short := filepath.Join(dir, "short.csv")
	os.WriteFile(short, []byte("red.png,a red square\n"), 0o644)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-data", data}, "need -model and -data"},
		{[]string{"-model", model, "-data", data, "-batch", "1"}, "at least 2 pairs"},
		{[]string{"-model", model, "-data", data, "-lr", "-1"}, "must be non-negative"},
		{[]string{"-model", model, "-data", bad}, "missing.png"},
		{[]string{"-model", model, "-data", short}, "1 pairs, need at least 2"},
		{[]string{"-model", model, "-data", filepath.Join(dir, "none.csv")}, "none.csv"},
		{[]string{"-model", model, "-data", data, "extra"}, `unexpected argument "extra"`},
	} {
		var o, e bytes.Buffer
		if err := run(c.args, &o, &e); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("run %v: %v, want an error containing %q", c.args, err, c.msg)
		}
	}
}

func TestRecall(t *testing.T) {
	// Image 0 ranks caption 0 first; image 1 ranks caption 1 second; image
	// 2 ranks caption 2 last (third).
	sim := []float32{
		0.9, 0.1, 0.0,
		0.8, 0.5, 0.1,
		0.7, 0.6, 0.2,
	}
	r := recall(sim, 3)
	want := Recall{I2T1: 100.0 / 3, I2T5: 100, T2I1: 200.0 / 3, T2I5: 100}
	// Captions: 0 ranks image 0 first; 1 ranks image 1 second (0.6 > 0.5);
	// 2 ranks image 2 first.
	if fmt.Sprintf("%.3f", r.I2T1) != fmt.Sprintf("%.3f", want.I2T1) || r.I2T5 != 100 ||
		fmt.Sprintf("%.3f", r.T2I1) != fmt.Sprintf("%.3f", want.T2I1) || r.T2I5 != 100 {
		t.Errorf("recall %+v, want %+v", r, want)
	}
}
