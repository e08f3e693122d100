// Package imagenet holds the ImageNet-1k facts that classifiers trained on it
// share: the 1000 class names in torchvision's index order, the per-channel
// normalization constants, and top-k selection over logits.
package imagenet

import (
	"fmt"
	"math"
	"sort"

	"github.com/goclip/goclip/nn"
)

// NumClasses is the number of ImageNet-1k classes.
const NumClasses = 1000

// Mean and Std are the per-channel (R, G, B) normalization constants applied
// to pixels in [0, 1] by torchvision's ImageNet models.
var (
	Mean = [3]float32{0.485, 0.456, 0.406}
	Std  = [3]float32{0.229, 0.224, 0.225}
)

// Preprocessing sizes of torchvision's ImageClassification preset for the V1
// weights: resize the shorter side to ResizeSize (bilinear), then center-crop
// CropSize.
const (
	ResizeSize = 256
	CropSize   = 224
)

// ClassName returns the name of class i, or an error if i is out of range.
func ClassName(i int) (string, error) {
	if i < 0 || i >= NumClasses {
		return "", fmt.Errorf("imagenet: class index %d out of range [0, %d)", i, NumClasses)
	}
	return classNames[i], nil
}

// ClassNames returns a copy of all class names in index order.
func ClassNames() []string {
	out := make([]string, NumClasses)
	copy(out, classNames[:])
	return out
}

// Prediction is one ranked class.
type Prediction struct {
	Index int     // class index
	Label string  // class name ("" when the logits are not 1000 ImageNet classes)
	Logit float32 // raw score
	Prob  float32 // softmax probability over all logits
}

// TopK returns the k highest-scoring classes of one row of logits, best
// first, with softmax probabilities. Labels are filled in when len(logits)
// is NumClasses. Ties keep the lower index first. It returns an error for
// empty logits, k < 1 or non-finite values; k larger than len(logits) is
// clamped.
func TopK(logits []float32, k int) ([]Prediction, error) {
	if len(logits) == 0 {
		return nil, fmt.Errorf("imagenet: top-k of empty logits")
	}
	if k < 1 {
		return nil, fmt.Errorf("imagenet: top-k with k = %d (want k >= 1)", k)
	}
	k = min(k, len(logits))
	probs, err := Softmax(logits)
	if err != nil {
		return nil, err
	}
	idx := make([]int, len(logits))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	out := make([]Prediction, k)
	for r, i := range idx[:k] {
		out[r] = Prediction{Index: i, Logit: logits[i], Prob: probs[i]}
		if len(logits) == NumClasses {
			out[r].Label = classNames[i]
		}
	}
	return out, nil
}

// Softmax returns exp(x - max) / Σ exp(x - max) in float64 precision
// (nn.SoftmaxSlice). It
// returns an error for empty input or non-finite values.
func Softmax(logits []float32) ([]float32, error) {
	if len(logits) == 0 {
		return nil, fmt.Errorf("imagenet: softmax of empty logits")
	}
	m := math.Inf(-1)
	for i, v := range logits {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("imagenet: logit %d is %v", i, v)
		}
		m = math.Max(m, f)
	}
	return nn.SoftmaxSlice(logits), nil
}
