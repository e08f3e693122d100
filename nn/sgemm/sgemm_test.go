package sgemm

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// naive is the reference: a triple loop with float64 accumulation.
// It returns alpha·op(A)·op(B) + beta·C as float64 for rows of C only.
func naive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			r := float64(alpha) * s
			if beta != 0 {
				r += float64(beta) * float64(c[i*ldc+j])
			}
			out[i*n+j] = r
		}
	}
	return out
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// gemmCase is one Sgemm call; pad adds extra columns to every leading dimension.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v,tB=%v,%dx%dx%d,alpha=%g,beta=%g,pad=%d", tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.pad)
}

// check runs tc on kern and fails the test on any mismatch.
func (tc gemmCase) check(t *testing.T, kern kernel, r *rand.Rand) {
	t.Helper()
	if err := tc.verify(kern, r); err != nil {
		t.Fatal(err)
	}
}

// verify runs tc on kern and compares every element of C (and the untouched
// padding) with the float64 reference.
func (tc gemmCase) verify(kern kernel, r *rand.Rand) error {
	aRows, aCols := tc.m, tc.k
	if tc.transA {
		aRows, aCols = tc.k, tc.m
	}
	bRows, bCols := tc.k, tc.n
	if tc.transB {
		bRows, bCols = tc.n, tc.k
	}
	lda, ldb, ldc := max(1, aCols)+tc.pad, max(1, bCols)+tc.pad, max(1, tc.n)+tc.pad
	a := randSlice(r, aRows*lda)
	b := randSlice(r, bRows*ldb)
	c := randSlice(r, tc.m*ldc)
	if tc.beta == 0 {
		// beta == 0 must ignore C entirely, NaN included.
		for i := range c {
			c[i] = float32(math.NaN())
		}
	}
	orig := append([]float32(nil), c...)
	want := naive(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	if err := sgemmWith(kern, tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc); err != nil {
		return fmt.Errorf("%s %v: %w", kern.name, tc, err)
	}
	// Each product term is below 1 in magnitude; float32 accumulation error
	// grows at most about linearly with k.
	tol := 1e-5 * float64(max(tc.k, 1)) * math.Max(1, math.Abs(float64(tc.alpha)))
	tol += 1e-6 * math.Abs(float64(tc.beta))
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc; j++ {
			got := c[i*ldc+j]
			if j >= tc.n {
				if math.Float32bits(got) != math.Float32bits(orig[i*ldc+j]) {
					return fmt.Errorf("%s %v: padding C[%d][%d] changed from %v to %v", kern.name, tc, i, j, orig[i*ldc+j], got)
				}
				continue
			}
			w := want[i*tc.n+j]
			d := math.Abs(float64(got) - w)
			if !(d <= tol*math.Max(1, math.Abs(w))) {
				return fmt.Errorf("%s %v: C[%d][%d] = %v, want %v (diff %.3g, tol %.3g)", kern.name, tc, i, j, got, w, d, tol)
			}
		}
	}
	return nil
}

func allTrans(f func(transA, transB bool)) {
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			f(ta, tb)
		}
	}
}

// TestSgemmShapes checks every available kernel on shapes around its tile
// and block sizes, all transpose combinations, and alpha/beta variations.
func TestSgemmShapes(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, kern := range availableKernels() {
		t.Run(kern.name, func(t *testing.T) {
			mr, nr := kern.mr, kern.nr
			dims := [][3]int{
				{1, 1, 1}, {1, 1, 7}, {2, 3, 1}, {mr, nr, 1}, {mr, nr, 5},
				{mr - 1, nr - 1, 9}, {mr + 1, nr + 1, 3}, {2*mr + 3, 3*nr - 5, 17},
				{7, 5, 13}, {13, 33, 31}, {1, 100, 50}, {100, 1, 50}, {3, 2, 300},
				{31, 47, kcBlock + 3}, {mcTarget + 5, 2*nr + 1, 11}, {50, 70, 2*kcBlock + 1},
			}
			allTrans(func(ta, tb bool) {
				for _, d := range dims {
					for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2.5, -1}} {
						for _, pad := range []int{0, 3} {
							tc := gemmCase{transA: ta, transB: tb, m: d[0], n: d[1], k: d[2], alpha: ab[0], beta: ab[1], pad: pad}
							tc.check(t, kern, r)
						}
					}
				}
			})
		})
	}
}

// TestSgemmLarge covers multiple NC/KC/MC blocks and the parallel split.
func TestSgemmLarge(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	dims := [][3]int{{197, 200, 300}, {50, ncBlock + 70, 40}, {400, 33, 600}}
	if testing.Short() {
		dims = dims[:1]
	}
	for _, kern := range availableKernels() {
		for _, d := range dims {
			allTrans(func(ta, tb bool) {
				tc := gemmCase{transA: ta, transB: tb, m: d[0], n: d[1], k: d[2], alpha: 0.75, beta: 0.5, pad: 1}
				tc.check(t, kern, r)
			})
		}
	}
}

// TestSgemmSpecial checks the quick paths: empty sizes, k == 0, alpha == 0.
func TestSgemmSpecial(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	if err := Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 3, c, 2); err != nil {
		t.Fatal(err)
	}
	for i, want := range []float32{3, 6, 9, 12} {
		if c[i] != want {
			t.Fatalf("k=0, beta=3: c[%d] = %v, want %v", i, c[i], want)
		}
	}
	a := []float32{1, 2, 3, 4}
	nan := float32(math.NaN())
	c = []float32{nan, nan, nan, nan}
	if err := Sgemm(false, false, 2, 2, 2, 0, a, 2, a, 2, 0, c, 2); err != nil {
		t.Fatal(err)
	}
	for i, v := range c {
		if v != 0 {
			t.Fatalf("alpha=0, beta=0: c[%d] = %v, want 0", i, v)
		}
	}
	if err := Sgemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5); err != nil {
		t.Fatalf("m=0: %v", err)
	}
}

// TestSgemmErrors checks that bad arguments return errors naming the argument.
func TestSgemmErrors(t *testing.T) {
	a := make([]float32, 6)
	b := make([]float32, 6)
	c := make([]float32, 4)
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"negative m", Sgemm(false, false, -1, 2, 3, 1, a, 3, b, 2, 0, c, 2), "negative size"},
		{"lda", Sgemm(false, false, 2, 2, 3, 1, a, 2, b, 2, 0, c, 2), "lda=2"},
		{"lda trans", Sgemm(true, false, 2, 2, 3, 1, a, 1, b, 2, 0, c, 2), "lda=1"},
		{"ldb", Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 1, 0, c, 2), "ldb=1"},
		{"ldb trans", Sgemm(false, true, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2), "ldb=2"},
		{"ldc", Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 1), "ldc=1"},
		{"short a", Sgemm(false, false, 2, 2, 3, 1, a[:5], 3, b, 2, 0, c, 2), "len(a)=5"},
		{"short b", Sgemm(false, false, 2, 2, 3, 1, a, 3, b[:5], 2, 0, c, 2), "len(b)=5"},
		{"short c", Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c[:3], 2), "len(c)=3"},
	}
	for _, tc := range cases {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %q does not mention %q", tc.name, tc.err, tc.want)
		}
	}
}

// TestSgemmNoAllocs checks that steady-state calls, parallel ones included,
// do not allocate.
func TestSgemmNoAllocs(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, d := range [][3]int{{30, 40, 50}, {200, 300, 256}} {
		m, n, k := d[0], d[1], d[2]
		a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
		call := func() {
			if err := Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n); err != nil {
				t.Fatal(err)
			}
		}
		call()
		if allocs := testing.AllocsPerRun(20, call); allocs != 0 {
			t.Errorf("%dx%dx%d: %v allocations per call, want 0", m, n, k, allocs)
		}
	}
}

// TestKernelChoice checks the run-time choice matches the CPU features.
func TestKernelChoice(t *testing.T) {
	ks := availableKernels()
	if ks[len(ks)-1].name != goKernel.name {
		t.Fatalf("last kernel %q, want the Go fallback", ks[len(ks)-1].name)
	}
	if Kernel() != ks[0].name {
		t.Fatalf("Kernel() = %q, want the best available %q", Kernel(), ks[0].name)
	}
	names := make([]string, len(ks))
	for i, k := range ks {
		names[i] = k.name
	}
	t.Logf("kernels on this CPU: %v (using %s)", names, Kernel())
}

// TestSgemmThreads checks the parallel split for several GOMAXPROCS values,
// including ones whose grid leaves threads idle.
func TestSgemmThreads(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 3, 8} {
		runtime.GOMAXPROCS(procs)
		for _, d := range [][3]int{{97, 130, 100}, {20, 700, 90}, {600, 20, 90}} {
			tc := gemmCase{transB: true, m: d[0], n: d[1], k: d[2], alpha: 1, beta: 0.25}
			tc.check(t, active, r)
		}
	}
}

// TestSgemmConcurrent runs calls from several goroutines at once (run it
// with -race); each checks its own result.
func TestSgemmConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < 3; i++ {
				tc := gemmCase{m: 60 + i, n: 90, k: 120, alpha: 1, beta: 0}
				if err := tc.verify(active, r); err != nil {
					t.Error(err)
					return
				}
			}
		}(int64(w))
	}
	wg.Wait()
}
