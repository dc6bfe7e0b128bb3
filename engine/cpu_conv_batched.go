package engine

import "github.com/gotrain/gotrain/engine/gemm"

// batchedPQ: convolutions whose output has fewer pixels than this run as
// one GEMM over the whole batch (columns of all images side by side), where
// per-image GEMMs would be too skinny to be fast (7x7 and smaller maps of
// the deep layers). The choice depends on the shape only, so results stay
// independent of the core count.
var batchedPQ = 100

func (g *convGeom) batched() bool { return g.PQ < batchedPQ }

// conv2dBatched: cols (C·R·S, N·P·Q) = im2col of every image; out (K, N·P·Q)
// = w · cols; y[n,k,:] = out[k, n·P·Q:] + b[k].
func (c *CPU) conv2dBatched(ys, xs, ws, bs []float32, g *convGeom) {
	ld := g.N * g.PQ
	buf := c.scratchF32(g.CRS*ld + g.K*ld)
	cols, out := buf[:g.CRS*ld], buf[g.CRS*ld:]
	c.fillCols(cols, xs, g)
	gemm.Sgemm(false, false, g.K, ld, g.CRS, 1, ws, g.CRS, cols, ld, 0, out, ld)
	c.w.For(g.N, grainFor(g.K*g.PQ, ewGrain), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for k := 0; k < g.K; k++ {
				dst := ys[(n*g.K+k)*g.PQ : (n*g.K+k+1)*g.PQ]
				copy(dst, out[k*ld+n*g.PQ:k*ld+(n+1)*g.PQ])
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
	ld := g.N * g.PQ
	chw := g.C * g.H * g.W
	c.w.For(g.N, grainFor(g.CRS*g.PQ, ewGrain), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			im2col(cols, xs[n*chw:(n+1)*chw], g, ld, n*g.PQ)
		}
	})
}

// conv2dBackwardBatched: dyT (K, N·P·Q) gathers dy; dw = dyT · colsᵀ (one
// GEMM whose sum over N·P·Q runs in a fixed order); dcols = wᵀ · dyT, then
// col2im per image.
func (c *CPU) conv2dBackwardBatched(dxs, dws, dys, xs, ws []float32, g *convGeom) {
	ld := g.N * g.PQ
	buf := c.scratchF32(g.CRS*ld + g.K*ld)
	cols, dyT := buf[:g.CRS*ld], buf[g.CRS*ld:]
	c.w.For(g.N, grainFor(g.K*g.PQ, ewGrain), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			for k := 0; k < g.K; k++ {
				copy(dyT[k*ld+n*g.PQ:k*ld+(n+1)*g.PQ], dys[(n*g.K+k)*g.PQ:(n*g.K+k+1)*g.PQ])
			}
		}
	})
	if dws != nil {
		c.fillCols(cols, xs, g)
		gemm.Sgemm(false, true, g.K, g.CRS, ld, 1, dyT, ld, cols, ld, 0, dws, g.CRS)
	}
	if dxs == nil {
		return
	}
	gemm.Sgemm(true, false, g.CRS, ld, g.K, 1, ws, g.CRS, dyT, ld, 0, cols, ld)
	chw := g.C * g.H * g.W
	c.w.For(g.N, grainFor(g.CRS*g.PQ, ewGrain), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			dxn := dxs[n*chw : (n+1)*chw]
			if g.Direct {
				// 1x1, stride 1, no padding: each column row is one
				// plane of dx, copied instead of added to zeros.
				for ch := 0; ch < g.C; ch++ {
					copy(dxn[ch*g.PQ:(ch+1)*g.PQ], cols[ch*ld+n*g.PQ:ch*ld+(n+1)*g.PQ])
				}
				continue
			}
			clear(dxn)
			col2im(dxn, cols, g, ld, n*g.PQ)
		}
	})
}
