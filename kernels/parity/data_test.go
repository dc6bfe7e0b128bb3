//go:build cuda || cgo

package parity

import (
	"math"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// setInt uploads the same int32 values to both engines.
func (e *env) setInt(p pair, v []int32) {
	e.g.UploadInt32(p.g, v)
	e.c.UploadInt32(p.c, v)
}

// TestGatherParity gathers and normalises batches from a byte data set
// through a shuffled order, at an offset given as an argument and read
// from the step variables, on both engines.
func TestGatherParity(t *testing.T) {
	e := newEnv(t, 11)
	const nImages, pixels = 37, 29 // an odd image size: images straddle the packed words
	bytes := make([]byte, nImages*pixels)
	for i := range bytes {
		bytes[i] = byte(e.rng.IntN(256))
	}
	words := engine.PackBytes(bytes)
	images := e.alloc("images", engine.Int32, len(words))
	e.setInt(images, words)
	labels := e.labels("labels", 10, nImages)
	order := e.alloc("order", engine.Int32, nImages)
	perm := make([]int32, nImages)
	for i, k := range e.rng.Perm(nImages) {
		perm[i] = int32(k)
	}
	e.setInt(order, perm)
	table := e.rand("table", 3, engine.NormTable)
	vars := e.alloc("vars", engine.Int32, engine.NumStepVars)
	for _, c := range []struct {
		batch, offset int
		useVars       bool
	}{{1, 0, false}, {8, 5, false}, {8, 29, true}, {37, 0, true}, {5, 32, false}} {
		x := e.out("x", c.batch, 1, pixels)
		y := e.outInt("y", c.batch)
		var vg, vc *engine.Tensor
		off := c.offset
		if c.useVars {
			e.setInt(vars, engine.StepVarsValues(0.1, 7, false, c.offset))
			vg, vc, off = vars.g, vars.c, -1
		}
		e.g.GatherBatch(x.g, y.g, images.g, labels.g, order.g, table.g, off, vg)
		e.c.GatherBatch(x.c, y.c, images.c, labels.c, order.c, table.c, off, vc)
		e.check("gather batch", x, 0, 0)
		e.checkInt("gather batch labels", y)
	}
	// The CPU reference against the data itself.
	x := e.zeros("x", 3, pixels)
	y := e.alloc("y", engine.Int32, 3)
	e.c.GatherBatch(x.c, y.c, images.c, labels.c, order.c, table.c, 10, nil)
	xs, ys, tab, ls := engine.F32(x.c), engine.I32(y.c), engine.F32(table.c), engine.I32(labels.c)
	for b := range 3 {
		k := int(perm[10+b])
		if ys[b] != ls[k] {
			t.Fatalf("cpu gather: label %d is %d, image %d's is %d", b, ys[b], k, ls[k])
		}
		for j := range pixels {
			if xs[b*pixels+j] != tab[bytes[k*pixels+j]] {
				t.Fatalf("cpu gather: example %d pixel %d is %g, want table[%d] = %g", b, j, xs[b*pixels+j], bytes[k*pixels+j], tab[bytes[k*pixels+j]])
			}
		}
	}
	t.Logf("ok cpu gather batch: 3 examples equal the data set's through the order")
	// An offset past the order's end is an error on both engines.
	x5, y5 := e.zeros("x", 5, pixels), e.alloc("y", engine.Int32, 5)
	e.g.GatherBatch(x5.g, y5.g, images.g, labels.g, order.g, table.g, 33, nil)
	e.c.GatherBatch(x5.c, y5.c, images.c, labels.c, order.c, table.c, 33, nil)
	e.sameError("gather past the order")
}

// TestEndStepParity runs steps' end on both engines: losses into the
// window, the first non-finite loss flagged, the variables advanced.
func TestEndStepParity(t *testing.T) {
	e := newEnv(t, 12)
	const window = 4
	vars := e.alloc("vars", engine.Int32, engine.NumStepVars)
	e.setInt(vars, engine.StepVarsValues(0.5, 41, true, 0))
	win := e.out("window", window)
	loss := e.zeros("loss", 1)
	for i, l := range []float32{2.5, 1.25, float32(math.NaN()), float32(math.Inf(1)), 0.5, 0.25} {
		e.set(loss, []float32{l})
		e.g.EndStep(vars.g, win.g, loss.g, 64)
		e.c.EndStep(vars.c, win.c, loss.c, 64)
		if i == 3 {
			e.checkInt("end step variables", vars)
		}
	}
	e.checkInt("end step variables", vars)
	got := engine.I32(vars.c)
	want := engine.StepVarsValues(0.5, 47, false, 6*64)
	want[engine.VarSlot], want[engine.VarDiverged] = 6, 41+2+1
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("cpu end step: variables %v, want %v", got, want)
		}
	}
	gw, cw := e.host(win)
	for i := range cw {
		if math.Float32bits(gw[i]) != math.Float32bits(cw[i]) {
			t.Fatalf("end step window: slot %d gpu %g cpu %g", i, gw[i], cw[i])
		}
	}
	t.Logf("ok end step: window %v, variables %v", cw, got)
}

// TestStepVarsParity runs dropout and the optimizers with their step,
// learning rate and first-step flag read from the step variables, and
// checks each against the same op given those values as arguments.
func TestStepVarsParity(t *testing.T) {
	e := newEnv(t, 13)
	const n = 4099
	vars := e.alloc("vars", engine.Int32, engine.NumStepVars)
	e.setInt(vars, engine.StepVarsValues(0.03, 777, true, 0))
	x := e.rand("x", 1, n)
	y, yRef := e.out("y", n), e.out("y ref", n)
	key := engine.DropoutKey{Seed: 99, Step: 1, Layer: 2}
	keyV := key
	keyV.Vars = vars.g
	e.g.Dropout(y.g, x.g, 0.3, keyV)
	keyV.Vars = vars.c
	e.c.Dropout(y.c, x.c, 0.3, keyV)
	e.check("dropout with step variables", y, 0, 0)
	key.Step = 777
	e.g.Dropout(yRef.g, x.g, 0.3, key)
	e.c.Dropout(yRef.c, x.c, 0.3, key)
	e.check("dropout with the step as argument", yRef, 0, 0)
	gy, _ := e.host(y)
	gr, _ := e.host(yRef)
	for i := range gy {
		if math.Float32bits(gy[i]) != math.Float32bits(gr[i]) {
			t.Fatalf("dropout: element %d with step variables %g, with the step as argument %g", i, gy[i], gr[i])
		}
	}
	for _, first := range []bool{true, false} {
		e.setInt(vars, engine.StepVarsValues(0.03, 777, first, 0))
		p, g, m := e.rand("p", 1, n), e.rand("g", 1, n), e.rand("mom", 1, n)
		pr, mr := e.zeros("p ref", n), e.zeros("mom ref", n)
		e.g.Copy(pr.g, p.g)
		e.c.Copy(pr.c, p.c)
		e.g.Copy(mr.g, m.g)
		e.c.Copy(mr.c, m.c)
		prm := engine.SGDParams{LR: 9, Momentum: 0.9, WeightDecay: 5e-4}
		prm.Vars = vars.g
		e.g.SGDStep(p.g, g.g, m.g, prm)
		prm.Vars = vars.c
		e.c.SGDStep(p.c, g.c, m.c, prm)
		e.check("sgd with step variables", p, 1e-7, 1e-6)
		ref := engine.SGDParams{LR: 0.03, Momentum: 0.9, WeightDecay: 5e-4, First: first}
		e.g.SGDStep(pr.g, g.g, mr.g, ref)
		e.c.SGDStep(pr.c, g.c, mr.c, ref)
		a, _ := e.host(p)
		b, _ := e.host(pr)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("sgd (first %v): element %d with step variables %g, as arguments %g", first, i, a[i], b[i])
			}
		}
	}
	p, g := e.rand("p", 1, n), e.rand("g", 1, n)
	sq, acc := e.randRange("sq", 0, 1, n), e.randRange("acc", 0, 1, n)
	pr := e.zeros("p ref", n)
	sqr, accr := e.zeros("sq ref", n), e.zeros("acc ref", n)
	e.c.Copy(pr.c, p.c)
	e.c.Copy(sqr.c, sq.c)
	e.c.Copy(accr.c, acc.c)
	prm := engine.AdadeltaParams{LR: 5, Rho: 0.9, Eps: 1e-6}
	prm.Vars = vars.g
	e.g.AdadeltaStep(p.g, g.g, sq.g, acc.g, prm)
	prm.Vars = vars.c
	e.c.AdadeltaStep(p.c, g.c, sq.c, acc.c, prm)
	e.check("adadelta with step variables", p, 1e-6, 1e-5)
	e.c.AdadeltaStep(pr.c, g.c, sqr.c, accr.c, engine.AdadeltaParams{LR: 0.03, Rho: 0.9, Eps: 1e-6})
	a, b := engine.F32(p.c), engine.F32(pr.c)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("cpu adadelta: element %d with step variables %g, as arguments %g", i, a[i], b[i])
		}
	}
}
