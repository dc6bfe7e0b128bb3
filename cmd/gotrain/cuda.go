//go:build cuda

package main

import (
	"fmt"
	"runtime"

	_ "github.com/gotrain/gotrain/cuda" // registers the "cuda" backend
	"gorgonia.org/cu"
)

// The CUDA build: -device cuda:N and auto open the CUDA engine. Every
// subcommand drives its backend from the main goroutine, which cuda.Open
// locks to its OS thread (the CUDA context's thread).
func init() {
	cudaVersion = func() string {
		v := cu.Version()
		return fmt.Sprintf("driver API %d.%d", v/1000, v%1000/10)
	}
	runtime.LockOSThread() // main runs on the thread the context is made current on
}
