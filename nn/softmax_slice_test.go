package nn

import (
	"math"
	"testing"
)

// TestSoftmaxSlice: probabilities sum to 1, match the closed form, and stay
// finite for logits far above float32's exp range.
func TestSoftmaxSlice(t *testing.T) {
	p := SoftmaxSlice([]float32{1000, 999, 0})
	e := math.Exp(-1)
	want := []float64{1 / (1 + e), e / (1 + e), 0}
	for i := range p {
		if math.Abs(float64(p[i])-want[i]) > 1e-7 {
			t.Errorf("p[%d] = %v, want %v", i, p[i], want[i])
		}
	}
	if len(SoftmaxSlice(nil)) != 0 {
		t.Error("softmax of no logits is not empty")
	}
}
