package engine

// The rows of layer norm: the normalised row, and the two sums and the
// element-wise formula of its gradient. Each function's scalar loop is the
// reference; on amd64 with AVX2 the first len &^ 7 elements run in
// cpu_ln_amd64.s with the same float64 operations in the same order (the
// element-wise results are the same bits; the sums are summed in another
// fixed order). gs and bs may be nil (no affine part).

// lnApply writes ys = float32(((x − mean)·inv)·γ + β).
func lnApply(ys, xs, gs, bs []float32, mean, inv float64) {
	xs = xs[:len(ys)]
	i := vec8(len(ys))
	if i > 0 {
		lnApplyAVX2(&ys[0], &xs[0], first(gs), first(bs), i, mean, inv)
	}
	for ; i < len(ys); i++ {
		h := (float64(xs[i]) - mean) * inv
		if gs != nil {
			h *= float64(gs[i])
		}
		if bs != nil {
			h += float64(bs[i])
		}
		ys[i] = float32(h)
	}
}

// lnGradSums returns Σh and Σh·xh with h = dy·γ and xh = (x − mean)·inv.
func lnGradSums(dys, xs, gs []float32, mean, inv float64) (sg, sgx float64) {
	xs = xs[:len(dys)]
	i := vec8(len(dys))
	if i > 0 {
		sg, sgx = lnGradSumsAVX2(&dys[0], &xs[0], first(gs), i, mean, inv)
	}
	for ; i < len(dys); i++ {
		h := float64(dys[i])
		if gs != nil {
			h *= float64(gs[i])
		}
		sg += h
		sgx += h * ((float64(xs[i]) - mean) * inv)
	}
	return sg, sgx
}

// lnGrad writes dxs = float32(inv·((h − sg) − xh·sgx)) (sg and sgx already
// divided by the row length). dxs may be dys.
func lnGrad(dxs, dys, xs, gs []float32, mean, inv, sg, sgx float64) {
	dys, xs = dys[:len(dxs)], xs[:len(dxs)]
	i := vec8(len(dxs))
	if i > 0 {
		lnGradAVX2(&dxs[0], &dys[0], &xs[0], first(gs), i, mean, inv, sg, sgx)
	}
	for ; i < len(dxs); i++ {
		h := float64(dys[i])
		if gs != nil {
			h *= float64(gs[i])
		}
		xh := (float64(xs[i]) - mean) * inv
		dxs[i] = float32(inv * ((h - sg) - xh*sgx))
	}
}

// first is &s[0], or nil for an empty or nil s.
func first(s []float32) *float32 {
	if len(s) == 0 {
		return nil
	}
	return &s[0]
}

// lnColSums adds one row's share of dγ and dβ: sb += dy and
// sg += (dy·(x − mean))·inv, element by element.
func lnColSums(sg, sb []float64, dys, xs []float32, mean, inv float64) {
	sg, sb, xs = sg[:len(dys)], sb[:len(dys)], xs[:len(dys)]
	i := vec8(len(dys))
	if i > 0 {
		lnColSumsAVX2(&sg[0], &sb[0], &dys[0], &xs[0], i, mean, inv)
	}
	for ; i < len(dys); i++ {
		g := float64(dys[i])
		sb[i] += g
		sg[i] += g * (float64(xs[i]) - mean) * inv
	}
}
