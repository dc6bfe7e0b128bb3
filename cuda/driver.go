//go:build cuda || cgo

package cuda

import "unsafe"

// devptr is a device address.
type devptr uint64

// driver is everything the engine asks of a device: its context, memory,
// copies, kernel launches on one stream (a stream the driver creates, not
// the legacy default stream, which cannot be captured), synchronisation,
// timing events and graphs: between beginCapture and endCapture the
// stream's launches, copies and fills are recorded into a graph instead of
// run, and graphLaunch replays them.
// Two implementations: gorgonia.org/cu on a GPU (driver_cu.go, built with
// the cuda tag, the only code that touches the CUDA driver), and the CPU
// emulator of package kernels/emu (driver_emu.go, built without it), which
// runs the same kernels compiled for the CPU, so the engine's argument
// packing, grid shapes and scratch handling are tested on every machine.
type driver interface {
	// open makes device ordinal current on the calling goroutine's OS
	// thread (which it locks) and describes it.
	open(ordinal int) (deviceInfo, error)
	// bind makes the device current on the calling goroutine's thread.
	bind() error
	close() error

	// load loads a PTX module and returns a handle per entry, in order.
	load(name, ptx string, entries []string) ([]kernelFn, error)
	launch(fn kernelFn, grid, block dim3, shmem int, args []uint64) error
	sync() error

	alloc(bytes int64) (devptr, error)
	free(p devptr) error
	memsetD32(p devptr, v uint32, n int64) error
	copyIn(dst devptr, src unsafe.Pointer, bytes int64) error  // queued on the stream
	copyOut(dst unsafe.Pointer, src devptr, bytes int64) error // waits for the stream
	copyDD(dst, src devptr, bytes int64) error                 // queued on the stream
	memInfo() (free, total int64, err error)

	beginCapture() error
	endCapture() (graphID, error)
	graphLaunch(g graphID) error // queued on the stream
	graphDestroy(g graphID) error

	newEvent() (event, error)
	record(e event) error
	elapsed(start, end event) (float64, error) // milliseconds
	destroyEvent(e event)
}

// deviceInfo describes an opened device.
type deviceInfo struct {
	name string
	sms  int    // multiprocessors
	cc   [2]int // compute capability
}

// kernelFn is a driver's handle of a loaded kernel.
type kernelFn int

// event is a driver's handle of a timing event.
type event int

// graphID is a driver's handle of an instantiated graph.
type graphID int
