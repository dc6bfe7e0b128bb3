//go:build !cgo

package gpuinfo

// List returns ErrNoCgo: NVML is loaded through cgo.
func List() ([]Device, Driver, error) {
	return nil, Driver{}, ErrNoCgo
}

// Monitor needs cgo; OpenMonitor returns ErrNoCgo.
type Monitor struct{}

// Sample is a GPU's state at one moment.
type Sample struct {
	GPUPercent int
	MemUsed    uint64
	MemTotal   uint64
}

// OpenMonitor returns ErrNoCgo: NVML is loaded through cgo.
func OpenMonitor(index int) (*Monitor, error) { return nil, ErrNoCgo }

// Sample is never reached without cgo.
func (m *Monitor) Sample() (Sample, error) { return Sample{}, ErrNoCgo }

// Close does nothing.
func (m *Monitor) Close() error { return nil }
