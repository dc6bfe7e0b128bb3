package engine

import (
	"fmt"
	"math"
)

// Fused memory-bound ops: chains the models repeat, in one pass over memory
// instead of one per op. Each matches its unfused chain (BatchNormTrain then
// Relu, ...) within float32 rounding, and is the reference of the kernels it
// names in kernels/norm.cu and kernels/fused.cu.

// BatchNormReluTrain is BatchNormTrain then Relu, the ReLU applied as y is
// written.
func (c *CPU) BatchNormReluTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *Tensor, momentum, eps float32) {
	c.bnTrain("batchnorm relu", true, y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta, momentum, eps)
}

// BatchNormReluEval is BatchNormEval then Relu.
func (c *CPU) BatchNormReluEval(y, x, gamma, beta, runMean, runVar *Tensor, eps float32) {
	c.bnEval("batchnorm relu eval", true, y, x, gamma, beta, runMean, runVar, eps)
}

// BatchNormReluBackward is BatchNormBackward of dy·[y>0], the mask applied
// as dy is read.
func (c *CPU) BatchNormReluBackward(dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd *Tensor) {
	const op = "batchnorm relu backward"
	if y == nil {
		c.fail(op, "needs the forward output y (its zeros mask dy)")
		return
	}
	c.bnBackward(op, dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd)
}

// BatchNormReluEvalBackward is BatchNormEvalBackward of dy·[y>0].
func (c *CPU) BatchNormReluEvalBackward(dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar *Tensor, eps float32) {
	const op = "batchnorm relu eval backward"
	if y == nil {
		c.fail(op, "needs the forward output y (its zeros mask dy)")
		return
	}
	c.bnEvalBackward(op, dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar, eps)
}

// AddRelu computes y = max(a+b, 0) (NaN gives 0, as Relu). y may be a or b.
func (c *CPU) AddRelu(y, a, b *Tensor) {
	const op = "add relu"
	if !c.ok(op, y, a, b) || !c.check(op, AddReluGeometry(y, a, b)) {
		return
	}
	ys, as, bs := F32(y), F32(a), F32(b)
	c.w.For(len(ys), ewGrain, func(lo, hi int) {
		addRelu(ys[lo:hi], as[lo:hi], bs[lo:hi])
	})
}

// addRelu is AddRelu's loop over one run.
func addRelu(ys, as, bs []float32) {
	as, bs = as[:len(ys)], bs[:len(ys)]
	i := vec8(len(ys))
	if i > 0 {
		addReluAVX2(&ys[0], &as[0], &bs[0], i, 1)
	}
	for ; i+4 <= len(ys); i += 4 {
		a, b, y := as[i:i+4:i+4], bs[i:i+4:i+4], ys[i:i+4:i+4]
		s0, s1, s2, s3 := a[0]+b[0], a[1]+b[1], a[2]+b[2], a[3]+b[3]
		y[0], y[1], y[2], y[3] = relu32(s0), relu32(s1), relu32(s2), relu32(s3)
	}
	for ; i < len(ys); i++ {
		ys[i] = relu32(as[i] + bs[i])
	}
}

// SqueezeExcite: planes pooled in float64 (in parallel), the two small
// linear maps per sample in float64 (relu, then sigmoid as CPU.Sigmoid),
// then y = x·scale (+ res) in float32 as ChannelScale then Add compute it.
func (c *CPU) SqueezeExcite(y, pooled, hidden, scale, x, res, w1, b1, w2, b2 *Tensor) {
	const op = "squeeze excite"
	if !c.ok(op, y, pooled, hidden, scale, x, res, w1, b1, w2, b2) {
		return
	}
	if y == nil {
		c.fail(op, "missing output y")
		return
	}
	n, ch, s, d, err := SEGeometry(y, pooled, hidden, scale, x, res, w1, b1, w2, b2)
	if !c.check(op, err) {
		return
	}
	xs, ys, ps, hs, ss := F32(x), F32(y), F32(pooled), F32(hidden), F32(scale)
	rs, w1s, b1s, w2s, b2s := f32OrNil(res), F32(w1), f32OrNil(b1), F32(w2), f32OrNil(b2)
	c.w.For(n*ch, grainFor(s, ewGrain), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			a, _ := sumShifted(xs[p*s:(p+1)*s], 0)
			ps[p] = float32(a / float64(s))
		}
	})
	c.w.For(n, grainFor(2*ch*d, ewGrain), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			pr, hr := ps[i*ch:(i+1)*ch], hs[i*d:(i+1)*d]
			for j := range hr {
				v := dot64(w1s[j*ch:(j+1)*ch], pr)
				if b1s != nil {
					v += float64(b1s[j])
				}
				hr[j] = relu32(float32(v))
			}
			for k, sr := 0, ss[i*ch:(i+1)*ch]; k < ch; k++ {
				v := dot64(w2s[k*d:(k+1)*d], hr)
				if b2s != nil {
					v += float64(b2s[k])
				}
				sr[k] = float32(1 / (1 + math.Exp(-v)))
			}
		}
	})
	c.w.For(n*ch, grainFor(s, ewGrain), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			var rr []float32
			if rs != nil {
				rr = rs[p*s : (p+1)*s]
			}
			scaleAdd(ys[p*s:(p+1)*s], xs[p*s:(p+1)*s], rr, ss[p])
		}
	})
}

// SqueezeExciteBackward: per plane Σdy·x (float64, in parallel); per sample
// the gradients through sigmoid, fc2, relu and fc1 back to the pooled means
// (float64); the weight gradients summed over the samples in order; then
// dx = dy·scale + dpooled/S in one pass.
func (c *CPU) SqueezeExciteBackward(dx, dw1, db1, dw2, db2, dy, x, w1, w2, pooled, hidden, scale *Tensor) {
	const op = "squeeze excite backward"
	if !c.ok(op, dx, dw1, db1, dw2, db2, dy, x, w1, w2, pooled, hidden, scale) {
		return
	}
	n, ch, s, d, err := SEGeometry(dx, pooled, hidden, scale, x, dy, w1, db1, w2, db2)
	if err == nil && ((dw1 != nil && dw1.Len() != w1.Len()) || (dw2 != nil && dw2.Len() != w2.Len())) {
		err = fmt.Errorf("weight gradients %s do not fit the weights %s", shapeStr(dw1, dw2), shapeStr(w1, w2))
	}
	if !c.check(op, err) {
		return
	}
	dys, xs, ps, hs, ss := F32(dy), F32(x), F32(pooled), F32(hidden), F32(scale)
	w1s, w2s := F32(w1), F32(w2)
	tmp := c.scratchF64(2*n*ch + n*d)
	dz2, dpool, dz1 := tmp[:n*ch], tmp[n*ch:2*n*ch], tmp[2*n*ch:]
	c.w.For(n*ch, grainFor(s, ewGrain), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			sv := float64(ss[p])
			dz2[p] = dot64(dys[p*s:(p+1)*s], xs[p*s:(p+1)*s]) * sv * (1 - sv)
		}
	})
	c.w.For(n, grainFor(2*ch*d, ewGrain), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g2, g1, gp := dz2[i*ch:(i+1)*ch], dz1[i*d:(i+1)*d], dpool[i*ch:(i+1)*ch]
			for j := range g1 {
				if !(hs[i*d+j] > 0) {
					g1[j] = 0
					continue
				}
				var v float64
				for k, g := range g2 {
					v += float64(w2s[k*d+j]) * g
				}
				g1[j] = v
			}
			for k := range gp {
				var v float64
				for j, g := range g1 {
					v += float64(w1s[j*ch+k]) * g
				}
				gp[k] = v / float64(s)
			}
		}
	})
	// Weight gradients: one element per item, summed over samples in order.
	if dw2 != nil || db2 != nil || dw1 != nil || db1 != nil {
		dw1s, db1s, dw2s, db2s := f32OrNil(dw1), f32OrNil(db1), f32OrNil(dw2), f32OrNil(db2)
		c.w.For(ch, grainFor(2*n*d, ewGrain), func(lo, hi int) {
			for k := lo; k < hi; k++ {
				for j := 0; j < d; j++ {
					var a2, a1 float64
					for i := 0; i < n; i++ {
						a2 += dz2[i*ch+k] * float64(hs[i*d+j])
						a1 += dz1[i*d+j] * float64(ps[i*ch+k])
					}
					if dw2s != nil {
						dw2s[k*d+j] = float32(a2)
					}
					if dw1s != nil {
						dw1s[j*ch+k] = float32(a1)
					}
				}
				if db2s != nil {
					var a float64
					for i := 0; i < n; i++ {
						a += dz2[i*ch+k]
					}
					db2s[k] = float32(a)
				}
			}
		})
		if db1s != nil {
			for j := 0; j < d; j++ {
				var a float64
				for i := 0; i < n; i++ {
					a += dz1[i*d+j]
				}
				db1s[j] = float32(a)
			}
		}
	}
	if dx == nil {
		return
	}
	dxs := F32(dx)
	c.w.For(n*ch, grainFor(s, ewGrain), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			seDX(dxs[p*s:(p+1)*s], dys[p*s:(p+1)*s], ss[p], float32(dpool[p]))
		}
	})
}

// seDX writes dx = dy·f + g (float32, rounded after each operation). dx may
// be dy.
func seDX(dxs, dys []float32, f, g float32) {
	dys = dys[:len(dxs)]
	i := 0
	for ; i+4 <= len(dxs); i += 4 {
		d, o := dys[i:i+4:i+4], dxs[i:i+4:i+4]
		o0, o1, o2, o3 := d[0]*f+g, d[1]*f+g, d[2]*f+g, d[3]*f+g
		o[0], o[1], o[2], o[3] = o0, o1, o2, o3
	}
	for ; i < len(dxs); i++ {
		dxs[i] = dys[i]*f + g
	}
}
