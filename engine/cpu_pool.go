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
	c.w.For(planes, grainFor(h*w, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			in := xs[pl*h*w : (pl+1)*h*w]
			for i := 0; i < oh; i++ {
				h0 := i*p.StrideH - p.PadH
				h1 := min(h0+p.KH, h)
				h0 = max(h0, 0)
				for j := 0; j < ow; j++ {
					w0 := j*p.StrideW - p.PadW
					w1 := min(w0+p.KW, w)
					w0 = max(w0, 0)
					best, bi := float32(math.Inf(-1)), h0*w+w0
					for a := h0; a < h1; a++ {
						for b := w0; b < w1; b++ {
							v := in[a*w+b]
							if v > best || v != v {
								best, bi = v, a*w+b
								if v != v {
									a = h1
									break
								}
							}
						}
					}
					o := (pl*oh+i)*ow + j
					ys[o], is[o] = best, int32(bi)
				}
			}
		}
	})
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

// avgWindow is PyTorch's average-pool window and divisor.
func avgWindow(i, k, stride, pad, in int, excludePad bool) (lo, hi int, div float32) {
	lo = i*stride - pad
	hi = min(lo+k, in+pad)
	size := hi - lo
	lo, hi = max(lo, 0), min(hi, in)
	if excludePad {
		size = hi - lo
	}
	return lo, hi, float32(size)
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
	xs, ys := F32(x), F32(y)
	c.w.For(planes, grainFor(h*w, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			in := xs[pl*h*w : (pl+1)*h*w]
			for i := 0; i < oh; i++ {
				h0, h1, dh := avgWindow(i, p.KH, p.StrideH, p.PadH, h, p.ExcludePad)
				for j := 0; j < ow; j++ {
					w0, w1, dw := avgWindow(j, p.KW, p.StrideW, p.PadW, w, p.ExcludePad)
					var s float32
					for a := h0; a < h1; a++ {
						for b := w0; b < w1; b++ {
							s += in[a*w+b]
						}
					}
					ys[(pl*oh+i)*ow+j] = s / (dh * dw)
				}
			}
		}
	})
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
	dxs, dys := F32(dx), F32(dy)
	c.w.For(planes, grainFor(h*w, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			out := dxs[pl*h*w : (pl+1)*h*w]
			clear(out)
			for i := 0; i < oh; i++ {
				h0, h1, dh := avgWindow(i, p.KH, p.StrideH, p.PadH, h, p.ExcludePad)
				for j := 0; j < ow; j++ {
					w0, w1, dw := avgWindow(j, p.KW, p.StrideW, p.PadW, w, p.ExcludePad)
					g := dys[(pl*oh+i)*ow+j] / (dh * dw)
					for a := h0; a < h1; a++ {
						for b := w0; b < w1; b++ {
							out[a*w+b] += g
						}
					}
				}
			}
		}
	})
}

// adaptiveWindow is PyTorch's adaptive pooling window [floor(i·in/out), ceil((i+1)·in/out)).
func adaptiveWindow(i, in, out int) (lo, hi int) {
	return i * in / out, ((i+1)*in + out - 1) / out
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
	xs, ys := F32(x), F32(y)
	c.w.For(planes, grainFor(h*w, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			in := xs[pl*h*w : (pl+1)*h*w]
			for i := 0; i < oh; i++ {
				h0, h1 := adaptiveWindow(i, h, oh)
				for j := 0; j < ow; j++ {
					w0, w1 := adaptiveWindow(j, w, ow)
					var s float32
					for a := h0; a < h1; a++ {
						for b := w0; b < w1; b++ {
							s += in[a*w+b]
						}
					}
					ys[(pl*oh+i)*ow+j] = s / float32((h1-h0)*(w1-w0))
				}
			}
		}
	})
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
	dxs, dys := F32(dx), F32(dy)
	c.w.For(planes, grainFor(h*w, ewGrain), func(lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			out := dxs[pl*h*w : (pl+1)*h*w]
			clear(out)
			for i := 0; i < oh; i++ {
				h0, h1 := adaptiveWindow(i, h, oh)
				for j := 0; j < ow; j++ {
					w0, w1 := adaptiveWindow(j, w, ow)
					g := dys[(pl*oh+i)*ow+j] / float32((h1-h0)*(w1-w0))
					for a := h0; a < h1; a++ {
						for b := w0; b < w1; b++ {
							out[a*w+b] += g
						}
					}
				}
			}
		}
	})
}
