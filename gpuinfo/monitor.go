//go:build cgo

package gpuinfo

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Monitor samples one GPU's utilisation and memory through NVML, which it
// keeps initialised until Close (the epoch line's "gpu 87%, 2,040 MiB of
// 143,771 MiB").
type Monitor struct {
	lib nvml.Interface
	dev nvml.Device
}

// Sample is a GPU's state at one moment.
type Sample struct {
	// GPUPercent is the percentage of the last sample period (1/6 s to
	// 1 s, the driver's) during which a kernel ran.
	GPUPercent int
	MemUsed    uint64 // bytes, every process's
	MemTotal   uint64 // bytes
}

// String is "gpu 87%, 2040/143771 MiB".
func (s Sample) String() string {
	return fmt.Sprintf("gpu %d%%, %d/%d MiB", s.GPUPercent, s.MemUsed>>20, s.MemTotal>>20)
}

// OpenMonitor starts NVML and finds GPU index (NVML's index). The error
// wraps ErrNoDriver when NVML cannot start.
func OpenMonitor(index int) (*Monitor, error) { return openMonitor(nvml.New(), index) }

func openMonitor(lib nvml.Interface, index int) (*Monitor, error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%w (NVML: %v)", ErrNoDriver, ret.Error())
	}
	dev, ret := lib.DeviceGetHandleByIndex(index)
	if ret != nvml.SUCCESS {
		lib.Shutdown()
		return nil, fmt.Errorf("NVML: GPU %d: %v", index, ret)
	}
	return &Monitor{lib: lib, dev: dev}, nil
}

// Sample reads the GPU's utilisation and memory now.
func (m *Monitor) Sample() (Sample, error) {
	u, ret := m.dev.GetUtilizationRates()
	if ret != nvml.SUCCESS {
		return Sample{}, fmt.Errorf("NVML: utilisation: %v", ret)
	}
	mem, ret := m.dev.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return Sample{}, fmt.Errorf("NVML: memory: %v", ret)
	}
	return Sample{GPUPercent: int(u.Gpu), MemUsed: mem.Used, MemTotal: mem.Total}, nil
}

// Close shuts NVML down.
func (m *Monitor) Close() error {
	if ret := m.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("NVML shutdown: %v", ret)
	}
	return nil
}
