package nn

import (
	"math"
	"math/rand"
	"testing"
)

// exp32 against math.Exp on a dense sweep of the float32 range it handles
// normally, plus the special cases.
func TestExp32(t *testing.T) {
	var worst float64
	for x := -87.0; x <= 88.7; x += 0.001 {
		got, want := float64(exp32(float32(x))), math.Exp(float64(float32(x)))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	t.Logf("exp32: worst relative error %.3g", worst)
	if worst > 4e-7 {
		t.Errorf("exp32: worst relative error %g, want ≤ 4e-7 (a few float32 ulp)", worst)
	}
	inf := float32(math.Inf(1))
	for _, c := range []struct{ x, want float32 }{{0, 1}, {-inf, 0}, {-200, 0}, {inf, inf}, {100, inf}} {
		if got := exp32(c.x); got != c.want {
			t.Errorf("exp32(%g) = %g, want %g", c.x, got, c.want)
		}
	}
	if nan := float32(math.NaN()); !math.IsNaN(float64(exp32(nan))) {
		t.Errorf("exp32(NaN) is not NaN")
	}
}

// The float32 fast paths agree with the float64 kernels.
func TestFastKernelsMatchFloat64(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 6)
	}
	x[0], x[1] = -120, 95 // saturated σ on both sides
	y := make([]float32, len(x))
	quickGELU32(x, y)
	for i, v := range x {
		want := actValue(QuickGELUAct, float64(v))
		if d := math.Abs(float64(y[i]) - want); d > 1e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("quickGELU32(%g) = %g, want %g", v, y[i], want)
		}
	}
	row := x[:77]
	row[5] = float32(math.Inf(-1)) // masked position
	got := make([]float32, len(row))
	softmaxRow32(row, got)
	want := make([]float64, len(row))
	r64 := make([]float64, len(row))
	for i, v := range row {
		r64[i] = float64(v)
	}
	softmaxLine(r64, want, len(row), 1, false)
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > 1e-6 {
			t.Fatalf("softmaxRow32[%d] = %g, want %g", i, got[i], want[i])
		}
	}
	if got[5] != 0 {
		t.Errorf("masked position has probability %g, want 0", got[5])
	}
}
