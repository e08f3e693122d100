// Package sgemm is a pure-Go single-precision matrix multiply (SGEMM) with
// Go assembly micro-kernels, and a BLAS implementation that plugs it into
// Gorgonia and gorgonia.org/tensor.
//
// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, where
// op(X) is X or Xᵀ. It follows the Goto/BLIS scheme:
//
//	for jc over N in steps of NC            (B block kc×nc, L3)
//	  for pc over K in steps of KC
//	    pack B(pc:pc+kc, jc:jc+nc) into NR-wide column strips
//	    for ic over M in steps of MC        (A block mc×kc, L2)
//	      pack A(ic:ic+mc, pc:pc+kc) into MR-tall row strips
//	      for jr over nc in steps of NR     (one B strip, L1)
//	        for ir over mc in steps of MR
//	          micro-kernel: MR×NR tile of C += A strip · B strip
//
// Micro-kernels, chosen once at start-up with golang.org/x/sys/cpu:
//
//   - AVX-512F: 14×32 tile, 28 zmm accumulators, VBROADCASTSS of A and
//     VFMADD231PS against two zmm rows of B, k unrolled by 4.
//   - AVX2+FMA: 6×16 tile, 12 ymm accumulators, same scheme.
//   - portable Go: 4×4 tile, used on other CPUs and with the purego build tag.
//
// Blocking: KC = 256, MC = the largest multiple of MR ≤ 168, NC = 4096.
// Packing that transposes (row-major A, and B when transB is set) moves 8×8
// blocks with an AVX unpack/shuffle/permute sequence; the rest is copy().
// Packed panels are zero-padded to whole tiles; tiles that overhang the edge
// of C are computed into a small buffer and only their valid part is merged,
// so edges cost no extra code paths in the kernels. Packing buffers come from
// a free list and are reused, so steady-state calls do not allocate.
//
// Threading: problems under about 2 MFLOP run on the calling goroutine.
// Larger ones split C into a pm×pn grid of blocks (pm·pn ≤ GOMAXPROCS, shape
// chosen to minimise padded work plus packing traffic); each block runs the
// loop above with its own packing buffers on a persistent worker goroutine,
// the caller working on one block itself.
//
// Enabling: call Use() once at start-up. It registers Implementation, which
// embeds gonum's pure-Go BLAS and overrides Sgemm, with gorgonia.Use, which
// also sets gorgonia.org/tensor's BLAS, so every float32 Mul, BatchedMatMul
// and Conv2d (via im2col) goes through this package.
package sgemm
