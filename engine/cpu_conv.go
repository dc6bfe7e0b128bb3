package engine

import "github.com/gotrain/gotrain/engine/gemm"

// convChunks is the number of image chunks a convolution is split into: a
// property of the batch only, so the weight-gradient partial sums (one per
// chunk, added in chunk order) do not depend on the core count.
func convChunk(n int) int {
	const maxChunks = 16
	return (n + maxChunks - 1) / maxChunks
}

type convGeom struct {
	n, c, h, w int // input
	k, r, s    int // filters
	p, q       int // output
	prm        Conv2dParams
	crs, pq    int
	direct     bool // 1x1, stride 1, no padding: the input is its own im2col
}

func (c *CPU) convGeom(op string, y, x, w, b *Tensor, p Conv2dParams) (g convGeom, ok bool) {
	if x.Rank() != 4 || w.Rank() != 4 || y.Rank() != 4 {
		c.fail(op, "want 4-D x, w, y; got %s", shapeStr(y, x, w))
		return g, false
	}
	if p.StrideH < 1 || p.StrideW < 1 || p.PadH < 0 || p.PadW < 0 {
		c.fail(op, "bad stride/padding %+v", p)
		return g, false
	}
	g = convGeom{n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3], k: w.shape[0], r: w.shape[2], s: w.shape[3], prm: p}
	g.p = ConvOut(g.h, g.r, p.StrideH, p.PadH)
	g.q = ConvOut(g.w, g.s, p.StrideW, p.PadW)
	if w.shape[1] != g.c || !SameShape(y.shape, []int{g.n, g.k, g.p, g.q}) || g.p < 1 || g.q < 1 {
		c.fail(op, "shapes do not fit stride %d,%d padding %d,%d: %s", p.StrideH, p.StrideW, p.PadH, p.PadW, shapeStr(y, x, w))
		return g, false
	}
	if b != nil && (b.Rank() != 1 || b.shape[0] != g.k) {
		c.fail(op, "bias %s for %d filters", b, g.k)
		return g, false
	}
	g.crs, g.pq = g.c*g.r*g.s, g.p*g.q
	g.direct = g.r == 1 && g.s == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0
	return g, true
}

// im2col writes one image x (C,H,W) as columns (C·R·S, P·Q) of a matrix
// whose rows are ld apart, starting at column col0.
func im2col(cols, x []float32, g *convGeom, ld, col0 int) {
	sh, sw, ph, pw := g.prm.StrideH, g.prm.StrideW, g.prm.PadH, g.prm.PadW
	row := 0
	for ch := 0; ch < g.c; ch++ {
		plane := x[ch*g.h*g.w : (ch+1)*g.h*g.w]
		for kr := 0; kr < g.r; kr++ {
			for ks := 0; ks < g.s; ks++ {
				dst := cols[row*ld+col0 : row*ld+col0+g.pq]
				row++
				i := 0
				for op := 0; op < g.p; op++ {
					ih := op*sh - ph + kr
					if ih < 0 || ih >= g.h {
						for oq := 0; oq < g.q; oq++ {
							dst[i] = 0
							i++
						}
						continue
					}
					src := plane[ih*g.w : (ih+1)*g.w]
					iw := -pw + ks
					if sw == 1 && iw >= 0 && iw+g.q <= g.w {
						copy(dst[i:i+g.q], src[iw:iw+g.q])
						i += g.q
						continue
					}
					for oq := 0; oq < g.q; oq++ {
						if iw >= 0 && iw < g.w {
							dst[i] = src[iw]
						} else {
							dst[i] = 0
						}
						i++
						iw += sw
					}
				}
			}
		}
	}
}

// col2im adds columns (C·R·S, P·Q) (rows ld apart, from column col0) back
// into one image dx (C,H,W), which must be zeroed first.
func col2im(dx, cols []float32, g *convGeom, ld, col0 int) {
	sh, sw, ph, pw := g.prm.StrideH, g.prm.StrideW, g.prm.PadH, g.prm.PadW
	row := 0
	for ch := 0; ch < g.c; ch++ {
		plane := dx[ch*g.h*g.w : (ch+1)*g.h*g.w]
		for kr := 0; kr < g.r; kr++ {
			for ks := 0; ks < g.s; ks++ {
				src := cols[row*ld+col0 : row*ld+col0+g.pq]
				row++
				i := 0
				for op := 0; op < g.p; op++ {
					ih := op*sh - ph + kr
					if ih < 0 || ih >= g.h {
						i += g.q
						continue
					}
					dst := plane[ih*g.w : (ih+1)*g.w]
					iw := -pw + ks
					for oq := 0; oq < g.q; oq++ {
						if iw >= 0 && iw < g.w {
							dst[iw] += src[i]
						}
						i++
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
	if g.batched() {
		c.conv2dBatched(ys, xs, ws, bs, &g)
		return
	}
	grain := convChunk(g.n)
	nch := chunks(g.n, grain)
	colSize := 0
	if !g.direct {
		colSize = g.crs * g.pq
	}
	scratch := c.scratchF32(nch * colSize)
	c.w.For(g.n, grain, func(lo, hi int) {
		cols := scratch[lo/grain*colSize : (lo/grain+1)*colSize]
		for n := lo; n < hi; n++ {
			xn := xs[n*g.c*g.h*g.w : (n+1)*g.c*g.h*g.w]
			yn := ys[n*g.k*g.pq : (n+1)*g.k*g.pq]
			src := xn
			if !g.direct {
				im2col(cols, xn, &g, g.pq, 0)
				src = cols
			}
			gemm.SgemmSerial(false, false, g.k, g.pq, g.crs, 1, ws, g.crs, src, g.pq, 0, yn, g.pq)
			if bs != nil {
				for k := 0; k < g.k; k++ {
					bk := bs[k]
					row := yn[k*g.pq : (k+1)*g.pq]
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
	if g.batched() {
		var dxs, dws []float32
		if dx != nil {
			dxs = F32(dx)
		}
		if dw != nil {
			dws = F32(dw)
		}
		c.conv2dBackwardBatched(dxs, dws, dys, xs, ws, &g)
	} else {
		c.conv2dBackwardPerImage(dx, dw, dys, xs, ws, &g)
	}
	if db != nil {
		dbs := F32(db)
		c.w.For(g.k, 1, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				var s float64
				for n := 0; n < g.n; n++ {
					for _, v := range dys[(n*g.k+k)*g.pq : (n*g.k+k+1)*g.pq] {
						s += float64(v)
					}
				}
				dbs[k] = float32(s)
			}
		})
	}
}

// conv2dBackwardPerImage is the backward pass for large images: per-image
// GEMMs, the weight gradient summed per chunk of images and then over the
// chunks in order.
func (c *CPU) conv2dBackwardPerImage(dx, dw *Tensor, dys, xs, ws []float32, gp *convGeom) {
	g := *gp
	grain := convChunk(g.n)
	nch := chunks(g.n, grain)
	colSize := g.crs * g.pq
	wsize := g.k * g.crs
	per := wsize
	if !g.direct {
		per += colSize
	}
	scratch := c.scratchF32(nch * per)
	var dxs, dws []float32
	if dx != nil {
		dxs = F32(dx)
	}
	if dw != nil {
		dws = F32(dw)
	}
	c.w.For(g.n, grain, func(lo, hi int) {
		buf := scratch[lo/grain*per : (lo/grain+1)*per]
		part, cols := buf[:wsize], buf[wsize:]
		for n := lo; n < hi; n++ {
			xn := xs[n*g.c*g.h*g.w : (n+1)*g.c*g.h*g.w]
			dyn := dys[n*g.k*g.pq : (n+1)*g.k*g.pq]
			if dws != nil {
				src := xn
				if !g.direct {
					im2col(cols, xn, &g, g.pq, 0)
					src = cols
				}
				beta := float32(1)
				if n == lo {
					beta = 0
				}
				gemm.SgemmSerial(false, true, g.k, g.crs, g.pq, 1, dyn, g.pq, src, g.pq, beta, part, g.crs)
			}
			if dxs != nil {
				dxn := dxs[n*g.c*g.h*g.w : (n+1)*g.c*g.h*g.w]
				if g.direct {
					gemm.SgemmSerial(true, false, g.crs, g.pq, g.k, 1, ws, g.crs, dyn, g.pq, 0, dxn, g.pq)
				} else {
					gemm.SgemmSerial(true, false, g.crs, g.pq, g.k, 1, ws, g.crs, dyn, g.pq, 0, cols, g.pq)
					clear(dxn)
					col2im(dxn, cols, &g, g.pq, 0)
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

// rows2 views a tensor as (rows, last) for linear algebra over its last dim.
func rows2(t *Tensor) (rows, cols int) {
	cols = t.shape[len(t.shape)-1]
	if cols == 0 {
		return 0, 0
	}
	return t.Len() / cols, cols
}

// Linear computes y = x·wᵀ + b over the last dimension.
func (c *CPU) Linear(y, x, w, b *Tensor) {
	const op = "linear"
	if !c.ok(op, y, x, w, b) {
		return
	}
	r, in := rows2(x)
	ry, out := rows2(y)
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
	r, in := rows2(x)
	ry, out := rows2(dy)
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
