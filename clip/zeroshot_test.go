package clip

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goclip/goclip/nn"
)

// TestZeroShotPyTorch compares prompt ensembling and class probabilities
// with gen.py's PyTorch computation on the ViT fixture (class 0 = token
// rows 0 and 1 as two "templates", class 1 = row 2).
func TestZeroShotPyTorch(t *testing.T) {
	f := readLoadFixture(t, "vit")
	m, err := Load(filepath.Join(loadDir, "vit_jit.pt"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := m.EncodeImage(f.images, f.nImg)
	if err != nil {
		t.Fatal(err)
	}
	dim := m.Config().EmbedDim
	var perClass [][]float32
	for _, rows := range f.ZeroShot.Classes {
		var toks [][]int32
		for _, r := range rows {
			toks = append(toks, f.tokens[r])
		}
		e, err := m.EncodeText(toks)
		if err != nil {
			t.Fatal(err)
		}
		perClass = append(perClass, e)
	}
	z, err := NewZeroShotClassifierFromEmbeddings([]string{"first", "second"}, perClass, dim, m.LogitScale())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range f.ZeroShot.Probs {
		got, err := z.Probs(img[i*dim : (i+1)*dim])
		if err != nil {
			t.Fatal(err)
		}
		for c := range want {
			if math.Abs(float64(got[c]-want[c])) > 1e-5 {
				t.Errorf("image %d: probs %v, want %v", i, got, want)
			}
		}
		preds, err := z.Classify(img[i*dim:(i+1)*dim], 1)
		if err != nil {
			t.Fatal(err)
		}
		best := 0
		if want[1] > want[0] {
			best = 1
		}
		if len(preds) != 1 || preds[0].Index != best || preds[0].Label != z.Labels[best] || preds[0].Prob != got[best] {
			t.Errorf("image %d: top-1 %+v, want class %d", i, preds, best)
		}
	}
	if _, err := z.Classify(img[:dim-1], 0); err == nil {
		t.Error("short embedding accepted")
	}
	if _, err := NewZeroShotClassifierFromEmbeddings([]string{"a"}, [][]float32{make([]float32, dim+1)}, dim, 1); err == nil {
		t.Error("ragged class embeddings accepted")
	}
}

// tinyTextModel is a random CLIP with the real 49408-token vocabulary.
func tinyTextModel(t *testing.T) *Model {
	cfg := Config{EmbedDim: 16, Activation: nn.QuickGELUAct,
		Vision: VisionConfig{Kind: ViT, ImageSize: 16, Width: 64, Layers: 1, Heads: 1, PatchSize: 8},
		Text:   TextConfig{ContextLength: 77, VocabSize: 49408, Width: 64, Heads: 1, Layers: 1}}
	m := NewRandom(cfg, 7)
	if m == nil {
		t.Fatal("NewRandom failed")
	}
	return m
}

// TestZeroShotClassifier checks the tokenizer path: templates are filled,
// each prompt embedded and normalized, averaged per class and renormalized.
func TestZeroShotClassifier(t *testing.T) {
	if len(ImageNetTemplates) != 80 || ImageNetTemplates[0] != "a bad photo of a {}." || ImageNetTemplates[79] != "a tattoo of the {}." {
		t.Fatalf("ImageNetTemplates: %d, %q … %q", len(ImageNetTemplates), ImageNetTemplates[0], ImageNetTemplates[len(ImageNetTemplates)-1])
	}
	if _, err := os.Stat(vocabPath); err != nil {
		t.Skipf("%s not found (see ../shared/data/README.md)", vocabPath)
	}
	tok := openAITokenizer(t)
	m := tinyTextModel(t)
	classes := []string{"dog", "cat", "diagram"}
	templates := []string{"a photo of a {}.", "itap of a {}.", "art of the {}."}
	z, err := NewZeroShotClassifier(m, tok, classes, templates)
	if err != nil {
		t.Fatal(err)
	}
	dim := m.Config().EmbedDim
	for c, class := range classes {
		mean := make([]float64, dim)
		for _, tpl := range templates {
			rows, err := tok.Tokenize([]string{strings.ReplaceAll(tpl, "{}", class)}, 77, false)
			if err != nil {
				t.Fatal(err)
			}
			e, err := m.EncodeText(rows)
			if err != nil {
				t.Fatal(err)
			}
			var n float64
			for _, v := range e {
				n += float64(v) * float64(v)
			}
			for k, v := range e {
				mean[k] += float64(v) / math.Sqrt(n) / float64(len(templates))
			}
		}
		var n float64
		for _, v := range mean {
			n += v * v
		}
		for k := range dim {
			want := mean[k] / math.Sqrt(n)
			if got := z.Weights[c*dim+k]; math.Abs(float64(got)-want) > 1e-5 {
				t.Fatalf("class %q dim %d: %v, want %v", class, k, got, want)
			}
		}
	}
	img := make([]float32, dim)
	copy(img, z.Weights[dim:2*dim]) // exactly the "cat" direction
	preds, err := z.Classify(img, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 3 || preds[0].Label != "cat" {
		t.Errorf("ranking %+v, want cat first", preds)
	}
	var sum float32
	for i, p := range preds {
		sum += p.Prob
		if i > 0 && p.Prob > preds[i-1].Prob {
			t.Errorf("not sorted: %+v", preds)
		}
	}
	if math.Abs(float64(sum)-1) > 1e-5 {
		t.Errorf("probabilities sum to %v", sum)
	}
	// Without templates the class names are the prompts.
	z2, err := NewZeroShotClassifier(m, tok, []string{"a diagram"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := tok.Tokenize([]string{"a diagram"}, 77, false)
	e, _ := m.EncodeText(rows)
	n := Normalize(e, dim)
	for k := range dim {
		if math.Abs(float64(n[k]-z2.Weights[k])) > 1e-6 {
			t.Fatalf("no templates: %v vs %v", z2.Weights, n)
		}
	}
	// Errors: too long prompt, no classes, nil model.
	if _, err := NewZeroShotClassifier(m, tok, []string{strings.Repeat("word ", 100)}, nil); err == nil || !strings.Contains(err.Error(), "longer than context length") {
		t.Errorf("long class name: %v", err)
	}
	if _, err := NewZeroShotClassifier(m, tok, nil, nil); err == nil {
		t.Error("no classes accepted")
	}
	if _, err := NewZeroShotClassifier(nil, tok, classes, nil); err == nil {
		t.Error("nil model accepted")
	}
}

func TestFill(t *testing.T) {
	for _, tc := range [][3]string{
		{"a photo of a {}.", "dog", "a photo of a dog."},
		{"{}", "a cat", "a cat"},
		{"This is", "a cat", "This is a cat"},
	} {
		if got := Fill(tc[0], tc[1]); got != tc[2] {
			t.Errorf("Fill(%q, %q) = %q, want %q", tc[0], tc[1], got, tc[2])
		}
	}
}
