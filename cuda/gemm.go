//go:build cuda || cgo

package cuda

import (
	"github.com/gotrain/gotrain/engine"
)

// gemmCall describes C_z = alpha·Σ op(A_b)·op(B_b) + beta·C_z + bias (see
// kernels/gemm.cu): batch products, each reducing over k elements (the last
// over kLast), A_b at a + b·sA and B_b at b + b·sB.
type gemmCall struct {
	transA, transB bool
	m, n, k        int
	a              devptr
	lda, sA        int
	b              devptr
	ldb, sB        int
	c              devptr
	ldc, sC        int
	batch          int
	kLast          int  // 0: k
	reduce         bool // sum all products into one C (else C_b = product b at c + b·sC)
	alpha, beta    float32
	bias           devptr
	biasMode       int // 0 none, 1 per row, 2 per column
}

// gemmKernels names the float32 GEMM kernels by [128-tile][transA][transB];
// tcKernels the tensor-core ones by [precision][large tile][transA][transB]
// (precision 0: TF32, 1: BF16).
var gemmKernels, tcKernels = func() (k [2][2][2]string, tc [2][2][2][2]string) {
	for t, tile := range []string{"64_", "128_"} {
		for a, ta := range "nt" {
			for b, tb := range "nt" {
				k[t][a][b] = "gemm_" + tile + string(ta) + string(tb)
			}
		}
	}
	for p, pre := range []string{"gemm_tf32_", "gemm_bf16_"} {
		for t, tile := range []string{"s_", "l_"} {
			for a, ta := range "nt" {
				for b, tb := range "nt" {
					tc[p][t][a][b] = pre + tile + string(ta) + string(tb)
				}
			}
		}
	}
	return k, tc
}()

// tcTile is a tensor-core kernel's block tile (BM×64) and thread count:
// the large tile 128×64 (256 threads), the small 64×64 (128 threads), as in
// kernels/igemm.cuh.
func tcTile(large bool) (bm, bn, threads int) {
	if large {
		return 128, 64, 256
	}
	return 64, 64, 128
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

// gemm launches g: batched products one per grid layer, or a reduction
// over products split into a number of chunks chosen from the problem's
// shape and the device's SM count, whose partial sums a second kernel adds
// in a fixed order.
func (b *Backend) gemm(op string, g gemmCall) {
	if b.err != nil || g.m == 0 || g.n == 0 || g.batch == 0 {
		return
	}
	if g.kLast == 0 {
		g.kLast = g.k
	}
	var kernel string
	bm, bn, threads := 64, 64, 256
	if b.prec == engine.FP32 {
		big := g.m >= 96 && g.n >= 96
		if big {
			bm, bn = 128, 128
		}
		if big && !g.reduce && blocks(g.m, 128)*blocks(g.n, 128)*g.batch < b.sms {
			// Too few 128-tiles to fill the device: smaller tiles.
			bm, bn = 64, 64
		}
		kernel = gemmKernels[b2i(bm == 128)][b2i(g.transA)][b2i(g.transB)]
	} else {
		large := b.pickLarge(opGemm, g.m, g.n, g.batch, g.reduce)
		bm, bn, threads = tcTile(large)
		kernel = tcKernels[b2i(b.prec == engine.BF16)][b2i(large)][b2i(g.transA)][b2i(g.transB)]
	}
	tiles := blocks(g.m, bm) * blocks(g.n, bn)

	z, bpz := g.batch, 1
	c, ldc, sC := g.c, g.ldc, g.sC
	if g.reduce {
		// Split the products into z chunks so that tiles·z fills the
		// device about twice; one chunk needs no second pass.
		z = 2 * b.sms / tiles
		if z > g.batch {
			z = g.batch
		}
		if z < 1 {
			z = 1
		}
		bpz = blocks(g.batch, z)
		z = blocks(g.batch, bpz)
		if z > 1 {
			if g.bias != 0 || g.beta != 0 {
				b.fail(op, "gemm: split reduction with bias or beta")
				return
			}
			p, ok := b.scratchBuf(op, scratchPartials, z*g.m*g.n)
			if !ok {
				return
			}
			c, ldc, sC = p, g.n, g.m*g.n
		}
	}
	if z > 65535 {
		b.fail(op, "gemm: %d products in one launch (at most 65535)", z)
		return
	}
	b.launch(op, kernel, dim3{blocks(g.n, bn), blocks(g.m, bm), z}, d1(threads), 0,
		dp(g.a), i32(g.lda), i32(g.sA), dp(g.b), i32(g.ldb), i32(g.sB), dp(c), i32(ldc), i32(sC),
		i32(g.m), i32(g.n), i32(g.k), i32(g.kLast), i32(g.batch), i32(bpz),
		f32(g.alpha), f32(g.beta), dp(g.bias), i32(g.biasMode))
	if g.reduce && z > 1 {
		b.launch(op, "gemm_sum_splits", b.ewGrid(g.m*g.n), d1(256), 0,
			dp(g.c), i32(g.ldc), dp(c), i32(g.m), i32(g.n), i32(z))
	}
}

// rowChunk splits a reduction over rows into equal chunks (the last may be
// shorter) so that a GEMM whose output is small still fills the device.
func rowChunk(rows int) int {
	const minChunk = 256
	if rows <= minChunk {
		return rows
	}
	return minChunk
}

// Linear computes y = x·wᵀ + b over the last dimension.
func (b *Backend) Linear(y, x, w, bias *engine.Tensor) {
	const op = "linear"
	if !b.ok(op, y, x, w, bias) {
		return
	}
	r, in := engine.Rows(x)
	ry, out := engine.Rows(y)
	if w.Rank() != 2 || w.Dim(0) != out || w.Dim(1) != in || ry != r || (bias != nil && bias.Len() != out) {
		b.fail(op, "shapes do not fit: %s", shapeStr(y, x, w, bias))
		return
	}
	g := gemmCall{transB: true, m: r, n: out, k: in, a: addr(x), lda: in, b: addr(w), ldb: in, c: addr(y), ldc: out,
		batch: 1, alpha: 1}
	if bias != nil {
		g.bias, g.biasMode = addr(bias), 2
	}
	b.gemm(op, g)
}

// LinearBackward computes dx = dy·w, dw = dyᵀ·x and db = Σ_rows dy.
func (b *Backend) LinearBackward(dx, dw, db, dy, x, w *engine.Tensor) {
	const op = "linear backward"
	if !b.ok(op, dx, dw, db, dy, x, w) {
		return
	}
	r, in := engine.Rows(x)
	ry, out := engine.Rows(dy)
	if w.Rank() != 2 || w.Dim(0) != out || w.Dim(1) != in || ry != r ||
		(db != nil && db.Len() != out) || (dx != nil && dx.Len() != x.Len()) || (dw != nil && dw.Len() != w.Len()) {
		b.fail(op, "shapes do not fit: %s", shapeStr(dx, dw, db, dy, x, w))
		return
	}
	if dx != nil {
		b.gemm(op, gemmCall{m: r, n: in, k: out, a: addr(dy), lda: out, b: addr(w), ldb: in, c: addr(dx), ldc: in,
			batch: 1, alpha: 1})
	}
	if dw != nil {
		// dw (out×in) = Σ over row chunks of dy_chunkᵀ · x_chunk.
		ch := rowChunk(r)
		nb := blocks(r, ch)
		if r == 0 {
			b.Fill(dw, 0)
		} else {
			b.gemm(op, gemmCall{transA: true, m: out, n: in, k: ch, a: addr(dy), lda: out, sA: ch * out,
				b: addr(x), ldb: in, sB: ch * in, c: addr(dw), ldc: in, batch: nb, kLast: r - (nb-1)*ch,
				reduce: true, alpha: 1})
		}
	}
	if db != nil {
		b.launch(op, "gemm_col_sum", d1(blocks(out, 32)), dim3{32, 8, 1}, 0, ptr(db), ptr(dy), i32(r), i32(out))
	}
}

// MatMul computes c = op(a)·op(b) for every leading (batch) index.
func (b *Backend) MatMul(c, x, y *engine.Tensor, transA, transB bool) {
	const op = "matmul"
	if !b.ok(op, c, x, y) {
		return
	}
	ra, rb, rc := x.Rank(), y.Rank(), c.Rank()
	xs, ys, cs := x.Shape(), y.Shape(), c.Shape()
	if ra < 2 || ra != rb || ra != rc || !engine.SameShape(xs[:ra-2], ys[:ra-2]) || !engine.SameShape(xs[:ra-2], cs[:ra-2]) {
		b.fail(op, "batch dimensions differ: %s", shapeStr(c, x, y))
		return
	}
	m, k := xs[ra-2], xs[ra-1]
	if transA {
		m, k = k, m
	}
	kb, n := ys[ra-2], ys[ra-1]
	if transB {
		kb, n = n, kb
	}
	if k != kb || cs[ra-2] != m || cs[ra-1] != n {
		b.fail(op, "inner dimensions do not fit (transA=%v transB=%v): %s", transA, transB, shapeStr(c, x, y))
		return
	}
	batch := engine.Numel(xs[:ra-2])
	if k == 0 {
		b.Fill(c, 0)
		return
	}
	b.gemm(op, gemmCall{transA: transA, transB: transB, m: m, n: n, k: k,
		a: addr(x), lda: xs[ra-1], sA: m * k, b: addr(y), ldb: ys[ra-1], sB: k * n,
		c: addr(c), ldc: n, sC: m * n, batch: batch, alpha: 1})
}
