package engine

import "github.com/gotrain/gotrain/engine/gemm"

// Dense convolutions of small planes. When the input plane has no more
// pixels than the kernel has taps (H·W <= R·S: a 3x3 convolution of a 2x2,
// 3x3 or 1x1 map, a 1x1 convolution of a 1x1 map, a 5x5 one of a 4x4 map),
// the convolution is a fully connected layer from the image's C·H·W values
// to its K·P·Q outputs, with the matrix
//
//	wb[(k,o), (c,i)] = w[k, c, tap(o,i)]   (0 where no tap joins o and i)
//
// where tap(o,i) is the kernel tap through which output pixel o reads input
// pixel i (at most one: each input row is one kernel row away from an
// output row). In NCHW each image's values are one contiguous row, so
//
//	y (N, K·P·Q) = x (N, C·H·W) · wbᵀ,  dx = dy · wb,  dwb = dyᵀ · x
//
// are plain GEMMs on the tensors as they lie, with no im2col, col2im or
// layout copies, and they do no more multiplications than im2col would
// (H·W <= R·S products per output and input channel against R·S), while
// Winograd F(2x2,3x3) on a 2x2 plane adds transforms for the same 16. The
// weight gradient folds dwb back onto the taps in a fixed (o, i) order.

// denseOff turns the path off (tests compare it with im2col).
var denseOff bool

// denseMaxFloats bounds wb, and the weight gradient's dwb in the same
// buffer (K·P·Q·C·H·W floats, 16 MiB). The light ResNet's largest is 1M
// floats (256 channels on a 2x2 map, 512 on 2x2 to 1x1).
const denseMaxFloats = 1 << 22

// dense reports whether the convolution runs as one dense GEMM.
func (g *convGeom) dense() bool {
	hw := g.H * g.W
	return !denseOff && hw <= g.R*g.S && (g.denseIdentity() || g.K*g.PQ*g.C*hw <= denseMaxFloats)
}

// denseIdentity: a 1x1 kernel on a 1x1 map (stride and padding 0 change
// nothing then): wb is w itself.
func (g *convGeom) denseIdentity() bool {
	return g.R == 1 && g.S == 1 && g.H == 1 && g.W == 1 && g.PQ == 1 && g.Params.PadH == 0 && g.Params.PadW == 0
}

// denseTaps returns tap(o,i) = r·S+s for every output pixel o and input
// pixel i (o·H·W+i), -1 where the window of o does not cover i, in a
// buffer of c's that the next call reuses.
func (c *CPU) denseTaps(g *convGeom) []int32 {
	p, hw := g.Params, g.H*g.W
	if cap(c.taps) < g.PQ*hw {
		c.taps = make([]int32, g.PQ*hw)
	}
	taps := c.taps[:g.PQ*hw]
	for op := 0; op < g.P; op++ {
		for oq := 0; oq < g.Q; oq++ {
			o := op*g.Q + oq
			for ih := 0; ih < g.H; ih++ {
				for iw := 0; iw < g.W; iw++ {
					r, s := ih+p.PadH-op*p.StrideH, iw+p.PadW-oq*p.StrideW
					t := int32(-1)
					if r >= 0 && r < g.R && s >= 0 && s < g.S {
						t = int32(r*g.S + s)
					}
					taps[o*hw+ih*g.W+iw] = t
				}
			}
		}
	}
	return taps
}

// denseChunkFloats sizes the pieces of wb (and of its gradient) that one
// worker builds and multiplies while they are in its L2 cache (256 KiB):
// built whole, wb (4 MiB at 256 channels on 2x2 maps) went out to memory
// between the build and the GEMM. Chunked, the forward 3x3 convolution of
// the light ResNet's 256-channel 2x2 maps took 1.77 CPU ms instead of
// 2.34 (batch 64, best of 5, 2-core AVX-512 VM).
const denseChunkFloats = 1 << 16

// denseBuild writes rows (k, o), k in [k0, k1), and columns (c, i), c in
// [c0, c1), of wb from w (K, C, R, S): row (k-k0)·P·Q+o, column
// (c-c0)·H·W+i of dst, whose rows are ld apart. Per row and input pixel,
// one strided pass over the channels.
func denseBuild(dst []float32, ld int, ws []float32, taps []int32, g *convGeom, k0, k1, c0, c1 int) {
	hw, rs, nc := g.H*g.W, g.R*g.S, c1-c0
	for k := k0; k < k1; k++ {
		wk := ws[(k*g.C+c0)*rs : (k*g.C+c1)*rs]
		for o := 0; o < g.PQ; o++ {
			row := dst[((k-k0)*g.PQ+o)*ld : ((k-k0)*g.PQ+o)*ld+nc*hw]
			for i, t := range taps[o*hw : (o+1)*hw] {
				d := row[i:]
				if t < 0 {
					for ch := 0; ch < nc; ch++ {
						d[ch*hw] = 0
					}
					continue
				}
				s := wk[t:]
				for ch := 0; ch < nc; ch++ {
					d[ch*hw] = s[ch*rs]
				}
			}
		}
	}
}

// denseFold writes dw[k] (C, R, S) for k in [k0, k1) from rows (k, o) of
// dwb (row (k-k0)·P·Q+o of src, all C·H·W columns): each tap's gradient is
// the sum of its (o, i) entries in increasing o; taps that never read the
// image get 0.
func denseFold(dws, src []float32, taps []int32, g *convGeom, k0, k1 int) {
	hw, rs, chw, nc := g.H*g.W, g.R*g.S, g.C*g.H*g.W, g.C
	for k := k0; k < k1; k++ {
		dk := dws[k*nc*rs : (k+1)*nc*rs]
		clear(dk)
		for o := 0; o < g.PQ; o++ {
			row := src[((k-k0)*g.PQ+o)*chw : ((k-k0)*g.PQ+o+1)*chw]
			for i, t := range taps[o*hw : (o+1)*hw] {
				if t < 0 {
					continue
				}
				s, d := row[i:], dk[t:]
				for ch := 0; ch < nc; ch++ {
					d[ch*rs] += s[ch*hw]
				}
			}
		}
	}
}

// denseKChunk is the number of filters in one chunk of wb's rows.
func (g *convGeom) denseKChunk() int { return max(1, denseChunkFloats/(g.PQ*g.C*g.H*g.W)) }

// conv2dDense: y (N, K·P·Q) = x (N, C·H·W) · wbᵀ, plus the bias, one GEMM
// per chunk of filters (each built just before its GEMM). Each output
// column's sum is the one gemm.Sgemm would do: the results do not depend
// on the chunking or the thread count.
func (c *CPU) conv2dDense(ys, xs, ws, bs []float32, g *convGeom) {
	chw, kpq := g.C*g.H*g.W, g.K*g.PQ
	if g.denseIdentity() {
		gemm.Sgemm(false, true, g.N, kpq, chw, 1, xs, chw, ws, chw, 0, ys, kpq)
	} else {
		taps, wb, kc := c.denseTaps(g), c.scratchF32(kpq*chw), g.denseKChunk()
		c.w.For(g.K, kc, func(k0, k1 int) {
			part := wb[k0*g.PQ*chw : k1*g.PQ*chw]
			denseBuild(part, chw, ws, taps, g, k0, k1, 0, g.C)
			gemm.SgemmSerial(false, true, g.N, (k1-k0)*g.PQ, chw, 1, xs, chw, part, chw, 0, ys[k0*g.PQ:], kpq)
		})
	}
	if bs != nil {
		c.w.For(g.N, grainFor(kpq, ewGrain), func(lo, hi int) {
			for n := lo; n < hi; n++ {
				yn := ys[n*kpq : (n+1)*kpq]
				for k, b := range bs {
					row := yn[k*g.PQ : (k+1)*g.PQ]
					for i := range row {
						row[i] += b
					}
				}
			}
		})
	}
}

// conv2dBackwardDense: dx (N, C·H·W) = dy (N, K·P·Q) · wb (one GEMM: its
// sums run over all of wb's rows, and GEMMs of column chunks measured no
// faster); dwb (K·P·Q, C·H·W) = dyᵀ · x (a sum over the batch), per chunk
// of rows, each folded onto the taps while in cache.
func (c *CPU) conv2dBackwardDense(dxs, dws, dys, xs, ws []float32, g *convGeom) {
	chw, kpq := g.C*g.H*g.W, g.K*g.PQ
	if g.denseIdentity() {
		if dxs != nil {
			gemm.Sgemm(false, false, g.N, chw, kpq, 1, dys, kpq, ws, chw, 0, dxs, chw)
		}
		if dws != nil {
			gemm.Sgemm(true, false, kpq, chw, g.N, 1, dys, kpq, xs, chw, 0, dws, chw)
		}
		return
	}
	taps, buf := c.denseTaps(g), c.scratchF32(kpq*chw)
	if dxs != nil {
		c.w.For(g.K, g.denseKChunk(), func(k0, k1 int) {
			denseBuild(buf[k0*g.PQ*chw:k1*g.PQ*chw], chw, ws, taps, g, k0, k1, 0, g.C)
		})
		gemm.Sgemm(false, false, g.N, chw, kpq, 1, dys, kpq, buf, chw, 0, dxs, chw)
	}
	if dws != nil {
		kc := g.denseKChunk()
		c.w.For(g.K, kc, func(k0, k1 int) {
			part := buf[k0*g.PQ*chw : k1*g.PQ*chw]
			gemm.SgemmSerial(true, false, (k1-k0)*g.PQ, chw, g.N, 1, dys[k0*g.PQ:], kpq, xs, chw, 0, part, chw)
			denseFold(dws, part, taps, g, k0, k1)
		})
	}
}
