package engine

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
	i := 0
	for ; i+4 <= len(ys); i += 4 {
		a, b, y := as[i:i+4:i+4], bs[i:i+4:i+4], ys[i:i+4:i+4]
		s0, s1, s2, s3 := a[0]+b[0], a[1]+b[1], a[2]+b[2], a[3]+b[3]
		y[0], y[1], y[2], y[3] = relu32(s0), relu32(s1), relu32(s2), relu32(s3)
	}
	for ; i < len(ys); i++ {
		ys[i] = relu32(as[i] + bs[i])
	}
}
