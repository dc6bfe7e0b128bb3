package engine

// Batch norm on small planes. With planes of a few pixels (the light
// ResNet's 7x7, 4x4, 2x2 and 1x1 maps) the per-plane loops of bnTrain and
// bnBackward run a call, a range check and a reduction for every 4 or 16
// values, and a tensor of 1 MB or less is one chunk of samples, on one
// thread. Here the channels are split into blocks whose run in one sample
// is at most bnBlock values; each block, on its own thread, walks the
// samples in order, keeping per-position partial sums (float64) and
// per-position coefficients (the channel's, repeated), so the inner loops
// are flat runs of bnBlock values. Each channel's result depends only on
// its own values, in a fixed order: the same for any thread count.

// bnSmallPlane: planes smaller than this take the block path (a variable
// so that tests can run both paths on one shape).
var bnSmallPlane = 32

// bnBlock bounds a channel block's run in one sample (a multiple of 4:
// bnLin3Small's coefficients go in groups of 4 positions).
const bnBlock = 256

// bnChanBlock is the number of channels in a block for planes of s pixels.
func bnChanBlock(s int) int { return max(1, bnBlock/s) }

// bnStatsSmall returns Σ(x−shift[k]) and Σ(x−shift[k])² per channel (2·ch
// values in out, first sums then squares), x (N, C, S).
func (c *CPU) bnStatsSmall(out []float64, xs []float32, shift []float64, n, ch, s int) {
	cb := bnChanBlock(s)
	c.w.For(ch, cb, func(k0, k1 int) {
		var p1, p2, sh [bnBlock]float64
		l := (k1 - k0) * s
		for j := 0; j < l; j++ {
			sh[j] = shift[k0+j/s]
		}
		v8 := vec8(l)
		for i := 0; i < n; i++ {
			seg := xs[(i*ch+k0)*s : (i*ch+k0)*s+l]
			if v8 > 0 {
				bnStatsAVX2(&seg[0], &sh[0], &p1[0], &p2[0], v8)
			}
			for j := v8; j < l; j++ {
				d := float64(seg[j]) - sh[j]
				p1[j] += d
				p2[j] += d * d
			}
		}
		bnFoldPositions(out, p1[:], p2[:], k0, k1, ch, s)
	})
}

// bnFoldPositions writes out[k] and out[ch+k], k in [k0, k1), as the sums
// of the channel's s positions of the block's partial sums p1 and p2.
func bnFoldPositions(out, p1, p2 []float64, k0, k1, ch, s int) {
	for k := k0; k < k1; k++ {
		var a1, a2 float64
		for j := (k - k0) * s; j < (k-k0+1)*s; j++ {
			a1 += p1[j]
			a2 += p2[j]
		}
		out[k], out[ch+k] = a1, a2
	}
}

// bnApplySmall writes y = x·a + off (then ReLU when relu is set), coef[2k]
// = a, coef[2k+1] = off, as bnApply does element by element.
func (c *CPU) bnApplySmall(ys, xs, coef []float32, n, ch, s int, relu bool) {
	cb := bnChanBlock(s)
	c.w.For(ch, cb, func(k0, k1 int) {
		var a, o [bnBlock]float32
		l := (k1 - k0) * s
		for j := 0; j < l; j++ {
			k := k0 + j/s
			a[j], o[j] = coef[2*k], coef[2*k+1]
		}
		v8 := vec8(l)
		for i := 0; i < n; i++ {
			at := (i*ch + k0) * s
			x, y := xs[at:at+l], ys[at:at+l]
			if v8 > 0 {
				bnApplyAVX2(&y[0], &x[0], &a[0], &o[0], v8, flag(relu))
			}
			for j := v8; j < l; j++ {
				if relu {
					y[j] = relu32(x[j]*a[j] + o[j])
				} else {
					y[j] = x[j]*a[j] + o[j]
				}
			}
		}
	})
}

// bnGradSumsSmall returns Σd and Σd·(x−mean[k]) per channel (2·ch values
// in out), d = dy, masked by y > 0 when ym is not nil.
func (c *CPU) bnGradSumsSmall(out []float64, dys, xs, ym []float32, mean []float32, n, ch, s int) {
	cb := bnChanBlock(s)
	c.w.For(ch, cb, func(k0, k1 int) {
		var p1, p2, mu [bnBlock]float64
		l := (k1 - k0) * s
		for j := 0; j < l; j++ {
			mu[j] = float64(mean[k0+j/s])
		}
		v8 := vec8(l)
		for i := 0; i < n; i++ {
			at := (i*ch + k0) * s
			dy, x, y := dys[at:at+l], xs[at:at+l], maskOrNil(ym, at, l)
			if v8 > 0 {
				var yp *float32
				if y != nil {
					yp = &y[0]
				}
				bnGradSumsAVX2(&dy[0], &x[0], yp, &mu[0], &p1[0], &p2[0], v8)
			}
			for j := v8; j < l; j++ {
				v := dy[j]
				if y != nil {
					v = masked(v, y[j])
				}
				d := float64(v)
				p1[j] += d
				p2[j] += d * (float64(x[j]) - mu[j])
			}
		}
		bnFoldPositions(out, p1[:], p2[:], k0, k1, ch, s)
	})
}

// bnLin3Small writes dx = float32(a·d + b·x + c) in float64 with coef[3k],
// coef[3k+1], coef[3k+2] = a, b, c and d = dy masked by y > 0 when ym is
// not nil.
func (c *CPU) bnLin3Small(dxs, dys, xs, ym []float32, coef []float64, n, ch, s int) {
	cb := bnChanBlock(s)
	c.w.For(ch, cb, func(k0, k1 int) {
		// abc: per group of 4 positions, their 4 a, 4 b and 4 c.
		var abc [3 * bnBlock]float64
		l := (k1 - k0) * s
		for j := 0; j < l; j++ {
			k, at := k0+j/s, j/4*12+j%4
			abc[at], abc[at+4], abc[at+8] = coef[3*k], coef[3*k+1], coef[3*k+2]
		}
		v8 := vec8(l)
		for i := 0; i < n; i++ {
			at := (i*ch + k0) * s
			dx, dy, x, y := dxs[at:at+l], dys[at:at+l], xs[at:at+l], maskOrNil(ym, at, l)
			if v8 > 0 {
				var yp *float32
				if y != nil {
					yp = &y[0]
				}
				bnLin3AVX2(&dx[0], &dy[0], &x[0], yp, &abc[0], v8)
			}
			for j := v8; j < l; j++ {
				v := dy[j]
				if y != nil {
					v = masked(v, y[j])
				}
				q := j/4*12 + j%4
				dx[j] = float32(abc[q]*float64(v) + abc[q+4]*float64(x[j]) + abc[q+8])
			}
		}
	})
}

// bnScratch, bnCoef32 and bnCoef64 return reused per-channel buffers of n
// values for the batch norms (statistics, sums and coefficients), so that
// a training step allocates nothing.
func (c *CPU) bnScratch(n int) []float64 {
	if cap(c.bn64) < n {
		c.bn64 = make([]float64, n)
	}
	return c.bn64[:n]
}

func (c *CPU) bnCoef32(n int) []float32 {
	if cap(c.bn32) < n {
		c.bn32 = make([]float32, n)
	}
	return c.bn32[:n]
}

func (c *CPU) bnCoef64(n int) []float64 {
	if cap(c.bnc64) < n {
		c.bnc64 = make([]float64, n)
	}
	return c.bnc64[:n]
}
