//go:build cgo

package gpuinfo

import (
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/stretchr/testify/require"
)

func fakeGPU(name string, total, free uint64, major, minor int) *mock.Device {
	return &mock.Device{
		GetNameFunc: func() (string, nvml.Return) { return name, nvml.SUCCESS },
		GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Total: total, Free: free, Used: total - free}, nvml.SUCCESS
		},
		GetCudaComputeCapabilityFunc: func() (int, int, nvml.Return) { return major, minor, nvml.SUCCESS },
		GetUUIDFunc:                  func() (string, nvml.Return) { return "GPU-" + name, nvml.SUCCESS },
	}
}

func fakeNVML(gpus ...nvml.Device) *mock.Interface {
	return &mock.Interface{
		InitFunc:                       func() nvml.Return { return nvml.SUCCESS },
		ShutdownFunc:                   func() nvml.Return { return nvml.SUCCESS },
		SystemGetDriverVersionFunc:     func() (string, nvml.Return) { return "535.309.01", nvml.SUCCESS },
		SystemGetCudaDriverVersionFunc: func() (int, nvml.Return) { return 12020, nvml.SUCCESS },
		DeviceGetCountFunc:             func() (int, nvml.Return) { return len(gpus), nvml.SUCCESS },
		DeviceGetHandleByIndexFunc:     func(i int) (nvml.Device, nvml.Return) { return gpus[i], nvml.SUCCESS },
	}
}

func TestList(t *testing.T) {
	lib := fakeNVML(fakeGPU("NVIDIA A100-SXM4-40GB", 40<<30, 39<<30, 8, 0), fakeGPU("NVIDIA H100 80GB HBM3", 80<<30, 1<<30, 9, 0))
	devs, drv, err := list(lib)
	require.NoError(t, err)
	require.Equal(t, Driver{Version: "535.309.01", CUDAVersion: "12.2"}, drv)
	require.Equal(t, []Device{
		{Index: 0, Name: "NVIDIA A100-SXM4-40GB", UUID: "GPU-NVIDIA A100-SXM4-40GB", MemoryTotal: 40 << 30, MemoryFree: 39 << 30, ComputeCapability: Capability{8, 0}},
		{Index: 1, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-NVIDIA H100 80GB HBM3", MemoryTotal: 80 << 30, MemoryFree: 1 << 30, ComputeCapability: Capability{9, 0}},
	}, devs)
	require.Len(t, lib.InitCalls(), 1)
	require.Len(t, lib.ShutdownCalls(), 1)
}

// TestListInitFails: after a failed Init nothing else is called (the mock
// panics on any method it has no function for) and the error wraps
// ErrNoDriver.
func TestListInitFails(t *testing.T) {
	for _, tc := range []struct {
		ret  nvml.Return
		want string
	}{
		{nvml.ERROR_LIBRARY_NOT_FOUND, "no NVIDIA driver found (NVML: libnvidia-ml.so.1 not found)"},
		{nvml.ERROR_DRIVER_NOT_LOADED, "no NVIDIA driver found (NVML: "},
	} {
		lib := &mock.Interface{InitFunc: func() nvml.Return { return tc.ret }}
		devs, _, err := list(lib)
		require.ErrorIs(t, err, ErrNoDriver)
		require.Contains(t, err.Error(), tc.want)
		require.Empty(t, devs)
	}
}

// TestListDeviceFails: a failing query after Init is an error (not "no
// driver"), and Shutdown still runs.
func TestListDeviceFails(t *testing.T) {
	gpu := fakeGPU("NVIDIA A100-SXM4-40GB", 40<<30, 39<<30, 8, 0)
	gpu.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) { return nvml.Memory{}, nvml.ERROR_GPU_IS_LOST }
	lib := fakeNVML(gpu)
	_, _, err := list(lib)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrNoDriver)
	require.Contains(t, err.Error(), "GPU 0: NVIDIA A100-SXM4-40GB: memory:")
	require.Len(t, lib.ShutdownCalls(), 1)
}
