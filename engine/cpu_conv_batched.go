package engine

import "github.com/gotrain/gotrain/engine/gemm"

// batchedPQ: convolutions whose output has fewer pixels than this run as
// one GEMM over the whole batch (columns of all images side by side), where
// per-image GEMMs would be too skinny to be fast (7x7 and smaller maps of
// the deep layers). The choice depends on the shape only, so results stay
// independent of the core count.
var batchedPQ = 100

// batchedDirectPQ is batchedPQ for 1x1, stride-1 convolutions, whose
// per-image GEMMs read the image in place: from 32 output pixels those
// beat the batched GEMM and its two layout copies. On the light ResNet's
// 7x7 maps (batch 64, CPU ms per call, best of 3, 2-core AVX-512 VM) a
// 64-to-256 convolution took 0.92 ms forward and 1.98 backward per image
// against 1.34 and 2.74 batched; on 4x4 maps (128 to 512) the batched one
// stayed faster, 1.46 and 2.92 ms against 1.64 and 3.96. In the light
// ResNet's training step its 7x7-map 1x1 convolutions took 21 ms instead
// of 26 (GoogLeNet's step did not change).
var batchedDirectPQ = 32

func (g *convGeom) batched() bool {
	if g.Direct {
		return g.PQ < batchedDirectPQ
	}
	return g.PQ < batchedPQ
}

// conv2dBatched: cols (C·R·S, N·P·Q) = im2col of every image; out (K, N·P·Q)
// = w · cols; y[n,k,:] = out[k, n·P·Q:] + b[k].
func (c *CPU) conv2dBatched(ys, xs, ws, bs []float32, g *convGeom) {
	np, ld := g.N*g.PQ, batchLd(g.N*g.PQ)
	buf := c.scratchF32(g.CRS*ld + g.K*ld)
	cols, out := buf[:g.CRS*ld], buf[g.CRS*ld:]
	c.fillCols(cols, xs, g, ld)
	gemm.Sgemm(false, false, g.K, np, g.CRS, 1, ws, g.CRS, cols, ld, 0, out, ld)
	c.unbatch(ys, out, g.N, g.K, g.PQ, ld, bs)
}

// batchLd is the row stride of a batched matrix of np columns: np, plus
// 16 floats when np is a multiple of 256. At a stride of 1 KiB or a
// multiple of it, the rows that im2col, col2im and the layout changes
// touch in turn fall into a few L1 sets and evict each other (the light
// ResNet's stride-2 convolution of 7x7 maps has 1,152 rows of 64·16
// floats).
func batchLd(np int) int {
	if np%256 == 0 {
		return np + 16
	}
	return np
}

// batchTile is the number of channel rows the layout changes between
// (N, C, P·Q) and (C, N·P·Q) move together: each image's blocks of a tile
// are one contiguous run of the image, and the tile's rows of the batched
// matrix stay in cache while the images go by.
const batchTile = 16

// batch writes m (C, N·P·Q; rows ld apart) from t (N, C, P·Q).
func (c *CPU) batch(m, t []float32, n, ch, pq, ld int) {
	c.w.For(ch, max(batchTile, grainFor(n*pq, ewGrain)), func(lo, hi int) {
		for c0 := lo; c0 < hi; c0 += batchTile {
			c1 := min(c0+batchTile, hi)
			if pq == 4 && transposeAVX512 {
				transposeBlocks4(m[c0*ld:], ld, t[c0*4:], ch*4, n, c1-c0)
			} else {
				for i := 0; i < n; i++ {
					copyBlocks(m[c0*ld+i*pq:], ld, t[(i*ch+c0)*pq:], pq, c1-c0, pq)
				}
			}
		}
	})
}

// unbatch writes t (N, C, P·Q) from m (C, N·P·Q; rows ld apart), adding
// b[c] (b may be nil).
func (c *CPU) unbatch(t, m []float32, n, ch, pq, ld int, b []float32) {
	c.w.For(ch, max(batchTile, grainFor(n*pq, ewGrain)), func(lo, hi int) {
		for c0 := lo; c0 < hi; c0 += batchTile {
			c1 := min(c0+batchTile, hi)
			if pq == 4 && transposeAVX512 {
				transposeBlocks4(t[c0*4:], ch*4, m[c0*ld:], ld, c1-c0, n)
			} else {
				for i := 0; i < n; i++ {
					copyBlocks(t[(i*ch+c0)*pq:], pq, m[c0*ld+i*pq:], ld, c1-c0, pq)
				}
			}
			if b == nil {
				continue
			}
			for i := 0; i < n; i++ {
				ti := t[(i*ch+c0)*pq : (i*ch+c1)*pq]
				for k, bk := range b[c0:c1] {
					row := ti[k*pq : (k+1)*pq]
					for j := range row {
						row[j] += bk
					}
				}
			}
		}
	})
}

// transposeBlocks4 writes dst[j][i] = src[i][j] for blocks of 4 floats:
// src has rows×cols blocks, rows ss floats apart, dst cols×rows, rows ds
// floats apart. The whole 4×4 tiles of blocks go through transpose16B
// (AVX-512), the edges through copyBlocks.
func transposeBlocks4(dst []float32, ds int, src []float32, ss int, rows, cols int) {
	if rows == 0 || cols == 0 {
		return
	}
	_, _ = dst[(cols-1)*ds+4*rows-1], src[(rows-1)*ss+4*cols-1]
	r4, c4 := rows&^3, cols&^3
	if r4 > 0 && c4 > 0 {
		transpose16B(&dst[0], ds, &src[0], ss, r4, c4)
	}
	for i := 0; i < rows; i++ {
		j0 := c4
		if i >= r4 {
			j0 = 0
		}
		if j0 < cols {
			copyBlocks(dst[j0*ds+4*i:], ds, src[i*ss+4*j0:], 4, cols-j0, 4)
		}
	}
}

// copyBlocks copies count blocks of pq floats, block b from src[b·ss:] to
// dst[b·ds:]. On small planes the blocks are a few floats long (16 bytes
// on a 2x2 map), where a copy call per block would cost more than the
// copy.
func copyBlocks(dst []float32, ds int, src []float32, ss int, count, pq int) {
	if count == 0 {
		return
	}
	_, _ = dst[(count-1)*ds+pq-1], src[(count-1)*ss+pq-1]
	switch pq {
	case 1:
		for b := 0; b < count; b++ {
			dst[b*ds] = src[b*ss]
		}
	case 4:
		for b := 0; b < count; b++ {
			*(*[4]float32)(dst[b*ds:]) = *(*[4]float32)(src[b*ss:])
		}
	case 16:
		for b := 0; b < count; b++ {
			*(*[16]float32)(dst[b*ds:]) = *(*[16]float32)(src[b*ss:])
		}
	default:
		for b := 0; b < count; b++ {
			copy(dst[b*ds:b*ds+pq], src[b*ss:b*ss+pq])
		}
	}
}

// fillCols writes the columns of every image side by side: row r of image
// n at cols[r·ld + n·P·Q].
func (c *CPU) fillCols(cols, xs []float32, g *convGeom, ld int) {
	if g.Direct {
		c.batch(cols, xs, g.N, g.C, g.PQ, ld)
		return
	}
	if g.tab != nil {
		c.w.For(g.C, grainFor(g.N*g.R*g.S*g.PQ, ewGrain), func(lo, hi int) {
			im2colTable(cols, xs, g, ld, 0, g.N, lo, hi)
		})
		return
	}
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
	np, ld := g.N*g.PQ, batchLd(g.N*g.PQ)
	buf := c.scratchF32(g.CRS*ld + g.K*ld)
	cols, dyT := buf[:g.CRS*ld], buf[g.CRS*ld:]
	c.batch(dyT, dys, g.N, g.K, g.PQ, ld)
	if dws != nil {
		c.fillCols(cols, xs, g, ld)
		gemm.Sgemm(false, true, g.K, g.CRS, np, 1, dyT, ld, cols, ld, 0, dws, g.CRS)
	}
	if dxs == nil {
		return
	}
	gemm.Sgemm(true, false, g.CRS, np, g.K, 1, ws, g.CRS, dyT, ld, 0, cols, ld)
	if g.Direct {
		// 1x1, stride 1, no padding: each column row is one plane of dx.
		c.unbatch(dxs, cols, g.N, g.C, g.PQ, ld, nil)
		return
	}
	if g.tab != nil {
		c.w.For(g.C, grainFor(g.N*g.R*g.S*g.PQ, ewGrain), func(lo, hi int) {
			col2imTable(dxs, cols, g, ld, 0, g.N, lo, hi)
		})
		return
	}
	chw := g.C * g.H * g.W
	c.w.For(g.N, grainFor(g.CRS*g.PQ, ewGrain), func(lo, hi int) {
		for n := lo; n < hi; n++ {
			dxn := dxs[n*chw : (n+1)*chw]
			clear(dxn)
			col2im(dxn, cols, g, ld, n*g.PQ)
		}
	})
}
