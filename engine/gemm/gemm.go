package gemm

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

// Blocking parameters. The broadcast micro-tile is mr×nr (AVX2/FMA and
// pure Go) or mr512×nr512 (AVX-512); a tile of C has at most mcMax rows; k
// is cut into blocks of at most kcMax.
const (
	mr    = 4
	nr    = 24
	mr512 = 8
	nr512 = 32
	mrMax = mr512
	nrMax = nr512
	kcMax = 256
	mcMax = 256 // multiple of mr and mr512

	// bBlock is the size in floats of the packed B block (kc×tile width);
	// a tile is at most bBlock/(kc·nr) and at most maxTilePanels panels
	// wide.
	bBlock        = 96 << 10
	maxTilePanels = 64

	// Parallel tiling: a problem is split until it has about
	// flops/tileFlops tiles, at most maxSplitTiles. Below minParFlops
	// everything runs on the calling goroutine.
	tileFlops     = 2 << 20
	maxSplitTiles = 16
	minParFlops   = 2 << 20
)

// isa is an instruction set the kernels are written for.
type isa int

const (
	isaGo     isa = iota // portable Go, 4×24 micro-tile
	isaAVX2              // AVX2+FMA assembly, 4×24 micro-tile
	isaAVX512            // AVX-512F assembly, 8×32 micro-tile
)

func (i isa) String() string {
	switch i {
	case isaAVX2:
		return "avx2"
	case isaAVX512:
		return "avx512"
	}
	return "go"
}

// bestISA is the fastest instruction set this CPU (and build) supports.
func bestISA() isa {
	switch {
	case hasAVX512:
		return isaAVX512
	case hasAsm:
		return isaAVX2
	}
	return isaGo
}

// useISA selects the kernels. Tests switch it to cover every path this CPU
// can run; it must not be changed while a multiplication is running.
var useISA = envISA(os.Getenv("GOTRAIN_GEMM_ISA"), bestISA())

// envISA applies GOTRAIN_GEMM_ISA (avx2 or go: a slower instruction set
// than the best, for A/B measurements on one machine); an empty, unknown
// or unsupported value leaves best.
func envISA(v string, best isa) isa {
	for _, k := range []isa{isaGo, isaAVX2, isaAVX512} {
		if v == k.String() && k <= best {
			return k
		}
	}
	return best
}

// ISA names the kernels Sgemm uses on this machine: "avx512", "avx2" or
// "go".
func ISA() string { return useISA.String() }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(A) is m×k (A is stored k×m when transA) and op(B) is k×n (B is
// stored n×k when transB); C is m×n. lda, ldb and ldc are the row strides
// of the stored matrices. When beta == 0, C is not read. Large problems
// are computed in parallel on up to GOMAXPROCS goroutines; the result is
// bit-identical to SgemmSerial's whatever GOMAXPROCS is. Sgemm panics if a
// dimension is negative, a leading dimension is shorter than its row or a
// slice is too short.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, true)
}

// SgemmSerial is Sgemm computed entirely on the calling goroutine, for
// callers that already run several multiplications in parallel. Its result
// is bit-identical to Sgemm's.
func SgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, false)
}

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, parallel bool) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension (m=%d, n=%d, k=%d)", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat("a", "lda", ar, ac, len(a), lda)
	checkMat("b", "ldb", br, bc, len(b), ldb)
	checkMat("c", "ldc", m, n, len(c), ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	p := problem{
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		asm: useISA >= isaAVX2, wide: useISA == isaAVX512,
	}
	// With a single P the call cannot run in parallel: use SgemmSerial's
	// tiling, which avoids the repacking that smaller tiles cost. This
	// does not change the result: no element's arithmetic depends on the
	// tiling (TestDeterminism checks it bit for bit).
	parallel = parallel && runtime.GOMAXPROCS(0) > 1
	p.plan(parallel)
	ntiles := p.rt * p.ct
	if parallel && ntiles > 1 {
		runParallel(&p, ntiles)
		return
	}
	buf := getBuffers()
	for t := 0; t < ntiles; t++ {
		p.tile(t, buf)
	}
	putBuffers(buf)
}

func checkMat(name, ldName string, rows, cols, length, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("gemm: %s = %d, want >= %d (stored %s is %d×%d)", ldName, ld, max(1, cols), name, rows, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; length < need {
		panic(fmt.Sprintf("gemm: len(%s) = %d, want >= %d (stored %s is %d×%d, %s = %d)", name, length, need, name, rows, cols, ldName, ld))
	}
}

// scaleC sets C = beta·C (C = 0 when beta == 0, without reading C).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(row)
		case 1:
		default:
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// problem is one multiplication with its blocking plan.
type problem struct {
	transA, transB bool
	asm            bool // assembly kernels (AVX2 or AVX-512)
	wide           bool // the AVX-512 8×32 broadcast kernel
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	dot    bool // use the dot-product kernel (A·Bᵀ with small n)
	kc     int  // k block size (function of k only)
	ph, pw int  // micro-tile height and width
	pm, pn int  // number of micro-tile rows and columns of C
	rt, ct int  // number of row and column tiles
}

// Dot-product path for A·Bᵀ (both read along k, no transposition): used
// with the assembly kernels when k >= dotMinK and n <= dotMaxN, where the
// broadcast kernels waste lanes and repack Bᵀ for every k block. At n = 64
// (the Winograd weight gradients of 64-channel convolutions) the 32-wide
// AVX-512 kernel was faster (TestISAAgreement keeps the choice the same for
// every instruction set, so AVX2 and AVX-512 still agree bit for bit).
const (
	dotMinK     = 256
	dotMaxN     = 32
	kcDot       = 1024 // rounded to a multiple of 8
	dotTileRows = 48   // multiple of 3
	dotTileCols = 88   // multiple of 4
)

// The dot path keeps up to dotTileRows×(kcDot+16) floats of A in
// buffers.a and dotTileCols×(kcDot+16) of B in buffers.b.
const (
	_ = uint(mcMax*kcMax - dotTileRows*(kcDot+16))
	_ = uint(bBlock - dotTileCols*(kcDot+16))
)

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// plan chooses the kernel, the k block size and the tiling of C. All
// depend only on the shape and transposition flags (and the tiling on
// whether the call may run in parallel), never on the number of cores; the
// arithmetic done for an element of C depends only on the kernel and the k
// blocking, not on the tiling.
func (p *problem) plan(parallel bool) {
	p.dot = p.asm && !p.transA && p.transB && p.k >= dotMinK && p.n <= dotMaxN
	var kcm, rowPanels, colPanels, minTM, minTN int
	if p.dot {
		p.ph, p.pw, kcm = 3, 4, kcDot
	} else if p.wide {
		p.ph, p.pw, kcm = mr512, nr512, kcMax
	} else {
		p.ph, p.pw, kcm = mr, nr, kcMax
	}
	p.kc = ceilDiv(p.k, ceilDiv(p.k, kcm))
	if p.dot {
		p.kc = (p.kc + 7) &^ 7 // whole 8-lane steps
	}
	p.pm, p.pn = ceilDiv(p.m, p.ph), ceilDiv(p.n, p.pw)
	if p.dot {
		rowPanels, colPanels = dotTileRows/3, dotTileCols/4
		minTM, minTN = 6, 12
	} else {
		rowPanels = mcMax / p.ph
		colPanels = min(max(bBlock/(p.kc*p.pw), 1), maxTilePanels)
		minTM, minTN = 2*p.ph, p.pw
	}
	p.rt, p.ct = ceilDiv(p.pm, rowPanels), ceilDiv(p.pn, colPanels)
	if !parallel {
		return
	}
	flops := 2 * float64(p.m) * float64(p.n) * float64(p.k)
	if flops < minParFlops {
		return
	}
	want := min(int(flops/tileFlops), maxSplitTiles)
	for p.rt*p.ct < want {
		tm := ceilDiv(p.pm, p.rt) * p.ph
		tn := ceilDiv(p.pn, p.ct) * p.pw
		canN := p.ct < p.pn && ceilDiv(p.pn, p.ct+1)*p.pw >= minTN
		canM := p.rt < p.pm && ceilDiv(p.pm, p.rt+1)*p.ph >= minTM
		switch {
		case canN && (tn >= tm || !canM):
			p.ct++
		case canM:
			p.rt++
		default:
			return
		}
	}
}

// tileBounds returns the rows [i0,i1) and columns [j0,j1) of tile t.
func (p *problem) tileBounds(t int) (i0, i1, j0, j1 int) {
	ti, tj := t/p.ct, t%p.ct
	i0 = ti * p.pm / p.rt * p.ph
	i1 = min((ti+1)*p.pm/p.rt*p.ph, p.m)
	j0 = tj * p.pn / p.ct * p.pw
	j1 = min((tj+1)*p.pn/p.ct*p.pw, p.n)
	return
}

// buffers are one goroutine's packing buffers; their size is fixed.
type buffers struct {
	a  []float32 // packed A block: up to mcMax/ph panels of kc×ph
	b  []float32 // packed B block: panels of kc×pw
	ae []float32 // packed edge A panel when A is read in place: kc×ph
	t  []float32 // scratch micro-tile: ph×pw
}

func newBuffers() *buffers {
	return &buffers{
		a:  alignedFloats(mcMax * kcMax),
		b:  alignedFloats(bBlock),
		ae: alignedFloats(kcMax * mrMax),
		t:  alignedFloats(mrMax * nrMax),
	}
}

// alignedFloats returns a zeroed slice of n float32s starting on a 64-byte
// boundary.
func alignedFloats(n int) []float32 {
	s := make([]float32, n+16)
	off := int((64 - uintptr(unsafe.Pointer(&s[0]))&63) & 63 / 4)
	return s[off : off+n : off+n]
}

// Tuning switches, settable by tests: 0 never, 1 always (when possible),
// 2 heuristic.
var (
	directAMode = 2 // read non-transposed A in place instead of packing it
	directBMode = 2 // read non-transposed B in place instead of packing it
)

func pick(mode int, heuristic bool) bool {
	return mode == 1 || (mode == 2 && heuristic)
}

// tile computes tile t of C.
func (p *problem) tile(t int, buf *buffers) {
	i0, i1, j0, j1 := p.tileBounds(t)
	if p.dot {
		p.tileDot(i0, i1, j0, j1, buf)
		return
	}
	npA := (i1 - i0 + p.ph - 1) / p.ph
	npB := (j1 - j0 + p.pw - 1) / p.pw
	// With the assembly kernel, A (not transposed) is read in place: in
	// the row-panel loop below each A panel is fetched once per k block
	// and then stays in L1. B (not transposed) is read in place when the
	// k block is short and ldb is not a multiple of 1024 (which would map
	// its rows onto the same cache sets). Otherwise both are packed once
	// per k block. The pure-Go kernel always takes packed A.
	directA := p.asm && !p.transA && pick(directAMode, true)
	directB := !p.transB && pick(directBMode, p.kc <= 64 && p.ldb%1024 != 0)
	for pc := 0; pc < p.k; pc += p.kc {
		kcb := min(p.kc, p.k-pc)
		beta := p.beta
		if pc > 0 {
			beta = 1
		}
		if directA {
			if h := (i1 - i0) % p.ph; h != 0 {
				p.packA(buf.ae[:kcb*p.ph], i1-h, h, pc, kcb)
			}
		} else {
			p.packABlock(buf.a, i0, i1, pc, kcb)
		}
		p.packBBlock(buf.b, j0, j1, pc, kcb, directB)
		// Row panel by row panel: the A panel stays in L1 while the
		// packed B block streams from L2, and C is written in order.
		for ip := 0; ip < npA; ip++ {
			for jp := 0; jp < npB; jp++ {
				p.micro(buf, ip, jp, i0, i1, j0, j1, pc, kcb, beta, directA, directB)
			}
		}
	}
}

// micro updates micro-tile (ip, jp) of the tile with k block [pc, pc+kcb).
func (p *problem) micro(buf *buffers, ip, jp, i0, i1, j0, j1, pc, kcb int, beta float32, directA, directB bool) {
	mr, nr := p.ph, p.pw
	ii := i0 + ip*mr
	h := min(mr, i1-ii)
	jj := j0 + jp*nr
	w := min(nr, j1-jj)
	as, ao, rsA, csA := buf.a, ip*mr*kcb, 1, mr
	if directA {
		if h == mr {
			as, ao, rsA, csA = p.a, ii*p.lda+pc, p.lda, 1
		} else {
			as, ao = buf.ae, 0
		}
	}
	bs, bo, rsB := buf.b, jp*nr*kcb, nr
	if directB && w == nr {
		bs, bo, rsB = p.b, pc*p.ldb+jj, p.ldb
	}
	if h == mr && w == nr {
		p.kernel(kcb, as, ao, rsA, csA, bs, bo, rsB, p.c, ii*p.ldc+jj, p.ldc, beta)
		return
	}
	// Edge micro-tile: run the same kernel on a scratch tile so that the
	// arithmetic is the same as for full tiles.
	t := buf.t
	if beta != 0 {
		for r := 0; r < h; r++ {
			copy(t[r*nr:r*nr+w], p.c[(ii+r)*p.ldc+jj:])
		}
	}
	p.kernel(kcb, as, ao, rsA, csA, bs, bo, rsB, t, 0, nr, beta)
	for r := 0; r < h; r++ {
		copy(p.c[(ii+r)*p.ldc+jj:(ii+r)*p.ldc+jj+w], t[r*nr:])
	}
}

// kernel runs the micro-kernel on one full micro-tile (8×32 with
// AVX-512, else 4×24). The pure-Go kernel is only ever given packed A
// (rsA = 1, csA = mr).
func (p *problem) kernel(kc int, a []float32, ao, rsA, csA int, b []float32, bo, rsB int, c []float32, co, ldc int, beta float32) {
	if p.wide {
		_ = a[ao+(mr512-1)*rsA+(kc-1)*csA]
		_ = b[bo+(kc-1)*rsB+nr512-1]
		_ = c[co+(mr512-1)*ldc+nr512-1]
		kern8x32(kc, &a[ao], rsA, csA, &b[bo], rsB, &c[co], ldc, p.alpha, beta)
		return
	}
	if p.asm {
		// The last elements the kernel touches, so that a bad index
		// panics here instead of reaching memory outside the slices.
		_ = a[ao+(mr-1)*rsA+(kc-1)*csA]
		_ = b[bo+(kc-1)*rsB+nr-1]
		_ = c[co+(mr-1)*ldc+nr-1]
		kern4x24(kc, &a[ao], rsA, csA, &b[bo], rsB, &c[co], ldc, p.alpha, beta)
		return
	}
	kernGo(kc, a, ao, b, bo, rsB, c, co, ldc, p.alpha, beta)
}

// packABlock packs rows [i0, i1) of op(A), k range [pc, pc+kcb), into
// panels of kcb×mr (panel ip at dst[ip*mr*kcb:]).
func (p *problem) packABlock(dst []float32, i0, i1, pc, kcb int) {
	mr := p.ph
	nfull := (i1 - i0) / mr
	if p.asm && nfull > 0 {
		if p.transA {
			_ = p.a[(pc+kcb-1)*p.lda+i0+nfull*mr-1]
			_ = dst[nfull*mr*kcb-1]
			if p.wide {
				packATBlock8(kcb, &p.a[pc*p.lda+i0], p.lda, &dst[0], nfull)
			} else {
				packATBlock4(kcb, &p.a[pc*p.lda+i0], p.lda, &dst[0], nfull)
			}
		} else if kc8 := kcb / 8; kc8 > 0 && !p.wide {
			for ip := 0; ip < nfull; ip++ {
				ii := i0 + ip*mr
				_ = p.a[(ii+mr-1)*p.lda+pc+kc8*8-1]
				_ = dst[ip*mr*kcb+kc8*8*mr-1]
				packA4(kc8, &p.a[ii*p.lda+pc], p.lda, &dst[ip*mr*kcb])
				if kc8*8 < kcb {
					p.packAPart(dst[ip*mr*kcb:(ip+1)*mr*kcb], ii, mr, pc, kcb, kc8*8)
				}
			}
		} else {
			for ip := 0; ip < nfull; ip++ {
				p.packA(dst[ip*mr*kcb:(ip+1)*mr*kcb], i0+ip*mr, mr, pc, kcb)
			}
		}
	} else {
		for ip := 0; ip < nfull; ip++ {
			p.packA(dst[ip*mr*kcb:(ip+1)*mr*kcb], i0+ip*mr, mr, pc, kcb)
		}
	}
	if h := (i1 - i0) % mr; h != 0 {
		p.packA(dst[nfull*mr*kcb:(nfull+1)*mr*kcb], i1-h, h, pc, kcb)
	}
}

// packA packs rows [ii, ii+h) of op(A), k range [pc, pc+kcb), into dst
// with layout dst[q*ph+r]; rows h..ph-1 are zero.
func (p *problem) packA(dst []float32, ii, h, pc, kcb int) {
	dst = dst[:kcb*p.ph]
	if h < p.ph {
		clear(dst)
	}
	p.packAPart(dst, ii, h, pc, kcb, 0)
}

// packAPart is packA for q in [q0, kcb), without clearing.
func (p *problem) packAPart(dst []float32, ii, h, pc, kcb, q0 int) {
	lda, mr := p.lda, p.ph
	if p.transA {
		for q := q0; q < kcb; q++ {
			src := p.a[(pc+q)*lda+ii : (pc+q)*lda+ii+h]
			if mr == 4 {
				copy4(dst[q*mr:q*mr+h], src)
			} else {
				copy(dst[q*mr:q*mr+h], src)
			}
		}
		return
	}
	if h == 4 && mr == 4 {
		s0 := p.a[ii*lda+pc+q0 : ii*lda+pc+kcb]
		s1 := p.a[(ii+1)*lda+pc+q0 : (ii+1)*lda+pc+kcb]
		s2 := p.a[(ii+2)*lda+pc+q0 : (ii+2)*lda+pc+kcb]
		s3 := p.a[(ii+3)*lda+pc+q0 : (ii+3)*lda+pc+kcb]
		d := dst[q0*mr : kcb*mr]
		for q := range s0 {
			d := d[q*mr : q*mr+4 : q*mr+4]
			d[0], d[1], d[2], d[3] = s0[q], s1[q], s2[q], s3[q]
		}
		return
	}
	for r := 0; r < h; r++ {
		src := p.a[(ii+r)*lda+pc+q0 : (ii+r)*lda+pc+kcb]
		for q, v := range src {
			dst[(q0+q)*mr+r] = v
		}
	}
}

// copy4 copies up to 4 elements without calling memmove.
func copy4(d, s []float32) {
	if len(s) == 4 && len(d) == 4 {
		d[0], d[1], d[2], d[3] = s[0], s[1], s[2], s[3]
		return
	}
	for i := range s {
		d[i] = s[i]
	}
}

// packBBlock packs columns [j0, j1) of op(B), k range [pc, pc+kcb), into
// panels of kcb×nr (panel jp at dst[jp*nr*kcb:]); the last panel is zero
// padded. When direct, only a partial last panel is packed.
func (p *problem) packBBlock(dst []float32, j0, j1, pc, kcb int, direct bool) {
	nr := p.pw
	nfull := (j1 - j0) / nr
	ldb := p.ldb
	if w := (j1 - j0) % nr; w != 0 {
		p.packB(dst[nfull*nr*kcb:(nfull+1)*nr*kcb], j1-w, w, pc, kcb)
	}
	if direct || nfull == 0 {
		return
	}
	if !p.asm {
		for jp := 0; jp < nfull; jp++ {
			p.packB(dst[jp*nr*kcb:(jp+1)*nr*kcb], j0+jp*nr, nr, pc, kcb)
		}
		return
	}
	if !p.transB {
		_ = p.b[(pc+kcb-1)*ldb+j0+nfull*nr-1]
		_ = dst[nfull*nr*kcb-1]
		if p.wide {
			packBBlock32(kcb, &p.b[pc*ldb+j0], ldb, &dst[0], nfull)
		} else {
			packBBlock24(kcb, &p.b[pc*ldb+j0], ldb, &dst[0], nfull)
		}
		return
	}
	kc8 := kcb / 8
	for jp := 0; jp < nfull; jp++ {
		jj := j0 + jp*nr
		d := dst[jp*nr*kcb : (jp+1)*nr*kcb]
		if kc8 > 0 {
			_ = p.b[(jj+nr-1)*ldb+pc+kc8*8-1]
			_ = d[kc8*8*nr-1]
			if p.wide {
				packBT32(kc8, &p.b[jj*ldb+pc], ldb, &d[0])
			} else {
				packBT24(kc8, &p.b[jj*ldb+pc], ldb, &d[0])
			}
		}
		for j := 0; j < nr; j++ {
			src := p.b[(jj+j)*ldb+pc+kc8*8 : (jj+j)*ldb+pc+kcb]
			for q, v := range src {
				d[(kc8*8+q)*nr+j] = v
			}
		}
	}
}

// packB packs columns [jj, jj+w) of op(B), k range [pc, pc+kcb), into dst
// with layout dst[q*nr+j]; columns w..nr-1 are zero.
func (p *problem) packB(dst []float32, jj, w, pc, kcb int) {
	nr := p.pw
	dst = dst[:kcb*nr]
	ldb := p.ldb
	if w < nr {
		clear(dst)
	}
	if !p.transB {
		for q := 0; q < kcb; q++ {
			copy(dst[q*nr:q*nr+w], p.b[(pc+q)*ldb+jj:(pc+q)*ldb+jj+w])
		}
		return
	}
	for j := 0; j < w; j++ {
		src := p.b[(jj+j)*ldb+pc : (jj+j)*ldb+pc+kcb]
		for q, v := range src {
			dst[q*nr+j] = v
		}
	}
}

// tileDot computes a tile with the dot-product kernel. Rows of A and B
// whose stride is a multiple of 2 KiB are first copied, per k block, to
// buffers with a padded stride: rows read in step at such strides compete
// for the same few L1 sets.
func (p *problem) tileDot(i0, i1, j0, j1 int, buf *buffers) {
	t := buf.t
	for pc := 0; pc < p.k; pc += p.kc {
		kcb := min(p.kc, p.k-pc)
		ldp := (kcb+15)&^15 + 16
		beta := p.beta
		if pc > 0 {
			beta = 1
		}
		as, lda, a0 := p.a, p.lda, i0*p.lda+pc
		if lda%512 == 0 {
			as, lda, a0 = buf.a, ldp, 0
			copyRows(as, ldp, p.a[i0*p.lda+pc:], p.lda, i1-i0, kcb)
		}
		bs, ldb, b0 := p.b, p.ldb, j0*p.ldb+pc
		if ldb%512 == 0 {
			bs, ldb, b0 = buf.b, ldp, 0
			copyRows(bs, ldp, p.b[j0*p.ldb+pc:], p.ldb, j1-j0, kcb)
		}
		for ii := i0; ii < i1; ii += 3 {
			h := min(3, i1-ii)
			ao := a0 + (ii-i0)*lda
			for jj := j0; jj < j1; jj += 4 {
				w := min(4, j1-jj)
				bo := b0 + (jj-j0)*ldb
				if h == 3 && w == 4 {
					_ = as[ao+2*lda+kcb-1]
					_ = bs[bo+3*ldb+kcb-1]
					_ = p.c[(ii+2)*p.ldc+jj+3]
					dot3x4(kcb, &as[ao], lda, &bs[bo], ldb, &p.c[ii*p.ldc+jj], p.ldc, p.alpha, beta)
					continue
				}
				// Edge: one row (and, for a partial column group, one
				// column) at a time, with zero strides duplicating it in
				// the kernel, into a scratch tile so that the arithmetic
				// is the same as for full micro-tiles.
				for r := 0; r < h; r++ {
					crow := p.c[(ii+r)*p.ldc+jj : (ii+r)*p.ldc+jj+w]
					_ = as[ao+r*lda+kcb-1]
					ar := &as[ao+r*lda]
					if w == 4 {
						_ = bs[bo+3*ldb+kcb-1]
						if beta != 0 {
							copy(t[:4], crow)
						}
						dot3x4(kcb, ar, 0, &bs[bo], ldb, &t[0], 4, p.alpha, beta)
						copy(crow, t[:4])
						continue
					}
					for cc := range crow {
						_ = bs[bo+cc*ldb+kcb-1]
						t[0] = crow[cc]
						dot3x4(kcb, ar, 0, &bs[bo+cc*ldb], 0, &t[0], 4, p.alpha, beta)
						crow[cc] = t[0]
					}
				}
			}
		}
	}
}

// copyRows copies rows×cols elements from src (row stride lds) to dst (row
// stride ldd).
func copyRows(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	for r := 0; r < rows; r++ {
		copy(dst[r*ldd:r*ldd+cols], src[r*lds:r*lds+cols])
	}
}
