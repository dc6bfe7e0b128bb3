//go:build cuda || cgo

package parity

import (
	"testing"

	"github.com/gotrain/gotrain/engine"
)

// The kernel lab's peak microkernels (kernels/lab.cu): MMAPeak checks every
// thread's sum of its accumulators against the exact count of mma.sync it
// ran (a dropped or repeated mma, or a wrong fragment constant, changes
// it), at a few rounds on the emulator.
func TestLabPeakKernels(t *testing.T) {
	e := newEnv(t, 14)
	iters := 4096
	if e.tooBig("mma peak at 4096 rounds", 1e9) {
		iters = 3
	}
	for _, p := range []engine.Precision{engine.TF32, engine.BF16} {
		tf, err := e.g.MMAPeak(p, 1, iters)
		covered(e.g, err == nil)
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		t.Logf("ok mma peak %v: every thread's sum exact, %.1f TFLOP/s (%d rounds)", p, tf, iters)
	}
	if _, err := e.g.MMAPeak(engine.FP32, 1, 1); err == nil {
		t.Error("MMAPeak(fp32): no error")
	}
}
