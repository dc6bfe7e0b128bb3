package engine

// Strided 1x1 convolutions without padding (the ResNets' projection
// shortcuts) read only every stride-th pixel of every stride-th row: they
// run as the 1x1, stride-1 convolution of the subsampled input, one gather
// of N·C·P·Q floats, and that convolution takes whichever path its shape
// picks (the batched GEMM without im2col, or on a 1x1 output one GEMM over
// the batch). The input gradient is the subsampled one scattered back, 0
// at the pixels the convolution skips.

// subsampled reports whether g runs on its subsampled input.
func (g *convGeom) subsampled() bool {
	p := g.Params
	return g.R == 1 && g.S == 1 && p.PadH == 0 && p.PadW == 0 && (p.StrideH > 1 || p.StrideW > 1)
}

// subGeom is the stride-1 convolution of the subsampled input.
func (g *convGeom) subGeom() convGeom {
	s := *g
	s.H, s.W = g.P, g.Q
	s.Params = Conv2dParams{StrideH: 1, StrideW: 1}
	s.Direct = true
	return s
}

// subScratch returns a reused buffer of n floats, apart from scratchF32
// (which the subsampled convolution's own path uses).
func (c *CPU) subScratch(n int) []float32 {
	if cap(c.sub) < n {
		c.sub = make([]float32, n)
	}
	return c.sub[:n]
}

// subsample writes sub (N, C, P, Q) = x[:, :, p·sh, q·sw].
func (c *CPU) subsample(sub, xs []float32, g *convGeom) {
	hw, sh, sw := g.H*g.W, g.Params.StrideH, g.Params.StrideW
	c.w.For(g.N*g.C, grainFor(g.PQ, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			src, dst := xs[pl*hw:(pl+1)*hw], sub[pl*g.PQ:(pl+1)*g.PQ]
			for op := 0; op < g.P; op++ {
				row, d := src[op*sh*g.W:], dst[op*g.Q:(op+1)*g.Q]
				for oq := range d {
					d[oq] = row[oq*sw]
				}
			}
		}
	})
}

// unsubsample writes dx (N, C, H, W): sub at the pixels subsample reads,
// 0 elsewhere.
func (c *CPU) unsubsample(dxs, sub []float32, g *convGeom) {
	hw, sh, sw := g.H*g.W, g.Params.StrideH, g.Params.StrideW
	c.w.For(g.N*g.C, grainFor(hw, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			dst, src := dxs[pl*hw:(pl+1)*hw], sub[pl*g.PQ:(pl+1)*g.PQ]
			clear(dst)
			for op := 0; op < g.P; op++ {
				row, s := dst[op*sh*g.W:], src[op*g.Q:(op+1)*g.Q]
				for oq, v := range s {
					row[oq*sw] = v
				}
			}
		}
	})
}
