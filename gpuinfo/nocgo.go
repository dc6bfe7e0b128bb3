//go:build !cgo

package gpuinfo

// List returns ErrNoCgo: NVML is loaded through cgo.
func List() ([]Device, Driver, error) {
	return nil, Driver{}, ErrNoCgo
}
