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

// The float32 ConvBN epilogue (SIMD body where the CPU has it, scalar tail)
// against float64 arithmetic, for every length up to 40 around the 8- and
// 16-value steps, with and without residual and ReLU, at unaligned offsets,
// in place and not; NaN inputs stay NaN.
func TestEpilogue32(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	const scale, shift = float32(1.7), float32(-0.3)
	for n := 0; n <= 40; n++ {
		for _, hasRes := range []bool{false, true} {
			for _, relu := range []bool{false, true} {
				for _, inPlace := range []bool{false, true} {
					src := make([]float32, n+1)[1:] // unaligned
					res := make([]float32, n+3)[3:]
					for i := range src {
						src[i], res[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
					}
					if n > 5 {
						src[5] = float32(math.NaN())
					}
					want := make([]float64, n)
					for i, v := range src {
						w := float64(v)*float64(scale) + float64(shift)
						if hasRes {
							w += float64(res[i])
						}
						if relu && w < 0 {
							w = 0
						}
						want[i] = w
					}
					dst := make([]float32, n+2)[2:]
					if inPlace {
						dst = src
					}
					var r []float32
					if hasRes {
						r = res
					}
					epilogue(dst, src, scale, shift, r, relu)
					for i, g := range dst {
						if i == 5 {
							if !math.IsNaN(float64(g)) {
								t.Fatalf("n=%d res=%t relu=%t: NaN input gave %g", n, hasRes, relu, g)
							}
							continue
						}
						if math.Abs(float64(g)-want[i]) > 1e-6*(1+math.Abs(want[i])) {
							t.Fatalf("n=%d res=%t relu=%t in-place=%t: [%d] = %g, want %g", n, hasRes, relu, inPlace, i, g, want[i])
						}
					}
				}
			}
		}
	}
}

// The 2×2 average-pool fast path against direct float64 sums, on maps with
// an odd edge (dropped in floor mode) and enough planes to run in parallel.
func TestPool2x2(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	const planes, h, w = 64, 31, 30
	p := avgPoolWindows(h, w, 2, 2, 0)
	if !p.pool2x2() {
		t.Fatal("AvgPool2d(2) windows not recognised as 2×2 blocks")
	}
	if q := avgPoolWindows(h, w, 3, 2, 1); q.pool2x2() {
		t.Fatal("AvgPool2d(3, 2, 1) windows taken for 2×2 blocks")
	}
	x := make([]float32, planes*h*w)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, planes*p.oh*p.ow)
	poolFwd[float32](planes, p)([][]float32{x}, y)
	for c := 0; c < planes; c++ {
		for i := 0; i < p.oh; i++ {
			for j := 0; j < p.ow; j++ {
				at := func(r, q int) float64 { return float64(x[(c*h+r)*w+q]) }
				want := (at(2*i, 2*j) + at(2*i, 2*j+1) + at(2*i+1, 2*j) + at(2*i+1, 2*j+1)) / 4
				if got := float64(y[(c*p.oh+i)*p.ow+j]); math.Abs(got-want) > 1e-6 {
					t.Fatalf("plane %d (%d, %d): %g, want %g", c, i, j, got, want)
				}
			}
		}
	}
}
