// Package gemm implements a fast, deterministic, pure-Go (no cgo)
// single-precision general matrix multiply:
//
//	C = alpha·op(A)·op(B) + beta·C
//
// # Layout
//
// All matrices are row-major, as in C. op(A) is m×k and op(B) is k×n. When
// transA is false A is stored m×k (element (i,p) at a[i*lda+p]); when transA
// is true A is stored k×m (op(A)(i,p) at a[p*lda+i]). Likewise B is stored
// k×n, or n×k when transB is true. C is m×n with element (i,j) at c[i*ldc+j].
// Each leading dimension must be at least the stored row length, and each
// slice must reach the last stored element; Sgemm panics otherwise. When
// beta == 0, C is only written, never read, so it may hold garbage or NaN.
// When alpha == 0 or k == 0, A and B are not read and C = beta·C.
//
// # Algorithm
//
// k is cut into blocks whose size depends only on k. C is cut into tiles of
// whole micro-tiles. For each k block a tile packs (or, when the layout
// allows, reads in place) its A and B blocks and runs a register-blocked
// micro-kernel over them, row panel by row panel:
//
//   - the broadcast kernel computes an 8×32 micro-tile as 8 rows of two
//     16-wide FMA accumulators with AVX-512, or a 4×24 micro-tile as 4
//     rows of three 8-wide accumulators with AVX2 (and in pure Go), one k
//     step at a time (used for everything except the case below);
//   - the dot kernel, for op(A)·Bᵀ with k >= 256 and n <= 64 (e.g. x·Wᵀ in
//     a linear layer), computes a 3×4 micro-tile as 8-lane partial dot
//     products along k, reduced in a fixed order; it reads A and B in
//     place, except rows whose stride is a multiple of 2 KiB, which are
//     first copied to buffers with a padded stride.
//
// Edge micro-tiles run the same kernel on a scratch tile (or with zero
// strides that duplicate a row), so their arithmetic is that of full ones.
// Packing buffers have a fixed size (about 640 KiB) and belong to the helper
// goroutines or come from a free list that the garbage collector does not
// empty, so steady-state calls do not allocate.
//
// # Determinism
//
// Results are bit-identical whatever GOMAXPROCS is, and Sgemm and
// SgemmSerial agree bit for bit. Every element of C is computed by exactly
// one goroutine, k is never split between goroutines, and the arithmetic
// for an element (which kernel, the k blocks, the order of the FMAs within
// a block, how the blocks are combined) depends only on the shape and the
// transposition flags. No element's arithmetic depends on the tile that
// holds it or on the goroutine that computes it. The tiles themselves
// depend only on the shape: a call that may run in parallel (Sgemm with
// GOMAXPROCS > 1) uses the same smaller tiles for every GOMAXPROCS, and
// one that cannot (SgemmSerial, or GOMAXPROCS = 1) uses larger ones, which
// by the above gives the same bits. The AVX-512 and AVX2 kernels do the
// same FMAs in the same order, so they agree bit for bit; the pure-Go
// kernel does not round identically, so its results may differ (within
// float32 rounding: TestISAAgreement measures how far) from theirs.
//
// # Dispatch and parallelism
//
// On amd64 the micro-kernels and packing routines are Go assembly using
// AVX-512F when golang.org/x/sys/cpu reports it (with OS support for the
// ZMM state), else AVX2 and FMA when it reports both, selected at run time
// (ISA names the choice; GOTRAIN_GEMM_ISA=avx2 or go forces a slower
// path, for A/B measurements on one machine);
// otherwise (other CPUs, other architectures, or the purego build tag) a
// portable pure-Go kernel with the same blocking is used. Sgemm spreads the
// tiles of problems above about 2 MFLOP over the calling goroutine and up
// to GOMAXPROCS-1 persistent helper goroutines, which spin (yielding) for
// up to 200µs after each job before parking, so that back-to-back calls do
// not pay a thread wake-up. SgemmSerial does all the work on the calling
// goroutine, for callers that already parallelise.
package gemm
