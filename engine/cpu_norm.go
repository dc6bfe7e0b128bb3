package engine

import "math"

// bnGeom views x as (N, C, S): S is 1 for (N,C) and H·W for (N,C,H,W).
func (c *CPU) bnGeom(op string, x *Tensor, chanTensors ...*Tensor) (n, ch, s int, ok bool) {
	n, ch, s, err := BNGeometry(x, chanTensors...)
	return n, ch, s, c.check(op, err)
}

// BatchNormTrain normalises with batch statistics (accumulated in float64,
// in a fixed order per channel) and updates the running statistics.
func (c *CPU) BatchNormTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *Tensor, momentum, eps float32) {
	c.bnTrain("batchnorm", false, y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta, momentum, eps)
}

// BatchNormEval normalises with the running statistics.
func (c *CPU) BatchNormEval(y, x, gamma, beta, runMean, runVar *Tensor, eps float32) {
	c.bnEval("batchnorm eval", false, y, x, gamma, beta, runMean, runVar, eps)
}

// BatchNormBackward: with x̂ = (x-μ)·σ⁻¹, dβ = Σdy, dγ = Σdy·x̂ and
// dx = γσ⁻¹/M·(M·dy − dβ − x̂·dγ).
func (c *CPU) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *Tensor) {
	c.bnBackward("batchnorm backward", dx, dgamma, dbeta, dy, nil, x, gamma, saveMean, saveInvStd)
}

// BatchNormEvalBackward is the gradient of BatchNormEval: an affine map.
func (c *CPU) BatchNormEvalBackward(dx, dgamma, dbeta, dy, x, gamma, runMean, runVar *Tensor, eps float32) {
	c.bnEvalBackward("batchnorm eval backward", dx, dgamma, dbeta, dy, nil, x, gamma, runMean, runVar, eps)
}

// bnTrain is BatchNormTrain, with a ReLU on y when relu is set. One pass
// over x front to back (bnSums) for each channel's shifted sums s1 = Σ(x−K),
// s2 = Σ(x−K)² in float64 (K = x[0,k,0], a value of the channel, so
// Σ(x−μ)² = s2 − s1²/M loses at most log2(M) of float64's 53 bits: the
// kernels of kernels/norm.cu compute the statistics the same way), then one
// pass writing y = x·a + off in float32, a = γσ⁻¹ and off = β − μγσ⁻¹
// (bnApply). Reading the tensor in its memory order, rather than a chunk
// of channels at a time (strided runs of one plane each), doubled the
// speed at (64,64,28,28) on the development VM.
func (c *CPU) bnTrain(op string, relu bool, y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *Tensor, momentum, eps float32) {
	if !c.ok(op, y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta) || !c.sameShape(op, y, x) {
		return
	}
	n, ch, s, ok := c.bnGeom(op, x, saveMean, saveInvStd, runMean, runVar, gamma, beta)
	if !ok {
		return
	}
	m := n * s
	if m < 2 {
		c.fail(op, "expected more than 1 value per channel when training, got input %s", x)
		return
	}
	xs, ys := F32(x), F32(y)
	sm, si := F32(saveMean), F32(saveInvStd)
	rm, rv, gs, bs := f32OrNil(runMean), f32OrNil(runVar), f32OrNil(gamma), f32OrNil(beta)
	buf := c.bnScratch(3 * ch)
	shift, sums := buf[:ch], buf[ch:]
	for k := range shift {
		shift[k] = float64(xs[k*s])
	}
	if s < bnSmallPlane {
		c.bnStatsSmall(sums, xs, shift, n, ch, s)
	} else {
		copy(sums, c.bnSums(n, ch, s, func(p1, p2 []float64, i int) {
			for k := range ch {
				base := (i*ch + k) * s
				a1, a2 := sumShifted(xs[base:base+s], shift[k])
				p1[k] += a1
				p2[k] += a2
			}
		}))
	}
	coef := c.bnCoef32(2 * ch)
	for k := range ch {
		s1, s2 := sums[k], sums[ch+k]
		dm := s1 / float64(m)
		mean := shift[k] + dm
		sq := max(s2-s1*dm, 0) // Σ(x−μ)²
		inv := 1 / math.Sqrt(sq/float64(m)+float64(eps))
		sm[k], si[k] = float32(mean), float32(inv)
		g, b := 1.0, 0.0
		if gs != nil {
			g = float64(gs[k])
		}
		if bs != nil {
			b = float64(bs[k])
		}
		coef[2*k] = float32(g * inv)
		coef[2*k+1] = float32(b - mean*g*inv)
		if rm != nil {
			rm[k] = (1-momentum)*rm[k] + momentum*float32(mean)
		}
		if rv != nil {
			rv[k] = (1-momentum)*rv[k] + momentum*float32(sq/float64(m-1))
		}
	}
	c.bnApply(ys, xs, coef, n, ch, s, relu)
}

// bnSums runs add(p1, p2, i) for every sample i, in chunks of consecutive
// samples of about 1 MB of the tensor (a fixed function of its shape) that
// read it front to back; each chunk adds into its own two per-channel
// partial sums p1 and p2, and the result holds Σp1 then Σp2 per channel
// over the chunks in order: the same numbers whatever the thread count.
func (c *CPU) bnSums(n, ch, s int, add func(p1, p2 []float64, i int)) []float64 {
	grain := max(1, (1<<18)/max(1, ch*s))
	nc := chunks(n, grain)
	part := make([]float64, 2*ch*nc)
	c.w.For(n, grain, func(lo, hi int) {
		p := part[2*ch*(lo/grain):]
		for i := lo; i < hi; i++ {
			add(p[:ch], p[ch:2*ch], i)
		}
	})
	out := part[:2*ch]
	for j := 1; j < nc; j++ {
		for k, v := range part[2*ch*j : 2*ch*(j+1)] {
			out[k] += v
		}
	}
	return out
}

// bnEval is BatchNormEval, with a ReLU on y when relu is set.
func (c *CPU) bnEval(op string, relu bool, y, x, gamma, beta, runMean, runVar *Tensor, eps float32) {
	if !c.ok(op, y, x, gamma, beta, runMean, runVar) || !c.sameShape(op, y, x) {
		return
	}
	n, ch, s, ok := c.bnGeom(op, x, gamma, beta, runMean, runVar)
	if !ok {
		return
	}
	xs, ys, rm, rv := F32(x), F32(y), F32(runMean), F32(runVar)
	gs, bs := f32OrNil(gamma), f32OrNil(beta)
	coef := make([]float32, 2*ch)
	for k := range ch {
		inv := 1 / math.Sqrt(float64(rv[k])+float64(eps))
		g, b := 1.0, 0.0
		if gs != nil {
			g = float64(gs[k])
		}
		if bs != nil {
			b = float64(bs[k])
		}
		coef[2*k] = float32(g * inv)
		coef[2*k+1] = float32(b - float64(rm[k])*g*inv)
	}
	c.bnApply(ys, xs, coef, n, ch, s, relu)
}

// bnApply writes y = x·a + off (then ReLU when relu is set) with
// coef[2k] = a, coef[2k+1] = off for channel k, front to back over the
// tensor in chunks of about 32K elements.
func (c *CPU) bnApply(ys, xs, coef []float32, n, ch, s int, relu bool) {
	if s < bnSmallPlane {
		c.bnApplySmall(ys, xs, coef, n, ch, s, relu)
		return
	}
	c.w.For(n*ch, grainFor(s, ewGrain), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			k := r % ch
			affine(ys[r*s:(r+1)*s], xs[r*s:(r+1)*s], coef[2*k], coef[2*k+1], relu)
		}
	})
}

// bnBackward is BatchNormBackward; a non-nil y (the output of bnTrain with
// relu) masks dy: where y ≤ 0 the batch norm's output gradient is 0. One
// pass front to back for each channel's Σdy and Σdy·(x−μ) (float64,
// bnSums), one for dx = A·dy + B·x + C in float64 (A = γσ⁻¹,
// B = −A·σ⁻¹·Σdy·x̂/M, C = −A·Σdy/M − B·μ: the formula above expanded).
func (c *CPU) bnBackward(op string, dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd *Tensor) {
	if !c.ok(op, dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd) || !c.sameShape(op, dy, x, dx, y) {
		return
	}
	n, ch, s, ok := c.bnGeom(op, x, dgamma, dbeta, gamma, saveMean, saveInvStd)
	if !ok {
		return
	}
	xs, dys, sm, si := F32(x), F32(dy), F32(saveMean), F32(saveInvStd)
	dxs, dgs, dbs, gs, ym := f32OrNil(dx), f32OrNil(dgamma), f32OrNil(dbeta), f32OrNil(gamma), f32OrNil(y)
	m := float64(n * s)
	sums := c.bnScratch(2 * ch)
	if s < bnSmallPlane {
		c.bnGradSumsSmall(sums, dys, xs, ym, sm, n, ch, s)
	} else {
		copy(sums, c.bnSums(n, ch, s, func(p1, p2 []float64, i int) {
			for k := range ch {
				base := (i*ch + k) * s
				var a1, a2 float64
				if ym != nil {
					a1, a2 = dotSumsMasked(dys[base:base+s], xs[base:base+s], ym[base:base+s], float64(sm[k]))
				} else {
					a1, a2 = dotSums(dys[base:base+s], xs[base:base+s], float64(sm[k]))
				}
				p1[k] += a1
				p2[k] += a2
			}
		}))
	}
	coef := c.bnCoef64(3 * ch)
	for k := range ch {
		mean, inv := float64(sm[k]), float64(si[k])
		sdy, sdyx := sums[k], sums[ch+k]*inv
		if dgs != nil {
			dgs[k] = float32(sdyx)
		}
		if dbs != nil {
			dbs[k] = float32(sdy)
		}
		g := 1.0
		if gs != nil {
			g = float64(gs[k])
		}
		a := g * inv
		b := -a * inv * sdyx / m
		coef[3*k], coef[3*k+1], coef[3*k+2] = a, b, -a*sdy/m-b*mean
	}
	if dxs == nil {
		return
	}
	if s < bnSmallPlane {
		c.bnLin3Small(dxs, dys, xs, ym, coef, n, ch, s)
		return
	}
	c.w.For(n*ch, grainFor(s, ewGrain), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			k := r % ch
			lin3(dxs[r*s:(r+1)*s], dys[r*s:(r+1)*s], xs[r*s:(r+1)*s], maskOrNil(ym, r*s, s), coef[3*k], coef[3*k+1], coef[3*k+2])
		}
	})
}

// bnEvalBackward is BatchNormEvalBackward; a non-nil y masks dy as in
// bnBackward.
func (c *CPU) bnEvalBackward(op string, dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar *Tensor, eps float32) {
	if !c.ok(op, dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar) || !c.sameShape(op, dy, x, dx, y) {
		return
	}
	n, ch, s, ok := c.bnGeom(op, x, dgamma, dbeta, gamma, runMean, runVar)
	if !ok {
		return
	}
	xs, dys, rm, rv := F32(x), F32(dy), F32(runMean), F32(runVar)
	dxs, dgs, dbs, gs, ym := f32OrNil(dx), f32OrNil(dgamma), f32OrNil(dbeta), f32OrNil(gamma), f32OrNil(y)
	c.w.For(ch, grainFor(n*s, ewGrain), func(lo, hi int) {
		for k := lo; k < hi; k++ {
			mean := float64(rm[k])
			inv := 1 / math.Sqrt(float64(rv[k])+float64(eps))
			g := 1.0
			if gs != nil {
				g = float64(gs[k])
			}
			var sdy, sdyx float64
			for i := 0; i < n; i++ {
				base := (i*ch + k) * s
				var a1, a2 float64
				if ym != nil {
					a1, a2 = dotSumsMasked(dys[base:base+s], xs[base:base+s], ym[base:base+s], mean)
				} else {
					a1, a2 = dotSums(dys[base:base+s], xs[base:base+s], mean)
				}
				sdy += a1
				sdyx += a2
				if dxs != nil {
					lin3(dxs[base:base+s], dys[base:base+s], xs[base:base+s], maskOrNil(ym, base, s), g*inv, 0, 0)
				}
			}
			if dgs != nil {
				dgs[k] = float32(sdyx * inv)
			}
			if dbs != nil {
				dbs[k] = float32(sdy)
			}
		}
	})
}

// LayerNorm normalises each row of the last dimension (cpu_ln.go: 8
// elements at a time).
func (c *CPU) LayerNorm(y, saveMean, saveInvStd, x, gamma, beta *Tensor, eps float32) {
	const op = "layernorm"
	if !c.ok(op, y, saveMean, saveInvStd, x, gamma, beta) || !c.sameShape(op, y, x) {
		return
	}
	r, d := Rows(x)
	if saveMean.Len() != r || saveInvStd.Len() != r || (gamma != nil && gamma.Len() != d) || (beta != nil && beta.Len() != d) {
		c.fail(op, "shapes do not fit: %s", shapeStr(y, saveMean, saveInvStd, x, gamma, beta))
		return
	}
	xs, ys, sm, si := F32(x), F32(y), F32(saveMean), F32(saveInvStd)
	var gs, bs []float32
	if gamma != nil {
		gs = F32(gamma)
	}
	if beta != nil {
		bs = F32(beta)
	}
	c.w.For(r, grainFor(d, ewGrain), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := xs[i*d : (i+1)*d]
			// Shifted sums as batch norm's (bnTrain), then the row.
			k := float64(row[0])
			s1, s2 := sumShifted(row, k)
			dm := s1 / float64(d)
			mean := k + dm
			sq := max(s2-s1*dm, 0)
			inv := 1 / math.Sqrt(sq/float64(d)+float64(eps))
			sm[i], si[i] = float32(mean), float32(inv)
			lnApply(ys[i*d:(i+1)*d], row, gs, bs, mean, inv)
		}
	})
}

// LayerNormBackward: per row, with ĝ = dy·γ, dx = σ⁻¹(ĝ − mean(ĝ) −
// x̂·mean(ĝ·x̂)); dγ = Σ_rows dy·x̂ and dβ = Σ_rows dy, summed row by row in
// order.
func (c *CPU) LayerNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *Tensor) {
	const op = "layernorm backward"
	if !c.ok(op, dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd) || !c.sameShape(op, dy, x, dx) {
		return
	}
	r, d := Rows(x)
	if saveMean.Len() != r || saveInvStd.Len() != r || (gamma != nil && gamma.Len() != d) ||
		(dgamma != nil && dgamma.Len() != d) || (dbeta != nil && dbeta.Len() != d) {
		c.fail(op, "shapes do not fit: %s", shapeStr(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd))
		return
	}
	xs, dys, sm, si := F32(x), F32(dy), F32(saveMean), F32(saveInvStd)
	var gs []float32
	if gamma != nil {
		gs = F32(gamma)
	}
	if dx != nil {
		dxs := F32(dx)
		c.w.For(r, grainFor(d, ewGrain), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				mean, inv := float64(sm[i]), float64(si[i])
				row := i * d
				sg, sgx := lnGradSums(dys[row:row+d], xs[row:row+d], gs, mean, inv)
				lnGrad(dxs[row:row+d], dys[row:row+d], xs[row:row+d], gs, mean, inv, sg/float64(d), sgx/float64(d))
			}
		})
	}
	if dgamma != nil || dbeta != nil {
		var dgs, dbs []float32
		if dgamma != nil {
			dgs = F32(dgamma)
		}
		if dbeta != nil {
			dbs = F32(dbeta)
		}
		// Blocks of columns, each summed over the rows in order: every
		// row's run of the block is contiguous.
		c.w.For(d, 128, func(lo, hi int) {
			acc := make([]float64, 2*(hi-lo))
			sg, sb := acc[:hi-lo], acc[hi-lo:]
			for i := 0; i < r; i++ {
				mean, inv := float64(sm[i]), float64(si[i])
				lnColSums(sg, sb, dys[i*d+lo:i*d+hi], xs[i*d+lo:i*d+hi], mean, inv)
			}
			for j := lo; j < hi; j++ {
				if dgs != nil {
					dgs[j] = float32(sg[j-lo])
				}
				if dbs != nil {
					dbs[j] = float32(sb[j-lo])
				}
			}
		})
	}
}

// Softmax over the last dimension, max-subtracted (exponentials by
// expPoly, cpu_gelu.go).
func (c *CPU) Softmax(y, x *Tensor) {
	const op = "softmax"
	if !c.ok(op, y, x) || !c.sameShape(op, y, x) {
		return
	}
	r, d := Rows(x)
	xs, ys := F32(x), F32(y)
	c.w.For(r, grainFor(d, ewGrain), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row, out := xs[i*d:(i+1)*d], ys[i*d:(i+1)*d]
			mx, _ := maxRow(row) // a NaN makes the row NaN below
			// Two passes of exponentials (expRow: 8 at a time), so that
			// each output rounds once: float32(e/Σe).
			sum := expRow(nil, row, float64(mx), 0)
			expRow(out, row, float64(mx), 1/sum)
		}
	})
}

// SoftmaxBackward computes dx = y·(dy − Σ dy·y) per row.
func (c *CPU) SoftmaxBackward(dx, dy, y *Tensor) {
	const op = "softmax backward"
	if !c.ok(op, dx, dy, y) || !c.sameShape(op, dx, dy, y) {
		return
	}
	r, d := Rows(y)
	dxs, dys, ys := F32(dx), F32(dy), F32(y)
	c.w.For(r, grainFor(d, ewGrain), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var dot float64
			for j := i * d; j < (i+1)*d; j++ {
				dot += float64(dys[j]) * float64(ys[j])
			}
			for j := i * d; j < (i+1)*d; j++ {
				dxs[j] = float32(float64(ys[j]) * (float64(dys[j]) - dot))
			}
		}
	})
}

// CrossEntropy is the fused log-softmax + NLL loss, mean over rows: loss =
// mean(logΣexp(x) − x[label]); dlogits = (softmax(x) − onehot)/N.
func (c *CPU) CrossEntropy(loss, dlogits, logits, labels *Tensor) {
	const op = "cross entropy"
	if !c.ok(op, loss, dlogits, logits) || !c.okAs(op, Int32, labels) {
		return
	}
	if logits.Rank() != 2 || labels.dtype != Int32 || labels.Len() != logits.shape[0] || loss.Len() != 1 ||
		(dlogits != nil && !SameShape(dlogits.shape, logits.shape)) {
		c.fail(op, "want logits (N,C), int32 labels (N), a 1-element loss: %s", shapeStr(loss, dlogits, logits, labels))
		return
	}
	n, k := logits.shape[0], logits.shape[1]
	xs, ls := F32(logits), I32(labels)
	for i, l := range ls {
		if l < 0 || int(l) >= k {
			c.fail(op, "label %d of row %d is outside [0,%d)", l, i, k)
			return
		}
	}
	var ds []float32
	if dlogits != nil {
		ds = F32(dlogits)
	}
	per := c.scratchF64(n)
	invN := 1 / float64(n)
	c.w.For(n, grainFor(k, ewGrain), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := xs[i*k : (i+1)*k]
			m, nan := maxRow(row)
			mx := float64(m)
			if nan {
				mx = math.NaN() // as math.Max: the row's loss and gradient are NaN
			}
			// Σexp(x−max) in one pass (expRow: 8 at a time), the
			// gradient softmax/N in a second; the label's element is
			// written again with its −1/N.
			sum := expRow(nil, row, mx, 0)
			l := int(ls[i])
			per[i] = mx + math.Log(sum) - float64(row[l])
			if ds != nil {
				d := ds[i*k : (i+1)*k]
				inv := invN / sum
				expRow(d, row, mx, inv)
				d[l] = float32(expPoly(float64(row[l])-mx)*inv - invN)
			}
		}
	})
	var total float64
	for _, v := range per {
		total += v
	}
	F32(loss)[0] = float32(total * invN)
}
