package sgemm

import (
	"fmt"
	"runtime"
	"sync"
)

// Blocking parameters (see the package comment).
const (
	kcBlock  = 256  // K depth of packed panels
	mcTarget = 168  // rows of packed A per block, rounded down to a multiple of MR
	ncBlock  = 4096 // columns of packed B per block, rounded down to a multiple of NR

	// parallelMinFlops is the work below which Sgemm stays on one goroutine.
	parallelMinFlops = 2_000_000
	// packWeight is the cost of packing one element relative to one
	// multiply-add, used to choose the parallel split.
	packWeight = 16
)

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is Xᵀ when the matching trans flag is set. op(A) is m×k, op(B) is k×n
// and C is m×n; lda, ldb and ldc are the row strides (in elements) of the
// matrices as stored. When beta is zero C is only written, never read.
// Invalid sizes, strides or short slices return an error naming the argument.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	return sgemmWith(active, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmWith is Sgemm on a given micro-kernel (tests force each one).
func sgemmWith(kern kernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if err := checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return nil
	}
	g := gemm{
		kern: kern, transA: transA, transB: transB,
		m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
	}
	g.run()
	return nil
}

// checkArgs validates sizes, strides and slice lengths as reference BLAS does.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("sgemm: negative size m=%d n=%d k=%d", m, n, k)
	}
	// Stored shapes: A is m×k (k×m when transposed), B is k×n (n×k when transposed).
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	if lda < max(1, aCols) {
		return fmt.Errorf("sgemm: lda=%d is less than the %d columns of A as stored (transA=%v)", lda, aCols, transA)
	}
	if ldb < max(1, bCols) {
		return fmt.Errorf("sgemm: ldb=%d is less than the %d columns of B as stored (transB=%v)", ldb, bCols, transB)
	}
	if ldc < max(1, n) {
		return fmt.Errorf("sgemm: ldc=%d is less than n=%d", ldc, n)
	}
	if m == 0 || n == 0 {
		return nil
	}
	if need := minLen(aRows, aCols, lda); len(a) < need {
		return fmt.Errorf("sgemm: len(a)=%d, need %d for a %d×%d A with lda=%d", len(a), need, aRows, aCols, lda)
	}
	if need := minLen(bRows, bCols, ldb); len(b) < need {
		return fmt.Errorf("sgemm: len(b)=%d, need %d for a %d×%d B with ldb=%d", len(b), need, bRows, bCols, ldb)
	}
	if need := minLen(m, n, ldc); len(c) < need {
		return fmt.Errorf("sgemm: len(c)=%d, need %d for a %d×%d C with ldc=%d", len(c), need, m, n, ldc)
	}
	return nil
}

// minLen is the shortest slice holding a rows×cols matrix with row stride ld.
func minLen(rows, cols, ld int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// scale sets C = beta·C (C = 0 when beta is zero, even if C held NaN).
func scale(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// gemm holds one validated call and its blocking.
type gemm struct {
	kern           kernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int
	mc, kc, nc     int
}

// run splits C over goroutines and computes every block.
func (g *gemm) run() {
	mr, nr := g.kern.mr, g.kern.nr
	g.kc = min(kcBlock, g.k)
	g.mc = min(max(mr, mcTarget/mr*mr), roundUp(g.m, mr))
	g.nc = min(max(nr, ncBlock/nr*nr), roundUp(g.n, nr))

	threads := runtime.GOMAXPROCS(0)
	if threads == 1 || 2*float64(g.m)*float64(g.n)*float64(g.k) < parallelMinFlops {
		buf := g.getBuf()
		g.block(0, g.m, 0, g.n, buf)
		bufs.put(buf)
		return
	}
	pm, pn := g.grid(threads)
	mStep := roundUp(ceilDiv(g.m, pm), mr)
	nStep := roundUp(ceilDiv(g.n, pn), nr)

	j := jobs.get()
	j.g = *g
	j.tasks = j.tasks[:0]
	for m0 := 0; m0 < g.m; m0 += mStep {
		for n0 := 0; n0 < g.n; n0 += nStep {
			j.tasks = append(j.tasks, task{g: &j.g, m0: m0, m1: min(m0+mStep, g.m), n0: n0, n1: min(n0+nStep, g.n), wg: &j.wg})
		}
	}
	startWorkers(threads - 1)
	j.wg.Add(len(j.tasks) - 1)
	for i := 1; i < len(j.tasks); i++ {
		work <- &j.tasks[i]
	}
	j.tasks[0].run()
	j.wg.Wait()
	j.g = gemm{}
	jobs.put(j)
}

// grid picks a pm×pn split of C (pm·pn ≤ threads) minimising the per-thread
// padded multiply-adds plus weighted packing traffic.
func (g *gemm) grid(threads int) (pm, pn int) {
	mr, nr := g.kern.mr, g.kern.nr
	best := -1.0
	for tm := 1; tm <= threads; tm++ {
		tn := threads / tm
		ms := roundUp(ceilDiv(g.m, tm), mr)
		ns := roundUp(ceilDiv(g.n, tn), nr)
		cost := float64(ms)*float64(ns) + packWeight*(float64(ns)+float64(ms)*float64(ceilDiv(ns, g.nc)))
		if best < 0 || cost < best {
			best, pm, pn = cost, tm, tn
		}
	}
	return pm, pn
}

// block computes rows [m0, m1) and columns [n0, n1) of C.
func (g *gemm) block(m0, m1, n0, n1 int, buf *packBuf) {
	for jc := n0; jc < n1; jc += g.nc {
		nc := min(g.nc, n1-jc)
		for pc := 0; pc < g.k; pc += g.kc {
			kc := min(g.kc, g.k-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			g.packB(buf.b, pc, kc, jc, nc)
			for ic := m0; ic < m1; ic += g.mc {
				mc := min(g.mc, m1-ic)
				g.packA(buf.a, ic, mc, pc, kc)
				g.macro(buf, ic, mc, jc, nc, kc, beta)
			}
		}
	}
}

// macro runs the micro-kernel over one packed mc×kc A block and kc×nc B block.
func (g *gemm) macro(buf *packBuf, ic, mc, jc, nc, kc int, beta float32) {
	mr, nr, fn := g.kern.mr, g.kern.nr, g.kern.fn
	for jr := 0; jr < nc; jr += nr {
		nw := min(nr, nc-jr)
		bp := &buf.b[jr*kc]
		for ir := 0; ir < mc; ir += mr {
			mw := min(mr, mc-ir)
			ap := &buf.a[ir*kc]
			ci := (ic+ir)*g.ldc + jc + jr
			if mw == mr && nw == nr {
				fn(kc, ap, bp, &g.c[ci], nr, g.ldc, g.alpha, beta)
				continue
			}
			// Edge tile: compute the whole tile aside, merge the valid part.
			fn(kc, ap, bp, &buf.tile[0], nr, nr, g.alpha, 0)
			for i := 0; i < mw; i++ {
				row := g.c[ci+i*g.ldc : ci+i*g.ldc+nw]
				t := buf.tile[i*nr : i*nr+nw]
				if beta == 0 {
					copy(row, t)
					continue
				}
				for j := range row {
					row[j] = t[j] + beta*row[j]
				}
			}
		}
	}
}

// packA copies op(A)[ic:ic+mc, pc:pc+kc] into MR-row strips laid out
// (kc, MR), zero-padding the last strip.
func (g *gemm) packA(dst []float32, ic, mc, pc, kc int) {
	mr := g.kern.mr
	for s := 0; s < mc; s += mr {
		rows := min(mr, mc-s)
		d := dst[s*kc : s*kc+mr*kc]
		if g.transA {
			// op(A)(i, p) = a[p*lda + i]: each k step is a contiguous run.
			for p := 0; p < kc; p++ {
				dp := d[p*mr : p*mr+mr]
				copy(dp, g.a[(pc+p)*g.lda+ic+s:][:rows])
				clear(dp[rows:])
			}
			continue
		}
		// op(A)(i, p) = a[i*lda + p]: transpose stored rows into k steps.
		gather(d, mr, g.a[(ic+s)*g.lda+pc:], g.lda, rows, kc, g.kern.simdPack)
		if rows < mr {
			for p := 0; p < kc; p++ {
				clear(d[p*mr+rows : p*mr+mr])
			}
		}
	}
}

// packB copies op(B)[pc:pc+kc, jc:jc+nc] into NR-column strips laid out
// (kc, NR), zero-padding the last strip.
func (g *gemm) packB(dst []float32, pc, kc, jc, nc int) {
	nr := g.kern.nr
	for s := 0; s < nc; s += nr {
		cols := min(nr, nc-s)
		d := dst[s*kc : s*kc+nr*kc]
		if !g.transB {
			// op(B)(p, j) = b[p*ldb + j]: each k step is a contiguous run.
			for p := 0; p < kc; p++ {
				dp := d[p*nr : p*nr+nr]
				copy(dp, g.b[(pc+p)*g.ldb+jc+s:][:cols])
				clear(dp[cols:])
			}
			continue
		}
		// op(B)(p, j) = b[j*ldb + p]: transpose stored rows into k steps.
		gather(d, nr, g.b[(jc+s)*g.ldb+pc:], g.ldb, cols, kc, g.kern.simdPack)
		if cols < nr {
			for p := 0; p < kc; p++ {
				clear(d[p*nr+cols : p*nr+nr])
			}
		}
	}
}

// gather transposes: d[p*ld + r] = src[r*lds + p] for r < rows, p < kc.
// With simd it moves 8×8 blocks with transpose8 (overlapping the last
// block of rows when rows is not a multiple of 8); otherwise, and for the
// k tail, it copies four rows at a time in Go.
func gather(d []float32, ld int, src []float32, lds, rows, kc int, simd bool) {
	if rows == 0 || kc == 0 {
		return
	}
	_ = d[(kc-1)*ld+rows-1]
	_ = src[(rows-1)*lds+kc-1]
	p0 := 0
	if simd && rows >= 8 && kc >= 8 {
		n8 := kc / 8
		for r0 := 0; r0 < rows; r0 += 8 {
			r := min(r0, rows-8)
			transpose8(&d[r], ld, &src[r*lds], lds, n8)
		}
		p0 = 8 * n8
		if p0 == kc {
			return
		}
	}
	r := 0
	for ; r+4 <= rows; r += 4 {
		s0 := src[r*lds+p0 : r*lds+kc]
		s1 := src[(r+1)*lds+p0:][:len(s0)]
		s2 := src[(r+2)*lds+p0:][:len(s0)]
		s3 := src[(r+3)*lds+p0:][:len(s0)]
		for p := range s0 {
			o := (p0+p)*ld + r
			dp := d[o : o+4 : o+4]
			dp[0], dp[1], dp[2], dp[3] = s0[p], s1[p], s2[p], s3[p]
		}
	}
	for ; r < rows; r++ {
		for p := p0; p < kc; p++ {
			d[p*ld+r] = src[r*lds+p]
		}
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// packBuf holds one goroutine's packed panels and edge tile.
type packBuf struct {
	a, b, tile []float32
}

// getBuf returns a buffer large enough for g's blocking.
func (g *gemm) getBuf() *packBuf {
	buf := bufs.get()
	buf.a = grow(buf.a, g.mc*g.kc)
	buf.b = grow(buf.b, roundUp(g.nc, g.kern.nr)*g.kc)
	buf.tile = grow(buf.tile, g.kern.mr*g.kern.nr)
	return buf
}

// grow returns s resized to n, reallocating only when its capacity is short.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// freeList is a mutex-guarded stack of reusable objects; unlike sync.Pool it
// keeps them across garbage collections.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.items); n > 0 {
		x := f.items[n-1]
		f.items = f.items[:n-1]
		return x
	}
	return new(T)
}

func (f *freeList[T]) put(x *T) {
	f.mu.Lock()
	f.items = append(f.items, x)
	f.mu.Unlock()
}

var (
	bufs freeList[packBuf]
	jobs freeList[job]
)

// job is one parallel call: its arguments, its blocks and their wait group.
type job struct {
	g     gemm
	tasks []task
	wg    sync.WaitGroup
}

// task is one block of C for one goroutine.
type task struct {
	g              *gemm
	m0, m1, n0, n1 int
	wg             *sync.WaitGroup
}

func (t *task) run() {
	buf := t.g.getBuf()
	t.g.block(t.m0, t.m1, t.n0, t.n1, buf)
	bufs.put(buf)
}

// work feeds the persistent worker goroutines.
var (
	work       = make(chan *task, 256)
	workersMu  sync.Mutex
	numWorkers int
)

// startWorkers makes sure at least n worker goroutines are running.
func startWorkers(n int) {
	workersMu.Lock()
	defer workersMu.Unlock()
	for ; numWorkers < n; numWorkers++ {
		go func() {
			for t := range work {
				t.run()
				t.wg.Done()
			}
		}()
	}
}
