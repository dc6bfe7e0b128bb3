package cuda

import (
	"fmt"

	"github.com/gotrain/gotrain/engine"
)

// The fused memory-bound ops of kernels/fused.cu (their CPU references are
// in engine/cpu_fused.go). The fused batch norm + ReLU ops live with batch
// norm in norm.go: the same kernels with their relu flag or output mask.

// AddRelu computes y = max(a+b, 0) in one pass (y may be a or b).
func (b *Backend) AddRelu(y, a, c *engine.Tensor) {
	const op = "add relu"
	if !b.ok(op, y, a, c) || !b.shapeNeed(op, y, a, c) || !b.check(op, engine.AddReluGeometry(y, a, c)) {
		return
	}
	n := y.Len()
	if n == 0 || !b.shapeFits(op, y) {
		return
	}
	if n%4 == 0 && shapeAligned(y, a, c) {
		b.ew(op, "fused_add_relu4", n/4, ptr(y), ptr(a), ptr(c), i32(n/4))
		return
	}
	b.ew(op, "fused_add_relu", n, ptr(y), ptr(a), ptr(c), i32(n))
}

// SqueezeExcite runs the SE block in three kernels: the plane means, the two
// small linear maps per sample, and y = x·scale (+ res).
func (b *Backend) SqueezeExcite(y, pooled, hidden, scale, x, res, w1, b1, w2, b2 *engine.Tensor) {
	const op = "squeeze excite"
	if !b.ok(op, y, pooled, hidden, scale, x, res, w1, b1, w2, b2) ||
		!b.shapeNeed(op, y, pooled, hidden, scale, x, w1, w2) {
		return
	}
	n, c, s, d, err := engine.SEGeometry(y, pooled, hidden, scale, x, res, w1, b1, w2, b2)
	if !b.check(op, err) || n == 0 || c == 0 || !b.shapeFits(op, x) {
		return
	}
	b.launch(op, "fused_se_pool", d1(n*c), d1(fusedSEPlaneThreads), 0, ptr(x), ptr(pooled), i32(s))
	b.launch(op, "fused_se_excite", d1(n), d1(256), 0,
		ptr(pooled), ptr(hidden), ptr(scale), ptr(w1), ptr(b1), ptr(w2), ptr(b2), i32(c), i32(d))
	b.ew(op, "fused_se_apply", x.Len(), ptr(y), ptr(x), ptr(scale), ptr(res), i32(x.Len()), i32(s))
}

// fusedSEPlaneThreads is kSEPlaneThreads of kernels/fused.cu.
const fusedSEPlaneThreads = 128

// SqueezeExciteBackward runs the gradient of SqueezeExcite in four kernels
// (plane sums of dy·x, the per-sample gradients back to the pooled means,
// the weight gradients, dx), with dz2, dz1 and dpool in scratch memory.
func (b *Backend) SqueezeExciteBackward(dx, dw1, db1, dw2, db2, dy, x, w1, w2, pooled, hidden, scale *engine.Tensor) {
	const op = "squeeze excite backward"
	if !b.ok(op, dx, dw1, db1, dw2, db2, dy, x, w1, w2, pooled, hidden, scale) ||
		!b.shapeNeed(op, dy, x, w1, w2, pooled, hidden, scale) {
		return
	}
	n, c, s, d, err := engine.SEGeometry(dx, pooled, hidden, scale, x, dy, w1, db1, w2, db2)
	if err == nil && ((dw1 != nil && dw1.Len() != w1.Len()) || (dw2 != nil && dw2.Len() != w2.Len())) {
		err = fmt.Errorf("weight gradients %s do not fit the weights %s", shapeStr(dw1, dw2), shapeStr(w1, w2))
	}
	if !b.check(op, err) || n == 0 || c == 0 || !b.shapeFits(op, x) {
		return
	}
	tmp, ok := b.scratchBuf(op, scratchReduce, normAlign(n*c)+normAlign(n*c)+n*d)
	if !ok {
		return
	}
	dz2 := tmp
	dpool := tmp + devptr(4*normAlign(n*c))
	dz1 := dpool + devptr(4*normAlign(n*c))
	b.launch(op, "fused_se_bwd_reduce", d1(n*c), d1(fusedSEPlaneThreads), 0,
		ptr(dy), ptr(x), ptr(scale), dp(dz2), i32(s))
	b.launch(op, "fused_se_bwd_excite", d1(n), d1(256), 0,
		dp(dz2), ptr(hidden), ptr(w1), ptr(w2), dp(dz1), dp(dpool), i32(c), i32(d), i32(s))
	if dw1 != nil || db1 != nil || dw2 != nil || db2 != nil {
		b.launch(op, "fused_se_bwd_weights", d1(blocks(c*d, 256)), d1(256), 0,
			dp(dz2), dp(dz1), ptr(hidden), ptr(pooled), ptr(dw1), ptr(db1), ptr(dw2), ptr(db2),
			i32(n), i32(c), i32(d))
	}
	if dx != nil {
		b.ew(op, "fused_se_bwd_dx", x.Len(), ptr(dx), ptr(dy), ptr(scale), dp(dpool), i32(x.Len()), i32(s))
	}
}
