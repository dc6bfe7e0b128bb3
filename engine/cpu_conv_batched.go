package engine

import "github.com/gotrain/gotrain/engine/gemm"

// batchedPQ: convolutions whose output has fewer pixels than this run as
// one GEMM over the whole batch (columns of all images side by side), where
// per-image GEMMs would be too skinny to be fast (7x7 and smaller maps of
// the deep layers). The choice depends on the shape only, so results stay
// independent of the core count.
var batchedPQ = 100

func (g *convGeom) batched() bool { return g.pq < batchedPQ }

// conv2dBatched: cols (C·R·S, N·P·Q) = im2col of every image; out (K, N·P·Q)
// = w · cols; y[n,k,:] = out[k, n·P·Q:] + b[k].
func (c *CPU) conv2dBatched(ys, xs, ws, bs []float32, g *convGeom) {
	ld := g.n * g.pq
	buf := c.scratchF32(g.crs*ld + g.k*ld)
	cols, out := buf[:g.crs*ld], buf[g.crs*ld:]
	c.fillCols(cols, xs, g)
	gemm.Sgemm(false, false, g.k, ld, g.crs, 1, ws, g.crs, cols, ld, 0, out, ld)
	c.w.For(g.n, grainFor(g.k*g.pq, ewGrain), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for k := 0; k < g.k; k++ {
				dst := ys[(n*g.k+k)*g.pq : (n*g.k+k+1)*g.pq]
				copy(dst, out[k*ld+n*g.pq:k*ld+(n+1)*g.pq])
				if bs != nil {
					for i := range dst {
						dst[i] += bs[k]
					}
				}
			}
		}
	})
}

// fillCols writes the columns of every image side by side: row r of image
// n at cols[r·N·P·Q + n·P·Q].
func (c *CPU) fillCols(cols, xs []float32, g *convGeom) {
	ld := g.n * g.pq
	chw := g.c * g.h * g.w
	c.w.For(g.n, grainFor(g.crs*g.pq, ewGrain), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			im2col(cols, xs[n*chw:(n+1)*chw], g, ld, n*g.pq)
		}
	})
}

// conv2dBackwardBatched: dyT (K, N·P·Q) gathers dy; dw = dyT · colsᵀ (one
// GEMM whose sum over N·P·Q runs in a fixed order); dcols = wᵀ · dyT, then
// col2im per image.
func (c *CPU) conv2dBackwardBatched(dxs, dws, dys, xs, ws []float32, g *convGeom) {
	ld := g.n * g.pq
	buf := c.scratchF32(g.crs*ld + g.k*ld)
	cols, dyT := buf[:g.crs*ld], buf[g.crs*ld:]
	c.w.For(g.n, grainFor(g.k*g.pq, ewGrain), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for k := 0; k < g.k; k++ {
				copy(dyT[k*ld+n*g.pq:k*ld+(n+1)*g.pq], dys[(n*g.k+k)*g.pq:(n*g.k+k+1)*g.pq])
			}
		}
	})
	if dws != nil {
		c.fillCols(cols, xs, g)
		gemm.Sgemm(false, true, g.k, g.crs, ld, 1, dyT, ld, cols, ld, 0, dws, g.crs)
	}
	if dxs == nil {
		return
	}
	gemm.Sgemm(true, false, g.crs, ld, g.k, 1, ws, g.crs, dyT, ld, 0, cols, ld)
	chw := g.c * g.h * g.w
	c.w.For(g.n, grainFor(g.crs*g.pq, ewGrain), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			dxn := dxs[n*chw : (n+1)*chw]
			clear(dxn)
			col2im(dxn, cols, g, ld, n*g.pq)
		}
	})
}
