package nn

import "math"

// float32 fast paths of the elementwise kernels. The generic kernels do
// their math in float64 through math.Exp, which costs more than the GEMMs
// around them at CLIP sizes (QuickGELU on (400, 3072)); these stay in
// float32 with a polynomial exp accurate to a few ulp.

// exp32 is e^x in float32: x = n·ln2 + r with |r| ≤ ln2/2, e^r from its
// degree-6 Taylor polynomial (truncation error < 3e-8 relative), times 2^n
// built in the exponent bits. Results below the smallest normal float32
// flush to 0; above the largest they are +Inf; NaN stays NaN.
func exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693359375 // ln2 split so n·ln2Hi is exact
		ln2Lo = -2.12194440e-4
	)
	switch {
	case x != x:
		return x
	case x > 88.72283:
		return float32(math.Inf(1))
	case x < -87.33654:
		return 0
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2Hi - n*ln2Lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720))))))
	e := int32(n) + 127
	if e <= 0 { // n = -126 with p < 1: 2^n is not a normal; go in two steps
		return p * math.Float32frombits(uint32(e+64)<<23) * 0x1p-64
	}
	if e >= 255 { // n = 128 with p < 1
		return p * 2 * math.Float32frombits(uint32(e-1)<<23)
	}
	return p * math.Float32frombits(uint32(e)<<23)
}

// quickGELU32 writes x·σ(1.702x) for each x.
func quickGELU32(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = v / (1 + exp32(-quickGELUAlpha*v))
	}
}

// softmaxRow32 writes softmax(x) into y (contiguous rows; y may alias x).
func softmaxRow32(x, y []float32) {
	y = y[:len(x)]
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	var sum float32
	for i, v := range x {
		e := exp32(v - m)
		y[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range y {
		y[i] *= inv
	}
}

// SoftmaxSlice returns the numerically stable softmax of x, accumulated in
// float64, for turning logits into probabilities outside a graph
// (zero-shot and classifier outputs).
func SoftmaxSlice(x []float32) []float32 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var sum float64
	e := make([]float64, len(x))
	for i, v := range x {
		e[i] = math.Exp(float64(v) - m)
		sum += e[i]
	}
	y := make([]float32, len(x))
	for i := range e {
		y[i] = float32(e[i] / sum)
	}
	return y
}
