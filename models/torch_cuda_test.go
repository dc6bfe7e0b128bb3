//go:build cuda || cgo

package models

import (
	"testing"

	"github.com/gotrain/gotrain/cuda"
)

// TestTorchModelsCUDA is TestTorchModels on the CUDA engine in float32 (no
// TF32): each model's training step and eval pass against PyTorch's, within
// the same tolerances, with the worst error logged in units of PyTorch's own
// float32 error. With the cuda tag it runs on the GPU (gpu-check.sh runs
// it, every model); without, on the CPU emulator, where only the models
// that are not big run (the big ones take minutes there).
func TestTorchModelsCUDA(t *testing.T) {
	b, err := cuda.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	b.SetTF32(false)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			tol, ok := torchModelTols[name]
			if !ok {
				t.Fatalf("no tolerance for model %s", name)
			}
			if tol.big && (testing.Short() || raceEnabled || cuda.DriverName == "emulator") {
				t.Skipf("big model: skipped in -short and -race runs and on the emulator (%s)", cuda.DriverName)
			}
			if err := b.Bind(); err != nil {
				t.Fatal(err)
			}
			torchModelStep(t, name, tol, b)
		})
	}
}
