package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/gpuinfo"
)

const cudaBuildHint = "rebuild with CUDA: go build -tags cuda -o gotrain ./cmd/gotrain (needs the NVIDIA driver and CUDA 11.8 or 12.x headers; see DEVELOPERS.md, Building with CUDA)"

// cudaBuilt reports whether this gotrain has the CUDA engine (a build with
// -tags cuda registers it as "cuda").
func cudaBuilt() bool { return engine.Registered("cuda") }

// nvidiaPresent reports whether an NVIDIA driver and GPU seem present.
func nvidiaPresent() bool {
	_, err := os.Stat("/proc/driver/nvidia/version")
	return err == nil
}

// parseDevice checks a -device value: "auto", "cpu" or "cuda:N".
func parseDevice(s string) (kind string, index int, err error) {
	switch {
	case s == "auto" || s == "cpu":
		return s, 0, nil
	case s == "cuda":
		return "cuda", 0, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(s[len("cuda:"):])
		if err == nil && n >= 0 {
			return "cuda", n, nil
		}
	}
	return "", 0, usagef("unknown device %q (allowed: auto, cpu, cuda:N)", s)
}

// openDevice returns the backend for a -device value, opened by name from
// engine's registry, at the -precision value precision; threads sets the
// CPU engine's goroutines (0: all cores). The GPU backend it opens is the
// one deviceMemory reports on.
func openDevice(s string, threads int, precision string) (engine.Backend, error) {
	be, err := openBackend(s, threads)
	if err != nil {
		return nil, err
	}
	if err := engine.ApplyPrecision(be, precision); err != nil {
		return nil, usagef("device %s: %v", be.Name(), err)
	}
	return be, nil
}

func openBackend(s string, threads int) (engine.Backend, error) {
	kind, index, err := parseDevice(s)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "cuda":
		if !cudaBuilt() {
			return nil, usagef("device %s: this gotrain was built without CUDA; %s", s, cudaBuildHint)
		}
		return openGPU(index)
	case "auto":
		if cudaBuilt() {
			if be, err := openGPU(0); err == nil {
				return be, nil
			} else {
				fmt.Fprintf(os.Stderr, "gotrain: no usable GPU (%v); training on the CPU\n", err)
			}
		} else if nvidiaPresent() {
			fmt.Fprintf(os.Stderr, "gotrain: an NVIDIA GPU is present but this build has no CUDA engine; training on the CPU (%s)\n", cudaBuildHint)
		}
	}
	return engine.Open("cpu", engine.Options{Threads: threads})
}

// gpuMemory is implemented by GPU engines (cuda.Backend): the device's free
// and total memory, and what the engine holds.
type gpuMemory interface {
	MemInfo() (free, total, held int64, err error)
}

// gpu is the GPU backend openDevice opened last (nil: none).
var gpu gpuMemory

// nvmlMonitor samples the opened GPU's utilisation (nil: not opened yet,
// or NVML is missing).
var nvmlMonitor *gpuinfo.Monitor

// gpuUtilisation is NVML's utilisation of the opened GPU over its last
// sample period (the end of the evaluation). NVML's index is CUDA's
// ordinal unless CUDA_VISIBLE_DEVICES reorders them, so it says nothing
// then.
func gpuUtilisation() (int, bool) {
	o, ok := gpu.(interface{ Ordinal() int })
	if !ok || os.Getenv("CUDA_VISIBLE_DEVICES") != "" {
		return 0, false
	}
	if nvmlMonitor == nil {
		m, err := gpuinfo.OpenMonitor(o.Ordinal())
		if err != nil {
			return 0, false
		}
		nvmlMonitor = m
	}
	s, err := nvmlMonitor.Sample()
	if err != nil {
		return 0, false
	}
	return int(s.GPUPercent), true
}

func openGPU(index int) (engine.Backend, error) {
	be, err := engine.Open("cuda", engine.Options{Index: index})
	if err != nil {
		return nil, err
	}
	if m, ok := be.(gpuMemory); ok {
		gpu = m
	}
	return be, nil
}

// deviceMemory is the epoch line's memory note: the GPU's memory in use
// (nil in a build without CUDA: the epoch line says nothing).
func deviceMemory() func() string {
	if !cudaBuilt() {
		return nil
	}
	return func() string {
		if gpu == nil {
			return ""
		}
		free, total, held, err := gpu.MemInfo()
		if err != nil {
			return ""
		}
		line := fmt.Sprintf("gpu mem %d MiB (gotrain %d MiB, %d MiB free)", (total-free)>>20, held>>20, free>>20)
		if u, ok := gpuUtilisation(); ok {
			line += fmt.Sprintf(", utilisation %d%% (NVML)", u)
		}
		return line
	}
}

// deviceFree is the opened GPU's free memory (false: none opened); a
// variable so that tests can give a GPU's answer.
var deviceFree = func() (int64, bool) {
	if gpu == nil {
		return 0, false
	}
	free, _, _, err := gpu.MemInfo()
	return free, err == nil
}
