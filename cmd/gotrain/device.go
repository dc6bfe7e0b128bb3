package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/gotrain/gotrain/engine"
)

// openCUDA opens GPU index as a backend. A file built with -tags cuda sets
// it; in a CPU-only build it stays nil.
var openCUDA func(index int) (engine.Backend, error)

const cudaBuildHint = "rebuild with CUDA: go build -tags cuda -o gotrain ./cmd/gotrain (needs the NVIDIA driver and CUDA 11.8 or 12.x headers; see README)"

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

// openDevice returns the backend for a -device value; threads sets the CPU
// engine's goroutines (0: all cores); precision is the -precision value.
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
		if openCUDA == nil {
			return nil, usagef("device %s: this gotrain was built without CUDA; %s", s, cudaBuildHint)
		}
		return openCUDA(index)
	case "auto":
		if openCUDA != nil {
			if be, err := openCUDA(0); err == nil {
				return be, nil
			} else {
				fmt.Fprintf(os.Stderr, "gotrain: no usable GPU (%v); training on the CPU\n", err)
			}
		} else if nvidiaPresent() {
			fmt.Fprintf(os.Stderr, "gotrain: an NVIDIA GPU is present but this build has no CUDA engine; training on the CPU (%s)\n", cudaBuildHint)
		}
	}
	if threads > 0 {
		runtime.GOMAXPROCS(threads) // the GEMM's workers follow GOMAXPROCS
	}
	return engine.NewCPU(threads), nil
}
