package engine

import "math"

func (c *CPU) poolGeom(op string, y, x *Tensor, p Pool2dParams) (planes, h, w, oh, ow int, ok bool) {
	planes, h, w, oh, ow, err := PoolGeometry(y, x, p)
	return planes, h, w, oh, ow, c.check(op, err)
}

// MaxPool2d takes the first maximum of each window (PyTorch's order).
func (c *CPU) MaxPool2d(y, idx, x *Tensor, p Pool2dParams) {
	const op = "maxpool2d"
	if !c.ok(op, y, x) || !c.okAs(op, Int32, idx) {
		return
	}
	planes, h, w, oh, ow, ok := c.poolGeom(op, y, x, p)
	if !ok {
		return
	}
	if idx.dtype != Int32 || !SameShape(idx.shape, y.shape) {
		c.fail(op, "indices %s must be int32 shaped like %s", idx, y)
		return
	}
	xs, ys, is := F32(x), F32(y), I32(idx)
	if ow < 8 && planes >= 8 && hasAVX2 {
		if offs, starts := maxPoolWindows(h, w, oh, ow, p); offs != nil {
			c.maxPoolPlanes(ys, is, xs, planes, h*w, oh*ow, offs, starts)
			return
		}
	}
	c.w.For(planes, grainFor(h*w, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			in := xs[pl*h*w : (pl+1)*h*w]
			for i := 0; i < oh; i++ {
				o := (pl*oh + i) * ow
				maxPoolRow(ys[o:o+ow], is[o:o+ow], in, i, h, w, p)
			}
		}
	})
}

// maxPoolWindows lists each output's window as plane offsets a·w+b in
// row-major order: output o's are offs[starts[o]:starts[o+1]]; nil when a
// window is empty.
func maxPoolWindows(h, w, oh, ow int, p Pool2dParams) (offs, starts []int32) {
	starts = make([]int32, 1, oh*ow+1)
	for i := 0; i < oh; i++ {
		h0 := i*p.StrideH - p.PadH
		h1 := min(h0+p.KH, h)
		h0 = max(h0, 0)
		for j := 0; j < ow; j++ {
			w0 := j*p.StrideW - p.PadW
			w1 := min(w0+p.KW, w)
			w0 = max(w0, 0)
			if h1 <= h0 || w1 <= w0 {
				return nil, nil
			}
			for a := h0; a < h1; a++ {
				for b := w0; b < w1; b++ {
					offs = append(offs, int32(a*w+b))
				}
			}
			starts = append(starts, int32(len(offs)))
		}
	}
	return offs, starts
}

// maxPoolPlanes is MaxPool2d for planes too narrow for maxPoolRow's vector
// loop (fewer than 8 outputs a row: the GoogLeNet's 7×7, 3×3 and 1×1
// planes): 8 planes at a time in maxPoolPlanesAVX2 (each lane one plane,
// the windows gathered), the results moved to their planes; a chunk's last
// planes short of 8 scan their windows one by one with the same rule.
func (c *CPU) maxPoolPlanes(ys []float32, is []int32, xs []float32, planes, hw, ohw int, offs, starts []int32) {
	c.w.For(planes, max(8, grainFor(hw, ewGrain)&^7), func(lo, hi int) {
		val, idx := make([]float32, 8*ohw), make([]int32, 8*ohw)
		pl := lo
		for ; pl+8 <= hi; pl += 8 {
			maxPoolPlanesAVX2(&val[0], &idx[0], &xs[pl*hw], hw, ohw, &offs[0], &starts[0])
			for l := 0; l < 8; l++ {
				y, ix := ys[(pl+l)*ohw:(pl+l+1)*ohw], is[(pl+l)*ohw:(pl+l+1)*ohw]
				for o := range y {
					y[o], ix[o] = val[8*o+l], idx[8*o+l]
				}
			}
		}
		for ; pl < hi; pl++ {
			in := xs[pl*hw : (pl+1)*hw]
			for o := 0; o < ohw; o++ {
				best, bi := in[offs[starts[o]]], offs[starts[o]]
				for _, off := range offs[starts[o]+1 : starts[o+1]] {
					if v := in[off]; v > best || (v != v && best == best) {
						best, bi = v, off
					}
				}
				ys[pl*ohw+o], is[pl*ohw+o] = best, bi
			}
		}
	})
}

// maxWindow is the first maximum of in's rows [h0, h1) and columns [w0, w1)
// in row-major order and its index a·w+b, or the first NaN: PyTorch's
// order. An empty window gives −Inf at h0·w+w0.
func maxWindow(in []float32, w, h0, h1, w0, w1 int) (float32, int32) {
	best, bi := float32(math.Inf(-1)), h0*w+w0
	for a := h0; a < h1; a++ {
		for b := w0; b < w1; b++ {
			v := in[a*w+b]
			if v > best || v != v {
				best, bi = v, a*w+b
				if v != v {
					return best, int32(bi)
				}
			}
		}
	}
	return best, int32(bi)
}

// maxPoolRow writes output row i of one plane (in, h×w). On amd64 with
// AVX2, the outputs whose windows lie inside the row (8 at a time, strides 1
// and 2) run in maxPoolRowAVX2, which keeps maxWindow's value and index;
// the others run maxWindow.
func maxPoolRow(ys []float32, is []int32, in []float32, i, h, w int, p Pool2dParams) {
	h0 := i*p.StrideH - p.PadH
	h1 := min(h0+p.KH, h)
	h0 = max(h0, 0)
	sw := p.StrideW
	scalar := func(lo, hi int) {
		for o := lo; o < hi; o++ {
			w0 := o*sw - p.PadW
			w1 := min(w0+p.KW, w)
			w0 = max(w0, 0)
			ys[o], is[o] = maxWindow(in, w, h0, h1, w0, w1)
		}
	}
	// [j0, j1): outputs whose loads stay in the row: sw·j − pad ≥ 0 and
	// sw·j − pad + kw − 1 + (sw − 1) < w (a stride-2 load reads one float
	// past its last even one).
	j0, last := (p.PadW+sw-1)/sw, w-p.KW-sw+1+p.PadW
	if !hasAVX2 || (sw != 1 && sw != 2) || h1 <= h0 || last < 0 {
		scalar(0, len(ys))
		return
	}
	j1 := min(last/sw+1, len(ys))
	if j1-j0 < 8 {
		scalar(0, len(ys))
		return
	}
	vec := func(j, n int) {
		col := j*sw - p.PadW
		maxPoolRowAVX2(&ys[j], &is[j], &in[h0*w+col], n, h1-h0, p.KW, w, sw, h0*w+col)
	}
	vec(j0, (j1-j0)&^7)
	if (j1-j0)%8 != 0 {
		vec(j1-8, 8) // the last 8, again for some: the same values
	}
	scalar(0, j0)
	scalar(j1, len(ys))
}

// MaxPool2dBackward routes each dy to the argmax it came from.
func (c *CPU) MaxPool2dBackward(dx, dy, idx *Tensor) {
	const op = "maxpool2d backward"
	if !c.ok(op, dx, dy) || !c.okAs(op, Int32, idx) {
		return
	}
	if dx.Rank() != 4 || dy.Rank() != 4 || !SameShape(dy.shape, idx.shape) || dx.shape[0] != dy.shape[0] || dx.shape[1] != dy.shape[1] {
		c.fail(op, "shapes do not fit: %s", shapeStr(dx, dy, idx))
		return
	}
	planes, hw, ohw := dx.shape[0]*dx.shape[1], dx.shape[2]*dx.shape[3], dy.shape[2]*dy.shape[3]
	dxs, dys, is := F32(dx), F32(dy), I32(idx)
	c.w.For(planes, grainFor(hw, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			out := dxs[pl*hw : (pl+1)*hw]
			clear(out)
			for o := pl * ohw; o < (pl+1)*ohw; o++ {
				out[is[o]] += dys[o]
			}
		}
	})
}

// window is the input range [lo, hi) one output reads along an axis, and
// that axis's share of the average's divisor.
type window struct {
	lo, hi int
	div    float32
}

// avgWindows are PyTorch's average-pool windows and divisors along an axis
// of in elements with out outputs.
func avgWindows(out, k, stride, pad, in int, excludePad bool) []window {
	ws := make([]window, out)
	for i := range ws {
		lo := i*stride - pad
		hi := min(lo+k, in+pad)
		size := hi - lo
		lo, hi = max(lo, 0), min(hi, in)
		if excludePad {
			size = hi - lo
		}
		ws[i] = window{lo, hi, float32(size)}
	}
	return ws
}

// adaptiveWindows are PyTorch's adaptive pooling windows
// [floor(i·in/out), ceil((i+1)·in/out)), each divided by its size.
func adaptiveWindows(out, in int) []window {
	ws := make([]window, out)
	for i := range ws {
		lo, hi := i*in/out, ((i+1)*in+out-1)/out
		ws[i] = window{lo, hi, float32(hi - lo)}
	}
	return ws
}

// avgPool averages each (row, column) window of every h×w plane of xs
// into ys: the average and adaptive pools' shared loop.
func (c *CPU) avgPool(ys, xs []float32, planes, h, w int, rows, cols []window) {
	oh, ow := len(rows), len(cols)
	c.w.For(planes, grainFor(h*w, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			in := xs[pl*h*w : (pl+1)*h*w]
			for i, r := range rows {
				for j, col := range cols {
					var s float32
					for a := r.lo; a < r.hi; a++ {
						for b := col.lo; b < col.hi; b++ {
							s += in[a*w+b]
						}
					}
					ys[(pl*oh+i)*ow+j] = s / (r.div * col.div)
				}
			}
		}
	})
}

// avgPoolBackward spreads each dy evenly over its window: the gradient of
// avgPool.
func (c *CPU) avgPoolBackward(dxs, dys []float32, planes, h, w int, rows, cols []window) {
	oh, ow := len(rows), len(cols)
	c.w.For(planes, grainFor(h*w, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			out := dxs[pl*h*w : (pl+1)*h*w]
			clear(out)
			for i, r := range rows {
				for j, col := range cols {
					g := dys[(pl*oh+i)*ow+j] / (r.div * col.div)
					for a := r.lo; a < r.hi; a++ {
						for b := col.lo; b < col.hi; b++ {
							out[a*w+b] += g
						}
					}
				}
			}
		}
	})
}

// AvgPool2d averages each window (count_include_pad unless ExcludePad).
func (c *CPU) AvgPool2d(y, x *Tensor, p Pool2dParams) {
	const op = "avgpool2d"
	if !c.ok(op, y, x) {
		return
	}
	planes, h, w, oh, ow, ok := c.poolGeom(op, y, x, p)
	if !ok {
		return
	}
	c.avgPool(F32(y), F32(x), planes, h, w,
		avgWindows(oh, p.KH, p.StrideH, p.PadH, h, p.ExcludePad), avgWindows(ow, p.KW, p.StrideW, p.PadW, w, p.ExcludePad))
}

// AvgPool2dBackward spreads each dy evenly over its window.
func (c *CPU) AvgPool2dBackward(dx, dy *Tensor, p Pool2dParams) {
	const op = "avgpool2d backward"
	if !c.ok(op, dx, dy) {
		return
	}
	planes, h, w, oh, ow, ok := c.poolGeom(op, dy, dx, p)
	if !ok {
		return
	}
	c.avgPoolBackward(F32(dx), F32(dy), planes, h, w,
		avgWindows(oh, p.KH, p.StrideH, p.PadH, h, p.ExcludePad), avgWindows(ow, p.KW, p.StrideW, p.PadW, w, p.ExcludePad))
}

func (c *CPU) adaptiveGeom(op string, y, x *Tensor) (planes, h, w, oh, ow int, ok bool) {
	planes, h, w, oh, ow, err := AdaptivePoolGeometry(y, x)
	return planes, h, w, oh, ow, c.check(op, err)
}

// AdaptiveAvgPool2d averages the adaptive windows (global pooling when y is 1x1).
func (c *CPU) AdaptiveAvgPool2d(y, x *Tensor) {
	const op = "adaptive avgpool2d"
	if !c.ok(op, y, x) {
		return
	}
	planes, h, w, oh, ow, ok := c.adaptiveGeom(op, y, x)
	if !ok {
		return
	}
	c.avgPool(F32(y), F32(x), planes, h, w, adaptiveWindows(oh, h), adaptiveWindows(ow, w))
}

// AdaptiveAvgPool2dBackward spreads each dy evenly over its window.
func (c *CPU) AdaptiveAvgPool2dBackward(dx, dy *Tensor) {
	const op = "adaptive avgpool2d backward"
	if !c.ok(op, dx, dy) {
		return
	}
	planes, h, w, oh, ow, ok := c.adaptiveGeom(op, dy, dx)
	if !ok {
		return
	}
	c.avgPoolBackward(F32(dx), F32(dy), planes, h, w, adaptiveWindows(oh, h), adaptiveWindows(ow, w))
}
