//go:build cgo

package gpuinfo

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// List returns the GPUs and the driver. When NVML cannot start (no driver)
// the error wraps ErrNoDriver.
func List() ([]Device, Driver, error) {
	return list(nvml.New())
}

// list does List's work with lib, which tests replace.
func list(lib nvml.Interface) (devs []Device, drv Driver, err error) {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		// Nothing else may be called after a failed Init. (Formatting ret
		// calls nvmlErrorString when the library loaded, which NVML allows
		// at any time.)
		reason := ret.Error()
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			reason = "libnvidia-ml.so.1 not found"
		}
		return nil, Driver{}, fmt.Errorf("%w (NVML: %s)", ErrNoDriver, reason)
	}
	defer func() {
		if ret := lib.Shutdown(); ret != nvml.SUCCESS && err == nil {
			err = fmt.Errorf("NVML shutdown: %v", ret)
		}
	}()

	var ret nvml.Return
	if drv.Version, ret = lib.SystemGetDriverVersion(); ret != nvml.SUCCESS {
		return nil, Driver{}, fmt.Errorf("NVML: driver version: %v", ret)
	}
	if v, ret := lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		drv.CUDAVersion = cudaVersion(v)
	}
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, drv, fmt.Errorf("NVML: device count: %v", ret)
	}
	for i := 0; i < n; i++ {
		d, err := device(lib, i)
		if err != nil {
			return nil, drv, fmt.Errorf("NVML: GPU %d: %w", i, err)
		}
		devs = append(devs, d)
	}
	return devs, drv, nil
}

func device(lib nvml.Interface, i int) (Device, error) {
	h, ret := lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return Device{}, ret
	}
	d := Device{Index: i}
	if d.Name, ret = h.GetName(); ret != nvml.SUCCESS {
		return d, fmt.Errorf("name: %w", ret)
	}
	mem, ret := h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return d, fmt.Errorf("%s: memory: %w", d.Name, ret)
	}
	d.MemoryTotal, d.MemoryFree = mem.Total, mem.Free
	if d.ComputeCapability.Major, d.ComputeCapability.Minor, ret = h.GetCudaComputeCapability(); ret != nvml.SUCCESS {
		return d, fmt.Errorf("%s: compute capability: %w", d.Name, ret)
	}
	if uuid, ret := h.GetUUID(); ret == nvml.SUCCESS {
		d.UUID = uuid
	}
	return d, nil
}
