package bench

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/gotrain/gotrain/engine"
)

// Backend is one engine the benchmarks run on: every step and kernel
// benchmark has a sub-benchmark per entry of Backends, named by Name
// (BenchmarkTrainStep/cpu/baseline, BenchmarkKernel/cpu/conv3x3_64x28/fwd).
type Backend struct {
	// Name is the device column of the table and the benchmarks' second
	// name element: "cpu", "cuda".
	Name string
	// TorchDevice is the torch.device the PyTorch side runs on for this
	// engine's rows ("cpu", "cuda"); empty: no PyTorch comparison.
	TorchDevice string
	// Open returns a fresh engine; an error skips the benchmark (a CUDA
	// build on a machine without a GPU).
	Open func() (engine.Backend, error)
	// Memcpy, when set, is the copy whose bandwidth is the engine's
	// reference peak (BenchmarkPeak/<name>/memcpy); nil: Backend.Copy.
	Memcpy func(be engine.Backend, dst, src *engine.Tensor)
}

// PeakMemory is implemented by engines that can report the peak of the
// device memory they allocated (the CUDA engine may): BenchmarkTrainStep
// then reports it as dev-peak-B, and the table shows it as gotrain's peak.
type PeakMemory interface {
	PeakMemoryBytes() int64
}

// Backends lists the engines to benchmark, from engine's registry: the CPU
// engine with all cores first, then each registered GPU engine. A GPU
// engine that can switch its GEMMs to TF32 (the CUDA engine) appears twice:
// "cuda" with every GEMM in float32, "cuda-tf32" with them on TF32 tensor
// cores (gotrain's default); its reference peak is a device-to-device Copy.
func Backends() []Backend {
	var out []Backend
	for _, name := range engine.Names() {
		if name == "cpu" {
			out = append(out, Backend{Name: "cpu", TorchDevice: "cpu", Memcpy: parallelCopy,
				Open: func() (engine.Backend, error) { return engine.Open("cpu", engine.Options{}) }})
			continue
		}
		out = append(out, Backend{Name: name, TorchDevice: name, Open: openTF32(name, false)},
			Backend{Name: name + "-tf32", TorchDevice: name, Open: openTF32(name, true)})
	}
	return out
}

// tf32Switch is implemented by engines whose GEMMs can run on TF32 tensor
// cores (cuda.Backend).
type tf32Switch interface {
	SetTF32(on bool) bool
}

// openTF32 opens the registered engine name on device 0 with its GEMMs on
// TF32 tensor cores or in float32.
func openTF32(name string, on bool) func() (engine.Backend, error) {
	return func() (engine.Backend, error) {
		be, err := engine.Open(name, engine.Options{})
		if err != nil {
			return nil, err
		}
		sw, ok := be.(tf32Switch)
		if ok && sw.SetTF32(on) == on {
			return be, nil
		}
		if !on {
			return be, nil // no TF32 at all: float32 GEMMs
		}
		return nil, fmt.Errorf("%s has no TF32 tensor cores", be.Name())
	}
}

// parallelCopy copies src to dst (float32 tensors in CPU memory) with one
// goroutine per core, each copying a contiguous share: the reference
// memory bandwidth of the CPU engine, whose element-wise ops split work the
// same way.
func parallelCopy(_ engine.Backend, dst, src *engine.Tensor) {
	d, s := engine.F32(dst), engine.F32(src)
	n := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for i := range n {
		lo, hi := len(d)*i/n, len(d)*(i+1)/n
		wg.Add(1)
		go func() {
			defer wg.Done()
			copy(d[lo:hi], s[lo:hi])
		}()
	}
	wg.Wait()
}
