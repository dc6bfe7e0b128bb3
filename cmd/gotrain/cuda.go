//go:build cuda

package main

import (
	"fmt"
	"runtime"

	"github.com/gotrain/gotrain/cuda"
	"github.com/gotrain/gotrain/engine"
	"gorgonia.org/cu"
)

// The CUDA build: -device cuda:N and auto open the CUDA engine. Every
// subcommand drives its backend from the main goroutine, which cuda.Open
// locks to its OS thread (the CUDA context's thread).
func init() {
	openCUDA = func(index int) (engine.Backend, error) {
		be, err := cuda.Open(index)
		if err != nil {
			return nil, err
		}
		cudaBackend = be
		return be, nil
	}
	cudaVersion = func() string {
		v := cu.Version()
		return fmt.Sprintf("driver API %d.%d", v/1000, v%1000/10)
	}
	deviceMemory = func() string {
		if cudaBackend == nil {
			return ""
		}
		free, total, held, err := cudaBackend.MemInfo()
		if err != nil {
			return ""
		}
		return fmt.Sprintf("gpu mem %d MiB (gotrain %d MiB, %d MiB free)", (total-free)>>20, held>>20, free>>20)
	}
	deviceFree = func() (int64, bool) {
		if cudaBackend == nil {
			return 0, false
		}
		free, _, _, err := cudaBackend.MemInfo()
		return free, err == nil
	}
	runtime.LockOSThread() // main runs on the thread the context is made current on
}

var cudaBackend *cuda.Backend
