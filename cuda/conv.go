//go:build cuda || cgo

package cuda

import (
	"github.com/gotrain/gotrain/engine"
)

// convGeom is a convolution's geometry (engine.ConvGeometry) and its
// column layout on the GPU.
type convGeom struct {
	engine.ConvGeom
	batched bool // small output: one GEMM over the whole batch
}

// defaultBatchedPQ: convolutions whose output has fewer pixels than this
// run as one GEMM over the whole batch, columns (C·R·S, N·P·Q), as the CPU
// engine does below the same size: per-image GEMMs of 7x7 or 4x4 outputs
// would fill a 64-wide tile to 77% or 25%, and the weight gradient's
// reduction would restart every 49 or 16 products.
const defaultBatchedPQ = 100

// SetConvBatchedBelow sets the output size (pixels) below which a
// convolution runs as one GEMM over the batch (default 100; 0: never, a
// huge value: always) and returns the previous one. Tests use it to run
// both column layouts.
func (b *Backend) SetConvBatchedBelow(pq int) int {
	old := b.batchedPQ
	b.batchedPQ = pq
	return old
}

func (b *Backend) convGeom(op string, y, x, w, bias *engine.Tensor, p engine.Conv2dParams) (g convGeom, ok bool) {
	cg, err := engine.ConvGeometry(y, x, w, bias, p)
	if !b.check(op, err) {
		return g, false
	}
	g = convGeom{ConvGeom: cg, batched: cg.PQ < b.batchedPQ}
	if int64(g.CRS)*int64(g.PQ) >= 1<<31 || int64(g.N)*int64(g.C*g.H*g.W) >= 1<<31 {
		b.fail(op, "too large for 32-bit indexing: %s", shapeStr(y, x, w))
		return g, false
	}
	if g.N > 65535 {
		b.fail(op, "batch %d over the 65535 blocks of a grid dimension: %s", g.N, shapeStr(y, x, w))
		return g, false
	}
	return g, true
}

// colLayout is where column element (n, crs, pq) lives: n·img + crs·ld + pq.
func (g *convGeom) colLayout() (img, ld int) {
	if g.batched {
		return g.PQ, g.N * g.PQ
	}
	return g.CRS * g.PQ, g.PQ
}

// cols returns the im2col columns of x in the cols scratch buffer (per
// image (N, C·R·S, P·Q), or (C·R·S, N·P·Q) when batched), or x itself for
// a direct (1x1) per-image convolution.
func (b *Backend) cols(op string, x *engine.Tensor, g *convGeom) (devptr, bool) {
	if g.Direct && !g.batched {
		return addr(x), true
	}
	col, ok := b.scratchBuf(op, scratchCols, g.N*g.CRS*g.PQ)
	if !ok {
		return 0, false
	}
	img, ld := g.colLayout()
	args := []arg{dp(col), ptr(x), i32(g.N), i32(g.C), i32(g.H), i32(g.W), i32(g.R), i32(g.S), i32(g.P), i32(g.Q),
		i32(g.Params.StrideH), i32(g.Params.StrideW), i32(g.Params.PadH), i32(g.Params.PadW), i32(img), i32(ld)}
	if g.PQ >= planePixels {
		b.launch(op, "conv_im2col_plane", dim3{g.C, g.N, 1}, d1(min(256, (g.PQ+31)/32*32)), 0, args...)
	} else {
		b.launch(op, "conv_im2col_flat", dim3{min(blocks(g.CRS*g.PQ, 256), 4*b.sms), g.N, 1}, d1(256), 0, args...)
	}
	return col, true
}

// planePixels: im2col and col2im give a block to each (channel, image)
// plane of at least this many pixels; smaller planes (the deep stages, the
// SE block's 1x1 convolutions) share blocks, which would otherwise idle.
const planePixels = 64

// col2im launches the gather of dcol (in g's column layout) into dx.
func (b *Backend) col2im(op string, dx *engine.Tensor, dcol devptr, g *convGeom) {
	img, ld := g.colLayout()
	args := []arg{ptr(dx), dp(dcol), i32(g.N), i32(g.C), i32(g.H), i32(g.W), i32(g.R), i32(g.S), i32(g.P), i32(g.Q),
		i32(g.Params.StrideH), i32(g.Params.StrideW), i32(g.Params.PadH), i32(g.Params.PadW), i32(img), i32(ld)}
	if hw := g.H * g.W; hw >= planePixels {
		th, gx := rowLaunch(hw)
		b.launch(op, "conv_col2im", dim3{gx, g.C, g.N}, d1(th), 0, args...)
	} else {
		b.launch(op, "conv_col2im_flat", dim3{min(blocks(g.C*hw, 256), 4*b.sms), g.N, 1}, d1(256), 0, args...)
	}
}

// rowLaunch is the block size and x-grid of a kernel whose blocks each
// cover one row of n elements (im2col's column rows, col2im's planes).
func rowLaunch(n int) (threads, gx int) {
	threads = min(256, (n+31)/32*32)
	return threads, min(blocks(n, threads), 64)
}

// swap01 writes dst (B, A, L) = src (A, B, L) (+ bias[a]).
func (b *Backend) swap01(op string, dst, src devptr, a, bb, l int, bias devptr) {
	b.launch(op, "conv_swap01", b.ewGrid(a*bb*l), d1(256), 0, dp(dst), dp(src), i32(a), i32(bb), i32(l), dp(bias))
}

// convInput checks a convolution's input x (or the forward's output y):
// float32, or BFloat16 at precision bf16 only (the bf16x implicit GEMMs
// read such an x, the bf16y and bf16xy forwards write such a y; at fp32
// and tf32 a BFloat16 tensor is an error naming it). It reports whether x
// is BFloat16.
func (b *Backend) convInput(op string, x *engine.Tensor) (bf16, ok bool) {
	if x == nil || x.DType() != engine.BFloat16 {
		return false, b.ok(op, x)
	}
	if b.err == nil && b.prec != engine.BF16 {
		b.fail(op, "tensor %s needs -precision bf16 (the precision is %v)", x, b.prec)
		return true, false
	}
	return true, b.okAs(op, engine.BFloat16, x)
}

// Conv2d is im2col and one GEMM per image: y_n (K, P·Q) = w (K, C·R·S) ·
// cols_n (C·R·S, P·Q) + b, all images in one launch; or an implicit GEMM
// (conv_igemm.go), always for a BFloat16 x or y.
func (b *Backend) Conv2d(y, x, w, bias *engine.Tensor, p engine.Conv2dParams) {
	const op = "conv2d"
	bf16x, ok := b.convInput(op, x)
	if !ok {
		return
	}
	bf16y, ok := b.convInput(op, y) // the same rule for the output
	if !ok || !b.ok(op, w, bias) {
		return
	}
	g, ok := b.convGeom(op, y, x, w, bias, p)
	if !ok {
		return
	}
	if ig, large := b.igemmFor(opConvFwd, blocks(g.K, 128)*blocks(g.N*g.PQ, 64), bf16x || bf16y); ig {
		b.igemmFwd(op, y, x, w, bias, &g, large)
		return
	}
	col, ok := b.cols(op, x, &g)
	if !ok {
		return
	}
	if g.batched {
		// out (K, N·P·Q) = w · cols, then y (N, K, P·Q) = out swapped + b.
		out, ok := b.scratchBuf(op, scratchConvOut, g.K*g.N*g.PQ)
		if !ok {
			return
		}
		np := g.N * g.PQ
		b.gemm(op, gemmCall{m: g.K, n: np, k: g.CRS, a: addr(w), lda: g.CRS, b: col, ldb: np, c: out, ldc: np,
			batch: 1, alpha: 1})
		b.swap01(op, addr(y), out, g.K, g.N, g.PQ, addr(bias))
		return
	}
	call := gemmCall{m: g.K, n: g.PQ, k: g.CRS, a: addr(w), lda: g.CRS, b: col, ldb: g.PQ, sB: g.CRS * g.PQ,
		c: addr(y), ldc: g.PQ, sC: g.K * g.PQ, batch: g.N, alpha: 1}
	if bias != nil {
		call.bias, call.biasMode = addr(bias), 1
	}
	b.gemm(op, call)
}

// Conv2dBackward: dw = Σ_n dy_n · cols_nᵀ (split over images, partial sums
// added in order), dcols_n = wᵀ · dy_n then col2im (or straight into dx
// for a 1x1 convolution), db = Σ dy per filter. A BFloat16 x (precision
// bf16 only) takes the implicit GEMM for dw; dx does not read x.
func (b *Backend) Conv2dBackward(dx, dw, db, dy, x, w *engine.Tensor, p engine.Conv2dParams) {
	const op = "conv2d backward"
	bf16x, ok := b.convInput(op, x)
	if !ok || !b.ok(op, dx, dw, db, dy, w) {
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
		b.launch(op, "conv_bias_grad", d1(g.K), d1(256), 0, ptr(db), ptr(dy), i32(g.N), i32(g.K), i32(g.PQ))
	}
	// Tensor-core precisions: implicit GEMMs where the variant table says
	// so; what remains runs im2col and the GEMM.
	if dw != nil {
		if ig, large := b.igemmFor(opConvWgrad, blocks(g.K, 128)*blocks(g.CRS, 64), bf16x); ig {
			b.igemmWgrad(op, dw, dy, x, &g, large)
			dw = nil
		}
	}
	if dx != nil {
		if ig, large := b.useIGemm(opConvDgrad, blocks(g.C, 128)*blocks(g.N*g.H*g.W, 64)); ig {
			b.igemmDgrad(op, dx, dy, w, &g, large)
			dx = nil
		}
	}
	if dx == nil && dw == nil {
		return
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
		b.gemm(op, gemmCall{transB: true, m: g.K, n: g.CRS, k: g.PQ, a: addr(dy), lda: g.PQ, sA: g.K * g.PQ,
			b: col, ldb: g.PQ, sB: g.CRS * g.PQ, c: addr(dw), ldc: g.CRS, batch: g.N, reduce: true, alpha: 1})
	}
	if dx == nil {
		return
	}
	if g.Direct {
		b.gemm(op, gemmCall{transA: true, m: g.CRS, n: g.PQ, k: g.K, a: addr(w), lda: g.CRS, b: addr(dy), ldb: g.PQ,
			sB: g.K * g.PQ, c: addr(dx), ldc: g.PQ, sC: g.CRS * g.PQ, batch: g.N, alpha: 1})
		return
	}
	// The columns buffer is free again: the dw GEMM queued before reads it
	// first (one stream).
	dcol, ok := b.scratchBuf(op, scratchCols, g.N*g.CRS*g.PQ)
	if !ok {
		return
	}
	b.gemm(op, gemmCall{transA: true, m: g.CRS, n: g.PQ, k: g.K, a: addr(w), lda: g.CRS, b: addr(dy), ldb: g.PQ,
		sB: g.K * g.PQ, c: dcol, ldc: g.PQ, sC: g.CRS * g.PQ, batch: g.N, alpha: 1})
	b.col2im(op, dx, dcol, &g)
}

// conv2dBackwardBatched is Conv2dBackward on batched columns: dyT (K, N·P·Q)
// = dy swapped; dw = dyT · colsᵀ, a reduction over N·P·Q split into chunks
// whose partial sums add in order; dcols (C·R·S, N·P·Q) = wᵀ · dyT, then
// col2im.
func (b *Backend) conv2dBackwardBatched(op string, dx, dw, dy, x, w *engine.Tensor, g *convGeom) {
	np := g.N * g.PQ
	dyT, ok := b.scratchBuf(op, scratchConvOut, g.K*np)
	if !ok {
		return
	}
	b.swap01(op, dyT, addr(dy), g.N, g.K, g.PQ, 0)
	if dw != nil {
		col, ok := b.cols(op, x, g)
		if !ok {
			return
		}
		ch := rowChunk(np)
		nb := blocks(np, ch)
		b.gemm(op, gemmCall{transB: true, m: g.K, n: g.CRS, k: ch, a: dyT, lda: np, sA: ch,
			b: col, ldb: np, sB: ch, c: addr(dw), ldc: g.CRS, batch: nb, kLast: np - (nb-1)*ch, reduce: true, alpha: 1})
	}
	if dx == nil {
		return
	}
	dcol, ok := b.scratchBuf(op, scratchCols, g.N*g.CRS*g.PQ)
	if !ok {
		return
	}
	b.gemm(op, gemmCall{transA: true, m: g.CRS, n: np, k: g.K, a: addr(w), lda: g.CRS, b: dyT, ldb: np,
		c: dcol, ldc: np, batch: 1, alpha: 1})
	b.col2im(op, dx, dcol, g)
}
