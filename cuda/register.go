//go:build cuda

package cuda

import "github.com/gotrain/gotrain/engine"

// A CUDA build offers the GPU engine by name: engine.Open("cuda",
// engine.Options{Index: n}) opens device n. Without the cuda tag this
// package runs on the kernels' CPU emulator and registers nothing: tests
// open the emulator with Open.
func init() {
	engine.Register("cuda", func(o engine.Options) (engine.Backend, error) { return Open(o.Index) })
}
