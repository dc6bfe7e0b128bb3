//go:build !cuda && cgo

package cuda

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"github.com/gotrain/gotrain/kernels/emu"
)

// newDriver is the CPU emulator (package kernels/emu): the same kernels,
// compiled for the CPU, run synchronously; device memory is C heap memory
// with red zones. Built without the cuda tag, for tests on machines with no
// GPU.
func newDriver() driver { return &emuDriver{} }

// DriverName says what the engine runs on in this build.
const DriverName = "emulator"

// The emulated device: compute capability 8.0, so the TF32 path runs, and
// four multiprocessors, so grid-stride loops and split reductions run more
// than one pass at test sizes. Its memory is the host's.
const (
	emuSMs        = 4
	emuTotalBytes = 16 << 30
)

type emuDriver struct {
	fns    []emu.Kernel
	events []time.Time
	seed   uint64

	capturing bool
	captured  []emuNode   // the capture in progress
	graphs    [][]emuNode // nil: destroyed
}

// emuNode is one captured operation: a kernel launch with its arguments
// frozen, a fill or a device-to-device copy.
type emuNode struct {
	kind        byte // 'k' launch, 'm' memset, 'c' copy
	fn          kernelFn
	grid, block dim3
	shmem       int
	args        []uint64
	dst, src    devptr
	v           uint32
	n           int64 // memset elements, copy bytes
}

// errCapturing is what an operation that CUDA refuses inside a stream
// capture (it would wait for the device or allocate) returns on the
// emulator, so that such bugs show without a GPU.
func errCapturing(op string) error {
	return fmt.Errorf("%s is not permitted while the stream is being captured", op)
}

func (d *emuDriver) open(ordinal int) (deviceInfo, error) {
	if ordinal != 0 {
		return deviceInfo{}, fmt.Errorf("cuda: no device cuda:%d (the CPU emulator has one)", ordinal)
	}
	// GOTRAIN_EMU_SEED sets the order in which blocks and threads run.
	d.seed = 1
	if s := os.Getenv("GOTRAIN_EMU_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			return deviceInfo{}, fmt.Errorf("cuda: GOTRAIN_EMU_SEED=%q is not an unsigned integer", s)
		}
		d.seed = v
	}
	runtime.LockOSThread()
	return deviceInfo{name: "CPU emulator", sms: emuSMs, cc: [2]int{8, 0}}, nil
}

func (d *emuDriver) bind() error {
	runtime.LockOSThread()
	return nil
}

func (d *emuDriver) close() error { return nil }

func (d *emuDriver) load(name, ptx string, entries []string) ([]kernelFn, error) {
	out := make([]kernelFn, len(entries))
	for i, e := range entries {
		k, ok := emu.Lookup(e)
		if !ok {
			return nil, fmt.Errorf("kernel %s is not emulated: run `go generate ./kernels/emu`", e)
		}
		out[i] = kernelFn(len(d.fns))
		d.fns = append(d.fns, k)
	}
	return out, nil
}

func (d *emuDriver) launch(fn kernelFn, grid, block dim3, shmem int, args []uint64) error {
	if d.capturing {
		d.captured = append(d.captured, emuNode{kind: 'k', fn: fn, grid: grid, block: block, shmem: shmem, args: append([]uint64(nil), args...)})
		return nil
	}
	d.seed++
	return emu.Launch(d.fns[fn], [3]int{grid.x, grid.y, grid.z}, [3]int{block.x, block.y, block.z}, shmem, args, d.seed*0x9e3779b97f4a7c15)
}

func (d *emuDriver) sync() error {
	if d.capturing {
		return errCapturing("synchronize")
	}
	return nil
}

func (d *emuDriver) alloc(bytes int64) (devptr, error) {
	if d.capturing {
		return 0, errCapturing("alloc")
	}
	if bytes > emuTotalBytes-emu.Held() {
		return 0, fmt.Errorf("out of memory (the emulator lends %d MiB)", emuTotalBytes>>20)
	}
	p, err := emu.Alloc(bytes)
	return devptr(p), err
}

func (d *emuDriver) free(p devptr) error {
	if d.capturing {
		return errCapturing("free")
	}
	return emu.Free(uint64(p))
}

func (d *emuDriver) memsetD32(p devptr, v uint32, n int64) error {
	if d.capturing {
		d.captured = append(d.captured, emuNode{kind: 'm', dst: p, v: v, n: n})
		return nil
	}
	return emu.Memset32(uint64(p), v, n)
}

// copyIn is refused during a capture: a captured copy from pageable host
// memory would read the host buffer at every replay, long after the
// caller reused it.
func (d *emuDriver) copyIn(dst devptr, src unsafe.Pointer, bytes int64) error {
	if d.capturing {
		return errCapturing("a copy from the host")
	}
	return emu.CopyIn(uint64(dst), src, bytes)
}

func (d *emuDriver) copyOut(dst unsafe.Pointer, src devptr, bytes int64) error {
	if d.capturing {
		return errCapturing("a copy to the host")
	}
	return emu.CopyOut(dst, uint64(src), bytes)
}

func (d *emuDriver) copyDD(dst, src devptr, bytes int64) error {
	if d.capturing {
		d.captured = append(d.captured, emuNode{kind: 'c', dst: dst, src: src, n: bytes})
		return nil
	}
	return emu.Copy(uint64(dst), uint64(src), bytes)
}

func (d *emuDriver) beginCapture() error {
	if d.capturing {
		return fmt.Errorf("begin capture: the stream is already being captured")
	}
	d.capturing, d.captured = true, nil
	return nil
}

func (d *emuDriver) endCapture() (graphID, error) {
	if !d.capturing {
		return 0, fmt.Errorf("end capture: the stream is not being captured")
	}
	d.capturing = false
	d.graphs = append(d.graphs, d.captured)
	d.captured = nil
	return graphID(len(d.graphs) - 1), nil
}

// graphLaunch replays a graph's nodes in capture order (the stream's
// order: CUDA runs a captured stream's nodes as a chain).
func (d *emuDriver) graphLaunch(g graphID) error {
	if d.capturing {
		return errCapturing("a graph launch") // CUDA could capture it as a child graph; gotrain never does
	}
	if int(g) >= len(d.graphs) || d.graphs[g] == nil {
		return fmt.Errorf("graph launch: graph %d was destroyed", g)
	}
	for i, nd := range d.graphs[g] {
		var err error
		switch nd.kind {
		case 'k':
			err = d.launch(nd.fn, nd.grid, nd.block, nd.shmem, nd.args)
		case 'm':
			err = d.memsetD32(nd.dst, nd.v, nd.n)
		case 'c':
			err = d.copyDD(nd.dst, nd.src, nd.n)
		}
		if err != nil {
			return fmt.Errorf("graph launch: node %d: %w", i, err)
		}
	}
	return nil
}

func (d *emuDriver) graphDestroy(g graphID) error {
	d.graphs[g] = nil
	return nil
}

func (d *emuDriver) memInfo() (free, total int64, err error) {
	return emuTotalBytes - emu.Held(), emuTotalBytes, nil
}

func (d *emuDriver) newEvent() (event, error) {
	if d.capturing {
		return 0, errCapturing("creating an event")
	}
	d.events = append(d.events, time.Time{})
	return event(len(d.events) - 1), nil
}

func (d *emuDriver) record(e event) error {
	if d.capturing {
		return errCapturing("recording an event") // gotrain's profile events are never captured
	}
	d.events[e] = time.Now()
	return nil
}

func (d *emuDriver) elapsed(start, end event) (float64, error) {
	return float64(d.events[end].Sub(d.events[start]).Nanoseconds()) / 1e6, nil
}

func (d *emuDriver) destroyEvent(e event) {}
