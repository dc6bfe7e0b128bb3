package cuda

import "github.com/gotrain/gotrain/engine"

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
