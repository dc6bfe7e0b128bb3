//go:build cuda

package bench

// A CUDA build of the benchmarks links the CUDA engine, which registers
// itself as "cuda": Backends then lists it (cuda and cuda-tf32).
import _ "github.com/gotrain/gotrain/cuda"
