package engine_test

import (
	"math"
	"strings"
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// TestGatherBatch gathers batches from bytes packed four to a word (images
// of an odd size, straddling words) through an order, at an offset given
// as an argument or read from the step variables, and compares each pixel
// and label with the data set's; bad operands are refused.
func TestGatherBatch(t *testing.T) {
	be := engine.NewCPU(1)
	a := newAlloc(t, be, 21)
	const n, pixels = 11, 13
	bytes := make([]byte, n*pixels)
	for i := range bytes {
		bytes[i] = byte(a.rng.IntN(256))
	}
	words := engine.PackBytes(bytes)
	if len(words) != (len(bytes)+3)/4 {
		t.Fatalf("PackBytes: %d words for %d bytes", len(words), len(bytes))
	}
	images := a.int32s(words, len(words))
	labels := make([]int32, n)
	order := make([]int32, n)
	for i := range labels {
		labels[i] = int32(a.rng.IntN(10))
	}
	for i, k := range a.rng.Perm(n) {
		order[i] = int32(k)
	}
	lab, ord, table := a.int32s(labels, n), a.int32s(order, n), a.uniform(-2, 2, engine.NormTable)
	vars := a.int32s(engine.StepVarsValues(0.1, 0, false, 6), engine.NumStepVars)
	for _, c := range []struct {
		batch, offset int
		vars          *engine.Tensor
		from          int // the order position the batch starts at
	}{{4, 0, nil, 0}, {4, 7, nil, 7}, {5, -1, vars, 6}, {11, 0, nil, 0}} {
		x, y := a.full(float32(math.NaN()), c.batch, pixels), a.int32s(nil, c.batch)
		be.GatherBatch(x, y, images, lab, ord, table, c.offset, c.vars)
		if err := be.Err(); err != nil {
			t.Fatal(err)
		}
		xs, ys, tab := engine.F32(x), engine.I32(y), engine.F32(table)
		for b := range c.batch {
			k := order[c.from+b]
			if ys[b] != labels[k] {
				t.Fatalf("batch %d from %d: label %d is %d, image %d's is %d", c.batch, c.from, b, ys[b], k, labels[k])
			}
			for j := range pixels {
				if want := tab[bytes[int(k)*pixels+j]]; xs[b*pixels+j] != want {
					t.Fatalf("batch %d from %d: example %d pixel %d is %g, want %g", c.batch, c.from, b, j, xs[b*pixels+j], want)
				}
			}
		}
	}
	for _, c := range []struct {
		name string
		run  func()
		want string
	}{
		{"past the order", func() { be.GatherBatch(a.zeros(4, pixels), a.int32s(nil, 4), images, lab, ord, table, 8, nil) }, "overruns order"},
		{"ragged batch", func() { be.GatherBatch(a.zeros(4*pixels+1), a.int32s(nil, 4), images, lab, ord, table, 0, nil) }, "whole number of images"},
		{"short table", func() {
			be.GatherBatch(a.zeros(4, pixels), a.int32s(nil, 4), images, lab, ord, a.zeros(255), 0, nil)
		}, "normalisation table"},
		{"index outside the data", func() {
			be.GatherBatch(a.zeros(1, pixels), a.int32s(nil, 1), images, lab, a.int32s([]int32{n}, 1), table, 0, nil)
		}, "outside the data set"},
	} {
		c.run()
		err := be.Err()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("gather %s: error %v, want one saying %q", c.name, err, c.want)
		}
		be.ClearErr()
	}
}

// TestEndStep stores losses in the window's slots in turn, flags the first
// non-finite loss with its step and advances the step variables.
func TestEndStep(t *testing.T) {
	be := engine.NewCPU(1)
	a := newAlloc(t, be, 22)
	vars := a.int32s(engine.StepVarsValues(0.25, 100, true, 0), engine.NumStepVars)
	win, loss := a.zeros(3), a.zeros(1)
	for _, l := range []float32{1, 2, float32(math.Inf(-1)), 4, float32(math.NaN())} {
		engine.F32(loss)[0] = l
		be.EndStep(vars, win, loss, 32)
	}
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	v := engine.I32(vars)
	want := engine.StepVarsValues(0.25, 105, false, 5*32)
	want[engine.VarSlot], want[engine.VarDiverged] = 5, 103 // 1 + step 102, the -Inf
	for i := range want {
		if v[i] != want[i] {
			t.Fatalf("step variables %v, want %v", v, want)
		}
	}
	w := engine.F32(win)
	if w[0] != 4 || !math.IsNaN(float64(w[1])) || !math.IsInf(float64(w[2]), -1) {
		t.Fatalf("window %v, want [4 NaN -Inf]", w)
	}
	be.EndStep(nil, win, loss, 1)
	if err := be.Err(); err == nil || !strings.Contains(err.Error(), "no step variables") {
		t.Fatalf("end step without variables: %v", err)
	}
	be.ClearErr()
	be.EndStep(a.int32s(nil, 2), win, loss, 1)
	if err := be.Err(); err == nil || !strings.Contains(err.Error(), "slots") {
		t.Fatalf("end step with 2 slots: %v", err)
	}
}

// TestStepVarsOps: dropout, SGD and Adadelta given the step variables do
// exactly what they do given the same values as arguments.
func TestStepVarsOps(t *testing.T) {
	be := engine.NewCPU(2)
	a := newAlloc(t, be, 23)
	const n = 1000
	for _, first := range []bool{true, false} {
		vars := a.int32s(engine.StepVarsValues(0.07, 31, first, 0), engine.NumStepVars)
		x := a.rand(n)
		y1, y2 := a.zeros(n), a.zeros(n)
		be.Dropout(y1, x, 0.4, engine.DropoutKey{Seed: 5, Step: 999, Layer: 1, Vars: vars})
		be.Dropout(y2, x, 0.4, engine.DropoutKey{Seed: 5, Step: 31, Layer: 1})
		same(t, "dropout", y1, y2)
		p1, g, m1 := a.rand(n), a.rand(n), a.rand(n)
		p2, m2 := a.zeros(n), a.zeros(n)
		copy(engine.F32(p2), engine.F32(p1))
		copy(engine.F32(m2), engine.F32(m1))
		be.SGDStep(p1, g, m1, engine.SGDParams{LR: 5, Momentum: 0.9, WeightDecay: 1e-3, Vars: vars})
		be.SGDStep(p2, g, m2, engine.SGDParams{LR: 0.07, Momentum: 0.9, WeightDecay: 1e-3, First: first})
		same(t, "sgd params", p1, p2)
		same(t, "sgd momentum", m1, m2)
		sq1, ac1 := a.uniform(0, 1, n), a.uniform(0, 1, n)
		sq2, ac2 := a.zeros(n), a.zeros(n)
		copy(engine.F32(sq2), engine.F32(sq1))
		copy(engine.F32(ac2), engine.F32(ac1))
		be.AdadeltaStep(p1, g, sq1, ac1, engine.AdadeltaParams{LR: 5, Rho: 0.9, Eps: 1e-6, Vars: vars})
		be.AdadeltaStep(p2, g, sq2, ac2, engine.AdadeltaParams{LR: 0.07, Rho: 0.9, Eps: 1e-6})
		same(t, "adadelta params", p1, p2)
		if err := be.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func same(t *testing.T, what string, a, b *engine.Tensor) {
	t.Helper()
	x, y := engine.F32(a), engine.F32(b)
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			t.Fatalf("%s: element %d is %g with the step variables, %g with the values as arguments", what, i, x[i], y[i])
		}
	}
}
