package imagenet

import (
	"math"
	"testing"
)

func TestClassNames(t *testing.T) {
	names := ClassNames()
	if len(names) != NumClasses {
		t.Fatalf("len = %d", len(names))
	}
	// Spot checks against torchvision's _IMAGENET_CATEGORIES.
	for i, want := range map[int]string{0: "tench", 1: "goldfish", 207: "golden retriever", 281: "tabby", 999: "toilet tissue"} {
		got, err := ClassName(i)
		if err != nil || got != want {
			t.Errorf("ClassName(%d) = %q, %v; want %q", i, got, err, want)
		}
	}
	if _, err := ClassName(1000); err == nil {
		t.Error("ClassName(1000) gave no error")
	}
	if _, err := ClassName(-1); err == nil {
		t.Error("ClassName(-1) gave no error")
	}
	names[0] = "changed"
	if n, _ := ClassName(0); n != "tench" {
		t.Error("ClassNames returned the internal table")
	}
}

func TestTopK(t *testing.T) {
	logits := make([]float32, NumClasses)
	logits[281] = 5
	logits[207] = 4
	logits[3] = 4 // tie with 207: lower index first
	preds, err := TopK(logits, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{281, 3, 207}
	for r, p := range preds {
		if p.Index != want[r] {
			t.Errorf("rank %d: index %d, want %d", r, p.Index, want[r])
		}
	}
	if preds[0].Label != "tabby" {
		t.Errorf("label %q", preds[0].Label)
	}
	// Probability of the top class: e^5 / (e^5 + 2e^4 + 997).
	p := math.Exp(5) / (math.Exp(5) + 2*math.Exp(4) + 997)
	if math.Abs(float64(preds[0].Prob)-p) > 1e-6 {
		t.Errorf("prob %v, want %v", preds[0].Prob, p)
	}
	short, err := TopK([]float32{1, 3, 2}, 10)
	if err != nil || len(short) != 3 || short[0].Index != 1 || short[0].Label != "" {
		t.Errorf("short logits: %+v, %v", short, err)
	}
}

func TestTopKErrors(t *testing.T) {
	if _, err := TopK(nil, 5); err == nil {
		t.Error("empty logits: no error")
	}
	if _, err := TopK([]float32{1}, 0); err == nil {
		t.Error("k=0: no error")
	}
	if _, err := TopK([]float32{1, float32(math.NaN())}, 1); err == nil {
		t.Error("NaN: no error")
	}
}

func TestSoftmaxLarge(t *testing.T) {
	p, err := Softmax([]float32{1000, 0, -1000})
	if err != nil {
		t.Fatal(err)
	}
	if p[0] != 1 || p[1] != 0 || p[2] != 0 {
		t.Errorf("softmax = %v", p)
	}
}
