package sgemm

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// useForTest registers Implementation and restores gonum's BLAS afterwards.
func useForTest(t *testing.T) {
	t.Helper()
	Use()
	t.Cleanup(func() { G.Use(gonum.Implementation{}) })
	if _, ok := tensor.WhichBLAS().(Implementation); !ok {
		t.Fatalf("after Use, tensor's BLAS is %T, want sgemm.Implementation", tensor.WhichBLAS())
	}
	if _, ok := G.WhichBLAS().(Implementation); !ok {
		t.Fatalf("after Use, gorgonia's BLAS is %T, want sgemm.Implementation", G.WhichBLAS())
	}
}

// closeTo compares got (m×n, row-major) with the float64 reference.
func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol*math.Max(1, math.Abs(want[i]))) {
			t.Fatalf("%s: element %d = %v, want %v (diff %.3g)", what, i, got[i], want[i], d)
		}
	}
}

// TestGorgoniaMul runs a float32 graph Mul after Use and checks the result.
func TestGorgoniaMul(t *testing.T) {
	useForTest(t)
	r := rand.New(rand.NewSource(4))
	const m, k, n = 37, 70, 45
	av, bv := randSlice(r, m*k), randSlice(r, k*n)

	g := G.NewGraph()
	a := G.NewMatrix(g, tensor.Float32, G.WithShape(m, k), G.WithName("a"),
		G.WithValue(tensor.New(tensor.WithShape(m, k), tensor.WithBacking(append([]float32(nil), av...)))))
	b := G.NewMatrix(g, tensor.Float32, G.WithShape(k, n), G.WithName("b"),
		G.WithValue(tensor.New(tensor.WithShape(k, n), tensor.WithBacking(append([]float32(nil), bv...)))))
	c, err := G.Mul(a, b) // (m, n)
	if err != nil {
		t.Fatalf("Mul: %v", err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("RunAll: %v", err)
	}
	got := c.Value().Data().([]float32)
	want := naive(false, false, m, n, k, 1, av, k, bv, n, 0, nil, n)
	closeTo(t, "gorgonia Mul", got, want, 1e-5*k)
}

// TestTensorMatMulTransposed checks tensor.MatMul on transposed views, which
// tensor passes to Sgemm as Trans flags with the stored strides.
func TestTensorMatMulTransposed(t *testing.T) {
	useForTest(t)
	r := rand.New(rand.NewSource(5))
	const m, k, n = 29, 53, 41
	at, bt := randSlice(r, k*m), randSlice(r, n*k) // stored as Aᵀ (k, m) and Bᵀ (n, k)
	a := tensor.New(tensor.WithShape(k, m), tensor.WithBacking(append([]float32(nil), at...)))
	b := tensor.New(tensor.WithShape(n, k), tensor.WithBacking(append([]float32(nil), bt...)))
	if err := a.T(); err != nil {
		t.Fatal(err)
	}
	if err := b.T(); err != nil {
		t.Fatal(err)
	}
	c, err := tensor.MatMul(a, b) // (m, n)
	if err != nil {
		t.Fatalf("MatMul: %v", err)
	}
	want := naive(true, true, m, n, k, 1, at, m, bt, k, 0, nil, n)
	closeTo(t, "tensor MatMul(Aᵀ, Bᵀ)", c.Data().([]float32), want, 1e-5*k)
}

// TestImplementationPanics checks the blas contract: bad arguments panic with
// the same message Sgemm returns.
func TestImplementationPanics(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || err.Error() != "sgemm: ldc=1 is less than n=2" {
			t.Fatalf("recovered %v, want the ldc error", r)
		}
	}()
	Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 4), 1)
}

// TestGorgoniaBatchedMatMul checks attention-shaped BatchedMatMul (Q·Kᵀ per
// head) after Use; each batch is a view, so Sgemm sees offset slices.
func TestGorgoniaBatchedMatMul(t *testing.T) {
	useForTest(t)
	r := rand.New(rand.NewSource(7))
	const bs, tq, d = 3, 17, 24
	qv, kv := randSlice(r, bs*tq*d), randSlice(r, bs*tq*d)

	g := G.NewGraph()
	q := G.NewTensor(g, tensor.Float32, 3, G.WithShape(bs, tq, d), G.WithName("q"),
		G.WithValue(tensor.New(tensor.WithShape(bs, tq, d), tensor.WithBacking(append([]float32(nil), qv...)))))
	k := G.NewTensor(g, tensor.Float32, 3, G.WithShape(bs, tq, d), G.WithName("k"),
		G.WithValue(tensor.New(tensor.WithShape(bs, tq, d), tensor.WithBacking(append([]float32(nil), kv...)))))
	s, err := G.BatchedMatMul(q, k, false, true) // (bs, tq, tq)
	if err != nil {
		t.Fatalf("BatchedMatMul: %v", err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("RunAll: %v", err)
	}
	got := s.Value().Data().([]float32)
	for i := 0; i < bs; i++ {
		want := naive(false, true, tq, tq, d, 1, qv[i*tq*d:], d, kv[i*tq*d:], d, 0, nil, tq)
		closeTo(t, fmt.Sprintf("batch %d", i), got[i*tq*tq:(i+1)*tq*tq], want, 1e-5*d)
	}
}
