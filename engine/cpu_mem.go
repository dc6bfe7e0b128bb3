package engine

import "math"

// The inner loops of the CPU engine's memory-bound ops: each works on one
// contiguous run of elements, unrolled by four with independent
// accumulators (so a loop is bound by loads, not by the latency of one
// chain of adds), with no branches on the data. Sums are combined in a
// fixed order, so a result depends only on the run, never on the threads.
// On amd64 with AVX2 and FMA the hottest loops run 8 floats at a time in
// cpu_mem_amd64.s (the first len &^ 7 elements; the Go loop does the
// tail); their element-wise results are the Go loops' bit for bit, their
// float64 sums are summed in another (fixed) order.

// vec8 is the part of n the AVX2 loops take (0 without them).
func vec8(n int) int {
	if !hasAVX2 {
		return 0
	}
	return n &^ 7
}

func flag(v bool) int {
	if v {
		return 1
	}
	return 0
}

// f32OrNil is F32(t), or nil for a nil tensor (an optional operand).
func f32OrNil(t *Tensor) []float32 {
	if t == nil {
		return nil
	}
	return F32(t)
}

// maskOrNil is m[base:base+n], or nil when there is no mask.
func maskOrNil(m []float32, base, n int) []float32 {
	if m == nil {
		return nil
	}
	return m[base : base+n]
}

// posMask is all ones when v > 0 (a positive number or +Inf), else 0 (zeros,
// negatives, NaN): the bits of v below 0x7f800001 and above 0 are exactly
// those of the positive floats.
func posMask(v float32) uint32 {
	b := math.Float32bits(v)
	return uint32((int64(b-1) - 0x7f800000) >> 63)
}

// relu32 is max(v, 0) as CPU.Relu computes it (NaN gives 0), without a
// branch.
func relu32(v float32) float32 {
	return math.Float32frombits(math.Float32bits(v) & posMask(v))
}

// sumShifted returns Σ(x−k) and Σ(x−k)² in float64.
func sumShifted(xs []float32, k float64) (s1, s2 float64) {
	var a0, a1, a2, a3, q0, q1, q2, q3 float64
	i := vec8(len(xs))
	if i > 0 {
		a0, q0 = sumShiftedAVX2(&xs[0], i, k)
	}
	for ; i+4 <= len(xs); i += 4 {
		v := xs[i : i+4 : i+4]
		d0, d1, d2, d3 := float64(v[0])-k, float64(v[1])-k, float64(v[2])-k, float64(v[3])-k
		a0 += d0
		a1 += d1
		a2 += d2
		a3 += d3
		q0 += d0 * d0
		q1 += d1 * d1
		q2 += d2 * d2
		q3 += d3 * d3
	}
	for ; i < len(xs); i++ {
		d := float64(xs[i]) - k
		a0 += d
		q0 += d * d
	}
	return (a0 + a1) + (a2 + a3), (q0 + q1) + (q2 + q3)
}

// affine writes ys = xs·a + off (float32, rounded after each operation),
// then max(·, 0) when relu is set. ys may be xs.
func affine(ys, xs []float32, a, off float32, relu bool) {
	ys = ys[:len(xs)]
	i := vec8(len(xs))
	if i > 0 {
		affineAVX2(&ys[0], &xs[0], i, a, off, flag(relu))
	}
	if relu {
		for ; i+4 <= len(xs); i += 4 {
			v, y := xs[i:i+4:i+4], ys[i:i+4:i+4]
			y0, y1, y2, y3 := v[0]*a+off, v[1]*a+off, v[2]*a+off, v[3]*a+off
			y[0], y[1], y[2], y[3] = relu32(y0), relu32(y1), relu32(y2), relu32(y3)
		}
		for ; i < len(xs); i++ {
			ys[i] = relu32(xs[i]*a + off)
		}
		return
	}
	for ; i+4 <= len(xs); i += 4 {
		v, y := xs[i:i+4:i+4], ys[i:i+4:i+4]
		y0, y1, y2, y3 := v[0]*a+off, v[1]*a+off, v[2]*a+off, v[3]*a+off
		y[0], y[1], y[2], y[3] = y0, y1, y2, y3
	}
	for ; i < len(xs); i++ {
		ys[i] = xs[i]*a + off
	}
}

// dotSums returns Σdy and Σdy·(x−mean) in float64.
func dotSums(dys, xs []float32, mean float64) (s1, s2 float64) {
	xs = xs[:len(dys)]
	var a0, a1, a2, a3, q0, q1, q2, q3 float64
	i := vec8(len(dys))
	if i > 0 {
		a0, q0 = dotSumsAVX2(&dys[0], &xs[0], nil, i, mean)
	}
	for ; i+4 <= len(dys); i += 4 {
		d, v := dys[i:i+4:i+4], xs[i:i+4:i+4]
		d0, d1, d2, d3 := float64(d[0]), float64(d[1]), float64(d[2]), float64(d[3])
		a0 += d0
		a1 += d1
		a2 += d2
		a3 += d3
		q0 += d0 * (float64(v[0]) - mean)
		q1 += d1 * (float64(v[1]) - mean)
		q2 += d2 * (float64(v[2]) - mean)
		q3 += d3 * (float64(v[3]) - mean)
	}
	for ; i < len(dys); i++ {
		d := float64(dys[i])
		a0 += d
		q0 += d * (float64(xs[i]) - mean)
	}
	return (a0 + a1) + (a2 + a3), (q0 + q1) + (q2 + q3)
}

// masked is dy where y > 0, else 0 (the gradient through a ReLU whose
// output is y).
func masked(dy, y float32) float32 {
	return math.Float32frombits(math.Float32bits(dy) & posMask(y))
}

// dotSumsMasked is dotSums of dy masked by y > 0.
func dotSumsMasked(dys, xs, ys []float32, mean float64) (s1, s2 float64) {
	xs, ys = xs[:len(dys)], ys[:len(dys)]
	var a0, a1, a2, a3, q0, q1, q2, q3 float64
	i := vec8(len(dys))
	if i > 0 {
		a0, q0 = dotSumsAVX2(&dys[0], &xs[0], &ys[0], i, mean)
	}
	for ; i+4 <= len(dys); i += 4 {
		d, v, y := dys[i:i+4:i+4], xs[i:i+4:i+4], ys[i:i+4:i+4]
		d0, d1 := float64(masked(d[0], y[0])), float64(masked(d[1], y[1]))
		d2, d3 := float64(masked(d[2], y[2])), float64(masked(d[3], y[3]))
		a0 += d0
		a1 += d1
		a2 += d2
		a3 += d3
		q0 += d0 * (float64(v[0]) - mean)
		q1 += d1 * (float64(v[1]) - mean)
		q2 += d2 * (float64(v[2]) - mean)
		q3 += d3 * (float64(v[3]) - mean)
	}
	for ; i < len(dys); i++ {
		d := float64(masked(dys[i], ys[i]))
		a0 += d
		q0 += d * (float64(xs[i]) - mean)
	}
	return (a0 + a1) + (a2 + a3), (q0 + q1) + (q2 + q3)
}

// lin3 writes dx = float32(a·d + b·x + c) in float64, with d = dy masked by
// y > 0 when ys is not nil; with b = c = 0 it writes float32(a·d) and does
// not read x. dx may be dy.
func lin3(dxs, dys, xs, ys []float32, a, b, c float64) {
	dys = dys[:len(dxs)]
	if ys != nil {
		ys = ys[:len(dxs)]
	}
	if b == 0 && c == 0 {
		for i := range dxs {
			d := dys[i]
			if ys != nil {
				d = masked(d, ys[i])
			}
			dxs[i] = float32(a * float64(d))
		}
		return
	}
	xs = xs[:len(dxs)]
	i := vec8(len(dxs))
	if i > 0 {
		var ym *float32
		if ys != nil {
			ym = &ys[0]
		}
		lin3AVX2(&dxs[0], &dys[0], &xs[0], ym, i, a, b, c)
	}
	if ys == nil {
		for ; i+4 <= len(dxs); i += 4 {
			d, v, o := dys[i:i+4:i+4], xs[i:i+4:i+4], dxs[i:i+4:i+4]
			r0 := a*float64(d[0]) + b*float64(v[0]) + c
			r1 := a*float64(d[1]) + b*float64(v[1]) + c
			r2 := a*float64(d[2]) + b*float64(v[2]) + c
			r3 := a*float64(d[3]) + b*float64(v[3]) + c
			o[0], o[1], o[2], o[3] = float32(r0), float32(r1), float32(r2), float32(r3)
		}
	} else {
		for ; i+4 <= len(dxs); i += 4 {
			d, v, y, o := dys[i:i+4:i+4], xs[i:i+4:i+4], ys[i:i+4:i+4], dxs[i:i+4:i+4]
			r0 := a*float64(masked(d[0], y[0])) + b*float64(v[0]) + c
			r1 := a*float64(masked(d[1], y[1])) + b*float64(v[1]) + c
			r2 := a*float64(masked(d[2], y[2])) + b*float64(v[2]) + c
			r3 := a*float64(masked(d[3], y[3])) + b*float64(v[3]) + c
			o[0], o[1], o[2], o[3] = float32(r0), float32(r1), float32(r2), float32(r3)
		}
	}
	for ; i < len(dxs); i++ {
		d := dys[i]
		if ys != nil {
			d = masked(d, ys[i])
		}
		dxs[i] = float32(a*float64(d) + b*float64(xs[i]) + c)
	}
}

// reluRun writes ys = max(xs, 0) (NaN gives 0). ys may be xs.
func reluRun(ys, xs []float32) {
	xs = xs[:len(ys)]
	i := vec8(len(ys))
	if i > 0 {
		// max(x·1 + 0, 0) is max(x, 0) bit for bit: x·1 is x (subnormals
		// included: Go never sets flush-to-zero), x + 0 only turns −0 into
		// +0, and NaN gives 0 either way.
		affineAVX2(&ys[0], &xs[0], i, 1, 0, 1)
	}
	for ; i+4 <= len(ys); i += 4 {
		v, y := xs[i:i+4:i+4], ys[i:i+4:i+4]
		y0, y1, y2, y3 := relu32(v[0]), relu32(v[1]), relu32(v[2]), relu32(v[3])
		y[0], y[1], y[2], y[3] = y0, y1, y2, y3
	}
	for ; i < len(ys); i++ {
		ys[i] = relu32(xs[i])
	}
}

// reluBackwardRun writes dx = dy where y > 0, else 0. dx may be dy.
func reluBackwardRun(dxs, dys, ys []float32) {
	dys, ys = dys[:len(dxs)], ys[:len(dxs)]
	i := 0
	for ; i+4 <= len(dxs); i += 4 {
		d, y, o := dys[i:i+4:i+4], ys[i:i+4:i+4], dxs[i:i+4:i+4]
		o0, o1, o2, o3 := masked(d[0], y[0]), masked(d[1], y[1]), masked(d[2], y[2]), masked(d[3], y[3])
		o[0], o[1], o[2], o[3] = o0, o1, o2, o3
	}
	for ; i < len(dxs); i++ {
		dxs[i] = masked(dys[i], ys[i])
	}
}

// addRun writes ys = as + bs. ys may be as or bs.
func addRun(ys, as, bs []float32) {
	as, bs = as[:len(ys)], bs[:len(ys)]
	i := vec8(len(ys))
	if i > 0 {
		addReluAVX2(&ys[0], &as[0], &bs[0], i, 0)
	}
	for ; i+4 <= len(ys); i += 4 {
		a, b, y := as[i:i+4:i+4], bs[i:i+4:i+4], ys[i:i+4:i+4]
		y0, y1, y2, y3 := a[0]+b[0], a[1]+b[1], a[2]+b[2], a[3]+b[3]
		y[0], y[1], y[2], y[3] = y0, y1, y2, y3
	}
	for ; i < len(ys); i++ {
		ys[i] = as[i] + bs[i]
	}
}

// scaleRun writes ys = xs·f. ys may be xs.
func scaleRun(ys, xs []float32, f float32) {
	scaleAdd(ys, xs, nil, f)
}

// scaleAdd writes ys = xs·f + rs (rounded after the product and after the
// sum), or xs·f when rs is nil. ys may be xs or rs.
func scaleAdd(ys, xs, rs []float32, f float32) {
	xs = xs[:len(ys)]
	i := vec8(len(ys))
	if rs == nil {
		if i > 0 {
			scaleAddAVX2(&ys[0], &xs[0], nil, i, f, 0)
		}
		for ; i+4 <= len(ys); i += 4 {
			v, y := xs[i:i+4:i+4], ys[i:i+4:i+4]
			y0, y1, y2, y3 := v[0]*f, v[1]*f, v[2]*f, v[3]*f
			y[0], y[1], y[2], y[3] = y0, y1, y2, y3
		}
		for ; i < len(ys); i++ {
			ys[i] = xs[i] * f
		}
		return
	}
	rs = rs[:len(ys)]
	if i > 0 {
		scaleAddAVX2(&ys[0], &xs[0], &rs[0], i, f, 1)
	}
	for ; i+4 <= len(ys); i += 4 {
		v, r, y := xs[i:i+4:i+4], rs[i:i+4:i+4], ys[i:i+4:i+4]
		y0, y1, y2, y3 := float32(v[0]*f)+r[0], float32(v[1]*f)+r[1], float32(v[2]*f)+r[2], float32(v[3]*f)+r[3]
		y[0], y[1], y[2], y[3] = y0, y1, y2, y3
	}
	for ; i < len(ys); i++ {
		ys[i] = float32(xs[i]*f) + rs[i]
	}
}

// dot64 is Σ a·b in float64 (four partial sums, combined in a fixed order).
func dot64(as, bs []float32) float64 {
	bs = bs[:len(as)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(as); i += 4 {
		a, b := as[i:i+4:i+4], bs[i:i+4:i+4]
		s0 += float64(a[0]) * float64(b[0])
		s1 += float64(a[1]) * float64(b[1])
		s2 += float64(a[2]) * float64(b[2])
		s3 += float64(a[3]) * float64(b[3])
	}
	for ; i < len(as); i++ {
		s0 += float64(as[i]) * float64(bs[i])
	}
	return (s0 + s1) + (s2 + s3)
}
