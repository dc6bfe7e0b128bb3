//go:build cuda || cgo

package cuda

import "github.com/gotrain/gotrain/engine"

// varsOK checks a step-variables tensor (nil: none) for op.
func (b *Backend) varsOK(op string, vars *engine.Tensor) bool {
	if vars == nil {
		return true
	}
	if !b.okAs(op, engine.Int32, vars) {
		return false
	}
	if vars.Len() < engine.NumStepVars {
		b.fail(op, "step variables %s: %d slots, need %d", vars, vars.Len(), engine.NumStepVars)
		return false
	}
	return true
}

// GatherBatch builds a batch from the data set on the device (kernels/data.cu,
// data_gather). With vars the batch's offset is read on the device; without
// it, offset is checked here as the CPU engine checks it.
func (b *Backend) GatherBatch(x, y, images, labels, order, table *engine.Tensor, offset int, vars *engine.Tensor) {
	const op = "gather batch"
	if !b.ok(op, x, table) || !b.okAs(op, engine.Int32, y, images, labels, order) || !b.varsOK(op, vars) {
		return
	}
	if !b.check(op, engine.CheckGather(x, y, images, labels, order, table)) {
		return
	}
	n := y.Len()
	if vars == nil && (offset < 0 || offset+n > order.Len()) {
		b.fail(op, "batch of %d from offset %d overruns order %s", n, offset, order)
		return
	}
	pixels := x.Len() / n
	b.ew(op, "data_gather", n*pixels, ptr(x), ptr(y), ptr(images), ptr(labels), ptr(order), ptr(table),
		i32(offset), ptr(vars), i32(n), i32(pixels), i32(labels.Len()), i32(order.Len()))
}

// EndStep stores the step's loss in the window and advances the step
// variables, on the device (kernels/data.cu, step_end).
func (b *Backend) EndStep(vars, window, loss *engine.Tensor, batch int) {
	const op = "end step"
	if !b.ok(op, window, loss) {
		return
	}
	if vars == nil {
		b.fail(op, "no step variables")
		return
	}
	if !b.varsOK(op, vars) || !b.check(op, engine.CheckEndStep(window, loss)) {
		return
	}
	b.launch(op, "step_end", d1(1), d1(1), 0, ptr(vars), ptr(window), ptr(loss), i32(window.Len()), i32(batch))
}
