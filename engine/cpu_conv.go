package engine

import "github.com/gotrain/gotrain/engine/gemm"

// convChunks is the number of image chunks a convolution is split into: a
// property of the batch only, so the weight-gradient partial sums (one per
// chunk, added in chunk order) do not depend on the core count.
func convChunk(n int) int {
	const maxChunks = 16
	return (n + maxChunks - 1) / maxChunks
}

// convGeom is a convolution's geometry on the CPU.
type convGeom struct {
	ConvGeom
	tab []int32 // im2col's offset table (colTable), or nil
}

func (c *CPU) convGeom(op string, y, x, w, b *Tensor, p Conv2dParams) (g convGeom, ok bool) {
	cg, err := ConvGeometry(y, x, w, b, p)
	return convGeom{ConvGeom: cg}, c.check(op, err)
}

// validRange returns the output columns [lo, hi) whose input column
// iw0 + oq·sw lies in [0, w): the columns that read the image rather than
// its zero padding.
func validRange(iw0, sw, w, q int) (lo, hi int) {
	if iw0 < 0 {
		lo = (-iw0 + sw - 1) / sw
	}
	hi = q
	if last := iw0 + (q-1)*sw; last >= w {
		hi = (w - iw0 + sw - 1) / sw
	}
	return min(lo, q), max(min(hi, q), min(lo, q))
}

// im2col writes one image x (C,H,W) as columns (C·R·S, P·Q) of a matrix
// whose rows are ld apart, starting at column col0. Each output row is a
// zero prefix, the image columns it reads (one copy when the stride is 1)
// and a zero suffix.
func im2col(cols, x []float32, g *convGeom, ld, col0 int) {
	if g.Direct {
		// 1x1, stride 1, no padding: each row is one channel plane.
		copyBlocks(cols[col0:], ld, x, g.PQ, g.C, g.PQ)
		return
	}
	if g.shifted() {
		im2colShifted(cols, x, g, ld, col0)
		return
	}
	if g.tab != nil {
		im2colTable(cols, x, g, ld, col0, 1, 0, g.C)
		return
	}
	im2colRows(cols, x, g, ld, col0)
}

// im2colRows is im2col output row by output row, for any geometry.
func im2colRows(cols, x []float32, g *convGeom, ld, col0 int) {
	sh, sw, ph, pw := g.Params.StrideH, g.Params.StrideW, g.Params.PadH, g.Params.PadW
	row := 0
	for ch := 0; ch < g.C; ch++ {
		plane := x[ch*g.H*g.W : (ch+1)*g.H*g.W]
		for kr := 0; kr < g.R; kr++ {
			for ks := 0; ks < g.S; ks++ {
				dst := cols[row*ld+col0 : row*ld+col0+g.PQ]
				row++
				iw0 := ks - pw
				lo, hi := validRange(iw0, sw, g.W, g.Q)
				for op := 0; op < g.P; op++ {
					d := dst[op*g.Q : (op+1)*g.Q]
					ih := op*sh - ph + kr
					if ih < 0 || ih >= g.H {
						clear(d)
						continue
					}
					src := plane[ih*g.W : (ih+1)*g.W]
					for i := range d[:lo] {
						d[i] = 0
					}
					if sw == 1 {
						copy(d[lo:hi], src[iw0+lo:])
					} else {
						iw := iw0 + lo*sw
						for i := lo; i < hi; i++ {
							d[i] = src[iw]
							iw += sw
						}
					}
					for i := range d[hi:] {
						d[hi+i] = 0
					}
				}
			}
		}
	}
}

// shifted reports whether both strides are 1 and the output rows are as
// long as the input rows (Q == W, e.g. a 3x3 conv padded by 1). Then each
// row of the columns, (c, r, s), is the image plane c shifted by a fixed
// offset, with the positions that read padding set to zero, so it can be
// moved as one run instead of P runs of Q.
func (g *convGeom) shifted() bool {
	return g.Params.StrideH == 1 && g.Params.StrideW == 1 && g.Q == g.W
}

// shiftedRun returns, for kernel position (kr, ks) of a shifted geometry,
// the output rows [op0, op1) that read image rows, the columns [lo, hi)
// of each output row that read image columns, and the offset from a
// column index op·Q+j to the plane index it reads.
func shiftedRun(g *convGeom, kr, ks int) (op0, op1, lo, hi, shift int) {
	ph, pw := g.Params.PadH, g.Params.PadW
	op0 = min(max(ph-kr, 0), g.P)
	op1 = max(min(g.H+ph-kr, g.P), op0)
	iw0 := ks - pw
	lo, hi = validRange(iw0, 1, g.W, g.Q)
	return op0, op1, lo, hi, (kr-ph)*g.W + iw0
}

// im2colShifted is im2col for a shifted geometry: per columns row one copy
// of the valid run, then zeros where the run wrapped across image rows and
// where the rows read padding.
func im2colShifted(cols, x []float32, g *convGeom, ld, col0 int) {
	hw, q := g.H*g.W, g.Q
	row := 0
	for ch := 0; ch < g.C; ch++ {
		plane := x[ch*hw : (ch+1)*hw]
		for kr := 0; kr < g.R; kr++ {
			for ks := 0; ks < g.S; ks++ {
				dst := cols[row*ld+col0 : row*ld+col0+g.PQ]
				row++
				op0, op1, lo, hi, shift := shiftedRun(g, kr, ks)
				clear(dst[:op0*q])
				clear(dst[op1*q:])
				if lo >= hi {
					clear(dst[op0*q : op1*q])
					continue
				}
				if op0 == op1 {
					continue
				}
				a, e := op0*q+lo, (op1-1)*q+hi
				copy(dst[a:e], plane[a+shift:e+shift])
				zeroEdges(dst, op0, op1, q, lo, hi)
			}
		}
	}
}

// zeroEdges zeroes columns [0, lo) and [hi, q) of rows [op0, op1) of m
// (rows q long). The edges are a column or two wide, too short for clear.
func zeroEdges(m []float32, op0, op1, q, lo, hi int) {
	if lo == 0 && hi == q {
		return
	}
	m = m[op0*q : op1*q]
	for r := 0; r+q <= len(m); r += q {
		d := m[r : r+q : r+q]
		for i := range d[:lo] {
			d[i] = 0
		}
		for i := range d[hi:] {
			d[hi+i] = 0
		}
	}
}

// col2imShifted is col2im for a shifted geometry: per columns row it zeroes
// the entries that read padding (so cols is overwritten there) and adds the
// run between the first and last valid entry to the plane in one pass. The
// zeroed entries land on other plane elements; adding +0 leaves every
// element unchanged, since a sum that starts from +0 is never -0.
func col2imShifted(dx, cols []float32, g *convGeom, ld, col0 int) {
	hw, q := g.H*g.W, g.Q
	row := 0
	for ch := 0; ch < g.C; ch++ {
		plane := dx[ch*hw : (ch+1)*hw]
		for kr := 0; kr < g.R; kr++ {
			for ks := 0; ks < g.S; ks++ {
				src := cols[row*ld+col0 : row*ld+col0+g.PQ]
				row++
				op0, op1, lo, hi, shift := shiftedRun(g, kr, ks)
				if lo >= hi || op0 == op1 {
					continue
				}
				zeroEdges(src, op0, op1, q, lo, hi)
				a, e := op0*q+lo, (op1-1)*q+hi
				d := plane[a+shift : e+shift]
				addRun(d, d, src[a:e])
			}
		}
	}
}

// col2im adds columns (C·R·S, P·Q) (rows ld apart, from column col0) back
// into one image dx (C,H,W), which must be zeroed first. It may overwrite
// cols.
func col2im(dx, cols []float32, g *convGeom, ld, col0 int) {
	if g.Direct {
		for ch := 0; ch < g.C; ch++ {
			d := dx[ch*g.PQ : (ch+1)*g.PQ]
			addRun(d, d, cols[ch*ld+col0:ch*ld+col0+g.PQ])
		}
		return
	}
	if g.shifted() {
		col2imShifted(dx, cols, g, ld, col0)
		return
	}
	if g.tab != nil {
		col2imTable(dx, cols, g, ld, col0, 1, 0, g.C)
		return
	}
	col2imRows(dx, cols, g, ld, col0)
}

// col2imRows is col2im output row by output row, for any geometry; it
// leaves cols as it is.
func col2imRows(dx, cols []float32, g *convGeom, ld, col0 int) {
	sh, sw, ph, pw := g.Params.StrideH, g.Params.StrideW, g.Params.PadH, g.Params.PadW
	row := 0
	for ch := 0; ch < g.C; ch++ {
		plane := dx[ch*g.H*g.W : (ch+1)*g.H*g.W]
		for kr := 0; kr < g.R; kr++ {
			for ks := 0; ks < g.S; ks++ {
				src := cols[row*ld+col0 : row*ld+col0+g.PQ]
				row++
				iw0 := ks - pw
				lo, hi := validRange(iw0, sw, g.W, g.Q)
				if lo >= hi {
					continue
				}
				for op := 0; op < g.P; op++ {
					ih := op*sh - ph + kr
					if ih < 0 || ih >= g.H {
						continue
					}
					s := src[op*g.Q+lo : op*g.Q+hi]
					if sw == 1 {
						d := plane[ih*g.W+iw0+lo : ih*g.W+iw0+hi]
						d = d[:len(s)]
						for i, v := range s {
							d[i] += v
						}
						continue
					}
					d := plane[ih*g.W : (ih+1)*g.W]
					iw := iw0 + lo*sw
					for _, v := range s {
						d[iw] += v
						iw += sw
					}
				}
			}
		}
	}
}

// Conv2d is im2col per image and a GEMM: y_n (K, P·Q) = w (K, C·R·S) ·
// cols_n (C·R·S, P·Q), plus the bias.
func (c *CPU) Conv2d(y, x, w, b *Tensor, p Conv2dParams) {
	const op = "conv2d"
	if !c.ok(op, y, x, w, b) {
		return
	}
	g, ok := c.convGeom(op, y, x, w, b, p)
	if !ok {
		return
	}
	xs, ws, ys := F32(x), F32(w), F32(y)
	var bs []float32
	if b != nil {
		bs = F32(b)
	}
	if g.N == 0 {
		return
	}
	c.conv2d(ys, xs, ws, bs, &g)
}

// conv2d runs the forward convolution g on the path its shape picks.
func (c *CPU) conv2d(ys, xs, ws, bs []float32, gp *convGeom) {
	g := *gp
	if g.subsampled() {
		sub := c.subScratch(g.N * g.C * g.PQ)
		c.subsample(sub, xs, &g)
		sg := g.subGeom()
		c.conv2d(ys, sub, ws, bs, &sg)
		return
	}
	if g.dense() && winoMode != winoForce {
		c.conv2dDense(ys, xs, ws, bs, &g)
		return
	}
	if al := c.winogradFor(&g); al != nil {
		c.conv2dWinograd(al, ys, xs, ws, bs, &g)
		return
	}
	c.colTable(&g)
	if g.batched() {
		c.conv2dBatched(ys, xs, ws, bs, &g)
		return
	}
	grain := convChunk(g.N)
	nch := chunks(g.N, grain)
	colSize := 0
	if !g.Direct {
		colSize = g.CRS * g.PQ
	}
	scratch := c.scratchF32(nch * colSize)
	c.w.For(g.N, grain, func(lo, hi int) {
		cols := scratch[lo/grain*colSize : (lo/grain+1)*colSize]
		for n := lo; n < hi; n++ {
			xn := xs[n*g.C*g.H*g.W : (n+1)*g.C*g.H*g.W]
			yn := ys[n*g.K*g.PQ : (n+1)*g.K*g.PQ]
			src := xn
			if !g.Direct {
				im2col(cols, xn, &g, g.PQ, 0)
				src = cols
			}
			gemm.SgemmSerial(false, false, g.K, g.PQ, g.CRS, 1, ws, g.CRS, src, g.PQ, 0, yn, g.PQ)
			if bs != nil {
				for k := 0; k < g.K; k++ {
					bk := bs[k]
					row := yn[k*g.PQ : (k+1)*g.PQ]
					for i := range row {
						row[i] += bk
					}
				}
			}
		}
	})
}

// Conv2dBackward computes dx = col2im(wᵀ·dy_n), dw = Σ_n dy_n·cols_nᵀ (per
// chunk of images, then the chunks summed in order) and db = Σ dy.
func (c *CPU) Conv2dBackward(dx, dw, db, dy, x, w *Tensor, p Conv2dParams) {
	const op = "conv2d backward"
	if !c.ok(op, dx, dw, db, dy, x, w) {
		return
	}
	g, ok := c.convGeom(op, dy, x, w, db, p)
	if !ok {
		return
	}
	if (dx != nil && !SameShape(dx.shape, x.shape)) || (dw != nil && !SameShape(dw.shape, w.shape)) {
		c.fail(op, "gradient shapes differ from their tensors: %s", shapeStr(dx, x, dw, w))
		return
	}
	xs, ws, dys := F32(x), F32(w), F32(dy)
	if g.N == 0 {
		// An empty batch: no input gradient, zero weight and bias gradients.
		if dw != nil {
			clear(F32(dw))
		}
		if db != nil {
			clear(F32(db))
		}
		return
	}
	var dxs, dws []float32
	if dx != nil {
		dxs = F32(dx)
	}
	if dw != nil {
		dws = F32(dw)
	}
	c.conv2dBackward(dxs, dws, dys, xs, ws, &g)
	if db != nil {
		dbs := F32(db)
		c.w.For(g.K, 1, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				var s float64
				for n := 0; n < g.N; n++ {
					for _, v := range dys[(n*g.K+k)*g.PQ : (n*g.K+k+1)*g.PQ] {
						s += float64(v)
					}
				}
				dbs[k] = float32(s)
			}
		})
	}
}

// conv2dBackward runs the backward convolution g (dxs or dws may be nil)
// on the path its shape picks.
func (c *CPU) conv2dBackward(dxs, dws, dys, xs, ws []float32, gp *convGeom) {
	g := *gp
	if g.subsampled() {
		n := g.N * g.C * g.PQ
		sub := c.subScratch(2 * n)
		xsub, dxsub := sub[:n], sub[n:]
		if dws != nil {
			c.subsample(xsub, xs, &g)
		}
		if dxs == nil {
			dxsub = nil
		}
		sg := g.subGeom()
		c.conv2dBackward(dxsub, dws, dys, xsub, ws, &sg)
		if dxs != nil {
			c.unsubsample(dxs, dxsub, &g)
		}
		return
	}
	if g.dense() && winoMode != winoForce {
		c.conv2dBackwardDense(dxs, dws, dys, xs, ws, &g)
		return
	}
	if al := c.winogradFor(&g); al != nil {
		c.conv2dBackwardWinograd(al, dxs, dws, dys, xs, ws, &g)
		return
	}
	c.colTable(&g)
	if g.batched() {
		c.conv2dBackwardBatched(dxs, dws, dys, xs, ws, &g)
		return
	}
	c.conv2dBackwardPerImage(dxs, dws, dys, xs, ws, &g)
}

// conv2dBackwardPerImage is the backward pass for large images: per-image
// GEMMs, the weight gradient summed per chunk of images and then over the
// chunks in order.
func (c *CPU) conv2dBackwardPerImage(dxs, dws, dys, xs, ws []float32, gp *convGeom) {
	g := *gp
	grain := convChunk(g.N)
	nch := chunks(g.N, grain)
	colSize := g.CRS * g.PQ
	wsize := g.K * g.CRS
	per := wsize
	if !g.Direct {
		per += colSize
	}
	// wT (C·R·S, K) = wᵀ, transposed once so that every image's input
	// gradient reads it in place instead of repacking w.
	wTSize := 0
	if dxs != nil {
		wTSize = g.CRS * g.K
	}
	all := c.scratchF32(nch*per + wTSize)
	scratch, wT := all[:nch*per], all[nch*per:]
	if dxs != nil {
		transpose(wT, ws, g.K, g.CRS)
	}
	c.w.For(g.N, grain, func(lo, hi int) {
		buf := scratch[lo/grain*per : (lo/grain+1)*per]
		part, cols := buf[:wsize], buf[wsize:]
		for n := lo; n < hi; n++ {
			xn := xs[n*g.C*g.H*g.W : (n+1)*g.C*g.H*g.W]
			dyn := dys[n*g.K*g.PQ : (n+1)*g.K*g.PQ]
			if dws != nil {
				src := xn
				if !g.Direct {
					im2col(cols, xn, &g, g.PQ, 0)
					src = cols
				}
				beta := float32(1)
				if n == lo {
					beta = 0
				}
				gemm.SgemmSerial(false, true, g.K, g.CRS, g.PQ, 1, dyn, g.PQ, src, g.PQ, beta, part, g.CRS)
			}
			if dxs != nil {
				dxn := dxs[n*g.C*g.H*g.W : (n+1)*g.C*g.H*g.W]
				if g.Direct {
					gemm.SgemmSerial(false, false, g.CRS, g.PQ, g.K, 1, wT, g.K, dyn, g.PQ, 0, dxn, g.PQ)
				} else {
					gemm.SgemmSerial(false, false, g.CRS, g.PQ, g.K, 1, wT, g.K, dyn, g.PQ, 0, cols, g.PQ)
					clear(dxn)
					col2im(dxn, cols, &g, g.PQ, 0)
				}
			}
		}
	})
	if dws != nil {
		c.w.For(wsize, ewGrain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				s := scratch[i]
				for ch := 1; ch < nch; ch++ {
					s += scratch[ch*per+i]
				}
				dws[i] = s
			}
		})
	}
}

// Linear computes y = x·wᵀ + b over the last dimension.
func (c *CPU) Linear(y, x, w, b *Tensor) {
	const op = "linear"
	if !c.ok(op, y, x, w, b) {
		return
	}
	r, in := Rows(x)
	ry, out := Rows(y)
	if w.Rank() != 2 || w.shape[0] != out || w.shape[1] != in || ry != r || (b != nil && b.Len() != out) {
		c.fail(op, "shapes do not fit: %s", shapeStr(y, x, w, b))
		return
	}
	ys := F32(y)
	gemm.Sgemm(false, true, r, out, in, 1, F32(x), in, F32(w), in, 0, ys, out)
	if b != nil {
		bs := F32(b)
		c.w.For(r, grainFor(out, ewGrain), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row := ys[i*out : (i+1)*out]
				for j := range row {
					row[j] += bs[j]
				}
			}
		})
	}
}

// LinearBackward computes dx = dy·w, dw = dyᵀ·x and db = Σ_rows dy.
func (c *CPU) LinearBackward(dx, dw, db, dy, x, w *Tensor) {
	const op = "linear backward"
	if !c.ok(op, dx, dw, db, dy, x, w) {
		return
	}
	r, in := Rows(x)
	ry, out := Rows(dy)
	if w.Rank() != 2 || w.shape[0] != out || w.shape[1] != in || ry != r ||
		(db != nil && db.Len() != out) || (dx != nil && dx.Len() != x.Len()) || (dw != nil && dw.Len() != w.Len()) {
		c.fail(op, "shapes do not fit: %s", shapeStr(dx, dw, db, dy, x, w))
		return
	}
	dys := F32(dy)
	if dx != nil {
		gemm.Sgemm(false, false, r, in, out, 1, dys, out, F32(w), in, 0, F32(dx), in)
	}
	if dw != nil {
		gemm.Sgemm(true, false, out, in, r, 1, dys, out, F32(x), in, 0, F32(dw), in)
	}
	if db != nil {
		dbs := F32(db)
		c.w.For(out, grainFor(r, ewGrain), func(lo, hi int) {
			for j := lo; j < hi; j++ {
				var s float64
				for i := 0; i < r; i++ {
					s += float64(dys[i*out+j])
				}
				dbs[j] = float32(s)
			}
		})
	}
}

// MatMul computes c = op(a)·op(b) for every leading (batch) index.
func (c *CPU) MatMul(cT, a, b *Tensor, transA, transB bool) {
	const op = "matmul"
	if !c.ok(op, cT, a, b) {
		return
	}
	ra, rb, rc := a.Rank(), b.Rank(), cT.Rank()
	if ra < 2 || ra != rb || ra != rc || !SameShape(a.shape[:ra-2], b.shape[:ra-2]) || !SameShape(a.shape[:ra-2], cT.shape[:ra-2]) {
		c.fail(op, "batch dimensions differ: %s", shapeStr(cT, a, b))
		return
	}
	m, k := a.shape[ra-2], a.shape[ra-1]
	if transA {
		m, k = k, m
	}
	kb, n := b.shape[ra-2], b.shape[ra-1]
	if transB {
		kb, n = n, kb
	}
	if k != kb || cT.shape[ra-2] != m || cT.shape[ra-1] != n {
		c.fail(op, "inner dimensions do not fit (transA=%v transB=%v): %s", transA, transB, shapeStr(cT, a, b))
		return
	}
	batch := Numel(a.shape[:ra-2])
	as, bs, cs := F32(a), F32(b), F32(cT)
	lda, ldb := a.shape[ra-1], b.shape[ra-1]
	if batch < 4 {
		for i := 0; i < batch; i++ {
			gemm.Sgemm(transA, transB, m, n, k, 1, as[i*m*k:], lda, bs[i*k*n:], ldb, 0, cs[i*m*n:(i+1)*m*n], n)
		}
		return
	}
	c.w.For(batch, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gemm.SgemmSerial(transA, transB, m, n, k, 1, as[i*m*k:], lda, bs[i*k*n:], ldb, 0, cs[i*m*n:(i+1)*m*n], n)
		}
	})
}

// transpose writes dst (cols, rows) = srcᵀ for src (rows, cols).
func transpose(dst, src []float32, rows, cols int) {
	const blk = 16
	for i0 := 0; i0 < rows; i0 += blk {
		for j0 := 0; j0 < cols; j0 += blk {
			for i := i0; i < min(i0+blk, rows); i++ {
				row := src[i*cols : (i+1)*cols]
				for j := j0; j < min(j0+blk, cols); j++ {
					dst[j*rows+i] = row[j]
				}
			}
		}
	}
}
