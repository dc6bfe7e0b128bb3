package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gotrain/gotrain/gpuinfo"
)

// listGPUs is gpuinfo.List; tests replace it.
var listGPUs = gpuinfo.List

// runDevices lists the NVIDIA GPUs the driver sees (through NVML, in every
// cgo build). No driver is not an error: gotrain then trains on the CPU.
func runDevices(_ context.Context, args []string) error {
	fs := pflag.NewFlagSet("devices", pflag.ContinueOnError)
	if err := parse(fs, args); err != nil {
		return err
	}
	devs, drv, err := listGPUs()
	switch {
	case errors.Is(err, gpuinfo.ErrNoDriver):
		fmt.Printf("%v; gotrain will train on the CPU\n", err)
		return nil
	case errors.Is(err, gpuinfo.ErrNoCgo):
		return fmt.Errorf("%w; gotrain devices needs a cgo build (CGO_ENABLED=1 and a C compiler)", err)
	case err != nil:
		return err
	}
	printDevices(os.Stdout, drv, devs)
	if !cudaBuilt() && len(devs) > 0 {
		fmt.Fprintf(os.Stderr, "gotrain: this build has no CUDA engine and trains on the CPU (%s)\n", cudaBuildHint)
	}
	return nil
}

// gpuDriver is the NVIDIA driver's version for config.json's gpu_driver,
// such as "535.309.01" (cuda_version has the CUDA driver API's); empty when
// NVML cannot say.
func gpuDriver() string {
	_, drv, err := listGPUs()
	if err != nil {
		return ""
	}
	return drv.Version
}

// printDevices writes a line for the driver, then one per GPU (in NVML's
// order, by PCI bus, which is CUDA's cuda:N unless CUDA_VISIBLE_DEVICES or
// CUDA_DEVICE_ORDER change it).
func printDevices(w io.Writer, drv gpuinfo.Driver, devs []gpuinfo.Device) {
	head := "NVIDIA driver " + drv.Version
	if drv.CUDAVersion != "" {
		head += ", CUDA " + drv.CUDAVersion
	}
	switch len(devs) {
	case 0:
		fmt.Fprintf(w, "%s: no GPUs; gotrain will train on the CPU\n", head)
		return
	case 1:
		fmt.Fprintf(w, "%s: 1 GPU\n", head)
	default:
		fmt.Fprintf(w, "%s: %d GPUs\n", head, len(devs))
	}
	idW, nameW := 0, 0
	for _, d := range devs {
		idW = max(idW, len(fmt.Sprint(d.Index)))
		nameW = max(nameW, len(d.Name))
	}
	for _, d := range devs {
		line := fmt.Sprintf("GPU %-*d  %-*s  %6.1f GiB total  %6.1f GiB free  compute capability %s",
			idW, d.Index, nameW, d.Name, gib(d.MemoryTotal), gib(d.MemoryFree), d.ComputeCapability)
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
}

func gib(b uint64) float64 { return float64(b) / (1 << 30) }
