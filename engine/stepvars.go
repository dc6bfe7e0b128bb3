package engine

import (
	"fmt"
	"math"
)

// Step variables: what changes from one training step to the next, kept in
// a small Int32 tensor on the backend (NumStepVars elements, the slots
// below) so that a captured graph of a step (whose kernel arguments are
// frozen) reads the current values instead of the captured ones. An op
// given a vars tensor reads its learning rate, step counter, first-step
// flag or batch offset from it; given nil it takes the values in its
// arguments. The CPU engine reads the tensor on the host. EndStep advances
// the tensor at the end of a step, on the device.
const (
	VarLR       = iota // learning rate, float32 bits (SGDStep, AdadeltaStep)
	VarStep            // global training step (dropout keys)
	VarFirst           // 1 on the optimizer's first step, else 0 (SGDStep)
	VarOffset          // position of the batch's first example in the epoch's order (GatherBatch)
	VarSlot            // loss-window slot of the step (EndStep)
	VarDiverged        // 0, or 1 + the global step of the first non-finite loss (EndStep)
	NumStepVars
)

// StepVarsValues returns the slots of a step-variables tensor for a
// training step: learning rate lr, global step, first-step flag, batch
// offset; the slot and divergence flag start at 0.
func StepVarsValues(lr float32, step uint32, first bool, offset int) []int32 {
	v := make([]int32, NumStepVars)
	v[VarLR] = int32(math.Float32bits(lr))
	v[VarStep] = int32(step)
	if first {
		v[VarFirst] = 1
	}
	v[VarOffset] = int32(offset)
	return v
}

// NormTable is the 256-entry table GatherBatch maps pixel bytes through.
const NormTable = 256

// hostVars is the CPU view of a vars tensor (nil when vars is nil).
func (c *CPU) hostVars(op string, vars *Tensor) []int32 {
	if vars == nil {
		return nil
	}
	if !c.okAs(op, Int32, vars) {
		return nil
	}
	if vars.Len() < NumStepVars {
		c.fail(op, "step variables %s: %d slots, need %d", vars, vars.Len(), NumStepVars)
		return nil
	}
	return I32(vars)
}

// GatherBatch builds a batch from a data set held on the backend: for each
// example b of the batch (y.Len() examples; x holds x.Len()/y.Len() pixels
// per example), k = order[offset+b], x[b] = table[pixel] for each byte of
// image k (images packed four bytes to an Int32, little-endian, image k at
// byte k·pixels), y[b] = labels[k]. With vars, offset is vars[VarOffset].
func (c *CPU) GatherBatch(x, y, images, labels, order, table *Tensor, offset int, vars *Tensor) {
	const op = "gather batch"
	if !c.ok(op, x, table) || !c.okAs(op, Int32, y, images, labels, order) {
		return
	}
	if v := c.hostVars(op, vars); v != nil {
		offset = int(v[VarOffset])
	} else if vars != nil {
		return
	}
	if !c.check(op, CheckGather(x, y, images, labels, order, table)) || !c.check(op, checkOffset(order, offset, y.Len())) {
		return
	}
	n := y.Len()
	pixels := x.Len() / n
	xs, ys, ls, os, tab, img := F32(x), I32(y), I32(labels), I32(order), F32(table), I32(images)
	for b := 0; b < n; b++ {
		k := int(os[offset+b])
		if k < 0 || k >= labels.Len() {
			c.fail(op, "order[%d] = %d outside the data set's %d examples", offset+b, k, labels.Len())
			return
		}
		dst := xs[b*pixels : (b+1)*pixels]
		for j := range dst {
			i := k*pixels + j
			dst[j] = tab[byte(uint32(img[i>>2])>>(8*(i&3)))]
		}
		ys[b] = ls[k]
	}
}

// PackBytes packs bytes four to an Int32 word, little-endian, padding the
// last word with zeros: the layout GatherBatch reads images in.
func PackBytes(b []byte) []int32 {
	out := make([]int32, (len(b)+3)/4)
	for i, v := range b {
		out[i/4] |= int32(uint32(v) << (8 * (i % 4)))
	}
	return out
}

// EndStep finishes a training step on the backend: it stores the step's
// loss (a 1-element tensor) in window[vars[VarSlot] mod window.Len()], sets
// vars[VarDiverged] to 1 + vars[VarStep] when the loss is not finite and no
// earlier one was, then advances the step (VarStep+1, VarFirst 0,
// VarOffset+batch, VarSlot+1).
func (c *CPU) EndStep(vars, window, loss *Tensor, batch int) {
	const op = "end step"
	if !c.ok(op, window, loss) {
		return
	}
	v := c.hostVars(op, vars)
	if v == nil {
		if vars == nil {
			c.fail(op, "no step variables")
		}
		return
	}
	if !c.check(op, CheckEndStep(window, loss)) {
		return
	}
	l := F32(loss)[0]
	F32(window)[int(uint32(v[VarSlot]))%window.Len()] = l
	if f := float64(l); (math.IsNaN(f) || math.IsInf(f, 0)) && v[VarDiverged] == 0 {
		v[VarDiverged] = v[VarStep] + 1
	}
	v[VarStep]++
	v[VarFirst] = 0
	v[VarOffset] += int32(batch)
	v[VarSlot]++
}

// CheckGather checks GatherBatch's operands: x holds a whole number of
// pixels per example of y, labels and order are data-set and epoch
// indices, images hold labels.Len() images, table has NormTable entries,
// and the batch fits in order from offset (not checked when offset < 0,
// an offset the device reads from the step variables).
func CheckGather(x, y, images, labels, order, table *Tensor) error {
	n := y.Len()
	if n == 0 || x.Len()%n != 0 {
		return fmt.Errorf("batch %s does not hold a whole number of images for labels %s", x, y)
	}
	pixels := x.Len() / n
	if int64(images.Len())*4 < int64(labels.Len())*int64(pixels) {
		return fmt.Errorf("images %s hold fewer than %d images of %d bytes (labels %s)", images, labels.Len(), pixels, labels)
	}
	if table.Len() != NormTable {
		return fmt.Errorf("normalisation table %s: need %d entries", table, NormTable)
	}
	if order.Len() < n {
		return fmt.Errorf("order %s is shorter than the batch of %d", order, n)
	}
	return nil
}

// checkOffset checks that a batch of n examples from offset fits in order.
func checkOffset(order *Tensor, offset, n int) error {
	if offset < 0 || offset+n > order.Len() {
		return fmt.Errorf("batch of %d from offset %d overruns order %s", n, offset, order)
	}
	return nil
}

// CheckEndStep checks EndStep's operands.
func CheckEndStep(window, loss *Tensor) error {
	if window.Len() == 0 || loss.Len() != 1 {
		return fmt.Errorf("need a non-empty loss window and a 1-element loss, got %s and %s", window, loss)
	}
	return nil
}
