//go:build cgo

package gpuinfo

import (
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/require"
)

func TestMonitor(t *testing.T) {
	gpu := fakeGPU("NVIDIA H200", 141<<30, 100<<30, 9, 0)
	gpu.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: 87, Memory: 40}, nvml.SUCCESS
	}
	lib := fakeNVML(gpu)
	m, err := openMonitor(lib, 0)
	require.NoError(t, err)
	s, err := m.Sample()
	require.NoError(t, err)
	require.Equal(t, Sample{GPUPercent: 87, MemUsed: 41 << 30, MemTotal: 141 << 30}, s)
	require.Equal(t, "gpu 87%, 41984/144384 MiB", s.String())
	require.NoError(t, m.Close())
	require.Len(t, lib.ShutdownCalls(), 1)

	gpu.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED }
	_, err = m.Sample()
	require.ErrorContains(t, err, "NVML: utilisation")

	lib = fakeNVML()
	lib.DeviceGetHandleByIndexFunc = func(int) (nvml.Device, nvml.Return) { return nil, nvml.ERROR_INVALID_ARGUMENT }
	_, err = openMonitor(lib, 3)
	require.ErrorContains(t, err, "NVML: GPU 3")
	require.Len(t, lib.ShutdownCalls(), 1, "a failed open shuts NVML down")
}
