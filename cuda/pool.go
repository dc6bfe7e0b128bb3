//go:build cuda || cgo

package cuda

import "github.com/gotrain/gotrain/engine"

// Max, average and adaptive average pooling: the kernels of
// kernels/pool.cu. Shape checks and error messages are the CPU engine's
// (engine/cpu_pool.go).

// poolThreads is the block size of the one-thread-per-element kernels.
const poolThreads = 256

// poolGeom is engine.PoolGeometry, for the kernels' 32-bit indexing too.
func (b *Backend) poolGeom(op string, y, x *engine.Tensor, p engine.Pool2dParams) (planes, h, w, oh, ow int, ok bool) {
	if !b.shapeNeed(op, y, x) {
		return
	}
	planes, h, w, oh, ow, err := engine.PoolGeometry(y, x, p)
	return planes, h, w, oh, ow, b.check(op, err) && b.shapeFits(op, y, x)
}

// poolWindowArgs are the window arguments of the max and average kernels.
func poolWindowArgs(p engine.Pool2dParams) []arg {
	return []arg{i32(p.KH), i32(p.KW), i32(p.StrideH), i32(p.StrideW), i32(p.PadH), i32(p.PadW)}
}

// MaxPool2d takes the first maximum of each window (PyTorch's order) and
// writes its flat index h·W+w within the plane to idx.
func (b *Backend) MaxPool2d(y, idx, x *engine.Tensor, p engine.Pool2dParams) {
	const op = "maxpool2d"
	if !b.ok(op, y, x) || !b.okAs(op, engine.Int32, idx) {
		return
	}
	planes, h, w, oh, ow, ok := b.poolGeom(op, y, x, p)
	if !ok {
		return
	}
	if idx == nil || idx.DType() != engine.Int32 || !engine.SameShape(idx.Shape(), y.Shape()) {
		b.fail(op, "indices %s must be int32 shaped like %s", shapeStr(idx), y)
		return
	}
	n := planes * oh * ow
	args := append([]arg{ptr(y), ptr(idx), ptr(x), i32(n), i32(h), i32(w), i32(oh), i32(ow)}, poolWindowArgs(p)...)
	b.launch(op, "pool_max_fwd", d1(blocks(n, poolThreads)), d1(poolThreads), 0, args...)
}

// poolMaxBwdWarps is the number of planes (one warp each) per block of the
// max-pool backward kernels.
const poolMaxBwdWarps = 4

// poolMaxBwdSmem is the shared memory a block of pool_max_bwd_smem may use.
const poolMaxBwdSmem = 48 << 10

// MaxPool2dBackward routes each dy to the argmax it came from; dx elements
// that were no maximum get 0. Bit-identical to the CPU (same additions in
// the same order where windows overlap).
func (b *Backend) MaxPool2dBackward(dx, dy, idx *engine.Tensor) {
	const op = "maxpool2d backward"
	if !b.ok(op, dx, dy) || !b.okAs(op, engine.Int32, idx) || !b.shapeNeed(op, dx, dy, idx) {
		return
	}
	if dx.Rank() != 4 || dy.Rank() != 4 || !engine.SameShape(dy.Shape(), idx.Shape()) || dx.Dim(0) != dy.Dim(0) || dx.Dim(1) != dy.Dim(1) {
		b.fail(op, "shapes do not fit: %s", shapeStr(dx, dy, idx))
		return
	}
	if !b.shapeFits(op, dx, dy) {
		return
	}
	planes, hw, ohw := dx.Dim(0)*dx.Dim(1), dx.Dim(2)*dx.Dim(3), dy.Dim(2)*dy.Dim(3)
	if planes == 0 || hw == 0 {
		return
	}
	// Planes that fit in shared memory are accumulated there (up to four
	// per block), larger ones in place in dx.
	if warps := min(poolMaxBwdWarps, poolMaxBwdSmem/((32+hw)*4)); warps >= 1 {
		b.launch(op, "pool_max_bwd_smem", d1(blocks(planes, warps)), d1(32*warps), warps*(32+hw)*4,
			ptr(dx), ptr(dy), ptr(idx), i32(planes), i32(hw), i32(ohw))
		return
	}
	b.launch(op, "pool_max_bwd", d1(blocks(planes, poolMaxBwdWarps)), d1(32*poolMaxBwdWarps), poolMaxBwdWarps*32*4,
		ptr(dx), ptr(dy), ptr(idx), i32(planes), i32(hw), i32(ohw))
}

// poolExcl is ExcludePad as a kernel argument.
func poolExcl(p engine.Pool2dParams) arg {
	if p.ExcludePad {
		return i32(1)
	}
	return i32(0)
}

// AvgPool2d averages each window (count_include_pad unless ExcludePad).
func (b *Backend) AvgPool2d(y, x *engine.Tensor, p engine.Pool2dParams) {
	const op = "avgpool2d"
	if !b.ok(op, y, x) {
		return
	}
	planes, h, w, oh, ow, ok := b.poolGeom(op, y, x, p)
	if !ok {
		return
	}
	n := planes * oh * ow
	args := append([]arg{ptr(y), ptr(x), i32(n), i32(h), i32(w), i32(oh), i32(ow)}, poolWindowArgs(p)...)
	b.launch(op, "pool_avg_fwd", d1(blocks(n, poolThreads)), d1(poolThreads), 0, append(args, poolExcl(p))...)
}

// AvgPool2dBackward spreads each dy evenly over its window (gathered per dx
// element in the CPU's order: bit-identical).
func (b *Backend) AvgPool2dBackward(dx, dy *engine.Tensor, p engine.Pool2dParams) {
	const op = "avgpool2d backward"
	if !b.ok(op, dx, dy) {
		return
	}
	planes, h, w, oh, ow, ok := b.poolGeom(op, dy, dx, p)
	if !ok {
		return
	}
	n := planes * h * w
	args := append([]arg{ptr(dx), ptr(dy), i32(n), i32(h), i32(w), i32(oh), i32(ow)}, poolWindowArgs(p)...)
	b.launch(op, "pool_avg_bwd", d1(blocks(n, poolThreads)), d1(poolThreads), 0, append(args, poolExcl(p))...)
}

// poolAdaptiveGeom is engine.AdaptivePoolGeometry, for 32-bit indexing too.
func (b *Backend) poolAdaptiveGeom(op string, y, x *engine.Tensor) (planes, h, w, oh, ow int, ok bool) {
	if !b.shapeNeed(op, y, x) {
		return
	}
	planes, h, w, oh, ow, err := engine.AdaptivePoolGeometry(y, x)
	return planes, h, w, oh, ow, b.check(op, err) && b.shapeFits(op, y, x)
}

// poolAdaptiveMax is the largest adaptive window along one dimension.
func poolAdaptiveMax(in, out int) int {
	m := 0
	for i := 0; i < out; i++ {
		m = max(m, ((i+1)*in+out-1)/out-i*in/out)
	}
	return m
}

// AdaptiveAvgPool2d averages the adaptive windows (global pooling when y is 1x1).
func (b *Backend) AdaptiveAvgPool2d(y, x *engine.Tensor) {
	const op = "adaptive avgpool2d"
	if !b.ok(op, y, x) {
		return
	}
	planes, h, w, oh, ow, ok := b.poolAdaptiveGeom(op, y, x)
	if !ok {
		return
	}
	n := planes * oh * ow
	if n == 0 {
		return
	}
	args := []arg{ptr(y), ptr(x), i32(n), i32(h), i32(w), i32(oh), i32(ow)}
	// Windows of 32 elements or more (global pooling): one warp per output.
	if poolAdaptiveMax(h, oh)*poolAdaptiveMax(w, ow) >= 32 && n < 1<<26 {
		b.launch(op, "pool_adaptive_fwd_warp", d1(blocks(n*32, poolThreads)), d1(poolThreads), 0, args...)
		return
	}
	b.launch(op, "pool_adaptive_fwd", d1(blocks(n, poolThreads)), d1(poolThreads), 0, args...)
}

// AdaptiveAvgPool2dBackward spreads each dy evenly over its window
// (gathered per dx element in the CPU's order: bit-identical).
func (b *Backend) AdaptiveAvgPool2dBackward(dx, dy *engine.Tensor) {
	const op = "adaptive avgpool2d backward"
	if !b.ok(op, dx, dy) {
		return
	}
	planes, h, w, oh, ow, ok := b.poolAdaptiveGeom(op, dy, dx)
	if !ok {
		return
	}
	n := planes * h * w
	b.launch(op, "pool_adaptive_bwd", d1(blocks(n, poolThreads)), d1(poolThreads), 0,
		ptr(dx), ptr(dy), i32(n), i32(h), i32(w), i32(oh), i32(ow))
}
