//go:build cuda

// Package cuda is gotrain's GPU engine: an engine.Backend whose tensors live
// in device memory and whose ops launch the hand-written kernels of package
// kernels through gorgonia.org/cu (the CUDA driver API; no cuDNN, no cuBLAS).
//
// It sits behind the `cuda` build tag: gorgonia.org/cu initialises the
// driver when the program starts and exits the process when no usable GPU
// is present, so only a build that asked for CUDA links it.
//
// A CUDA context belongs to an OS thread. Open locks the calling goroutine
// to its thread and makes the device's primary context current there; use
// the backend from that goroutine only (or call Bind from another one).
// Every op is queued on one stream without waiting; errors from the driver
// are recorded with the op's name and surface at Err or Sync.
package cuda

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"unsafe"

	"github.com/gotrain/gotrain/engine"
	"github.com/gotrain/gotrain/kernels"
	"gorgonia.org/cu"
)

// Backend is the CUDA engine on one device.
type Backend struct {
	ordinal int
	dev     cu.Device
	ctx     cu.CUContext
	name    string
	sms     int // multiprocessors
	cc      [2]int

	mods []cu.Module
	fns  map[string]cu.Function

	err error

	tf32 bool // GEMMs (convolutions, linear, matmul) on TF32 tensor cores

	prof *profile // non-nil between StartProfile and StopProfile

	argv [maxArgs]uint64
	argp [maxArgs]unsafe.Pointer

	scratch [numScratch]deviceBuffer
	allocs  []cu.DevicePtr
	bytes   int64
}

const maxArgs = 32

// deviceBuffer is a reusable block of device memory (grown, never shrunk).
type deviceBuffer struct {
	ptr   cu.DevicePtr
	bytes int64
}

// Scratch slots: buffers reused by ops for temporaries. Two ops that are
// live at the same time use different slots.
const (
	scratchCols     = iota // im2col columns of a convolution
	scratchPartials        // split-K partial sums of a GEMM
	scratchReduce          // per-block partial sums of reductions
	scratchConvOut         // a batched convolution's (K, N·P·Q) output or dy
	numScratch
)

// Open makes device ordinal ready: it retains the device's primary context,
// makes it current on the calling goroutine's OS thread (which it locks) and
// loads every kernel module.
func Open(ordinal int) (*Backend, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: count devices: %w", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("cuda: no device cuda:%d (this machine has %d; list them with `gotrain devices`)", ordinal, n)
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: %w", ordinal, err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, fmt.Errorf("cuda: device %d: create context: %w", ordinal, err)
	}
	b := &Backend{ordinal: ordinal, dev: dev, ctx: ctx, fns: map[string]cu.Function{}}
	for i := range b.argp {
		b.argp[i] = unsafe.Pointer(&b.argv[i])
	}
	if err := b.Bind(); err != nil {
		return nil, err
	}
	name, _ := dev.Name()
	b.sms, _ = dev.Attribute(cu.MultiprocessorCount)
	b.cc[0], _ = dev.Attribute(cu.ComputeCapabilityMajor)
	b.cc[1], _ = dev.Attribute(cu.ComputeCapabilityMinor)
	if b.sms <= 0 {
		b.sms = 1
	}
	b.name = fmt.Sprintf("cuda:%d %s", ordinal, name)
	// TF32 GEMMs by default where the GPU has them, as PyTorch runs its
	// convolutions; GOTRAIN_TF32=0 keeps every GEMM in float32.
	b.tf32 = b.cc[0] >= 8
	switch os.Getenv("GOTRAIN_TF32") {
	case "0", "false", "off":
		b.tf32 = false
	}
	for _, m := range kernels.Modules() {
		mod, err := cu.LoadData(m.PTX)
		if err != nil {
			return nil, fmt.Errorf("cuda: load kernels %s.ptx on %s (compute capability %d.%d): %w", m.Name, b.name, b.cc[0], b.cc[1], err)
		}
		b.mods = append(b.mods, mod)
		for _, e := range kernels.Entries(m.PTX) {
			fn, err := mod.Function(e)
			if err != nil {
				return nil, fmt.Errorf("cuda: kernel %s in %s.ptx: %w", e, m.Name, err)
			}
			b.fns[e] = fn
		}
	}
	return b, nil
}

// Bind locks the calling goroutine to its OS thread and makes the backend's
// context current there: call it before using the backend from a goroutine
// other than the one that opened it.
func (b *Backend) Bind() error {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(b.ctx); err != nil {
		return fmt.Errorf("cuda: make context of %s current: %w", b.name, err)
	}
	return nil
}

// Close frees every allocation and releases the context. The backend and
// every tensor on it are unusable afterwards.
func (b *Backend) Close() error {
	if b.ctx == (cu.CUContext{}) {
		return nil
	}
	err := cu.Synchronize()
	for i := range b.scratch {
		if b.scratch[i].ptr != 0 {
			cu.MemFree(b.scratch[i].ptr)
		}
	}
	for _, p := range b.allocs {
		cu.MemFree(p)
	}
	for _, m := range b.mods {
		m.Unload()
	}
	if e := b.dev.ReleasePrimaryCtx(); err == nil {
		err = e
	}
	b.ctx = cu.CUContext{}
	b.allocs, b.mods = nil, nil
	return err
}

// Name says which device the backend runs on.
func (b *Backend) Name() string {
	if b.tf32 {
		return b.name + " (TF32)"
	}
	return b.name
}

// Ordinal is the device's index.
func (b *Backend) Ordinal() int { return b.ordinal }

// Multiprocessors is the device's SM count.
func (b *Backend) Multiprocessors() int { return b.sms }

// ComputeCapability is the device's major and minor version.
func (b *Backend) ComputeCapability() (int, int) { return b.cc[0], b.cc[1] }

// MemInfo returns the device's free and total memory in bytes, and the bytes
// this backend holds.
func (b *Backend) MemInfo() (free, total, held int64, err error) {
	free, total, err = cu.MemInfo()
	held = b.bytes
	for _, s := range b.scratch {
		held += s.bytes
	}
	return free, total, held, err
}

// SetTF32 runs the GEMMs of convolutions, linear layers and matmuls on
// TF32 tensor cores (inputs rounded to 10-bit mantissas, float32 sums)
// when on and the device has them (compute capability 8.0 or later). It is
// on from Open unless GOTRAIN_TF32=0 was set. It reports whether TF32 is
// now in use.
func (b *Backend) SetTF32(on bool) bool {
	b.tf32 = on && b.cc[0] >= 8
	return b.tf32
}

// TF32 reports whether GEMMs run on TF32 tensor cores.
func (b *Backend) TF32() bool { return b.tf32 }

// Err returns the first error recorded by an op.
func (b *Backend) Err() error { return b.err }

// ClearErr forgets a recorded error (tests use it after checking a failure).
func (b *Backend) ClearErr() { b.err = nil }

// Sync waits for every queued launch and returns Err (with the driver's
// error for a launch that failed while running, if any).
func (b *Backend) Sync() error {
	if err := cu.Synchronize(); err != nil && b.err == nil {
		b.err = fmt.Errorf("cuda: synchronize %s: %w", b.name, err)
	}
	return b.err
}

type deviceStorage struct {
	b   *Backend
	dt  engine.DType
	n   int
	ptr cu.DevicePtr
}

func (s *deviceStorage) Backend() engine.Backend { return s.b }
func (s *deviceStorage) Len() int                { return s.n }
func (s *deviceStorage) DType() engine.DType     { return s.dt }

// Alloc returns zero-filled device memory of n elements.
func (b *Backend) Alloc(dt engine.DType, n int) (engine.Storage, error) {
	if n < 0 {
		return nil, fmt.Errorf("cuda alloc: negative size %d", n)
	}
	if dt != engine.Float32 && dt != engine.Int32 {
		return nil, fmt.Errorf("cuda alloc: unsupported dtype %s", dt)
	}
	s := &deviceStorage{b: b, dt: dt, n: n}
	if n == 0 {
		return s, nil
	}
	bytes := int64(n) * int64(dt.Size())
	p, err := cu.MemAlloc(bytes)
	if err != nil {
		free, total, _ := cu.MemInfo()
		return nil, fmt.Errorf("cuda alloc: %d MiB on %s (%d MiB free of %d MiB, %d MiB held by gotrain): %w",
			bytes>>20, b.name, free>>20, total>>20, b.bytes>>20, err)
	}
	if err := cu.MemsetD32(p, 0, int64(n)); err != nil {
		cu.MemFree(p)
		return nil, fmt.Errorf("cuda alloc: clear %d MiB: %w", bytes>>20, err)
	}
	s.ptr = p
	b.allocs = append(b.allocs, p)
	b.bytes += bytes
	return s, nil
}

// scratchBuf returns a device buffer of at least n float32s for slot, grown
// (never shrunk) on demand: a training loop allocates in its first step only.
func (b *Backend) scratchBuf(op string, slot, n int) (uint64, bool) {
	bytes := int64(n) * 4
	s := &b.scratch[slot]
	if s.bytes >= bytes {
		return uint64(s.ptr), true
	}
	if s.ptr != 0 {
		// Queued kernels may still read the old buffer.
		if err := cu.Synchronize(); err != nil {
			b.fail(op, "synchronize before growing scratch: %v", err)
			return 0, false
		}
		cu.MemFree(s.ptr)
		s.ptr, s.bytes = 0, 0
	}
	grow := bytes + bytes/4
	p, err := cu.MemAlloc(grow)
	if err != nil {
		free, total, _ := cu.MemInfo()
		b.fail(op, "scratch of %d MiB on %s (%d MiB free of %d MiB): %v", grow>>20, b.name, free>>20, total>>20, err)
		return 0, false
	}
	s.ptr, s.bytes = p, grow
	return uint64(p), true
}

func (b *Backend) fail(op string, format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("%s: %s", op, fmt.Sprintf(format, args...))
	}
}

// check records err (a shape check's, shared with the CPU engine) for op
// and reports whether there was none.
func (b *Backend) check(op string, err error) bool {
	if err != nil {
		b.fail(op, "%s", err)
		return false
	}
	return true
}

// anyDType lets okAs accept every element type.
const anyDType engine.DType = 0xff

// ok reports whether op may run: no earlier error, every non-nil tensor in
// this backend's memory and float32.
func (b *Backend) ok(op string, ts ...*engine.Tensor) bool { return b.okAs(op, engine.Float32, ts...) }

func (b *Backend) okAs(op string, dt engine.DType, ts ...*engine.Tensor) bool {
	if b.err != nil {
		return false
	}
	for _, t := range ts {
		if t == nil {
			continue
		}
		st, _ := t.Storage()
		ds, isDev := st.(*deviceStorage)
		if st == nil || !isDev || ds.b != b {
			b.fail(op, "tensor %s is not allocated on %s", t, b.name)
			return false
		}
		if dt != anyDType && t.DType() != dt {
			b.fail(op, "tensor %s must be %s", t, dt)
			return false
		}
	}
	return true
}

func shapeStr(ts ...*engine.Tensor) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		if t == nil {
			s += "nil"
		} else {
			s += t.String()
		}
	}
	return s
}

func (b *Backend) sameLen(op string, ts ...*engine.Tensor) bool {
	for _, t := range ts[1:] {
		if t != nil && t.Len() != ts[0].Len() {
			b.fail(op, "element counts differ: %s", shapeStr(ts...))
			return false
		}
	}
	return true
}

func (b *Backend) sameShape(op string, ts ...*engine.Tensor) bool {
	for _, t := range ts[1:] {
		if t != nil && !engine.SameShape(t.Shape(), ts[0].Shape()) {
			b.fail(op, "shapes differ: %s", shapeStr(ts...))
			return false
		}
	}
	return true
}

// ptr is the device address of t's first element as a kernel argument (0
// for a nil tensor). t must have passed ok.
func ptr(t *engine.Tensor) uint64 {
	if t == nil {
		return 0
	}
	st, off := t.Storage()
	return uint64(st.(*deviceStorage).ptr) + uint64(off)*4
}

// i32 and f32 pack scalar kernel arguments into the 8-byte slots Launch
// reads (an int or float parameter takes the low 4 bytes).
func i32(v int) uint64     { return uint64(uint32(int32(v))) }
func f32(v float32) uint64 { return uint64(math.Float32bits(v)) }

// dim3 is a launch's grid or block shape.
type dim3 struct{ x, y, z int }

func d1(x int) dim3 { return dim3{x, 1, 1} }

// blocks is the number of blocks of size per that cover n items.
func blocks(n, per int) int { return (n + per - 1) / per }

// launch queues kernel on the backend's stream; op names the engine op for
// errors.
func (b *Backend) launch(op, kernel string, grid, block dim3, shmem int, args ...uint64) {
	if b.err != nil {
		return
	}
	fn, found := b.fns[kernel]
	if !found {
		b.fail(op, "kernel %s is not in the embedded PTX (run `make ptx`)", kernel)
		return
	}
	if len(args) > maxArgs {
		b.fail(op, "kernel %s: %d arguments (at most %d)", kernel, len(args), maxArgs)
		return
	}
	if grid.x <= 0 || grid.y <= 0 || grid.z <= 0 {
		return // nothing to do
	}
	copy(b.argv[:], args)
	if b.prof != nil {
		if err := b.prof.before(op, kernel); err != nil {
			b.fail(op, "%v", err)
			return
		}
	}
	if err := fn.Launch(grid.x, grid.y, grid.z, block.x, block.y, block.z, shmem, cu.Stream{}, b.argp[:len(args)]); err != nil {
		b.fail(op, "launch %s grid %v block %v: %v", kernel, grid, block, err)
	}
	if b.prof != nil {
		if err := b.prof.after(); err != nil {
			b.fail(op, "%v", err)
		}
	}
}

var _ engine.Backend = (*Backend)(nil)

// PeakMemoryBytes is the device memory the backend holds: its allocations
// and scratch buffers, which only grow (bench.PeakMemory).
func (b *Backend) PeakMemoryBytes() int64 {
	_, _, held, _ := b.MemInfo()
	return held
}
