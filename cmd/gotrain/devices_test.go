package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gotrain/gotrain/gpuinfo"
)

// TestDevicesHere runs gotrain devices on this machine: with no NVIDIA
// driver it says so in one line and exits 0.
func TestDevicesHere(t *testing.T) {
	var code int
	var stdout string
	stderr := captureStderr(t, func() {
		stdout = captureStdout(t, func() { code = run(context.Background(), []string{"devices"}) })
	})
	_, _, err := gpuinfo.List()
	switch {
	case errors.Is(err, gpuinfo.ErrNoDriver):
		require.Equal(t, 0, code, stderr)
		require.Regexp(t, `^no NVIDIA driver found \(NVML: .+\); gotrain will train on the CPU\n$`, stdout)
	case errors.Is(err, gpuinfo.ErrNoCgo):
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "gotrain devices needs a cgo build")
	default:
		require.Equal(t, 0, code, stderr)
		require.True(t, strings.HasPrefix(stdout, "NVIDIA driver "), stdout)
	}
}

func TestDevicesListErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   int
		stdout string
		stderr string
	}{
		{fmt.Errorf("%w (NVML: libnvidia-ml.so.1 not found)", gpuinfo.ErrNoDriver), 0,
			"no NVIDIA driver found (NVML: libnvidia-ml.so.1 not found); gotrain will train on the CPU\n", ""},
		{gpuinfo.ErrNoCgo, 1, "",
			"gotrain devices: this gotrain was built without cgo (CGO_ENABLED=0); gotrain devices needs a cgo build (CGO_ENABLED=1 and a C compiler)\n"},
		{errors.New("NVML: GPU 0: GPU is lost"), 1, "", "gotrain devices: NVML: GPU 0: GPU is lost\n"},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			defer func(f func() ([]gpuinfo.Device, gpuinfo.Driver, error)) { listGPUs = f }(listGPUs)
			listGPUs = func() ([]gpuinfo.Device, gpuinfo.Driver, error) { return nil, gpuinfo.Driver{}, tc.err }
			var code int
			var stdout string
			stderr := captureStderr(t, func() {
				stdout = captureStdout(t, func() { code = run(context.Background(), []string{"devices"}) })
			})
			require.Equal(t, tc.code, code)
			require.Equal(t, tc.stdout, stdout)
			require.Equal(t, tc.stderr, stderr)
		})
	}
}

func TestGPUDriver(t *testing.T) {
	defer func(f func() ([]gpuinfo.Device, gpuinfo.Driver, error)) { listGPUs = f }(listGPUs)
	for _, tc := range []struct {
		drv  gpuinfo.Driver
		err  error
		want string
	}{
		{gpuinfo.Driver{Version: "535.309.01", CUDAVersion: "12.2"}, nil, "535.309.01"},
		{gpuinfo.Driver{}, gpuinfo.ErrNoDriver, ""},
	} {
		listGPUs = func() ([]gpuinfo.Device, gpuinfo.Driver, error) { return nil, tc.drv, tc.err }
		require.Equal(t, tc.want, gpuDriver())
	}
}

func TestPrintDevices(t *testing.T) {
	a100 := gpuinfo.Device{Index: 0, Name: "NVIDIA A100-SXM4-40GB", MemoryTotal: 40 << 30, MemoryFree: 39<<30 + 1<<29,
		ComputeCapability: gpuinfo.Capability{Major: 8, Minor: 0}}
	h100 := gpuinfo.Device{Index: 1, Name: "NVIDIA H100 80GB HBM3", MemoryTotal: 81559 << 20, MemoryFree: 0,
		ComputeCapability: gpuinfo.Capability{Major: 9, Minor: 0}}
	t4 := gpuinfo.Device{Index: 10, Name: "Tesla T4", MemoryTotal: 15 << 30, MemoryFree: 14 << 30,
		ComputeCapability: gpuinfo.Capability{Major: 7, Minor: 5}}
	drv := gpuinfo.Driver{Version: "535.309.01", CUDAVersion: "12.2"}
	for _, tc := range []struct {
		name string
		drv  gpuinfo.Driver
		devs []gpuinfo.Device
		want string
	}{
		{"none", drv, nil, "NVIDIA driver 535.309.01, CUDA 12.2: no GPUs; gotrain will train on the CPU\n"},
		{"one", drv, []gpuinfo.Device{a100},
			"NVIDIA driver 535.309.01, CUDA 12.2: 1 GPU\n" +
				"GPU 0  NVIDIA A100-SXM4-40GB    40.0 GiB total    39.5 GiB free  compute capability 8.0\n"},
		{"no CUDA version", gpuinfo.Driver{Version: "470.256.02"}, []gpuinfo.Device{a100},
			"NVIDIA driver 470.256.02: 1 GPU\n" +
				"GPU 0  NVIDIA A100-SXM4-40GB    40.0 GiB total    39.5 GiB free  compute capability 8.0\n"},
		{"aligned", drv, []gpuinfo.Device{a100, h100, t4},
			"NVIDIA driver 535.309.01, CUDA 12.2: 3 GPUs\n" +
				"GPU 0   NVIDIA A100-SXM4-40GB    40.0 GiB total    39.5 GiB free  compute capability 8.0\n" +
				"GPU 1   NVIDIA H100 80GB HBM3    79.6 GiB total     0.0 GiB free  compute capability 9.0\n" +
				"GPU 10  Tesla T4                 15.0 GiB total    14.0 GiB free  compute capability 7.5\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printDevices(&b, tc.drv, tc.devs)
			require.Equal(t, tc.want, b.String())
		})
	}
}

func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdout
	os.Stdout = w
	defer func() { os.Stdout = old }()
	fn()
	w.Close()
	b := make([]byte, 1<<16)
	n, _ := r.Read(b)
	return string(b[:n])
}
