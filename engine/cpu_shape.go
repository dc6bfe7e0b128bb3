package engine

// forIndex runs fn over the flat indices [lo,hi) of shape with the offsets
// of up to two strided operands, walking the last dimension innermost.
func forIndex(shape []int, lo, hi int, sa, sb *[MaxRank]int, fn func(i, oa, ob, n, ia, ib int)) {
	r := len(shape)
	if r == 0 {
		if lo < hi {
			fn(0, 0, 0, 1, 0, 0)
		}
		return
	}
	var idx [MaxRank]int
	rem := lo
	for d := r - 1; d >= 0; d-- {
		idx[d] = rem % shape[d]
		rem /= shape[d]
	}
	last := shape[r-1]
	for i := lo; i < hi; {
		oa, ob := 0, 0
		for d := 0; d < r; d++ {
			oa += idx[d] * sa[d]
			ob += idx[d] * sb[d]
		}
		n := min(last-idx[r-1], hi-i)
		fn(i, oa, ob, n, sa[r-1], sb[r-1])
		i += n
		idx[r-1] += n
		for d := r - 1; d > 0 && idx[d] >= shape[d]; d-- {
			idx[d] = 0
			idx[d-1]++
		}
	}
}

// Add computes y = a + b with NumPy broadcasting of a and b to y's shape.
func (c *CPU) Add(y, a, b *Tensor) {
	const op = "add"
	if !c.ok(op, y, a, b) {
		return
	}
	ys, as, bs := F32(y), F32(a), F32(b)
	if SameShape(a.shape, y.shape) && SameShape(b.shape, y.shape) {
		c.w.For(len(ys), ewGrain, func(lo, hi int) {
			addRun(ys[lo:hi], as[lo:hi], bs[lo:hi])
		})
		return
	}
	sa, okA := BroadcastStrides(y.shape, a)
	sb, okB := BroadcastStrides(y.shape, b)
	if !okA || !okB {
		c.fail(op, "cannot broadcast %s", shapeStr(y, a, b))
		return
	}
	c.w.For(len(ys), ewGrain, func(lo, hi int) {
		forIndex(y.shape, lo, hi, &sa, &sb, func(i, oa, ob, n, ia, ib int) {
			for k := 0; k < n; k++ {
				ys[i+k] = as[oa+k*ia] + bs[ob+k*ib]
			}
		})
	})
}

// SumTo sums dy over the dimensions in which y was broadcast.
func (c *CPU) SumTo(y, dy *Tensor) {
	const op = "sum to"
	if !c.ok(op, y, dy) {
		return
	}
	ys, ds := F32(y), F32(dy)
	if SameShape(y.shape, dy.shape) {
		copy(ys, ds)
		return
	}
	sy, ok := BroadcastStrides(dy.shape, y)
	if !ok {
		c.fail(op, "%s does not broadcast to %s", y, dy)
		return
	}
	// Split dy's dimensions into kept (y's own) and reduced ones.
	r := dy.Rank()
	var dstride [MaxRank]int
	s := 1
	for d := r - 1; d >= 0; d-- {
		dstride[d] = s
		s *= dy.shape[d]
	}
	var kept, red []int
	for d := 0; d < r; d++ {
		if sy[d] == 0 && dy.shape[d] != 1 {
			red = append(red, d)
		} else if dy.shape[d] != 1 {
			kept = append(kept, d)
		}
	}
	nred := 1
	for _, d := range red {
		nred *= dy.shape[d]
	}
	c.w.For(len(ys), grainFor(nred, ewGrain), func(lo, hi int) {
		for yi := lo; yi < hi; yi++ {
			// dy offset of this y element: decode yi over the kept dims.
			base, rem := 0, yi
			for k := len(kept) - 1; k >= 0; k-- {
				d := kept[k]
				base += rem % dy.shape[d] * dstride[d]
				rem /= dy.shape[d]
			}
			var sum float64
			for j := 0; j < nred; j++ {
				off, rj := base, j
				for k := len(red) - 1; k >= 0; k-- {
					d := red[k]
					off += rj % dy.shape[d] * dstride[d]
					rj /= dy.shape[d]
				}
				sum += float64(ds[off])
			}
			ys[yi] = float32(sum)
		}
	})
}

// Permute writes y with y.dim(i) = x.dim(perm[i]).
func (c *CPU) Permute(y, x *Tensor, perm []int) {
	const op = "permute"
	if !c.ok(op, y, x) {
		return
	}
	r := x.Rank()
	if len(perm) != r || y.Rank() != r || r > MaxRank {
		c.fail(op, "perm %v for %s", perm, shapeStr(y, x))
		return
	}
	var xstride, sx, zero [MaxRank]int
	s := 1
	for d := r - 1; d >= 0; d-- {
		xstride[d] = s
		s *= x.shape[d]
	}
	seen := 0
	for i, p := range perm {
		if p < 0 || p >= r || seen&(1<<p) != 0 || y.shape[i] != x.shape[p] {
			c.fail(op, "perm %v does not map %s", perm, shapeStr(x, y))
			return
		}
		seen |= 1 << p
		sx[i] = xstride[p]
	}
	ys, xs := F32(y), F32(x)
	c.w.For(len(ys), ewGrain, func(lo, hi int) {
		forIndex(y.shape, lo, hi, &sx, &zero, func(i, ox, _, n, ix, _ int) {
			for k := 0; k < n; k++ {
				ys[i+k] = xs[ox+k*ix]
			}
		})
	})
}

// concatGeom checks that the xs fit y along axis: outer rows, y's row length.
func (c *CPU) concatGeom(op string, y *Tensor, xs []*Tensor, axis int) (outer, inner, rowLen int, ok bool) {
	outer, inner, rowLen, err := ConcatGeometry(y, xs, axis)
	return outer, inner, rowLen, c.check(op, err)
}

// Concat joins xs along axis.
func (c *CPU) Concat(y *Tensor, xs []*Tensor, axis int) {
	const op = "concat"
	if !c.ok(op, y) || !c.ok(op, xs...) {
		return
	}
	outer, inner, rowLen, ok := c.concatGeom(op, y, xs, axis)
	if !ok {
		return
	}
	if axis < 0 {
		axis += y.Rank()
	}
	ys := F32(y)
	c.w.For(outer, grainFor(rowLen, ewGrain), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			off := o * rowLen
			for _, x := range xs {
				n := x.shape[axis] * inner
				copy(ys[off:off+n], F32(x)[o*n:(o+1)*n])
				off += n
			}
		}
	})
}

// Split is Concat's gradient: it copies the parts of dy back to dxs.
func (c *CPU) Split(dxs []*Tensor, dy *Tensor, axis int) {
	const op = "split"
	if !c.ok(op, dy) || !c.ok(op, dxs...) {
		return
	}
	outer, inner, rowLen, ok := c.concatGeom(op, dy, dxs, axis)
	if !ok {
		return
	}
	if axis < 0 {
		axis += dy.Rank()
	}
	ds := F32(dy)
	c.w.For(outer, grainFor(rowLen, ewGrain), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			off := o * rowLen
			for _, x := range dxs {
				n := x.shape[axis] * inner
				copy(F32(x)[o*n:(o+1)*n], ds[off:off+n])
				off += n
			}
		}
	})
}

func (c *CPU) meanGeom(op string, y, x *Tensor, axis int) (outer, l, inner int, ok bool) {
	outer, l, inner, err := MeanGeometry(y, x, axis)
	return outer, l, inner, c.check(op, err)
}

// Mean averages x over axis (summed in float64, in order).
func (c *CPU) Mean(y, x *Tensor, axis int) {
	const op = "mean"
	if !c.ok(op, y, x) {
		return
	}
	outer, l, inner, ok := c.meanGeom(op, y, x, axis)
	if !ok {
		return
	}
	xs, ys := F32(x), F32(y)
	c.w.For(outer*inner, grainFor(l, ewGrain), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o, in := i/inner, i%inner
			var s float64
			for k := 0; k < l; k++ {
				s += float64(xs[(o*l+k)*inner+in])
			}
			ys[i] = float32(s / float64(l))
		}
	})
}

// MeanBackward broadcasts dy/L back over axis.
func (c *CPU) MeanBackward(dx, dy *Tensor, axis int) {
	const op = "mean backward"
	if !c.ok(op, dx, dy) {
		return
	}
	_, l, inner, ok := c.meanGeom(op, dy, dx, axis)
	if !ok {
		return
	}
	dxs, dys := F32(dx), F32(dy)
	inv := 1 / float32(l)
	c.w.For(len(dxs), ewGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			o, in := i/(l*inner), i%inner
			dxs[i] = dys[o*inner+in] * inv
		}
	})
}

func (c *CPU) channelGeom(op string, y, x, s *Tensor) (nc, sp int, ok bool) {
	nc, sp, err := ChannelGeometry(y, x, s)
	return nc, sp, c.check(op, err)
}

// ChannelScale computes y[n,c,...] = x[n,c,...]·s[n,c].
func (c *CPU) ChannelScale(y, x, s *Tensor) {
	const op = "channel scale"
	if !c.ok(op, y, x, s) {
		return
	}
	nc, sp, ok := c.channelGeom(op, y, x, s)
	if !ok {
		return
	}
	ys, xs, ss := F32(y), F32(x), F32(s)
	c.w.For(nc, grainFor(sp, ewGrain), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			scaleRun(ys[p*sp:(p+1)*sp], xs[p*sp:(p+1)*sp], ss[p])
		}
	})
}

// ChannelScaleBackward computes dx = dy·s and ds[n,c] = Σ dy·x.
func (c *CPU) ChannelScaleBackward(dx, ds, dy, x, s *Tensor) {
	const op = "channel scale backward"
	if !c.ok(op, dx, ds, dy, x, s) {
		return
	}
	nc, sp, ok := c.channelGeom(op, dy, x, s)
	if !ok || (dx != nil && !SameShape(dx.shape, x.shape)) || (ds != nil && ds.Len() != s.Len()) {
		if ok {
			c.fail(op, "gradient shapes: %s", shapeStr(dx, ds, dy, x, s))
		}
		return
	}
	dys, xs, ss := F32(dy), F32(x), F32(s)
	var dxs, dss []float32
	if dx != nil {
		dxs = F32(dx)
	}
	if ds != nil {
		dss = F32(ds)
	}
	c.w.For(nc, grainFor(sp, ewGrain), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d, v := dys[p*sp:(p+1)*sp], xs[p*sp:(p+1)*sp]
			if dss != nil {
				dss[p] = float32(dot64(d, v))
			}
			if dxs != nil {
				scaleRun(dxs[p*sp:(p+1)*sp], d, ss[p])
			}
		}
	})
}
