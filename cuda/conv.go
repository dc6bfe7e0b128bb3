//go:build cuda

package cuda

import (
	"github.com/gotrain/gotrain/engine"
)

type convGeom struct {
	n, c, h, w int // input
	k, r, s    int // filters
	p, q       int // output
	prm        engine.Conv2dParams
	crs, pq    int
	direct     bool // 1x1, stride 1, no padding: the input is its own im2col
	batched    bool // small output: one GEMM over the whole batch
}

// batchedPQ: convolutions whose output has fewer pixels than this run as
// one GEMM over the whole batch, columns (C·R·S, N·P·Q), as the CPU engine
// does below the same size: per-image GEMMs of 7x7 or 4x4 outputs would
// fill a 64-wide tile to 77% or 25%, and the weight gradient's reduction
// would restart every 49 or 16 products.
var batchedPQ = 100

func (b *Backend) convGeom(op string, y, x, w, bias *engine.Tensor, p engine.Conv2dParams) (g convGeom, ok bool) {
	if x.Rank() != 4 || w.Rank() != 4 || y.Rank() != 4 {
		b.fail(op, "want 4-D x, w, y; got %s", shapeStr(y, x, w))
		return g, false
	}
	if p.StrideH < 1 || p.StrideW < 1 || p.PadH < 0 || p.PadW < 0 {
		b.fail(op, "bad stride/padding %+v", p)
		return g, false
	}
	xs, ws := x.Shape(), w.Shape()
	g = convGeom{n: xs[0], c: xs[1], h: xs[2], w: xs[3], k: ws[0], r: ws[2], s: ws[3], prm: p}
	g.p = engine.ConvOut(g.h, g.r, p.StrideH, p.PadH)
	g.q = engine.ConvOut(g.w, g.s, p.StrideW, p.PadW)
	if ws[1] != g.c || !engine.SameShape(y.Shape(), []int{g.n, g.k, g.p, g.q}) || g.p < 1 || g.q < 1 {
		b.fail(op, "shapes do not fit stride %d,%d padding %d,%d: %s", p.StrideH, p.StrideW, p.PadH, p.PadW, shapeStr(y, x, w))
		return g, false
	}
	if bias != nil && (bias.Rank() != 1 || bias.Dim(0) != g.k) {
		b.fail(op, "bias %s for %d filters", bias, g.k)
		return g, false
	}
	g.crs, g.pq = g.c*g.r*g.s, g.p*g.q
	g.direct = g.r == 1 && g.s == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0
	g.batched = g.pq < batchedPQ
	if int64(g.crs)*int64(g.pq) >= 1<<31 || int64(g.n)*int64(g.c*g.h*g.w) >= 1<<31 {
		b.fail(op, "too large for 32-bit indexing: %s", shapeStr(y, x, w))
		return g, false
	}
	if g.n > 65535 {
		b.fail(op, "batch %d over the 65535 blocks of a grid dimension: %s", g.n, shapeStr(y, x, w))
		return g, false
	}
	return g, true
}

// colLayout is where column element (n, crs, pq) lives: n·img + crs·ld + pq.
func (g *convGeom) colLayout() (img, ld int) {
	if g.batched {
		return g.pq, g.n * g.pq
	}
	return g.crs * g.pq, g.pq
}

// cols returns the im2col columns of x in the cols scratch buffer (per
// image (N, C·R·S, P·Q), or (C·R·S, N·P·Q) when batched), or x itself for
// a direct (1x1) per-image convolution.
func (b *Backend) cols(op string, x *engine.Tensor, g *convGeom) (uint64, bool) {
	if g.direct && !g.batched {
		return ptr(x), true
	}
	col, ok := b.scratchBuf(op, scratchCols, g.n*g.crs*g.pq)
	if !ok {
		return 0, false
	}
	img, ld := g.colLayout()
	args := []uint64{col, ptr(x), i32(g.n), i32(g.c), i32(g.h), i32(g.w), i32(g.r), i32(g.s), i32(g.p), i32(g.q),
		i32(g.prm.StrideH), i32(g.prm.StrideW), i32(g.prm.PadH), i32(g.prm.PadW), i32(img), i32(ld)}
	if g.pq >= planePixels {
		b.launch(op, "conv_im2col_plane", dim3{g.c, g.n, 1}, d1(min(256, (g.pq+31)/32*32)), 0, args...)
	} else {
		b.launch(op, "conv_im2col_flat", dim3{min(blocks(g.crs*g.pq, 256), 4*b.sms), g.n, 1}, d1(256), 0, args...)
	}
	return col, true
}

// planePixels: im2col and col2im give a block to each (channel, image)
// plane of at least this many pixels; smaller planes (the deep stages, the
// SE block's 1x1 convolutions) share blocks, which would otherwise idle.
const planePixels = 64

// col2im launches the gather of dcol (in g's column layout) into dx.
func (b *Backend) col2im(op string, dx *engine.Tensor, dcol uint64, g *convGeom) {
	img, ld := g.colLayout()
	args := []uint64{ptr(dx), dcol, i32(g.n), i32(g.c), i32(g.h), i32(g.w), i32(g.r), i32(g.s), i32(g.p), i32(g.q),
		i32(g.prm.StrideH), i32(g.prm.StrideW), i32(g.prm.PadH), i32(g.prm.PadW), i32(img), i32(ld)}
	if hw := g.h * g.w; hw >= planePixels {
		th, gx := rowLaunch(hw)
		b.launch(op, "conv_col2im", dim3{gx, g.c, g.n}, d1(th), 0, args...)
	} else {
		b.launch(op, "conv_col2im_flat", dim3{min(blocks(g.c*hw, 256), 4*b.sms), g.n, 1}, d1(256), 0, args...)
	}
}

// rowLaunch is the block size and x-grid of a kernel whose blocks each
// cover one row of n elements (im2col's column rows, col2im's planes).
func rowLaunch(n int) (threads, gx int) {
	threads = min(256, (n+31)/32*32)
	return threads, min(blocks(n, threads), 64)
}

// swap01 writes dst (B, A, L) = src (A, B, L) (+ bias[a]).
func (b *Backend) swap01(op string, dst, src uint64, a, bb, l int, bias uint64) {
	b.launch(op, "conv_swap01", b.ewGrid(a*bb*l), d1(256), 0, dst, src, i32(a), i32(bb), i32(l), bias)
}

// Conv2d is im2col and one GEMM per image: y_n (K, P·Q) = w (K, C·R·S) ·
// cols_n (C·R·S, P·Q) + b, all images in one launch.
func (b *Backend) Conv2d(y, x, w, bias *engine.Tensor, p engine.Conv2dParams) {
	const op = "conv2d"
	if !b.ok(op, y, x, w, bias) {
		return
	}
	g, ok := b.convGeom(op, y, x, w, bias, p)
	if !ok {
		return
	}
	col, ok := b.cols(op, x, &g)
	if !ok {
		return
	}
	if g.batched {
		// out (K, N·P·Q) = w · cols, then y (N, K, P·Q) = out swapped + b.
		out, ok := b.scratchBuf(op, scratchConvOut, g.k*g.n*g.pq)
		if !ok {
			return
		}
		np := g.n * g.pq
		b.gemm(op, gemmCall{m: g.k, n: np, k: g.crs, a: ptr(w), lda: g.crs, b: col, ldb: np, c: out, ldc: np,
			batch: 1, alpha: 1})
		b.swap01(op, ptr(y), out, g.k, g.n, g.pq, ptr(bias))
		return
	}
	call := gemmCall{m: g.k, n: g.pq, k: g.crs, a: ptr(w), lda: g.crs, b: col, ldb: g.pq, sB: g.crs * g.pq,
		c: ptr(y), ldc: g.pq, sC: g.k * g.pq, batch: g.n, alpha: 1}
	if bias != nil {
		call.bias, call.biasMode = ptr(bias), 1
	}
	b.gemm(op, call)
}

// Conv2dBackward: dw = Σ_n dy_n · cols_nᵀ (split over images, partial sums
// added in order), dcols_n = wᵀ · dy_n then col2im (or straight into dx
// for a 1x1 convolution), db = Σ dy per filter.
func (b *Backend) Conv2dBackward(dx, dw, db, dy, x, w *engine.Tensor, p engine.Conv2dParams) {
	const op = "conv2d backward"
	if !b.ok(op, dx, dw, db, dy, x, w) {
		return
	}
	g, ok := b.convGeom(op, dy, x, w, db, p)
	if !ok {
		return
	}
	if (dx != nil && !engine.SameShape(dx.Shape(), x.Shape())) || (dw != nil && !engine.SameShape(dw.Shape(), w.Shape())) {
		b.fail(op, "gradient shapes do not fit: %s", shapeStr(dx, dw, db, dy, x, w))
		return
	}
	if db != nil {
		b.launch(op, "conv_bias_grad", d1(g.k), d1(256), 0, ptr(db), ptr(dy), i32(g.n), i32(g.k), i32(g.pq))
	}
	if g.batched {
		b.conv2dBackwardBatched(op, dx, dw, dy, x, w, &g)
		return
	}
	if dw != nil {
		col, ok := b.cols(op, x, &g)
		if !ok {
			return
		}
		b.gemm(op, gemmCall{transB: true, m: g.k, n: g.crs, k: g.pq, a: ptr(dy), lda: g.pq, sA: g.k * g.pq,
			b: col, ldb: g.pq, sB: g.crs * g.pq, c: ptr(dw), ldc: g.crs, batch: g.n, reduce: true, alpha: 1})
	}
	if dx == nil {
		return
	}
	if g.direct {
		b.gemm(op, gemmCall{transA: true, m: g.crs, n: g.pq, k: g.k, a: ptr(w), lda: g.crs, b: ptr(dy), ldb: g.pq,
			sB: g.k * g.pq, c: ptr(dx), ldc: g.pq, sC: g.crs * g.pq, batch: g.n, alpha: 1})
		return
	}
	// The columns buffer is free again: the dw GEMM queued before reads it
	// first (one stream).
	dcol, ok := b.scratchBuf(op, scratchCols, g.n*g.crs*g.pq)
	if !ok {
		return
	}
	b.gemm(op, gemmCall{transA: true, m: g.crs, n: g.pq, k: g.k, a: ptr(w), lda: g.crs, b: ptr(dy), ldb: g.pq,
		sB: g.k * g.pq, c: dcol, ldc: g.pq, sC: g.crs * g.pq, batch: g.n, alpha: 1})
	b.col2im(op, dx, dcol, &g)
}

// conv2dBackwardBatched is Conv2dBackward on batched columns: dyT (K, N·P·Q)
// = dy swapped; dw = dyT · colsᵀ, a reduction over N·P·Q split into chunks
// whose partial sums add in order; dcols (C·R·S, N·P·Q) = wᵀ · dyT, then
// col2im.
func (b *Backend) conv2dBackwardBatched(op string, dx, dw, dy, x, w *engine.Tensor, g *convGeom) {
	np := g.n * g.pq
	dyT, ok := b.scratchBuf(op, scratchConvOut, g.k*np)
	if !ok {
		return
	}
	b.swap01(op, dyT, ptr(dy), g.n, g.k, g.pq, 0)
	if dw != nil {
		col, ok := b.cols(op, x, g)
		if !ok {
			return
		}
		ch := rowChunk(np)
		nb := blocks(np, ch)
		b.gemm(op, gemmCall{transB: true, m: g.k, n: g.crs, k: ch, a: dyT, lda: np, sA: ch,
			b: col, ldb: np, sB: ch, c: ptr(dw), ldc: g.crs, batch: nb, kLast: np - (nb-1)*ch, reduce: true, alpha: 1})
	}
	if dx == nil {
		return
	}
	dcol, ok := b.scratchBuf(op, scratchCols, g.n*g.crs*g.pq)
	if !ok {
		return
	}
	b.gemm(op, gemmCall{transA: true, m: g.crs, n: np, k: g.k, a: ptr(w), lda: g.crs, b: dyT, ldb: np,
		c: dcol, ldc: np, batch: 1, alpha: 1})
	b.col2im(op, dx, dcol, g)
}
