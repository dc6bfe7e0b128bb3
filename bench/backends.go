package bench

import (
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

// CPU is the pure-Go engine with all cores.
var CPU = Backend{
	Name:        "cpu",
	TorchDevice: "cpu",
	Open:        func() (engine.Backend, error) { return engine.NewCPU(0), nil },
	Memcpy:      parallelCopy,
}

var (
	extraMu sync.Mutex
	extra   []Backend
)

// RegisterBackend adds an engine to Backends. It is the hook for the CUDA
// engine: a file of this package built with -tags cuda registers it from
// init, e.g.
//
//	//go:build cuda
//
//	func init() {
//		RegisterBackend(Backend{Name: "cuda", TorchDevice: "cuda",
//			Open: func() (engine.Backend, error) { return cuda.Open(0) }})
//	}
//
// and then every benchmark of this package and `make bench` cover it.
func RegisterBackend(b Backend) {
	extraMu.Lock()
	defer extraMu.Unlock()
	extra = append(extra, b)
}

// Backends lists the engines to benchmark: the CPU first, then every
// registered one.
func Backends() []Backend {
	extraMu.Lock()
	defer extraMu.Unlock()
	return append([]Backend{CPU}, extra...)
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
