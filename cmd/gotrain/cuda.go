//go:build cuda

package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/gotrain/gotrain/cuda"
	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/gpuinfo"
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
		line := fmt.Sprintf("gpu mem %d MiB (gotrain %d MiB, %d MiB free)", (total-free)>>20, held>>20, free>>20)
		// NVML's utilisation over its last sample period (the end of the
		// evaluation); NVML's index is CUDA's ordinal unless
		// CUDA_VISIBLE_DEVICES reorders them.
		if nvmlMonitor == nil && os.Getenv("CUDA_VISIBLE_DEVICES") == "" {
			nvmlMonitor, _ = gpuinfo.OpenMonitor(cudaBackend.Ordinal())
		}
		if nvmlMonitor != nil {
			if s, err := nvmlMonitor.Sample(); err == nil {
				line += fmt.Sprintf(", utilisation %d%% (NVML)", s.GPUPercent)
			}
		}
		return line
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

var (
	cudaBackend *cuda.Backend
	nvmlMonitor *gpuinfo.Monitor
)
