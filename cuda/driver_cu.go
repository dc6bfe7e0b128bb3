//go:build cuda

package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"gorgonia.org/cu"
)

// newDriver is the GPU: gorgonia.org/cu over the CUDA driver API.
func newDriver() driver { return &cuDriver{} }

// DriverName says what the engine runs on in this build.
const DriverName = "cuda"

type cuDriver struct {
	dev    cu.Device
	ctx    cu.CUContext
	mods   []cu.Module
	fns    []cu.Function
	events []cu.Event
	dead   []bool // events destroyed (their slots are not reused)
	stream cu.Stream
	graphs []*cuGraph // nil: destroyed

	args launchArgs
}

func (d *cuDriver) open(ordinal int) (deviceInfo, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return deviceInfo{}, fmt.Errorf("cuda: count devices: %w", err)
	}
	if ordinal < 0 || ordinal >= n {
		return deviceInfo{}, fmt.Errorf("cuda: no device cuda:%d (this machine has %d; list them with `gotrain devices`)", ordinal, n)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return deviceInfo{}, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return deviceInfo{}, fmt.Errorf("cuda: device %d: create context: %w", ordinal, err)
	}
	d.dev, d.ctx = dev, ctx
	if err := d.bind(); err != nil {
		return deviceInfo{}, fmt.Errorf("cuda: device %d: make its context current: %w", ordinal, err)
	}
	// A blocking stream (it waits for, and is waited for by, the legacy
	// default stream, which the zero-filling of allocations uses).
	if d.stream, err = cu.MakeStream(cu.DefaultStream); err != nil {
		return deviceInfo{}, fmt.Errorf("cuda: device %d: create a stream: %w", ordinal, err)
	}
	d.args = newLaunchArgs()
	var info deviceInfo
	info.name, _ = dev.Name()
	info.sms, _ = dev.Attribute(cu.MultiprocessorCount)
	info.cc[0], _ = dev.Attribute(cu.ComputeCapabilityMajor)
	info.cc[1], _ = dev.Attribute(cu.ComputeCapabilityMinor)
	return info, nil
}

func (d *cuDriver) bind() error {
	runtime.LockOSThread()
	return cu.SetCurrentContext(d.ctx)
}

func (d *cuDriver) close() error {
	if d.ctx == (cu.CUContext{}) {
		return nil
	}
	err := cu.Synchronize()
	for i := range d.events {
		d.destroyEvent(event(i))
	}
	for i := range d.graphs {
		if e := d.graphDestroy(graphID(i)); err == nil {
			err = e
		}
	}
	if e := d.stream.Destroy(); err == nil {
		err = e
	}
	d.args.free()
	for _, m := range d.mods {
		m.Unload()
	}
	if e := d.dev.ReleasePrimaryCtx(); err == nil {
		err = e
	}
	d.ctx = cu.CUContext{}
	d.mods, d.fns, d.events, d.dead, d.graphs = nil, nil, nil, nil, nil
	return err
}

func (d *cuDriver) load(name, ptx string, entries []string) ([]kernelFn, error) {
	mod, err := cu.LoadData(ptx)
	if err != nil {
		return nil, err
	}
	d.mods = append(d.mods, mod)
	out := make([]kernelFn, len(entries))
	for i, e := range entries {
		fn, err := mod.Function(e)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", e, err)
		}
		out[i] = kernelFn(len(d.fns))
		d.fns = append(d.fns, fn)
	}
	return out, nil
}

func (d *cuDriver) launch(fn kernelFn, grid, block dim3, shmem int, args []uint64) error {
	copy(d.args.argv[:], args)
	return cuLaunch(d.fns[fn], grid, block, shmem, d.stream, d.args)
}

func (d *cuDriver) sync() error { return cu.Synchronize() }

func (d *cuDriver) alloc(bytes int64) (devptr, error) {
	p, err := cu.MemAlloc(bytes)
	return devptr(p), err
}

func (d *cuDriver) free(p devptr) error { return cu.MemFree(cu.DevicePtr(p)) }

func (d *cuDriver) memsetD32(p devptr, v uint32, n int64) error {
	return cu.MemsetD32Async(cu.DevicePtr(p), uint(v), n, d.stream)
}

func (d *cuDriver) copyIn(dst devptr, src unsafe.Pointer, bytes int64) error {
	return cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, bytes, d.stream)
}

func (d *cuDriver) copyOut(dst unsafe.Pointer, src devptr, bytes int64) error {
	if err := cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), bytes, d.stream); err != nil {
		return err
	}
	return d.stream.Synchronize()
}

func (d *cuDriver) copyDD(dst, src devptr, bytes int64) error {
	return cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), bytes, d.stream)
}

func (d *cuDriver) memInfo() (free, total int64, err error) { return cu.MemInfo() }

func (d *cuDriver) newEvent() (event, error) {
	e, err := cu.MakeEvent(cu.DefaultEvent)
	if err != nil {
		return 0, err
	}
	d.events = append(d.events, e)
	d.dead = append(d.dead, false)
	return event(len(d.events) - 1), nil
}

func (d *cuDriver) record(e event) error { return d.events[e].Record(d.stream) }

func (d *cuDriver) beginCapture() error { return cuBeginCapture(d.stream) }

func (d *cuDriver) endCapture() (graphID, error) {
	g, err := cuEndCapture(d.stream)
	if err != nil {
		return 0, err
	}
	d.graphs = append(d.graphs, g)
	return graphID(len(d.graphs) - 1), nil
}

func (d *cuDriver) graphLaunch(g graphID) error { return d.graphs[g].launch(d.stream) }

func (d *cuDriver) graphDestroy(g graphID) error {
	if d.graphs[g] == nil {
		return nil
	}
	err := d.graphs[g].destroy()
	d.graphs[g] = nil
	return err
}

func (d *cuDriver) elapsed(start, end event) (float64, error) {
	return d.events[start].Elapsed(d.events[end])
}

func (d *cuDriver) destroyEvent(e event) {
	if !d.dead[e] {
		cu.DestroyEvent(&d.events[e])
		d.dead[e] = true
	}
}
