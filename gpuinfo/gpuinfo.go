// Package gpuinfo lists the machine's NVIDIA GPUs through NVML, the
// driver's management library (libnvidia-ml.so.1), which it loads at run
// time: it is in every gotrain build, CUDA or not, and needs no CUDA
// toolkit, but it needs cgo (a build without cgo reports ErrNoCgo).
package gpuinfo

import (
	"errors"
	"fmt"
)

// Device is one GPU as NVML sees it.
type Device struct {
	Index             int    // NVML's index, which CUDA also uses unless CUDA_VISIBLE_DEVICES or CUDA_DEVICE_ORDER say otherwise
	Name              string // e.g. "NVIDIA H100 80GB HBM3"
	UUID              string // e.g. "GPU-4f3a…"
	MemoryTotal       uint64 // bytes
	MemoryFree        uint64 // bytes
	ComputeCapability Capability
}

// Capability is a CUDA compute capability, such as 8.0 for the A100.
type Capability struct{ Major, Minor int }

func (c Capability) String() string { return fmt.Sprintf("%d.%d", c.Major, c.Minor) }

// Driver is the NVIDIA driver's version and the newest CUDA version it
// supports.
type Driver struct {
	Version     string // e.g. "535.309.01"
	CUDAVersion string // e.g. "12.2"; empty when NVML does not say
}

var (
	// ErrNoDriver wraps List's error when NVML could not start: no
	// libnvidia-ml.so.1, or no NVIDIA kernel driver loaded.
	ErrNoDriver = errors.New("no NVIDIA driver found")
	// ErrNoCgo is List's error in a build without cgo (CGO_ENABLED=0).
	ErrNoCgo = errors.New("this gotrain was built without cgo (CGO_ENABLED=0)")
)

// cudaVersion formats NVML's CUDA driver version, 1000*major + 10*minor.
func cudaVersion(v int) string {
	if v <= 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}
