//go:build cuda

package bench

import (
	"fmt"

	"github.com/gotrain/gotrain/cuda"
	"github.com/gotrain/gotrain/engine"
)

// The CUDA engine on device 0, beside the CPU in every benchmark (its
// reference peak is a device-to-device Copy): "cuda" with every GEMM in
// float32, "cuda-tf32" with them on TF32 tensor cores (gotrain's default).
func init() {
	RegisterBackend(Backend{
		Name:        "cuda",
		TorchDevice: "cuda",
		Open: func() (engine.Backend, error) {
			be, err := cuda.Open(0)
			if err == nil {
				be.SetTF32(false)
			}
			return be, err
		},
	})
	RegisterBackend(Backend{
		Name:        "cuda-tf32",
		TorchDevice: "cuda",
		Open: func() (engine.Backend, error) {
			be, err := cuda.Open(0)
			if err == nil && !be.SetTF32(true) {
				return nil, fmt.Errorf("%s has no TF32 tensor cores", be.Name())
			}
			return be, err
		},
	})
}
