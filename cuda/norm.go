//go:build cuda || cgo

package cuda

import (
	"math"

	"github.com/gotrain/gotrain/engine"
)

// Normalisation ops (kernels/norm.cu): batch norm, layer norm, softmax and
// cross entropy, each matching its engine.CPU method (engine/cpu_norm.go).
//
// Batch norm reduces each channel over N·S elements. A channel is split over
// P blocks (grid (C, P)) so that small-C layers still fill the device: with
// P == 1 one kernel does the whole op for its channel; with P > 1 the blocks
// write partial sums to scratch, a finalize kernel adds them in order and an
// element-wise kernel writes the output. Layer norm, softmax and cross
// entropy give each row one warp (rows up to 1024 elements) or one block.
// Every reduction order depends only on shapes and the SM count, so results
// are reproducible bit for bit on a given device.

// normThreads is the block size of every norm kernel (kThreads in norm.cu).
const normThreads = 256

// normWave is the number of blocks per SM that the grid of a channel-split
// reduction or of a grid-stride kernel aims at (2048 threads per SM).
const normWave = 8

// normWarpRowMax is the longest row given one warp; longer rows get a block.
const normWarpRowMax = 1024

// normNeed fails op when a tensor it cannot do without is nil (the CPU
// engine would panic).
func (b *Backend) normNeed(op string, ts ...*engine.Tensor) bool {
	for _, t := range ts {
		if t == nil {
			b.fail(op, "a required tensor is nil: %s", shapeStr(ts...))
			return false
		}
	}
	return true
}

// normIndexable fails op when x has too many elements for the kernels'
// 32-bit indexing.
func (b *Backend) normIndexable(op string, x *engine.Tensor) bool {
	if x.Len() > math.MaxInt32 {
		b.fail(op, "%s has more than %d elements (32-bit indexing)", x, math.MaxInt32)
		return false
	}
	return true
}

// normBNGeom is engine.BNGeometry, for 32-bit indexing too.
func (b *Backend) normBNGeom(op string, x *engine.Tensor, chanTensors ...*engine.Tensor) (n, ch, s int, ok bool) {
	n, ch, s, err := engine.BNGeometry(x, chanTensors...)
	if !b.check(op, err) || !b.normIndexable(op, x) {
		return 0, 0, 0, false
	}
	return n, ch, s, true
}

// normBNSplit is P, the number of blocks per channel of a batch-norm
// reduction over m elements per channel: enough blocks to fill the device,
// at least 4 elements per thread.
func (b *Backend) normBNSplit(ch, m int) int {
	p := blocks(normWave*b.sms, ch)
	if most := m / (4 * normThreads); p > most {
		p = most
	}
	if p < 1 {
		p = 1
	}
	return p
}

// normAlign rounds a float count up to 64 floats (256 bytes), so that what
// follows in a scratch buffer is aligned for float2/float4/double access.
func normAlign(n int) int { return (n + 63) &^ 63 }

// normGrid is the grid of a grid-stride norm kernel over groups items
// (per per thread at least): at most one wave of normWave blocks per SM.
func (b *Backend) normGrid(groups, per int) dim3 {
	g := blocks(groups, normThreads*per)
	if m := normWave * b.sms; g > m {
		g = m
	}
	return d1(g)
}

// normVec4 reports whether a (N, C, S) element-wise kernel may use float4
// accesses: rows of S divisible by 4 and every tensor 16-byte aligned.
func normVec4(s int, ts ...*engine.Tensor) bool {
	if s%4 != 0 {
		return false
	}
	for _, t := range ts {
		if t != nil && addr(t)%16 != 0 {
			return false
		}
	}
	return true
}

// normBNApply queues y = x·a[k] + off[k] with coef the float2 (a, off) per
// channel on the device.
// relu applies max(·, 0) to y (the fused BatchNormRelu ops).
func (b *Backend) normBNApply(op string, y, x *engine.Tensor, coef devptr, ch, s int, relu bool) {
	total := x.Len()
	sfx := bnSuffix(x, y)
	if normVec4(s, x, y) {
		b.launch(op, "norm_bn_apply4"+sfx, b.normGrid(total/4, 2), d1(normThreads), 0,
			ptr(x), ptr(y), dp(coef), i32(total), i32(ch), i32(s), i32(boolInt(relu)))
		return
	}
	b.launch(op, "norm_bn_apply"+sfx, b.normGrid(total, 4), d1(normThreads), 0,
		ptr(x), ptr(y), dp(coef), i32(total), i32(ch), i32(s), i32(boolInt(relu)))
}

// bnSuffix names the batch-norm kernel variant for the element types of
// its input x and of the fused ReLU's output y (or the backward pass's
// mask ym; nil: none): "_xbf16" when x is bfloat16 (a convolution's output
// that only the batch norm reads, layers.StoreForBatchNorm), "_ybf16" when
// y is (a convolution operand, layers.StoreForConvs), both, or "".
func bnSuffix(x, y *engine.Tensor) string {
	sfx := ""
	if x != nil && x.DType() == engine.BFloat16 {
		sfx += "_xbf16"
	}
	if y != nil && y.DType() == engine.BFloat16 {
		sfx += "_ybf16"
	}
	return sfx
}

// okBNOut checks the output y of a batch norm (or the mask ym of its
// backward pass): float32, or bfloat16 for the fused ReLU ops.
func (b *Backend) okBNOut(op string, y *engine.Tensor, relu bool) bool {
	if relu && y != nil && y.DType() == engine.BFloat16 {
		return b.okAs(op, engine.BFloat16, y)
	}
	return b.ok(op, y)
}

// okBNIn checks a batch norm's input x: float32 or bfloat16.
func (b *Backend) okBNIn(op string, x *engine.Tensor) bool {
	if x != nil && x.DType() == engine.BFloat16 {
		return b.okAs(op, engine.BFloat16, x)
	}
	return b.ok(op, x)
}

// boolInt is 1 for true, 0 for false (a kernel's int flag).
func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

// BatchNormTrain normalises x (N,C,...) per channel with the batch statistics
// (sums in double), saves the mean and 1/sqrt(var+eps), and updates the
// running statistics in place (running_var with the unbiased variance).
// gamma, beta, runMean and runVar may be nil, as on the CPU; so may saveMean
// and saveInvStd here.
func (b *Backend) BatchNormTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *engine.Tensor, momentum, eps float32) {
	b.bnTrain("batchnorm", false, y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta, momentum, eps)
}

// BatchNormReluTrain is BatchNormTrain with max(·, 0) applied as y is
// written (the same kernels, their relu flag set).
func (b *Backend) BatchNormReluTrain(y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *engine.Tensor, momentum, eps float32) {
	b.bnTrain("batchnorm relu", true, y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta, momentum, eps)
}

func (b *Backend) bnTrain(op string, relu bool, y, saveMean, saveInvStd, runMean, runVar, x, gamma, beta *engine.Tensor, momentum, eps float32) {
	if !b.ok(op, saveMean, saveInvStd, runMean, runVar, gamma, beta) || !b.okBNIn(op, x) || !b.okBNOut(op, y, relu) ||
		!b.normNeed(op, y, x) ||
		!b.sameShape(op, y, x) {
		return
	}
	n, ch, s, ok := b.normBNGeom(op, x, saveMean, saveInvStd, runMean, runVar, gamma, beta)
	if !ok {
		return
	}
	m := n * s
	if m < 2 {
		b.fail(op, "expected more than 1 value per channel when training, got input %s", x)
		return
	}
	if ch == 0 {
		return
	}
	p := b.normBNSplit(ch, m)
	var part devptr
	partFloats := normAlign(4 * ch * p) // two doubles per (channel, block)
	if p > 1 {
		if part, ok = b.scratchBuf(op, scratchReduce, partFloats+2*ch); !ok {
			return
		}
	}
	b.launch(op, "norm_bn_stats"+bnSuffix(x, y), dim3{ch, p, 1}, d1(normThreads), 0,
		ptr(x), ptr(y), ptr(saveMean), ptr(saveInvStd), ptr(runMean), ptr(runVar), ptr(gamma), ptr(beta), dp(part),
		i32(n), i32(ch), i32(s), i32(p), f32(momentum), f32(eps), i32(boolInt(relu)))
	if p == 1 {
		return
	}
	coef := part + devptr(4*partFloats)
	b.launch(op, "norm_bn_stats_finalize"+bnSuffix(x, nil), d1(blocks(ch, normThreads)), d1(normThreads), 0,
		dp(part), dp(coef), ptr(saveMean), ptr(saveInvStd), ptr(runMean), ptr(runVar), ptr(gamma), ptr(beta), ptr(x),
		i32(n), i32(ch), i32(s), i32(p), f32(momentum), f32(eps))
	b.normBNApply(op, y, x, coef, ch, s, relu)
}

// BatchNormEval normalises with the running statistics.
func (b *Backend) BatchNormEval(y, x, gamma, beta, runMean, runVar *engine.Tensor, eps float32) {
	b.bnEval("batchnorm eval", false, y, x, gamma, beta, runMean, runVar, eps)
}

// BatchNormReluEval is BatchNormEval with max(·, 0) applied as y is written.
func (b *Backend) BatchNormReluEval(y, x, gamma, beta, runMean, runVar *engine.Tensor, eps float32) {
	b.bnEval("batchnorm relu eval", true, y, x, gamma, beta, runMean, runVar, eps)
}

func (b *Backend) bnEval(op string, relu bool, y, x, gamma, beta, runMean, runVar *engine.Tensor, eps float32) {
	if !b.ok(op, gamma, beta, runMean, runVar) || !b.okBNIn(op, x) || !b.okBNOut(op, y, relu) ||
		!b.normNeed(op, y, x, runMean, runVar) ||
		!b.sameShape(op, y, x) {
		return
	}
	_, ch, s, ok := b.normBNGeom(op, x, gamma, beta, runMean, runVar)
	if !ok || x.Len() == 0 {
		return
	}
	coef, ok := b.scratchBuf(op, scratchReduce, 2*ch)
	if !ok {
		return
	}
	b.launch(op, "norm_bn_eval_coef", d1(blocks(ch, normThreads)), d1(normThreads), 0,
		dp(coef), ptr(gamma), ptr(beta), ptr(runMean), ptr(runVar), i32(ch), f32(eps))
	b.normBNApply(op, y, x, coef, ch, s, relu)
}

// BatchNormBackward is the gradient of BatchNormTrain: dβ = Σdy, dγ = Σdy·x̂,
// dx = γσ⁻¹/M·(M·dy − dβ − x̂·dγ). dx, dgamma, dbeta and gamma may be nil.
func (b *Backend) BatchNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *engine.Tensor) {
	const op = "batchnorm backward"
	if !b.ok(op, dx, dgamma, dbeta, dy, gamma, saveMean, saveInvStd) || !b.okBNIn(op, x) ||
		!b.normNeed(op, dy, x, saveMean, saveInvStd) || !b.sameShape(op, dy, x, dx) {
		return
	}
	n, ch, s, ok := b.normBNGeom(op, x, dgamma, dbeta, gamma, saveMean, saveInvStd)
	if !ok {
		return
	}
	b.normBNBackward(op, dx, dgamma, dbeta, dy, nil, x, gamma, saveMean, saveInvStd, n, ch, s, false, 0)
}

// BatchNormReluBackward is BatchNormBackward of dy·[y>0]: the kernels read
// dy through the mask of y, the fused forward op's output.
func (b *Backend) BatchNormReluBackward(dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd *engine.Tensor) {
	const op = "batchnorm relu backward"
	if y == nil {
		b.fail(op, "needs the forward output y (its zeros mask dy)")
		return
	}
	if !b.ok(op, dx, dgamma, dbeta, dy, gamma, saveMean, saveInvStd) || !b.okBNIn(op, x) || !b.okBNOut(op, y, true) ||
		!b.normNeed(op, dy, y, x, saveMean, saveInvStd) || !b.sameShape(op, dy, x, dx, y) {
		return
	}
	n, ch, s, ok := b.normBNGeom(op, x, dgamma, dbeta, gamma, saveMean, saveInvStd)
	if !ok {
		return
	}
	b.normBNBackward(op, dx, dgamma, dbeta, dy, y, x, gamma, saveMean, saveInvStd, n, ch, s, false, 0)
}

// BatchNormReluEvalBackward is BatchNormEvalBackward of dy·[y>0].
func (b *Backend) BatchNormReluEvalBackward(dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar *engine.Tensor, eps float32) {
	const op = "batchnorm relu eval backward"
	if y == nil {
		b.fail(op, "needs the forward output y (its zeros mask dy)")
		return
	}
	if !b.ok(op, dx, dgamma, dbeta, dy, gamma, runMean, runVar) || !b.okBNIn(op, x) || !b.okBNOut(op, y, true) ||
		!b.normNeed(op, dy, y, x, runMean, runVar) || !b.sameShape(op, dy, x, dx, y) {
		return
	}
	n, ch, s, ok := b.normBNGeom(op, x, dgamma, dbeta, gamma, runMean, runVar)
	if !ok {
		return
	}
	b.normBNBackward(op, dx, dgamma, dbeta, dy, y, x, gamma, runMean, runVar, n, ch, s, true, eps)
}

// BatchNormEvalBackward is the gradient of BatchNormEval (an affine map).
func (b *Backend) BatchNormEvalBackward(dx, dgamma, dbeta, dy, x, gamma, runMean, runVar *engine.Tensor, eps float32) {
	const op = "batchnorm eval backward"
	if !b.ok(op, dx, dgamma, dbeta, dy, gamma, runMean, runVar) || !b.okBNIn(op, x) ||
		!b.normNeed(op, dy, x, runMean, runVar) || !b.sameShape(op, dy, x, dx) {
		return
	}
	n, ch, s, ok := b.normBNGeom(op, x, dgamma, dbeta, gamma, runMean, runVar)
	if !ok {
		return
	}
	b.normBNBackward(op, dx, dgamma, dbeta, dy, nil, x, gamma, runMean, runVar, n, ch, s, true, eps)
}

// normBNBackward queues both batch-norm backward passes: mean and stat are
// saveMean and saveInvStd (training) or runMean and runVar (eval, with eps);
// ym (nil: none) masks dy (the fused BatchNormRelu ops).
func (b *Backend) normBNBackward(op string, dx, dgamma, dbeta, dy, ym, x, gamma, mean, stat *engine.Tensor,
	n, ch, s int, eval bool, eps float32) {
	if (dx == nil && dgamma == nil && dbeta == nil) || ch == 0 {
		return
	}
	m := n * s
	p := b.normBNSplit(ch, m)
	evalMode := 0
	if eval {
		evalMode = 1
	}
	var part devptr
	partFloats := normAlign(4 * ch * p)
	if p > 1 {
		var ok bool
		if part, ok = b.scratchBuf(op, scratchReduce, partFloats+4*ch); !ok {
			return
		}
	}
	sfx := bnSuffix(x, ym)
	b.launch(op, "norm_bn_bwd_reduce"+sfx, dim3{ch, p, 1}, d1(normThreads), 0,
		ptr(dy), ptr(x), ptr(dx), ptr(gamma), ptr(mean), ptr(stat), ptr(dgamma), ptr(dbeta), dp(part),
		i32(n), i32(ch), i32(s), i32(p), i32(evalMode), f32(eps), ptr(ym))
	if p == 1 {
		return
	}
	var coef devptr
	if !eval && dx != nil {
		coef = part + devptr(4*partFloats)
	}
	if dgamma != nil || dbeta != nil || coef != 0 {
		b.launch(op, "norm_bn_bwd_finalize", d1(blocks(ch, normThreads)), d1(normThreads), 0,
			dp(part), dp(coef), ptr(gamma), ptr(mean), ptr(stat), ptr(dgamma), ptr(dbeta),
			i32(n), i32(ch), i32(s), i32(p), i32(evalMode), f32(eps))
	}
	if coef == 0 {
		return
	}
	total := x.Len()
	if normVec4(s, dx, dy, x, ym) {
		b.launch(op, "norm_bn_bwd_dx4"+sfx, b.normGrid(total/4, 2), d1(normThreads), 0,
			ptr(dx), ptr(dy), ptr(x), dp(coef), i32(total), i32(ch), i32(s), ptr(ym))
		return
	}
	b.launch(op, "norm_bn_bwd_dx"+sfx, b.normGrid(total, 4), d1(normThreads), 0,
		ptr(dx), ptr(dy), ptr(x), dp(coef), i32(total), i32(ch), i32(s), ptr(ym))
}

// normRows views t as rows of its last dimension (engine.Rows).
func (b *Backend) normRows(op string, t *engine.Tensor) (rows, cols int, ok bool) {
	if t.Rank() == 0 {
		b.fail(op, "want at least one dimension, got %s", t)
		return 0, 0, false
	}
	if !b.normIndexable(op, t) {
		return 0, 0, false
	}
	rows, cols = engine.Rows(t)
	return rows, cols, true
}

// normRowKernel picks the warp-per-row or block-per-row form of a row kernel
// and its grid.
func normRowKernel(base string, rows, cols int) (string, dim3) {
	if cols <= normWarpRowMax {
		return base + "_warp", d1(blocks(rows, normThreads/32))
	}
	return base + "_block", d1(rows)
}

// LayerNorm normalises each row of the last dimension and saves its mean and
// 1/std (sums in double). gamma and beta may be nil.
func (b *Backend) LayerNorm(y, saveMean, saveInvStd, x, gamma, beta *engine.Tensor, eps float32) {
	const op = "layernorm"
	if !b.ok(op, y, saveMean, saveInvStd, x, gamma, beta) || !b.normNeed(op, y, x, saveMean, saveInvStd) ||
		!b.sameShape(op, y, x) {
		return
	}
	r, d, ok := b.normRows(op, x)
	if !ok {
		return
	}
	if saveMean.Len() != r || saveInvStd.Len() != r || (gamma != nil && gamma.Len() != d) || (beta != nil && beta.Len() != d) {
		b.fail(op, "shapes do not fit: %s", shapeStr(y, saveMean, saveInvStd, x, gamma, beta))
		return
	}
	if r == 0 {
		return
	}
	kernel, grid := normRowKernel("norm_ln_fwd", r, d)
	b.launch(op, kernel, grid, d1(normThreads), 0,
		ptr(x), ptr(y), ptr(saveMean), ptr(saveInvStd), ptr(gamma), ptr(beta), i32(r), i32(d), f32(eps))
}

// LayerNormBackward writes dx (per row) and dgamma, dbeta (column sums over
// the rows); each may be nil, and so may gamma.
func (b *Backend) LayerNormBackward(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd *engine.Tensor) {
	const op = "layernorm backward"
	if !b.ok(op, dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd) ||
		!b.normNeed(op, dy, x, saveMean, saveInvStd) || !b.sameShape(op, dy, x, dx) {
		return
	}
	r, d, ok := b.normRows(op, x)
	if !ok {
		return
	}
	if saveMean.Len() != r || saveInvStd.Len() != r || (gamma != nil && gamma.Len() != d) ||
		(dgamma != nil && dgamma.Len() != d) || (dbeta != nil && dbeta.Len() != d) {
		b.fail(op, "shapes do not fit: %s", shapeStr(dx, dgamma, dbeta, dy, x, gamma, saveMean, saveInvStd))
		return
	}
	// dγ and dβ first: they read dy, which dx may overwrite.
	if (dgamma != nil || dbeta != nil) && d > 0 {
		colBlocks := blocks(d, 32)
		p := blocks(normWave*b.sms, colBlocks)
		if most := blocks(r, 32); p > most { // at least 4 rows per thread
			p = most
		}
		if p < 1 {
			p = 1
		}
		rowsPer := blocks(r, p)
		if rowsPer < 1 {
			rowsPer = 1
		}
		if p = blocks(r, rowsPer); p < 1 { // no empty chunk
			p = 1
		}
		var part devptr
		if p > 1 {
			if part, ok = b.scratchBuf(op, scratchReduce, 4*p*d); !ok {
				return
			}
		}
		b.launch(op, "norm_ln_bwd_cols", dim3{colBlocks, p, 1}, dim3{32, normThreads / 32, 1}, 0,
			ptr(dy), ptr(x), ptr(saveMean), ptr(saveInvStd), ptr(dgamma), ptr(dbeta), dp(part),
			i32(r), i32(d), i32(rowsPer), i32(p))
		if p > 1 {
			b.launch(op, "norm_ln_bwd_cols_finalize", d1(blocks(d, normThreads)), d1(normThreads), 0,
				dp(part), ptr(dgamma), ptr(dbeta), i32(d), i32(p))
		}
	}
	if dx != nil && r > 0 {
		kernel, grid := normRowKernel("norm_ln_bwd_dx", r, d)
		b.launch(op, kernel, grid, d1(normThreads), 0,
			ptr(dx), ptr(dy), ptr(x), ptr(gamma), ptr(saveMean), ptr(saveInvStd), i32(r), i32(d))
	}
}

// Softmax over the last dimension, max-subtracted.
func (b *Backend) Softmax(y, x *engine.Tensor) {
	const op = "softmax"
	if !b.ok(op, y, x) || !b.normNeed(op, y, x) || !b.sameShape(op, y, x) {
		return
	}
	r, d, ok := b.normRows(op, x)
	if !ok || r == 0 {
		return
	}
	kernel, grid := normRowKernel("norm_softmax", r, d)
	b.launch(op, kernel, grid, d1(normThreads), 0, ptr(y), ptr(x), i32(r), i32(d))
}

// SoftmaxBackward computes dx = y·(dy − Σ dy·y) per row.
func (b *Backend) SoftmaxBackward(dx, dy, y *engine.Tensor) {
	const op = "softmax backward"
	if !b.ok(op, dx, dy, y) || !b.normNeed(op, dx, dy, y) || !b.sameShape(op, dx, dy, y) {
		return
	}
	r, d, ok := b.normRows(op, y)
	if !ok || r == 0 {
		return
	}
	kernel, grid := normRowKernel("norm_softmax_bwd", r, d)
	b.launch(op, kernel, grid, d1(normThreads), 0, ptr(dx), ptr(dy), ptr(y), i32(r), i32(d))
}

// CrossEntropy is the fused log-softmax + NLL loss, mean over rows: loss =
// mean(logΣexp(x) − x[label]); dlogits (or nil) = (softmax(x) − onehot)/N.
//
// Unlike the CPU, which checks the labels on the host, a label outside
// [0, C) records no error (that would need a synchronisation): it makes the
// loss and its row of dlogits NaN.
func (b *Backend) CrossEntropy(loss, dlogits, logits, labels *engine.Tensor) {
	const op = "cross entropy"
	if !b.ok(op, loss, dlogits, logits) || !b.okAs(op, engine.Int32, labels) {
		return
	}
	if loss == nil || logits == nil || labels == nil || logits.Rank() != 2 || labels.Len() != logits.Dim(0) ||
		loss.Len() != 1 || (dlogits != nil && !engine.SameShape(dlogits.Shape(), logits.Shape())) {
		b.fail(op, "want logits (N,C), int32 labels (N), a 1-element loss: %s", shapeStr(loss, dlogits, logits, labels))
		return
	}
	if !b.normIndexable(op, logits) {
		return
	}
	n, k := logits.Dim(0), logits.Dim(1)
	rowLoss, ok := b.scratchBuf(op, scratchReduce, 2*n) // n doubles
	if !ok {
		return
	}
	if n > 0 {
		kernel, grid := normRowKernel("norm_ce_rows", n, k)
		b.launch(op, kernel, grid, d1(normThreads), 0, ptr(dlogits), ptr(logits), ptr(labels), dp(rowLoss), i32(n), i32(k))
	}
	b.launch(op, "norm_ce_loss", d1(1), d1(normThreads), 0, dp(rowLoss), ptr(loss), i32(n))
}
