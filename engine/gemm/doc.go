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
// The leading dimensions must be at least the stored row length. When
// beta == 0, C is only written, never read, so it may hold garbage or NaN.
// When alpha == 0 or k == 0, A and B are not read and C = beta·C.
//
// # Algorithm
//
// The product is blocked GotoBLAS-style: k is cut into blocks of at most
// kcMax, chosen from k alone; C is cut into tiles of whole micro-tiles
// (mr×nr = 4×24); inside a tile, for each k block, the A block is packed
// into 4-row panels, each 24-column B panel is packed (or read in place)
// and a register-blocked micro-kernel multiplies them. Edge micro-tiles go
// through a scratch tile so the kernel always runs on a full 4×24 block.
// Packing buffers are fixed-size and owned by workers (or taken from a
// sync.Pool), so steady-state calls do not allocate.
//
// # Determinism
//
// Results are bit-identical whatever GOMAXPROCS is, and Sgemm and
// SgemmSerial agree bit for bit. Every element of C is computed by exactly
// one goroutine: its k-sum is accumulated in fixed k order by the same
// micro-kernel arithmetic, k block after k block (the block size depends
// only on k), and the partition of C into tiles depends only on m, n and k,
// never on the number of cores or on which goroutine takes which tile.
// k is never split between goroutines. The result may differ (within
// rounding) between the assembly and the pure-Go kernels, which do not
// round identically.
//
// # Dispatch
//
// On amd64 an AVX2+FMA micro-kernel written in Go assembly is used when
// golang.org/x/sys/cpu reports both AVX2 and FMA; otherwise, on other
// architectures, or with the purego build tag, a portable pure-Go kernel
// with the same blocking is used. Large problems are spread over a
// persistent pool of GOMAXPROCS goroutines (the caller included);
// SgemmSerial does all the work on the calling goroutine, for callers that
// already parallelise.
package gemm
